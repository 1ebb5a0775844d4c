/*
 * mime_header_fuzz.c - libFuzzer target for the header-level parsers:
 * fields, Content-Type parameters (RFC 2231), encoded words (RFC 2047),
 * address lists, and the transfer decoders.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/arena.h"
#include "lib/buf.h"
#include "mime/mime_address.h"
#include "mime/mime_decode.h"
#include "mime/mime_header.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span s = span_make(data, size), name;
	struct arena *a = arena_new("fuzz", 4096, (size_t)-1 / 2);
	struct mime_ctype ct;
	struct mime_field f;
	struct mime_param *dp;
	const char *dt;
	struct buf out;
	size_t pos = 0;

	while (mime_header_next(s, &pos, &f)) {
		if (f.raw.len == 0)
			abort();
	}
	(void)mime_ctype_parse(s, a, &ct);
	mime_disposition_parse(s, a, &dt, &dp);
	(void)mime_header_decode_a(a, s);
	(void)mime_address_parse(s, a, 1000);
	buf_init(&out, size + 16);
	/* decoders never produce more than they read */
	if (mime_base64_decode(s, &out, NULL) < 0 || out.len > size)
		abort();
	buf_reset(&out);
	if (mime_qp_decode(s, &out, NULL) < 0 || out.len > size)
		abort();
	buf_reset(&out);
	if (mime_uu_decode(s, &out, &name) < 0 || out.len > size)
		abort();
	buf_fini(&out);
	arena_free(&a);
	return 0;
}
