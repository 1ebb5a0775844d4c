/*
 * submission.h - message submission header checks (RFC 6409 section 8),
 * on a stream.
 *
 * Sits between the DATA reader and the queue for an authenticated client:
 * passes the message bytes through unchanged, except that it adds Date:
 * and Message-ID: at the end of the header section when they are missing
 * (RFC 6409 8.2, 8.3), and it collects the From: field to check that every
 * author address belongs to the authenticated account (anti-spoofing:
 * RFC 6409 section 4.3 leaves this to local policy).  The message is never
 * held whole: only the current header field is buffered, at most
 * MIME_MAX_HEADER bytes.
 *
 * Protocol-neutral (SMTP submission today, JMAP EmailSubmission later).
 * Untrusted input after authentication.
 */
#ifndef POSTINO_AUTH_SUBMISSION_H
#define POSTINO_AUTH_SUBMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Receives the bytes to store; returns 0, or -1 to give up. */
typedef int submission_write_fn(void *ctx, const void *p, size_t n);
/* May the account use addr ("local@domain") as an author address? */
typedef bool submission_sender_fn(void *ctx, const char *addr);

enum submission_from {
	SUBMISSION_FROM_NONE,		/* no From: field (accepted) */
	SUBMISSION_FROM_OK,		/* one From:, every address allowed */
	SUBMISSION_FROM_DENIED,		/* an address is not the account's */
	SUBMISSION_FROM_BAD,		/* no address, two From: fields, or
					 * the field is too long */
};

struct submission;

/*
 * hostname is the right side of generated Message-IDs (copied).  write
 * gets the bytes, sender_ok judges From: addresses; both with ctx.
 */
struct submission *submission_new(const char *hostname,
    submission_write_fn *write, submission_sender_fn *sender_ok, void *ctx);
void submission_free(struct submission **sp);

/*
 * Feeds n message bytes (CRLF line ends, dot-unstuffed).  Returns 0, or -1
 * once write failed (nothing more is written after that).
 */
int submission_input(struct submission *sub, const uint8_t *p, size_t n)
	__attribute__((warn_unused_result));
/*
 * The end of the message: if it had no empty line ending the header, the
 * missing fields are added at its end.  Returns 0 or -1 (write failed).
 */
int submission_finish(struct submission *sub)
	__attribute__((warn_unused_result));
/* Verdict on From:, final once the header section has ended. */
enum submission_from submission_from_status(const struct submission *sub);
/* Which fields were added ("Date", "Message-ID") for logs and tests. */
bool submission_added_date(const struct submission *sub);
bool submission_added_message_id(const struct submission *sub);

#endif
