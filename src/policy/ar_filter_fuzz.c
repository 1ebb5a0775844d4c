/*
 * ar_filter_fuzz.c - libFuzzer target for policy/ar_filter: streaming
 * removal of forged Authentication-Results on hostile messages split
 * into hostile pieces.
 *
 * Input: one byte choosing the piece size, one the field limit, then the
 * message.  Checks besides memory safety: with a limit above the
 * message's size the output is exactly policy_strip_ar()'s with the same
 * count; with any limit the output is no longer than the input and its
 * header holds no field of ours.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "mime/mime_header.h"
#include "policy/ar_filter.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ID "mail.example.com"

static int
out_fn(void *ctx, const void *p, size_t n)
{
	return buf_append(ctx, p, n);
}

static void
filter(const uint8_t *m, size_t len, size_t step, size_t max,
    struct buf *out, unsigned *removed_r)
{
	struct ar_filter *f = ar_filter_new(ID, max, out_fn, out);
	size_t off = 0, n;

	while (off < len) {
		n = len - off < step ? len - off : step;
		if (ar_filter_input(f, m + off, n) < 0)
			abort();
		off += n;
	}
	if (ar_filter_finish(f) < 0)
		abort();
	*removed_r = ar_filter_removed(f);
	ar_filter_free(&f);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf got, want;
	struct mime_field fld;
	unsigned removed, want_removed = 0;
	size_t step, max, pos = 0;
	const uint8_t *m;
	size_t len;

	if (size < 2)
		return 0;
	step = (size_t)data[0] % 17 + 1;
	max = 64 + (size_t)data[1] * 4;
	m = data + 2;
	len = size - 2;

	/* a limit no field can reach: the same as the whole-message copy */
	buf_init(&got, len + 1);
	buf_init(&want, len + 1);
	filter(m, len, step, len + 64, &got, &removed);
	if (policy_strip_ar(span_make(m, len), ID, &want, &want_removed) < 0)
		abort();
	if (got.len != want.len || (got.len > 0 &&
	    memcmp(got.data, want.data, got.len) != 0) ||
	    removed != want_removed)
		abort();
	buf_fini(&got);
	buf_fini(&want);

	/* a small limit: never longer, nothing of ours left */
	buf_init(&got, len + 1);
	filter(m, len, step, max, &got, &removed);
	if (got.len > len)
		abort();
	while (mime_header_next(buf_span(&got), &pos, &fld))
		if (span_eq_str_ci(fld.name, "Authentication-Results") &&
		    policy_ar_is_ours(fld.value, ID))
			abort();
	buf_fini(&got);
	return 0;
}
