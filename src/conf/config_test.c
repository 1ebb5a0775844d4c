/*
 * config_test.c - unit tests for the INI reader and the settings table.
 */
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "policy/policy.h"
#include "../../tests/lib/test.h"

static struct config *
parse(const char *text, char **err)
{
	*err = NULL;
	return config_parse("t.conf", text, strlen(text), err);
}

static void
test_defaults(void)
{
	char *err;
	struct config *c = parse("", &err);

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK_INT(c->retry_first, 300);
	CHECK_INT(c->lifetime, 5 * 86400);
	CHECK_INT(c->smtp_port, 25);
	CHECK_INT(c->max_message_size, 50 * 1024 * 1024);
	CHECK_INT(c->smtp.n, 0);
	config_free(&c);
}

static void
test_full(void)
{
	char *err;
	struct config *c = parse(
	    "; comment\n"
	    "[server]\n"
	    "hostname = mail.example.test\r\n"
	    "data_dir = /var/lib/postino   ; trailing comment\n"
	    "\n"
	    "[listen]\n"
	    "smtp = 127.0.0.1:25 [::1]:2525\n"
	    "[dns]\n"
	    "servers =      ; empty\n"
	    "[queue]\n"
	    "retry_first = 30s\n"
	    "retry_max = 2h\n"
	    "[smtp]\n"
	    "expn = yes\n", &err);

	CHECK(c != NULL);
	if (c == NULL) {
		CHECK_STR(err, "");
		free(err);
		return;
	}
	CHECK_STR(c->hostname, "mail.example.test");
	CHECK_STR(c->data_dir, "/var/lib/postino");
	CHECK_INT(c->smtp.n, 2);
	CHECK_STR(c->smtp.host[0], "127.0.0.1");
	CHECK_INT(c->smtp.port[0], 25);
	CHECK_STR(c->smtp.host[1], "::1");
	CHECK_INT(c->smtp.port[1], 2525);
	CHECK_STR(c->dns_servers, "");
	CHECK_INT(c->retry_first, 30);
	CHECK_INT(c->retry_max, 7200);
	CHECK(c->expn);
	config_free(&c);
}

static void
test_errors(void)
{
	static const struct {
		const char *text;
		const char *error;
	} cases[] = {
		{ "[server]\nhostnme = x\n",
		    "t.conf:2: [server] hostnme: unknown key" },
		{ "[srv]\nhostname = x\n",
		    "t.conf:2: [srv] hostname: unknown section" },
		{ "hostname = x\n",
		    "t.conf:1: key 'hostname' outside of any section" },
		{ "[queue]\nretry_first = 5x\n",
		    "t.conf:2: [queue] retry_first: expected a duration such "
		    "as 30s, 5m, 1h, 5d" },
		{ "[listen]\nsmtp = 127.0.0.1\n",
		    "t.conf:2: [listen] smtp: expected ADDR:PORT" },
		{ "[listen]\nsmtp = 127.0.0.1:70000\n",
		    "t.conf:2: [listen] smtp: invalid port" },
		{ "[server]\nhostname = a\nhostname = b\n",
		    "t.conf:3: [server] hostname: duplicate key" },
		{ "[server\n", "t.conf:1: malformed section header" },
		{ "[server]\njunk\n", "t.conf:2: expected 'key = value'" },
		{ "[smtp]\nvrfy = maybe\n",
		    "t.conf:2: [smtp] vrfy: expected yes or no" },
		{ "[server]\ndata_dir = relative\n",
		    "t.conf: [server] data_dir: must be an absolute path" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *err;
		struct config *c = parse(cases[i].text, &err);

		CHECK(c == NULL);
		config_free(&c);
		CHECK_STR(err, cases[i].error);
		free(err);
	}
}

/* [policy] and [dkim] (docs/policy.md, docs/dkim.md) */
static void
test_policy_keys(void)
{
	static const struct {
		const char *text;
		const char *error;	/* NULL: accepted */
	} bad[] = {
		{ "[policy]\nspf_fail = bounce\n", "t.conf:2: [policy] "
		    "spf_fail: expected accept, junk, tempfail or reject" },
		{ "[policy]\ndmarc_reject = \n", "t.conf:2: [policy] "
		    "dmarc_reject: expected accept, junk, tempfail or reject" },
		{ "[policy]\nspf = maybe\n",
		    "t.conf:2: [policy] spf: expected yes or no" },
		{ "[policy]\ntrusted_networks = 10.0.0.0/33\n",
		    "t.conf: [policy] trusted_networks: invalid network "
		    "prefix length" },
		{ "[policy]\ntrusted_networks = 10.0.0.0/8, mail.example\n",
		    "t.conf: [policy] trusted_networks: invalid network "
		    "address" },
		{ "[dkim]\nselector = ../x\n", "t.conf: [dkim] selector: "
		    "letters, digits, '-', '_' and dots" },
		{ "[policy]\nspf_none = reject\nspf_none = junk\n",
		    "t.conf:3: [policy] spf_none: duplicate key" },
	};
	char *err;
	struct config *c = parse("", &err);
	size_t i;

	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(c->policy_spf && c->policy_dkim && c->policy_dmarc);
	CHECK_INT(c->policy_spf_fail, POLICY_REJECT);
	CHECK_INT(c->policy_spf_softfail, POLICY_JUNK);
	CHECK_INT(c->policy_spf_neutral, POLICY_JUNK);
	CHECK_INT(c->policy_spf_none, POLICY_JUNK);
	CHECK_INT(c->policy_spf_permerror, POLICY_JUNK);
	CHECK_INT(c->policy_spf_temperror, POLICY_TEMPFAIL);
	CHECK(c->policy_dkim_overrides_spf);
	CHECK_INT(c->policy_dmarc_reject, POLICY_REJECT);
	CHECK_INT(c->policy_dmarc_quarantine, POLICY_JUNK);
	CHECK_INT(c->policy_dmarc_temperror, POLICY_TEMPFAIL);
	CHECK_STR(c->policy_trusted_networks, "127.0.0.0/8 ::1");
	CHECK(c->dkim_sign);
	CHECK_STR(c->dkim_selector, "");
	config_free(&c);

	c = parse("[policy]\n"
	    "spf = no\n"
	    "dmarc = off\n"
	    "spf_none = REJECT\n"
	    "spf_fail = junk\n"
	    "spf_temperror = accept\n"
	    "dmarc_quarantine = reject\n"
	    "dkim_overrides_spf = no\n"
	    "trusted_networks = none\n"
	    "[dkim]\n"
	    "sign = no\n"
	    "selector = p202611\n", &err);
	CHECK(c != NULL);
	if (c == NULL) {
		CHECK_STR(err, "");
		free(err);
		return;
	}
	CHECK(!c->policy_spf && c->policy_dkim && !c->policy_dmarc);
	CHECK_INT(c->policy_spf_none, POLICY_REJECT);
	CHECK_INT(c->policy_spf_fail, POLICY_JUNK);
	CHECK_INT(c->policy_spf_temperror, POLICY_ACCEPT);
	CHECK_INT(c->policy_dmarc_quarantine, POLICY_REJECT);
	CHECK(!c->policy_dkim_overrides_spf);
	CHECK_STR(c->policy_trusted_networks, "none");
	CHECK(!c->dkim_sign);
	CHECK_STR(c->dkim_selector, "p202611");
	config_free(&c);

	c = parse("[policy]\ntrusted_networks = 192.0.2.0/24,2001:db8::/32 "
	    "10.1.2.3\n", &err);
	CHECK(c != NULL);
	config_free(&c);
	free(err);

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		c = parse(bad[i].text, &err);
		CHECK(c == NULL);
		config_free(&c);
		CHECK_STR(err, bad[i].error);
		free(err);
	}
}

static const struct test_case cases[] = {
	TEST(test_policy_keys),
	TEST(test_defaults),
	TEST(test_full),
	TEST(test_errors),
};

TEST_MAIN(cases)
