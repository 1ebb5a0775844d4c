/*
 * spf_dns_test.c - tests of the SPF driver on the event loop
 * (policy/spf_dns.c) against the real resolver (dns/dns.c) talking to a
 * small DNS responder on loopback written here: it answers A, AAAA, TXT
 * (several strings per record), MX and PTR from a table, NXDOMAIN for
 * unknown names and nothing at all for "silent" names.
 */
#include "policy/spf_dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ascii.h"
#include "lib/log.h"
#include "../../tests/lib/test.h"

#define T_A	1
#define T_PTR	12
#define T_MX	15
#define T_TXT	16
#define T_AAAA	28

static const struct zent {
	const char	*name;
	unsigned	 type;
	const char	*data;	/* TXT: strings split at '|'; MX: "pref host" */
} zone[] = {
	{ "mx.test", T_TXT, "v=spf1 mx -all" },
	{ "mx.test", T_MX, "10 mail.mx.test" },
	{ "mail.mx.test", T_A, "192.0.2.10" },
	{ "mail.mx.test", T_AAAA, "2001:db8::10" },
	{ "fail.test", T_TXT, "v=spf1 -all exp=why.fail.test" },
	{ "fail.test", T_TXT, "unrelated record" },
	{ "why.fail.test", T_TXT, "%{i} may not send for %{d}" },
	{ "ptr.test", T_TXT, "v=spf1 ptr ~all" },
	{ "10.2.0.192.in-addr.arpa", T_PTR, "host.ptr.test" },
	{ "host.ptr.test", T_A, "192.0.2.10" },
	{ "split.test", T_TXT, "v=spf1 ip4:192.0.2.|10 -all" },
	{ "slow.test", T_TXT, "v=spf1 a:silent.test -all" },
	{ "helo.test", T_TXT, "v=spf1 a -all" },
	{ "helo.test", T_A, "192.0.2.10" },
};

static struct event_base *base;
static int srv_fd = -1;
static struct event *srv_ev;
static char servers[64];
static bool in_start;

struct pkt {
	uint8_t	 b[4096];
	size_t	 len;
};

static void
put8(struct pkt *p, unsigned v)
{
	if (p->len < sizeof(p->b))
		p->b[p->len++] = (uint8_t)v;
}

static void
put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v & 0xff);
}

static void
put_name(struct pkt *p, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t l = dot != NULL ? (size_t)(dot - name) : strlen(name);

		put8(p, (unsigned)l);
		for (size_t i = 0; i < l; i++)
			put8(p, (uint8_t)name[i]);
		name += l;
		if (*name == '.')
			name++;
	}
	put8(p, 0);
}

/* answer_rr - one answer record for e, owner compressed to the question */
static void
answer_rr(struct pkt *p, const struct zent *e)
{
	size_t lenpos;

	put16(p, 0xc00c);
	put16(p, e->type);
	put16(p, 1);
	put16(p, 0);
	put16(p, 60);
	lenpos = p->len;
	put16(p, 0);
	if (e->type == T_A) {
		uint8_t a[4];

		inet_pton(AF_INET, e->data, a);
		for (int i = 0; i < 4; i++)
			put8(p, a[i]);
	} else if (e->type == T_AAAA) {
		uint8_t a[16];

		inet_pton(AF_INET6, e->data, a);
		for (int i = 0; i < 16; i++)
			put8(p, a[i]);
	} else if (e->type == T_TXT) {
		const char *s = e->data;

		for (;;) {
			const char *bar = strchr(s, '|');
			size_t l = bar != NULL ? (size_t)(bar - s) : strlen(s);

			put8(p, (unsigned)l);
			for (size_t i = 0; i < l; i++)
				put8(p, (uint8_t)s[i]);
			if (bar == NULL)
				break;
			s = bar + 1;
		}
	} else if (e->type == T_MX) {
		put16(p, (unsigned)atoi(e->data));
		put_name(p, strchr(e->data, ' ') + 1);
	} else
		put_name(p, e->data);
	p->b[lenpos] = (uint8_t)((p->len - lenpos - 2) >> 8);
	p->b[lenpos + 1] = (uint8_t)((p->len - lenpos - 2) & 0xff);
}

static void
srv_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t q[512];
	char name[300];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	struct pkt p;
	size_t off = 12, o = 0, qend, i;
	unsigned type, an = 0;
	bool known = false;
	ssize_t n;

	(void)what;
	(void)arg;
	n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from,
	    &fromlen);
	if (n < 17)
		return;
	while (off < (size_t)n && q[off] != 0) {
		unsigned l = q[off++];

		if (o > 0)
			name[o++] = '.';
		while (l-- > 0 && off < (size_t)n && o < 290)
			name[o++] = (char)ascii_tolower(q[off++]);
	}
	name[o] = '\0';
	off++;
	if (off + 4 > (size_t)n)
		return;
	type = (unsigned)((q[off] << 8) | q[off + 1]);
	qend = off + 4;
	if (strstr(name, "silent") != NULL)
		return;
	for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		if (strcmp(zone[i].name, name) == 0) {
			known = true;
			if (zone[i].type == type)
				an++;
		}
	memset(&p, 0, sizeof(p));
	put8(&p, q[0]);
	put8(&p, q[1]);
	put16(&p, known ? 0x8180 : 0x8183);
	put16(&p, 1);
	put16(&p, an);
	put16(&p, 0);
	put16(&p, 0);
	for (i = 12; i < qend; i++)
		put8(&p, q[i]);
	for (i = 0; i < sizeof(zone) / sizeof(zone[0]); i++)
		if (strcmp(zone[i].name, name) == 0 && zone[i].type == type)
			answer_rr(&p, &zone[i]);
	(void)sendto(fd, p.b, p.len, 0, (struct sockaddr *)&from, fromlen);
}

static void
srv_start(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (base == NULL)
		base = event_base_new();
	if (srv_ev != NULL)
		return;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv_fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (srv_fd < 0 || bind(srv_fd, (struct sockaddr *)&sin,
	    sizeof(sin)) < 0 || getsockname(srv_fd, (struct sockaddr *)&sin,
	    &len) < 0)
		fatal("test dns server: %s", strerror(errno));
	snprintf(servers, sizeof(servers), "127.0.0.1:%u",
	    ntohs(sin.sin_port));
	srv_ev = event_new(base, srv_fd, EV_READ | EV_PERSIST, srv_cb, NULL);
	event_add(srv_ev, NULL);
}

struct outcome {
	bool		 called;
	bool		 sync;		/* called from inside spf_check_async */
	enum spf_result	 result;
	char		 exp[256];
	char		 mech[128];
	char		 problem[128];
};

static void
done_cb(void *ctx, enum spf_result r, const char *exp, const char *mech,
    const char *problem)
{
	struct outcome *o = ctx;

	o->called = true;
	o->sync = in_start;
	o->result = r;
	snprintf(o->exp, sizeof(o->exp), "%s", exp != NULL ? exp : "");
	snprintf(o->mech, sizeof(o->mech), "%s", mech != NULL ? mech : "");
	snprintf(o->problem, sizeof(o->problem), "%s",
	    problem != NULL ? problem : "");
	event_base_loopbreak(base);
}

static struct dns *
resolver(unsigned timeout_ms)
{
	struct dns_settings set = {
		.servers = servers,
		.timeout_ms = timeout_ms,
		.tries = 1,
		.no_cache = true,
	};
	const char *err;
	struct dns *d;

	srv_start();
	d = dns_new_settings(base, &set, &err);
	if (d == NULL)
		fatal("dns_new: %s", err);
	return d;
}

/* run - one check from ip for sender; waits for the callback */
static void
run(const char *ip, const char *sender, const char *helo,
    unsigned dns_timeout, unsigned spf_timeout, struct outcome *o)
{
	struct sockaddr_storage ss;
	struct dns *d = resolver(dns_timeout);
	struct timeval limit = { 10, 0 };
	struct spf_req *req;

	memset(o, 0, sizeof(*o));
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr)
	    == 1)
		ss.ss_family = AF_INET;
	else {
		CHECK(inet_pton(AF_INET6, ip,
		    &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1);
		ss.ss_family = AF_INET6;
	}
	in_start = true;
	req = spf_check_async(base, d, (struct sockaddr *)&ss, NULL, sender,
	    helo, "mx.receiver.test", spf_timeout, done_cb, o);
	in_start = false;
	CHECK(req != NULL);
	CHECK(!o->called);
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	CHECK(o->called);
	CHECK(!o->sync);
	dns_free(&d);
}

static void
test_results(void)
{
	struct outcome o;

	run("192.0.2.10", "user@mx.test", "h.test", 1000, 0, &o);
	CHECK_INT(o.result, SPF_PASS);
	CHECK_STR(o.mech, "mx");
	run("2001:db8::10", "user@mx.test", "h.test", 1000, 0, &o);
	CHECK_INT(o.result, SPF_PASS);
	run("192.0.2.11", "user@mx.test", "h.test", 1000, 0, &o);
	CHECK_INT(o.result, SPF_FAIL);
	CHECK_STR(o.mech, "-all");

	run("192.0.2.10", "user@fail.test", "h.test", 1000, 0, &o);
	CHECK_INT(o.result, SPF_FAIL);
	CHECK_STR(o.exp, "192.0.2.10 may not send for fail.test");

	run("192.0.2.10", "user@ptr.test", "h.test", 1000, 0, &o);
	CHECK_INT(o.result, SPF_PASS);
	CHECK_STR(o.mech, "ptr");
	run("192.0.2.99", "user@ptr.test", "h.test", 1000, 0, &o);
	CHECK_INT(o.result, SPF_SOFTFAIL);

	/* a TXT record of two strings, concatenated */
	run("192.0.2.10", "user@split.test", "h.test", 1000, 0, &o);
	CHECK_INT(o.result, SPF_PASS);

	/* HELO identity for the null sender */
	run("192.0.2.10", "", "helo.test", 1000, 0, &o);
	CHECK_INT(o.result, SPF_PASS);

	run("192.0.2.10", "user@nowhere.test", "h.test", 1000, 0, &o);
	CHECK_INT(o.result, SPF_NONE);
	/* no DNS at all: the callback still comes from the loop */
	run("192.0.2.10", "user@localhost", "h.test", 1000, 0, &o);
	CHECK_INT(o.result, SPF_NONE);
}

static void
test_timeouts(void)
{
	struct outcome o;

	/* the resolver gives up: temperror (RFC 7208 section 5) */
	run("192.0.2.10", "user@slow.test", "h.test", 200, 0, &o);
	CHECK_INT(o.result, SPF_TEMPERROR);
	/* the check's own deadline comes first */
	run("192.0.2.10", "user@slow.test", "h.test", 3000, 150, &o);
	CHECK_INT(o.result, SPF_TEMPERROR);
	CHECK_STR(o.problem, "SPF check timed out");
}

static void
test_cancel(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct dns *d = resolver(1000);
	struct timeval t = { 0, 300000 };
	struct outcome o;
	struct spf_req *req;

	memset(&o, 0, sizeof(o));
	inet_pton(AF_INET, "192.0.2.10", &sin.sin_addr);
	req = spf_check_async(base, d, (struct sockaddr *)&sin, NULL,
	    "user@mx.test", "h.test", NULL, 0, done_cb, &o);
	spf_cancel(&req);
	CHECK(req == NULL);
	spf_cancel(&req);
	event_base_loopexit(base, &t);
	event_base_dispatch(base);
	CHECK(!o.called);

	/* cancelled while a query is out */
	req = spf_check_async(base, d, (struct sockaddr *)&sin, NULL,
	    "user@slow.test", "h.test", NULL, 0, done_cb, &o);
	event_base_loopexit(base, &t);
	event_base_dispatch(base);
	CHECK(!o.called);
	spf_cancel(&req);
	dns_free(&d);
}

static void
test_cleanup(void)
{
	if (srv_ev != NULL)
		event_free(srv_ev);
	if (srv_fd >= 0)
		close(srv_fd);
	srv_ev = NULL;
	srv_fd = -1;
	if (base != NULL)
		event_base_free(base);
	base = NULL;
	CHECK(true);
}

static const struct test_case cases[] = {
	TEST(test_results),
	TEST(test_timeouts),
	TEST(test_cancel),
	TEST(test_cleanup),
};

TEST_MAIN(cases)
