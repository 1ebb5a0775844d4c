/*
 * sasl_fuzz.c - libFuzzer target for the SASL mechanisms and the strict
 * base64 decoder.  The first byte picks the mechanism, whether channel
 * binding is offered and how lookups answer; the rest is split at '\n'
 * into client responses fed one after another.  Checks that a decoded
 * base64 re-encodes to its input, that the exchange ends in a final
 * status, and that names handed out are NUL-free and bounded.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "lib/buf.h"
#include "lib/span.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_base64(struct span in)
{
	struct buf dec, enc;

	buf_init(&dec, SASL_MAX_RESPONSE);
	buf_init(&enc, 2 * SASL_MAX_RESPONSE);
	if (sasl_base64_decode(in, &dec) == 0) {
		if (sasl_base64_encode(buf_span(&dec), &enc) < 0 ||
		    enc.len != in.len ||
		    (in.len > 0 && memcmp(enc.data, in.p, in.len) != 0))
			abort();
	}
	buf_fini(&dec);
	buf_fini(&enc);
}

static void
check_user(const struct sasl *s)
{
	const char *u = sasl_user(s);

	if (u != NULL && (u[0] == '\0' || strlen(u) > SASL_MAX_USER))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t cbdata[32] = { 7 };
	static const uint8_t secret[] = "fuzz";
	struct sasl_channel_binding cb = { "tls-exporter", cbdata,
	    sizeof(cbdata) };
	struct sasl_config cfg = { secret, sizeof(secret), NULL, NULL };
	struct sasl_scram_keys keys;
	enum sasl_status st;
	struct sasl *s;
	struct buf out;
	size_t pos = 1, steps = 0;
	uint8_t sel;

	if (size < 1 || size > 4 * SASL_MAX_RESPONSE)
		return 0;
	sel = data[0];
	check_base64(span_make(data + 1, size - 1));
	if (sel & 4)
		cfg.cb = &cb;
	if (sel & 8)
		cfg.test_nonce = "fixednonce";
	memset(&keys, 0, sizeof(keys));
	keys.salt_len = 16;
	keys.iterations = 4096;
	memset(keys.stored_key, 0x11, sizeof(keys.stored_key));
	memset(keys.server_key, 0x22, sizeof(keys.server_key));
	s = sasl_new((enum sasl_mech)(sel & 3), &cfg);
	buf_init(&out, SASL_MAX_RESPONSE);
	st = sasl_step(s, (sel & 16) ? NULL : &(struct span){ data, 0 },
	    &out);
	for (;;) {
		const uint8_t *lf;
		struct span r;

		check_user(s);
		if (st == SASL_VERIFY) {
			if (sasl_password(s) == NULL)
				abort();
			st = sasl_verify_done(s, sel & 32);
			continue;
		}
		if (st == SASL_LOOKUP) {
			buf_reset(&out);
			st = sasl_scram_done(s, (sel & 64) ? &keys : NULL,
			    &out);
			continue;
		}
		if (st != SASL_CONTINUE)
			break;
		if (pos > size || ++steps > 16)
			break;
		lf = memchr(data + pos, '\n', size - pos);
		r = span_make(data + pos, lf != NULL ?
		    (size_t)(lf - (data + pos)) : size - pos);
		pos += r.len + 1;
		buf_reset(&out);
		st = sasl_step(s, &r, &out);
	}
	buf_fini(&out);
	sasl_free(&s);
	return 0;
}
