/*
 * resolve_test.c - unit tests for recipient resolution (store/resolve.h):
 * users, nested and one-to-many aliases, many-to-one, loops, depth and
 * expansion limits (limit-1, limit, limit+1), sub-addressing, catch-all,
 * postmaster, relay tricks, EXPN.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/accounts.h"
#include "store/resolve.h"
#include "store/store_int.h"
#include "../../tests/lib/test.h"

static char *dir;
static struct accounts *acc;
static int64_t alice, bob, carol;

static void
setup(void)
{
	char tmpl[] = "/tmp/postino-resolve-XXXXXX";
	const char *err = NULL;

	log_set_level(LOG_LEVEL_ERROR);
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	dir = xasprintf("%s/data", tmpl);
	acc = accounts_open(dir, &err);
	if (acc == NULL) {
		fprintf(stderr, "accounts_open: %s\n", err);
		exit(1);
	}
	CHECK_INT(accounts_domain_add(acc, "example.org", &err), 0);
	CHECK_INT(accounts_domain_add(acc, "other.example", &err), 0);
	CHECK_INT(accounts_user_add(acc, "Alice@example.org", NULL, &alice,
	    &err), 0);
	CHECK_INT(accounts_user_add(acc, "bob@example.org", NULL, &bob, &err),
	    0);
	CHECK_INT(accounts_user_add(acc, "carol@other.example", NULL, &carol,
	    &err), 0);
}

static void
teardown(void)
{
	char *top = xstrdup(dir);

	accounts_close(&acc);
	*strrchr(top, '/') = '\0';
	CHECK_INT(store_rmtree(top), 0);
	free(top);
	free(dir);
}

static void
alias(const char *a, const char *t)
{
	const char *err = NULL;

	if (accounts_alias_add(acc, a, t, &err) < 0) {
		fprintf(stderr, "alias %s -> %s: %s\n", a, t, err);
		CHECK(0);
	}
}

/* bulk_alias - n rows address -> <prefix><i>@remote.test, one txn */
static void
bulk_alias(const char *address, const char *prefix, int n)
{
	char *path = xasprintf("%s/accounts.db", dir), t[64];
	sqlite3 *db;
	sqlite3_stmt *s;
	int i;

	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	CHECK_INT(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	CHECK_INT(sqlite3_prepare_v2(db, "INSERT INTO aliases (address, key,"
	    " domain, target, target_key, created) VALUES (?1, ?1,"
	    " substr(?1, instr(?1, '@') + 1), ?2, ?2, 0)", -1, &s, NULL),
	    SQLITE_OK);
	for (i = 0; i < n; i++) {
		snprintf(t, sizeof(t), "%s%d@remote.test", prefix, i);
		sqlite3_reset(s);
		sqlite3_bind_text(s, 1, address, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 2, t, -1, SQLITE_TRANSIENT);
		CHECK_INT(sqlite3_step(s), SQLITE_DONE);
	}
	sqlite3_finalize(s);
	CHECK_INT(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	free(path);
}

/*
 * expect - resolves addr and compares with the expected status and a
 * description of the result: local ids joined with ',' then '|' then the
 * remote addresses, e.g. "1,2|x@remote.test".
 */
static void
expect_fn(enum resolve_status (*fn)(struct accounts *, const char *,
    struct resolve_result *), const char *addr, enum resolve_status want,
    const char *want_desc, int line)
{
	struct resolve_result r;
	enum resolve_status st;
	char desc[8192] = "";
	size_t i, n = 0;

	st = fn(acc, addr, &r);
	for (i = 0; i < r.nlocal; i++)
		n += (size_t)snprintf(desc + n, sizeof(desc) - n, "%s%lld",
		    i ? "," : "", (long long)r.local[i].user_id);
	n += (size_t)snprintf(desc + n, sizeof(desc) - n, "|");
	for (i = 0; i < r.nremote && n < sizeof(desc); i++)
		n += (size_t)snprintf(desc + n, sizeof(desc) - n, "%s%s",
		    i ? "," : "", r.remote[i]);
	if (st != want || (want_desc != NULL && strcmp(desc, want_desc) != 0))
		fprintf(stderr, "line %d: %s -> %s %s (error %s)\n", line,
		    addr, resolve_status_name(st), desc,
		    r.error ? r.error : "-");
	CHECK_STR(resolve_status_name(st), resolve_status_name(want));
	if (want_desc != NULL)
		CHECK_STR(desc, want_desc);
	if (st == RESOLVE_OK)
		CHECK(r.nlocal + r.nremote > 0 && r.error == NULL);
	else
		CHECK(r.nlocal == 0 && r.nremote == 0 && r.error != NULL);
	/* the RCPT-time check agrees with the expansion */
	if (fn == resolve_expand)
		CHECK_STR(resolve_status_name(resolve_check(acc, addr, NULL)),
		    resolve_status_name(want));
	resolve_result_fini(&r);
}

#define EXPECT(addr, st, desc) \
	expect_fn(resolve_expand, addr, st, desc, __LINE__)
#define EXPECT_EXPN(addr, st, desc) \
	expect_fn(resolve_expn, addr, st, desc, __LINE__)

static char *
ids(int64_t a, int64_t b)
{
	static char s[64];

	if (b == 0)
		snprintf(s, sizeof(s), "%lld|", (long long)a);
	else
		snprintf(s, sizeof(s), "%lld,%lld|", (long long)a,
		    (long long)b);
	return s;
}

static void
test_users(void)
{
	struct resolve_result r;

	setup();
	EXPECT("alice@example.org", RESOLVE_OK, ids(alice, 0));
	EXPECT("ALICE@EXAMPLE.ORG", RESOLVE_OK, ids(alice, 0));
	EXPECT("bob@Example.Org", RESOLVE_OK, ids(bob, 0));
	EXPECT("nobody@example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT("alice@remote.test", RESOLVE_NOT_LOCAL, "|");
	EXPECT("alice@[127.0.0.1]", RESOLVE_NOT_LOCAL, "|");
	EXPECT("alice", RESOLVE_UNKNOWN_USER, "|");
	EXPECT("", RESOLVE_UNKNOWN_USER, "|");
	/* the canonical address is the one stored */
	CHECK_INT(resolve_expand(acc, "ALICE@example.org", &r), RESOLVE_OK);
	CHECK_INT(r.nlocal, 1);
	if (r.nlocal == 1) {
		CHECK_STR(r.local[0].address, "Alice@example.org");
		CHECK(r.local[0].detail == NULL);
	}
	resolve_result_fini(&r);
	CHECK(r.local == NULL && r.nlocal == 0);
	resolve_result_fini(&r);	/* twice is harmless */
	teardown();
}

static void
test_aliases(void)
{
	setup();
	/* one-to-many, with a remote member */
	alias("team@example.org", "alice@example.org");
	alias("team@example.org", "BOB@example.org");
	alias("team@example.org", "x@Remote.Test");
	/* nested, and bob reached twice is delivered once */
	alias("all@example.org", "team@example.org");
	alias("all@example.org", "carol@other.example");
	alias("all@example.org", "team2@example.org");
	alias("team2@example.org", "bob@example.org");
	alias("team2@example.org", "y@remote.test");
	/* many-to-one */
	alias("sales@example.org", "alice@example.org");
	alias("info@example.org", "alice@example.org");
	{
		char want[128];

		snprintf(want, sizeof(want), "%lld,%lld|x@remote.test",
		    (long long)alice, (long long)bob);
		EXPECT("team@example.org", RESOLVE_OK, want);
		snprintf(want, sizeof(want),
		    "%lld,%lld,%lld|x@remote.test,y@remote.test",
		    (long long)alice, (long long)bob, (long long)carol);
		EXPECT("ALL@example.org", RESOLVE_OK, want);
	}
	EXPECT("sales@example.org", RESOLVE_OK, ids(alice, 0));
	EXPECT("info@example.org", RESOLVE_OK, ids(alice, 0));
	/* an alias to a remote address only */
	alias("fwd@example.org", "someone@remote.test");
	EXPECT("fwd@example.org", RESOLVE_OK, "|someone@remote.test");
	/* a diamond is not a loop */
	alias("d@example.org", "d1@example.org");
	alias("d@example.org", "d2@example.org");
	alias("d1@example.org", "shared@example.org");
	alias("d2@example.org", "shared@example.org");
	alias("shared@example.org", "bob@example.org");
	EXPECT("d@example.org", RESOLVE_OK, ids(bob, 0));
	/* targets that lead nowhere are skipped; none at all: unknown */
	alias("broken@example.org", "ghost@example.org");
	EXPECT("broken@example.org", RESOLVE_UNKNOWN_USER, "|");
	alias("partial@example.org", "ghost@example.org");
	alias("partial@example.org", "alice@example.org");
	EXPECT("partial@example.org", RESOLVE_OK, ids(alice, 0));
	/* a user wins over an alias of the same address */
	alias("alice@example.org", "bob@example.org");
	EXPECT("alice@example.org", RESOLVE_OK, ids(alice, 0));
	/* changes are seen at once */
	alias("later@example.org", "bob@example.org");
	EXPECT("later@example.org", RESOLVE_OK, ids(bob, 0));
	CHECK_INT(accounts_alias_del(acc, "later@example.org", NULL, NULL), 0);
	EXPECT("later@example.org", RESOLVE_UNKNOWN_USER, "|");
	teardown();
}

static void
test_loops_and_limits(void)
{
	char a[64], t[64];
	int i;

	setup();
	alias("loop1@example.org", "loop2@example.org");
	alias("loop2@example.org", "loop3@example.org");
	alias("loop3@example.org", "loop1@example.org");
	EXPECT("loop1@example.org", RESOLVE_ALIAS_ERROR, "|");
	EXPECT("loop2@example.org", RESOLVE_ALIAS_ERROR, "|");
	CHECK_INT(resolve_check(acc, "loop3@example.org", NULL),
	    RESOLVE_ALIAS_ERROR);
	/* a loop through sub-addressing */
	alias("selfish@example.org", "selfish+x@example.org");
	EXPECT("selfish@example.org", RESOLVE_ALIAS_ERROR, "|");
	/* a loop through the catch-all */
	alias("@other.example", "nobody@other.example");
	EXPECT("whoever@other.example", RESOLVE_ALIAS_ERROR, "|");
	CHECK_INT(accounts_alias_del(acc, "@other.example", NULL, NULL), 0);

	/* depth: a chain of ALIAS_MAX_DEPTH aliases resolves, one more
	 * does not */
	for (i = 0; i < ALIAS_MAX_DEPTH - 1; i++) {
		snprintf(a, sizeof(a), "ca%d@example.org", i);
		snprintf(t, sizeof(t), "ca%d@example.org", i + 1);
		alias(a, t);
		snprintf(a, sizeof(a), "cb%d@example.org", i);
		snprintf(t, sizeof(t), "cb%d@example.org", i + 1);
		alias(a, t);
		snprintf(a, sizeof(a), "cc%d@example.org", i);
		snprintf(t, sizeof(t), "cc%d@example.org", i + 1);
		alias(a, t);
	}
	snprintf(a, sizeof(a), "ca%d@example.org", ALIAS_MAX_DEPTH - 1);
	alias(a, "alice@example.org");		/* ca: limit aliases */
	snprintf(a, sizeof(a), "cb%d@example.org", ALIAS_MAX_DEPTH - 1);
	snprintf(t, sizeof(t), "cb%d@example.org", ALIAS_MAX_DEPTH);
	alias(a, t);
	alias(t, "alice@example.org");		/* cb: limit + 1 */
	EXPECT("ca0@example.org", RESOLVE_OK, ids(alice, 0));
	EXPECT("ca1@example.org", RESOLVE_OK, ids(alice, 0));
	EXPECT("cb0@example.org", RESOLVE_ALIAS_ERROR, "|");
	EXPECT("cb1@example.org", RESOLVE_OK, ids(alice, 0));
	snprintf(a, sizeof(a), "cc%d@example.org", ALIAS_MAX_DEPTH - 2);
	alias(a, "bob@example.org");		/* cc: limit - 1 */
	EXPECT("cc0@example.org", RESOLVE_OK, ids(bob, 0));

	/* expansion: limit - 1, limit, limit + 1 targets */
	bulk_alias("big999@example.org", "r",
	    ALIAS_MAX_EXPANSION - 1);
	bulk_alias("big1000@example.org", "r",
	    ALIAS_MAX_EXPANSION);
	bulk_alias("big1001@example.org", "r",
	    ALIAS_MAX_EXPANSION + 1);
	{
		struct resolve_result r;

		CHECK_INT(resolve_expand(acc, "big999@example.org", &r),
		    RESOLVE_OK);
		CHECK_INT(r.nremote, ALIAS_MAX_EXPANSION - 1);
		resolve_result_fini(&r);
		CHECK_INT(resolve_expand(acc, "big1000@example.org", &r),
		    RESOLVE_OK);
		CHECK_INT(r.nremote, ALIAS_MAX_EXPANSION);
		resolve_result_fini(&r);
		CHECK_INT(resolve_expand(acc, "big1001@example.org", &r),
		    RESOLVE_ALIAS_ERROR);
		CHECK_INT(r.nremote, 0);
		CHECK(r.error != NULL && strstr(r.error, "more than") != NULL);
		resolve_result_fini(&r);
	}
	/* the total counts across nested lists too */
	alias("both@example.org", "big999@example.org");
	alias("both@example.org", "big1000@example.org");
	EXPECT("both@example.org", RESOLVE_ALIAS_ERROR, "|");
	teardown();
}

static void
test_subaddress(void)
{
	struct resolve_result r;

	setup();
	CHECK_INT(resolve_expand(acc, "Alice+News@Example.org", &r),
	    RESOLVE_OK);
	CHECK_INT(r.nlocal, 1);
	if (r.nlocal == 1) {
		CHECK_INT(r.local[0].user_id, alice);
		CHECK_STR(r.local[0].detail, "News");
		CHECK_STR(r.local[0].address, "Alice@example.org");
	}
	resolve_result_fini(&r);
	EXPECT("alice+@example.org", RESOLVE_OK, ids(alice, 0));
	EXPECT("alice+a+b@example.org", RESOLVE_OK, ids(alice, 0));
	EXPECT("+alice@example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT("nobody+x@example.org", RESOLVE_UNKNOWN_USER, "|");
	/* an exact alias beats sub-addressing */
	alias("bob+special@example.org", "carol@other.example");
	EXPECT("bob+special@example.org", RESOLVE_OK, ids(carol, 0));
	EXPECT("bob+other@example.org", RESOLVE_OK, ids(bob, 0));
	/* an alias with a tag */
	alias("team@example.org", "alice@example.org");
	alias("team@example.org", "bob@example.org");
	EXPECT("team+x@example.org", RESOLVE_OK, ids(alice, bob));
	teardown();
}

static void
test_catchall_postmaster(void)
{
	const char *err;

	setup();
	/* postmaster exists everywhere and goes to the first user */
	EXPECT("postmaster@example.org", RESOLVE_OK, ids(alice, 0));
	EXPECT("PostMaster@OTHER.example", RESOLVE_OK, ids(alice, 0));
	EXPECT("postmaster", RESOLVE_OK, ids(alice, 0));
	EXPECT("POSTMASTER", RESOLVE_OK, ids(alice, 0));
	CHECK_INT(accounts_domain_add(acc, "third.example", &err), 0);
	EXPECT("postmaster@third.example", RESOLVE_OK, ids(alice, 0));
	EXPECT("postmaster@remote.test", RESOLVE_NOT_LOCAL, "|");
	/* unless configured */
	alias("postmaster@other.example", "carol@other.example");
	EXPECT("postmaster@other.example", RESOLVE_OK, ids(carol, 0));
	EXPECT("postmaster@example.org", RESOLVE_OK, ids(alice, 0));
	/* the catch-all comes last */
	EXPECT("random@other.example", RESOLVE_UNKNOWN_USER, "|");
	alias("@other.example", "bob@example.org");
	alias("known@other.example", "alice@example.org");
	EXPECT("random@other.example", RESOLVE_OK, ids(bob, 0));
	EXPECT("RANDOM+tag@other.example", RESOLVE_OK, ids(bob, 0));
	EXPECT("known@other.example", RESOLVE_OK, ids(alice, 0));
	EXPECT("carol@other.example", RESOLVE_OK, ids(carol, 0));
	EXPECT("carol+x@other.example", RESOLVE_OK, ids(carol, 0));
	EXPECT("postmaster@other.example", RESOLVE_OK, ids(carol, 0));
	EXPECT("random@example.org", RESOLVE_UNKNOWN_USER, "|");
	/* the first user gone: postmaster follows the next one */
	CHECK_INT(accounts_user_del(acc, "alice@example.org", &err), 0);
	EXPECT("postmaster@example.org", RESOLVE_OK, ids(bob, 0));
	teardown();
}

static void
test_relay_tricks(void)
{
	char longaddr[400];

	setup();
	alias("@other.example", "carol@other.example");
	/* none of these may become remote, nor reach a user or catch-all */
	EXPECT("alice%remote.test@example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT("remote.test!alice@example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT("\"alice@remote.test\"@example.org", RESOLVE_UNKNOWN_USER,
	    "|");
	EXPECT("\"alice\"@example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT("alice@remote.test@example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT("@example.org,@relay.test:alice@example.org",
	    RESOLVE_UNKNOWN_USER, "|");
	EXPECT("x%remote.test@other.example", RESOLVE_UNKNOWN_USER, "|");
	EXPECT("x!y@other.example", RESOLVE_UNKNOWN_USER, "|");
	EXPECT("alice @example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT("ali\tce@example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT("@example.org", RESOLVE_UNKNOWN_USER, "|");
	/* the last '@' decides the domain */
	EXPECT("alice@example.org@remote.test", RESOLVE_NOT_LOCAL, "|");
	/* over-long input */
	memset(longaddr, 'a', 300);
	memcpy(longaddr + 300, "@example.org", 13);
	EXPECT(longaddr, RESOLVE_UNKNOWN_USER, "|");
	memset(longaddr, 'a', 65);
	memcpy(longaddr + 65, "@example.org", 13);
	EXPECT(longaddr, RESOLVE_UNKNOWN_USER, "|");
	teardown();
}

static void
test_expn(void)
{
	char want[128];

	setup();
	alias("team@example.org", "alice@example.org");
	alias("team@example.org", "sub@example.org");
	alias("sub@example.org", "bob@example.org");
	alias("sub@example.org", "z@remote.test");
	alias("@other.example", "carol@other.example");
	snprintf(want, sizeof(want), "%lld,%lld|z@remote.test",
	    (long long)alice, (long long)bob);
	EXPECT_EXPN("team@example.org", RESOLVE_OK, want);
	EXPECT_EXPN("team+x@example.org", RESOLVE_OK, want);
	EXPECT_EXPN("alice@example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT_EXPN("alice+x@example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT_EXPN("nobody@example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT_EXPN("random@other.example", RESOLVE_UNKNOWN_USER, "|");
	EXPECT_EXPN("postmaster@example.org", RESOLVE_UNKNOWN_USER, "|");
	EXPECT_EXPN("team@remote.test", RESOLVE_NOT_LOCAL, "|");
	teardown();
}

static const struct test_case cases[] = {
	TEST(test_users),
	TEST(test_aliases),
	TEST(test_loops_and_limits),
	TEST(test_subaddress),
	TEST(test_catchall_postmaster),
	TEST(test_relay_tricks),
	TEST(test_expn),
};

TEST_MAIN(cases)
