/*
 * dns_test.c - unit tests for the resolver, against two servers on
 * loopback: a private dnsmasq (Debian dnsmasq-base) serving a test zone,
 * and a tiny responder written here, inside the test's event loop, that
 * answers canned packets (null MX, SERVFAIL, malformed answers, silence,
 * negative answers with an SOA, CNAME chains) and counts the queries it
 * gets, so that caching and coalescing are observed, not assumed.
 * Also table tests of the answer parser on hand-made packets.
 */
#include "dns/dns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dns/dns_parse.h"
#include "lib/arena.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/util.h"
#include "../../tests/lib/test.h"

#define DNSMASQ	"/usr/sbin/dnsmasq"

static struct event_base *base;
static bool in_dns_call;

/* ---- a packet builder (for the fake server and the parser tests) ---- */

struct pk {
	uint8_t	 b[65536 + 512];
	size_t	 len;
};

static void
pk_u8(struct pk *p, unsigned v)
{
	p->b[p->len++] = (uint8_t)v;
}

static void
pk_u16(struct pk *p, unsigned v)
{
	pk_u8(p, v >> 8);
	pk_u8(p, v & 0xff);
}

static void
pk_u32(struct pk *p, uint32_t v)
{
	pk_u16(p, v >> 16);
	pk_u16(p, v & 0xffff);
}

static void
pk_bytes(struct pk *p, const void *s, size_t n)
{
	memcpy(p->b + p->len, s, n);
	p->len += n;
}

/* pk_name - "" or "." is the root; no compression */
static void
pk_name(struct pk *p, const char *name)
{
	while (*name != '\0' && strcmp(name, ".") != 0) {
		size_t l = strcspn(name, ".");

		pk_u8(p, (unsigned)l);
		pk_bytes(p, name, l);
		name += l;
		if (*name == '.')
			name++;
	}
	pk_u8(p, 0);
}

static void
pk_header(struct pk *p, unsigned id, unsigned flags, unsigned qd,
    unsigned an, unsigned ns)
{
	p->len = 0;
	pk_u16(p, id);
	pk_u16(p, flags);
	pk_u16(p, qd);
	pk_u16(p, an);
	pk_u16(p, ns);
	pk_u16(p, 0);
}

/* pk_rr - owner NULL means a pointer to the question name (offset 12) */
static size_t
pk_rr(struct pk *p, const char *owner, unsigned type, uint32_t ttl)
{
	size_t at;

	if (owner == NULL)
		pk_u16(p, 0xc00c);
	else
		pk_name(p, owner);
	pk_u16(p, type);
	pk_u16(p, DNS_CLASS_IN);
	pk_u32(p, ttl);
	at = p->len;
	pk_u16(p, 0);
	return at;
}

static void
pk_rr_end(struct pk *p, size_t at)
{
	size_t l = p->len - at - 2;

	p->b[at] = (uint8_t)(l >> 8);
	p->b[at + 1] = (uint8_t)l;
}

static void
pk_a(struct pk *p, const char *owner, uint32_t ttl, const char *ip)
{
	size_t at = pk_rr(p, owner, DNS_TYPE_A, ttl);
	struct in_addr a;

	inet_pton(AF_INET, ip, &a);
	pk_bytes(p, &a, 4);
	pk_rr_end(p, at);
}

static void
pk_mx(struct pk *p, unsigned pref, const char *host)
{
	size_t at = pk_rr(p, NULL, DNS_TYPE_MX, 300);

	pk_u16(p, pref);
	pk_name(p, host);
	pk_rr_end(p, at);
}

static void
pk_soa(struct pk *p, uint32_t ttl, uint32_t minimum)
{
	size_t at = pk_rr(p, "fake", DNS_TYPE_SOA, ttl);

	pk_name(p, "ns.fake");
	pk_name(p, "hostmaster.fake");
	pk_u32(p, 1);
	pk_u32(p, 3600);
	pk_u32(p, 600);
	pk_u32(p, 86400);
	pk_u32(p, minimum);
	pk_rr_end(p, at);
}

/* ---- the fake server, answering inside our event loop ---- */

struct fake {
	int		 fd;
	struct event	*ev;
	unsigned	 port;
	char		 names[64][300];
	unsigned	 counts[64];
	unsigned	 last_flags;	/* of the last query received */
	unsigned	 last_arcount;
};

static struct fake fake;

static unsigned
fake_count(const char *name)
{
	unsigned i;

	for (i = 0; i < 64; i++)
		if (strcmp(fake.names[i], name) == 0)
			return fake.counts[i];
	return 0;
}

static void
fake_note(const char *name)
{
	unsigned i;

	for (i = 0; i < 64; i++) {
		if (fake.names[i][0] == '\0')
			snprintf(fake.names[i], sizeof(fake.names[i]), "%s",
			    name);
		if (strcmp(fake.names[i], name) == 0) {
			fake.counts[i]++;
			return;
		}
	}
}

/* fake_answer - builds the reply to name/type; returns false: no reply */
static bool
fake_answer(struct pk *p, const uint8_t *q, size_t qend, const char *name,
    unsigned type)
{
	unsigned id = (q[0] << 8) | q[1], i;
	size_t at;

#define QUESTION(rcode, an, ns) do { \
	pk_header(p, id, 0x8180 | (rcode), 1, (an), (ns)); \
	pk_bytes(p, q + 12, qend - 12); \
} while (0)

	if (strcmp(name, "silent.fake") == 0 ||
	    (strlen(name) > 12 &&
	    strcmp(name + strlen(name) - 12, ".silent.fake") == 0))
		return false;
	if (strcmp(name, "nullmx.fake") == 0) {
		QUESTION(0, 1, 0);
		pk_mx(p, 0, ".");
	} else if (strcmp(name, "mixed.fake") == 0) {
		QUESTION(0, 2, 0);
		pk_mx(p, 0, ".");
		pk_mx(p, 10, "mx.fake");
	} else if (strcmp(name, "servfail.fake") == 0) {
		QUESTION(2, 0, 0);
	} else if (strcmp(name, "refused.fake") == 0) {
		QUESTION(5, 0, 0);
	} else if (strcmp(name, "malformed.fake") == 0) {
		QUESTION(0, 1, 0);
		at = pk_rr(p, NULL, type, 300);
		pk_u16(p, 10);
		pk_u8(p, 40);		/* label longer than the data */
		pk_bytes(p, "abc", 3);
		pk_rr_end(p, at);
	} else if (strcmp(name, "badptr.fake") == 0) {
		QUESTION(0, 1, 0);
		at = pk_rr(p, NULL, type, 300);
		pk_u16(p, 10);
		pk_u16(p, 0xc000 | (unsigned)(p->len + 2)); /* forward */
		pk_rr_end(p, at);
	} else if (strcmp(name, "neg.fake") == 0) {
		QUESTION(3, 0, 1);
		pk_soa(p, 300, 60);
	} else if (strcmp(name, "nodata.fake") == 0) {
		QUESTION(0, 0, 1);
		pk_soa(p, 300, 60);
	} else if (strcmp(name, "nodata-nosoa.fake") == 0) {
		QUESTION(0, 0, 0);
	} else if (strcmp(name, "ttl0.fake") == 0 && type == DNS_TYPE_A) {
		QUESTION(0, 1, 0);
		pk_a(p, NULL, 0, "192.0.2.9");
	} else if (strcmp(name, "short-ttl.fake") == 0 &&
	    type == DNS_TYPE_A) {
		QUESTION(0, 1, 0);
		pk_a(p, NULL, 1, "192.0.2.10");
	} else if (strcmp(name, "cname.fake") == 0 && type == DNS_TYPE_A) {
		QUESTION(0, 3, 0);
		at = pk_rr(p, NULL, DNS_TYPE_CNAME, 300);
		pk_name(p, "mid.fake");
		pk_rr_end(p, at);
		at = pk_rr(p, "mid.fake", DNS_TYPE_CNAME, 300);
		pk_name(p, "Target.FAKE");
		pk_rr_end(p, at);
		pk_a(p, "target.fake", 300, "192.0.2.7");
	} else if (strcmp(name, "loop.fake") == 0) {
		QUESTION(0, 2, 0);
		at = pk_rr(p, NULL, DNS_TYPE_CNAME, 300);
		pk_name(p, "loop2.fake");
		pk_rr_end(p, at);
		at = pk_rr(p, "loop2.fake", DNS_TYPE_CNAME, 300);
		pk_name(p, "loop.fake");
		pk_rr_end(p, at);
	} else if (strcmp(name, "txt.fake") == 0 && type == DNS_TYPE_TXT) {
		QUESTION(0, 3, 0);
		at = pk_rr(p, NULL, DNS_TYPE_TXT, 300);
		pk_u8(p, 7);
		pk_bytes(p, "v=spf1 ", 7);
		pk_u8(p, 0);
		pk_u8(p, 4);
		pk_bytes(p, "-all", 4);
		pk_rr_end(p, at);
		at = pk_rr(p, NULL, DNS_TYPE_TXT, 300);
		pk_u8(p, 3);
		pk_bytes(p, "a\0b", 3);		/* NUL: dropped */
		pk_rr_end(p, at);
		at = pk_rr(p, NULL, DNS_TYPE_TXT, 300);
		pk_u8(p, 5);
		pk_bytes(p, "other", 5);
		pk_rr_end(p, at);
	} else if (strcmp(name, "many.fake") == 0 && type == DNS_TYPE_A) {
		QUESTION(0, 70, 0);
		for (i = 0; i < 70; i++) {
			char ip[32];

			snprintf(ip, sizeof(ip), "10.0.0.%u", i + 1);
			pk_a(p, NULL, 300, ip);
		}
	} else if (strcmp(name, "badhost.fake") == 0) {
		QUESTION(0, 2, 0);
		pk_mx(p, 10, "bad host.fake");
		pk_mx(p, 20, "good.fake");
	} else if (strcmp(name, "9.2.0.192.in-addr.arpa") == 0) {
		QUESTION(0, 1, 0);
		at = pk_rr(p, NULL, DNS_TYPE_PTR, 300);
		pk_name(p, "Host.Fake");
		pk_rr_end(p, at);
	} else if (strcmp(name, "wrongq.fake") == 0) {
		pk_header(p, id, 0x8180, 1, 0, 0);
		pk_name(p, "other.fake");
		pk_u16(p, type);
		pk_u16(p, 1);
	} else if (strcmp(name, "_25._tcp.mx.fake") == 0 &&
	    type == DNS_TYPE_TLSA) {
		/* AD set: the resolver says it validated this */
		pk_header(p, id, 0x81a0, 1, 2, 0);
		pk_bytes(p, q + 12, qend - 12);
		at = pk_rr(p, NULL, DNS_TYPE_TLSA, 300);
		pk_bytes(p, "\3\1\1", 3);
		for (i = 0; i < 32; i++)
			pk_u8(p, i);
		pk_rr_end(p, at);
		at = pk_rr(p, NULL, DNS_TYPE_TLSA, 300);
		pk_bytes(p, "\2\0\2\xaa\x00\xbb", 6);
		pk_rr_end(p, at);
	} else if (strcmp(name, "_465._tcp.insecure.fake") == 0 &&
	    type == DNS_TYPE_TLSA) {
		QUESTION(0, 1, 0);
		at = pk_rr(p, NULL, DNS_TYPE_TLSA, 300);
		pk_bytes(p, "\3\1\1\xff", 4);
		pk_rr_end(p, at);
	} else if (strcmp(name, "_25._tcp.badtlsa.fake") == 0) {
		QUESTION(0, 1, 0);
		at = pk_rr(p, NULL, DNS_TYPE_TLSA, 300);
		pk_bytes(p, "\3\1", 2);
		pk_rr_end(p, at);
	} else if (strcmp(name, "coalesce.fake") == 0) {
		QUESTION(0, 1, 0);
		pk_mx(p, 10, "mx.coalesce.fake");
	} else {
		QUESTION(3, 0, 0);
	}
#undef QUESTION
	return true;
}

static void
fake_cb(evutil_socket_t fd, short what, void *arg)
{
	uint8_t q[1024];
	char name[300];
	struct sockaddr_storage from;
	socklen_t fromlen = sizeof(from);
	struct pk p;
	ssize_t n;
	size_t off = 12, o = 0;
	unsigned type;

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
			name[o++] = (char)q[off++];
	}
	name[o] = '\0';
	off++;
	if (off + 4 > (size_t)n)
		return;
	type = (q[off] << 8) | q[off + 1];
	off += 4;
	fake_note(name);
	fake.last_flags = (q[2] << 8) | q[3];
	fake.last_arcount = (q[10] << 8) | q[11];
	if (!fake_answer(&p, q, off, name, type))
		return;
	(void)sendto(fd, p.b, p.len, 0, (struct sockaddr *)&from, fromlen);
}

static void
fake_start(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	if (fake.ev != NULL)
		return;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fake.fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fake.fd < 0 ||
	    bind(fake.fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    getsockname(fake.fd, (struct sockaddr *)&sin, &len) < 0)
		fatal("fake dns: %s", strerror(errno));
	fake.port = ntohs(sin.sin_port);
	fake.ev = event_new(base, fake.fd, EV_READ | EV_PERSIST, fake_cb,
	    NULL);
	event_add(fake.ev, NULL);
}

/* ---- running the loop ---- */

static void
loop_init(void)
{
	if (base == NULL)
		base = event_base_new();
}

static void
run_until(const bool *done, unsigned ms)
{
	uint64_t end = monotonic_ms() + ms;
	struct timeval tv = { 0, 5000 };

	while ((done == NULL || !*done) && monotonic_ms() < end) {
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
}

/* ---- capturing results ---- */

struct res {
	bool		 done;
	unsigned	 calls;
	enum dns_status	 st;
	size_t		 n;
	bool		 null_mx;
	bool		 inside;	/* called from inside a dns_* call */
	size_t		 len0;		/* full length of the first string */
	unsigned	 pref[DNS_MAX_RECORDS];
	char		 s[DNS_MAX_RECORDS][300];
	struct sockaddr_storage addr[2 * DNS_MAX_RECORDS];
};

static void
res_common(struct res *r, enum dns_status st, size_t n)
{
	r->done = true;
	r->calls++;
	r->st = st;
	r->n = n;
	if (in_dns_call)
		r->inside = true;
}

static void
mx_cb(void *ctx, enum dns_status st, const struct dns_mx *mx, size_t n,
    bool null_mx)
{
	struct res *r = ctx;
	size_t i;

	res_common(r, st, n);
	r->null_mx = null_mx;
	for (i = 0; i < n && i < DNS_MAX_RECORDS; i++) {
		r->pref[i] = mx[i].pref;
		snprintf(r->s[i], sizeof(r->s[i]), "%s", mx[i].host);
	}
}

static void
addr_cb(void *ctx, enum dns_status st, const struct sockaddr_storage *a,
    size_t n)
{
	struct res *r = ctx;
	size_t i;

	res_common(r, st, n);
	for (i = 0; i < n && i < 2 * DNS_MAX_RECORDS; i++) {
		r->addr[i] = a[i];
		if (a[i].ss_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)
			    (const void *)&a[i])->sin_addr, r->s[i % 64], 64);
		else
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
			    (const void *)&a[i])->sin6_addr, r->s[i % 64], 64);
	}
}

static void
str_cb(void *ctx, enum dns_status st, const char *const *s, size_t n)
{
	struct res *r = ctx;
	size_t i;

	res_common(r, st, n);
	if (n > 0)
		r->len0 = strlen(s[0]);
	for (i = 0; i < n && i < DNS_MAX_RECORDS; i++)
		snprintf(r->s[i], sizeof(r->s[i]), "%s", s[i]);
}

static struct dns_req *
ask_mx(struct dns *d, const char *name, struct res *r)
{
	struct dns_req *q;

	memset(r, 0, sizeof(*r));
	in_dns_call = true;
	q = dns_mx(d, name, mx_cb, r);
	in_dns_call = false;
	CHECK(!r->done);
	return q;
}

static struct dns_req *
ask_addr(struct dns *d, const char *name, struct res *r)
{
	struct dns_req *q;

	memset(r, 0, sizeof(*r));
	in_dns_call = true;
	q = dns_addr(d, name, addr_cb, r);
	in_dns_call = false;
	CHECK(!r->done);
	return q;
}

static struct dns_req *
ask_addr_family(struct dns *d, const char *name, int family, struct res *r)
{
	struct dns_req *q;

	memset(r, 0, sizeof(*r));
	in_dns_call = true;
	q = dns_addr_family(d, name, family, addr_cb, r);
	in_dns_call = false;
	return q;
}

static struct dns_req *
ask_txt(struct dns *d, const char *name, struct res *r)
{
	struct dns_req *q;

	memset(r, 0, sizeof(*r));
	in_dns_call = true;
	q = dns_txt(d, name, str_cb, r);
	in_dns_call = false;
	CHECK(!r->done);
	return q;
}

static struct dns_req *
ask_ptr(struct dns *d, const char *ip, struct res *r)
{
	struct sockaddr_storage ss;
	struct dns_req *q;

	memset(&ss, 0, sizeof(ss));
	if (strchr(ip, ':') != NULL) {
		ss.ss_family = AF_INET6;
		inet_pton(AF_INET6, ip,
		    &((struct sockaddr_in6 *)(void *)&ss)->sin6_addr);
	} else {
		ss.ss_family = AF_INET;
		inet_pton(AF_INET, ip,
		    &((struct sockaddr_in *)(void *)&ss)->sin_addr);
	}
	memset(r, 0, sizeof(*r));
	in_dns_call = true;
	q = dns_ptr(d, (struct sockaddr *)&ss, str_cb, r);
	in_dns_call = false;
	CHECK(!r->done);
	return q;
}

/* await_res - runs the loop until r is answered (at most 5 s) */
static void
await_res(struct res *r)
{
	run_until(&r->done, 5000);
	CHECK(r->done);
	CHECK_INT(r->calls, 1);
	CHECK(!r->inside);
}

static struct dns *
fake_dns(unsigned timeout_ms)
{
	struct dns_settings set;
	struct dns *d;
	const char *err = NULL;
	char servers[64];

	loop_init();
	fake_start();
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", fake.port);
	memset(&set, 0, sizeof(set));
	set.servers = servers;
	set.timeout_ms = timeout_ms;
	set.tries = 1;
	d = dns_new_settings(base, &set, &err);
	if (d == NULL)
		fatal("dns_new: %s", err);
	return d;
}

/* ---- dnsmasq ---- */

static pid_t dnsmasq_pid = -1;
static unsigned dnsmasq_port;
static char dnsmasq_dir[64];

static void
dnsmasq_stop(void)
{
	int status;

	if (dnsmasq_pid > 0) {
		kill(dnsmasq_pid, SIGTERM);
		waitpid(dnsmasq_pid, &status, 0);
		dnsmasq_pid = -1;
	}
}

/* free_port - a port free for UDP and TCP on 127.0.0.1 right now */
static unsigned
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int u, t;
	unsigned port;

	for (;;) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		u = socket(AF_INET, SOCK_DGRAM, 0);
		t = socket(AF_INET, SOCK_STREAM, 0);
		if (u < 0 || t < 0 ||
		    bind(u, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
		    getsockname(u, (struct sockaddr *)&sin, &len) < 0)
			fatal("free_port: %s", strerror(errno));
		port = ntohs(sin.sin_port);
		if (bind(t, (struct sockaddr *)&sin, sizeof(sin)) == 0) {
			close(u);
			close(t);
			return port;
		}
		close(u);
		close(t);
	}
}

/* dnsmasq_ready - one synchronous query: does it answer yet? */
static bool
dnsmasq_ready(void)
{
	struct sockaddr_in sin;
	struct timeval tv = { 0, 100000 };
	struct pk p;
	uint8_t buf[512];
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	bool ok;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)dnsmasq_port);
	pk_header(&p, 4242, 0x0100, 1, 0, 0);
	pk_name(&p, "implicit.test");
	pk_u16(&p, DNS_TYPE_A);
	pk_u16(&p, DNS_CLASS_IN);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	ok = sendto(fd, p.b, p.len, 0, (struct sockaddr *)&sin,
	    sizeof(sin)) >= 0 && recv(fd, buf, sizeof(buf), 0) >= 12;
	close(fd);
	return ok;
}

static const char dnsmasq_zone[] =
	"listen-address=127.0.0.1\n"
	"bind-interfaces\n"
	"no-resolv\n"
	"no-hosts\n"
	"no-negcache\n"
	"local-ttl=300\n"
	"local=/test/\n"
	"mx-host=mx.test,b.mx.test,10\n"
	"mx-host=mx.test,a.mx.test,10\n"
	"mx-host=mx.test,c.mx.test,5\n"
	"host-record=implicit.test,192.0.2.1,2001:db8::1\n"
	"host-record=a.mx.test,192.0.2.11\n"
	"cname=alias.test,implicit.test\n"
	"txt-record=txt.test,\"v=spf1 \",\"-all\"\n"
	"txt-record=txt.test,\"second\"\n";

/* dnsmasq_start - a private dnsmasq on a free port, or a loud failure */
static bool
dnsmasq_start(void)
{
	char conf[128], log[128], port[32];
	FILE *f;
	unsigned i;

	if (dnsmasq_pid > 0)
		return true;
	loop_init();
	if (access(DNSMASQ, X_OK) != 0) {
		CHECK(!DNSMASQ " is missing: apt-get install dnsmasq-base");
		return false;
	}
	if (dnsmasq_dir[0] == '\0') {
		snprintf(dnsmasq_dir, sizeof(dnsmasq_dir),
		    "/tmp/dns_test.XXXXXX");
		if (mkdtemp(dnsmasq_dir) == NULL)
			fatal("mkdtemp: %s", strerror(errno));
	}
	snprintf(conf, sizeof(conf), "%s/dnsmasq.conf", dnsmasq_dir);
	snprintf(log, sizeof(log), "%s/dnsmasq.log", dnsmasq_dir);
	if ((f = fopen(conf, "w")) == NULL)
		fatal("%s: %s", conf, strerror(errno));
	fputs(dnsmasq_zone, f);
	/* 3 records of 8 x 60 bytes: over the EDNS size, so TC, then TCP */
	for (i = 0; i < 3 * 8; i++)
		fprintf(f, "%s\"%02u%058u\"%s", i % 8 == 0 ?
		    "txt-record=big.test," : ",", i, 0u,
		    i % 8 == 7 ? "\n" : "");
	fclose(f);
	dnsmasq_port = free_port();
	snprintf(port, sizeof(port), "--port=%u", dnsmasq_port);
	char conf_arg[160];
	snprintf(conf_arg, sizeof(conf_arg), "--conf-file=%s", conf);
	dnsmasq_pid = fork();
	if (dnsmasq_pid < 0)
		fatal("fork: %s", strerror(errno));
	if (dnsmasq_pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		/* dies with the test, even if the test crashes */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(DNSMASQ, "dnsmasq", "--no-daemon", "--pid-file=",
		    conf_arg, port, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 100; i++) {
		int status;

		if (waitpid(dnsmasq_pid, &status, WNOHANG) == dnsmasq_pid) {
			dnsmasq_pid = -1;
			CHECK(!"dnsmasq exited at start (see its log)");
			fprintf(stderr, "dnsmasq log: %s\n", log);
			return false;
		}
		if (dnsmasq_ready())
			return true;
	}
	CHECK(!"dnsmasq does not answer");
	dnsmasq_stop();
	return false;
}

static struct dns *
dnsmasq_dns(void)
{
	char servers[64];
	const char *err = NULL;
	struct dns *d;

	snprintf(servers, sizeof(servers), "127.0.0.1:%u", dnsmasq_port);
	d = dns_new(base, servers, &err);
	if (d == NULL)
		fatal("dns_new: %s", err);
	return d;
}

/* ---- tests against dnsmasq ---- */

static struct dns *shared_dns;	/* kept across tests: its cache matters */

static void
test_dnsmasq_mx_order(void)
{
	struct res r;
	unsigned i, ab = 0, ba = 0;

	if (!dnsmasq_start())
		return;
	shared_dns = dnsmasq_dns();
	for (i = 0; i < 64; i++) {
		(void)ask_mx(shared_dns, i % 2 ? "MX.test." : "mx.test", &r);
		await_res(&r);
		CHECK_INT(r.st, DNS_OK);
		CHECK_INT(r.n, 3);
		CHECK(!r.null_mx);
		if (r.n != 3)
			break;
		CHECK_INT(r.pref[0], 5);
		CHECK_STR(r.s[0], "c.mx.test");
		CHECK_INT(r.pref[1], 10);
		CHECK_INT(r.pref[2], 10);
		if (strcmp(r.s[1], "a.mx.test") == 0 &&
		    strcmp(r.s[2], "b.mx.test") == 0)
			ab++;
		else if (strcmp(r.s[1], "b.mx.test") == 0 &&
		    strcmp(r.s[2], "a.mx.test") == 0)
			ba++;
	}
	/* both orders among equal preferences: chance of failure 2^-63 */
	CHECK(ab > 0);
	CHECK(ba > 0);
	CHECK_INT(ab + ba, 64);
	CHECK(dns_cache_count(shared_dns) >= 1);
}

static void
test_dnsmasq_implicit_mx(void)
{
	struct res r;

	if (!dnsmasq_start())
		return;
	(void)ask_mx(shared_dns, "implicit.test", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nodata");
	CHECK_INT(r.n, 0);
	(void)ask_addr(shared_dns, "implicit.test", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 2);
	CHECK_INT(r.addr[0].ss_family, AF_INET);
	CHECK_STR(r.s[0], "192.0.2.1");
	CHECK_INT(r.addr[1].ss_family, AF_INET6);
	CHECK_STR(r.s[1], "2001:db8::1");
	CHECK_INT(((struct sockaddr_in *)(void *)&r.addr[0])->sin_port, 0);
	/* only an A record: still OK, AAAA is NODATA */
	(void)ask_addr(shared_dns, "a.mx.test", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 1);
	CHECK_STR(r.s[0], "192.0.2.11");
	/* CNAME followed by the server, the answer is the target's */
	(void)ask_addr(shared_dns, "alias.test", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 2);
	CHECK_STR(r.s[0], "192.0.2.1");
	/* one family only (SPF): A, or AAAA, never both */
	(void)ask_addr_family(shared_dns, "implicit.test", AF_INET, &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 1);
	CHECK_INT(r.addr[0].ss_family, AF_INET);
	CHECK_STR(r.s[0], "192.0.2.1");
	(void)ask_addr_family(shared_dns, "implicit.test", AF_INET6, &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 1);
	CHECK_INT(r.addr[0].ss_family, AF_INET6);
	CHECK_STR(r.s[0], "2001:db8::1");
	/* an A-only host has no AAAA: NODATA, not OK */
	(void)ask_addr_family(shared_dns, "a.mx.test", AF_INET6, &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nodata");
	CHECK_INT(r.n, 0);
	(void)ask_addr_family(shared_dns, "nope.test", AF_INET, &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nxdomain");
	/* an invalid name fails at once, as with dns_addr */
	(void)ask_addr_family(shared_dns, "..", AF_INET, &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "permfail");
}

static void
test_dnsmasq_nxdomain(void)
{
	struct res r;

	if (!dnsmasq_start())
		return;
	(void)ask_mx(shared_dns, "nope.test", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nxdomain");
	(void)ask_addr(shared_dns, "nope.test", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nxdomain");
	CHECK_INT(r.n, 0);
}

static void
test_dnsmasq_txt_ptr(void)
{
	struct res r;
	size_t i;
	bool spf = false, second = false;

	if (!dnsmasq_start())
		return;
	(void)ask_txt(shared_dns, "txt.test", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 2);
	for (i = 0; i < r.n; i++) {
		spf |= strcmp(r.s[i], "v=spf1 -all") == 0;
		second |= strcmp(r.s[i], "second") == 0;
	}
	CHECK(spf);
	CHECK(second);
	/* truncated over UDP: c-ares asks again over TCP */
	(void)ask_txt(shared_dns, "big.test", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 3);
	CHECK_INT(r.len0, 8 * 60);
	CHECK(strncmp(r.s[0] + 60, "01000", 5) == 0 ||
	    strncmp(r.s[0] + 60, "09000", 5) == 0 ||
	    strncmp(r.s[0] + 60, "17000", 5) == 0);
	(void)ask_ptr(shared_dns, "192.0.2.1", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 1);
	CHECK_STR(r.s[0], "implicit.test");
	(void)ask_ptr(shared_dns, "::ffff:192.0.2.1", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_STR(r.s[0], "implicit.test");
	(void)ask_ptr(shared_dns, "2001:db8::1", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_STR(r.s[0], "implicit.test");
}

/* the server goes away: cached answers still come, the rest fails */
static void
test_dnsmasq_cache_hit(void)
{
	struct res r;

	if (!dnsmasq_start())
		return;
	dnsmasq_stop();
	(void)ask_mx(shared_dns, "mx.test", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 3);
	CHECK_STR(r.s[0], "c.mx.test");
	(void)ask_txt(shared_dns, "txt.test", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 2);
	(void)ask_addr(shared_dns, "implicit.test", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	(void)ask_mx(shared_dns, "uncached.test", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "tempfail");
	dns_cache_flush(shared_dns);
	CHECK_INT(dns_cache_count(shared_dns), 0);
	(void)ask_mx(shared_dns, "mx.test", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "tempfail");
	dns_free(&shared_dns);
	CHECK(shared_dns == NULL);
}

/* ---- tests against the fake server ---- */

static void
test_null_mx(void)
{
	struct dns *d = fake_dns(500);
	struct res r;

	(void)ask_mx(d, "nullmx.fake", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK(r.null_mx);
	CHECK_INT(r.n, 0);
	/* "." among real records: ignored */
	(void)ask_mx(d, "mixed.fake", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK(!r.null_mx);
	CHECK_INT(r.n, 1);
	CHECK_STR(r.s[0], "mx.fake");
	CHECK_INT(r.pref[0], 10);
	/* an exchange that is no host name is dropped */
	(void)ask_mx(d, "badhost.fake", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 1);
	CHECK_STR(r.s[0], "good.fake");
	dns_free(&d);
}

static void
test_server_failures(void)
{
	struct dns *d = fake_dns(300);
	struct res r;
	uint64_t t0;

	(void)ask_mx(d, "servfail.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "tempfail");
	(void)ask_mx(d, "refused.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "tempfail");
	(void)ask_mx(d, "malformed.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "permfail");
	(void)ask_mx(d, "badptr.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "permfail");
	(void)ask_addr(d, "loop.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "permfail");
	/* an answer to another question is ignored by c-ares: timeout */
	(void)ask_txt(d, "wrongq.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "tempfail");
	t0 = monotonic_ms();
	(void)ask_mx(d, "silent.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "tempfail");
	CHECK(monotonic_ms() - t0 >= 250);
	CHECK(monotonic_ms() - t0 < 3000);
	CHECK_INT(dns_cache_count(d), 0);	/* failures are not cached */
	dns_free(&d);
}

static void
test_negative_cache(void)
{
	struct dns *d = fake_dns(500);
	struct res r;
	unsigned c;

	c = fake_count("neg.fake");
	(void)ask_mx(d, "neg.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nxdomain");
	(void)ask_mx(d, "neg.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nxdomain");
	CHECK_INT(fake_count("neg.fake"), c + 1);

	c = fake_count("nodata.fake");
	(void)ask_txt(d, "nodata.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nodata");
	(void)ask_txt(d, "nodata.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nodata");
	CHECK_INT(fake_count("nodata.fake"), c + 1);

	/* no SOA: RFC 2308 says do not cache */
	c = fake_count("nodata-nosoa.fake");
	(void)ask_txt(d, "nodata-nosoa.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nodata");
	(void)ask_txt(d, "nodata-nosoa.fake", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nodata");
	CHECK_INT(fake_count("nodata-nosoa.fake"), c + 2);
	dns_free(&d);
}

static void
test_ttl(void)
{
	struct dns *d = fake_dns(500);
	struct res r;
	unsigned c;

	/* TTL 0: never cached (the AAAA half is NXDOMAIN, not cached) */
	c = fake_count("ttl0.fake");
	(void)ask_addr(d, "ttl0.fake", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_STR(r.s[0], "192.0.2.9");
	(void)ask_addr(d, "ttl0.fake", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(fake_count("ttl0.fake"), c + 4);
	/* TTL 1: cached, then expired */
	c = fake_count("short-ttl.fake");
	(void)ask_addr(d, "short-ttl.fake", &r);
	await_res(&r);
	(void)ask_addr(d, "short-ttl.fake", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	/* A from the cache, AAAA (NXDOMAIN without SOA) asked again */
	CHECK_INT(fake_count("short-ttl.fake"), c + 3);
	run_until(NULL, 1100);
	(void)ask_addr(d, "short-ttl.fake", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(fake_count("short-ttl.fake"), c + 5);
	dns_free(&d);
}

static void
test_records(void)
{
	struct dns *d = fake_dns(500);
	struct res r;

	(void)ask_addr(d, "cname.fake", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 1);
	CHECK_STR(r.s[0], "192.0.2.7");
	(void)ask_txt(d, "txt.fake", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 2);
	CHECK_STR(r.s[0], "v=spf1 -all");
	CHECK_STR(r.s[1], "other");
	(void)ask_addr(d, "many.fake", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, DNS_MAX_RECORDS);
	CHECK_STR(r.s[0], "10.0.0.1");
	(void)ask_ptr(d, "192.0.2.9", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_OK);
	CHECK_INT(r.n, 1);
	CHECK_STR(r.s[0], "host.fake");
	dns_free(&d);
}

static void
test_coalesce(void)
{
	struct dns *d = fake_dns(500);
	struct res r1, r2;
	unsigned c = fake_count("coalesce.fake");

	(void)ask_mx(d, "coalesce.fake", &r1);
	(void)ask_mx(d, "Coalesce.Fake.", &r2);
	await_res(&r1);
	await_res(&r2);
	CHECK_INT(r1.st, DNS_OK);
	CHECK_INT(r2.st, DNS_OK);
	CHECK_STR(r2.s[0], "mx.coalesce.fake");
	CHECK_INT(fake_count("coalesce.fake"), c + 1);
	dns_free(&d);
}

static void
test_cancel(void)
{
	struct dns *d = fake_dns(200);
	struct res r1, r2, r3, r4;
	struct dns_req *q1, *q2, *q3, *q4;
	unsigned c;

	/* prime the cache */
	(void)ask_mx(d, "coalesce.fake", &r1);
	await_res(&r1);
	q1 = ask_mx(d, "silent.fake", &r1);		/* in flight */
	q2 = ask_mx(d, "coalesce.fake", &r2);		/* cache hit, queued */
	q3 = ask_mx(d, "bad..name", &r3);		/* failure, queued */
	q4 = ask_addr(d, "silent.fake", &r4);		/* two waits */
	dns_cancel(&q1);
	dns_cancel(&q2);
	dns_cancel(&q3);
	dns_cancel(&q4);
	CHECK(q1 == NULL && q2 == NULL && q3 == NULL && q4 == NULL);
	dns_cancel(&q1);	/* NULL: no-op */
	run_until(NULL, 600);
	CHECK(!r1.done && !r2.done && !r3.done && !r4.done);
	/* the query of a cancelled request still fills the cache */
	c = fake_count("mixed.fake");
	q1 = ask_mx(d, "mixed.fake", &r1);
	dns_cancel(&q1);
	run_until(NULL, 200);
	CHECK(!r1.done);
	CHECK_INT(fake_count("mixed.fake"), c + 1);
	(void)ask_mx(d, "mixed.fake", &r1);
	await_res(&r1);
	CHECK_INT(r1.st, DNS_OK);
	CHECK_INT(fake_count("mixed.fake"), c + 1);
	/* dns_free with requests outstanding: no callback either */
	(void)ask_mx(d, "silent.fake", &r1);
	(void)ask_mx(d, "coalesce.fake", &r2);
	dns_free(&d);
	run_until(NULL, 400);
	CHECK(!r1.done && !r2.done);
}

struct tlsa_res {
	bool		 done;
	enum dns_status	 st;
	size_t		 n;
	bool		 secure;
	unsigned	 usage[4], selector[4], mtype[4];
	uint8_t		 data[4][64];
	size_t		 len[4];
};

static void
tlsa_cb(void *ctx, enum dns_status st, const struct dns_tlsa *t, size_t n,
    bool secure)
{
	struct tlsa_res *r = ctx;
	size_t i;

	r->done = true;
	r->st = st;
	r->n = n;
	r->secure = secure;
	for (i = 0; i < n && i < 4; i++) {
		r->usage[i] = t[i].usage;
		r->selector[i] = t[i].selector;
		r->mtype[i] = t[i].mtype;
		r->len[i] = t[i].len;
		memcpy(r->data[i], t[i].data, t[i].len < 64 ? t[i].len : 64);
	}
}

static void
test_tlsa(void)
{
	struct dns *d = fake_dns(500);
	struct tlsa_res r;
	uint8_t want[32];
	unsigned i;

	for (i = 0; i < 32; i++)
		want[i] = (uint8_t)i;
	memset(&r, 0, sizeof(r));
	(void)dns_tlsa(d, "MX.fake", 25, tlsa_cb, &r);
	CHECK(!r.done);
	run_until(&r.done, 5000);
	CHECK(r.done);
	/* the query asked for AD and offered EDNS0 */
	CHECK(fake.last_flags & 0x0020);
	CHECK(fake.last_flags & 0x0100);
	CHECK_INT(fake.last_arcount, 1);
	CHECK_INT(r.st, DNS_OK);
	CHECK(r.secure);
	CHECK_INT(r.n, 2);
	CHECK_INT(r.usage[0], 3);
	CHECK_INT(r.selector[0], 1);
	CHECK_INT(r.mtype[0], 1);
	CHECK_MEM(r.data[0], r.len[0], want, 32);
	CHECK_INT(r.usage[1], 2);
	CHECK_INT(r.mtype[1], 2);
	CHECK_MEM(r.data[1], r.len[1], "\xaa\x00\xbb", 3);

	memset(&r, 0, sizeof(r));
	(void)dns_tlsa(d, "insecure.fake", 465, tlsa_cb, &r);
	run_until(&r.done, 5000);
	CHECK_INT(r.st, DNS_OK);
	CHECK(!r.secure);
	CHECK_INT(r.n, 1);
	CHECK_INT(r.len[0], 1);

	memset(&r, 0, sizeof(r));
	(void)dns_tlsa(d, "badtlsa.fake", 25, tlsa_cb, &r);
	run_until(&r.done, 5000);
	CHECK_INT(r.st, DNS_PERMFAIL);

	memset(&r, 0, sizeof(r));
	(void)dns_tlsa(d, "mx.fake", 0, tlsa_cb, &r);
	run_until(&r.done, 5000);
	CHECK_INT(r.st, DNS_PERMFAIL);
	memset(&r, 0, sizeof(r));
	(void)dns_tlsa(d, "none.fake", 25, tlsa_cb, &r);
	run_until(&r.done, 5000);
	CHECK_INT(r.st, DNS_NXDOMAIN);
	CHECK(!r.secure);
	dns_free(&d);
}

struct free_ctx {
	struct dns	*d;
	unsigned	 calls;
};

static void
free_in_cb(void *ctx, enum dns_status st, const struct dns_mx *mx,
    size_t n, bool null_mx)
{
	struct free_ctx *f = ctx;

	(void)st;
	(void)mx;
	(void)n;
	(void)null_mx;
	f->calls++;
	dns_free(&f->d);
}

struct self_ctx {
	struct dns_req	*req;
	unsigned	 calls;
};

static void
cancel_self_cb(void *ctx, enum dns_status st, const char *const *s,
    size_t n)
{
	struct self_ctx *c = ctx;

	(void)st;
	(void)s;
	(void)n;
	c->calls++;
	dns_cancel(&c->req);	/* own handle, from its own callback */
}

static void
test_cancel_in_callback(void)
{
	struct dns *d = fake_dns(500);
	struct self_ctx c1 = { NULL, 0 }, c2 = { NULL, 0 };

	c1.req = dns_txt(d, "txt.fake", cancel_self_cb, &c1);
	c2.req = dns_txt(d, "bad..name", cancel_self_cb, &c2);
	run_until(NULL, 300);
	CHECK_INT(c1.calls, 1);
	CHECK_INT(c2.calls, 1);
	CHECK(c1.req == NULL && c2.req == NULL);
	dns_free(&d);
}

static void
test_free_in_callback(void)
{
	struct free_ctx f = { fake_dns(500), 0 };

	/* three answers queued together; the first callback frees all */
	(void)dns_mx(f.d, "x..y", free_in_cb, &f);
	(void)dns_mx(f.d, "a..b", free_in_cb, &f);
	(void)dns_mx(f.d, "c..d", free_in_cb, &f);
	run_until(NULL, 200);
	CHECK_INT(f.calls, 1);
	CHECK(f.d == NULL);
}

static void
test_names(void)
{
	struct dns *d = fake_dns(500);
	struct res r;
	char name[300];
	unsigned c;

	(void)ask_mx(d, "bad name", &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "permfail");
	(void)ask_mx(d, "", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_PERMFAIL);
	(void)ask_txt(d, "a\\.b.fake", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_PERMFAIL);
	(void)ask_addr(d, "..", &r);
	await_res(&r);
	CHECK_INT(r.st, DNS_PERMFAIL);
	/* DNS_MAX_NAME - 1, DNS_MAX_NAME: asked; DNS_MAX_NAME + 1: not */
	memset(name, 0, sizeof(name));
	for (size_t len = DNS_MAX_NAME - 1; len <= DNS_MAX_NAME + 1; len++) {
		size_t i;

		for (i = 0; i < len; i++)
			name[i] = (i % 50 == 49) ? '.' : 'x';
		name[len] = '\0';
		memcpy(name + len - 5, ".fake", 5);
		c = fake_count(name);
		(void)ask_mx(d, name, &r);
		await_res(&r);
		if (len <= DNS_MAX_NAME) {
			CHECK_STR(dns_status_name(r.st), "nxdomain");
			CHECK_INT(fake_count(name), c + 1);
		} else {
			CHECK_STR(dns_status_name(r.st), "permfail");
			CHECK_INT(fake_count(name), 0);
		}
	}
	/* label of 63 bytes accepted, 64 refused */
	memset(name, 'l', 63);
	memcpy(name + 63, ".fake", 6);
	(void)ask_mx(d, name, &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "nxdomain");
	memset(name, 'l', 64);
	memcpy(name + 64, ".fake", 6);
	(void)ask_mx(d, name, &r);
	await_res(&r);
	CHECK_STR(dns_status_name(r.st), "permfail");
	dns_free(&d);
}

static void
test_servers(void)
{
	const char *ok[] = { "", "127.0.0.1", "127.0.0.1:5353",
		"[::1]:53 127.0.0.2:54", "::1", "1.2.3.4,5.6.7.8" };
	const char *bad[] = { "localhost", "127.0.0.1:0", "127.0.0.1:65536",
		"[::1", "[::1]x", "1.2.3.4:x", "300.1.1.1" };
	const char *err;
	struct dns *d;
	size_t i;

	loop_init();
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		err = NULL;
		d = dns_new(base, ok[i], &err);
		CHECK(d != NULL);
		dns_free(&d);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err = NULL;
		d = dns_new(base, bad[i], &err);
		CHECK(d == NULL);
		CHECK(err != NULL);
	}
	d = NULL;
	dns_free(&d);
}

static void
test_cache_bound(void)
{
	struct dns_settings set;
	struct dns *d;
	const char *err;
	char servers[64];
	struct res r;

	loop_init();
	fake_start();
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", fake.port);
	memset(&set, 0, sizeof(set));
	set.servers = servers;
	set.cache_entries = 2;
	d = dns_new_settings(base, &set, &err);
	(void)ask_mx(d, "neg.fake", &r);
	await_res(&r);
	(void)ask_mx(d, "nullmx.fake", &r);
	await_res(&r);
	(void)ask_mx(d, "coalesce.fake", &r);
	await_res(&r);
	CHECK_INT(dns_cache_count(d), 2);
	dns_free(&d);
}

static void
test_inflight_limit(void)
{
	struct dns_settings set;
	struct dns *d;
	const char *err;
	char servers[64];
	struct res r1, r2, r3, r4;
	uint64_t t0;

	loop_init();
	fake_start();
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", fake.port);
	memset(&set, 0, sizeof(set));
	set.servers = servers;
	set.timeout_ms = 300;
	set.tries = 1;
	set.max_inflight = 2;
	d = dns_new_settings(base, &set, &err);
	t0 = monotonic_ms();
	(void)ask_txt(d, "a.silent.fake", &r1);
	(void)ask_txt(d, "b.silent.fake", &r2);
	(void)ask_txt(d, "a.silent.fake", &r4);	/* joins the first */
	(void)ask_txt(d, "c.silent.fake", &r3);	/* one too many */
	await_res(&r3);
	CHECK_STR(dns_status_name(r3.st), "tempfail");
	CHECK(monotonic_ms() - t0 < 200);
	CHECK(!r1.done && !r2.done && !r4.done);
	await_res(&r1);
	await_res(&r2);
	await_res(&r4);
	CHECK_INT(r1.st, DNS_TEMPFAIL);
	CHECK_INT(r4.st, DNS_TEMPFAIL);
	CHECK(monotonic_ms() - t0 >= 250);
	dns_free(&d);
}

/* ---- the parser on hand-made packets ---- */

static int
parse(const struct pk *p, const char *q, uint16_t type,
    struct dns_parse_result *r)
{
	static struct arena *a;

	/* kept until the next call: r points into it */
	if (a == NULL)
		a = arena_new("test", 4096, DNS_PARSE_ARENA_MAX);
	arena_reset(a);
	return dns_parse_answer(p->b, p->len, q, type, a, r);
}

static void
question(struct pk *p, unsigned flags, unsigned an, unsigned ns,
    const char *q, unsigned type)
{
	pk_header(p, 1, flags, 1, an, ns);
	pk_name(p, q);
	pk_u16(p, type);
	pk_u16(p, DNS_CLASS_IN);
}

static void
test_parse(void)
{
	struct dns_parse_result r;
	struct pk p;
	size_t at, whole;

	/* a good answer, then the same cut at every length */
	question(&p, 0x8180, 2, 0, "ex.fake", DNS_TYPE_MX);
	pk_mx(&p, 20, "b.ex.fake");
	at = pk_rr(&p, NULL, DNS_TYPE_MX, 100);
	pk_u16(&p, 10);
	pk_u16(&p, 0xc00c);	/* exchange: the question name */
	pk_rr_end(&p, at);
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_MX, &r), 0);
	CHECK_INT(r.status, DNS_OK);
	CHECK_INT(r.n, 2);
	CHECK_INT(r.ttl, 100);
	CHECK_STR(r.rr[1].u.mx.host, "ex.fake");
	whole = p.len;
	for (p.len = 0; p.len < whole; p.len++)
		CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_MX, &r), -1);
	p.len = whole;

	/* not a response; wrong opcode; wrong question; wrong type */
	question(&p, 0x0100, 0, 0, "ex.fake", DNS_TYPE_MX);
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_MX, &r), -1);
	question(&p, 0x8980, 0, 0, "ex.fake", DNS_TYPE_MX);
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_MX, &r), -1);
	question(&p, 0x8180, 0, 0, "ex.fake", DNS_TYPE_MX);
	CHECK_INT(parse(&p, "ey.fake", DNS_TYPE_MX, &r), -1);
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_TXT, &r), -1);
	CHECK_INT(parse(&p, "EX.fake", DNS_TYPE_MX, &r), -1);  /* unchecked */
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_MX, &r), 0);
	CHECK_INT(r.status, DNS_NODATA);
	CHECK_INT(r.ttl, 0);

	/* SERVFAIL without a question */
	pk_header(&p, 1, 0x8182, 0, 0, 0);
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_MX, &r), 0);
	CHECK_INT(r.status, DNS_TEMPFAIL);

	/* compression pointer to itself, and forward */
	question(&p, 0x8180, 1, 0, "ex.fake", DNS_TYPE_A);
	pk_u16(&p, 0xc000 | (unsigned)p.len);
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_A, &r), -1);
	CHECK_STR(r.error, "malformed answer record");
	question(&p, 0x8180, 1, 0, "ex.fake", DNS_TYPE_A);
	pk_u16(&p, 0xc000 | (unsigned)(p.len + 2));
	pk_name(&p, "ex.fake");
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_A, &r), -1);

	/* wrong A length */
	question(&p, 0x8180, 1, 0, "ex.fake", DNS_TYPE_A);
	at = pk_rr(&p, NULL, DNS_TYPE_A, 100);
	pk_bytes(&p, "\1\2\3", 3);
	pk_rr_end(&p, at);
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_A, &r), -1);
	CHECK_STR(r.error, "bad A record");

	/* TTL with the top bit set counts as 0; records of other owners */
	question(&p, 0x8180, 2, 0, "ex.fake", DNS_TYPE_A);
	pk_a(&p, NULL, 0x80000001u, "192.0.2.1");
	pk_a(&p, "other.fake", 100, "192.0.2.2");
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_A, &r), 0);
	CHECK_INT(r.n, 1);
	CHECK_INT(r.ttl, 0);

	/* CNAME chain of DNS_MAX_CNAME_CHAIN hops: fine; one more: not */
	for (unsigned hops = DNS_MAX_CNAME_CHAIN;
	    hops <= DNS_MAX_CNAME_CHAIN + 1; hops++) {
		char from[32], to[32];
		unsigned i;

		question(&p, 0x8180, hops + 1, 0, "c0.fake", DNS_TYPE_A);
		for (i = 0; i < hops; i++) {
			snprintf(from, sizeof(from), "c%u.fake", i);
			snprintf(to, sizeof(to), "c%u.fake", i + 1);
			at = pk_rr(&p, from, DNS_TYPE_CNAME, 50 + i);
			pk_name(&p, to);
			pk_rr_end(&p, at);
		}
		pk_a(&p, to, 500, "192.0.2.3");
		if (hops == DNS_MAX_CNAME_CHAIN) {
			CHECK_INT(parse(&p, "c0.fake", DNS_TYPE_A, &r), 0);
			CHECK_INT(r.status, DNS_OK);
			CHECK_INT(r.ttl, 50);
		} else {
			CHECK_INT(parse(&p, "c0.fake", DNS_TYPE_A, &r), -1);
			CHECK_STR(r.error, "CNAME chain too long");
		}
	}

	/* DNS_MAX_CNAMES CNAME records (unrelated owners): fine; one more */
	for (unsigned k = DNS_MAX_CNAMES; k <= DNS_MAX_CNAMES + 1; k++) {
		char from[32];
		unsigned i;

		question(&p, 0x8180, k + 1, 0, "ex.fake", DNS_TYPE_A);
		for (i = 0; i < k; i++) {
			snprintf(from, sizeof(from), "x%u.fake", i);
			at = pk_rr(&p, from, DNS_TYPE_CNAME, 50);
			pk_name(&p, "y.fake");
			pk_rr_end(&p, at);
		}
		pk_a(&p, NULL, 500, "192.0.2.3");
		CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_A, &r),
		    k == DNS_MAX_CNAMES ? 0 : -1);
	}

	/* DNS_MAX_RECORDS -1, =, +1 records: the rest is dropped */
	for (unsigned k = DNS_MAX_RECORDS - 1; k <= DNS_MAX_RECORDS + 1; k++) {
		unsigned i;

		question(&p, 0x8180, k, 0, "ex.fake", DNS_TYPE_A);
		for (i = 0; i < k; i++)
			pk_a(&p, NULL, 500, "192.0.2.3");
		CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_A, &r), 0);
		CHECK_INT(r.n, k > DNS_MAX_RECORDS ? DNS_MAX_RECORDS : k);
		CHECK_INT(r.dropped, k > DNS_MAX_RECORDS ? 1 : 0);
	}

	/* a 64 KiB message of dropped TXT records: parser memory bounded */
	question(&p, 0x8180, 0, 0, "ex.fake", DNS_TYPE_TXT);
	for (unsigned k = 0; p.len + 14 <= 65535; k++) {
		at = pk_rr(&p, NULL, DNS_TYPE_TXT, 100);
		pk_u8(&p, 1);
		pk_u8(&p, 0);
		pk_rr_end(&p, at);
		p.b[6] = (uint8_t)((k + 1) >> 8);
		p.b[7] = (uint8_t)(k + 1);
	}
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_TXT, &r), 0);
	CHECK_INT(r.status, DNS_PERMFAIL);
	CHECK(r.dropped > 4000);

	/* NXDOMAIN with SOA: min(SOA TTL, MINIMUM) */
	question(&p, 0x8183, 0, 1, "ex.fake", DNS_TYPE_MX);
	pk_soa(&p, 30, 600);
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_MX, &r), 0);
	CHECK_INT(r.status, DNS_NXDOMAIN);
	CHECK_INT(r.ttl, 30);
	/* a bad SOA */
	question(&p, 0x8183, 0, 1, "ex.fake", DNS_TYPE_MX);
	at = pk_rr(&p, "fake", DNS_TYPE_SOA, 30);
	pk_name(&p, "ns.fake");
	pk_u32(&p, 1);
	pk_rr_end(&p, at);
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_MX, &r), -1);

	/* TXT: empty string pieces, bad string length */
	question(&p, 0x8180, 1, 0, "ex.fake", DNS_TYPE_TXT);
	at = pk_rr(&p, NULL, DNS_TYPE_TXT, 100);
	pk_u8(&p, 0);
	pk_u8(&p, 2);
	pk_bytes(&p, "hi", 2);
	pk_rr_end(&p, at);
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_TXT, &r), 0);
	CHECK_INT(r.n, 1);
	CHECK_STR(r.rr[0].u.txt.data, "hi");
	p.b[p.len - 3] = 3;
	CHECK_INT(parse(&p, "ex.fake", DNS_TYPE_TXT, &r), -1);
}

/* a query we build, turned into an empty answer, parses back */
static void
test_build_query(void)
{
	struct dns_parse_result r;
	struct pk p;

	p.len = dns_parse_build_query("_dmarc.ex.fake", DNS_TYPE_TXT, 0xbeef,
	    p.b);
	CHECK_INT(p.len, 12 + 16 + 4 + 11);
	CHECK_INT(p.b[0], 0xbe);
	CHECK_INT(p.b[1], 0xef);
	CHECK_INT(p.b[2], 0x01);		/* RD */
	CHECK_INT(p.b[3], 0x20);		/* AD */
	CHECK_INT(p.b[11], 1);			/* OPT */
	CHECK_INT(p.b[p.len - 8], DNS_EDNS_SIZE >> 8);
	p.b[2] |= 0x80;				/* QR: now a response */
	CHECK_INT(parse(&p, "_dmarc.ex.fake", DNS_TYPE_TXT, &r), 0);
	CHECK_INT(r.status, DNS_NODATA);
	CHECK_INT(dns_parse_build_query("a..b", DNS_TYPE_A, 1, p.b), 0);
}

static void
test_reverse_names(void)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr sa;
	char out[DNS_NAME_BUFSIZE];
	const char *why;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.1", &sin.sin_addr);
	CHECK_INT(dns_parse_reverse_name((struct sockaddr *)&sin, out), 0);
	CHECK_STR(out, "1.2.0.192.in-addr.arpa");
	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::567:89ab", &sin6.sin6_addr);
	CHECK_INT(dns_parse_reverse_name((struct sockaddr *)&sin6, out), 0);
	CHECK_STR(out, "b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "8.b.d.0.1.0.0.2.ip6.arpa");
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	CHECK_INT(dns_parse_reverse_name(&sa, out), -1);
	CHECK_INT(dns_parse_check_name("Example.COM.", out, &why), 0);
	CHECK_STR(out, "example.com");
	CHECK_INT(dns_parse_check_name("a..b", out, &why), -1);
	CHECK_INT(dns_parse_check_name(".a", out, &why), -1);
	CHECK_INT(dns_parse_check_name("a.b..", out, &why), -1);
	CHECK_INT(dns_parse_check_name("_dmarc.ex-1.org", out, &why), 0);
}

static void
test_zz_cleanup(void)
{
	dnsmasq_stop();
	if (dnsmasq_dir[0] != '\0') {
		char path[160];

		snprintf(path, sizeof(path), "%s/dnsmasq.conf", dnsmasq_dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/dnsmasq.log", dnsmasq_dir);
		unlink(path);
		CHECK_INT(rmdir(dnsmasq_dir), 0);
	}
	if (fake.ev != NULL) {
		event_free(fake.ev);
		close(fake.fd);
	}
	if (base != NULL)
		event_base_free(base);
}

static const struct test_case cases[] = {
	TEST(test_parse),
	TEST(test_build_query),
	TEST(test_reverse_names),
	TEST(test_servers),
	TEST(test_dnsmasq_mx_order),
	TEST(test_dnsmasq_implicit_mx),
	TEST(test_dnsmasq_nxdomain),
	TEST(test_dnsmasq_txt_ptr),
	TEST(test_dnsmasq_cache_hit),
	TEST(test_null_mx),
	TEST(test_server_failures),
	TEST(test_negative_cache),
	TEST(test_ttl),
	TEST(test_records),
	TEST(test_coalesce),
	TEST(test_cancel),
	TEST(test_tlsa),
	TEST(test_free_in_callback),
	TEST(test_cancel_in_callback),
	TEST(test_names),
	TEST(test_cache_bound),
	TEST(test_inflight_limit),
	TEST(test_zz_cleanup),
};

TEST_MAIN(cases)
