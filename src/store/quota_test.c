/*
 * quota_test.c - unit tests for the storage quota (RFC 9208) pieces
 * outside the mail store itself: the per-user limit in accounts.db (set,
 * read back by lookup and list, carried by recipient resolution, migrated
 * from a version-1 database), and the RCPT-time check of quota.c over
 * deliveries, expunges and a second handle.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/accounts.h"
#include "store/mailstore.h"
#include "store/quota.h"
#include "store/resolve.h"
#include "store/store_int.h"
#include "../../tests/lib/test.h"

static char *
tmpdir(void)
{
	char tmpl[] = "/tmp/postino-quota-XXXXXX";

	log_set_level(LOG_LEVEL_ERROR);
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	return xasprintf("%s/data", tmpl);
}

static void
cleanup(char *data_dir)
{
	char *top = xstrdup(data_dir);

	*strrchr(top, '/') = '\0';
	CHECK_INT(store_rmtree(top), 0);
	free(top);
	free(data_dir);
}

static void
test_limit(void)
{
	CHECK_INT(quota_limit(0, 0), 0);
	CHECK_INT(quota_limit(0, 100), 100);
	CHECK_INT(quota_limit(50, 100), 50);
	CHECK_INT(quota_limit(500, 0), 500);
}

struct qsum {
	int		n;
	uint64_t	q[4];
};

static void
sum_user(void *ctx, const struct accounts_user *u)
{
	struct qsum *s = ctx;

	if (s->n < 4)
		s->q[s->n++] = u->quota_bytes;
}

static void
test_accounts_quota(void)
{
	char *dir = tmpdir();
	struct accounts *a;
	struct accounts_user u;
	struct resolve_result r;
	struct qsum sum;
	const char *err = NULL;

	a = accounts_open(dir, &err);
	CHECK(a != NULL);
	if (a == NULL)
		return;
	CHECK_INT(accounts_user_add(a, "ann@q.test", NULL, NULL, &err), 0);
	CHECK_INT(accounts_user_add(a, "bob@q.test", NULL, NULL, &err), 0);
	CHECK_INT(accounts_alias_add(a, "team@q.test", "ann@q.test", &err), 0);
	CHECK_INT(accounts_user_lookup(a, "ann@q.test", &u, &err), 1);
	CHECK_INT(u.quota_bytes, 0);
	CHECK_INT(accounts_user_quota_set(a, "ANN@q.test", 1234567, &err), 0);
	CHECK_INT(accounts_user_lookup(a, "ann@q.test", &u, &err), 1);
	CHECK_INT(u.quota_bytes, 1234567);
	CHECK_INT(accounts_user_quota_set(a, "nobody@q.test", 1, &err), -1);
	CHECK_INT(accounts_user_quota_set(a, "bad address", 1, &err), -1);
	memset(&sum, 0, sizeof(sum));
	CHECK_INT(accounts_user_list(a, sum_user, &sum, &err), 0);
	CHECK_INT(sum.n, 2);
	CHECK_INT(sum.q[0], 1234567);
	CHECK_INT(sum.q[1], 0);
	/* resolution carries the limit, through aliases and sub-addresses */
	CHECK_INT(resolve_expand(a, "team@q.test", &r), RESOLVE_OK);
	CHECK_INT(r.nlocal, 1);
	if (r.nlocal == 1)
		CHECK_INT(r.local[0].quota_bytes, 1234567);
	resolve_result_fini(&r);
	CHECK_INT(resolve_expand(a, "ann+x@q.test", &r), RESOLVE_OK);
	if (r.nlocal == 1)
		CHECK_INT(r.local[0].quota_bytes, 1234567);
	resolve_result_fini(&r);
	/* back to the default */
	CHECK_INT(accounts_user_quota_set(a, "ann@q.test", 0, &err), 0);
	CHECK_INT(accounts_user_lookup(a, "ann@q.test", &u, &err), 1);
	CHECK_INT(u.quota_bytes, 0);
	accounts_close(&a);
	cleanup(dir);
}

/* an accounts.db of version 1 (no quota column) opens and gains it */
static void
test_accounts_migrate(void)
{
	char *dir = tmpdir(), *path;
	struct accounts *a;
	struct accounts_user u;
	sqlite3 *db;
	const char *err = NULL;

	a = accounts_open(dir, &err);
	CHECK(a != NULL);
	CHECK_INT(accounts_user_add(a, "old@q.test", NULL, NULL, &err), 0);
	accounts_close(&a);
	path = xasprintf("%s/accounts.db", dir);
	CHECK_INT(sqlite3_open(path, &db), SQLITE_OK);
	CHECK_INT(sqlite3_exec(db, "ALTER TABLE users DROP COLUMN quota_bytes;"
	    " PRAGMA user_version = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	a = accounts_open(dir, &err);
	CHECK(a != NULL);
	if (a != NULL) {
		CHECK_INT(accounts_user_lookup(a, "old@q.test", &u, &err), 1);
		CHECK_INT(u.quota_bytes, 0);
		CHECK_INT(accounts_user_quota_set(a, "old@q.test", 10, &err),
		    0);
		accounts_close(&a);
	}
	/* and again: a second open changes nothing */
	a = accounts_open(dir, &err);
	CHECK(a != NULL);
	if (a != NULL) {
		CHECK_INT(accounts_user_lookup(a, "old@q.test", &u, &err), 1);
		CHECK_INT(u.quota_bytes, 10);
		accounts_close(&a);
	}
	free(path);
	cleanup(dir);
}

static void
deliver_bytes(struct mailstore *ms, size_t len)
{
	struct mailstore_delivery d;
	char *data = xmalloc(len);
	const char *err = NULL;

	memset(data, 'a', len);
	memset(&d, 0, sizeof(d));
	d.fd = -1;
	d.data = data;
	d.size = len;
	CHECK_INT(mailstore_deliver(ms, &d, 1, &err), 0);
	free(data);
}

static void
test_rcpt_check(void)
{
	char *dir = tmpdir();
	struct accounts *a;
	struct mailstore *ms;
	int64_t id = 0;
	uint32_t uid = 1;
	size_t n;
	const char *err = NULL;

	a = accounts_open(dir, &err);
	CHECK(a != NULL);
	CHECK_INT(accounts_user_add(a, "full@q.test", NULL, &id, &err), 0);
	accounts_close(&a);
	ms = mailstore_open(dir, id, &err);
	CHECK(ms != NULL);
	if (ms == NULL)
		return;
	/* no limit: never full, not even looked at */
	CHECK_INT(quota_account_full(dir, id, 0, &err), 0);
	CHECK_INT(quota_account_full(dir, 999, 0, &err), 0);
	CHECK_INT(quota_account_full(dir, id, 100, &err), 0);
	deliver_bytes(ms, 60);
	CHECK_INT(quota_account_full(dir, id, 100, &err), 0);
	deliver_bytes(ms, 40);
	/* 100 of 100 bytes: full; the cached handle sees the new commit */
	CHECK_INT(quota_account_full(dir, id, 100, &err), 1);
	CHECK_INT(quota_account_full(dir, id, 101, &err), 0);
	CHECK_INT(mailstore_expunge(ms, "INBOX", &uid, 1, false, NULL, &n,
	    &err), 0);
	CHECK_INT(quota_account_full(dir, id, 100, &err), 0);
	/* an account without a store: an error, not "full" */
	CHECK_INT(quota_account_full(dir, 999, 100, &err), -1);
	/* many accounts: the cache evicts and reopens */
	for (n = 0; n < QUOTA_CACHE_STORES + 2; n++)
		(void)quota_account_full(dir, 1000 + (int64_t)n, 1, &err);
	CHECK_INT(quota_account_full(dir, id, 40, &err), 1);
	quota_cache_clear();
	CHECK_INT(quota_account_full(dir, id, 40, &err), 1);
	quota_cache_clear();
	mailstore_close(&ms);
	cleanup(dir);
}

static const struct test_case cases[] = {
	TEST(test_limit),
	TEST(test_accounts_quota),
	TEST(test_accounts_migrate),
	TEST(test_rcpt_check),
};

TEST_MAIN(cases)
