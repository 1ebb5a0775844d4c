/*
 * auth_throttle_test.c - unit tests for the failed-login counters: delay
 * and block thresholds at limit-1/limit/limit+1, expiry, success, the
 * per-account counter across addresses, the memory bound.
 */
#include <stdio.h>
#include <string.h>

#include "auth/auth_throttle.h"
#include "../../tests/lib/test.h"

static struct auth_throttle *
make(void)
{
	struct auth_throttle_config c;

	auth_throttle_defaults(&c);
	c.addr.delay_after = 3;
	c.addr.block_after = 5;
	c.account.delay_after = 4;
	c.account.block_after = 8;
	c.delay_ms = 100;
	c.max_delay_ms = 400;
	c.window_ms = 10000;
	c.block_ms = 60000;
	c.max_entries = 16;
	return auth_throttle_new(&c);
}

static void
test_addr_thresholds(void)
{
	struct auth_throttle *t = make();
	uint64_t d = 99, now = 1000;
	unsigned i;

	CHECK_INT(auth_throttle_check(t, "192.0.2.1", NULL, now, &d),
	    AUTH_THROTTLE_ALLOW);
	CHECK_INT(d, 0);
	/* 2 failures (delay_after - 1): still at once */
	for (i = 0; i < 2; i++)
		CHECK(!auth_throttle_failure(t, "192.0.2.1", "u@x", now));
	CHECK_INT(auth_throttle_check(t, "192.0.2.1", NULL, now, &d),
	    AUTH_THROTTLE_ALLOW);
	/* 3rd (the limit): delayed by delay_ms */
	CHECK(!auth_throttle_failure(t, "192.0.2.1", "v@x", now));
	CHECK_INT(auth_throttle_check(t, "192.0.2.1", NULL, now, &d),
	    AUTH_THROTTLE_DELAY);
	CHECK_INT(d, 100);
	/* 4th: doubled */
	CHECK(!auth_throttle_failure(t, "192.0.2.1", "w@x", now));
	CHECK_INT(auth_throttle_check(t, "192.0.2.1", NULL, now, &d),
	    AUTH_THROTTLE_DELAY);
	CHECK_INT(d, 200);
	/* 5th: blocked, and the failure says so once */
	CHECK(auth_throttle_failure(t, "192.0.2.1", "x@x", now));
	CHECK_INT(auth_throttle_check(t, "192.0.2.1", NULL, now, &d),
	    AUTH_THROTTLE_BLOCK);
	CHECK_INT(d, 0);
	CHECK(!auth_throttle_failure(t, "192.0.2.1", "y@x", now));
	/* another address is not affected */
	CHECK_INT(auth_throttle_check(t, "192.0.2.2", NULL, now, &d),
	    AUTH_THROTTLE_ALLOW);
	/* still blocked just before block_ms after the last failure */
	CHECK_INT(auth_throttle_check(t, "192.0.2.1", NULL, now + 59999, &d),
	    AUTH_THROTTLE_BLOCK);
	/* and free again after it: the counter is gone */
	CHECK_INT(auth_throttle_check(t, "192.0.2.1", NULL, now + 60000, &d),
	    AUTH_THROTTLE_ALLOW);
	auth_throttle_free(&t);
	CHECK(t == NULL);
}

static void
test_delay_cap(void)
{
	struct auth_throttle_config c;
	struct auth_throttle *t;
	uint64_t d = 0;
	unsigned i;

	auth_throttle_defaults(&c);
	c.addr.delay_after = 1;
	c.addr.block_after = 0;		/* never block */
	c.account.delay_after = 100;
	c.delay_ms = 100;
	c.max_delay_ms = 300;
	t = auth_throttle_new(&c);
	for (i = 0; i < 50; i++)
		CHECK(!auth_throttle_failure(t, "a", NULL, 0));
	CHECK_INT(auth_throttle_check(t, "a", NULL, 1, &d),
	    AUTH_THROTTLE_DELAY);
	CHECK_INT(d, 300);
	auth_throttle_free(&t);
}

static void
test_account_across_addresses(void)
{
	struct auth_throttle *t = make();
	uint64_t d = 0;
	char addr[32];
	unsigned i;

	/* a distributed guess: each address fails once, the account adds up */
	for (i = 0; i < 7; i++) {
		snprintf(addr, sizeof(addr), "198.51.100.%u", i);
		CHECK(!auth_throttle_failure(t, addr, "Bob@X.test", 5));
	}
	CHECK_INT(auth_throttle_check(t, "203.0.113.9", "bob@x.test", 5, &d),
	    AUTH_THROTTLE_DELAY);
	CHECK_INT(d, 400);	/* 100 doubled 3 times, at the cap */
	CHECK(auth_throttle_failure(t, "203.0.113.9", "BOB@x.test", 5));
	CHECK_INT(auth_throttle_check(t, "203.0.113.10", "bob@x.test", 6,
	    &d), AUTH_THROTTLE_BLOCK);
	/* other accounts from a fresh address are fine */
	CHECK_INT(auth_throttle_check(t, "203.0.113.10", "amy@x.test", 6,
	    &d), AUTH_THROTTLE_ALLOW);
	auth_throttle_free(&t);
}

static void
test_success_clears_account_only(void)
{
	struct auth_throttle *t = make();
	uint64_t d = 0;
	unsigned i;

	for (i = 0; i < 4; i++)
		auth_throttle_failure(t, "192.0.2.7", "bob@x", 0);
	CHECK_INT(auth_throttle_check(t, NULL, "bob@x", 0, &d),
	    AUTH_THROTTLE_DELAY);
	auth_throttle_success(t, "192.0.2.7", "bob@x", 0);
	CHECK_INT(auth_throttle_check(t, NULL, "bob@x", 0, &d),
	    AUTH_THROTTLE_ALLOW);
	CHECK_INT(auth_throttle_check(t, "192.0.2.7", NULL, 0, &d),
	    AUTH_THROTTLE_DELAY);
	auth_throttle_free(&t);
}

static void
test_window_expiry(void)
{
	struct auth_throttle *t = make();
	uint64_t d = 0;

	auth_throttle_failure(t, "192.0.2.1", NULL, 0);
	auth_throttle_failure(t, "192.0.2.1", NULL, 0);
	auth_throttle_failure(t, "192.0.2.1", NULL, 0);
	CHECK_INT(auth_throttle_check(t, "192.0.2.1", NULL, 59999, &d),
	    AUTH_THROTTLE_DELAY);
	/* window (10 s) and block period (60 s) both over: forgotten */
	CHECK_INT(auth_throttle_check(t, "192.0.2.1", NULL, 60000, &d),
	    AUTH_THROTTLE_ALLOW);
	CHECK_INT(auth_throttle_count(t), 0);
	auth_throttle_free(&t);
}

static void
test_bounded_memory(void)
{
	struct auth_throttle *t = make();	/* max_entries 16 */
	char addr[32];
	uint64_t d;
	unsigned i;

	/* the blocked address stays while it is the one being touched */
	for (i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "10.0.%u.%u", i / 256, i % 256);
		auth_throttle_failure(t, addr, NULL, i);
		CHECK(auth_throttle_count(t) <= 16);
		if (i % 4 == 0)
			auth_throttle_failure(t, "192.0.2.66", NULL, i);
	}
	CHECK_INT(auth_throttle_count(t), 16);
	CHECK_INT(auth_throttle_check(t, "192.0.2.66", NULL, 1000, &d),
	    AUTH_THROTTLE_BLOCK);
	/* the oldest went first */
	CHECK_INT(auth_throttle_check(t, "10.0.0.0", NULL, 1000, &d),
	    AUTH_THROTTLE_ALLOW);
	auth_throttle_free(&t);
}

static void
test_long_and_empty_keys(void)
{
	struct auth_throttle *t = make();
	char big[2000];
	uint64_t d;
	unsigned i;

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (i = 0; i < 5; i++)
		auth_throttle_failure(t, "", big, 0);
	CHECK_INT(auth_throttle_count(t), 1);	/* "" is not counted */
	CHECK_INT(auth_throttle_check(t, NULL, big, 0, &d),
	    AUTH_THROTTLE_DELAY);
	auth_throttle_free(&t);
	auth_throttle_free(&t);		/* NULL: no-op */
}

static const struct test_case cases[] = {
	TEST(test_addr_thresholds),
	TEST(test_delay_cap),
	TEST(test_account_across_addresses),
	TEST(test_success_clears_account_only),
	TEST(test_window_expiry),
	TEST(test_bounded_memory),
	TEST(test_long_and_empty_keys),
};

TEST_MAIN(cases)
