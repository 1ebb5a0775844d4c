/*
 * mime_imap.h - IMAP ENVELOPE, BODY and BODYSTRUCTURE from a parsed tree.
 *
 * RFC 3501 section 7.4.2 and RFC 9051 section 7.5.2.  The output is what
 * Dovecot 2.3 writes for the same message, byte for byte, except where
 * docs/mime.md lists a justified difference.  The store computes these at
 * delivery and caches the strings; nothing here re-reads the message
 * beyond the header fields the tree points at.
 */
#ifndef POSTINO_MIME_MIME_IMAP_H
#define POSTINO_MIME_MIME_IMAP_H

#include <stdbool.h>

#include "lib/buf.h"
#include "mime/mime_parse.h"

/*
 * Appends the ENVELOPE of the message whose header starts part msg (the
 * root, or the child of a message/rfc822 part) to out: the parenthesised
 * list, without the "ENVELOPE " keyword.  Strings with 8-bit bytes or
 * line breaks are sent as literals ({n} CRLF bytes), the others quoted.
 * Returns 0, or -1 if out reached its ceiling.
 */
int mime_imap_envelope(const struct mime_message *m,
    const struct mime_part *msg, struct buf *out)
	__attribute__((warn_unused_result));

/*
 * Appends the body structure of part p (normally m->root) to out: BODY
 * form if extended is false, BODYSTRUCTURE form (with MD5, disposition,
 * language and location) if true.  Returns 0 or -1 as above.
 */
int mime_imap_bodystructure(const struct mime_message *m,
    const struct mime_part *p, bool extended, struct buf *out)
	__attribute__((warn_unused_result));

/*
 * What the store caches at delivery, in one call: parses the len bytes at
 * data and appends ENVELOPE to envelope, BODYSTRUCTURE to bodystructure
 * and BODY to body (any of them may be NULL), and sets *size_r to
 * RFC822.SIZE (if size_r is not NULL).  Returns 0, or -1 if a buffer
 * reached its ceiling.
 */
int mime_imap_compute(const void *data, size_t len, struct buf *envelope,
    struct buf *bodystructure, struct buf *body, size_t *size_r)
	__attribute__((warn_unused_result));

/* RFC822.SIZE: the message size with bare LFs counted as CRLF. */
size_t mime_imap_size(const struct mime_message *m);

/*
 * Appends s as an IMAP nstring: NIL if s is NULL, else a quoted string,
 * or a literal if s has 8-bit bytes, CR, LF or NUL (CR and LF are then
 * dropped, as for unfolded header values).
 */
int mime_imap_nstring(struct buf *out, const void *s, size_t len,
    bool is_nil) __attribute__((warn_unused_result));

#endif
