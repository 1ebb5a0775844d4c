/*
 * mime_decode.h - content transfer encodings and charsets.
 *
 * Decoders for the RFC 2045 section 6 transfer encodings (7bit, 8bit,
 * binary, base64, quoted-printable) plus uuencode, encoders for base64 and
 * quoted-printable, and charset conversion to UTF-8 through iconv.
 * Every decoder is lenient in the way real mail needs (junk and line breaks
 * inside base64, lowercase hex and bad escapes in quoted-printable) and
 * sees untrusted input: output never grows faster than the input.
 */
#ifndef POSTINO_MIME_MIME_DECODE_H
#define POSTINO_MIME_MIME_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/span.h"

enum mime_cte {
	MIME_CTE_7BIT,		/* also the default when the field is absent */
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_BASE64,
	MIME_CTE_QP,
	MIME_CTE_UUENCODE,	/* x-uuencode, x-uue, uuencode */
	MIME_CTE_UNKNOWN	/* anything else: the body is kept as it is */
};

/* Maps a Content-Transfer-Encoding value (CFWS allowed around it). */
enum mime_cte mime_cte_parse(struct span value);
/* Lowercase canonical name of cte ("7bit", "base64", ...). */
const char *mime_cte_name(enum mime_cte cte);

/*
 * Appends the decoded bytes of in to out.  Returns 0, or -1 if out's
 * ceiling was reached (out then holds a prefix of the result).  If
 * errors_r is not NULL it is set to true when the input had defects
 * (junk bytes, bad escapes, truncated groups) that were worked around.
 */
int mime_base64_decode(struct span in, struct buf *out, bool *errors_r)
	__attribute__((warn_unused_result));
int mime_qp_decode(struct span in, struct buf *out, bool *errors_r)
	__attribute__((warn_unused_result));

/*
 * Finds the first uuencoded block ("begin MODE NAME" line up to "end").
 * Returns true with block_r covering it from "begin" to the end of the
 * "end" line (or of the input if "end" is missing) and name_r the file
 * name on the begin line; both point into in.
 */
bool mime_uu_find(struct span in, struct span *block_r, struct span *name_r);
/*
 * Decodes the first uuencoded block of in into out.  Returns 1 with the
 * name in name_r (pointing into in), 0 if in has no "begin" line, -1 if
 * out's ceiling was reached.
 */
int mime_uu_decode(struct span in, struct buf *out, struct span *name_r)
	__attribute__((warn_unused_result));

/*
 * Decodes in according to cte into out (7bit, 8bit, binary and unknown
 * encodings are copied; uuencode decodes the first block, or copies the
 * input if there is none).  Returns 0 or -1 as above.
 */
int mime_decode_body(enum mime_cte cte, struct span in, struct buf *out,
    bool *errors_r) __attribute__((warn_unused_result));

/*
 * Converts in from charset (a MIME charset name, case-insensitive) to
 * UTF-8 appended to out.  Invalid sequences become U+FFFD.  Returns 0,
 * -1 if out's ceiling was reached, or -2 if the charset is unknown (out
 * unchanged).  us-ascii and utf-8 are fast paths (bytes copied; for
 * us-ascii, 8-bit bytes are kept as they are, as most readers do).
 */
int mime_charset_to_utf8(struct span charset, struct span in,
    struct buf *out) __attribute__((warn_unused_result));
/* True if the charset is known to iconv (or is one of the fast paths). */
bool mime_charset_known(struct span charset);

/*
 * Base64-encodes in into out, with a CRLF after every line_len output
 * characters (line_len a multiple of 4; 0 for one line with no CRLF).
 * A final CRLF ends a non-empty last line when line_len > 0.
 */
int mime_base64_encode(struct span in, size_t line_len, struct buf *out)
	__attribute__((warn_unused_result));
/*
 * Quoted-printable-encodes in into out with lines of at most 76
 * characters (RFC 2045 section 6.7).  If is_text, CRLF or LF line breaks
 * of the input become CRLF in the output; otherwise CR and LF are
 * encoded.  "From " and a lone "." at a line start are encoded too, so
 * the result survives mbox files and SMTP untouched.
 */
int mime_qp_encode(struct span in, bool is_text, struct buf *out)
	__attribute__((warn_unused_result));

#endif
