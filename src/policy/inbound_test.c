/*
 * inbound_test.c - the inbound checks of one message on the event loop
 * (policy/inbound.c): SPF, DKIM and DMARC through the real resolver
 * (dns/dns.c) talking to a small TXT-only DNS responder on loopback
 * written here (a table of names; unknown names NXDOMAIN, "refused.*"
 * REFUSED, "silent.*" never answered), then the decision and the trace
 * fields.  Also: checks turned off, and cancelling a check under way.
 */
#include "policy/inbound.h"

#include <arpa/inet.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "policy/dkim.h"
#include "policy/dkim_keys.h"
#include "../../tests/lib/test.h"

#define T_TXT	16

struct zrec {
	char	*name;
	char	*txt;
};

static struct zrec zone[16];
static size_t nzone;
static struct event_base *base;
static struct event *srv_ev;
static int srv_fd = -1;
static char servers[64];
static struct dns *resolver;
static EVP_PKEY *key;
static unsigned queries;

static void
zone_add(const char *name, const char *txt)
{
	ASSERT(nzone < sizeof(zone) / sizeof(zone[0]));
	zone[nzone].name = xstrdup(name);
	zone[nzone].txt = xstrdup(txt);
	nzone++;
}

/* on_query - answers one UDP query from the table */
static void
on_query(evutil_socket_t fd, short what, void *arg)
{
	uint8_t q[512], r[4096];
	char name[256];
	struct sockaddr_storage from;
	socklen_t fl = sizeof(from);
	ssize_t n;
	size_t off = 12, nl = 0, rl, i, qend;
	unsigned qtype, an = 0, rcode = 0;

	(void)what;
	(void)arg;
	n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
	if (n < 17)
		return;
	queries++;
	while (off < (size_t)n && q[off] != 0) {
		size_t l = q[off];

		if (off + 1 + l > (size_t)n || nl + l + 1 >= sizeof(name))
			return;
		if (nl > 0)
			name[nl++] = '.';
		for (i = 0; i < l; i++)
			name[nl++] = (char)ascii_tolower(q[off + 1 + i]);
		off += 1 + l;
	}
	name[nl] = '\0';
	qend = off + 5;
	if (qend > (size_t)n)
		return;
	qtype = (unsigned)q[off + 1] << 8 | q[off + 2];
	if (strncmp(name, "silent.", 7) == 0 || strstr(name, ".silent.") != NULL)
		return;
	memcpy(r, q, qend);
	rl = qend;
	if (strncmp(name, "refused.", 8) == 0 ||
	    strstr(name, ".refused.") != NULL) {
		rcode = 5;
	} else {
		bool exists = false;

		for (i = 0; i < nzone; i++) {
			size_t tl = strlen(zone[i].txt), s;
			size_t rd = tl + (tl == 0 ? 1 : (tl + 254) / 255);

			if (strcmp(zone[i].name, name) != 0)
				continue;
			exists = true;
			if (qtype != T_TXT)
				continue;
			/* owner: pointer to the question; strings of 255 */
			r[rl++] = 0xc0;
			r[rl++] = 12;
			r[rl++] = 0;
			r[rl++] = T_TXT;
			r[rl++] = 0;
			r[rl++] = 1;
			r[rl++] = 0;
			r[rl++] = 0;
			r[rl++] = 0;
			r[rl++] = 60;
			r[rl++] = (uint8_t)(rd >> 8);
			r[rl++] = (uint8_t)(rd & 0xff);
			for (s = 0; s == 0 || s < tl; s += 255) {
				size_t k = tl - s > 255 ? 255 : tl - s;

				r[rl++] = (uint8_t)k;
				memcpy(r + rl, zone[i].txt + s, k);
				rl += k;
			}
			an++;
		}
		if (!exists)
			rcode = 3;
	}
	r[2] = 0x84 | (q[2] & 0x01);	/* QR, AA, RD copied */
	r[3] = 0x80 | (uint8_t)rcode;	/* RA */
	r[6] = (uint8_t)(an >> 8);
	r[7] = (uint8_t)an;
	r[8] = r[9] = r[10] = r[11] = 0;
	(void)sendto(fd, r, rl, 0, (struct sockaddr *)&from, fl);
}

static void
setup(void)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	const char *err = NULL;
	struct buf rec;

	base = event_base_new();
	ASSERT(base != NULL);
	srv_fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT(bind(srv_fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	ASSERT(getsockname(srv_fd, (struct sockaddr *)&sin, &sl) == 0);
	snprintf(servers, sizeof(servers), "127.0.0.1:%u",
	    (unsigned)ntohs(sin.sin_port));
	srv_ev = event_new(base, srv_fd, EV_READ | EV_PERSIST, on_query, NULL);
	event_add(srv_ev, NULL);
	resolver = dns_new(base, servers, &err);
	ASSERT(resolver != NULL);

	key = dkim_keys_generate(DKIM_KEY_ED25519, 0, &err);
	ASSERT(key != NULL);
	buf_init(&rec, 4096);
	ASSERT(dkim_key_record(key, &rec, &err) == 0);
	zone_add("example.org", "v=spf1 ip4:192.0.2.0/24 -all");
	zone_add("sel._domainkey.example.org", buf_cstr(&rec));
	zone_add("_dmarc.example.org", "v=DMARC1; p=reject");
	zone_add("soft.example", "v=spf1 ip4:192.0.2.0/24 ~all");
	zone_add("nospf.example", "some other record");
	zone_add("temp.example", "v=spf1 include:x.refused.example -all");
	zone_add("_dmarc.bank.example", "v=DMARC1; p=reject");
	buf_fini(&rec);
}

static void
teardown(void)
{
	size_t i;

	dns_free(&resolver);
	event_free(srv_ev);
	close(srv_fd);
	event_base_free(base);
	EVP_PKEY_free(key);
	for (i = 0; i < nzone; i++) {
		free(zone[i].name);
		free(zone[i].txt);
	}
	nzone = 0;
}

/* --- running one check ---------------------------------------------- */

struct outcome {
	bool		 done;
	unsigned	 calls;
	enum policy_action action;
	unsigned	 code;
	char		 enhanced[16];
	char		 text[384];
	char		 reason[64];
	char		 spf[16], dkim[16], dmarc[16];
	char		*headers;
};

static void
on_done(void *ctx, const struct policy_inbound_result *r)
{
	struct outcome *o = ctx;

	o->done = true;
	o->calls++;
	o->action = r->decision->action;
	o->code = r->decision->code;
	snprintf(o->enhanced, sizeof(o->enhanced), "%s",
	    r->decision->enhanced != NULL ? r->decision->enhanced : "");
	snprintf(o->text, sizeof(o->text), "%s", r->decision->text);
	snprintf(o->reason, sizeof(o->reason), "%s",
	    r->decision->reason != NULL ? r->decision->reason : "");
	snprintf(o->spf, sizeof(o->spf), "%s", r->spf);
	snprintf(o->dkim, sizeof(o->dkim), "%s", r->dkim);
	snprintf(o->dmarc, sizeof(o->dmarc), "%s", r->dmarc);
	o->headers = r->headers->len > 0 ? xstrndup((const char *)
	    r->headers->data, r->headers->len) : xstrdup("");
	event_base_loopbreak(base);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	event_base_loopbreak(base);
}

static void
run_loop(unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *t = evtimer_new(base, on_deadline, NULL);

	evtimer_add(t, &tv);
	event_base_dispatch(base);
	event_free(t);
}

static char *
make_msg(const char *from, bool sign)
{
	struct buf m, sig;
	const char *err = NULL;
	char *out;

	buf_init(&m, 1 << 16);
	ASSERT(buf_printf(&m, "Received: from x by mx.example.net; "
	    "Sun, 22 Nov 2026 10:00:00 +0000\r\n"
	    "Authentication-Results: mx.example.net; spf=pass\r\n"
	    "From: <%s>\r\nTo: <bob@example.net>\r\nSubject: hi\r\n"
	    "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
	    "Message-ID: <1@example.org>\r\n\r\nHello.\r\n", from) == 0);
	if (!sign) {
		out = xstrndup((const char *)m.data, m.len);
		buf_fini(&m);
		return out;
	}
	buf_init(&sig, 1 << 16);
	ASSERT(dkim_sign(m.data, m.len, "example.org", "sel", key, NULL,
	    time(NULL), &sig, &err) == 0);
	ASSERT(buf_append(&sig, m.data, m.len) == 0);
	out = xstrndup((const char *)sig.data, sig.len);
	buf_fini(&sig);
	buf_fini(&m);
	return out;
}

/* check_one gives the message with policy_inbound_message_ref */
static bool use_ref;

static void
check_one(const struct policy_settings *set, bool spf, bool dkim, bool dmarc,
    const char *ip, const char *mail_from, const char *from, bool sign,
    struct outcome *o)
{
	struct policy_inbound_config pc;
	struct policy_inbound *pi;
	struct sockaddr_in sin;
	char *msg = make_msg(from, sign);

	memset(o, 0, sizeof(*o));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &sin.sin_addr);
	memset(&pc, 0, sizeof(pc));
	pc.settings = set;
	pc.spf = spf;
	pc.dkim = dkim;
	pc.dmarc = dmarc;
	pi = policy_inbound_start(base, resolver, &pc,
	    (struct sockaddr *)&sin, "client.example.org", mail_from);
	if (use_ref) {
		/* borrowed: must live until the callback */
		policy_inbound_message_ref(pi, msg, strlen(msg), on_done, o);
	} else {
		policy_inbound_message(pi, msg, strlen(msg), on_done, o);
		free(msg);
		msg = NULL;
	}
	CHECK(!o->done);	/* never from inside the call */
	run_loop(10000);
	free(msg);
	CHECK(o->done);
	CHECK_INT(o->calls, 1);
	policy_inbound_free(&pi);
	CHECK(pi == NULL);
}

static bool
has(const char *hay, const char *needle)
{
	bool r = hay != NULL && strstr(hay, needle) != NULL;

	if (!r)
		fprintf(stderr, "  missing \"%s\" in:\n%s\n", needle,
		    hay != NULL ? hay : "(null)");
	return r;
}

static void
test_pass(void)
{
	struct policy_settings set;
	struct outcome o;

	setup();
	policy_settings_default(&set, "mx.example.net");
	check_one(&set, true, true, true, "192.0.2.7", "alice@example.org",
	    "alice@example.org", true, &o);
	CHECK_INT(o.action, POLICY_ACCEPT);
	CHECK_STR(o.spf, "pass");
	CHECK_STR(o.dkim, "pass");
	CHECK_STR(o.dmarc, "pass");
	CHECK(has(o.headers, "Received-SPF: pass (mx.example.net: domain of "
	    "alice@example.org designates\r\n\t192.0.2.7 as permitted sender) "
	    "client-ip=192.0.2.7;"));
	CHECK(has(o.headers, "Authentication-Results: mx.example.net;\r\n"
	    "\tspf=pass smtp.mailfrom=alice@example.org;\r\n\tdkim=pass"));
	CHECK(has(o.headers, "header.d=example.org"));
	CHECK(has(o.headers, "dmarc=pass (p=reject dis=none) "
	    "header.from=example.org"));
	free(o.headers);
	teardown();
}

/* the borrowing entry point gives the same results */
static void
test_pass_ref(void)
{
	struct policy_settings set;
	struct outcome o;

	setup();
	policy_settings_default(&set, "mx.example.net");
	use_ref = true;
	check_one(&set, true, true, true, "192.0.2.7", "alice@example.org",
	    "alice@example.org", true, &o);
	CHECK_INT(o.action, POLICY_ACCEPT);
	CHECK_STR(o.dkim, "pass");
	CHECK_STR(o.dmarc, "pass");
	use_ref = false;
	free(o.headers);
	teardown();
}

static void
test_decisions(void)
{
	struct policy_settings set;
	struct outcome o;

	setup();
	policy_settings_default(&set, "mx.example.net");

	/* SPF fail, unsigned: 550 5.7.23 (and DMARC would reject too) */
	check_one(&set, true, true, true, "198.51.100.1", "alice@example.org",
	    "alice@example.org", false, &o);
	CHECK_INT(o.action, POLICY_REJECT);
	CHECK_INT(o.code, 550);
	CHECK_STR(o.enhanced, "5.7.23");
	CHECK(has(o.text, "SPF validation failed"));
	CHECK_STR(o.dkim, "none");
	CHECK_STR(o.dmarc, "fail");
	free(o.headers);

	/* SPF fail, but the From: domain signed: accepted */
	check_one(&set, true, true, true, "198.51.100.1", "alice@example.org",
	    "alice@example.org", true, &o);
	CHECK_INT(o.action, POLICY_ACCEPT);
	CHECK_STR(o.spf, "fail");
	CHECK_STR(o.dkim, "pass");
	CHECK(has(o.headers, "spf=fail"));
	free(o.headers);

	/* softfail: junk */
	check_one(&set, true, true, true, "198.51.100.1", "a@soft.example",
	    "a@soft.example", false, &o);
	CHECK_INT(o.action, POLICY_JUNK);
	CHECK_STR(o.spf, "softfail");
	free(o.headers);

	/* no SPF record: junk by default, reject when set so */
	check_one(&set, true, true, true, "198.51.100.1",
	    "a@nospf.example", "a@nospf.example", false, &o);
	CHECK_INT(o.action, POLICY_JUNK);
	CHECK_STR(o.spf, "none");
	free(o.headers);
	set.spf_none = POLICY_REJECT;
	check_one(&set, true, true, true, "198.51.100.1",
	    "a@nospf.example", "a@nospf.example", false, &o);
	CHECK_INT(o.action, POLICY_REJECT);
	CHECK_INT(o.code, 550);
	CHECK_STR(o.enhanced, "5.7.1");
	free(o.headers);
	set.spf_none = POLICY_JUNK;

	/* a lookup that fails (REFUSED): 451 4.7.24 */
	check_one(&set, true, true, true, "198.51.100.1",
	    "a@temp.example", "a@temp.example", false, &o);
	CHECK_INT(o.action, POLICY_TEMPFAIL);
	CHECK_INT(o.code, 451);
	CHECK_STR(o.enhanced, "4.7.24");
	CHECK_STR(o.spf, "temperror");
	free(o.headers);

	/* SPF passes for the envelope, From: claims a p=reject domain */
	check_one(&set, true, true, true, "192.0.2.7", "alice@example.org",
	    "ceo@bank.example", false, &o);
	CHECK_INT(o.action, POLICY_REJECT);
	CHECK_INT(o.code, 550);
	CHECK_STR(o.enhanced, "5.7.1");
	CHECK(has(o.text, "DMARC policy of bank.example"));
	CHECK_STR(o.reason, "dmarc=reject");
	free(o.headers);

	/* the null sender: the HELO identity (no record: none) */
	check_one(&set, true, true, true, "192.0.2.7", "", "alice@example.org",
	    true, &o);
	CHECK_INT(o.action, POLICY_ACCEPT);	/* aligned DKIM */
	CHECK(has(o.headers, "spf=none smtp.helo=client.example.org"));
	CHECK(has(o.headers, "identity=helo"));
	free(o.headers);

	/* an exempt client: accepted, no fields */
	CHECK_INT(policy_settings_add_exempt_list(&set, "198.51.100.0/24",
	    &(const char *){ NULL }), 0);
	check_one(&set, true, true, true, "198.51.100.1", "alice@example.org",
	    "alice@example.org", false, &o);
	CHECK_INT(o.action, POLICY_ACCEPT);
	CHECK_STR(o.headers, "");
	free(o.headers);
	teardown();
}

static void
test_checks_off(void)
{
	struct policy_settings set;
	struct outcome o;
	unsigned before;

	setup();
	policy_settings_default(&set, "mx.example.net");
	before = queries;
	check_one(&set, false, false, false, "198.51.100.1",
	    "alice@example.org", "alice@example.org", true, &o);
	CHECK_INT(queries, before);	/* nothing asked */
	CHECK_INT(o.action, POLICY_ACCEPT);
	CHECK_STR(o.spf, "off");
	CHECK_STR(o.dkim, "off");
	CHECK_STR(o.dmarc, "off");
	CHECK_STR(o.headers, "Authentication-Results: mx.example.net; none\r\n");
	free(o.headers);

	/* DKIM only: no Received-SPF, no spf=, no dmarc= */
	check_one(&set, false, true, false, "198.51.100.1",
	    "alice@example.org", "alice@example.org", true, &o);
	CHECK_INT(o.action, POLICY_ACCEPT);
	CHECK(strstr(o.headers, "Received-SPF") == NULL);
	CHECK(strstr(o.headers, "spf=") == NULL);
	CHECK(strstr(o.headers, "dmarc=") == NULL);
	CHECK(has(o.headers, "Authentication-Results: mx.example.net;\r\n"
	    "\tdkim=pass"));
	free(o.headers);

	/* SPF off, DMARC on: an unaligned message is rejected by DMARC */
	check_one(&set, false, true, true, "198.51.100.1",
	    "alice@example.org", "alice@example.org", false, &o);
	CHECK_INT(o.action, POLICY_REJECT);
	CHECK_STR(o.reason, "dmarc=reject");
	free(o.headers);
	teardown();
}

static void
test_cancel(void)
{
	struct policy_settings set;
	struct policy_inbound_config pc;
	struct policy_inbound *pi;
	struct sockaddr_in sin;
	struct outcome o;
	char *msg;

	setup();
	zone_add("slow.example.org", "v=spf1 a:host.silent.example -all");
	policy_settings_default(&set, "mx.example.net");
	memset(&o, 0, sizeof(o));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.7", &sin.sin_addr);
	memset(&pc, 0, sizeof(pc));
	pc.settings = &set;
	pc.spf = pc.dkim = pc.dmarc = true;

	/* cancelled before the message: SPF under way */
	pi = policy_inbound_start(base, resolver, &pc,
	    (struct sockaddr *)&sin, "client.example.org", "a@slow.example.org");
	run_loop(200);
	policy_inbound_free(&pi);

	/* cancelled with every lookup out */
	msg = make_msg("a@silent.example", true);
	pi = policy_inbound_start(base, resolver, &pc,
	    (struct sockaddr *)&sin, "client.example.org", "a@slow.example.org");
	policy_inbound_message(pi, msg, strlen(msg), on_done, &o);
	run_loop(200);
	CHECK(!o.done);
	policy_inbound_free(&pi);
	run_loop(300);
	CHECK_INT(o.calls, 0);

	/* cancelled after everything was answered, before the callback */
	pi = policy_inbound_start(base, resolver, &pc,
	    (struct sockaddr *)&sin, "client.example.org", "a@example.org");
	run_loop(300);
	free(msg);
	msg = make_msg("a@example.org", false);
	policy_inbound_message(pi, msg, strlen(msg), on_done, &o);
	policy_inbound_free(&pi);
	run_loop(300);
	CHECK_INT(o.calls, 0);
	free(msg);
	teardown();
}

static const struct test_case cases[] = {
	TEST(test_pass),
	TEST(test_pass_ref),
	TEST(test_decisions),
	TEST(test_checks_off),
	TEST(test_cancel),
};

TEST_MAIN(cases)
