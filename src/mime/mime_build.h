/*
 * mime_build.h - building messages: headers, parts, attachments.
 *
 * For the webmail, bounces and the CLI: RFC 5322 headers (folded to 78
 * columns where they can be, never past 998), RFC 2047 encoded words for
 * non-ASCII header text, RFC 2231 for non-ASCII or long file names,
 * Message-ID and Date, RFC 2046 multipart/mixed and multipart/alternative
 * with boundaries that cannot occur in the content, and a choice of
 * 7bit, quoted-printable or base64 per part.  Input is trusted (our own
 * callers) but may be any UTF-8; output is always 7-bit clean.
 */
#ifndef POSTINO_MIME_MIME_BUILD_H
#define POSTINO_MIME_MIME_BUILD_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/span.h"
#include "mime/mime_decode.h"

#define MIME_BUILD_BOUNDARY_LEN	32	/* "=_postino_" + 22 characters */

struct mime_build_attachment {
	const char	*filename;	/* UTF-8, or NULL; up to 255 bytes
					 * are sure to be read back whole
					 * (MIME_MAX_PARAMS continuations) */
	const char	*content_type;	/* "type/subtype"; NULL: guessed as
					 * application/octet-stream */
	struct span	 data;
	enum mime_cte	 cte;		/* MIME_CTE_BASE64 or MIME_CTE_QP;
					 * anything else: base64 */
	bool		 is_inline;	/* Content-Disposition: inline */
	const char	*content_id;	/* without <>, or NULL; left out
					 * if it holds blanks, line breaks,
					 * quotes or angle brackets */
};

struct mime_build_msg {
	const char	*from;		/* address lists as UTF-8 text */
	const char	*to;
	const char	*cc;
	const char	*reply_to;
	const char	*subject;	/* UTF-8 */
	const char	*message_id;	/* without <>; NULL: generated */
	time_t		 date;		/* 0: now */
	const char	*text;		/* UTF-8 plain text, or NULL */
	const char	*html;		/* UTF-8 HTML, or NULL */
	enum mime_cte	 text_cte;	/* MIME_CTE_7BIT: choose; else QP or
					 * BASE64 for text and html */
	const struct mime_build_attachment *att;
	size_t		 natt;
	const char	*extra_headers;	/* preformatted "Name: value\r\n"
					 * lines, or NULL */
};

/*
 * Appends a whole message (headers, MIME-Version, Date, Message-ID, then
 * the body: one text part, multipart/alternative for text + HTML, and
 * multipart/mixed around them when there are attachments).  CRLF line
 * ends.  Returns 0, or -1 if out reached its ceiling.
 */
int mime_build_message(const struct mime_build_msg *msg, struct buf *out)
	__attribute__((warn_unused_result));

/*
 * Appends "Name: value" CRLF, with value (UTF-8) as RFC 2047 encoded
 * words if it is not plain ASCII or has a word too long to fold, folded
 * at blanks to 78 columns.  Returns 0 or -1.
 */
int mime_build_header(struct buf *out, const char *name, const char *value)
	__attribute__((warn_unused_result));

/*
 * Appends an address header: the list is parsed (mime_address_parse),
 * display names are quoted or encoded as needed, and the result folded
 * between addresses.  Returns 0 or -1.
 */
int mime_build_address_header(struct buf *out, const char *name,
    const char *list) __attribute__((warn_unused_result));

/* Writes a fresh random boundary (MIME_BUILD_BOUNDARY_LEN chars + NUL). */
void mime_build_boundary(char *out);

/*
 * Picks a transfer encoding for data: 7bit if it is ASCII with lines of
 * at most 998 octets, no NUL and no bare CR (and, for text, ends of lines
 * in CRLF or LF), else quoted-printable for mostly-ASCII text, else
 * base64.
 */
enum mime_cte mime_build_choose_cte(struct span data, bool is_text);

/*
 * Appends one leaf part: its MIME header (Content-Type with params,
 * Content-Transfer-Encoding, optional disposition and file name) and the
 * encoded body.  content_type includes any parameters already
 * ("text/plain; charset=utf-8").  Returns 0 or -1.
 */
int mime_build_part(struct buf *out, const char *content_type,
    enum mime_cte cte, const char *disposition, const char *filename,
    const char *content_id, struct span data)
	__attribute__((warn_unused_result));

#endif
