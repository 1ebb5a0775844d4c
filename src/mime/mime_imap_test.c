/*
 * mime_imap_test.c - ENVELOPE / BODY / BODYSTRUCTURE against Dovecot.
 *
 * For every message of the corpus, the output must equal, byte for byte,
 * what Dovecot 2.3.19 sent for it (tests/data/mime/dovecot, made by
 * tests/mime/make_dovecot_fixtures.py), except for the differences listed
 * in `diffs` below, each with its reason and postino's exact output.
 */
#include <dirent.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/xmalloc.h"
#include "mime/mime_imap.h"
#include "mime/mime_parse.h"
#include "../../tests/lib/test.h"

#define FIXTURES "tests/data/mime/dovecot"

struct diff {
	const char	*fixture;	/* fixture base name */
	const char	*item;		/* "bodystructure", "body", ... */
	const char	*ours;		/* postino's output */
	const char	*why;
};

static const struct diff diffs[] = {
	{ "shared__python-email__msg_33.txt", "bodystructure",
	  "((\"text\" \"plain\" (\"charset*\" \"ansi-x3.4-1968''us-ascii\") "
	  "NIL NIL \"quoted-printable\" 8 1 NIL (\"inline\" NIL) NIL NIL)"
	  "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 8 1"
	  " NIL (\"inline\" NIL) NIL NIL) \"signed\" (\"boundary*\" "
	  "\"ansi-x3.4-1968''EeQfGwPcQSOJBaQU\" \"micalg*\" "
	  "\"ansi-x3.4-1968''pgp-md5\" \"protocol*\" "
	  "\"ansi-x3.4-1968''application%2Fpgp-signature\") (\"inline\" NIL)"
	  " NIL NIL)",
	  "the boundary is given only as RFC 2231 boundary*=; Dovecot does "
	  "not decode it and sees no parts, postino (like Python's email "
	  "and RFC 2231 section 4) finds both parts" },
	{ "shared__python-email__msg_33.txt", "body",
	  "((\"text\" \"plain\" (\"charset*\" \"ansi-x3.4-1968''us-ascii\") "
	  "NIL NIL \"quoted-printable\" 8 1)(\"text\" \"plain\" (\"charset\" "
	  "\"us-ascii\") NIL NIL \"7bit\" 8 1) \"signed\")",
	  "same as above" },
	{ "shared__rfc-examples__008.eml", "bodystructure",
	  "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 54 0 "
	  "NIL NIL NIL NIL)(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 1194"
	  " (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" "
	  "(\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) 15"
	  " NIL (\"attachment\" (\"filename\" \"attached_email.eml\")) NIL NIL)"
	  " \"mixed\" (\"boundary\" \"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	  "\") NIL NIL NIL)",
	  "the message ends with the close delimiter and no line break, after "
	  "a base64 message/rfc822 part; Dovecot counts the line break before "
	  "that delimiter into the part (1196 octets, 16 lines), postino gives "
	  "it to the delimiter as RFC 2046 section 5.1.1 says (1194, 15), as "
	  "Dovecot itself does for every other delimiter" },
	{ "shared__rfc-examples__008.eml", "body",
	  "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 54 0)"
	  "(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 1194 (NIL NIL NIL NIL"
	  " NIL NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" "
	  "\"us-ascii\") NIL NIL \"7bit\" 0 0) 15) \"mixed\")",
	  "same as above" },
	{ "local__20-obsolete-syntax.eml", "bodystructure",
	  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 3 1 "
	  "NIL NIL NIL NIL)",
	  "Content-Type: TEXT/PLAIN (plain text); CHARSET=US-ASCII (ascii): "
	  "Dovecot rejects the comments and falls back to the default type; "
	  "RFC 2045 section 5.1 allows comments there, so postino keeps the "
	  "declared type and charset (Python's email agrees)" },
	{ "local__20-obsolete-syntax.eml", "body",
	  "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" "
	  "3 1)",
	  "same as above" },
};

static char *
read_all(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	uint8_t tmp[8192];
	size_t n;

	if (f == NULL)
		return NULL;
	buf_init(&b, 1 << 26);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (buf_append(&b, tmp, n) < 0)
			break;
	}
	fclose(f);
	if (buf_append_byte(&b, 0) < 0) {
		buf_fini(&b);
		return NULL;
	}
	*len_r = b.len - 1;
	return (char *)b.data;
}

/* message_path - where the corpus message of a fixture lives. */
static char *
message_path(const char *base)
{
	char *rel = xstrdup(base), *p, *out;

	while ((p = strstr(rel, "__")) != NULL) {
		*p = '/';
		memmove(p + 1, p + 2, strlen(p + 2) + 1);
	}
	if (strncmp(rel, "shared/", 7) == 0)
		out = xasprintf("%s/mime/%s", test_shared_data(), rel + 7);
	else
		out = xasprintf("tests/data/mime/%s", rel);
	free(rel);
	return out;
}

static void
compare(const char *base, const char *item, struct buf *ours)
{
	char *path = xasprintf("%s/%s.%s", FIXTURES, base, item), *exp;
	size_t elen, i;

	exp = read_all(path, &elen);
	if (!CHECK(exp != NULL)) {
		free(path);
		return;
	}
	for (i = 0; i < sizeof(diffs) / sizeof(diffs[0]); i++) {
		if (strcmp(diffs[i].fixture, base) == 0 &&
		    strcmp(diffs[i].item, item) == 0) {
			/* a recorded difference: still exact, both ways */
			CHECK(elen != ours->len ||
			    memcmp(exp, ours->data, elen) != 0);
			CHECK_MEM(ours->data, ours->len, diffs[i].ours,
			    strlen(diffs[i].ours));
			free(exp);
			free(path);
			return;
		}
	}
	if (!CHECK_MEM(ours->data, ours->len, exp, elen))
		fprintf(stderr, "  (fixture %s)\n", path);
	free(exp);
	free(path);
}

static void
test_dovecot_fixtures(void)
{
	DIR *d = opendir(FIXTURES);
	struct dirent *e;
	unsigned n = 0;

	if (!CHECK(d != NULL))
		return;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), mlen;
		char *base, *mpath, *msg, *sum, hex[65];
		unsigned char md[SHA256_DIGEST_LENGTH];
		struct mime_message *m;
		struct buf out;
		int k;

		if (l < 8 || strcmp(e->d_name + l - 7, ".sha256") != 0)
			continue;
		base = xstrndup(e->d_name, l - 7);
		mpath = message_path(base);
		msg = read_all(mpath, &mlen);
		if (!CHECK(msg != NULL)) {
			fprintf(stderr, "  missing %s\n", mpath);
			free(base);
			free(mpath);
			continue;
		}
		/* the fixture belongs to this very message */
		SHA256((unsigned char *)msg, mlen, md);
		for (k = 0; k < SHA256_DIGEST_LENGTH; k++)
			snprintf(hex + 2 * k, 3, "%02x", md[k]);
		{
			char *sp = xasprintf("%s/%s", FIXTURES, e->d_name);
			size_t slen;

			sum = read_all(sp, &slen);
			free(sp);
		}
		CHECK(sum != NULL && strncmp(sum, hex, 64) == 0);
		free(sum);
		m = mime_parse(msg, mlen, NULL);
		buf_init(&out, 1 << 24);
		CHECK_INT(mime_imap_envelope(m, m->root, &out), 0);
		compare(base, "envelope", &out);
		buf_reset(&out);
		CHECK_INT(mime_imap_bodystructure(m, m->root, true, &out), 0);
		compare(base, "bodystructure", &out);
		buf_reset(&out);
		CHECK_INT(mime_imap_bodystructure(m, m->root, false, &out), 0);
		compare(base, "body", &out);
		buf_reset(&out);
		CHECK_INT(buf_printf(&out, "%zu", mime_imap_size(m)), 0);
		compare(base, "rfc822.size", &out);
		buf_fini(&out);
		mime_message_free(&m);
		free(msg);
		free(mpath);
		free(base);
		n++;
	}
	closedir(d);
	CHECK(n >= 34);
}

static void
test_nstring(void)
{
	struct buf b;

	buf_init(&b, 256);
	/* Dovecot sends '"' and '\\' in literals rather than escaping */
	CHECK_INT(mime_imap_nstring(&b, "a\"b\\c", 5, false), 0);
	CHECK_STR(buf_cstr(&b), "{5}\r\na\"b\\c");
	buf_reset(&b);
	CHECK_INT(mime_imap_nstring(&b, "plain text", 10, false), 0);
	CHECK_STR(buf_cstr(&b), "\"plain text\"");
	buf_reset(&b);
	CHECK_INT(mime_imap_nstring(&b, "caf\xc3\xa9", 5, false), 0);
	CHECK_STR(buf_cstr(&b), "{5}\r\ncaf\xc3\xa9");
	buf_reset(&b);
	CHECK_INT(mime_imap_nstring(&b, "a\r\n b", 5, false), 0);
	CHECK_STR(buf_cstr(&b), "{3}\r\na b");
	buf_reset(&b);
	CHECK_INT(mime_imap_nstring(&b, NULL, 0, true), 0);
	CHECK_STR(buf_cstr(&b), "NIL");
	buf_fini(&b);
}

/* structures that need a placeholder part to stay valid IMAP syntax */
static void
test_placeholders(void)
{
	const char *s = "Content-Type: multipart/mixed\r\n\r\nx\r\n";
	struct mime_message *m = mime_parse(s, strlen(s), NULL);
	struct buf b;

	buf_init(&b, 4096);
	CHECK_INT(mime_imap_bodystructure(m, m->root, false, &b), 0);
	CHECK_STR(buf_cstr(&b), "((\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 0 0) \"mixed\")");
	mime_message_free(&m);
	/* past the depth limit a message/rfc822 is still well formed */
	{
		struct mime_limits lim;

		mime_limits_default(&lim);
		lim.max_depth = 1;
		s = "Content-Type: message/rfc822\r\n\r\nContent-Type: "
		    "message/rfc822\r\n\r\nSubject: deep\r\n\r\nx\r\n";
		m = mime_parse(s, strlen(s), &lim);
		buf_reset(&b);
		CHECK_INT(mime_imap_bodystructure(m, m->root, false, &b), 0);
		CHECK(strstr(buf_cstr(&b), "(NIL NIL NIL NIL NIL NIL NIL NIL "
		    "NIL NIL)") != NULL);
		mime_message_free(&m);
	}
	buf_fini(&b);
}

static void
test_compute(void)
{
	const char *s = "From: a@b.example\r\nSubject: hi\r\n\r\nbody\r\n";
	struct buf env, bs, body;
	size_t size = 0;

	buf_init(&env, 4096);
	buf_init(&bs, 4096);
	buf_init(&body, 4096);
	CHECK_INT(mime_imap_compute(s, strlen(s), &env, &bs, &body, &size), 0);
	CHECK_STR(buf_cstr(&env), "(NIL \"hi\" ((NIL NIL \"a\" \"b.example\")) "
	    "((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) "
	    "NIL NIL NIL NIL NIL)");
	CHECK_STR(buf_cstr(&bs), "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 6 1 NIL NIL NIL NIL)");
	CHECK_STR(buf_cstr(&body), "(\"text\" \"plain\" (\"charset\" "
	    "\"us-ascii\") NIL NIL \"7bit\" 6 1)");
	CHECK_INT(size, strlen(s));
	/* a ceiling reached is reported */
	buf_fini(&env);
	buf_init(&env, 10);
	CHECK_INT(mime_imap_compute(s, strlen(s), &env, NULL, NULL, NULL), -1);
	buf_fini(&env);
	buf_fini(&bs);
	buf_fini(&body);
}

static const struct test_case cases[] = {
	TEST(test_compute),
	TEST(test_dovecot_fixtures),
	TEST(test_nstring),
	TEST(test_placeholders),
};

TEST_MAIN(cases)
