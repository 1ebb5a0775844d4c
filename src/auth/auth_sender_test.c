/*
 * auth_sender_test.c - unit tests for the sender rule of authenticated
 * accounts, on a real accounts database in a temporary directory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth_sender.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/accounts.h"
#include "../../tests/lib/test.h"

static void
test_sender_rule(void)
{
	char tmpl[] = "/tmp/postino-auth-sender-XXXXXX";
	const char *err = NULL;
	struct accounts *a;
	char *cmd;

	log_set_level(LOG_LEVEL_WARN);
	if (mkdtemp(tmpl) == NULL) {
		CHECK(!"mkdtemp");
		return;
	}
	a = accounts_open(tmpl, &err);
	if (!CHECK(a != NULL))
		return;
	CHECK_INT(accounts_user_add(a, "alice@x.test", NULL, NULL, &err), 0);
	CHECK_INT(accounts_user_add(a, "bob@x.test", NULL, NULL, &err), 0);
	CHECK_INT(accounts_alias_add(a, "sales@x.test", "alice@x.test", &err),
	    0);
	CHECK_INT(accounts_alias_add(a, "team@x.test", "alice@x.test", &err),
	    0);
	CHECK_INT(accounts_alias_add(a, "team@x.test", "bob@x.test", &err), 0);
	CHECK_INT(accounts_alias_add(a, "@x.test", "alice@x.test", &err), 0);
	CHECK_INT(accounts_alias_add(a, "old@x.test", "sales@x.test", &err),
	    0);

	/* own address, any case */
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "alice@x.test",
	    &err), 1);
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "ALICE@X.Test",
	    &err), 1);
	/* a direct alias, any case */
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "sales@x.test",
	    &err), 1);
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "Sales@X.TEST",
	    &err), 1);
	/* someone else's address or alias */
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "bob@x.test", &err),
	    0);
	CHECK_INT(auth_sender_allowed(a, "bob@x.test", "sales@x.test", &err),
	    0);
	/* a list, an alias of an alias, a catch-all, unknown, junk */
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "team@x.test",
	    &err), 0);
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "old@x.test", &err),
	    0);
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "anything@x.test",
	    &err), 0);
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "@x.test", &err), 0);
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "", &err), 0);
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "\"a b\"@x.test",
	    &err), 0);
	CHECK_INT(auth_sender_allowed(a, "alice@x.test", "no-at-sign", &err),
	    0);
	accounts_close(&a);
	cmd = xasprintf("rm -rf '%s'", tmpl);
	CHECK_INT(system(cmd), 0);
	free(cmd);
}

static const struct test_case cases[] = {
	TEST(test_sender_rule),
};

TEST_MAIN(cases)
