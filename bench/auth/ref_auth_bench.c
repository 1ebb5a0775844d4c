/*
 * ref_auth_bench.c - the reference C libraries for bench/auth, driven the
 * same way as postino_auth_bench.c: libspf2 (Debian libspf2-2) and
 * libopendkim (Debian libopendkim11), in process, single thread.
 *
 *   ref_auth_bench spf SECONDS IP SENDER HELO EXPECT [nocache]
 *	libspf2 with its resolver layer (glibc res_nquery: the name server
 *	of /etc/resolv.conf, which bench/auth/run points at its dnsmasq in
 *	a private mount namespace) under its cache layer (SPF_dns_cache,
 *	2^12 entries).  One untimed check fills the cache; "nocache" uses
 *	the resolver layer alone.
 *   ref_auth_bench spf-zone ZONEFILE SECONDS IP SENDER HELO EXPECT
 *	libspf2 with an in-memory zone layer (SPF_dns_zone) only.
 *   ref_auth_bench dkim MSGFILE KEYFILE SECONDS
 *	libopendkim: dkim_verify + dkim_chunk + dkim_eom + dkim_free, the
 *	key record given from memory through dkim_set_key_lookup().
 *
 * Output as postino_auth_bench: "n= wall= cpu= rate= result=".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <time.h>

#include <arpa/nameser.h>
#include <resolv.h>

#include <spf2/spf.h>
#include <spf2/spf_dns_cache.h>
#include <spf2/spf_dns_resolv.h>
#include <spf2/spf_dns_zone.h>

#include <opendkim/dkim.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
		perror(path);
		exit(2);
	}
	rewind(f);
	p = malloc((size_t)n + 1);
	if (p == NULL || fread(p, 1, (size_t)n, f) != (size_t)n) {
		perror(path);
		exit(2);
	}
	p[n] = '\0';
	fclose(f);
	*len_r = (size_t)n;
	return p;
}

static void
report(unsigned long n, double wall, double cpu, const char *result)
{
	printf("n=%lu wall=%.4f cpu=%.4f rate=%.1f result=%s\n", n, wall, cpu,
	    n / wall, result);
}

/* ---- libspf2 ------------------------------------------------------------ */

static SPF_dns_server_t *
zone_layer(const char *path)
{
	SPF_dns_server_t *z = SPF_dns_zone_new(NULL, "bench-zone", 0);
	size_t len;
	char *text = slurp(path, &len), *line, *save = NULL;

	if (z == NULL) {
		fprintf(stderr, "SPF_dns_zone_new failed\n");
		exit(2);
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *name = line, *type, *data;
		ns_type t;

		if ((type = strchr(name, ' ')) == NULL)
			continue;
		*type++ = '\0';
		if ((data = strchr(type, ' ')) == NULL)
			exit(2);
		*data++ = '\0';
		if (strcmp(type, "TXT") == 0)
			t = ns_t_txt;
		else if (strcmp(type, "A") == 0)
			t = ns_t_a;
		else if (strcmp(type, "AAAA") == 0)
			t = ns_t_aaaa;
		else if (strcmp(type, "MX") == 0) {
			t = ns_t_mx;
			data += strcspn(data, " ");	/* libspf2: host only */
			data += *data == ' ';
		} else
			exit(2);
		if (SPF_dns_zone_add_str(z, name, t, NETDB_SUCCESS, data) !=
		    SPF_E_SUCCESS) {
			fprintf(stderr, "zone: cannot add %s\n", name);
			exit(2);
		}
	}
	free(text);
	return z;
}

/* one check; returns the result name (static) */
static const char *
spf_once(SPF_server_t *srv, const char *ip, const char *sender,
    const char *helo)
{
	SPF_request_t *req = SPF_request_new(srv);
	SPF_response_t *resp = NULL;
	const char *name;

	if (strchr(ip, ':') != NULL)
		SPF_request_set_ipv6_str(req, ip);
	else
		SPF_request_set_ipv4_str(req, ip);
	SPF_request_set_helo_dom(req, helo);
	SPF_request_set_env_from(req, sender);
	SPF_request_query_mailfrom(req, &resp);
	name = SPF_strresult(SPF_response_result(resp));
	SPF_response_free(resp);
	SPF_request_free(req);
	return name;
}

static int
spf_loop(SPF_server_t *srv, double secs, char **a)
{
	const char *got;
	unsigned long n = 0;
	double t0, c0, until;

	/* untimed: fills the cache layer, if any, and checks the result */
	got = spf_once(srv, a[0], a[1], a[2]);
	if (strcmp(got, a[3]) != 0) {
		fprintf(stderr, "libspf2: got %s, expected %s\n", got, a[3]);
		return 1;
	}
	t0 = now_s();
	c0 = cpu_s();
	until = t0 + secs;
	do {
		got = spf_once(srv, a[0], a[1], a[2]);
		if (strcmp(got, a[3]) != 0) {
			fprintf(stderr, "libspf2: got %s, expected %s\n", got,
			    a[3]);
			return 1;
		}
		n++;
	} while (now_s() < until);
	report(n, now_s() - t0, cpu_s() - c0, got);
	return 0;
}

static int
mode_spf(int argc, char **argv)
{
	SPF_dns_server_t *dns;
	SPF_server_t *srv;
	bool cache = !(argc > 7 && strcmp(argv[7], "nocache") == 0);
	int ret;

	if (argc < 7)
		return 2;
	dns = SPF_dns_resolv_new(NULL, "bench-resolv", 0);
	if (cache)
		dns = SPF_dns_cache_new(dns, "bench-cache", 0, 12);
	srv = SPF_server_new_dns(dns, 0);
	SPF_server_set_rec_dom(srv, "mx.receiver.test");
	ret = spf_loop(srv, atof(argv[2]), argv + 3);
	SPF_server_free(srv);
	return ret;
}

static int
mode_spf_zone(int argc, char **argv)
{
	SPF_server_t *srv;
	int ret;

	if (argc < 8)
		return 2;
	srv = SPF_server_new_dns(zone_layer(argv[2]), 0);
	SPF_server_set_rec_dom(srv, "mx.receiver.test");
	ret = spf_loop(srv, atof(argv[3]), argv + 4);
	SPF_server_free(srv);
	return ret;
}

/* ---- libopendkim -------------------------------------------------------- */

static const char *dkim_key;

static DKIM_CBSTAT
key_lookup(DKIM *dkim, DKIM_SIGINFO *sig, u_char *buf, size_t buflen)
{
	(void)dkim;
	(void)sig;
	if (strlen(dkim_key) >= buflen)
		return DKIM_CBSTAT_ERROR;
	strcpy((char *)buf, dkim_key);
	return DKIM_CBSTAT_CONTINUE;
}

static int
mode_dkim(int argc, char **argv)
{
	DKIM_LIB *lib;
	size_t len, klen;
	unsigned char *msg;
	char *key;
	unsigned long n = 0;
	double t0, c0, until;

	if (argc < 5)
		return 2;
	msg = (unsigned char *)slurp(argv[2], &len);
	key = slurp(argv[3], &klen);
	key[strcspn(key, "\r\n")] = '\0';
	dkim_key = key;
	lib = dkim_init(NULL, NULL);
	if (lib == NULL || dkim_set_key_lookup(lib, key_lookup) !=
	    DKIM_STAT_OK) {
		fprintf(stderr, "dkim_init failed\n");
		return 2;
	}
	t0 = now_s();
	c0 = cpu_s();
	until = t0 + atof(argv[4]);
	do {
		DKIM_STAT st;
		DKIM *d = dkim_verify(lib, (const unsigned char *)"bench", NULL,
		    &st);
		DKIM_SIGINFO *sig;

		if (d == NULL) {
			fprintf(stderr, "dkim_verify: %d\n", st);
			return 1;
		}
		st = dkim_chunk(d, msg, len);
		if (st == DKIM_STAT_OK)
			st = dkim_chunk(d, NULL, 0);
		if (st == DKIM_STAT_OK)
			st = dkim_eom(d, NULL);
		sig = dkim_getsignature(d);
		if (st != DKIM_STAT_OK || sig == NULL || !DKIM_SIG_CHECK(sig)) {
			fprintf(stderr, "opendkim: not a pass (%d: %s)\n", st,
			    dkim_geterror(d) != NULL ? dkim_geterror(d) : "-");
			return 1;
		}
		dkim_free(d);
		n++;
	} while (now_s() < until);
	report(n, now_s() - t0, cpu_s() - c0, "pass");
	dkim_close(lib);
	free(msg);
	free(key);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "spf") == 0)
		return mode_spf(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "spf-zone") == 0)
		return mode_spf_zone(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "dkim") == 0)
		return mode_dkim(argc, argv);
	fprintf(stderr, "usage: ref_auth_bench spf|spf-zone|dkim ...\n");
	return 2;
}
