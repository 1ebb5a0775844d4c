/*
 * mime_header.h - header fields, MIME parameters and encoded words.
 *
 * RFC 5322 section 2.2 (fields, folding) and 4 (obsolete syntax), RFC 2045
 * section 5 (Content-Type), RFC 2183 (Content-Disposition), RFC 2231
 * (parameter continuations, charsets and languages), RFC 2047 (encoded
 * words).  All of it sees untrusted input.
 */
#ifndef POSTINO_MIME_MIME_HEADER_H
#define POSTINO_MIME_MIME_HEADER_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/span.h"

struct mime_field {
	struct span	name;	/* the field name, without blanks or ':' */
	struct span	value;	/* after ':' up to (not incl.) the last EOL;
				 * folds (CRLF or LF + WSP) are still in it */
	struct span	raw;	/* the whole field including its last EOL */
};

/*
 * Iterates the fields of a header block (which may include or omit the
 * empty line that ends it).  Returns true with the next field in f and
 * *pos advanced, false at the end.  A line with no colon is returned with
 * an empty value and the whole line as name (obsolete or broken headers
 * are kept, not dropped).  Bare LF line ends are accepted.
 */
bool mime_header_next(struct span hdr, size_t *pos, struct mime_field *f);
/* Finds the first field called name (case-insensitive); its value. */
bool mime_header_find(struct span hdr, const char *name,
    struct span *value_r);

/*
 * Appends value unfolded (CR and LF removed, RFC 5322 section 2.2.3) and
 * with leading and trailing blanks trimmed.  Returns 0 or -1 (ceiling).
 */
int mime_header_unfold(struct span value, struct buf *out)
	__attribute__((warn_unused_result));
/* Same, into the arena (NUL-terminated; NUL bytes are kept as they are). */
char *mime_header_unfold_a(struct arena *a, struct span value, size_t *len_r);

struct mime_param {
	struct mime_param	*next;
	const char		*name;	/* lowercase, without "*" or "*N" */
	const char		*value;	/* unquoted; RFC 2231 values joined,
					 * %-decoded and converted to UTF-8
					 * (kept as bytes if the charset is
					 * unknown) */
	const char		*raw_name; /* name as IMAP shows it: case as
					 * written, with a trailing "*" if
					 * extended */
	const char		*raw_value; /* continuations joined but not
					 * decoded ("utf-8''a%20b") */
	const char		*language; /* RFC 2231 language or NULL */
	bool			 is_2231; /* written as name* or name*N */
};

/*
 * Parses ";"-separated parameters (RFC 2045 section 5.1 with RFC 2231)
 * from s, which starts at or before the first ';'.  Returns the list
 * (allocated from a; NULL if none): plain parameters in order, the first
 * of each name kept, then the RFC 2231 ones (continuations joined), as
 * Dovecot lists them; a name may so appear twice, once each way.  An
 * unquoted empty value drops the parameter.  At most MIME_MAX_PARAMS
 * pieces are read.
 */
struct mime_param *mime_params_parse(struct span s, struct arena *a);
/* Value of the parameter called name (lowercase), or NULL; an RFC 2231
 * value wins over a plain one. */
const char *mime_param_get(const struct mime_param *list, const char *name);
/* The parameter itself (same choice as mime_param_get()), or NULL. */
const struct mime_param *mime_param_find(const struct mime_param *list,
    const char *name);

struct mime_ctype {
	const char		*type;		/* lowercase, "" if invalid */
	const char		*subtype;	/* lowercase */
	struct mime_param	*params;
};

/*
 * Parses a Content-Type value.  Returns 0, or -1 if there is no valid
 * "type/subtype" (ct_r->type and subtype are then "", params may still
 * be set).  Strings are allocated from a.
 */
int mime_ctype_parse(struct span value, struct arena *a,
    struct mime_ctype *ct_r);

/*
 * Parses a Content-Disposition value: the lowercase disposition type
 * (NULL if absent) and its parameters.
 */
void mime_disposition_parse(struct span value, struct arena *a,
    const char **type_r, struct mime_param **params_r);

/*
 * Decodes a header value for display: unfolds it and replaces RFC 2047
 * encoded words (B and Q, any charset iconv knows) with UTF-8.  Blanks
 * between adjacent encoded words are dropped (RFC 2047 section 6.2);
 * encoded words of unknown charsets and malformed ones are left as they
 * are; an encoded word split in the middle of a multibyte character over
 * two words of the same charset is joined first.  Other bytes are copied
 * (8-bit bytes as they are).  Returns 0 or -1 (ceiling).
 */
int mime_header_decode(struct span value, struct buf *out)
	__attribute__((warn_unused_result));
/* Same, into the arena. */
char *mime_header_decode_a(struct arena *a, struct span value);

#endif
