/*
 * smtp_data.c - DATA phase: dot-unstuffing, end detection, limits.
 *
 * RFC 5321 4.1.1.4 (DATA), 4.5.2 (transparency), 2.3.8 (CRLF is the only
 * line ending), 4.5.3.1.6 (1000-octet text lines, not counting the
 * transparency dot), 6.3 (loop detection by counting Received:); RFC 1870
 * for the 552 size reply.  Untrusted input, before authentication.
 *
 * The reader is a byte state machine so that input may be cut anywhere
 * (a terminating ".\r\n" split over three reads is still found), and so
 * that the end of the message is decided by exactly one rule, which is
 * what defeats SMTP smuggling: a bare CR or LF never moves us to the
 * "beginning of line" state, so no ".\r\n" after it can end the message.
 */
#include "smtp/smtp_data.h"

#include <stdlib.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"

#define SMTP_DATA_CHUNK	8192

enum data_state {
	DATA_BOL,	/* at the beginning of a line */
	DATA_TEXT,	/* inside a line */
	DATA_CR,	/* inside a line, after a CR */
	DATA_DOT,	/* after a '.' at the beginning of a line */
	DATA_DOT_CR,	/* after ".\r" at the beginning of a line */
	DATA_DONE,
};

struct smtp_data {
	struct smtp_data_limits	 lim;
	smtp_data_write_fn	*write;
	void			*ctx;
	enum data_state		 state;
	enum smtp_data_error	 error;
	uint64_t		 size;
	size_t			 line_len;	/* incl. CR and LF so far */
	unsigned		 received;
	bool			 in_header;	/* still in the header */
	bool			 matching;	/* line may be "Received:" */
	unsigned		 match_pos;
	size_t			 staged;
	uint8_t			 stage[SMTP_DATA_CHUNK];
};

static const char received_name[] = "received";

struct smtp_data *
smtp_data_new(const struct smtp_data_limits *lim, smtp_data_write_fn *write,
    void *ctx)
{
	struct smtp_data *d = xcalloc(1, sizeof(*d));

	d->lim = *lim;
	if (d->lim.max_size == 0)
		d->lim.max_size = SMTP_MAX_MESSAGE;
	if (d->lim.max_line == 0)
		d->lim.max_line = SMTP_MAX_TEXT_LINE;
	if (d->lim.max_received == 0)
		d->lim.max_received = SMTP_MAX_RECEIVED;
	d->write = write;
	d->ctx = ctx;
	d->state = DATA_BOL;
	d->in_header = true;
	d->matching = true;
	return d;
}

void
smtp_data_free(struct smtp_data **dp)
{
	free(*dp);
	*dp = NULL;
}

static void
set_error(struct smtp_data *d, enum smtp_data_error e)
{
	if (d->error == SMTP_DATA_OK)
		d->error = e;
}

static void
flush(struct smtp_data *d)
{
	if (d->staged > 0 && d->error == SMTP_DATA_OK &&
	    d->write(d->ctx, d->stage, d->staged) < 0)
		set_error(d, SMTP_DATA_E_WRITE);
	d->staged = 0;
}

/* header_byte - follows the current line of the header section */
static void
header_byte(struct smtp_data *d, uint8_t c)
{
	if (d->match_pos < sizeof(received_name) - 1) {
		if (ascii_tolower(c) == received_name[d->match_pos])
			d->match_pos++;
		else
			d->matching = false;
		return;
	}
	/* RFC 5322 4.5 (obsolete syntax) allows blanks before the colon */
	if (c == ' ' || c == '\t')
		return;
	d->matching = false;
	if (c == ':' && ++d->received > d->lim.max_received)
		set_error(d, SMTP_DATA_E_LOOP);
}

/* emit - one byte of message content, after unstuffing */
static void
emit(struct smtp_data *d, uint8_t c)
{
	if (++d->line_len > d->lim.max_line)
		set_error(d, SMTP_DATA_E_LINE);
	if (c == '\0' && !d->lim.allow_nul)
		set_error(d, SMTP_DATA_E_NUL);
	if (d->in_header && d->matching)
		header_byte(d, c);
	if (d->error != SMTP_DATA_OK)
		return;
	if (d->size >= d->lim.max_size) {
		set_error(d, SMTP_DATA_E_SIZE);
		return;
	}
	d->size++;
	d->stage[d->staged++] = c;
	if (d->staged == sizeof(d->stage))
		flush(d);
}

/* end_line - a CRLF ended the current line */
static void
end_line(struct smtp_data *d)
{
	if (d->in_header && d->line_len == 2)
		d->in_header = false;	/* the empty line ends the header */
	d->line_len = 0;
	d->matching = true;
	d->match_pos = 0;
	d->state = DATA_BOL;
}

/* text_byte - a byte inside a line (DATA_TEXT rules) */
static void
text_byte(struct smtp_data *d, uint8_t c)
{
	if (c == '\r') {
		d->state = DATA_CR;
	} else {
		if (c == '\n')
			set_error(d, SMTP_DATA_E_BARE_LF);
		d->state = DATA_TEXT;
	}
	emit(d, c);
}

/*
 * text_run - the fast path: copies the run of ordinary bytes at p (no CR,
 * LF or NUL) that fits both the line and the size limit, and returns its
 * length.  Whatever stops the run goes through the byte rules, so limits
 * and errors are decided in one place (emit).
 */
static size_t
text_run(struct smtp_data *d, const uint8_t *p, size_t n)
{
	size_t max = n, j = 0, k;

	if (d->error != SMTP_DATA_OK || (d->in_header && d->matching))
		return 0;
	if (max > d->lim.max_line - d->line_len)
		max = d->lim.max_line - d->line_len;
	if (max > d->lim.max_size - d->size)
		max = (size_t)(d->lim.max_size - d->size);
	while (j < max && p[j] != '\r' && p[j] != '\n' && p[j] != '\0')
		j++;
	d->line_len += j;
	d->size += j;
	for (k = 0; k < j; ) {
		size_t room = sizeof(d->stage) - d->staged;
		size_t m = j - k < room ? j - k : room;

		memcpy(d->stage + d->staged, p + k, m);
		d->staged += m;
		k += m;
		if (d->staged == sizeof(d->stage))
			flush(d);
	}
	return j;
}

int
smtp_data_input(struct smtp_data *d, const uint8_t *p, size_t n,
    size_t *used_r)
{
	size_t run;

	size_t i;

	ASSERT(d->state != DATA_DONE);
	for (i = 0; i < n; i++) {
		uint8_t c = p[i];

		switch (d->state) {
		case DATA_BOL:
			if (c == '.')
				d->state = DATA_DOT;	/* not content */
			else
				text_byte(d, c);
			break;
		case DATA_TEXT:
			run = text_run(d, p + i, n - i);
			if (run > 0)
				i += run - 1;
			else
				text_byte(d, c);
			break;
		case DATA_CR:
			if (c == '\n') {
				emit(d, c);
				end_line(d);
			} else {
				set_error(d, SMTP_DATA_E_BARE_CR);
				text_byte(d, c);
			}
			break;
		case DATA_DOT:
			/* the leading dot is removed whatever follows it */
			if (c == '\r')
				d->state = DATA_DOT_CR;
			else
				text_byte(d, c);
			break;
		case DATA_DOT_CR:
			if (c == '\n') {
				d->state = DATA_DONE;
				flush(d);
				*used_r = i + 1;
				return 1;
			}
			/* ".\r" then something else: a bare CR in the text */
			set_error(d, SMTP_DATA_E_BARE_CR);
			emit(d, '\r');
			text_byte(d, c);
			break;
		case DATA_DONE:
			panic("smtp_data_input: after the end");
		}
	}
	*used_r = n;
	return 0;
}

enum smtp_data_error
smtp_data_error(const struct smtp_data *d)
{
	return d->error;
}

int
smtp_data_result(const struct smtp_data *d, struct smtp_reply *r)
{
	switch (d->error) {
	case SMTP_DATA_OK:
		return 0;
	case SMTP_DATA_E_BARE_LF:
	case SMTP_DATA_E_BARE_CR:
		*r = (struct smtp_reply){ 554, "5.6.0",
		    "Bare CR or LF in message, only CRLF is allowed "
		    "(RFC 5321 2.3.8); message refused" };
		break;
	case SMTP_DATA_E_NUL:
		*r = (struct smtp_reply){ 554, "5.6.0",
		    "NUL byte in message; message refused" };
		break;
	case SMTP_DATA_E_LINE:
		*r = (struct smtp_reply){ 554, "5.6.0",
		    "Line too long in message; message refused" };
		break;
	case SMTP_DATA_E_SIZE:
		*r = (struct smtp_reply){ 552, "5.3.4",
		    "Message size exceeds the fixed limit" };
		break;
	case SMTP_DATA_E_LOOP:
		*r = (struct smtp_reply){ 554, "5.4.6",
		    "Too many Received: header fields, mail loop?" };
		break;
	case SMTP_DATA_E_WRITE:
		*r = (struct smtp_reply){ 451, "4.3.0",
		    "Local error writing the message, try again later" };
		break;
	}
	return -1;
}

uint64_t
smtp_data_size(const struct smtp_data *d)
{
	return d->size;
}

unsigned
smtp_data_received(const struct smtp_data *d)
{
	return d->received;
}
