/*
 * smtp_session.h - the sans-I/O SMTP server session (RFC 5321, ESMTP).
 *
 * A session eats bytes from the client and writes replies into its output
 * buffer; it never touches a socket, a file or the database.  Whatever it
 * needs from the rest of postino it asks through struct smtp_session_ops,
 * which the server wires to the real recipient check and queue and a unit
 * test wires to fakes.
 *
 * Handles untrusted input before authentication: every line, parameter
 * and message is parsed with the limits of struct smtp_session_config.
 *
 * Flow for the I/O layer:
 *   s = smtp_session_new(...); smtp_session_start(s);   -> 220 greeting
 *   loop: n = smtp_session_input(s, bytes, len); drop n bytes;
 *         write smtp_session_output(s) to the peer, then buf_reset() it;
 *         if smtp_session_want_close(s) and output flushed: close.
 * smtp_session_input() takes fewer bytes than offered while a request is
 * pending (see below); feed the rest again after the request completes.
 * Replies accumulate in the output buffer until the caller sends them;
 * past 4 MiB of unsent replies (a client pipelining megabytes of commands
 * without reading) the session gives up and asks to close.  Call
 * smtp_session_start() before the first smtp_session_input().
 */
#ifndef POSTINO_SMTP_SMTP_SESSION_H
#define POSTINO_SMTP_SMTP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct smtp_session;

/* A zero limit means the default from lib/postino_limits.h. */
struct smtp_session_config {
	const char	*hostname;	/* greeting, Received:, EHLO; copied */
	uint64_t	 max_message_size;	/* SIZE, 552 5.3.4 past it */
	unsigned	 max_rcpts;	/* 452 4.5.3 past it */
	unsigned	 max_errors;	/* bad commands, then 421 + close */
	unsigned	 max_received;	/* Received: count, 554 5.4.6 past */
	size_t		 max_cmd_line;	/* incl. CRLF; 500 5.5.6 past it */
	size_t		 max_text_line;	/* DATA line incl. CRLF */
	bool		 vrfy_enabled;	/* false: VRFY answers 252 */
	bool		 expn_enabled;	/* false: EXPN answers 502 */
	/* Later issues: STARTTLS and AUTH.  Leave room: */
	bool		 tls_available;	/* advertise STARTTLS */
	bool		 tls_ready;	/* false: STARTTLS gets 454 */
	bool		 auth_required;	/* submission: MAIL needs AUTH */
	/* AUTH (RFC 4954, docs/auth.md); needs smtp_auth_ops */
	bool		 auth_enabled;	/* offer AUTH (after TLS) */
	bool		 auth_plaintext_loopback; /* also without TLS from
					 * a loopback client */
	const uint8_t	*auth_secret;	/* fake SCRAM salts; must outlive */
	size_t		 auth_secret_len;	/* the sessions */
	const char	*auth_test_nonce;	/* tests only: SCRAM nonce */
};

/* Facts about the connection, copied by smtp_session_new(). */
struct smtp_peer {
	const char	*session_id;	/* for logs, e.g. "4f2a9c01" */
	const char	*addr;		/* "192.0.2.7" or "2001:db8::1" */
	const char	*hostname;	/* reverse DNS, or NULL if unknown */
	bool		 is_loopback;
};

enum smtp_body_type {
	SMTP_BODY_7BIT,
	SMTP_BODY_8BITMIME,
	SMTP_BODY_BINARYMIME,
};

/* The envelope of a transaction, valid during data_begin only. */
struct smtp_envelope {
	const char		*helo;		/* HELO/EHLO argument */
	const char		*mail_from;	/* "" for the null sender <> */
	const char *const	*rcpts;		/* accepted RCPT addresses */
	size_t			 nrcpts;
	enum smtp_body_type	 body;
	bool			 smtputf8;
	uint64_t		 declared_size;	/* SIZE=, 0 if absent */
};

/*
 * What the session asks of the server.  An operation that takes `s` may
 * complete at once (calling the matching smtp_session_*_done() before it
 * returns) or later from the event loop; until it completes the session is
 * "pending" and consumes no more input, so pipelined commands wait in
 * order.  `addr` strings are the mailbox without angle brackets and
 * without a source route, valid only during the call.  The local part is
 * passed exactly as the client wrote it (quotes and backslashes kept,
 * "%" and "!" not interpreted); RCPT TO:<Postmaster> arrives as the bare
 * "postmaster" (RFC 5321 4.1.1.3).  The done functions may be called from
 * inside the op or later, but not after smtp_session_free(); a late answer
 * for a session that has meanwhile timed out is accepted and dropped.
 */
struct smtp_session_ops {
	/* RCPT TO: decide; answer with smtp_session_rcpt_done(). */
	void	(*rcpt_check)(void *ctx, struct smtp_session *s,
		    const char *addr);
	/*
	 * DATA: open storage for the message.  Returns 0 with a queue id
	 * copied into qid (size 64), or -1 with a reply in *code_r/enh_r/
	 * text_r (e.g. 451 4.3.0 when the spool is unwritable).
	 */
	int	(*data_begin)(void *ctx, const struct smtp_envelope *env,
		    char qid[64], int *code_r, const char **enh_r,
		    const char **text_r);
	/* Message bytes, already dot-unstuffed, CRLF line ends. 0 or -1. */
	int	(*data_write)(void *ctx, const void *p, size_t n);
	/*
	 * End of DATA: make it durable; answer with smtp_session_data_done().
	 * From this call on the message is the server's: it is no longer
	 * aborted through data_abort, even if the session is freed.
	 */
	void	(*data_end)(void *ctx, struct smtp_session *s);
	/* The message was rejected or the connection went away mid-DATA. */
	void	(*data_abort)(void *ctx);
	/* Optional (NULL: 502/252): expand a list or verify an address. */
	void	(*expn)(void *ctx, struct smtp_session *s, const char *arg);
	void	(*vrfy)(void *ctx, struct smtp_session *s, const char *arg);
	/*
	 * Optional notice, synchronous: MAIL FROM was accepted (addr ""
	 * for the null sender; helo the HELO/EHLO argument), before its
	 * 250 is written.  The server starts its SPF check here.  Must not
	 * call back into the session.
	 */
	void	(*mail_accepted)(void *ctx, struct smtp_session *s,
		    const char *helo, const char *addr);
};

/*
 * AUTH requests (RFC 4954), in their own struct so that smtp_session_ops
 * keeps its shape; set with smtp_session_set_auth_ops() before the first
 * input, with their own ctx.  Without them (or with
 * cfg.auth_enabled false) AUTH is not offered and answers 502.
 */
struct smtp_auth_ops {
	/*
	 * AUTH PLAIN/LOGIN: check the password (accounts_user_verify: argon2,
	 * ~0.1 s and 64 MiB, so the server MUST run it on a worker thread,
	 * never on the event loop); answer with smtp_session_auth_done().
	 * user and password live only during the call: copy them (and wipe
	 * the copy of the password).  The server also applies the login
	 * throttle here (answering SMTP_AUTH_BLOCKED, or answering late).
	 */
	void	(*auth_verify)(void *ctx, struct smtp_session *s,
		    const char *user, const char *password);
	/*
	 * AUTH SCRAM-SHA-256: fetch the user's stored keys (no argon2 here,
	 * a plain lookup); answer with smtp_session_auth_scram_done().
	 */
	void	(*auth_scram)(void *ctx, struct smtp_session *s,
		    const char *user);
	/*
	 * Optional: the outcome of every finished AUTH attempt (user may be
	 * NULL if the client never named one), for the throttle's counters.
	 * Synchronous; must not call back into the session.
	 */
	void	(*auth_result)(void *ctx, struct smtp_session *s,
		    const char *user, bool ok);
	/*
	 * Optional, synchronous: may the authenticated account use addr as
	 * envelope sender or From: address (its own address or one of its
	 * aliases)?  NULL: only the account's own address (ASCII
	 * case-insensitive).
	 */
	bool	(*sender_allowed)(void *ctx, const char *account,
		    const char *addr);
};

struct smtp_session *smtp_session_new(const struct smtp_session_config *cfg,
    const struct smtp_session_ops *ops, void *ctx,
    const struct smtp_peer *peer);
/*
 * Frees the session (NULL is a no-op); a message still being read (after
 * data_begin, before data_end) is aborted through ops->data_abort.
 */
void smtp_session_free(struct smtp_session **s);

/* Queues the 220 greeting. */
void smtp_session_start(struct smtp_session *s);
/*
 * Feeds n bytes from the peer.  Returns how many were consumed (less than
 * n while a request is pending or once the session wants to close).
 */
size_t smtp_session_input(struct smtp_session *s, const uint8_t *p,
    size_t n);
/* Replies waiting to be sent; the caller sends them and resets the buf. */
struct buf *smtp_session_output(struct smtp_session *s);
/*
 * True once QUIT was answered or a 421 was sent (or the output overflowed,
 * see above): flush, then close.
 */
bool smtp_session_want_close(const struct smtp_session *s);
/* True while a request (rcpt_check, data_end, ...) is outstanding. */
bool smtp_session_is_pending(const struct smtp_session *s);
/*
 * The idle timer fired: queues 421 4.4.2 and asks to close (a message
 * being read is aborted through ops->data_abort).
 */
void smtp_session_timeout(struct smtp_session *s);
/* The server is shutting down: queues 421 4.3.2 and asks to close. */
void smtp_session_shutdown(struct smtp_session *s);

/*
 * Completions.  code 250/251 accepts the recipient; anything else is
 * sent as the reply.  enh is the enhanced status code ("5.1.1").
 */
void smtp_session_rcpt_done(struct smtp_session *s, int code,
    const char *enh, const char *text);
void smtp_session_data_done(struct smtp_session *s, int code,
    const char *enh, const char *text);
/*
 * STARTTLS (only when cfg.tls_available): the session queues "220 2.0.0
 * Ready to start TLS" and becomes pending; smtp_session_want_tls() is
 * then true.  The I/O layer sends the 220, discards every byte the client
 * sent after the STARTTLS line (RFC 3207 section 6; CVE-2011-0411
 * command injection), runs the handshake and calls
 * smtp_session_tls_started(), or closes the connection if it fails.
 * (A request flag rather than an op, so that the ops struct keeps its
 * shape.)
 */
bool smtp_session_want_tls(const struct smtp_session *s);
/*
 * The handshake succeeded.  After STARTTLS the session forgets everything
 * the client said before (RFC 3207 section 4.2: EHLO name, transaction,
 * authentication, a partial line) and waits for a new EHLO; no greeting
 * is sent.  Before smtp_session_start() it marks an implicit-TLS
 * connection (port 465).  tls_info ("TLSv1.3 TLS_AES_128_GCM_SHA256",
 * copied, may be NULL) goes into a Received: comment; the protocol
 * becomes ESMTPS/ESMTPSA (RFC 3848).
 */
void smtp_session_tls_started(struct smtp_session *s, const char *tls_info);
/* True once the connection is encrypted (STARTTLS or implicit TLS). */
bool smtp_session_is_tls(const struct smtp_session *s);

/*
 * AUTH answers.  SMTP_AUTH_OK: authenticated as account (the canonical
 * address, copied); _FAIL: wrong credentials (535 5.7.8); _BLOCKED: the
 * throttle refuses (454 4.7.0); _TEMPFAIL: lookup error (454 4.7.0).
 * For auth_scram_done, _OK with keys NULL means "no such user": the
 * exchange goes on with a fake salt and fails at the proof, looking the
 * same as a wrong password; account is then ignored.
 */
enum smtp_auth_result {
	SMTP_AUTH_OK,
	SMTP_AUTH_FAIL,
	SMTP_AUTH_BLOCKED,
	SMTP_AUTH_TEMPFAIL,
};
struct sasl_scram_keys;
void smtp_session_auth_done(struct smtp_session *s,
    enum smtp_auth_result result, const char *account);
void smtp_session_auth_scram_done(struct smtp_session *s,
    enum smtp_auth_result result, const char *account,
    const struct sasl_scram_keys *keys);
/* ops must outlive the session (a static struct); ctx is their first
 * argument (NULL: the session's ctx). */
void smtp_session_set_auth_ops(struct smtp_session *s,
    const struct smtp_auth_ops *ops, void *ctx);
/*
 * The account the client authenticated as, or NULL (the server's
 * rcpt_check uses it: authenticated mail may go to any domain).  Valid
 * until the next input, STARTTLS or smtp_session_free().
 */
const char *smtp_session_auth_user(const struct smtp_session *s);
/*
 * Channel binding of the TLS connection for SCRAM-SHA-256-PLUS (type
 * "tls-exporter" or "tls-server-end-point", data at most 128 bytes;
 * copied).  Call after smtp_session_tls_started(); without it -PLUS is
 * not offered.
 */
void smtp_session_set_channel_binding(struct smtp_session *s,
    const char *type, const uint8_t *data, size_t len);

/* EXPN/VRFY answers: n lines (multi-line reply when n > 1). */
void smtp_session_lines_done(struct smtp_session *s, int code,
    const char *enh, const char *const *lines, size_t n);

#endif
