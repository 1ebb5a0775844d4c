/*
 * imap_session.h - the IMAP server session (RFC 9051 IMAP4rev2 and RFC
 * 3501 IMAP4rev1, with the extensions listed in docs/imap.md).
 *
 * The session eats bytes from the client (through the command reader and
 * parser of imap_parse.h) and appends responses to an output buffer.  It
 * never touches a socket.  It does touch the store: commands run
 * synchronously against the account's struct mailstore, so the connection
 * layer (src/server/imap_conn.c) calls the session from a worker thread,
 * never from two threads at once for the same session.  Everything a
 * worker thread owns (its accounts handle, its cache of mailstore handles)
 * is passed in struct imap_env on each call, so a session may move between
 * workers from one call to the next.
 *
 * What must happen on the event loop (the brute-force throttle, the
 * argon2 password check, the TLS handshake, turning on COMPRESS) the
 * session asks for by returning a status; the connection does it and
 * calls back.  SCRAM proofs are checked inside the session, but the
 * throttle still decides whether an exchange may start (status
 * AUTH_GATE) and hears how it ended (imap_session_auth_outcome).
 *
 * Untrusted input before authentication.
 *
 * Flow for the connection layer:
 *   s = imap_session_new(&cfg, &peer);
 *   imap_session_greeting(s, out);                       -> "* OK ..."
 *   on bytes:   st = imap_session_input(s, env, in, len, &used, out);
 *   send out (then buf_reset it); keep the unused bytes for later and
 *   act on st (below).
 */
#ifndef POSTINO_IMAP_IMAP_SESSION_H
#define POSTINO_IMAP_IMAP_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

struct accounts;
struct mailstore;
struct imap_session;
struct imap_store_cache;

/* Copied by imap_session_new (strings too). */
struct imap_session_config {
	const char	*hostname;	/* greeting, logs */
	const char	*data_dir;	/* accounts and mail stores */
	bool		 tls_available;	/* STARTTLS may be offered */
	/*
	 * Plaintext passwords (LOGIN, AUTHENTICATE PLAIN) are accepted over
	 * TLS, and without TLS only from loopback when this is set;
	 * otherwise LOGINDISABLED is advertised.
	 */
	bool		 plaintext_loopback;
	uint64_t	 append_limit;	/* APPENDLIMIT; 0: IMAP_MAX_APPEND */
	const uint8_t	*sasl_secret;	/* SCRAM answers to unknown users */
	size_t		 sasl_secret_len;
	/*
	 * Storage quota (RFC 9208) of an account whose own quota_bytes is 0
	 * ([store] quota); 0: unlimited.  Read at login.
	 */
	uint64_t	 quota_default;
};

struct imap_peer {
	const char	*session_id;	/* for logs */
	const char	*addr;		/* "192.0.2.7" */
	bool		 is_loopback;
	bool		 is_tls;	/* implicit TLS (imaps) */
};

/* What the worker thread calling the session owns. */
struct imap_env {
	struct accounts		*accounts;	/* this thread's handle */
	struct imap_store_cache	*stores;	/* this thread's mailstores */
	uint64_t		 now_ms;	/* monotonic, for timeouts */
};

/*
 * A per-thread cache of open mailstore handles, one per account, least
 * recently used ones closed past max_open.  imap_store_cache_get returns
 * the handle for user_id (opening it if needed) or NULL with error_r.
 */
struct imap_store_cache *imap_store_cache_new(const char *data_dir,
    unsigned max_open);
void imap_store_cache_free(struct imap_store_cache **c);
struct mailstore *imap_store_cache_get(struct imap_store_cache *c,
    int64_t user_id, const char **error_r);

enum imap_session_status {
	IMAP_SESSION_OK = 0,	/* send out; go on reading */
	/*
	 * A long response (e.g. FETCH 1:*) stopped after filling out
	 * past IMAP_SESSION_OUT_HIGH, or pipelined commands stopped once
	 * their responses passed it: send out, and when the socket has
	 * drained call imap_session_resume().  Do not feed input meanwhile
	 * (the bytes not used yet go in after resume returns OK).
	 */
	IMAP_SESSION_MORE,
	/*
	 * A login wants the password checked (imap_session_auth_request):
	 * check the throttle and the password on the loop, then call
	 * imap_session_auth_done().  No input meanwhile.
	 */
	IMAP_SESSION_AUTH,
	/*
	 * A SCRAM exchange has the login name and wants to go on:
	 * imap_session_auth_request() gives the name (the password is "").
	 * Check the throttle on the loop (a delay is waited out first),
	 * then call imap_session_auth_gate() with the verdict.  No input
	 * meanwhile.
	 */
	IMAP_SESSION_AUTH_GATE,
	IMAP_SESSION_STARTTLS,	/* send out, drop unused input (no
				   plaintext command may follow), then
				   handshake, then
				   imap_session_tls_started() */
	IMAP_SESSION_COMPRESS,	/* send out (uncompressed), then compress
				   everything after it both ways */
	IMAP_SESSION_IDLE,	/* in IDLE: feed input as usual (DONE);
				   call imap_session_poll() on a change
				   notification for imap_session_user_id() */
	IMAP_SESSION_CLOSE,	/* send out, then close */
};

/* Output size past which a long command pauses (IMAP_SESSION_MORE). */
#define IMAP_SESSION_OUT_HIGH	(256u * 1024)

struct imap_session *imap_session_new(const struct imap_session_config *cfg,
    const struct imap_peer *peer);
/* Releases everything; NULL is a no-op; sets *s to NULL. */
void imap_session_free(struct imap_session **s);

/* "* OK [CAPABILITY ...] ..." greeting. */
void imap_session_greeting(struct imap_session *s, struct buf *out);

/*
 * Eats up to len bytes (*used_r says how many); runs every complete
 * command; appends responses to out.  Stops early (with bytes left) when
 * it returns anything but OK or IDLE.
 */
enum imap_session_status imap_session_input(struct imap_session *s,
    const struct imap_env *env, const uint8_t *in, size_t len,
    size_t *used_r, struct buf *out);
/* Continues after IMAP_SESSION_MORE. */
enum imap_session_status imap_session_resume(struct imap_session *s,
    const struct imap_env *env, struct buf *out);

/*
 * After IMAP_SESSION_AUTH: the name and password to check (plaintext
 * mechanisms and LOGIN; SCRAM is checked inside the session with
 * env->accounts).  Strings live until imap_session_auth_done.
 */
void imap_session_auth_request(const struct imap_session *s,
    const char **user_r, const char **password_r);
enum imap_auth_result {
	IMAP_AUTH_OK,		/* account holds the canonical address */
	IMAP_AUTH_BAD,		/* NO [AUTHENTICATIONFAILED] */
	IMAP_AUTH_THROTTLED,	/* NO [UNAVAILABLE] try later */
	IMAP_AUTH_TEMP,		/* NO [UNAVAILABLE] */
};
enum imap_session_status imap_session_auth_done(struct imap_session *s,
    const struct imap_env *env, enum imap_auth_result r, const char *account,
    struct buf *out);

/*
 * After IMAP_SESSION_AUTH_GATE: allowed false refuses the login with
 * NO [UNAVAILABLE] (the throttle blocks the address or account); true
 * looks the user's SCRAM keys up (env->accounts) and sends the
 * server-first challenge.
 */
enum imap_session_status imap_session_auth_gate(struct imap_session *s,
    const struct imap_env *env, bool allowed, struct buf *out);

/*
 * The outcome of a login the session checked itself (SCRAM), for the
 * throttle, reported once: IMAP_AUTH_OK (the proof was right: clear the
 * account's counter), IMAP_AUTH_BAD (a wrong proof or an unknown user:
 * count a failure), or IMAP_AUTH_TEMP when there is nothing new.  The
 * connection asks after every call into the session.  *user_r (the login
 * name, may be NULL) lives until the next call into the session.
 */
enum imap_auth_result imap_session_auth_outcome(struct imap_session *s,
    const char **user_r);

/* The TLS handshake after STARTTLS succeeded (capabilities change). */
void imap_session_tls_started(struct imap_session *s);

/*
 * Something changed in the account (a delivery, another session): in
 * IDLE, appends the untagged updates (EXISTS, EXPUNGE/VANISHED, FETCH
 * FLAGS) for the selected mailbox.  Outside IDLE it does nothing (the
 * updates go out with the next command).
 */
enum imap_session_status imap_session_poll(struct imap_session *s,
    const struct imap_env *env, struct buf *out);

/* The logged-in account's user id, or 0 before login. */
int64_t imap_session_user_id(const struct imap_session *s);
/* Close reasons ("* BYE ...") for idle timeout and server shutdown. */
void imap_session_bye(struct imap_session *s, const char *reason,
    struct buf *out);

#endif
