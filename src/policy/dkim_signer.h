/*
 * dkim_signer.h - DKIM signing of outbound mail from our own domains
 * (RFC 6376, RFC 8463): the From: domain's key in DATA_DIR/dkim/ (made
 * by `postino dkim keygen`, dkim_keys.h) signs the message; a domain
 * without a key is left unsigned.  Used by the submission listeners
 * (after AUTH) and by sendmail.
 *
 * The message comes from an authenticated user or a local program; its
 * From: field is still parsed with the bounded MIME parsers.
 */
#ifndef POSTINO_POLICY_DKIM_SIGNER_H
#define POSTINO_POLICY_DKIM_SIGNER_H

#include <stddef.h>
#include <time.h>

#include "lib/buf.h"

/*
 * Signs msg (header, empty line, body; CRLF) with the key of its From:
 * domain: the given selector, or (selector NULL or "") the newest key of
 * the domain.  On 1 the "DKIM-Signature: ...\r\n" field to put on top
 * of the message is appended to out and the domain and selector used are
 * written to domain_r / selector_r (may be NULL; 254 and 64 bytes).
 * Returns 0 when the message is not to be signed (no single From:
 * address with a domain, no key for it: why_r says which), -1 on an
 * error (unreadable key, signing failed; why_r).  data_dir is the
 * server's data directory.
 */
int dkim_signer_sign(const char *data_dir, const char *selector,
    const void *msg, size_t len, time_t now, struct buf *out,
    char *domain_r, char *selector_r, const char **why_r)
	__attribute__((warn_unused_result));

/* The From: domain of a message (lowercase, into out of 254 bytes): 0,
 * or -1 if there is not exactly one From: address with a domain. */
int dkim_signer_from_domain(const void *msg, size_t len, char *out);

#endif
