/*
 * pop3_session.h - the sans-I/O POP3 server session (RFC 1939, RFC 2449
 * CAPA and response codes, RFC 5034 AUTH, RFC 2595 STLS, RFC 3206
 * [SYS/TEMP], [SYS/PERM] and [AUTH] codes).
 *
 * A session eats bytes from the client and writes replies into its output
 * buffer; it never touches a socket, a file or the database.  What it needs
 * from the rest of postino (checking a password and listing the maildrop,
 * streaming a message, removing deleted messages, starting TLS) it asks
 * through struct pop3_session_ops, wired to the real store by the server
 * (src/server/pop3_conn.c) and to fakes by the unit test.
 *
 * Handles untrusted input before authentication: lines are capped at
 * POP3_MAX_LINE (SASL responses at POP3_MAX_AUTH_LINE), bad commands are
 * counted and the session closes after POP3_MAX_ERRORS of them or
 * POP3_MAX_AUTH_FAILURES failed logins.
 *
 * Flow for the I/O layer (as for smtp_session):
 *   s = pop3_session_new(...); pop3_session_start(s);     -> +OK greeting
 *   loop: n = pop3_session_input(s, bytes, len); drop n bytes;
 *         write pop3_session_output(s) to the peer, then buf_reset() it;
 *         if pop3_session_want_close(s) and output flushed: close.
 * pop3_session_input() consumes fewer bytes than offered while a request
 * is pending; feed the rest again when it completes.
 */
#ifndef POSTINO_POP3_POP3_SESSION_H
#define POSTINO_POP3_POP3_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct pop3_session;

/* A zero limit means the default from lib/postino_limits.h. */
struct pop3_session_config {
	const char	*hostname;	/* greeting; copied */
	size_t		 max_line;	/* command line incl. CRLF */
	unsigned	 max_errors;	/* bad commands, then close */
	unsigned	 max_auth_failures;	/* failed logins, then close */
	bool		 tls_available;	/* STLS may be offered */
	/*
	 * Plaintext passwords (USER/PASS, AUTH PLAIN) are accepted over TLS,
	 * and without TLS only from loopback when this is set.
	 */
	bool		 plaintext_loopback;
	/* Offer SASL SCRAM-SHA-256 (needs ops->scram_lookup). */
	bool		 scram_available;
	/* Server secret for SCRAM answers to unknown users (sasl.h). */
	const uint8_t	*sasl_secret;
	size_t		 sasl_secret_len;
};

/* Facts about the connection, copied by pop3_session_new(). */
struct pop3_peer {
	const char	*session_id;	/* for logs */
	const char	*addr;		/* "192.0.2.7" */
	bool		 is_loopback;
	bool		 is_tls;	/* implicit TLS (pop3s) */
};

/* One message of the maildrop as listed at login. */
struct pop3_message {
	uint32_t	uid;
	uint64_t	size;		/* octets with CRLF line ends */
};

enum pop3_login_result {
	POP3_LOGIN_OK,
	POP3_LOGIN_BAD,		/* wrong user or password: -ERR [AUTH] */
	POP3_LOGIN_IN_USE,	/* another session has it: -ERR [IN-USE] */
	POP3_LOGIN_THROTTLED,	/* too many failures: -ERR [LOGIN-DELAY] */
	POP3_LOGIN_TEMP,	/* store or database error: [SYS/TEMP] */
};

/*
 * What the session asks of the server.  Each request makes the session
 * pending (no input consumed) until its done function is called, which
 * may happen inside the op or later from the event loop.
 */
struct pop3_session_ops {
	/*
	 * Check user/password (from PASS or AUTH PLAIN) and, if right, lock
	 * the account and list its INBOX.  Strings live for the call only;
	 * the password must be wiped by whoever copies it.  Answer with
	 * pop3_session_login_done().
	 */
	void	(*login)(void *ctx, struct pop3_session *s, const char *user,
		    const char *password);
	/*
	 * SCRAM-SHA-256: fetch the user's SCRAM keys; answer with
	 * pop3_session_scram_done().  When the exchange succeeds the session
	 * calls login with a NULL password: the user is already
	 * authenticated, only lock and list.
	 */
	void	(*scram_lookup)(void *ctx, struct pop3_session *s,
		    const char *user);
	/* Optional: a failed SASL exchange, for throttling and logs. */
	void	(*auth_failed)(void *ctx, struct pop3_session *s,
		    const char *user);
	/*
	 * RETR/TOP of message number idx (0-based) of the list given at
	 * login.  Returns 0 if the message could be opened: the server then
	 * sends, after the current output, the message bytes through a
	 * struct pop3_stuffer (lines is -1 for RETR, the TOP count
	 * otherwise) including the final ".", and calls
	 * pop3_session_send_done().  Returns -1 if the message is gone (an
	 * IMAP client expunged it): the session answers -ERR.
	 */
	int	(*send)(void *ctx, struct pop3_session *s, size_t idx,
		    uint32_t uid, int64_t lines);
	/*
	 * UPDATE state: remove the messages with these UIDs from INBOX.
	 * Answer with pop3_session_update_done().  The server releases the
	 * account lock after this, or when the session is freed.
	 */
	void	(*update)(void *ctx, struct pop3_session *s,
		    const uint32_t *uids, size_t n);
	/*
	 * STLS was accepted ("+OK Begin TLS" is in the output): flush it,
	 * discard any plaintext the client sent after the STLS line, start
	 * the handshake, then call pop3_session_tls_started() (or close).
	 */
	void	(*start_tls)(void *ctx, struct pop3_session *s);
};

struct pop3_session *pop3_session_new(const struct pop3_session_config *cfg,
    const struct pop3_session_ops *ops, void *ctx,
    const struct pop3_peer *peer);
/* NULL is a no-op; sets *s to NULL.  Wipes any password it holds. */
void pop3_session_free(struct pop3_session **s);

/* Queues the +OK greeting. */
void pop3_session_start(struct pop3_session *s);
/* Feeds n bytes; returns how many were consumed. */
size_t pop3_session_input(struct pop3_session *s, const uint8_t *p,
    size_t n);
/* Replies waiting to be sent; the caller sends them and resets the buf. */
struct buf *pop3_session_output(struct pop3_session *s);
/* True once QUIT was answered or the session gave up: flush, close. */
bool pop3_session_want_close(const struct pop3_session *s);
/* True while a request is outstanding. */
bool pop3_session_is_pending(const struct pop3_session *s);
/* True once the session is in the TRANSACTION state (or beyond). */
bool pop3_session_is_authenticated(const struct pop3_session *s);
/* The logged-in address, or NULL. */
const char *pop3_session_user(const struct pop3_session *s);
/* The idle timer fired: -ERR and close.  Nothing is deleted. */
void pop3_session_timeout(struct pop3_session *s);
/* The server is stopping: -ERR [SYS/TEMP] and close. */
void pop3_session_shutdown(struct pop3_session *s);

/*
 * Completions.  login_done copies msgs[0..n) (n at most
 * POP3_MAX_MESSAGES) and the UIDVALIDITY that makes UIDL values;
 * user is the canonical address (copied), NULL unless OK.
 */
void pop3_session_login_done(struct pop3_session *s,
    enum pop3_login_result r, const char *user, uint32_t uidvalidity,
    const struct pop3_message *msgs, size_t n);
struct sasl_scram_keys;
/* keys NULL: no such user (the exchange goes on and fails at the proof). */
void pop3_session_scram_done(struct pop3_session *s,
    const struct sasl_scram_keys *keys);
/* ok false: the stream broke off; the session closes. */
void pop3_session_send_done(struct pop3_session *s, bool ok);
/* ok false: -ERR [SYS/TEMP], nothing was removed. */
void pop3_session_update_done(struct pop3_session *s, bool ok);
/* TLS is up: forget USER, offer plaintext logins, stop offering STLS. */
void pop3_session_tls_started(struct pop3_session *s);

/*
 * Byte-stuffing of a message for RETR and TOP (RFC 1939 section 3): a
 * line starting with "." gets another "."; bare LF becomes CRLF; the end
 * is marked with CRLF "." CRLF (a CRLF is added first if the message did
 * not end with one).  With lines >= 0 (TOP) only the header, the empty
 * line and that many body lines are sent.  Keeps its position, so the
 * message may be fed in chunks of any size.
 */
struct pop3_stuffer {
	int64_t	lines;		/* body lines still wanted, -1: all */
	bool	bol;		/* at the start of a line */
	bool	prev_cr;	/* last byte seen was CR */
	bool	in_body;	/* past the empty line ending the header */
	bool	line_empty;	/* current header line has no bytes yet */
	bool	done;		/* TOP limit reached: ignore the rest */
};
void pop3_stuffer_init(struct pop3_stuffer *st, int64_t lines);
/*
 * Appends the stuffed form of p[0..n) to out.  Returns 1 once nothing
 * more is wanted (TOP limit reached), 0 to be fed more, -1 if out is full
 * (out->max; what fitted is kept: grow the cap or send it, undefined
 * position otherwise: treat as fatal for the stream).
 */
int pop3_stuffer_feed(struct pop3_stuffer *st, const uint8_t *p, size_t n,
    struct buf *out) __attribute__((warn_unused_result));
/* Appends the end marker; 0 or -1 if out is full. */
int pop3_stuffer_finish(struct pop3_stuffer *st, struct buf *out)
	__attribute__((warn_unused_result));

/* UIDL value of a message: "<uidvalidity>.<uid>" into out (size >= 24). */
void pop3_uidl_format(char *out, size_t outsize, uint32_t uidvalidity,
    uint32_t uid);

#endif
