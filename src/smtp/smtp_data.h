/*
 * smtp_data.h - the SMTP DATA reader: an incremental byte state machine.
 *
 * Reads the message text after the 354 reply (RFC 5321 4.1.1.4, 4.5.2):
 * undoes dot-stuffing, finds the end marker <CRLF>.<CRLF> (the CRLF that
 * ended the DATA command counts as the first one), enforces the text-line
 * and message-size limits, counts Received: fields in the header section
 * (loop detection, RFC 5321 6.3) and streams the unstuffed bytes to a
 * write function in chunks; the message is never held whole in memory.
 *
 * Smuggling policy: only <CRLF>.<CRLF> ends a message.  A bare LF or bare
 * CR anywhere neither ends the message nor starts a line, so <LF>.<LF>,
 * <LF>.<CRLF>, <CRLF>.<LF> and <CR>.<CR> are just text; and the message
 * that contains them is rejected whole (554 5.6.0) once the real end has
 * been read, so that nothing inside it is ever taken as a command.
 *
 * Every error is reported only after the end marker (the reader keeps
 * draining), and once an error is seen no more bytes are written.
 * Untrusted input, before authentication.
 */
#ifndef POSTINO_SMTP_SMTP_DATA_H
#define POSTINO_SMTP_SMTP_DATA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtp/smtp_parse.h"

struct smtp_data;

struct smtp_data_limits {
	uint64_t	 max_size;	/* after unstuffing; 0: default */
	size_t		 max_line;	/* incl. CRLF; 0: SMTP_MAX_TEXT_LINE */
	unsigned	 max_received;	/* 0: SMTP_MAX_RECEIVED */
	bool		 allow_nul;	/* BODY=BINARYMIME */
};

/* Receives unstuffed message bytes; returns 0, or -1 to give up. */
typedef int smtp_data_write_fn(void *ctx, const void *p, size_t n);

enum smtp_data_error {
	SMTP_DATA_OK,
	SMTP_DATA_E_BARE_LF,	/* 554 5.6.0 */
	SMTP_DATA_E_BARE_CR,	/* 554 5.6.0 */
	SMTP_DATA_E_NUL,	/* 554 5.6.0 */
	SMTP_DATA_E_LINE,	/* 554 5.6.0: text line over max_line */
	SMTP_DATA_E_SIZE,	/* 552 5.3.4 */
	SMTP_DATA_E_LOOP,	/* 554 5.4.6: Received: count past the max */
	SMTP_DATA_E_WRITE,	/* 451 4.3.0: the write function failed */
};

/* Creates a reader for one message; write gets the bytes, with ctx. */
struct smtp_data *smtp_data_new(const struct smtp_data_limits *lim,
    smtp_data_write_fn *write, void *ctx);
void smtp_data_free(struct smtp_data **d);

/*
 * Feeds n bytes of message text.  Returns 1 when the end marker has been
 * read (*used_r counts the bytes up to and including it; the rest belongs
 * to the next command, and every accepted byte has been written), or 0
 * when all n bytes were used and more are needed.  Must not be called
 * again after it returned 1.
 */
int smtp_data_input(struct smtp_data *d, const uint8_t *p, size_t n,
    size_t *used_r) __attribute__((warn_unused_result));

/* The first error seen, SMTP_DATA_OK if none. */
enum smtp_data_error smtp_data_error(const struct smtp_data *d);
/*
 * After smtp_data_input() returned 1: 0 if the message is acceptable, or
 * -1 with the rejection reply in *r (static strings).
 */
int smtp_data_result(const struct smtp_data *d, struct smtp_reply *r);
/* Unstuffed bytes seen so far (counting stops at the size limit). */
uint64_t smtp_data_size(const struct smtp_data *d);
/* Received: fields counted in the header section. */
unsigned smtp_data_received(const struct smtp_data *d);

#endif
