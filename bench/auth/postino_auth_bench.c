/*
 * postino_auth_bench.c - the postino side of bench/auth: SPF checks and
 * DKIM verifications per second, single thread, one after the other.
 *
 *   postino_auth_bench spf SERVERS SECONDS IP SENDER HELO EXPECT [nocache]
 *	check_host() through the real stack (policy/spf_dns.c on the
 *	resolver of dns/dns.c, c-ares, libevent) asking the DNS server(s)
 *	SERVERS.  One untimed check first fills the resolver's cache; with
 *	"nocache" the cache is off and every lookup is a query.
 *   postino_auth_bench spf-zone ZONEFILE SECONDS IP SENDER HELO EXPECT
 *	the sans-I/O evaluator (policy/spf.c) answered from an in-memory
 *	zone read from ZONEFILE (lines "name TYPE data"; TYPE is TXT, A,
 *	AAAA or MX, MX data "pref host").
 *   postino_auth_bench dkim MSGFILE KEYFILE SECONDS
 *	dkim_verify_new + the key record (KEYFILE, one line) from memory +
 *	dkim_verify_finish + free; every verification must pass.
 *
 * Each mode repeats until SECONDS of wall time have passed and prints one
 * line: "n=<checks> wall=<s> cpu=<s> rate=<checks per wall s>
 * result=<name>".  Exit status 1 if any result differs from the expected.
 *
 * Not part of the server; sees only our own bench data.
 */
#include <arpa/inet.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "dns/dns.h"
#include "lib/log.h"
#include "lib/span.h"
#include "lib/xmalloc.h"
#include "policy/dkim.h"
#include "policy/spf.h"
#include "policy/spf_dns.h"

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

static void
parse_ip(const char *ip, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)ss)->sin_addr) ==
	    1)
		ss->ss_family = AF_INET;
	else if (inet_pton(AF_INET6, ip,
	    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1)
		ss->ss_family = AF_INET6;
	else
		fatal("bad address %s", ip);
}

static char *
slurp(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0)
		fatal("cannot read %s", path);
	rewind(f);
	p = xmalloc((size_t)n + 1);
	if (fread(p, 1, (size_t)n, f) != (size_t)n)
		fatal("cannot read %s", path);
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

/* ---- spf through the resolver -------------------------------------- */

struct spf_run {
	struct event_base	*base;
	struct dns		*dns;
	struct sockaddr_storage	 ip;
	const char		*sender, *helo, *expect;
	double			 until;
	unsigned long		 n;
	bool			 bad, timed;
	const char		*last;
};

static void spf_start(struct spf_run *r);

static void
spf_done(void *ctx, enum spf_result result, const char *explanation,
    const char *mechanism, const char *problem)
{
	struct spf_run *r = ctx;

	(void)explanation;
	(void)mechanism;
	r->last = spf_result_name(result);
	if (strcmp(r->last, r->expect) != 0) {
		fprintf(stderr, "spf: got %s (%s), expected %s\n", r->last,
		    problem != NULL ? problem : "-", r->expect);
		r->bad = true;
		event_base_loopbreak(r->base);
		return;
	}
	r->n++;
	if (!r->timed || now_s() >= r->until) {
		event_base_loopbreak(r->base);
		return;
	}
	spf_start(r);
}

static void
spf_start(struct spf_run *r)
{
	(void)spf_check_async(r->base, r->dns, (struct sockaddr *)&r->ip, NULL,
	    r->sender, r->helo, "mx.receiver.test", 0, spf_done, r);
}

static int
mode_spf(int argc, char **argv)
{
	struct dns_settings set = { 0 };
	struct spf_run r = { 0 };
	const char *err;
	double t0, c0;

	if (argc < 8)
		fatal("usage: spf SERVERS SECONDS IP SENDER HELO EXPECT "
		    "[nocache]");
	set.servers = argv[2];
	set.no_cache = argc > 8 && strcmp(argv[8], "nocache") == 0;
	parse_ip(argv[4], &r.ip);
	r.sender = argv[5];
	r.helo = argv[6];
	r.expect = argv[7];
	r.base = event_base_new();
	if (r.base == NULL)
		fatal("event_base_new");
	r.dns = dns_new_settings(r.base, &set, &err);
	if (r.dns == NULL)
		fatal("dns_new: %s", err);
	/* untimed: fills the cache (and checks the zone answers) */
	spf_start(&r);
	event_base_dispatch(r.base);
	if (r.bad)
		return 1;
	r.n = 0;
	r.timed = true;
	t0 = now_s();
	c0 = cpu_s();
	r.until = t0 + atof(argv[3]);
	spf_start(&r);
	event_base_dispatch(r.base);
	report(r.n, now_s() - t0, cpu_s() - c0, r.last);
	dns_free(&r.dns);
	event_base_free(r.base);
	return r.bad ? 1 : 0;
}

/* ---- spf with an in-memory zone -------------------------------------- */

struct zrec {
	char		*name;
	enum spf_qtype	 type;
	char		*data;
};

struct zone {
	struct zrec	*rec;
	size_t		 n;
};

static void
zone_load(const char *path, struct zone *z)
{
	size_t len;
	char *text = slurp(path, &len), *line, *save = NULL;

	memset(z, 0, sizeof(*z));
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char *name = line, *type, *data;
		struct zrec *zr;

		if ((type = strchr(name, ' ')) == NULL)
			continue;
		*type++ = '\0';
		if ((data = strchr(type, ' ')) == NULL)
			fatal("zone: bad line for %s", name);
		*data++ = '\0';
		z->rec = xreallocarray(z->rec, z->n + 1, sizeof(*z->rec));
		zr = &z->rec[z->n++];
		zr->name = xstrdup(name);
		zr->data = xstrdup(data);
		if (strcmp(type, "TXT") == 0)
			zr->type = SPF_Q_TXT;
		else if (strcmp(type, "A") == 0)
			zr->type = SPF_Q_A;
		else if (strcmp(type, "AAAA") == 0)
			zr->type = SPF_Q_AAAA;
		else if (strcmp(type, "MX") == 0)
			zr->type = SPF_Q_MX;
		else
			fatal("zone: type %s", type);
	}
	free(text);
}

/* zone_answer - answer the check's pending query from z */
static void
zone_answer(const struct zone *z, struct spf_check *c)
{
	struct sockaddr_storage addr[16];
	struct span txt[16];
	const char *names[16];
	enum spf_qtype type;
	const char *name;
	size_t i, n = 0, k;
	bool exists = false;

	spf_check_query(c, &type, &name);
	for (i = 0; i < z->n; i++) {
		const struct zrec *zr = &z->rec[i];

		if (strcasecmp(zr->name, name) != 0)
			continue;
		exists = true;
		if (zr->type != type || n == 16)
			continue;
		switch (type) {
		case SPF_Q_TXT:
			txt[n++] = span_make(zr->data, strlen(zr->data));
			break;
		case SPF_Q_A:
		case SPF_Q_AAAA:
			parse_ip(zr->data, &addr[n++]);
			break;
		case SPF_Q_MX:
			/* listed in preference order in the zone file */
			k = strcspn(zr->data, " ");
			names[n++] = zr->data + k + (zr->data[k] == ' ');
			break;
		case SPF_Q_PTR:
			break;
		}
	}
	if (!exists) {
		if (type == SPF_Q_TXT)
			spf_check_answer_txt(c, DNS_NXDOMAIN, NULL, 0);
		else if (type == SPF_Q_MX || type == SPF_Q_PTR)
			spf_check_answer_names(c, DNS_NXDOMAIN, NULL, 0);
		else
			spf_check_answer_addr(c, DNS_NXDOMAIN, NULL, 0);
		return;
	}
	switch (type) {
	case SPF_Q_TXT:
		spf_check_answer_txt(c, DNS_OK, txt, n);
		break;
	case SPF_Q_A:
	case SPF_Q_AAAA:
		spf_check_answer_addr(c, DNS_OK, addr, n);
		break;
	case SPF_Q_MX:
	case SPF_Q_PTR:
		spf_check_answer_names(c, DNS_OK, names, n);
		break;
	}
}

static int
mode_spf_zone(int argc, char **argv)
{
	struct sockaddr_storage ip;
	struct zone z;
	const char *last = "-";
	unsigned long n = 0;
	double t0, c0, until;

	if (argc < 8)
		fatal("usage: spf-zone ZONEFILE SECONDS IP SENDER HELO EXPECT");
	zone_load(argv[2], &z);
	parse_ip(argv[4], &ip);
	t0 = now_s();
	c0 = cpu_s();
	until = t0 + atof(argv[3]);
	do {
		struct spf_check *c = spf_check_new((struct sockaddr *)&ip,
		    NULL, argv[5], argv[6], "mx.receiver.test");

		while (spf_check_step(c) == 0)
			zone_answer(&z, c);
		last = spf_result_name(spf_check_result(c, NULL, NULL));
		spf_check_free(&c);
		if (strcmp(last, argv[7]) != 0) {
			fprintf(stderr, "spf-zone: got %s, expected %s\n",
			    last, argv[7]);
			return 1;
		}
		n++;
	} while (now_s() < until);
	report(n, now_s() - t0, cpu_s() - c0, last);
	return 0;
}

/* ---- dkim -------------------------------------------------------------- */

static int
mode_dkim(int argc, char **argv)
{
	size_t len, klen;
	char *msg, *key;
	const char *txt[1];
	unsigned long n = 0;
	double t0, c0, until;

	if (argc < 5)
		fatal("usage: dkim MSGFILE KEYFILE SECONDS");
	msg = slurp(argv[2], &len);
	key = slurp(argv[3], &klen);
	key[strcspn(key, "\r\n")] = '\0';
	txt[0] = key;
	t0 = now_s();
	c0 = cpu_s();
	until = t0 + atof(argv[4]);
	do {
		struct dkim_verify *v = dkim_verify_new(msg, len, time(NULL));
		size_t i;

		for (i = 0; i < dkim_verify_nkeys(v); i++)
			dkim_verify_key_answer(v, i, DNS_OK, txt, 1);
		dkim_verify_finish(v);
		if (dkim_verify_nresults(v) != 1 || !dkim_verify_any_pass(v)) {
			fprintf(stderr, "dkim: not a pass: %s\n",
			    dkim_verify_nresults(v) > 0 ?
			    dkim_verify_result(v, 0)->reason : "no signature");
			return 1;
		}
		dkim_verify_free(&v);
		n++;
	} while (now_s() < until);
	report(n, now_s() - t0, cpu_s() - c0, "pass");
	free(msg);
	free(key);
	return 0;
}

int
main(int argc, char **argv)
{
	log_set_level(LOG_LEVEL_WARN);
	if (argc >= 2 && strcmp(argv[1], "spf") == 0)
		return mode_spf(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "spf-zone") == 0)
		return mode_spf_zone(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "dkim") == 0)
		return mode_dkim(argc, argv);
	fprintf(stderr, "usage: postino_auth_bench spf|spf-zone|dkim ...\n");
	return 2;
}
