/*
 * ar_filter.c - streaming removal of forged Authentication-Results fields
 * (RFC 8601 section 5), see ar_filter.h.
 *
 * Untrusted input: the message as any client sent it.  At most max_field
 * bytes of it are held (one header field); the decision itself is
 * policy_ar_ranges() on that one field, so streaming and whole-message
 * removal (policy_strip_ar) cannot disagree.
 *
 * Field boundaries follow mime_header_next(): a field ends at a LF not
 * followed by a blank (space or tab); the header section ends at a line
 * that is empty ("\r\n" or "\n").  A CR at the start of a line therefore
 * waits for the next byte, which may come in the next call.
 */
#include "policy/ar_filter.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/span.h"
#include "lib/xmalloc.h"
#include "policy/policy.h"

enum field_mode {
	FIELD_HOLD,	/* collecting the field in f->field */
	FIELD_PASS,	/* too long, not an A-R: the rest goes out as is */
	FIELD_DROP,	/* too long and an A-R: the rest is dropped */
};

struct ar_filter {
	char			*id;
	size_t			 max_field;
	ar_filter_out_fn	*out;
	void			*ctx;
	struct buf		 field;		/* the field being read */
	enum field_mode		 mode;
	bool			 bol;		/* at the start of a line */
	bool			 cr_pending;	/* bol, and a CR came */
	bool			 in_body;	/* past the empty line */
	bool			 failed;	/* out said -1 */
	unsigned		 removed;
};

struct ar_filter *
ar_filter_new(const char *authserv_id, size_t max_field,
    ar_filter_out_fn *out, void *ctx)
{
	struct ar_filter *f = xcalloc(1, sizeof(*f));

	if (max_field < 64)
		max_field = 64;
	f->id = xstrdup(authserv_id);
	f->max_field = max_field;
	f->out = out;
	f->ctx = ctx;
	buf_init(&f->field, max_field);
	f->mode = FIELD_HOLD;
	f->bol = true;
	return f;
}

void
ar_filter_free(struct ar_filter **fp)
{
	struct ar_filter *f = *fp;

	if (f == NULL)
		return;
	*fp = NULL;
	buf_fini(&f->field);
	free(f->id);
	free(f);
}

unsigned
ar_filter_removed(const struct ar_filter *f)
{
	return f->removed;
}

static void
emit(struct ar_filter *f, const void *p, size_t n)
{
	if (f->failed || n == 0)
		return;
	if (f->out(f->ctx, p, n) < 0)
		f->failed = true;
}

/* field_done - the held field is complete: write it unless it is ours */
static void
field_done(struct ar_filter *f)
{
	if (f->mode == FIELD_HOLD && f->field.len > 0) {
		if (policy_ar_ranges(buf_span(&f->field), f->id, NULL, 0) > 0)
			f->removed++;
		else
			emit(f, f->field.data, f->field.len);
	}
	buf_reset(&f->field);
	f->mode = FIELD_HOLD;
}

/* is_ar_name - the start of a field that has no colon within reach, or
 * its name before the colon: Authentication-Results, blanks allowed
 * before the colon (RFC 5322 4.5) */
static bool
is_ar_name(struct span held)
{
	long colon = span_find(held, ':');
	size_t end = colon >= 0 ? (size_t)colon : held.len;

	while (end > 0 && (held.p[end - 1] == ' ' || held.p[end - 1] == '\t'))
		end--;
	return span_eq_str_ci(span_make(held.p, end), "Authentication-Results");
}

/* field_add - bytes of the current field (never past a LF) */
static void
field_add(struct ar_filter *f, const uint8_t *p, size_t n)
{
	size_t room;

	switch (f->mode) {
	case FIELD_PASS:
		emit(f, p, n);
		return;
	case FIELD_DROP:
		return;
	case FIELD_HOLD:
		break;
	}
	room = f->max_field - f->field.len;
	if (n <= room) {
		if (buf_append(&f->field, p, n) < 0)
			f->failed = true;	/* cannot happen: room checked */
		return;
	}
	/* too long to hold: decide on what fits */
	if (buf_append(&f->field, p, room) < 0)
		f->failed = true;
	if (is_ar_name(buf_span(&f->field))) {
		f->removed++;
		f->mode = FIELD_DROP;
	} else {
		emit(f, f->field.data, f->field.len);
		emit(f, p + room, n - room);
		f->mode = FIELD_PASS;
	}
	buf_reset(&f->field);
}

int
ar_filter_input(struct ar_filter *f, const void *data, size_t n)
{
	const uint8_t *p = data;
	size_t i = 0;

	while (i < n && !f->failed) {
		if (f->in_body) {
			emit(f, p + i, n - i);
			break;
		}
		if (f->bol) {
			uint8_t c = p[i];

			if (f->cr_pending) {
				f->cr_pending = false;
				field_done(f);
				if (c == '\n') {
					/* the empty line: the body follows */
					emit(f, "\r\n", 2);
					f->in_body = true;
					i++;
					continue;
				}
				/* a line starting with a lone CR is a field */
				field_add(f, (const uint8_t *)"\r", 1);
				f->bol = false;
				continue;
			}
			if (c == ' ' || c == '\t') {
				/* a continuation line of the held field */
				f->bol = false;
				continue;
			}
			if (c == '\n') {
				field_done(f);
				emit(f, "\n", 1);
				f->in_body = true;
				i++;
				continue;
			}
			if (c == '\r') {
				f->cr_pending = true;
				i++;
				continue;
			}
			field_done(f);	/* a new field begins */
			f->bol = false;
			continue;
		}
		{
			const uint8_t *nl = memchr(p + i, '\n', n - i);
			size_t end = nl != NULL ? (size_t)(nl - p) + 1 : n;

			field_add(f, p + i, end - i);
			i = end;
			if (nl != NULL)
				f->bol = true;
		}
	}
	return f->failed ? -1 : 0;
}

int
ar_filter_finish(struct ar_filter *f)
{
	if (!f->in_body) {
		field_done(f);
		if (f->cr_pending) {
			/* a lone CR at the very end: a field of its own */
			f->cr_pending = false;
			emit(f, "\r", 1);
		}
		f->in_body = true;
	}
	return f->failed ? -1 : 0;
}
