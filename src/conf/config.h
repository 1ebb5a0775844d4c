/*
 * config.h - postino.conf: the settings and their defaults.
 *
 * Every key is declared in one table in config.c with its type and
 * default; an unknown section or key, a duplicate key or a bad value is an
 * error naming file, line and key.  See docs/configuration.md.
 */
#ifndef POSTINO_CONF_CONFIG_H
#define POSTINO_CONF_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTEN 8

struct config_listen {
	size_t	 n;
	char	*host[CONFIG_MAX_LISTEN];	/* "127.0.0.1", "::1" */
	uint16_t port[CONFIG_MAX_LISTEN];
};

struct config {
	char			*path;

	/* [server] */
	char			*hostname;
	char			*data_dir;
	char			*run_as;	/* user to drop to, "" = stay */
	char			*log_level;	/* debug, info, warn, error */
	bool			 plaintext_auth_loopback;

	/* [listen] */
	struct config_listen	 smtp, submission, submissions, pop3, pop3s,
				 imap, imaps, http;

	/* [tls] */
	char			*tls_cert;
	char			*tls_key;
	uint64_t		 tls_handshake_timeout;	/* seconds */

	/* [dns] */
	char			*dns_servers;

	/* [queue] */
	uint64_t		 retry_first, retry_max, lifetime,
				 delay_warning;
	uint64_t		 queue_batch;

	/* [delivery] */
	uint64_t		 smtp_port;
	uint64_t		 delivery_max_connections;
	uint64_t		 delivery_max_per_domain;
	uint64_t		 connect_timeout;

	/* [store] */
	uint64_t		 store_quota;	/* bytes per account; 0: none */

	/* [smtp] */
	uint64_t		 max_message_size;
	uint64_t		 max_recipients;
	uint64_t		 max_errors;
	uint64_t		 max_connections;
	uint64_t		 max_connections_per_ip;
	uint64_t		 idle_timeout;
	uint64_t		 max_received;
	uint64_t		 max_line_length;	/* command lines */
	uint64_t		 max_text_line;		/* DATA lines */
	bool			 vrfy;
	bool			 expn;

	/* [policy]: inbound SPF, DKIM, DMARC on the smtp listener
	 * (docs/policy.md); actions are enum policy_action values */
	bool			 policy_spf;
	bool			 policy_dkim;
	bool			 policy_dmarc;
	unsigned		 policy_spf_fail, policy_spf_softfail,
				 policy_spf_neutral, policy_spf_none,
				 policy_spf_permerror, policy_spf_temperror;
	bool			 policy_dkim_overrides_spf;
	unsigned		 policy_dmarc_reject, policy_dmarc_quarantine,
				 policy_dmarc_temperror;
	char			*policy_trusted_networks;
	uint64_t		 policy_hold_memory;	/* bytes of a message
						 * held in memory while it is
						 * checked or signed; past
						 * it, a spill file */

	/* [dkim]: signing of outbound mail (docs/dkim.md) */
	bool			 dkim_sign;
	char			*dkim_selector;	/* "": the newest key */
};

/*
 * Reads and validates FILE.  Returns a config (free with config_free), or
 * NULL with a heap message "FILE:LINE: [section] key: reason" in *error_r.
 */
struct config *config_load(const char *path, char **error_r);
/* Parses text as if read from path (for tests). */
struct config *config_parse(const char *path, const char *text, size_t len,
    char **error_r);
void config_free(struct config **cfg);

/* Absolute path of a file inside data_dir; caller frees. */
char *config_data_path(const struct config *cfg, const char *name);

#endif
