/*
 * cli_dkim.c - `postino dkim`: signing keys and DKIM checks by hand.
 *
 *   dkim keygen -c FILE [--type rsa|ed25519] [--bits N] [--selector SEL]
 *       DOMAIN
 *	makes a key under DATA_DIR/dkim/DOMAIN/SEL.pem (0600) and prints the
 *	TXT record to publish: "SEL._domainkey.DOMAIN TXT v=DKIM1; k=...;
 *	p=..." (RFC 6376 3.6.1, RFC 8463 4).
 *   dkim sign -c FILE [--selector SEL] DOMAIN < message
 *	writes the message with a DKIM-Signature added (the newest key of
 *	DOMAIN unless SEL is given).
 *   dkim verify [--dns-servers LIST] [--dns-file FILE] [--time T]
 *       < message
 *	checks every signature (keys from DNS, or from a file of
 *	"NAME TXT-VALUE" lines) and prints one line per signature; exit 0
 *	if one passes, 1 otherwise.
 * The message comes from the local user (stdin); it is handled with the
 * same parsers as mail from the network.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli/cli.h"
#include "conf/config.h"
#include "dns/dns.h"
#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/postino_limits.h"
#include "lib/strnum.h"
#include "lib/xmalloc.h"
#include "policy/dkim.h"
#include "policy/dkim_keys.h"

#define DKIM_USAGE \
	"usage: postino dkim keygen -c FILE [--type rsa|ed25519] [--bits N]" \
	" [--selector SEL] DOMAIN\n" \
	"       postino dkim sign -c FILE [--selector SEL] DOMAIN < MESSAGE\n" \
	"       postino dkim verify [--dns-servers LIST] [--dns-file FILE]" \
	" [--time T] < MESSAGE\n"

static int
usage(void)
{
	fputs(DKIM_USAGE, stderr);
	return 2;
}

/* read_stdin - the whole message, at most SMTP_MAX_MESSAGE bytes */
static int
read_stdin(struct buf *b)
{
	for (;;) {
		uint8_t *w = buf_reserve(b, 65536);
		ssize_t n;

		if (w == NULL) {
			fprintf(stderr, "postino: message too large\n");
			return -1;
		}
		n = read(STDIN_FILENO, w, 65536);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "postino: stdin: %s\n",
			    strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		b->len += (size_t)n;
	}
}

static int
dkim_keygen(int argc, char **argv)
{
	enum dkim_key_type type = DKIM_KEY_RSA;
	const char *selector = NULL, *domain = NULL, *err = NULL;
	struct config *cfg;
	char defsel[8], *path;
	unsigned bits = 0;
	struct buf rec;
	EVP_PKEY *key;
	char **pos;
	int npos, i, r = 1;

	if ((cfg = cli_load_config(argc, argv, 1, &npos, &pos)) == NULL)
		return 1;
	for (i = 0; i < npos; i++) {
		if (!strcmp(pos[i], "--type") && i + 1 < npos) {
			i++;
			if (!strcmp(pos[i], "rsa"))
				type = DKIM_KEY_RSA;
			else if (!strcmp(pos[i], "ed25519"))
				type = DKIM_KEY_ED25519;
			else
				goto usage;
		} else if (!strcmp(pos[i], "--bits") && i + 1 < npos) {
			uint64_t v;

			if (strnum_u64_str(pos[++i], 65536, &v) < 0)
				goto usage;
			bits = (unsigned)v;
		} else if (!strcmp(pos[i], "--selector") && i + 1 < npos) {
			selector = pos[++i];
		} else if (pos[i][0] == '-' || domain != NULL) {
			goto usage;
		} else {
			domain = pos[i];
		}
	}
	if (domain == NULL)
		goto usage;
	if (selector == NULL) {
		dkim_keys_default_selector(time(NULL), defsel);
		selector = defsel;
	}
	if (!dkim_keys_valid_name(domain) || !dkim_keys_valid_name(selector)) {
		fprintf(stderr, "postino: bad domain or selector\n");
		goto out;
	}
	if ((key = dkim_keys_generate(type, bits, &err)) == NULL) {
		fprintf(stderr, "postino: %s\n", err);
		goto out;
	}
	path = dkim_keys_path(cfg->data_dir, domain, selector);
	buf_init(&rec, 8192);
	if (dkim_keys_save(cfg->data_dir, domain, selector, key, &err) < 0) {
		fprintf(stderr, "postino: %s: %s%s\n", path, err,
		    strstr(err, "exists") != NULL ?
		    " (choose another with --selector)" : "");
	} else if (dkim_key_record(key, &rec, &err) < 0) {
		fprintf(stderr, "postino: %s\n", err);
	} else {
		printf("%s._domainkey.%s TXT %s\n", selector, domain,
		    buf_cstr(&rec));
		fprintf(stderr, "postino: %s key written to %s; publish the "
		    "TXT record above (in a zone file, split the value into "
		    "quoted strings of at most 255 bytes)\n",
		    type == DKIM_KEY_RSA ? "RSA" : "Ed25519", path);
		r = 0;
	}
	buf_fini(&rec);
	free(path);
	EVP_PKEY_free(key);
out:
	config_free(&cfg);
	return r;
usage:
	config_free(&cfg);
	return usage();
}

static int
dkim_sign_cmd(int argc, char **argv)
{
	const char *selector = NULL, *domain = NULL, *err = NULL;
	struct config *cfg;
	struct buf msg, hdr;
	EVP_PKEY *key;
	char **pos, *sel = NULL;
	int npos, i, r = 1;

	if ((cfg = cli_load_config(argc, argv, 1, &npos, &pos)) == NULL)
		return 1;
	for (i = 0; i < npos; i++) {
		if (!strcmp(pos[i], "--selector") && i + 1 < npos)
			selector = pos[++i];
		else if (pos[i][0] == '-' || domain != NULL) {
			config_free(&cfg);
			return usage();
		} else
			domain = pos[i];
	}
	if (domain == NULL) {
		config_free(&cfg);
		return usage();
	}
	key = dkim_keys_load(cfg->data_dir, domain, selector, &sel, &err);
	config_free(&cfg);
	if (key == NULL) {
		fprintf(stderr, "postino: %s: %s\n", domain, err);
		return 1;
	}
	buf_init(&msg, SMTP_MAX_MESSAGE);
	buf_init(&hdr, 64 * 1024);
	if (read_stdin(&msg) < 0)
		goto out;
	if (dkim_sign(msg.data, msg.len, domain, sel, key, NULL, time(NULL),
	    &hdr, &err) < 0) {
		fprintf(stderr, "postino: cannot sign: %s\n", err);
		goto out;
	}
	{
		/* a message with bare LF line ends gets a field written the
		 * same way (the signature covers canonical CRLF text) */
		const uint8_t *nl = memchr(msg.data, '\n', msg.len);
		size_t k, n = 0;

		if (nl != NULL && (nl == msg.data || nl[-1] != '\r')) {
			for (k = 0; k < hdr.len; k++)
				if (hdr.data[k] != '\r')
					hdr.data[n++] = hdr.data[k];
			hdr.len = n;
		}
	}
	if (write_all(STDOUT_FILENO, hdr.data, hdr.len) < 0 ||
	    write_all(STDOUT_FILENO, msg.data, msg.len) < 0) {
		fprintf(stderr, "postino: stdout: %s\n", strerror(errno));
		goto out;
	}
	r = 0;
out:
	buf_fini(&msg);
	buf_fini(&hdr);
	free(sel);
	EVP_PKEY_free(key);
	return r;
}

/* answers from a file of "NAME VALUE" lines; NXDOMAIN for the rest */
static int
answer_from_file(struct dkim_verify *v, const char *file)
{
	struct buf b;
	size_t i;

	buf_init(&b, 1024 * 1024);
	if (read_file(file, &b) < 0) {
		fprintf(stderr, "postino: %s: %s\n", file, strerror(errno));
		buf_fini(&b);
		return -1;
	}
	for (i = 0; i < dkim_verify_nkeys(v); i++) {
		const char *name = dkim_verify_key_name(v, i);
		const char *p = buf_cstr(&b), *txt[1];
		size_t nl = strlen(name);
		bool found = false;

		while (*p != '\0' && !found) {
			const char *eol = strchr(p, '\n');
			size_t ll = eol != NULL ? (size_t)(eol - p) : strlen(p);

			if (ll > nl && strncasecmp(p, name, nl) == 0 &&
			    (p[nl] == ' ' || p[nl] == '\t')) {
				char *val = xstrndup(p + nl, ll - nl);
				char *s = val + strspn(val, " \t");

				s[strcspn(s, "\r")] = '\0';
				txt[0] = s;
				dkim_verify_key_answer(v, i, DNS_OK, txt, 1);
				free(val);
				found = true;
			}
			p += ll + (eol != NULL);
		}
		if (!found)
			dkim_verify_key_answer(v, i, DNS_NXDOMAIN, NULL, 0);
	}
	buf_fini(&b);
	return 0;
}

struct lookup {
	struct dkim_verify	*v;
	size_t			 i;
	size_t			*pending;
	struct event_base	*base;
};

static void
txt_done(void *ctx, enum dns_status st, const char *const *txt, size_t n)
{
	struct lookup *l = ctx;

	dkim_verify_key_answer(l->v, l->i, st, txt, n);
	if (--*l->pending == 0)
		event_base_loopbreak(l->base);
}

static int
answer_from_dns(struct dkim_verify *v, const char *servers)
{
	struct event_base *base = event_base_new();
	struct timeval tv = { 30, 0 };
	struct lookup *l;
	struct dns *d;
	const char *err = NULL;
	size_t i, n = dkim_verify_nkeys(v), pending = n;

	if (base == NULL)
		return -1;
	if ((d = dns_new(base, servers, &err)) == NULL) {
		fprintf(stderr, "postino: dns: %s\n", err);
		event_base_free(base);
		return -1;
	}
	l = xcalloc(n + 1, sizeof(*l));
	for (i = 0; i < n; i++) {
		l[i] = (struct lookup){ v, i, &pending, base };
		(void)dns_txt(d, dkim_verify_key_name(v, i), txt_done, &l[i]);
	}
	if (pending > 0) {
		event_base_loopexit(base, &tv);	/* unanswered: temperror */
		event_base_dispatch(base);
	}
	dns_free(&d);
	event_base_free(base);
	free(l);
	return 0;
}

static int
dkim_verify_cmd(int argc, char **argv)
{
	const char *servers = NULL, *file = NULL;
	time_t now = time(NULL);
	struct dkim_verify *v;
	struct buf msg;
	size_t i;
	int r = 1;

	for (i = 1; i < (size_t)argc; i++) {
		if (!strcmp(argv[i], "--dns-servers") && i + 1 < (size_t)argc)
			servers = argv[++i];
		else if (!strcmp(argv[i], "--dns-file") &&
		    i + 1 < (size_t)argc)
			file = argv[++i];
		else if (!strcmp(argv[i], "--time") && i + 1 < (size_t)argc) {
			uint64_t t;

			if (strnum_u64_str(argv[++i], INT32_MAX * 4ull, &t) < 0)
				return usage();
			now = (time_t)t;
		} else
			return usage();
	}
	buf_init(&msg, SMTP_MAX_MESSAGE);
	if (read_stdin(&msg) < 0) {
		buf_fini(&msg);
		return 1;
	}
	v = dkim_verify_new(msg.data, msg.len, now);
	if ((file != NULL ? answer_from_file(v, file) :
	    answer_from_dns(v, servers)) < 0)
		goto out;
	dkim_verify_finish(v);
	if (dkim_verify_nresults(v) == 0)
		printf("dkim=none (no signature)\n");
	for (i = 0; i < dkim_verify_nresults(v); i++) {
		const struct dkim_result *res = dkim_verify_result(v, i);

		printf("dkim=%s", dkim_status_name(res->result));
		if (res->key_bits != 0)
			printf(" (%u-bit key)", res->key_bits);
		if (res->domain != NULL)
			printf(" header.d=%s", res->domain);
		if (res->selector != NULL)
			printf(" header.s=%s", res->selector);
		if (res->algo != NULL)
			printf(" header.a=%s", res->algo);
		if (res->b_prefix[0] != '\0')
			printf(" header.b=%s", res->b_prefix);
		printf(" reason=\"%s\"\n", res->reason);
	}
	r = dkim_verify_any_pass(v) ? 0 : 1;
out:
	dkim_verify_free(&v);
	buf_fini(&msg);
	return r;
}

int
cli_dkim(int argc, char **argv)
{
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "keygen"))
		return dkim_keygen(argc - 1, argv + 1);
	if (!strcmp(argv[1], "sign"))
		return dkim_sign_cmd(argc - 1, argv + 1);
	if (!strcmp(argv[1], "verify"))
		return dkim_verify_cmd(argc - 1, argv + 1);
	return usage();
}
