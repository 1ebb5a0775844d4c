/*
 * dsn_fuzz.c - libFuzzer properties of the bounce builder under hostile
 * diagnostics, remote host names, statuses and originals (what a remote
 * server or a sender controls): dsn_build always succeeds for a valid
 * sender, the notification parses back as a multipart/report with exactly
 * three parts, every line of our own parts ends in CRLF and stays within
 * 998 octets, and the delivery-status part is ASCII with one block per
 * recipient plus the per-message one.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "delivery/dsn.h"
#include "lib/buf.h"
#include "mime/mime_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* take - the next NUL-free piece of the input (up to a 0 byte) */
static char *
take(const uint8_t **p, size_t *n)
{
	const uint8_t *z = memchr(*p, 0, *n);
	size_t len = z != NULL ? (size_t)(z - *p) : *n;
	char *s = malloc(len + 1);

	memcpy(s, *p, len);
	s[len] = '\0';
	*p += len + (z != NULL);
	*n -= len + (z != NULL);
	return s;
}

/* own_lines_ok - CRLF line ends and at most 998 octets per line in
 * [0, n) */
static bool
own_lines_ok(const uint8_t *p, size_t n)
{
	size_t i, col = 0;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n') {
			if (i == 0 || p[i - 1] != '\r')
				return false;
			col = 0;
			continue;
		}
		if (p[i] == '\r' && (i + 1 >= n || p[i + 1] != '\n'))
			return false;
		if (++col > 999)	/* 998 + the CR */
			return false;
	}
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size, i, blocks = 0;
	struct dsn_rcpt r[2];
	struct dsn_info info;
	struct mime_message *m;
	const struct mime_part *part;
	const char *err = NULL;
	char *diag, *host, *status;
	struct buf out;
	uint8_t ctl;

	if (n < 1)
		return 0;
	ctl = *p++;
	n--;
	diag = take(&p, &n);
	host = take(&p, &n);
	status = take(&p, &n);
	memset(r, 0, sizeof(r));
	r[0].addr = "bob@example.org";
	r[0].action = (enum dsn_action)(ctl % 5);
	r[0].diagnostic = diag;
	r[0].remote_mta = (ctl & 0x08) ? host : NULL;
	r[0].status = (ctl & 0x10) ? status : NULL;
	r[0].last_attempt = 1700000000;
	r[0].will_retry_until = 1700400000;
	r[1].addr = "b\xc3\xbc" "cher@example.org";
	r[1].orig_addr = "list@example.test";
	r[1].action = DSN_ACTION_DELAYED;
	r[1].diagnostic = status;
	memset(&info, 0, sizeof(info));
	info.reporting_mta = "mail.example.test";
	info.sender = "alice@example.test";
	info.qid = "0123456789abcdef";
	info.rcpts = r;
	info.nrcpts = 2;
	info.orig = p;
	info.orig_len = n;
	info.return_full = (ctl & 0x20) != 0;

	buf_init(&out, 64u << 20);
	if (dsn_build(&info, &out, &err) != 0)
		abort();
	m = mime_parse(out.data, out.len, NULL);
	if (!mime_part_is(m->root, "multipart", "report") ||
	    m->root->nchildren != 3)
		abort();
	/* our own text: everything before the returned original */
	part = m->root->children->next->next;
	if (!own_lines_ok(out.data, part->hdr_off))
		abort();
	part = m->root->children->next;
	if (!mime_part_is(part, "message", "delivery-status"))
		abort();
	{
		struct span b = mime_part_body(m, part);
		bool blank = true;

		for (i = 0; i < b.len; i++) {
			if (b.p[i] >= 0x80)
				abort();
			/* a block starts at a line after an empty one */
			if (blank && b.p[i] != '\r')
				blocks++;
			blank = b.p[i] == '\n' && i + 2 < b.len &&
			    b.p[i + 1] == '\r' && b.p[i + 2] == '\n';
			if (blank)
				i += 2;
		}
		if (blocks != 3)
			abort();
	}
	mime_message_free(&m);
	buf_fini(&out);
	free(diag);
	free(host);
	free(status);
	return 0;
}
