/*
 * dkim.h - DKIM signatures: verification and signing.
 *
 * RFC 6376 (DKIM), RFC 8463 (ed25519-sha256), RFC 8301 (rsa-sha1 refused,
 * RSA keys of at least 1024 bits), RFC 8601 section 2.7.1 (result names).
 * The verifier reads untrusted input (any message received over SMTP, and
 * key records from DNS).  It does no I/O: it lists the key records it
 * needs, is given the DNS answers, then computes the results.
 *
 * Typical use:
 *	v = dkim_verify_new(msg, len, time(NULL));
 *	for (i = 0; i < dkim_verify_nkeys(v); i++)
 *		... dns_txt(dkim_verify_key_name(v, i)) ...
 *		    -> dkim_verify_key_answer(v, i, status, txt, n);
 *	dkim_verify_finish(v);
 *	for (i = 0; i < dkim_verify_nresults(v); i++)
 *		r = dkim_verify_result(v, i);
 *	dkim_verify_free(&v);
 */
#ifndef POSTINO_POLICY_DKIM_H
#define POSTINO_POLICY_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>

#include "dns/dns.h"
#include "lib/buf.h"
#include "lib/span.h"

/* RFC 8601 section 2.7.1 results; no signature at all is "none". */
enum dkim_status {
	DKIM_PASS,
	DKIM_FAIL,		/* body hash or signature mismatch */
	DKIM_NEUTRAL,
	DKIM_TEMPERROR,		/* key lookup failed temporarily */
	DKIM_PERMERROR,		/* bad signature tags, bad or missing key */
	DKIM_POLICY,
};

struct dkim_result {
	enum dkim_status result;
	const char	*domain;	/* d=, lowercase; NULL if unreadable */
	const char	*selector;	/* s=; NULL if unreadable */
	const char	*auid;		/* i= decoded, or "@" d=; may be NULL */
	const char	*reason;	/* human text, never NULL */
	const char	*algo;		/* a= as written (NULL if absent) */
	const char	*b_prefix;	/* b= first 8 chars (RFC 6008) or "" */
	unsigned	 key_bits;	/* public key size, 0 if no key read */
	bool		 body_length_limited; /* l= shorter than the body:
					 * content past l= is not signed */
};

struct dkim_verify;

/*
 * Starts verifying a message (header, empty line, body; CRLF or bare LF
 * line ends) held in memory; the bytes are copied.  At most
 * DKIM_MAX_SIGNATURES DKIM-Signature fields are examined (the first
 * ones); each gets one result.  now is the time used for x= expiry.
 * Never fails (a message without signatures has no results).
 */
struct dkim_verify *dkim_verify_new(const void *msg, size_t len, time_t now);
/*
 * The same for a message that outlives the verification: when it has
 * CRLF line ends throughout it is borrowed, not copied, and must stay
 * valid and unchanged until dkim_verify_free() (a message mapped from
 * a file costs no heap); with a bare LF it is copied as above.
 */
struct dkim_verify *dkim_verify_new_ref(const void *msg, size_t len,
    time_t now);
/* Distinct key records needed (at most DKIM_MAX_SIGNATURES). */
size_t dkim_verify_nkeys(const struct dkim_verify *v);
/* DNS name of key i: "selector._domainkey.domain" (lives with v). */
const char *dkim_verify_key_name(const struct dkim_verify *v, size_t i);
/*
 * Gives the answer of the TXT lookup of key i (the TXT strings of each
 * record already joined, as dns_txt() gives them).  Copied; calling it
 * twice keeps the last answer.  An out-of-range i is ignored.
 */
void dkim_verify_key_answer(struct dkim_verify *v, size_t i,
    enum dns_status status, const char *const *txt, size_t n);
/* Computes every result; keys never answered give temperror. */
void dkim_verify_finish(struct dkim_verify *v);
/* Results, one per signature in header order (valid after finish). */
size_t dkim_verify_nresults(const struct dkim_verify *v);
const struct dkim_result *dkim_verify_result(const struct dkim_verify *v,
    size_t i);
/* True if some result is a pass. */
bool dkim_verify_any_pass(const struct dkim_verify *v);
void dkim_verify_free(struct dkim_verify **v);

/* "pass", "fail", "neutral", "temperror", "permerror", "policy". */
const char *dkim_status_name(enum dkim_status s);

/*
 * Appends the Authentication-Results (RFC 8601 2.7.1, RFC 6008) resinfo
 * of every result, "; "-separated, e.g. "dkim=pass (2048-bit key)
 * header.d=example.com header.i=@example.com header.s=sel
 * header.a=rsa-sha256 header.b=AbCdEf12", with reason="..." for results
 * other than pass; "dkim=none" if there is no signature.  Only after
 * dkim_verify_finish().  Values that are not plain tokens are quoted.
 * 0 or -1 (buffer ceiling).
 */
int dkim_verify_ar(const struct dkim_verify *v, struct buf *out)
	__attribute__((warn_unused_result));

/*
 * Signs a message with relaxed/relaxed canonicalization, a=rsa-sha256
 * for an RSA key (at least 1024 bits) or ed25519-sha256 for an Ed25519
 * key.  headers is a NULL-terminated list of field names to sign (NULL:
 * DKIM_SIGN_HEADERS_DEFAULT); each is signed once per instance present
 * plus once more, so that adding such a field breaks the signature
 * (over-signing, RFC 6376 section 8.15).  From must be present.
 * Appends "DKIM-Signature: ...\r\n" (folded) to out_header, to be put
 * at the top of the message.  Returns 0, or -1 with error_r (static).
 */
int dkim_sign(const void *msg, size_t len, const char *domain,
    const char *selector, EVP_PKEY *key, const char *const *headers,
    time_t now, struct buf *out_header, const char **error_r)
	__attribute__((warn_unused_result));

/*
 * Lower level: signs with the tags given as a DKIM-Signature value
 * without bh= and b= (e.g. "v=1; a=ed25519-sha256; c=relaxed/relaxed;
 * d=example.com; s=sel; t=1; h=from : to"); "; bh=...; b=..." is added.
 * The field is appended unfolded as "DKIM-Signature: " tags "\r\n".
 * Signing is deterministic for both algorithms, so this reproduces
 * published signatures.  Returns 0, or -1 with error_r (static).
 */
int dkim_sign_tags(const void *msg, size_t len, const char *tags,
    EVP_PKEY *key, struct buf *out_header, const char **error_r)
	__attribute__((warn_unused_result));

/* The default header list: From, To, Cc, Subject, Date, Message-ID,
 * Reply-To, In-Reply-To, References, MIME-Version, Content-Type,
 * Content-Transfer-Encoding. */
extern const char *const DKIM_SIGN_HEADERS_DEFAULT[];

/*
 * Public key record value for key: "v=DKIM1; k=rsa; p=BASE64" or
 * "v=DKIM1; k=ed25519; p=BASE64" (RFC 6376 3.6.1, RFC 8463 4).  Appends
 * to out; 0 or -1 with error_r.
 */
int dkim_key_record(EVP_PKEY *key, struct buf *out, const char **error_r)
	__attribute__((warn_unused_result));

/* --- building blocks, exposed for tests and fuzzing -------------------- */

struct dkim_tag {
	struct span	name;
	struct span	value;		/* without surrounding FWS */
	struct span	raw_value;	/* everything between '=' and ';' */
};

/*
 * Parses a tag-list (RFC 6376 section 3.2) into tags[max].  Returns the
 * number of tags, or -1 with error_r (syntax error, duplicate tag, more
 * than max tags).  Spans point into s.
 */
int dkim_tags_parse(struct span s, struct dkim_tag *tags, size_t max,
    const char **error_r);

/*
 * Canonicalizes one header field (raw: name, ':' and value with folds,
 * without the final CRLF) per RFC 6376 section 3.4.1 (simple) or 3.4.2
 * (relaxed); appends it with a CRLF.  0 or -1 (buffer ceiling).
 */
int dkim_canon_header(struct span raw, bool relaxed, struct buf *out)
	__attribute__((warn_unused_result));
/*
 * Canonicalizes a body (CRLF line ends) per RFC 6376 section 3.4.3
 * (simple) or 3.4.4 (relaxed); appends it.  0 or -1 (ceiling).
 */
int dkim_canon_body(struct span body, bool relaxed, struct buf *out)
	__attribute__((warn_unused_result));

#endif
