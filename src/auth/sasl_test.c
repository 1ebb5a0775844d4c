/*
 * sasl_test.c - unit tests for the SASL mechanisms: the RFC 7677
 * SCRAM-SHA-256 exchange byte for byte, PLAIN and LOGIN, wrong and
 * malformed credentials, channel binding, strict base64.
 */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "auth/sasl.h"
#include "lib/buf.h"
#include "lib/span.h"
#include "store/accounts.h"
#include "../../tests/lib/test.h"

/* RFC 7677 section 3 */
#define V_CLIENT_FIRST	"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define V_SNONCE	"%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define V_SERVER_FIRST	"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)" \
			"hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define V_CLIENT_FINAL	"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfu" \
			"xFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsq" \
			"mmiz7AndVQ="
#define V_SERVER_FINAL	"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static const uint8_t secret[] = "test secret";

static void
vector_keys(const char *password, struct sasl_scram_keys *k)
{
	struct buf salt;

	memset(k, 0, sizeof(*k));
	buf_init(&salt, 64);
	CHECK_INT(sasl_base64_decode(span_from_str("W22ZaJ0SNY7soEsUEjb6gQ=="),
	    &salt), 0);
	memcpy(k->salt, salt.data, salt.len);
	k->salt_len = salt.len;
	k->iterations = 4096;
	CHECK_INT(accounts_scram_derive(password, k->salt, k->salt_len,
	    k->iterations, k->stored_key, k->server_key), 0);
	buf_fini(&salt);
}

static enum sasl_status
step_str(struct sasl *s, const char *resp, struct buf *out)
{
	struct span r = span_from_str(resp);

	buf_reset(out);
	return sasl_step(s, &r, out);
}

static void
test_scram_rfc7677_vector(void)
{
	struct sasl_config cfg = { secret, sizeof(secret), NULL, V_SNONCE };
	struct sasl_scram_keys k;
	struct sasl *s;
	struct buf out;

	buf_init(&out, 4096);
	vector_keys("pencil", &k);
	s = sasl_new(SASL_MECH_SCRAM_SHA_256, &cfg);
	/* AUTH without an initial response: empty challenge first */
	CHECK_INT(sasl_step(s, NULL, &out), SASL_CONTINUE);
	CHECK_INT(out.len, 0);
	CHECK_INT(step_str(s, V_CLIENT_FIRST, &out), SASL_LOOKUP);
	CHECK_STR(sasl_user(s), "user");
	CHECK_INT(sasl_scram_done(s, &k, &out), SASL_CONTINUE);
	CHECK_STR(buf_cstr(&out), V_SERVER_FIRST);
	CHECK_INT(step_str(s, V_CLIENT_FINAL, &out), SASL_CONTINUE);
	CHECK_STR(buf_cstr(&out), V_SERVER_FINAL);
	CHECK_INT(step_str(s, "", &out), SASL_OK);
	sasl_free(&s);
	CHECK(s == NULL);
	buf_fini(&out);
}

static void
test_scram_wrong_password(void)
{
	struct sasl_config cfg = { secret, sizeof(secret), NULL, V_SNONCE };
	struct sasl_scram_keys k;
	struct sasl *s;
	struct buf out;

	buf_init(&out, 4096);
	vector_keys("pencil2", &k);	/* stored keys of another password */
	s = sasl_new(SASL_MECH_SCRAM_SHA_256, &cfg);
	CHECK_INT(step_str(s, V_CLIENT_FIRST, &out), SASL_LOOKUP);
	buf_reset(&out);
	CHECK_INT(sasl_scram_done(s, &k, &out), SASL_CONTINUE);
	CHECK_INT(step_str(s, V_CLIENT_FINAL, &out), SASL_FAIL);
	sasl_free(&s);
	buf_fini(&out);
}

static void
test_scram_unknown_user(void)
{
	struct sasl_config cfg = { secret, sizeof(secret), NULL, V_SNONCE };
	struct sasl *s;
	struct buf out, first;

	buf_init(&out, 4096);
	buf_init(&first, 4096);
	s = sasl_new(SASL_MECH_SCRAM_SHA_256, &cfg);
	CHECK_INT(step_str(s, V_CLIENT_FIRST, &out), SASL_LOOKUP);
	buf_reset(&out);
	CHECK_INT(sasl_scram_done(s, NULL, &out), SASL_CONTINUE);
	/* same shape as a real answer: nonce, 16-byte salt, 4096 */
	CHECK(span_starts_ci(buf_span(&out), "r=rOprNGfwEbeRWgbNEkqO"
	    V_SNONCE ",s="));
	CHECK(strstr(buf_cstr(&out), ",i=4096") != NULL);
	CHECK_INT(buf_append(&first, out.data, out.len), 0);
	CHECK_INT(step_str(s, V_CLIENT_FINAL, &out), SASL_FAIL);
	sasl_free(&s);
	/* deterministic: the same name gets the same salt again */
	s = sasl_new(SASL_MECH_SCRAM_SHA_256, &cfg);
	CHECK_INT(step_str(s, V_CLIENT_FIRST, &out), SASL_LOOKUP);
	buf_reset(&out);
	CHECK_INT(sasl_scram_done(s, NULL, &out), SASL_CONTINUE);
	CHECK_STR(buf_cstr(&out), buf_cstr(&first));
	sasl_free(&s);
	buf_fini(&out);
	buf_fini(&first);
}

/* without a configured secret the fake salt is still unpredictable */
static void
test_scram_unknown_user_no_secret(void)
{
	struct sasl_config cfg = { NULL, 0, NULL, V_SNONCE };
	struct sasl *s;
	struct buf out, salt;
	uint8_t mac[64];
	unsigned maclen = 0;
	static const uint8_t nokey[1];

	buf_init(&out, 4096);
	buf_init(&salt, 64);
	s = sasl_new(SASL_MECH_SCRAM_SHA_256, &cfg);
	CHECK_INT(step_str(s, V_CLIENT_FIRST, &out), SASL_LOOKUP);
	buf_reset(&out);
	CHECK_INT(sasl_scram_done(s, NULL, &out), SASL_CONTINUE);
	/* the salt is not HMAC(empty key, name) */
	HMAC(EVP_sha256(), nokey, 0, (const uint8_t *)"user", 4, mac,
	    &maclen);
	CHECK_INT(sasl_base64_encode(span_make(mac, 16), &salt), 0);
	CHECK(strstr(buf_cstr(&out), buf_cstr(&salt)) == NULL);
	sasl_free(&s);
	buf_fini(&out);
	buf_fini(&salt);
}

static void
test_scram_random_nonce(void)
{
	struct sasl_config cfg = { secret, sizeof(secret), NULL, NULL };
	struct sasl_scram_keys k;
	struct sasl *s;
	struct buf out;

	buf_init(&out, 4096);
	vector_keys("pencil", &k);
	s = sasl_new(SASL_MECH_SCRAM_SHA_256, &cfg);
	CHECK_INT(step_str(s, V_CLIENT_FIRST, &out), SASL_LOOKUP);
	buf_reset(&out);
	CHECK_INT(sasl_scram_done(s, &k, &out), SASL_CONTINUE);
	CHECK(span_starts_ci(buf_span(&out), "r=rOprNGfwEbeRWgbNEkqO"));
	/* client nonce (20) + 24 random characters, after "r=" */
	CHECK_INT(span_find(buf_span(&out), ','), 2 + 20 + 24);
	/* the vector's proof was made for another nonce */
	CHECK_INT(step_str(s, V_CLIENT_FINAL, &out), SASL_BAD);
	sasl_free(&s);
	buf_fini(&out);
}

static void
test_scram_malformed(void)
{
	static const char *const bad[] = {
		"", "n,", "n,,", "x,,n=user,r=abc", "n,,n=,r=abc",
		"n,,r=abc,n=user", "n,,n=user", "n,,n=user,r=",
		"n,,n=us=2Xer,r=abc", "n,,m=ext,n=user,r=abc",
		"n,,n=user,r=a,b", "p=tls-exporter,,n=user,r=abc",
		"n,x=y,n=user,r=abc",
	};
	struct sasl_config cfg = { secret, sizeof(secret), NULL, NULL };
	struct buf out;
	size_t i;

	buf_init(&out, 4096);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sasl *s = sasl_new(SASL_MECH_SCRAM_SHA_256, &cfg);

		if (!CHECK_INT(step_str(s, bad[i], &out), SASL_BAD))
			fprintf(stderr, "  case %zu: %s\n", i, bad[i]);
		sasl_free(&s);
	}
	buf_fini(&out);
}

static void
test_scram_authzid_and_names(void)
{
	struct sasl_config cfg = { secret, sizeof(secret), NULL, NULL };
	struct sasl *s;
	struct buf out;

	buf_init(&out, 4096);
	s = sasl_new(SASL_MECH_SCRAM_SHA_256, &cfg);
	CHECK_INT(step_str(s, "n,a=a=3Db@x,n=a=3Db@x,r=abc", &out),
	    SASL_LOOKUP);
	CHECK_STR(sasl_user(s), "a=b@x");
	sasl_free(&s);
	s = sasl_new(SASL_MECH_SCRAM_SHA_256, &cfg);
	CHECK_INT(step_str(s, "n,a=admin,n=user,r=abc", &out), SASL_FAIL);
	sasl_free(&s);
	s = sasl_new(SASL_MECH_SCRAM_SHA_256, &cfg);
	CHECK_INT(step_str(s, "n,,n=x=2Cy,r=abc", &out), SASL_LOOKUP);
	CHECK_STR(sasl_user(s), "x,y");
	sasl_free(&s);
	buf_fini(&out);
}

/* scram_client_final - computes a correct client-final for given keys */
static void
scram_client_final(const char *password, const char *cfb,
    const char *server_first, const char *cbind_b64, struct buf *out)
{
	struct sasl_scram_keys k;
	struct buf salt, am;
	uint8_t salted[32], ckey[32], skey[32], sig[64];
	unsigned siglen = 0, i;
	const char *sp = strstr(server_first, ",s=");
	const char *ip = strstr(server_first, ",i=");
	char nonce[256];

	memset(&k, 0, sizeof(k));
	buf_init(&salt, 64);
	CHECK_INT(sasl_base64_decode(span_make(sp + 3, (size_t)(ip - sp - 3)),
	    &salt), 0);
	PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt.data,
	    (int)salt.len, 4096, EVP_sha256(), 32, salted);
	HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Client Key", 10,
	    ckey, &siglen);
	SHA256(ckey, 32, skey);
	snprintf(nonce, sizeof(nonce), "%.*s", (int)(sp - server_first - 2),
	    server_first + 2);
	buf_init(&am, 8192);
	CHECK_INT(buf_printf(&am, "%s,%s,c=%s,r=%s", cfb, server_first,
	    cbind_b64, nonce), 0);
	HMAC(EVP_sha256(), skey, 32, am.data, am.len, sig, &siglen);
	for (i = 0; i < 32; i++)
		ckey[i] ^= sig[i];
	buf_reset(out);
	CHECK_INT(buf_printf(out, "c=%s,r=%s,p=", cbind_b64, nonce), 0);
	CHECK_INT(sasl_base64_encode(span_make(ckey, 32), out), 0);
	buf_fini(&am);
	buf_fini(&salt);
}

static void
test_scram_plus_channel_binding(void)
{
	static const uint8_t cbdata[32] = { 1, 2, 3, 4, 5 };
	struct sasl_channel_binding cb = { "tls-exporter", cbdata,
	    sizeof(cbdata) };
	struct sasl_config cfg = { secret, sizeof(secret), &cb, NULL };
	struct sasl_scram_keys k;
	struct buf out, cfin, cbind, hdr;
	struct sasl *s;
	enum sasl_mech m;
	char sf[512];
	int pass;

	CHECK(!sasl_mech_lookup(span_from_str("scram-sha-256-plus"), false,
	    &m));
	CHECK(sasl_mech_lookup(span_from_str("scram-sha-256-plus"), true,
	    &m));
	CHECK_INT(m, SASL_MECH_SCRAM_SHA_256_PLUS);
	CHECK_STR(sasl_mechanisms(true),
	    "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN");
	vector_keys("pencil", &k);
	buf_init(&out, 4096);
	buf_init(&cfin, 4096);
	buf_init(&cbind, 4096);
	buf_init(&hdr, 4096);
	for (pass = 0; pass < 2; pass++) {
		/* pass 0: right binding data; pass 1: a different one */
		uint8_t other[32] = { 9 };

		s = sasl_new(SASL_MECH_SCRAM_SHA_256_PLUS, &cfg);
		CHECK_INT(step_str(s, "p=tls-exporter,,n=user,r=cn0nce",
		    &out), SASL_LOOKUP);
		buf_reset(&out);
		CHECK_INT(sasl_scram_done(s, &k, &out), SASL_CONTINUE);
		snprintf(sf, sizeof(sf), "%s", buf_cstr(&out));
		buf_reset(&hdr);
		buf_reset(&cbind);
		CHECK_INT(buf_append_str(&hdr, "p=tls-exporter,,"), 0);
		CHECK_INT(buf_append(&hdr, pass == 0 ? cbdata : other, 32),
		    0);
		CHECK_INT(sasl_base64_encode(buf_span(&hdr), &cbind), 0);
		scram_client_final("pencil", "n=user,r=cn0nce", sf,
		    buf_cstr(&cbind), &cfin);
		buf_reset(&out);
		CHECK_INT(sasl_step(s, &(struct span){ cfin.data, cfin.len },
		    &out), pass == 0 ? SASL_CONTINUE : SASL_FAIL);
		if (pass == 0) {
			CHECK(span_starts_ci(buf_span(&out), "v="));
			CHECK_INT(step_str(s, "", &out), SASL_OK);
		}
		sasl_free(&s);
	}
	/* "y" while we offer binding: a stripped -PLUS, refused */
	s = sasl_new(SASL_MECH_SCRAM_SHA_256, &cfg);
	CHECK_INT(step_str(s, "y,,n=user,r=abc", &out), SASL_FAIL);
	sasl_free(&s);
	/* unknown binding type */
	s = sasl_new(SASL_MECH_SCRAM_SHA_256_PLUS, &cfg);
	CHECK_INT(step_str(s, "p=tls-unique,,n=user,r=abc", &out),
	    SASL_FAIL);
	sasl_free(&s);
	buf_fini(&out);
	buf_fini(&cfin);
	buf_fini(&cbind);
	buf_fini(&hdr);
}

static void
test_plain(void)
{
	struct sasl_config cfg = { secret, sizeof(secret), NULL, NULL };
	struct span r;
	struct sasl *s;
	struct buf out;

	buf_init(&out, 4096);
	s = sasl_new(SASL_MECH_PLAIN, &cfg);
	r = span_make("\0bob@x.test\0secret", 18);
	CHECK_INT(sasl_step(s, &r, &out), SASL_VERIFY);
	CHECK_STR(sasl_user(s), "bob@x.test");
	CHECK_STR(sasl_password(s), "secret");
	CHECK_INT(sasl_verify_done(s, true), SASL_OK);
	CHECK(sasl_password(s) == NULL);
	sasl_free(&s);

	s = sasl_new(SASL_MECH_PLAIN, &cfg);
	CHECK_INT(sasl_step(s, NULL, &out), SASL_CONTINUE);
	CHECK_INT(out.len, 0);
	r = span_make("Bob@x.test\0bob@x.test\0pw", 24);
	CHECK_INT(sasl_step(s, &r, &out), SASL_VERIFY);
	CHECK_INT(sasl_verify_done(s, false), SASL_FAIL);
	sasl_free(&s);

	/* authorization as someone else is not offered */
	s = sasl_new(SASL_MECH_PLAIN, &cfg);
	r = span_make("admin@x.test\0bob@x.test\0pw", 26);
	CHECK_INT(sasl_step(s, &r, &out), SASL_FAIL);
	sasl_free(&s);

	static const struct { const char *p; size_t n; } bad[] = {
		{ "", 0 }, { "bob", 3 }, { "\0bob", 4 }, { "\0\0pw", 4 },
		{ "\0bob\0", 5 }, { "\0bob\0pw\0", 8 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		s = sasl_new(SASL_MECH_PLAIN, &cfg);
		r = span_make(bad[i].p, bad[i].n);
		CHECK_INT(sasl_step(s, &r, &out), SASL_BAD);
		sasl_free(&s);
	}
	buf_fini(&out);
}

static void
test_plain_limits(void)
{
	struct sasl_config cfg = { secret, sizeof(secret), NULL, NULL };
	char in[2 + SASL_MAX_USER + 1 + SASL_MAX_PASSWORD + 1];
	size_t ulen, n;
	struct sasl *s;
	struct buf out;

	buf_init(&out, 4096);
	for (ulen = SASL_MAX_USER - 1; ulen <= SASL_MAX_USER + 1; ulen++) {
		in[0] = '\0';
		memset(in + 1, 'u', ulen);
		in[1 + ulen] = '\0';
		memcpy(in + 2 + ulen, "pw", 2);
		n = 4 + ulen;
		s = sasl_new(SASL_MECH_PLAIN, &cfg);
		CHECK_INT(sasl_step(s, &(struct span){ (uint8_t *)in, n },
		    &out), ulen <= SASL_MAX_USER ? SASL_VERIFY : SASL_BAD);
		sasl_free(&s);
	}
	buf_fini(&out);
}

static void
test_login(void)
{
	struct sasl_config cfg = { secret, sizeof(secret), NULL, NULL };
	struct sasl *s;
	struct buf out;

	buf_init(&out, 4096);
	s = sasl_new(SASL_MECH_LOGIN, &cfg);
	CHECK_INT(sasl_step(s, NULL, &out), SASL_CONTINUE);
	CHECK_STR(buf_cstr(&out), "Username:");
	CHECK_INT(step_str(s, "bob@x.test", &out), SASL_CONTINUE);
	CHECK_STR(buf_cstr(&out), "Password:");
	CHECK_INT(step_str(s, "secret", &out), SASL_VERIFY);
	CHECK_STR(sasl_user(s), "bob@x.test");
	CHECK_STR(sasl_password(s), "secret");
	CHECK_INT(sasl_verify_done(s, false), SASL_FAIL);
	sasl_free(&s);

	/* initial response carries the user name */
	s = sasl_new(SASL_MECH_LOGIN, &cfg);
	CHECK_INT(step_str(s, "bob@x.test", &out), SASL_CONTINUE);
	CHECK_STR(buf_cstr(&out), "Password:");
	CHECK_INT(step_str(s, "", &out), SASL_BAD);
	sasl_free(&s);
	buf_fini(&out);
}

static void
test_base64(void)
{
	static const struct { const char *in, *out; int rc; } cases[] = {
		{ "", "", 0 }, { "Zg==", "f", 0 }, { "Zm8=", "fo", 0 },
		{ "Zm9v", "foo", 0 }, { "Zm9vYg==", "foob", 0 },
		{ "Zm9", NULL, -1 }, { "Zg=", NULL, -1 }, { "Z===", NULL, -1 },
		{ "Zh==", NULL, -1 }, { "Zm9=", NULL, -1 },
		{ "Zg==Zg==", NULL, -1 }, { "Zm 9", NULL, -1 },
		{ "Zm9v\r\n", NULL, -1 }, { "=m9v", NULL, -1 },
	};
	struct buf b;
	size_t i;

	buf_init(&b, 64);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		buf_reset(&b);
		CHECK_INT(sasl_base64_decode(span_from_str(cases[i].in), &b),
		    cases[i].rc);
		if (cases[i].rc == 0) {
			CHECK_STR(buf_cstr(&b), cases[i].out);
			buf_reset(&b);
			CHECK_INT(sasl_base64_encode(
			    span_from_str(cases[i].out), &b), 0);
			CHECK_STR(buf_cstr(&b), cases[i].in);
		}
	}
	buf_fini(&b);
	buf_init(&b, 2);
	CHECK_INT(sasl_base64_decode(span_from_str("Zm9v"), &b), -2);
	buf_fini(&b);
}

static const struct test_case cases[] = {
	TEST(test_scram_rfc7677_vector),
	TEST(test_scram_wrong_password),
	TEST(test_scram_unknown_user),
	TEST(test_scram_unknown_user_no_secret),
	TEST(test_scram_random_nonce),
	TEST(test_scram_malformed),
	TEST(test_scram_authzid_and_names),
	TEST(test_scram_plus_channel_binding),
	TEST(test_plain),
	TEST(test_plain_limits),
	TEST(test_login),
	TEST(test_base64),
};

TEST_MAIN(cases)
