/*
 * dkim_signer_test.c - signing outbound mail with the From: domain's key
 * (policy/dkim_signer.c): which domain, which key, over-signed fields,
 * the signature verifying, and messages left unsigned.
 */
#include "policy/dkim_signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "policy/dkim.h"
#include "policy/dkim_keys.h"
#include "../../tests/lib/test.h"

static void
test_from_domain(void)
{
	static const struct {
		const char *msg;
		const char *domain;	/* NULL: none */
	} cases[] = {
		{ "From: Alice <alice@Example.ORG>\r\n\r\nbody\r\n",
		    "example.org" },
		{ "Subject: x\r\nfrom:\r\n  \"A, B\" (c) <a@sub.example.org>"
		    "\r\n\r\n", "sub.example.org" },
		{ "From: a@example.org, b@example.net\r\n\r\n", NULL },
		{ "From: a@example.org\r\nFrom: b@example.org\r\n\r\n", NULL },
		{ "To: a@example.org\r\n\r\nFrom: a@example.org\r\n", NULL },
		{ "From: undisclosed\r\n\r\n", NULL },
		{ "From: group: a@example.org;\r\n\r\n", "example.org" },
		{ "\r\nFrom: a@example.org\r\n", NULL },
	};
	char out[254];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = dkim_signer_from_domain(cases[i].msg,
		    strlen(cases[i].msg), out);

		if (cases[i].domain == NULL) {
			if (!CHECK_INT(r, -1))
				fprintf(stderr, "  case %zu gave %s\n", i, out);
		} else if (CHECK_INT(r, 0)) {
			CHECK_STR(out, cases[i].domain);
		}
	}
}

static char *
make_data_dir(void)
{
	char tmpl[] = "/tmp/dkim_signer_test.XXXXXX";
	char *d = mkdtemp(tmpl);

	ASSERT(d != NULL);
	return xstrdup(d);
}

static void
rm_rf(const char *dir)
{
	char *cmd = xasprintf("rm -rf '%s'", dir);

	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	free(cmd);
}

/* verify - our own verifier with the key record given directly */
static enum dkim_status
verify(const char *msg, size_t len, const char *record, const char *name)
{
	struct dkim_verify *v = dkim_verify_new(msg, len, time(NULL));
	enum dkim_status st = DKIM_PERMERROR;
	size_t i;

	for (i = 0; i < dkim_verify_nkeys(v); i++) {
		const char *txt[1] = { record };

		if (strcmp(dkim_verify_key_name(v, i), name) == 0)
			dkim_verify_key_answer(v, i, DNS_OK, txt, 1);
		else
			dkim_verify_key_answer(v, i, DNS_NXDOMAIN, NULL, 0);
	}
	dkim_verify_finish(v);
	if (dkim_verify_nresults(v) == 1)
		st = dkim_verify_result(v, 0)->result;
	dkim_verify_free(&v);
	return st;
}

static void
test_sign(void)
{
	static const char msg[] =
	    "From: Alice <alice@example.org>\r\n"
	    "To: bob@example.net\r\n"
	    "Subject: hello\r\n"
	    "Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n"
	    "Message-ID: <1@example.org>\r\n"
	    "\r\n"
	    "Hi Bob.\r\n";
	char *dir = make_data_dir();
	const char *err = NULL, *why = NULL;
	EVP_PKEY *k1, *k2;
	struct buf sig, rec, full;
	char dom[254], sel[64];

	k1 = dkim_keys_generate(DKIM_KEY_RSA, 1024, &err);
	k2 = dkim_keys_generate(DKIM_KEY_ED25519, 0, &err);
	ASSERT(k1 != NULL && k2 != NULL);
	buf_init(&sig, 1 << 16);
	buf_init(&rec, 1 << 16);
	buf_init(&full, 1 << 16);

	/* no key yet: not signed, no error */
	CHECK_INT(dkim_signer_sign(dir, NULL, msg, strlen(msg), time(NULL),
	    &sig, dom, sel, &why), 0);
	CHECK_STR(why, "no DKIM key for this domain");
	CHECK_INT(sig.len, 0);

	CHECK_INT(dkim_keys_save(dir, "example.org", "old", k1, &err), 0);
	usleep(20 * 1000);	/* the newer file wins */
	CHECK_INT(dkim_keys_save(dir, "example.org", "new", k2, &err), 0);

	/* the newest key */
	CHECK_INT(dkim_signer_sign(dir, NULL, msg, strlen(msg), time(NULL),
	    &sig, dom, sel, &why), 1);
	CHECK_STR(dom, "example.org");
	CHECK_STR(sel, "new");
	CHECK(strncmp((const char *)sig.data, "DKIM-Signature:", 15) == 0);
	CHECK(strstr((const char *)sig.data, "a=ed25519-sha256") != NULL);
	/* over-signed: each present field once more */
	CHECK(strstr((const char *)sig.data, "from : from") != NULL ||
	    strstr((const char *)sig.data, "from:from") != NULL);
	CHECK_INT(dkim_key_record(k2, &rec, &err), 0);
	CHECK_INT(buf_append(&full, sig.data, sig.len), 0);
	CHECK_INT(buf_append(&full, msg, strlen(msg)), 0);
	CHECK_INT(verify((const char *)full.data, full.len, buf_cstr(&rec),
	    "new._domainkey.example.org"), DKIM_PASS);
	/* a second From: added below the signature breaks it */
	{
		char *tampered = xasprintf("%.*sFrom: mallory@example.org\r\n%s",
		    (int)sig.len, (const char *)sig.data, msg);

		CHECK_INT(verify(tampered, strlen(tampered), buf_cstr(&rec),
		    "new._domainkey.example.org"), DKIM_FAIL);
		free(tampered);
	}

	/* a named selector */
	buf_reset(&sig);
	buf_reset(&rec);
	buf_reset(&full);
	CHECK_INT(dkim_signer_sign(dir, "old", msg, strlen(msg), time(NULL),
	    &sig, NULL, sel, &why), 1);
	CHECK_STR(sel, "old");
	CHECK(strstr((const char *)sig.data, "a=rsa-sha256") != NULL);
	CHECK_INT(dkim_key_record(k1, &rec, &err), 0);
	CHECK_INT(buf_append(&full, sig.data, sig.len), 0);
	CHECK_INT(buf_append(&full, msg, strlen(msg)), 0);
	CHECK_INT(verify((const char *)full.data, full.len, buf_cstr(&rec),
	    "old._domainkey.example.org"), DKIM_PASS);

	/* a selector without a file: not signed */
	buf_reset(&sig);
	CHECK_INT(dkim_signer_sign(dir, "nosuch", msg, strlen(msg), time(NULL),
	    &sig, NULL, NULL, &why), 0);
	CHECK_INT(sig.len, 0);

	/* another domain, and no usable From: */
	CHECK_INT(dkim_signer_sign(dir, NULL, "From: a@example.net\r\n\r\nx\r\n",
	    26, time(NULL), &sig, NULL, NULL, &why), 0);
	CHECK_INT(dkim_signer_sign(dir, NULL, "Subject: x\r\n\r\nx\r\n", 17,
	    time(NULL), &sig, NULL, NULL, &why), 0);
	CHECK_STR(why, "no single From: address with a domain");
	CHECK_INT(sig.len, 0);

	/* an unreadable key file is an error (sent unsigned by the caller) */
	{
		char *p = dkim_keys_path(dir, "example.org", "bad");
		FILE *f = fopen(p, "w");

		ASSERT(f != NULL);
		fputs("not a key\n", f);
		fclose(f);
		CHECK_INT(dkim_signer_sign(dir, "bad", msg, strlen(msg),
		    time(NULL), &sig, NULL, NULL, &why), -1);
		CHECK_STR(why, "cannot parse the key file");
		free(p);
	}

	buf_fini(&sig);
	buf_fini(&rec);
	buf_fini(&full);
	EVP_PKEY_free(k1);
	EVP_PKEY_free(k2);
	rm_rf(dir);
	free(dir);
}

static const struct test_case cases[] = {
	TEST(test_from_domain),
	TEST(test_sign),
};

TEST_MAIN(cases)
