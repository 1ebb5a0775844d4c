/*
 * cli_init.c - `postino init`: a ready-to-run configuration.
 *
 * Writes DIR/postino.conf, creates DIR/data and a self-signed ECDSA
 * certificate in DIR/tls, and makes DOMAIN a local domain.
 */
#include "cli/cli.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/strnum.h"
#include "lib/xmalloc.h"
#include "store/accounts.h"

static const struct {
	const char	*key;
	unsigned	 port;
	bool		 available;	/* served by this version */
} services[] = {
	{ "smtp", 25, true },
	{ "submission", 587, true },
	{ "submissions", 465, true },
	{ "pop3", 110, true },
	{ "pop3s", 995, true },
	{ "imap", 143, false },
	{ "imaps", 993, false },
	{ "http", 8080, false },
};

int
cli_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "hostname", required_argument, NULL, 'H' },
		{ "domain", required_argument, NULL, 'D' },
		{ "port-offset", required_argument, NULL, 'p' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = NULL, *hostname = NULL, *domain = NULL, *err = NULL;
	char absdir[PATH_MAX], *conf, *data, *tls, *cert, *key;
	struct accounts *a;
	uint64_t offset = 0;
	bool force = false;
	struct buf text;
	struct stat st;
	size_t i;
	int c, r = 1;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'H': hostname = optarg; break;
		case 'D': domain = optarg; break;
		case 'f': force = true; break;
		case 'p':
			if (strnum_u64_str(optarg, 55000, &offset) < 0) {
				fprintf(stderr, "postino init: bad --port-offset\n");
				return 2;
			}
			break;
		default:
			return 2;
		}
	}
	if (dir == NULL || hostname == NULL || domain == NULL) {
		fprintf(stderr, "usage: postino init --dir DIR --hostname HOST "
		    "--domain DOMAIN [--port-offset N] [--force]\n");
		return 2;
	}
	if (mkdir_p(dir, 0755) < 0 || realpath(dir, absdir) == NULL) {
		fprintf(stderr, "postino init: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	conf = xasprintf("%s/postino.conf", absdir);
	data = xasprintf("%s/data", absdir);
	tls = xasprintf("%s/tls", absdir);
	cert = xasprintf("%s/tls/cert.pem", absdir);
	key = xasprintf("%s/tls/key.pem", absdir);
	buf_init(&text, 65536);
	if (!force && stat(conf, &st) == 0) {
		fprintf(stderr, "postino init: %s exists (use --force to "
		    "overwrite)\n", conf);
		goto out;
	}
	if (mkdir_p(data, 0700) < 0 || mkdir_p(tls, 0700) < 0) {
		fprintf(stderr, "postino init: %s: %s\n", absdir,
		    strerror(errno));
		goto out;
	}
	if (cli_make_selfsigned(hostname, cert, key) < 0) {
		fprintf(stderr, "postino init: cannot create the certificate\n");
		goto out;
	}
	if (buf_printf(&text,
	    "; postino.conf - written by `postino init`.\n"
	    "; Every key is described in docs/configuration.md.\n"
	    "\n[server]\nhostname = %s\ndata_dir = %s\n\n[listen]\n",
	    hostname, data) < 0)
		goto out;
	for (i = 0; i < sizeof(services) / sizeof(services[0]); i++)
		if (buf_printf(&text, "%s%-11s = 127.0.0.1:%u\n",
		    services[i].available ? "" : ";", services[i].key,
		    services[i].port + (unsigned)offset) < 0)
			goto out;
	if (buf_printf(&text,
	    "\n[tls]\ncert = %s\nkey = %s\n"
	    "\n[dns]\nservers =\n"
	    "\n[queue]\nretry_first = 5m\nretry_max = 1h\nlifetime = 5d\n"
	    "delay_warning = 4h\n"
	    "\n[delivery]\nsmtp_port = 25\n", cert, key) < 0)
		goto out;
	if (write_file_atomic(conf, text.data, text.len, 0644) < 0) {
		fprintf(stderr, "postino init: %s: %s\n", conf,
		    strerror(errno));
		goto out;
	}
	a = accounts_open(data, &err);
	if (a == NULL || accounts_domain_add(a, domain, &err) < 0) {
		fprintf(stderr, "postino init: %s\n", err ? err : "?");
		accounts_close(&a);
		goto out;
	}
	accounts_close(&a);
	printf("wrote %s\n", conf);
	r = 0;
out:
	buf_fini(&text);
	free(conf);
	free(data);
	free(tls);
	free(cert);
	free(key);
	return r;
}
