/*
 * config.c - the table of every configuration key, its type and default.
 */
#include "conf/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/ini.h"
#include "lib/ascii.h"
#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/strnum.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "policy/dkim_keys.h"
#include "policy/policy.h"

enum key_type {
	KEY_STRING,
	KEY_DURATION,
	KEY_SIZE,
	KEY_UINT,
	KEY_PORT,
	KEY_BOOL,
	KEY_LISTEN,
	KEY_ACTION,	/* enum policy_action, stored as unsigned */
};

struct key_def {
	const char	*section;
	const char	*key;
	enum key_type	 type;
	size_t		 offset;
	const char	*def;		/* default, parsed like a value */
};

#define OFF(f) offsetof(struct config, f)

static const struct key_def keys[] = {
	{ "server", "hostname", KEY_STRING, OFF(hostname), "localhost" },
	{ "server", "data_dir", KEY_STRING, OFF(data_dir), "/var/lib/postino" },
	{ "server", "user", KEY_STRING, OFF(run_as), "" },
	{ "server", "log_level", KEY_STRING, OFF(log_level), "info" },
	{ "server", "plaintext_auth_loopback", KEY_BOOL,
	    OFF(plaintext_auth_loopback), "yes" },

	{ "listen", "smtp", KEY_LISTEN, OFF(smtp), "" },
	{ "listen", "submission", KEY_LISTEN, OFF(submission), "" },
	{ "listen", "submissions", KEY_LISTEN, OFF(submissions), "" },
	{ "listen", "pop3", KEY_LISTEN, OFF(pop3), "" },
	{ "listen", "pop3s", KEY_LISTEN, OFF(pop3s), "" },
	{ "listen", "imap", KEY_LISTEN, OFF(imap), "" },
	{ "listen", "imaps", KEY_LISTEN, OFF(imaps), "" },
	{ "listen", "http", KEY_LISTEN, OFF(http), "" },

	{ "tls", "cert", KEY_STRING, OFF(tls_cert), "" },
	{ "tls", "key", KEY_STRING, OFF(tls_key), "" },
	{ "tls", "handshake_timeout", KEY_DURATION,
	    OFF(tls_handshake_timeout), "30s" },

	{ "dns", "servers", KEY_STRING, OFF(dns_servers), "" },

	{ "queue", "retry_first", KEY_DURATION, OFF(retry_first), "5m" },
	{ "queue", "retry_max", KEY_DURATION, OFF(retry_max), "1h" },
	{ "queue", "lifetime", KEY_DURATION, OFF(lifetime), "5d" },
	{ "queue", "delay_warning", KEY_DURATION, OFF(delay_warning), "4h" },
	{ "queue", "batch", KEY_UINT, OFF(queue_batch), "256" },

	{ "delivery", "smtp_port", KEY_PORT, OFF(smtp_port), "25" },
	{ "delivery", "max_connections", KEY_UINT,
	    OFF(delivery_max_connections), "100" },
	{ "delivery", "max_connections_per_domain", KEY_UINT,
	    OFF(delivery_max_per_domain), "10" },
	{ "delivery", "connect_timeout", KEY_DURATION, OFF(connect_timeout),
	    "30s" },

	{ "store", "quota", KEY_SIZE, OFF(store_quota), "0" },

	{ "smtp", "max_message_size", KEY_SIZE, OFF(max_message_size), "50M" },
	{ "smtp", "max_recipients", KEY_UINT, OFF(max_recipients), "100" },
	{ "smtp", "max_errors", KEY_UINT, OFF(max_errors), "20" },
	{ "smtp", "max_connections", KEY_UINT, OFF(max_connections), "1000" },
	{ "smtp", "max_connections_per_ip", KEY_UINT,
	    OFF(max_connections_per_ip), "50" },
	{ "smtp", "idle_timeout", KEY_DURATION, OFF(idle_timeout), "5m" },
	{ "smtp", "max_received", KEY_UINT, OFF(max_received), "50" },
	{ "smtp", "max_line_length", KEY_UINT, OFF(max_line_length), "2048" },
	{ "smtp", "max_text_line", KEY_UINT, OFF(max_text_line), "1000" },
	{ "smtp", "vrfy", KEY_BOOL, OFF(vrfy), "no" },
	{ "smtp", "expn", KEY_BOOL, OFF(expn), "no" },

	{ "policy", "spf", KEY_BOOL, OFF(policy_spf), "yes" },
	{ "policy", "dkim", KEY_BOOL, OFF(policy_dkim), "yes" },
	{ "policy", "dmarc", KEY_BOOL, OFF(policy_dmarc), "yes" },
	{ "policy", "spf_fail", KEY_ACTION, OFF(policy_spf_fail), "reject" },
	{ "policy", "spf_softfail", KEY_ACTION, OFF(policy_spf_softfail),
	    "junk" },
	{ "policy", "spf_neutral", KEY_ACTION, OFF(policy_spf_neutral),
	    "junk" },
	{ "policy", "spf_none", KEY_ACTION, OFF(policy_spf_none), "junk" },
	{ "policy", "spf_permerror", KEY_ACTION, OFF(policy_spf_permerror),
	    "junk" },
	{ "policy", "spf_temperror", KEY_ACTION, OFF(policy_spf_temperror),
	    "tempfail" },
	{ "policy", "dkim_overrides_spf", KEY_BOOL,
	    OFF(policy_dkim_overrides_spf), "yes" },
	{ "policy", "dmarc_reject", KEY_ACTION, OFF(policy_dmarc_reject),
	    "reject" },
	{ "policy", "dmarc_quarantine", KEY_ACTION,
	    OFF(policy_dmarc_quarantine), "junk" },
	{ "policy", "dmarc_temperror", KEY_ACTION,
	    OFF(policy_dmarc_temperror), "tempfail" },
	{ "policy", "trusted_networks", KEY_STRING,
	    OFF(policy_trusted_networks), "127.0.0.0/8 ::1" },
	{ "policy", "hold_memory", KEY_SIZE, OFF(policy_hold_memory), "1M" },

	{ "dkim", "sign", KEY_BOOL, OFF(dkim_sign), "yes" },
	{ "dkim", "selector", KEY_STRING, OFF(dkim_selector), "" },
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

struct parse_ctx {
	struct config	*cfg;
	bool		 seen[NKEYS];
};

static int
parse_listen(const char *value, struct config_listen *l, const char **error_r)
{
	char *copy = xstrdup(value), *save = NULL, *tok;
	int r = 0;

	l->n = 0;
	for (tok = strtok_r(copy, " \t,", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t,", &save)) {
		char *colon, *host = tok;
		uint64_t port;

		if (l->n == CONFIG_MAX_LISTEN) {
			*error_r = "too many addresses (max 8)";
			r = -1;
			break;
		}
		if (*host == '[') {
			char *end = strchr(host, ']');

			if (end == NULL || end[1] != ':') {
				*error_r = "expected [IPV6]:PORT";
				r = -1;
				break;
			}
			*end = '\0';
			host++;
			colon = end + 1;
		} else {
			colon = strrchr(host, ':');
			if (colon == NULL) {
				*error_r = "expected ADDR:PORT";
				r = -1;
				break;
			}
			*colon = '\0';
		}
		if (strnum_u64_str(colon + 1, 65535, &port) < 0 || port == 0) {
			*error_r = "invalid port";
			r = -1;
			break;
		}
		if (*host == '\0') {
			*error_r = "missing address before the port";
			r = -1;
			break;
		}
		l->host[l->n] = xstrdup(host);
		l->port[l->n] = (uint16_t)port;
		l->n++;
	}
	free(copy);
	return r;
}

static void
listen_clear(struct config_listen *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->host[i]);
	l->n = 0;
}

static int
set_value(struct config *cfg, const struct key_def *k, const char *value,
    const char **error_r)
{
	void *field = (char *)cfg + k->offset;
	uint64_t v;

	switch (k->type) {
	case KEY_STRING:
		free(*(char **)field);
		*(char **)field = xstrdup(value);
		return 0;
	case KEY_DURATION:
		if (duration_parse(value, &v) < 0) {
			*error_r = "expected a duration such as 30s, 5m, 1h, 5d";
			return -1;
		}
		*(uint64_t *)field = v;
		return 0;
	case KEY_SIZE:
		if (size_parse(value, &v) < 0) {
			*error_r = "expected a size such as 4096, 512K, 50M";
			return -1;
		}
		*(uint64_t *)field = v;
		return 0;
	case KEY_UINT:
		if (strnum_u64_str(value, UINT32_MAX, &v) < 0) {
			*error_r = "expected a non-negative integer";
			return -1;
		}
		*(uint64_t *)field = v;
		return 0;
	case KEY_PORT:
		if (strnum_u64_str(value, 65535, &v) < 0 || v == 0) {
			*error_r = "expected a port number 1-65535";
			return -1;
		}
		*(uint64_t *)field = v;
		return 0;
	case KEY_BOOL:
		if (!ascii_strcasecmp(value, "yes") ||
		    !ascii_strcasecmp(value, "true") || !strcmp(value, "1") ||
		    !ascii_strcasecmp(value, "on"))
			*(bool *)field = true;
		else if (!ascii_strcasecmp(value, "no") ||
		    !ascii_strcasecmp(value, "false") || !strcmp(value, "0") ||
		    !ascii_strcasecmp(value, "off"))
			*(bool *)field = false;
		else {
			*error_r = "expected yes or no";
			return -1;
		}
		return 0;
	case KEY_LISTEN:
		listen_clear(field);
		return parse_listen(value, field, error_r);
	case KEY_ACTION: {
		enum policy_action a;

		if (policy_action_parse(value, &a) < 0) {
			*error_r = "expected accept, junk, tempfail or reject";
			return -1;
		}
		*(unsigned *)field = (unsigned)a;
		return 0;
	}
	}
	return -1;
}

static int
on_key(void *vctx, const char *section, const char *key, const char *value,
    const char **error_r)
{
	struct parse_ctx *ctx = vctx;
	bool section_known = false;
	size_t i;

	for (i = 0; i < NKEYS; i++) {
		if (strcmp(keys[i].section, section) != 0)
			continue;
		section_known = true;
		if (strcmp(keys[i].key, key) != 0)
			continue;
		if (ctx->seen[i]) {
			*error_r = "duplicate key";
			return -1;
		}
		ctx->seen[i] = true;
		return set_value(ctx->cfg, &keys[i], value, error_r);
	}
	*error_r = section_known ? "unknown key" : "unknown section";
	return -1;
}

static int
validate(struct config *cfg, const char *path, char **error_r)
{
	const char *why = NULL;

	if (cfg->hostname[0] == '\0' || strlen(cfg->hostname) > 253)
		why = "[server] hostname: must be a host name";
	else if (cfg->data_dir[0] != '/')
		why = "[server] data_dir: must be an absolute path";
	else if (cfg->retry_first == 0)
		why = "[queue] retry_first: must be > 0";
	else if (cfg->retry_max < cfg->retry_first)
		why = "[queue] retry_max: must be >= retry_first";
	else if (cfg->max_line_length < 512)
		why = "[smtp] max_line_length: RFC 5321 requires at least 512";
	else if (cfg->max_text_line < 1000)
		why = "[smtp] max_text_line: RFC 5321 requires at least 1000";
	else if (cfg->max_recipients < 1)
		why = "[smtp] max_recipients: must be >= 1";
	else if (cfg->delivery_max_connections < 1 ||
	    cfg->delivery_max_per_domain < 1)
		why = "[delivery] max_connections and "
		    "max_connections_per_domain: must be >= 1";
	else if (cfg->connect_timeout < 1)
		why = "[delivery] connect_timeout: must be >= 1s";
	else if (cfg->queue_batch < 1 || cfg->queue_batch > 10000)
		why = "[queue] batch: must be 1-10000";
	else if (strcmp(cfg->log_level, "debug") && strcmp(cfg->log_level,
	    "info") && strcmp(cfg->log_level, "warn") &&
	    strcmp(cfg->log_level, "error"))
		why = "[server] log_level: debug, info, warn or error";
	else if (cfg->dkim_selector[0] != '\0' &&
	    !dkim_keys_valid_name(cfg->dkim_selector))
		why = "[dkim] selector: letters, digits, '-', '_' and dots";
	if (why == NULL) {
		struct policy_settings *ps = xmalloc(sizeof(*ps));
		const char *perr = NULL;

		policy_settings_default(ps, cfg->hostname);
		if (policy_settings_add_exempt_list(ps,
		    cfg->policy_trusted_networks, &perr) < 0) {
			*error_r = xasprintf("%s: [policy] trusted_networks: "
			    "%s", path, perr);
			free(ps);
			return -1;
		}
		free(ps);
	}
	if (why != NULL) {
		*error_r = xasprintf("%s: %s", path, why);
		return -1;
	}
	return 0;
}

struct config *
config_parse(const char *path, const char *text, size_t len, char **error_r)
{
	struct parse_ctx ctx;
	const char *err = NULL;
	size_t i;

	memset(&ctx, 0, sizeof(ctx));
	ctx.cfg = xcalloc(1, sizeof(*ctx.cfg));
	ctx.cfg->path = xstrdup(path);
	for (i = 0; i < NKEYS; i++) {
		if (set_value(ctx.cfg, &keys[i], keys[i].def, &err) < 0)
			panic("config default for %s.%s: %s", keys[i].section,
			    keys[i].key, err);
	}
	if (ini_parse(path, text, len, on_key, &ctx, error_r) < 0 ||
	    validate(ctx.cfg, path, error_r) < 0) {
		config_free(&ctx.cfg);
		return NULL;
	}
	return ctx.cfg;
}

struct config *
config_load(const char *path, char **error_r)
{
	struct buf b;
	struct config *cfg;

	buf_init(&b, 1024 * 1024);
	if (read_file(path, &b) < 0) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		buf_fini(&b);
		return NULL;
	}
	cfg = config_parse(path, buf_cstr(&b), b.len, error_r);
	buf_fini(&b);
	return cfg;
}

void
config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < NKEYS; i++) {
		void *field = (char *)cfg + keys[i].offset;

		if (keys[i].type == KEY_STRING)
			free(*(char **)field);
		else if (keys[i].type == KEY_LISTEN)
			listen_clear(field);
	}
	free(cfg->path);
	free(cfg);
	*cfgp = NULL;
}

char *
config_data_path(const struct config *cfg, const char *name)
{
	return xasprintf("%s/%s", cfg->data_dir, name);
}
