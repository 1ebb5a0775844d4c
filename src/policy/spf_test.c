/*
 * spf_test.c - unit tests of policy/spf: the OpenSPF RFC 7208 test suite
 * (../shared/testdata/spf/rfc7208-tests.json, the JSON form of the YAML)
 * run against an in-memory zone per scenario, plus table tests of the
 * record parser, the macro expander (RFC 7208 section 7.4 examples) and
 * the processing limits (section 4.6.4) at limit-1, limit and limit+1.
 *
 * The test resolver follows the suite's driver conventions (README.md
 * next to the suite): names are case-insensitive; an SPF-type record is
 * served as TXT unless the name has an explicit TXT entry; "NONE" values
 * are no record; a bare TIMEOUT makes every query of a type with no
 * record listed before it a timeout (DNS_TEMPFAIL); names not in the zone
 * are NXDOMAIN, except "error." names (timeout); CNAMEs are followed.
 */
#include "policy/spf.h"

#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"
#include "../../tests/lib/test.h"

/*
 * Suite tests not run, with the reason.  None: every test of the RFC
 * 7208 suite runs and must give (one of) its expected result(s) and, when
 * given, exactly its explanation.
 */
static const struct {
	const char	*test;
	const char	*reason;
} skipped[] = {
	{ NULL, NULL },
};

/* ------------------------------------------------------------------ */
/* an in-memory zone */

enum zt { ZT_TIMEOUT, ZT_TXT, ZT_A, ZT_AAAA, ZT_MX, ZT_PTR, ZT_CNAME };

struct zrec {
	char		*name;		/* lowercase, no trailing dot */
	enum zt		 type;
	bool		 timeout;	/* value TIMEOUT: this type times out */
	char		*data;		/* TXT (may hold NUL), names, address */
	size_t		 len;
	unsigned	 pref;
};

struct zone {
	struct zrec	*r;
	size_t		 n, cap;
	unsigned	 queries;
};

static void
zone_add(struct zone *z, const char *name, enum zt type, const char *data,
    size_t len, unsigned pref, bool timeout)
{
	struct zrec *r;
	size_t nl = strlen(name);

	if (z->n == z->cap) {
		z->cap = z->cap ? z->cap * 2 : 16;
		z->r = xreallocarray(z->r, z->cap, sizeof(*z->r));
	}
	r = &z->r[z->n++];
	memset(r, 0, sizeof(*r));
	if (nl > 0 && name[nl - 1] == '.')
		nl--;
	r->name = xstrndup(name, nl);
	ascii_strlower(r->name);
	r->type = type;
	r->timeout = timeout;
	if (data != NULL) {
		r->data = xmalloc(len + 1);
		memcpy(r->data, data, len);
		r->data[len] = '\0';
	}
	r->len = len;
	r->pref = pref;
}

static void
zone_free(struct zone *z)
{
	for (size_t i = 0; i < z->n; i++) {
		free(z->r[i].name);
		free(z->r[i].data);
	}
	free(z->r);
	memset(z, 0, sizeof(*z));
}

/* a TXT/SPF value: a string, or a list of strings concatenated */
static char *
txt_value(json_t *v, size_t *len_r)
{
	struct buf b;
	size_t i;
	json_t *s;

	buf_init(&b, 1 << 20);
	if (json_is_string(v)) {
		CHECK(buf_append(&b, json_string_value(v),
		    json_string_length(v)) == 0);
	} else {
		json_array_foreach(v, i, s)
			CHECK(buf_append(&b, json_string_value(s),
			    json_string_length(s)) == 0);
	}
	/* buf_steal of an empty buf gives NULL: keep a real string */
	if (buf_append_byte(&b, 0) < 0)
		CHECK(false);
	*len_r = b.len - 1;
	return (char *)buf_steal(&b, NULL);
}

static void
zone_load(struct zone *z, json_t *zd)
{
	const char *name;
	json_t *list, *item, *v;
	size_t i;

	memset(z, 0, sizeof(*z));
	json_object_foreach(zd, name, list) {
		bool has_txt = false;
		size_t first = z->n;

		json_array_foreach(list, i, item) {
			const char *type;

			if (json_is_string(item)) {
				CHECK_STR(json_string_value(item), "TIMEOUT");
				zone_add(z, name, ZT_TIMEOUT, NULL, 0, 0, false);
				continue;
			}
			json_object_foreach(item, type, v) {
				bool to = json_is_string(v) &&
				    strcmp(json_string_value(v), "TIMEOUT") == 0;
				bool none = json_is_string(v) &&
				    strcmp(json_string_value(v), "NONE") == 0;
				size_t len;
				char *t;

				if (strcmp(type, "TXT") == 0)
					has_txt = true;
				if (none)
					continue;
				if (strcmp(type, "TXT") == 0 ||
				    strcmp(type, "SPF") == 0) {
					/* SPF entries: kept aside for now */
					t = txt_value(v, &len);
					zone_add(z, name, ZT_TXT, t, len,
					    strcmp(type, "SPF") == 0, to);
					free(t);
				} else if (strcmp(type, "A") == 0 ||
				    strcmp(type, "AAAA") == 0 ||
				    strcmp(type, "PTR") == 0 ||
				    strcmp(type, "CNAME") == 0) {
					const char *s = json_string_value(v);
					enum zt zt = type[0] == 'A' ?
					    (type[1] == 'A' ? ZT_AAAA : ZT_A) :
					    type[0] == 'P' ? ZT_PTR : ZT_CNAME;

					zone_add(z, name, zt, s, strlen(s), 0,
					    to);
				} else if (strcmp(type, "MX") == 0) {
					json_t *pr = json_array_get(v, 0);
					json_t *h = json_array_get(v, 1);

					zone_add(z, name, ZT_MX,
					    json_string_value(h),
					    strlen(json_string_value(h)),
					    (unsigned)json_integer_value(pr),
					    false);
				} else {
					printf("unknown zone type %s\n", type);
					CHECK(false);
				}
			}
		}
		/*
		 * SPF entries were stored as TXT with pref 1.  The driver
		 * serves them as TXT (after everything else) only when the
		 * name has no TXT entry; otherwise they are SPF-type only,
		 * which RFC 7208 never queries: drop them.
		 */
		{
			size_t k, o = first, nspf = 0;
			struct zrec spf[64];

			for (k = first; k < z->n; k++) {
				if (z->r[k].type == ZT_TXT && z->r[k].pref) {
					if (!has_txt && nspf < 64) {
						spf[nspf++] = z->r[k];
						continue;
					}
					free(z->r[k].name);
					free(z->r[k].data);
					continue;
				}
				z->r[o++] = z->r[k];
			}
			for (k = 0; k < nspf; k++)
				z->r[o++] = spf[k];
			z->n = o;
		}
	}
}

struct zanswer {
	enum dns_status	 st;
	struct span	 txt[64];
	struct sockaddr_storage addr[64];
	const char	*names[64];
	unsigned	 prefs[64];
	size_t		 n;
};

static bool
zone_has(const struct zone *z, const char *name)
{
	for (size_t i = 0; i < z->n; i++)
		if (strcmp(z->r[i].name, name) == 0)
			return true;
	return false;
}

static void
zone_lookup(struct zone *z, const char *qname, enum spf_qtype qt,
    struct zanswer *ans)
{
	char name[512];
	enum zt want = qt == SPF_Q_TXT ? ZT_TXT : qt == SPF_Q_A ? ZT_A :
	    qt == SPF_Q_AAAA ? ZT_AAAA : qt == SPF_Q_MX ? ZT_MX : ZT_PTR;
	int hops;
	size_t i, len;

	z->queries++;
	memset(ans, 0, sizeof(*ans));
	len = strlen(qname);
	if (len > 0 && qname[len - 1] == '.')
		len--;
	if (len >= sizeof(name)) {
		ans->st = DNS_PERMFAIL;
		return;
	}
	memcpy(name, qname, len);
	name[len] = '\0';
	ascii_strlower(name);
	for (hops = 0; hops < 8; hops++) {
		const char *cname = NULL;
		bool seen = false;

		if (!zone_has(z, name)) {
			ans->st = strncmp(name, "error.", 6) == 0 ?
			    DNS_TEMPFAIL : DNS_NXDOMAIN;
			return;
		}
		for (i = 0; i < z->n; i++) {
			struct zrec *r = &z->r[i];

			if (strcmp(r->name, name) != 0)
				continue;
			if (r->type == ZT_TIMEOUT) {
				if (!seen) {
					ans->st = DNS_TEMPFAIL;
					return;
				}
				break;
			}
			if (r->type == ZT_CNAME) {
				cname = r->data;
				continue;
			}
			if (r->type != want)
				continue;
			seen = true;
			if (r->timeout) {
				ans->st = DNS_TEMPFAIL;
				return;
			}
			if (ans->n == 64)
				continue;
			if (want == ZT_TXT) {
				ans->txt[ans->n++] = span_make(r->data, r->len);
			} else if (want == ZT_A) {
				struct sockaddr_in *s4 = (struct sockaddr_in *)
				    &ans->addr[ans->n];
				s4->sin_family = AF_INET;
				CHECK(inet_pton(AF_INET, r->data,
				    &s4->sin_addr) == 1);
				ans->n++;
			} else if (want == ZT_AAAA) {
				struct sockaddr_in6 *s6 =
				    (struct sockaddr_in6 *)&ans->addr[ans->n];
				s6->sin6_family = AF_INET6;
				CHECK(inet_pton(AF_INET6, r->data,
				    &s6->sin6_addr) == 1);
				ans->n++;
			} else {
				ans->names[ans->n] = r->data;
				ans->prefs[ans->n] = r->pref;
				ans->n++;
			}
		}
		if (ans->n > 0) {
			ans->st = DNS_OK;
			if (want == ZT_MX) {
				/* by preference, stable */
				for (size_t a = 1; a < ans->n; a++)
					for (size_t b = a; b > 0 &&
					    ans->prefs[b - 1] > ans->prefs[b];
					    b--) {
						const char *tn = ans->names[b];
						unsigned tp = ans->prefs[b];
						ans->names[b] =
						    ans->names[b - 1];
						ans->prefs[b] =
						    ans->prefs[b - 1];
						ans->names[b - 1] = tn;
						ans->prefs[b - 1] = tp;
					}
			}
			return;
		}
		if (cname == NULL) {
			ans->st = DNS_NODATA;
			return;
		}
		len = strlen(cname);
		if (len > 0 && cname[len - 1] == '.')
			len--;
		if (len >= sizeof(name)) {
			ans->st = DNS_PERMFAIL;
			return;
		}
		memcpy(name, cname, len);
		name[len] = '\0';
		ascii_strlower(name);
	}
	ans->st = DNS_TEMPFAIL;		/* CNAME loop */
}

/* drives a check against the zone; returns the final step status */
static int
run_check(struct spf_check *c, struct zone *z)
{
	struct zanswer ans;
	enum spf_qtype qt;
	const char *name;
	int r, n = 0;

	while ((r = spf_check_step(c)) == 0) {
		if (++n > 1000)
			return -1;
		spf_check_query(c, &qt, &name);
		zone_lookup(z, name, qt, &ans);
		switch (qt) {
		case SPF_Q_TXT:
			spf_check_answer_txt(c, ans.st, ans.txt, ans.n);
			break;
		case SPF_Q_A:
		case SPF_Q_AAAA:
			spf_check_answer_addr(c, ans.st, ans.addr, ans.n);
			break;
		case SPF_Q_MX:
		case SPF_Q_PTR:
			spf_check_answer_names(c, ans.st, ans.names, ans.n);
			break;
		}
	}
	return r;
}

static bool
parse_host(const char *host, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr)
	    == 1) {
		ss->ss_family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, host,
	    &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		return true;
	}
	return false;
}

static bool
result_ok(enum spf_result got, json_t *want)
{
	size_t i;
	json_t *v;

	if (json_is_string(want))
		return strcmp(spf_result_name(got), json_string_value(want))
		    == 0;
	json_array_foreach(want, i, v)
		if (strcmp(spf_result_name(got), json_string_value(v)) == 0)
			return true;
	return false;
}

static const char *
skip_reason(const char *test)
{
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
		if (skipped[i].test != NULL &&
		    strcmp(skipped[i].test, test) == 0)
			return skipped[i].reason;
	return NULL;
}

static void
run_suite(const char *file, size_t want_tests)
{
	char path[1024];
	json_error_t jerr;
	json_t *doc, *scen, *tests, *t;
	size_t si, total = 0, total_ok = 0, total_skip = 0;
	const char *tname;

	snprintf(path, sizeof(path), "%s/spf/%s", test_shared_data(), file);
	doc = json_load_file(path, JSON_ALLOW_NUL, &jerr);
	if (!CHECK(doc != NULL)) {
		printf("cannot load %s: %s\n", path, jerr.text);
		return;
	}
	json_array_foreach(doc, si, scen) {
		struct zone z;
		size_t ok = 0, n = 0, skip = 0;

		zone_load(&z, json_object_get(scen, "zonedata"));
		tests = json_object_get(scen, "tests");
		json_object_foreach(tests, tname, t) {
			const char *host = json_string_value(
			    json_object_get(t, "host"));
			const char *helo = json_string_value(
			    json_object_get(t, "helo"));
			const char *mf = json_string_value(
			    json_object_get(t, "mailfrom"));
			json_t *want = json_object_get(t, "result");
			json_t *wexp = json_object_get(t, "explanation");
			struct sockaddr_storage ss;
			struct spf_check *c;
			enum spf_result res;
			const char *exp, *mech;
			bool good;

			n++;
			if (skip_reason(tname) != NULL) {
				printf("SKIP %s: %s\n", tname,
				    skip_reason(tname));
				skip++;
				continue;
			}
			if (!CHECK(host != NULL && parse_host(host, &ss)))
				continue;
			c = spf_check_new((struct sockaddr *)&ss, NULL, mf,
			    helo, NULL);
			spf_check_set_time(c, 1700000000);
			good = run_check(c, &z) == 1;
			res = good ? spf_check_result(c, &exp, &mech) :
			    SPF_PERMERROR;
			if (good && !result_ok(res, want))
				good = false;
			if (good && wexp != NULL && strcmp(exp != NULL ? exp :
			    "DEFAULT", json_string_value(wexp)) != 0)
				good = false;
			if (!CHECK(good)) {
				char *ws = json_dumps(want, JSON_ENCODE_ANY);

				printf("  %s / %s: got %s (%s) exp=\"%s\", "
				    "want %s exp=\"%s\"\n",
				    json_string_value(json_object_get(scen,
				    "description")), tname,
				    spf_result_name(res),
				    spf_check_problem(c) ?
				    spf_check_problem(c) : "",
				    exp ? exp : "", ws,
				    wexp ? json_string_value(wexp) : "");
				free(ws);
			} else {
				ok++;
				/* an accepted alternative, not the first */
				if (json_is_array(want) && strcmp(
				    spf_result_name(res), json_string_value(
				    json_array_get(want, 0))) != 0)
					printf("  note: %s gave %s; the suite "
					    "prefers %s\n", tname,
					    spf_result_name(res),
					    json_string_value(
					    json_array_get(want, 0)));
			}
			spf_check_free(&c);
			CHECK(c == NULL);
		}
		printf("  %-40s %2zu/%2zu passed%s\n",
		    json_string_value(json_object_get(scen, "description")),
		    ok, n - skip, skip ? " (some skipped)" : "");
		total += n;
		total_ok += ok;
		total_skip += skip;
		zone_free(&z);
	}
	printf("%s: %zu/%zu passed, %zu skipped\n", file, total_ok,
	    total - total_skip, total_skip);
	CHECK_INT(total, want_tests);
	CHECK_INT(total_ok + total_skip, total);
	json_decref(doc);
}

static void
test_rfc7208_suite(void)
{
	/* 16 scenarios, 203 tests (see testdata/spf/README.md) */
	run_suite("rfc7208-tests.json", 203);
}

/* ------------------------------------------------------------------ */
/* the record parser */

static void
test_record_syntax(void)
{
	static const struct {
		const char	*rec;
		int		 valid;
	} cases[] = {
		{ "v=spf1", 1 },
		{ "v=spf1 ", 1 },
		{ "V=SpF1 -ALL", 1 },
		{ "v=spf1  a  -all ", 1 },
		{ "v=spf1 +a -mx ~ptr ?exists:%{i}.x.example all", 1 },
		{ "v=spf1 a:example.com/24//64 mx/0 a//0", 1 },
		{ "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32", 1 },
		{ "v=spf1 ip4:0.0.0.0/0 ip6:::/0", 1 },
		{ "v=spf1 include:_spf.example.com redirect=x.example.com", 1 },
		{ "v=spf1 exp=e.%{d} foo=bar%%%_%- x.y-z_w=", 1 },
		{ "v=spf1 a:%{ir}.%{v}._spf.%{d2}", 1 },
		{ "v=spf1 exists:%{l1r+-}.%{o}", 1 },
		{ "v=spf1 a:foo.xn--zckzah", 1 },
		{ "v=spf1 a:x.1-2 a:y.3a", 1 },
		{ "v=spf1 a:x.1-", 0 },
		{ "v=spf10", 0 },
		{ "v=spf1\t-all", 0 },
		{ "v=spf1 -all.", 0 },
		{ "v=spf1 -all:x", 0 },
		{ "v=spf1 -all/8", 0 },
		{ "v=spf1 a:museum", 0 },
		{ "v=spf1 a:museum.", 0 },
		{ "v=spf1 a:abc.123", 0 },
		{ "v=spf1 a:example.-com", 0 },
		{ "v=spf1 a:example.com:8080", 0 },
		{ "v=spf1 a:", 0 },
		{ "v=spf1 a/33", 0 },
		{ "v=spf1 a//129", 0 },
		{ "v=spf1 a/24/64", 0 },
		{ "v=spf1 a/032", 0 },
		{ "v=spf1 ip4:1.2.3.4/032", 0 },
		{ "v=spf1 ip4:1.2.3.4/33", 0 },
		{ "v=spf1 ip4:1.2.3", 0 },
		{ "v=spf1 ip4:01.2.3.4", 0 },
		{ "v=spf1 ip4:256.2.3.4", 0 },
		{ "v=spf1 ip4:1.2.3.4//32", 0 },
		{ "v=spf1 ip4", 0 },
		{ "v=spf1 ip6", 0 },
		{ "v=spf1 ip6::1::2", 0 },
		{ "v=spf1 ip6:::1/129", 0 },
		{ "v=spf1 ptr/0", 0 },
		{ "v=spf1 include", 0 },
		{ "v=spf1 include:x.example.com/24", 0 },
		{ "v=spf1 exists", 0 },
		{ "v=spf1 redirect:x.example.com", 0 },
		{ "v=spf1 redirect=", 0 },
		{ "v=spf1 exp=", 0 },
		{ "v=spf1 redirect=a.example redirect=a.example", 0 },
		{ "v=spf1 exp=a.example exp=a.example", 0 },
		{ "v=spf1 -redirect=a.example", 0 },
		{ "v=spf1 1up=foo", 0 },
		{ "v=spf1 =all", 0 },
		{ "v=spf1 foo=%abc", 0 },
		{ "v=spf1 foo=%", 0 },
		{ "v=spf1 a:%{x}.example.com", 0 },
		{ "v=spf1 a:%{d0}.example.com", 0 },
		{ "v=spf1 a:%{c}.example.com", 0 },
		{ "v=spf1 exp=%{r}.example.com", 0 },
		{ "v=spf1 a:%{d", 0 },
		{ "v=spf1 a:%{d2r-x}.example.com", 0 },
		{ "v=spf1 moo.cow/far_out=man:dog/cat", 0 },
	};
	const char *err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = spf_record_validate(span_from_str(cases[i].rec), &err);

		if (!CHECK_INT(r == 0, cases[i].valid))
			printf("  record: \"%s\"\n", cases[i].rec);
	}
	/* a NUL byte or a control character anywhere is an error */
	CHECK(spf_record_validate(span_make("v=spf1 a:x.com\0", 15), &err)
	    < 0);
	CHECK(spf_record_validate(SPAN_LIT("v=spf1 a:x.com\r -all"), &err) < 0);
	CHECK(spf_record_is_spf(SPAN_LIT("v=spf1")));
	CHECK(spf_record_is_spf(SPAN_LIT("V=SPF1 -all")));
	CHECK(!spf_record_is_spf(SPAN_LIT("v=spf1-all")));
	CHECK(!spf_record_is_spf(SPAN_LIT("v=spf")));
}

static void
test_record_length_limit(void)
{
	struct buf b;
	const char *err;

	buf_init(&b, SPF_MAX_RECORD + 16);
	CHECK(buf_append_str(&b, "v=spf1") == 0);
	while (b.len < SPF_MAX_RECORD - 1)
		CHECK(buf_append_byte(&b, ' ') == 0);
	CHECK(buf_append_byte(&b, 'a') == 0);	/* limit */
	CHECK_INT(spf_record_validate(buf_span(&b), &err), 0);
	b.len--;				/* limit - 1 */
	CHECK_INT(spf_record_validate(buf_span(&b), &err), 0);
	CHECK(buf_append_str(&b, "a ") == 0);	/* limit + 1 */
	CHECK_INT(b.len, SPF_MAX_RECORD + 1);
	CHECK_INT(spf_record_validate(buf_span(&b), &err), -1);
	buf_fini(&b);
}

/* ------------------------------------------------------------------ */
/* macros: RFC 7208 section 7.4 */

static void
test_macro_rfc_examples(void)
{
	static const struct {
		const char	*in;
		const char	*out;
	} v4[] = {
		{ "%{s}", "strong-bad@email.example.com" },
		{ "%{o}", "email.example.com" },
		{ "%{d}", "email.example.com" },
		{ "%{d4}", "email.example.com" },
		{ "%{d3}", "email.example.com" },
		{ "%{d2}", "example.com" },
		{ "%{d1}", "com" },
		{ "%{dr}", "com.example.email" },
		{ "%{d2r}", "example.email" },
		{ "%{l}", "strong-bad" },
		{ "%{l-}", "strong.bad" },
		{ "%{lr}", "strong-bad" },
		{ "%{lr-}", "bad.strong" },
		{ "%{l1r-}", "strong" },
		{ "%{ir}.%{v}._spf.%{d2}",
		    "3.2.0.192.in-addr._spf.example.com" },
		{ "%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com" },
		{ "%{lr-}.lp.%{ir}.%{v}._spf.%{d2}",
		    "bad.strong.lp.3.2.0.192.in-addr._spf.example.com" },
		{ "%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}",
		    "3.2.0.192.in-addr.strong.lp._spf.example.com" },
		{ "%{d2}.trusted-domains.example.net",
		    "example.com.trusted-domains.example.net" },
		{ "%{p}", "unknown" },
		{ "%{h}", "mx.example.org" },
		{ "%{c}", "192.0.2.3" },
		{ "%{r}", "example.net" },
		{ "%{t}", "1234567890" },
		{ "%%%_%-", "% %20" },
		{ "%{L}", "strong-bad" },
		{ "%{S}", "strong-bad%40email.example.com" },
		{ "%{d200}", "email.example.com" },
	};
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct spf_macro_env env = {
		.sender = "strong-bad@email.example.com",
		.local = "strong-bad",
		.sender_domain = "email.example.com",
		.domain = "email.example.com",
		.helo = "mx.example.org",
		.receiver = "example.net",
		.ip = (struct sockaddr *)&s4,
		.now = 1234567890,
	};
	struct buf b;
	const char *err;
	size_t i;

	inet_pton(AF_INET, "192.0.2.3", &s4.sin_addr);
	buf_init(&b, SPF_MAX_EXPANSION);
	for (i = 0; i < sizeof(v4) / sizeof(v4[0]); i++) {
		buf_reset(&b);
		CHECK_INT(spf_macro_expand(&env, span_from_str(v4[i].in),
		    SPF_MACRO_F_EXP, &b, &err), 0);
		CHECK_STR(buf_cstr(&b), v4[i].out);
	}
	/* IPv6: section 7.4's example, nibbles (upper case, see spf.c) */
	inet_pton(AF_INET6, "2001:db8::cb01", &s6.sin6_addr);
	env.ip = (struct sockaddr *)&s6;
	buf_reset(&b);
	CHECK_INT(spf_macro_expand(&env,
	    SPAN_LIT("%{ir}.%{v}._spf.%{d2}"), 0, &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0."
	    "0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com");
	buf_reset(&b);
	CHECK_INT(spf_macro_expand(&env, SPAN_LIT("%{c}"), SPF_MACRO_F_EXP,
	    &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "2001:db8::cb01");
	/* c, r, t and SP only in explanations */
	CHECK_INT(spf_macro_expand(&env, SPAN_LIT("%{c}"), 0, &b, &err), -1);
	CHECK_INT(spf_macro_expand(&env, SPAN_LIT("a b"), 0, &b, &err), -1);
	CHECK_INT(spf_macro_expand(NULL, SPAN_LIT("a b"), SPF_MACRO_F_EXP,
	    NULL, &err), 0);
	/* URL escaping of upper-case macros (section 7.3) */
	env.local = "~jack&jill=up-a_b3.c";
	buf_reset(&b);
	CHECK_INT(spf_macro_expand(&env, SPAN_LIT("%{L}"), 0, &b, &err), 0);
	CHECK_STR(buf_cstr(&b), "~jack%26jill%3Dup-a_b3.c");
	/* multiple delimiters */
	env.local = "foo-bar+zip+quux";
	buf_reset(&b);
	CHECK_INT(spf_macro_expand(&env, SPAN_LIT("%{l2r+-}"), 0, &b, &err),
	    0);
	CHECK_STR(buf_cstr(&b), "bar.foo");
	/* expansion past the buffer's maximum is an error, not a cut */
	{
		struct buf small;

		buf_init(&small, 10);
		CHECK_INT(spf_macro_expand(&env, SPAN_LIT("%{o}"), 0, &small,
		    &err), -1);
		buf_fini(&small);
	}
	CHECK(spf_macro_uses_p(SPAN_LIT("x.%{p}.y")));
	CHECK(spf_macro_uses_p(SPAN_LIT("%{P2}")));
	CHECK(!spf_macro_uses_p(SPAN_LIT("%%{p}")));
	CHECK(!spf_macro_uses_p(SPAN_LIT("p.%{d}")));
	buf_fini(&b);
}

static void
test_domain_finish(void)
{
	char out[DNS_MAX_NAME + 1], in[600];
	size_t i;

	CHECK_INT(spf_domain_finish(SPAN_LIT("example.com."), out,
	    sizeof(out)), 0);
	CHECK_STR(out, "example.com");
	CHECK_INT(spf_domain_finish(SPAN_LIT("a..b"), out, sizeof(out)), -1);
	CHECK_INT(spf_domain_finish(SPAN_LIT(""), out, sizeof(out)), -1);
	CHECK_INT(spf_domain_finish(SPAN_LIT("."), out, sizeof(out)), -1);
	/* labels of 63 and 64 bytes */
	memset(in, 'a', 63);
	memcpy(in + 63, ".com", 5);
	CHECK_INT(spf_domain_finish(span_from_str(in), out, sizeof(out)), 0);
	memset(in, 'a', 64);
	memcpy(in + 64, ".com", 5);
	CHECK_INT(spf_domain_finish(span_from_str(in), out, sizeof(out)), -1);
	/* 252, 253, 254 bytes: the last loses its leftmost label */
	for (size_t want = 252; want <= 254; want++) {
		memset(in, 0, sizeof(in));
		for (i = 0; i < want; i++)
			in[i] = (i % 10 == 9) ? '.' : 'x';
		if (in[want - 1] == '.')
			in[want - 1] = 'y';
		CHECK_INT(spf_domain_finish(span_make(in, want), out,
		    sizeof(out)), 0);
		if (want <= 253)
			CHECK_INT(strlen(out), want);
		else
			CHECK_STR(out, in + 10);
	}
}

/* ------------------------------------------------------------------ */
/* evaluation with a small zone given inline */

/* zone lines: "name TYPE value"; a value "TIMEOUT" times out */
static void
zone_inline(struct zone *z, const char *const *lines)
{
	memset(z, 0, sizeof(*z));
	for (; *lines != NULL; lines++) {
		char name[300], type[10];
		const char *v;
		int off = 0;

		CHECK(sscanf(*lines, "%299s %9s %n", name, type, &off) == 2);
		v = *lines + off;
		if (strcmp(type, "TXT") == 0)
			zone_add(z, name, ZT_TXT, v, strlen(v), 0, false);
		else if (strcmp(type, "A") == 0)
			zone_add(z, name, ZT_A, v, strlen(v), 0,
			    strcmp(v, "TIMEOUT") == 0);
		else if (strcmp(type, "AAAA") == 0)
			zone_add(z, name, ZT_AAAA, v, strlen(v), 0, false);
		else if (strcmp(type, "PTR") == 0)
			zone_add(z, name, ZT_PTR, v, strlen(v), 0, false);
		else if (strcmp(type, "TIMEOUT") == 0)
			zone_add(z, name, ZT_TIMEOUT, NULL, 0, 0, false);
		else if (strcmp(type, "MX") == 0) {
			unsigned pref = (unsigned)atoi(v);
			const char *h = strchr(v, ' ') + 1;
			zone_add(z, name, ZT_MX, h, strlen(h), pref, false);
		}
	}
}

static enum spf_result
eval(const char *const *lines, const char *ip, const char *sender,
    const char *helo, const char **exp_r, const char **mech_r,
    unsigned *lookups_r, unsigned *voids_r)
{
	static char exp_copy[1024], mech_copy[256];
	struct sockaddr_storage ss;
	struct spf_check *c;
	struct zone z;
	enum spf_result r;
	const char *e, *m;

	zone_inline(&z, lines);
	CHECK(parse_host(ip, &ss));
	c = spf_check_new((struct sockaddr *)&ss, NULL, sender, helo,
	    "mx.receiver.example");
	CHECK_INT(run_check(c, &z), 1);
	r = spf_check_result(c, &e, &m);
	snprintf(exp_copy, sizeof(exp_copy), "%s", e != NULL ? e : "");
	snprintf(mech_copy, sizeof(mech_copy), "%s", m != NULL ? m : "");
	if (exp_r != NULL)
		*exp_r = e != NULL ? exp_copy : NULL;
	if (mech_r != NULL)
		*mech_r = m != NULL ? mech_copy : NULL;
	if (lookups_r != NULL)
		*lookups_r = spf_check_lookups(c);
	if (voids_r != NULL)
		*voids_r = spf_check_void_lookups(c);
	spf_check_free(&c);
	zone_free(&z);
	return r;
}

static void
test_results_and_mechanism(void)
{
	const char *z1[] = {
		"example.com TXT v=spf1 ip4:192.0.2.0/24 ~all exp=why.%{d}",
		"why.example.com TXT %{i} is not one of %{d}'s; see %{r}",
		NULL,
	};
	const char *exp, *mech;

	CHECK_INT(eval(z1, "192.0.2.9", "a@example.com", "h.example", &exp,
	    &mech, NULL, NULL), SPF_PASS);
	CHECK_STR(mech, "ip4:192.0.2.0/24");
	CHECK(exp == NULL);
	CHECK_INT(eval(z1, "198.51.100.1", "a@example.com", "h.example", &exp,
	    &mech, NULL, NULL), SPF_SOFTFAIL);
	CHECK_STR(mech, "~all");
	CHECK(exp == NULL);		/* only on fail */
	{
		const char *z2[] = {
			"example.com TXT v=spf1 -all exp=why.%{d}",
			"why.example.com TXT %{i} is not one of %{d}'s; "
			    "see %{r}",
			NULL,
		};
		CHECK_INT(eval(z2, "198.51.100.1", "a@example.com",
		    "h.example", &exp, &mech, NULL, NULL), SPF_FAIL);
		CHECK_STR(exp, "198.51.100.1 is not one of example.com's; "
		    "see mx.receiver.example");
	}
	/* explanation text is printable ASCII whatever the sender holds */
	{
		const char *z5[] = {
			"example.com TXT v=spf1 -all exp=why.%{d}",
			"why.example.com TXT bad %{l}.",
			NULL,
		};
		CHECK_INT(eval(z5, "198.51.100.1", "a\r\n\xc3\xa9@example.com",
		    "h.example", &exp, NULL, NULL, NULL), SPF_FAIL);
		CHECK_STR(exp, "bad a????.");
	}
	/* HELO identity when the sender is null */
	{
		const char *z3[] = {
			"helo.example.net TXT v=spf1 a -all",
			"helo.example.net A 192.0.2.1",
			NULL,
		};
		CHECK_INT(eval(z3, "192.0.2.1", "", "helo.example.net", NULL,
		    &mech, NULL, NULL), SPF_PASS);
		CHECK_STR(mech, "a");
		CHECK_INT(eval(z3, "192.0.2.2", NULL, "helo.example.net",
		    NULL, NULL, NULL, NULL), SPF_FAIL);
	}
	/* none: no record, NXDOMAIN, malformed domain */
	{
		const char *z4[] = { "example.org TXT hello", NULL };
		CHECK_INT(eval(z4, "192.0.2.1", "a@example.org", "h", NULL,
		    NULL, NULL, NULL), SPF_NONE);
		CHECK_INT(eval(z4, "192.0.2.1", "a@nowhere.example", "h",
		    NULL, NULL, NULL, NULL), SPF_NONE);
		CHECK_INT(eval(z4, "192.0.2.1", "a@localhost", "h", NULL,
		    NULL, NULL, NULL), SPF_NONE);
	}
}

/* section 4.6.4: 10 DNS-querying terms pass, 11 are permerror */
static void
test_lookup_limit(void)
{
	static const char *const recs[] = {
		/* 9, 10 and 11 "a" terms before the matching ip4 */
		"example.com TXT v=spf1 a a a a a a a a a ip4:192.0.2.1 -all",
		"example.com TXT v=spf1 a a a a a a a a a a ip4:192.0.2.1 "
		    "-all",
		"example.com TXT v=spf1 a a a a a a a a a a a ip4:192.0.2.1 "
		    "-all",
	};
	unsigned lookups;

	for (size_t i = 0; i < 3; i++) {
		const char *z[] = { recs[i], "example.com A 198.51.100.7",
		    NULL };

		CHECK_INT(eval(z, "192.0.2.1", "x@example.com", "h", NULL,
		    NULL, &lookups, NULL), i < 2 ? SPF_PASS : SPF_PERMERROR);
		CHECK_INT(lookups, 9 + i);
	}
	/* includes count too, and nest at most that deep */
	{
		const char *z[] = {
			"example.com TXT v=spf1 include:a.example.com -all",
			"a.example.com TXT v=spf1 include:b.example.com",
			"b.example.com TXT v=spf1 include:c.example.com",
			"c.example.com TXT v=spf1 include:d.example.com",
			"d.example.com TXT v=spf1 include:e.example.com",
			"e.example.com TXT v=spf1 include:f.example.com",
			"f.example.com TXT v=spf1 include:g.example.com",
			"g.example.com TXT v=spf1 include:h.example.com",
			"h.example.com TXT v=spf1 include:i.example.com",
			"i.example.com TXT v=spf1 include:j.example.com",
			"j.example.com TXT v=spf1 include:k.example.com",
			"k.example.com TXT v=spf1 +all",
			NULL,
		};
		CHECK_INT(eval(z, "192.0.2.1", "x@example.com", "h", NULL,
		    NULL, &lookups, NULL), SPF_PERMERROR);
		CHECK_INT(lookups, 11);
		z[10] = "j.example.com TXT v=spf1 +all";
		CHECK_INT(eval(z, "192.0.2.1", "x@example.com", "h", NULL,
		    NULL, &lookups, NULL), SPF_PASS);
		CHECK_INT(lookups, 10);
	}
}

/* section 4.6.4: two void lookups are fine, the third is permerror */
static void
test_void_limit(void)
{
	static const char *const recs[] = {
		"example.com TXT v=spf1 a:n1.example.com ?all",
		"example.com TXT v=spf1 a:n1.example.com mx:n2.example.com "
		    "?all",
		"example.com TXT v=spf1 a:n1.example.com mx:n2.example.com "
		    "exists:n3.example.com ?all",
	};
	unsigned voids;

	for (size_t i = 0; i < 3; i++) {
		const char *z[] = { recs[i], NULL };

		CHECK_INT(eval(z, "192.0.2.1", "x@example.com", "h", NULL,
		    NULL, NULL, &voids), i < 2 ? SPF_NEUTRAL : SPF_PERMERROR);
		CHECK_INT(voids, i + 1);
	}
}

/* section 4.6.4: 10 MX records are looked up, 11 are permerror */
static void
test_mx_limit(void)
{
	const char *z[16];
	char lines[12][64];
	size_t n, i;

	for (n = 9; n <= 11; n++) {
		size_t k = 0;

		z[k++] = "example.com TXT v=spf1 mx -all";
		for (i = 0; i < n; i++) {
			snprintf(lines[i], sizeof(lines[i]),
			    "example.com MX %zu mx%zu.example.com", i, i);
			z[k++] = lines[i];
		}
		/* the last MX host is the client */
		snprintf(lines[11], sizeof(lines[11]),
		    "mx%zu.example.com A 192.0.2.1", n - 1);
		z[k++] = lines[11];
		z[k] = NULL;
		CHECK_INT(eval(z, "192.0.2.1", "x@example.com", "h", NULL,
		    NULL, NULL, NULL), n <= 10 ? SPF_PASS : SPF_PERMERROR);
	}
}

/* section 4.6.4: only the first 10 PTR names are looked at */
static void
test_ptr_limit(void)
{
	const char *z[16];
	char lines[12][80];
	size_t n, i, k;

	for (n = 9; n <= 11; n++) {
		k = 0;
		z[k++] = "example.com TXT v=spf1 ptr -all";
		/* n PTR names; only the last one validates */
		for (i = 0; i < n; i++) {
			snprintf(lines[i], sizeof(lines[i]),
			    "1.2.0.192.in-addr.arpa PTR h%zu.example.com", i);
			z[k++] = lines[i];
		}
		snprintf(lines[11], sizeof(lines[11]),
		    "h%zu.example.com A 192.0.2.1", n - 1);
		z[k++] = lines[11];
		z[k] = NULL;
		CHECK_INT(eval(z, "192.0.2.1", "x@example.com", "h", NULL,
		    NULL, NULL, NULL), n <= 10 ? SPF_PASS : SPF_FAIL);
	}
}

/* identity strings up to SPF_MAX_IDENTITY bytes are checked */
static void
test_identity_limit(void)
{
	const char *z[] = { "example.com TXT v=spf1 +all", NULL };
	char sender[SPF_MAX_IDENTITY + 2];
	size_t len, at = sizeof("@example.com") - 1;

	for (len = SPF_MAX_IDENTITY - 1; len <= SPF_MAX_IDENTITY + 1;
	    len++) {
		memset(sender, 'a', len - at);
		memcpy(sender + len - at, "@example.com", at + 1);
		CHECK_INT(strlen(sender), len);
		CHECK_INT(eval(z, "192.0.2.1", sender, "h", NULL, NULL, NULL,
		    NULL), len <= SPF_MAX_IDENTITY ? SPF_PASS : SPF_NONE);
	}
}

/* temperror from DNS failures; exp= ignored on DNS errors */
static void
test_dns_errors(void)
{
	const char *z1[] = { "example.com TIMEOUT x", NULL };
	const char *z2[] = {
		"example.com TXT v=spf1 a:slow.example.com -all",
		"slow.example.com A TIMEOUT",
		NULL,
	};
	const char *z3[] = {
		"example.com TXT v=spf1 -all exp=slow.example.com",
		"slow.example.com TIMEOUT x",
		NULL,
	};
	const char *exp;

	CHECK_INT(eval(z1, "192.0.2.1", "x@example.com", "h", NULL, NULL,
	    NULL, NULL), SPF_TEMPERROR);
	CHECK_INT(eval(z2, "192.0.2.1", "x@example.com", "h", NULL, NULL,
	    NULL, NULL), SPF_TEMPERROR);
	CHECK_INT(eval(z3, "192.0.2.1", "x@example.com", "h", &exp, NULL,
	    NULL, NULL), SPF_FAIL);
	CHECK(exp == NULL);
}

/* the step/answer protocol by hand */
static void
test_protocol(void)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct spf_check *c;
	enum spf_qtype qt;
	const char *name, *mech;
	struct span txt = SPAN_LIT("v=spf1 ptr:example.com -all");
	const char *ptr[] = { "mail.example.com." };
	struct sockaddr_storage a;

	/* IPv4-mapped IPv6 is treated as IPv4 */
	inet_pton(AF_INET6, "::ffff:192.0.2.5", &s6.sin6_addr);
	c = spf_check_new((struct sockaddr *)&s6, NULL, "u@Example.COM.",
	    "h.example", NULL);
	CHECK_STR(spf_check_domain(c), "Example.COM");
	CHECK_INT(spf_check_step(c), 0);
	spf_check_query(c, &qt, &name);
	CHECK_INT(qt, SPF_Q_TXT);
	CHECK_STR(name, "Example.COM");
	spf_check_answer_txt(c, DNS_OK, &txt, 1);
	CHECK_INT(spf_check_step(c), 0);
	spf_check_query(c, &qt, &name);
	CHECK_INT(qt, SPF_Q_PTR);
	CHECK_STR(name, "5.2.0.192.in-addr.arpa");
	spf_check_answer_names(c, DNS_OK, ptr, 1);
	CHECK_INT(spf_check_step(c), 0);
	spf_check_query(c, &qt, &name);
	CHECK_INT(qt, SPF_Q_A);
	CHECK_STR(name, "mail.example.com");
	memset(&a, 0, sizeof(a));
	a.ss_family = AF_INET;
	inet_pton(AF_INET, "192.0.2.5",
	    &((struct sockaddr_in *)&a)->sin_addr);
	spf_check_answer_addr(c, DNS_OK, &a, 1);
	CHECK_INT(spf_check_step(c), 1);
	CHECK_INT(spf_check_step(c), 1);
	CHECK_INT(spf_check_result(c, NULL, &mech), SPF_PASS);
	CHECK_STR(mech, "ptr:example.com");
	CHECK_INT(spf_check_lookups(c), 1);
	spf_check_free(&c);
	CHECK(c == NULL);
	spf_check_free(&c);

	/* an over-long identity gives none at once, without DNS */
	{
		char longs[SPF_MAX_IDENTITY + 10];

		memset(longs, 'a', sizeof(longs) - 1);
		longs[sizeof(longs) - 1] = '\0';
		c = spf_check_new((struct sockaddr *)&s6, NULL, longs, "h",
		    NULL);
		CHECK_INT(spf_check_step(c), 1);
		CHECK_INT(spf_check_result(c, NULL, NULL), SPF_NONE);
		CHECK(spf_check_problem(c) != NULL);
		spf_check_free(&c);
	}
	CHECK_STR(spf_result_name(SPF_SOFTFAIL), "softfail");
	CHECK_STR(spf_result_name(SPF_TEMPERROR), "temperror");
}

static const struct test_case cases[] = {
	TEST(test_record_syntax),
	TEST(test_record_length_limit),
	TEST(test_macro_rfc_examples),
	TEST(test_domain_finish),
	TEST(test_results_and_mechanism),
	TEST(test_lookup_limit),
	TEST(test_void_limit),
	TEST(test_mx_limit),
	TEST(test_ptr_limit),
	TEST(test_identity_limit),
	TEST(test_dns_errors),
	TEST(test_protocol),
	TEST(test_rfc7208_suite),
};

TEST_MAIN(cases)
