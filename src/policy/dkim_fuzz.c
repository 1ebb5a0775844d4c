/*
 * dkim_fuzz.c - libFuzzer target for DKIM: tag lists, canonicalization,
 * DKIM-Signature and key-record parsing, and a sign-then-verify property.
 *
 * Input: KEY-RECORD "\n%%\n" MESSAGE (without the separator, all of it is
 * the message and the record is taken from its first line).  Every key the
 * verifier asks for gets the record.  Then the message is signed with a
 * fixed Ed25519 key: when signing succeeds, the signature must verify.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "lib/buf.h"
#include "lib/span.h"
#include "policy/dkim.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *
fuzz_key(void)
{
	static EVP_PKEY *k;
	static const uint8_t seed[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };

	if (k == NULL)
		k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
		    sizeof(seed));
	return k;
}

static void
check_sign_verify(const uint8_t *msg, size_t len)
{
	EVP_PKEY *k = fuzz_key();
	struct dkim_verify *v;
	struct buf out, rec;
	const char *err = NULL, *txt[1];

	buf_init(&out, len + 65536);
	buf_init(&rec, 4096);
	if (k == NULL || dkim_key_record(k, &rec, &err) < 0)
		abort();
	if (dkim_sign(msg, len, "example.com", "fuzz", k, NULL, 1000, &out,
	    &err) == 0) {
		if (buf_append(&out, msg, len) < 0)
			abort();
		v = dkim_verify_new(out.data, out.len, 1000);
		txt[0] = buf_cstr(&rec);
		if (dkim_verify_nkeys(v) < 1 ||
		    strcmp(dkim_verify_key_name(v, 0),
		    "fuzz._domainkey.example.com") != 0)
			abort();
		dkim_verify_key_answer(v, 0, DNS_OK, txt, 1);
		dkim_verify_finish(v);
		if (dkim_verify_nresults(v) < 1 ||
		    dkim_verify_result(v, 0)->result != DKIM_PASS)
			abort();
		dkim_verify_free(&v);
	}
	buf_fini(&out);
	buf_fini(&rec);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dkim_tag tags[16];
	const uint8_t *msg = data, *sep;
	size_t mlen = size, rlen, i;
	struct dkim_verify *v;
	struct buf b;
	const char *err;
	char *record;

	sep = memmem(data, size, "\n%%\n", 4);
	if (sep != NULL) {
		rlen = (size_t)(sep - data);
		msg = sep + 4;
		mlen = size - rlen - 4;
	} else {
		sep = memchr(data, '\n', size);
		rlen = sep != NULL ? (size_t)(sep - data) : size;
	}
	record = malloc(rlen + 1);
	if (record == NULL)
		return 0;
	memcpy(record, data, rlen);
	record[rlen] = '\0';

	(void)dkim_tags_parse(span_make(data, size), tags, 16, &err);
	buf_init(&b, 4 * size + 16);
	if (dkim_canon_body(span_make(msg, mlen), true, &b) < 0)
		abort();
	buf_reset(&b);
	if (dkim_canon_body(span_make(msg, mlen), false, &b) < 0)
		abort();
	buf_reset(&b);
	if (dkim_canon_header(span_make(msg, mlen), true, &b) < 0)
		abort();
	buf_fini(&b);

	v = dkim_verify_new(msg, mlen, 1000);
	for (i = 0; i < dkim_verify_nkeys(v); i++) {
		const char *txt[1] = { record };

		dkim_verify_key_answer(v, i, (enum dns_status)(i % 5), txt, 1);
	}
	dkim_verify_finish(v);
	for (i = 0; i < dkim_verify_nresults(v); i++)
		if (dkim_verify_result(v, i)->reason == NULL)
			abort();
	/* the Authentication-Results text stays printable ASCII */
	buf_init(&b, 1024 * 1024);
	if (dkim_verify_ar(v, &b) < 0)
		abort();
	for (i = 0; i < b.len; i++)
		if (b.data[i] < 0x20 || b.data[i] > 0x7e)
			abort();
	buf_fini(&b);
	/* the borrowing verifier gives the same results, reading only the
	 * input's bytes (no NUL after them in libFuzzer's buffer) */
	{
		struct dkim_verify *w = dkim_verify_new_ref(msg, mlen, 1000);

		for (i = 0; i < dkim_verify_nkeys(w); i++) {
			const char *txt[1] = { record };

			dkim_verify_key_answer(w, i, (enum dns_status)(i % 5),
			    txt, 1);
		}
		dkim_verify_finish(w);
		if (dkim_verify_nresults(w) != dkim_verify_nresults(v))
			abort();
		for (i = 0; i < dkim_verify_nresults(w); i++)
			if (dkim_verify_result(w, i)->result !=
			    dkim_verify_result(v, i)->result)
				abort();
		dkim_verify_free(&w);
	}
	dkim_verify_free(&v);
	free(record);

	check_sign_verify(msg, mlen);
	return 0;
}
