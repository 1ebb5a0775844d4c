/*
 * sasl.h - server side of the SASL mechanisms PLAIN, LOGIN and
 * SCRAM-SHA-256(-PLUS), independent of the protocol that carries them.
 *
 * RFC 4422 (SASL), RFC 4616 (PLAIN), draft-murchison-sasl-login (LOGIN),
 * RFC 5802 (SCRAM), RFC 7677 (SCRAM-SHA-256), RFC 5929 / RFC 9266
 * (channel bindings tls-server-end-point, tls-exporter).
 *
 * The protocol (SMTP AUTH, POP3 AUTH, IMAP AUTHENTICATE) decodes each
 * base64 client response with sasl_base64_decode(), feeds the raw bytes to
 * sasl_step() and sends what the mechanism put into `out`, base64-encoded,
 * as its challenge.  The mechanism never touches the accounts database:
 * when it needs to check a password (PLAIN, LOGIN) it returns SASL_VERIFY,
 * when it needs a user's SCRAM keys it returns SASL_LOOKUP; the caller
 * does the (slow, blocking) lookup elsewhere and answers with
 * sasl_verify_done() or sasl_scram_done().
 *
 * Handles untrusted input before authentication.  Responses are bounded by
 * the caller (SASL_MAX_RESPONSE); every field is length-checked here.
 * Secrets (passwords, keys, proofs) are wiped when the object is freed.
 */
#ifndef POSTINO_AUTH_SASL_H
#define POSTINO_AUTH_SASL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/span.h"

/* RFC 4954 section 4: an AUTH line may be 12288 octets (incl. CRLF). */
#define SASL_MAX_RESPONSE	12288
#define SASL_MAX_USER		256	/* authcid / authzid, bytes */
#define SASL_MAX_PASSWORD	1024	/* bytes */
#define SASL_SCRAM_KEY_LEN	32	/* SHA-256 */
#define SASL_SCRAM_MAX_SALT	64
#define SASL_SCRAM_ITERATIONS	4096	/* also for unknown users' fakes */
#define SASL_MAX_CB_DATA	128	/* channel binding data, bytes */

enum sasl_mech {
	SASL_MECH_PLAIN,
	SASL_MECH_LOGIN,
	SASL_MECH_SCRAM_SHA_256,
	SASL_MECH_SCRAM_SHA_256_PLUS,
};

enum sasl_status {
	SASL_CONTINUE,	/* send `out` as a challenge, feed the next response */
	SASL_VERIFY,	/* check sasl_user() / sasl_password(), then
			 * call sasl_verify_done() */
	SASL_LOOKUP,	/* fetch sasl_user()'s SCRAM keys, then call
			 * sasl_scram_done() */
	SASL_OK,	/* authenticated as sasl_user() */
	SASL_FAIL,	/* wrong credentials */
	SASL_BAD,	/* malformed client message (protocol error) */
};

/* Channel binding available on this connection (after TLS). */
struct sasl_channel_binding {
	const char	*type;	/* "tls-exporter", "tls-server-end-point" */
	const uint8_t	*data;
	size_t		 len;		/* <= SASL_MAX_CB_DATA */
};

struct sasl_config {
	/*
	 * Server secret for SCRAM answers to unknown users: their salt is
	 * derived from it and the name, so repeated attempts see the same
	 * salt and cannot tell a missing account from a real one.  NULL:
	 * a random secret drawn once per process (stable until restart).
	 */
	const uint8_t	*secret;
	size_t		 secret_len;
	/* NULL when the connection offers no channel binding. */
	const struct sasl_channel_binding *cb;
	/* Test hook: the server nonce part (NULL: random). */
	const char	*test_nonce;
};

/* A user's SCRAM-SHA-256 keys (RFC 5802 section 3). */
struct sasl_scram_keys {
	uint8_t		salt[SASL_SCRAM_MAX_SALT];
	size_t		salt_len;
	unsigned	iterations;
	uint8_t		stored_key[SASL_SCRAM_KEY_LEN];
	uint8_t		server_key[SASL_SCRAM_KEY_LEN];
};

struct sasl;

/*
 * Looks a mechanism name up (case-insensitive).  Returns true with *mech_r
 * set; false if unknown, or SCRAM-SHA-256-PLUS without channel binding.
 */
bool sasl_mech_lookup(struct span name, bool cb_available,
    enum sasl_mech *mech_r);
/* The mechanism's name ("PLAIN", ...); static. */
const char *sasl_mech_name(enum sasl_mech mech);
/*
 * The list to advertise, space-separated ("PLAIN LOGIN SCRAM-SHA-256"
 * and, with cb_available, " SCRAM-SHA-256-PLUS" first); static.
 */
const char *sasl_mechanisms(bool cb_available);

/* Starts an exchange; cfg and what it points to must outlive it. */
struct sasl *sasl_new(enum sasl_mech mech, const struct sasl_config *cfg);
/* Wipes and frees; NULL is a no-op; sets *sp to NULL. */
void sasl_free(struct sasl **sp);
enum sasl_mech sasl_mech(const struct sasl *s);

/*
 * One step.  resp is the decoded client response, or NULL for "no initial
 * response" (the first step of AUTH without one).  An empty initial
 * response ("=" in SMTP) is a non-NULL empty span.  The challenge to send
 * is appended to out (its ceiling should be at least 1 KiB).  Returns one
 * of enum sasl_status; after SASL_OK, _FAIL or _BAD the exchange is over.
 */
enum sasl_status sasl_step(struct sasl *s, const struct span *resp,
    struct buf *out);
/*
 * After SASL_VERIFY: the password check's outcome.  Returns SASL_OK or
 * SASL_FAIL.
 */
enum sasl_status sasl_verify_done(struct sasl *s, bool ok);
/*
 * After SASL_LOOKUP: keys of the user, or NULL if there is no such user
 * (or it has no password): the exchange then goes on with a salt derived
 * from the server secret and fails at the proof, taking the same steps.
 * Appends the server-first message to out; returns SASL_CONTINUE (or
 * SASL_BAD if out is too small).
 */
enum sasl_status sasl_scram_done(struct sasl *s,
    const struct sasl_scram_keys *keys, struct buf *out);

/*
 * The authentication identity ("authcid": the login name) once the client
 * has sent it, NUL-free, at most SASL_MAX_USER bytes; NULL before.  Lives
 * as long as the object.
 */
const char *sasl_user(const struct sasl *s);
/* PLAIN/LOGIN: the password during SASL_VERIFY (wiped by sasl_free). */
const char *sasl_password(const struct sasl *s);

/*
 * Strict base64 (RFC 4648, with padding, no blanks).  Appends the decoded
 * bytes to out.  Returns 0, -1 on malformed input, -2 if out's ceiling is
 * reached.
 */
int sasl_base64_decode(struct span in, struct buf *out)
	__attribute__((warn_unused_result));
/* Appends the base64 of in to out; 0, or -1 past out's ceiling. */
int sasl_base64_encode(struct span in, struct buf *out)
	__attribute__((warn_unused_result));

#endif
