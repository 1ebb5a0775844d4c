/*
 * dsn.h - bounces: delivery status notifications (RFC 3464).
 *
 * A pure builder (no I/O, no global state): from what the queue knows
 * about a message and its recipients it writes a complete notification,
 * a multipart/report (RFC 6522) with a human-readable part, a
 * message/delivery-status part and the original header section (or the
 * whole original).  Addresses that are not ASCII (SMTPUTF8) use the
 * RFC 6533 "utf-8" address type.  Diagnostics are text a remote server
 * sent us: they are cleaned and cut before use.  docs/bounces.md says
 * when bounces and delay warnings are sent and what is never bounced.
 */
#ifndef POSTINO_DELIVERY_DSN_H
#define POSTINO_DELIVERY_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/buf.h"

enum dsn_action { DSN_ACTION_FAILED, DSN_ACTION_DELAYED,
	DSN_ACTION_DELIVERED, DSN_ACTION_RELAYED, DSN_ACTION_EXPANDED };

struct dsn_rcpt {
	const char	*addr;		/* final recipient (envelope RCPT) */
	const char	*orig_addr;	/* original recipient if different,
					 * or NULL */
	enum dsn_action	 action;
	const char	*status;	/* enhanced status "5.1.1"; derived
					 * from diagnostic if NULL or
					 * malformed */
	const char	*remote_mta;	/* host name that answered, or NULL */
	const char	*diagnostic;	/* the server's reply "550 5.1.1 No
					 * such user", or our reason; NULL */
	time_t		 last_attempt;	/* 0: field left out */
	time_t		 will_retry_until; /* for DELAYED, else 0 */
};

struct dsn_info {
	const char		*reporting_mta;	/* our [server] hostname */
	const char		*sender;	/* the original envelope sender
						 * (the bounce goes there) */
	const char		*qid;		/* original queue id, or NULL */
	time_t			 arrival;	/* 0: field left out */
	const struct dsn_rcpt	*rcpts;
	size_t			 nrcpts;
	const void		*orig;		/* original message bytes
						 * (headers are taken from it);
						 * may be NULL if orig_len 0 */
	size_t			 orig_len;
	bool			 return_full;	/* include the whole message
						 * (message/rfc822) instead of
						 * text/rfc822-headers */
};

/* Names of the actions as RFC 3464 section 2.3.3 writes them. */
const char *dsn_action_name(enum dsn_action a);

/*
 * Appends a complete message (header + body, CRLF line ends) to out:
 * From: "Mail Delivery System" <MAILER-DAEMON@reporting_mta>, To: the
 * sender, Subject "Undelivered Mail Returned to Sender" when any
 * recipient failed, else "Delayed Mail (still being retried)" when any is
 * delayed, else "Successful Mail Delivery Report"; Date, Message-ID,
 * Auto-Submitted: auto-replied (RFC 3834), MIME-Version and
 * multipart/report; report-type=delivery-status.  Part 1 explains in
 * text/plain (UTF-8) what happened to each recipient; part 2 is the
 * message/delivery-status (RFC 3464 sections 2.2 and 2.3, plus
 * X-Postino-Queue-ID and X-Postino-Sender); part 3 is the original header
 * section as text/rfc822-headers (message/global-headers if it holds
 * 8-bit bytes, RFC 6533), cut at a line end before DSN_MAX_HEADERS, or
 * with return_full the whole original as message/rfc822 (message/global
 * with an 8-bit header) unless it is larger than DSN_MAX_RETURN_FULL, when
 * only the header is returned.  The original's bytes are copied as they
 * are, except that a bare CR or LF becomes CRLF (SMTP allows no other).
 *
 * The bounce itself must be sent with the null sender "" (RFC 5321
 * section 4.5.5) so that it is never bounced in turn.
 *
 * A status that is not "class.subject.detail" (RFC 3463) is replaced by
 * the one derived from the diagnostic, as if it were NULL.
 *
 * Returns 0, or -1 with a static reason in error_r (out unchanged): null
 * or malformed sender or address (control characters, invalid UTF-8,
 * longer than SMTP_MAX_PATH), a malformed reporting host name or queue
 * id, no recipients or more than DSN_MAX_RCPTS, or out's ceiling
 * reached.
 */
int dsn_build(const struct dsn_info *info, struct buf *out,
    const char **error_r) __attribute__((warn_unused_result));

/*
 * Should a bounce be sent at all?  false for the null sender ("" or "<>",
 * or NULL): a notification about a notification is never sent (RFC 5321
 * section 6.1, RFC 3464 section 1).  Every bounce and auto-reply that
 * follows the RFCs carries the null sender, so this also covers them.
 */
bool dsn_should_bounce(const char *sender);

/*
 * What sending the bounce dsn_build() makes of info needs from the SMTP
 * transport: *smtputf8_r when the sender's or a recipient's address is not
 * ASCII or the returned header holds 8-bit bytes (RFC 6531, 6533);
 * *eightbit_r when the returned original holds 8-bit bytes (RFC 6152).
 * The queue passes these as the envelope's smtputf8 and body_8bit.
 */
void dsn_transport_needs(const struct dsn_info *info, bool *smtputf8_r,
    bool *eightbit_r);

#endif
