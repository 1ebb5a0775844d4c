/*
 * smtp_client.h - the sans-I/O SMTP client protocol engine (RFC 5321).
 *
 * One engine drives one connection to one remote server: it reads the
 * greeting, says EHLO (HELO when EHLO is refused), upgrades with STARTTLS
 * when the peer offers it and the owner can, then carries one message
 * after another for the same destination until the owner says QUIT.  It
 * eats the server's bytes, writes commands and the message text into its
 * output buffer, and tells its owner what happened through callbacks.
 * It never touches a socket, a file, a timer or the TLS library: the
 * owner (src/delivery/, src/net/) does that.
 *
 * Extensions: PIPELINING (RFC 2920), SIZE (RFC 1870), 8BITMIME (RFC
 * 6152), SMTPUTF8 (RFC 6531), STARTTLS (RFC 3207), ENHANCEDSTATUSCODES
 * (RFC 2034, 3463).  CHUNKING and DSN are only noted in the capabilities.
 *
 * Handles untrusted input: everything the server sends is parsed within
 * the limits of struct smtp_client_config; a reply that breaks them, or
 * that is malformed or unexpected, fails the connection.
 *
 * Flow for the owner:
 *   c = smtp_client_new(...);                 waits for the greeting
 *   on bytes from the socket: smtp_client_input(c, p, n);
 *   after every call into the engine: send smtp_client_output(c) to the
 *     peer (then buf_reset() or buf_consume() it), re-arm the timer with
 *     smtp_client_timeout_ms(c), and close once smtp_client_want_close(c)
 *     is true and the output is flushed;
 *   ops->ready: give a message with smtp_client_send(), or
 *     smtp_client_quit();
 *   while the message text is being sent: call
 *     smtp_client_output_drained(c) each time the socket has taken what
 *     was written, so that the engine produces the next block;
 *   ops->start_tls: flush the output, run the TLS handshake on the
 *     socket, then call smtp_client_tls_done();
 *   on EOF or a read/write error: smtp_client_closed(c);
 *   when the timer fires: smtp_client_timeout(c).
 *
 * Callbacks are made from inside smtp_client_input(), _send(),
 * _output_drained(), _tls_done(), _closed() and _timeout().  From inside a
 * callback the owner may call smtp_client_send(), smtp_client_quit() and
 * the read-only accessors, but must not free the engine (mark it and free
 * it when the call into the engine has returned).
 */
#ifndef POSTINO_SMTP_SMTP_CLIENT_H
#define POSTINO_SMTP_SMTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lib/buf.h"

struct smtp_client;

/*
 * A zero limit means the default from lib/postino_limits.h.  Strings are
 * copied by smtp_client_new().
 */
struct smtp_client_config {
	const char	*helo_name;	/* bad or NULL: "localhost" */
	const char	*peer_name;	/* logs: "mx.example[192.0.2.1]" */
	const char	*session_id;	/* for logs, may be NULL */
	bool		 tls_available;	/* the owner can do TLS */
	bool		 tls_required;	/* no plaintext */
	size_t		 max_reply_line;	/* a line incl. CRLF */
	unsigned	 max_reply_lines;	/* lines in one reply */
	size_t		 max_reply;	/* all lines of a reply */
};

/*
 * Timeouts of RFC 5321 4.5.3.2, in milliseconds.  EHLO/HELO, STARTTLS,
 * RSET and QUIT are not named there; they get the MAIL value.
 */
#define SMTP_CLIENT_TIMEOUT_GREETING	(5u * 60 * 1000)
#define SMTP_CLIENT_TIMEOUT_MAIL	(5u * 60 * 1000)
#define SMTP_CLIENT_TIMEOUT_RCPT	(5u * 60 * 1000)
#define SMTP_CLIENT_TIMEOUT_DATA	(2u * 60 * 1000)
#define SMTP_CLIENT_TIMEOUT_BLOCK	(3u * 60 * 1000)
#define SMTP_CLIENT_TIMEOUT_DOT		(10u * 60 * 1000)

/*
 * Bytes of message text produced per block: the engine stops filling the
 * output once it holds at least this much, until output_drained.
 */
#define SMTP_CLIENT_BODY_BLOCK		(64u * 1024)

/* Capabilities from the last EHLO reply (smtp_client_caps()). */
#define SMTP_CLIENT_CAP_ESMTP		0x0001	/* EHLO accepted */
#define SMTP_CLIENT_CAP_PIPELINING	0x0002
#define SMTP_CLIENT_CAP_SIZE		0x0004
#define SMTP_CLIENT_CAP_8BITMIME	0x0008
#define SMTP_CLIENT_CAP_SMTPUTF8	0x0010
#define SMTP_CLIENT_CAP_STARTTLS	0x0020
#define SMTP_CLIENT_CAP_ENHANCED	0x0040	/* ENHANCEDSTATUSCODES */
#define SMTP_CLIENT_CAP_CHUNKING	0x0080	/* noted, not used */
#define SMTP_CLIENT_CAP_DSN		0x0100	/* noted, not used */

/* Why a connection failed (ops->failed). */
enum smtp_client_fail {
	SMTP_CLIENT_FAIL_GREETING,	/* greeting not 220 */
	SMTP_CLIENT_FAIL_HELO,		/* EHLO and HELO refused */
	SMTP_CLIENT_FAIL_SHUTDOWN,	/* 421 from the server */
	SMTP_CLIENT_FAIL_CLOSED,	/* connection closed by the peer */
	SMTP_CLIENT_FAIL_TIMEOUT,	/* smtp_client_timeout() */
	SMTP_CLIENT_FAIL_PROTOCOL,	/* malformed, oversized, unexpected */
	SMTP_CLIENT_FAIL_TLS,		/* handshake failed; try plain */
	SMTP_CLIENT_FAIL_TLS_REQUIRED,	/* tls_required, no TLS */
	SMTP_CLIENT_FAIL_RSET,		/* RSET refused */
	SMTP_CLIENT_FAIL_LOCAL,		/* read_body failed */
};

/*
 * An outcome.  code is the basic reply code (2xx done, 4xx temporary, 5xx
 * permanent); enh the enhanced status code from the reply, or derived
 * from the class ("5.0.0") when the server gave none.  text is the reply
 * text of every line joined with single spaces, enhanced codes removed,
 * bytes outside printable ASCII turned into '?'; valid only during the
 * callback.  is_remote is false when the engine decided the outcome itself
 * (a local size check, a timeout, a closed connection).
 */
struct smtp_client_result {
	int		 code;
	char		 enh[16];
	const char	*text;
	bool		 is_remote;
};

struct smtp_client_ops {
	/*
	 * The server said 220 to STARTTLS.  Flush the output, run the
	 * handshake, then call smtp_client_tls_done() (now or later).
	 * May be NULL when tls_available is false; the others may not.
	 */
	void	(*start_tls)(void *ctx);
	/*
	 * The engine is idle and greeted: call smtp_client_send() or
	 * smtp_client_quit(), now or later.  Called once after the greeting
	 * and EHLO (and STARTTLS), and after every message_done that leaves
	 * the connection usable.
	 */
	void	(*ready)(void *ctx);
	/*
	 * The final outcome of recipient i (index into the message's rcpts),
	 * called exactly once per recipient of each message: the RCPT reply
	 * when it refused, else the reply to DATA or to the final dot, or a
	 * deferral (4xx) when the connection failed first.
	 */
	void	(*rcpt_result)(void *ctx, size_t i,
		    const struct smtp_client_result *r);
	/*
	 * The message is over: every rcpt_result has been made.  r is the
	 * reply that ended it (the final dot, DATA, MAIL, a local check), or
	 * when no recipient was accepted the first deferred recipient's
	 * outcome, else the first failed one's.
	 */
	void	(*message_done)(void *ctx,
		    const struct smtp_client_result *r);
	/*
	 * The connection is unusable; called once, after the current message
	 * (if any) got its outcomes.  A QUIT may have been queued: flush the
	 * output, then close.  Not called after a normal QUIT.
	 */
	void	(*failed)(void *ctx, enum smtp_client_fail why,
		    const struct smtp_client_result *r);
	/*
	 * The message text (header and body, CRLF line ends, not
	 * dot-stuffed): fill up to max bytes of buf and return how many,
	 * 0 at the end, -1 on error (the connection then fails: a message
	 * cut short must not reach the final dot).
	 */
	ssize_t	(*read_body)(void *ctx, void *buf, size_t max);
};

/* A message to send; everything is copied by smtp_client_send(). */
struct smtp_client_msg {
	const char		*mail_from;	/* "": null sender */
	const char *const	*rcpts;		/* no brackets */
	size_t			 nrcpts;	/* 1..MAX_RCPTS */
	uint64_t		 size;		/* text bytes; SIZE= */
	bool			 is_8bit;	/* text has octets > 127 */
	bool			 smtputf8;	/* the message needs it */
};

struct smtp_client *smtp_client_new(const struct smtp_client_config *cfg,
    const struct smtp_client_ops *ops, void *ctx);
/* Frees the engine (NULL is a no-op); no callback is made. */
void smtp_client_free(struct smtp_client **c);

/*
 * Feeds n bytes from the server.  Always consumes them all: bytes after
 * the server's 220 to STARTTLS and everything after a failure or the QUIT
 * reply are discarded (RFC 3207 section 4.2).
 */
size_t smtp_client_input(struct smtp_client *c, const uint8_t *p,
    size_t n);
/*
 * Bytes to send to the server.  The owner sends them and empties the buf
 * (buf_reset or buf_consume); it stays valid until smtp_client_free().
 */
struct buf *smtp_client_output(struct smtp_client *c);
/* The socket has taken the output: while sending text, make more. */
void smtp_client_output_drained(struct smtp_client *c);

/*
 * Starts a message; only after ops->ready and before the next callback,
 * with 1 to SMTP_CLIENT_MAX_RCPTS recipients (anything else is a bug of
 * the caller and panics).
 * Returns 0 when the transaction is under way (outcomes follow through
 * the callbacks), or 1 when it was decided at once, without a word to the
 * server: a recipient that cannot be sent got its 5xx rcpt_result, and if
 * none was left, or the message is too big for the peer's SIZE (552
 * 5.3.4), 8-bit for a peer without 8BITMIME (554 5.6.3) or needs SMTPUTF8
 * the peer lacks (553 5.6.7), every recipient got it, message_done was
 * called, and the engine is still ready (ready is not called again).
 * Addresses with control characters or angle brackets, or longer than
 * SMTP_MAX_PATH with their brackets, cannot be sent (553 5.1.7 for the
 * sender fails the message, 553 5.1.3 one recipient); addresses with
 * octets > 127 need SMTPUTF8.  Before MAIL, RSET is sent when the last
 * transaction ended before its final dot.
 */
int smtp_client_send(struct smtp_client *c, const struct smtp_client_msg *m);
/* Sends QUIT; only when ready.  want_close follows the reply or EOF. */
void smtp_client_quit(struct smtp_client *c);
/*
 * The TLS handshake asked by start_tls is over.  ok: EHLO again, forget
 * the capabilities seen in plaintext.  Otherwise the connection fails with
 * SMTP_CLIENT_FAIL_TLS (the owner may reconnect without TLS unless it
 * requires TLS).
 */
void smtp_client_tls_done(struct smtp_client *c, bool ok);
/*
 * The peer closed the connection or the socket failed.  Before QUIT this
 * fails the connection (SMTP_CLIENT_FAIL_CLOSED), deferring whatever is
 * not final; after QUIT it only ends it.
 */
void smtp_client_closed(struct smtp_client *c);
/* The timer for smtp_client_timeout_ms() fired: defer all with 4.4.2. */
void smtp_client_timeout(struct smtp_client *c);
/*
 * The timeout that applies now, in milliseconds (see the constants
 * above), or 0 when the engine waits for the owner (ready, TLS handshake)
 * or is finished.  Re-read it after every call into the engine.
 */
unsigned smtp_client_timeout_ms(const struct smtp_client *c);

/* True once the connection is finished (QUIT answered, or failed). */
bool smtp_client_want_close(const struct smtp_client *c);
/* True while the engine waits for smtp_client_send()/_quit(). */
bool smtp_client_is_ready(const struct smtp_client *c);
/* SMTP_CLIENT_CAP_* of the last EHLO reply (0 after HELO). */
unsigned smtp_client_caps(const struct smtp_client *c);
/* The peer's SIZE limit, 0 when none was announced. */
uint64_t smtp_client_peer_size(const struct smtp_client *c);
/* True after a successful STARTTLS. */
bool smtp_client_is_tls(const struct smtp_client *c);

#endif
