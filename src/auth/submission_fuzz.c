/*
 * submission_fuzz.c - libFuzzer target for the submission header filter.
 * The first byte picks the chunk size; the rest is the message.  Checks
 * that the output is the input with at most the two added fields, and
 * that every byte of the input comes out in order.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/submission.h"
#include "lib/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fz_write(void *ctx, const void *p, size_t n)
{
	return buf_append(ctx, p, n);
}

static bool
fz_sender(void *ctx, const char *addr)
{
	(void)ctx;
	if (addr[0] == '\0')
		abort();
	return addr[0] == 'a';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct submission *sub;
	struct buf out;
	size_t step, i, n, j;

	if (size < 1 || size > 1 << 20)
		return 0;
	step = (size_t)data[0] + 1;
	data++;
	size--;
	buf_init(&out, 2 * size + 1024);
	sub = submission_new("fuzz.test", fz_write, fz_sender, &out);
	for (i = 0; i < size; i += n) {
		n = step < size - i ? step : size - i;
		if (submission_input(sub, data + i, n) < 0)
			abort();
	}
	if (submission_finish(sub) < 0)
		abort();
	/* the input is a subsequence of the output, in order */
	for (i = 0, j = 0; i < size && j < out.len; j++)
		if (out.data[j] == data[i])
			i++;
	if (i != size)
		abort();
	n = (submission_added_date(sub) ? 1 : 0) +
	    (submission_added_message_id(sub) ? 1 : 0);
	if (out.len < size || out.len > size + n * 128)
		abort();
	submission_free(&sub);
	buf_fini(&out);
	return 0;
}
