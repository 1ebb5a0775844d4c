/*
 * submission.c - message submission header checks on a stream (RFC 6409
 * section 8: adding Date: and Message-ID:; From: checked against the
 * authenticated account).
 *
 * A byte state machine over the header section (RFC 5322 2.2: a field
 * starts at a line start with a non-blank, continues on lines starting
 * with SP or HTAB, and the section ends at the first empty line).  Bytes
 * are written through as they come; the only thing held back is a CR at
 * the start of a line, until the next byte says whether it is the empty
 * line that ends the header (then the missing fields go in before it).
 * After the header everything is passed through in one write per chunk.
 *
 * Untrusted input (after authentication).  The current field is buffered
 * up to MIME_MAX_HEADER bytes; a longer From: is refused, a longer other
 * field is passed through uninspected.  The DATA reader upstream has
 * already refused bare CR/LF and NUL, but nothing here relies on it.
 */
#include "auth/submission.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/span.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "mime/mime_address.h"

#define SUBMISSION_MAX_FROM_ADDRS	100

struct submission {
	char			*hostname;
	submission_write_fn	*write;
	submission_sender_fn	*sender_ok;
	void			*ctx;

	bool			 in_header;
	bool			 at_line_start;
	bool			 held_cr;
	bool			 failed;
	struct buf		 field;		/* current field, with folds */
	bool			 field_over;	/* it outgrew the buffer */

	unsigned		 nfrom;
	enum submission_from	 from;
	bool			 have_date, have_msgid;
	bool			 added_date, added_msgid;
};

struct submission *
submission_new(const char *hostname, submission_write_fn *write,
    submission_sender_fn *sender_ok, void *ctx)
{
	struct submission *sub = xcalloc(1, sizeof(*sub));

	sub->hostname = xstrdup(hostname != NULL ? hostname : "localhost");
	sub->write = write;
	sub->sender_ok = sender_ok;
	sub->ctx = ctx;
	sub->in_header = true;
	sub->at_line_start = true;
	sub->from = SUBMISSION_FROM_NONE;
	buf_init(&sub->field, MIME_MAX_HEADER);
	return sub;
}

void
submission_free(struct submission **sp)
{
	struct submission *sub = *sp;

	if (sub == NULL)
		return;
	buf_fini(&sub->field);
	free(sub->hostname);
	free(sub);
	*sp = NULL;
}

static void
out(struct submission *sub, const void *p, size_t n)
{
	if (sub->failed || n == 0)
		return;
	if (sub->write(sub->ctx, p, n) < 0)
		sub->failed = true;
}

/* set_from - a worse verdict replaces a better one, never the reverse */
static void
set_from(struct submission *sub, enum submission_from v)
{
	if (v > sub->from)
		sub->from = v;
}

/* check_from - every mailbox of the From: value must be the account's */
static void
check_from(struct submission *sub, struct span value)
{
	struct arena *a = arena_new("submission-from", 4096,
	    4 * MIME_MAX_HEADER + 64 * 1024);
	const struct mime_address *m;
	unsigned n = 0;

	for (m = mime_address_parse(value, a, SUBMISSION_MAX_FROM_ADDRS);
	    m != NULL; m = m->next) {
		char *addr;

		if (m->group_start || m->group_end)
			continue;
		if (m->mailbox == NULL || m->domain == NULL ||
		    m->mailbox[0] == '\0' || m->domain[0] == '\0') {
			set_from(sub, SUBMISSION_FROM_BAD);
			continue;
		}
		n++;
		addr = arena_printf(a, "%s@%s", m->mailbox, m->domain);
		if (!sub->sender_ok(sub->ctx, addr))
			set_from(sub, SUBMISSION_FROM_DENIED);
	}
	if (n == 0)
		set_from(sub, SUBMISSION_FROM_BAD);
	else
		set_from(sub, SUBMISSION_FROM_OK);
	arena_free(&a);
}

/* field_done - the buffered field is complete: look at its name */
static void
field_done(struct submission *sub)
{
	struct span f = buf_span(&sub->field), name, value;
	long colon;

	if (f.len == 0)
		return;
	colon = span_find(f, ':');
	if (colon > 0) {
		name = span_trim(span_make(f.p, (size_t)colon));
		value = span_make(f.p + colon + 1, f.len - (size_t)colon - 1);
		if (span_eq_str_ci(name, "From")) {
			if (++sub->nfrom > 1 || sub->field_over)
				set_from(sub, SUBMISSION_FROM_BAD);
			else
				check_from(sub, value);
		} else if (span_eq_str_ci(name, "Date")) {
			sub->have_date = true;
		} else if (span_eq_str_ci(name, "Message-ID")) {
			sub->have_msgid = true;
		}
	}
	buf_reset(&sub->field);
	sub->field_over = false;
}

static void
field_add(struct submission *sub, uint8_t c)
{
	if (buf_append_byte(&sub->field, c) < 0)
		sub->field_over = true;
}

/* header_end - add what RFC 6409 section 8 says the MSA may add */
static void
header_end(struct submission *sub)
{
	char line[512];
	int k;

	field_done(sub);
	sub->in_header = false;
	if (!sub->have_date) {
		char date[64];

		rfc5322_date(date, sizeof(date), time(NULL));
		k = snprintf(line, sizeof(line), "Date: %s\r\n", date);
		out(sub, line, (size_t)k);
		sub->added_date = true;
	}
	if (!sub->have_msgid) {
		char id[2 * 16 + 1];

		random_hex(id, 16);	/* 16 random bytes */
		k = snprintf(line, sizeof(line), "Message-ID: <%s@%s>\r\n", id,
		    sub->hostname);
		if (k > 0 && (size_t)k < sizeof(line))
			out(sub, line, (size_t)k);
		sub->added_msgid = true;
	}
}

int
submission_input(struct submission *sub, const uint8_t *p, size_t n)
{
	size_t i, run = 0;

	for (i = 0; i < n && sub->in_header; i++) {
		uint8_t c = p[i];

		if (sub->held_cr) {
			sub->held_cr = false;
			if (c == '\n') {
				header_end(sub);
				out(sub, "\r\n", 2);
				run = i + 1;
				break;
			}
			/* a bare CR: pass it on, the line goes on */
			out(sub, "\r", 1);
			field_add(sub, '\r');
			sub->at_line_start = false;
		}
		if (sub->at_line_start) {
			if (c == '\r') {
				out(sub, p + run, i - run);
				run = i + 1;
				sub->held_cr = true;
				continue;
			}
			if (c != ' ' && c != '\t')
				field_done(sub);	/* a new field */
			sub->at_line_start = false;
		}
		field_add(sub, c);
		if (c == '\n')
			sub->at_line_start = true;
	}
	out(sub, p + run, n - run);
	return sub->failed ? -1 : 0;
}

int
submission_finish(struct submission *sub)
{
	if (sub->in_header) {
		if (sub->held_cr) {
			sub->held_cr = false;
			out(sub, "\r", 1);
		}
		header_end(sub);
	}
	return sub->failed ? -1 : 0;
}

enum submission_from
submission_from_status(const struct submission *sub)
{
	return sub->from;
}

bool
submission_added_date(const struct submission *sub)
{
	return sub->added_date;
}

bool
submission_added_message_id(const struct submission *sub)
{
	return sub->added_msgid;
}
