/*
 * smtp_data_fuzz.c - libFuzzer target for the DATA reader.
 *
 * The first two bytes choose small limits and a chunk size; the message
 * text is fed whole and in chunks, and the two runs must agree (done,
 * bytes used, error, output).  An accepted message must have ended on
 * <CRLF>.<CRLF> and contain no bare CR or LF.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "smtp/smtp_data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
sink(void *ctx, const void *p, size_t n)
{
	return buf_append(ctx, p, n) < 0 ? -1 : 0;
}

struct run {
	int			 done;
	size_t			 used;
	enum smtp_data_error	 err;
	struct buf		 out;
};

static void
run(const struct smtp_data_limits *lim, const uint8_t *p, size_t n,
    size_t chunk, struct run *r)
{
	struct smtp_data *d;
	size_t pos = 0;

	buf_init(&r->out, 1 << 22);
	d = smtp_data_new(lim, sink, &r->out);
	r->done = 0;
	while (pos < n && !r->done) {
		size_t k = n - pos < chunk ? n - pos : chunk, used = 0;

		r->done = smtp_data_input(d, p + pos, k, &used);
		if (used > k || (!r->done && used != k))
			abort();
		pos += used;
	}
	r->used = pos;
	r->err = smtp_data_error(d);
	smtp_data_free(&d);
}

/* no_bare - every CR is followed by LF and every LF preceded by CR */
static bool
no_bare(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
			return false;
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			return false;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_data_limits lim;
	struct run a, b;
	const uint8_t *p;
	size_t n;

	if (size < 2)
		return 0;
	log_set_level(LOG_LEVEL_ERROR);
	memset(&lim, 0, sizeof(lim));
	lim.max_line = (data[0] & 7) == 0 ? 0 : 4 + (data[0] & 7) * 8;
	lim.max_size = (data[0] & 0x38) == 0 ? 0 : (data[0] & 0x38) * 4;
	lim.max_received = 1 + (data[0] >> 6);
	lim.allow_nul = data[1] & 0x80;
	p = data + 2;
	n = size - 2;
	run(&lim, p, n, n > 0 ? n : 1, &a);
	run(&lim, p, n, 1 + (data[1] & 0x7f), &b);
	if (a.done != b.done || a.used != b.used || a.err != b.err)
		abort();
	if (a.err == SMTP_DATA_OK && (a.out.len != b.out.len ||
	    (a.out.len > 0 && memcmp(a.out.data, b.out.data,
	    a.out.len) != 0)))
		abort();
	if (a.done) {
		if (!(a.used == 3 || (a.used >= 5 &&
		    memcmp(p + a.used - 5, "\r\n.\r\n", 5) == 0)))
			abort();
		if (a.err == SMTP_DATA_OK && !no_bare(a.out.data, a.out.len))
			abort();
		if (a.err == SMTP_DATA_OK && a.out.len > 0 &&
		    (a.out.len < 2 || a.out.data[a.out.len - 1] != '\n'))
			abort();
	}
	buf_fini(&a.out);
	buf_fini(&b.out);
	return 0;
}
