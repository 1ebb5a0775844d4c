/*
 * mime_text.h - the searchable text of a message: what IMAP SEARCH
 * BODY/TEXT match against (RFC 9051 6.4.4) and what the store's full-text
 * index holds.  One function, so that the index and the confirming check
 * always see the same text.
 *
 * Header fields come out unfolded, with RFC 2047 encoded words decoded,
 * one "Name: value\n" per field.  The body is the decoded content
 * (base64, quoted-printable, uuencode) of every text part, converted
 * from its charset to UTF-8, parts separated by "\n"; message/rfc822
 * parts contribute their header and text too; other parts contribute
 * their file name only (as do uuencoded blocks inside plain text).  NUL
 * bytes become blanks.  Input is untrusted; output is capped by the
 * buffers' ceilings (text past a ceiling is dropped, never in the middle
 * of a UTF-8 sequence, and is not an error).  SEARCH uses the ceilings
 * MIME_TEXT_MAX_HEADER and MIME_TEXT_MAX_BODY (lib/postino_limits.h); the
 * full-text index must use the same ones to stay a superset.
 */
#ifndef POSTINO_MIME_MIME_TEXT_H
#define POSTINO_MIME_MIME_TEXT_H

#include <stddef.h>

#include "lib/buf.h"

/* Either buffer may be NULL.  0, or -1 if the message cannot be parsed. */
int mime_text_extract(const void *data, size_t len, struct buf *header,
    struct buf *body) __attribute__((warn_unused_result));

#endif
