/*
 * mime_parse.h - one-pass MIME structure parser with byte offsets.
 *
 * Parses a whole message held in memory (or mmapped) into a tree of parts
 * (RFC 5322 message format, RFC 2045/2046 structure) without copying
 * bodies: each part records where its header, body and end are, so that
 * IMAP can serve BODY[1.2], BODY[1.2.HEADER], BODY[1.2.MIME],
 * BODY[1.2.TEXT], partial fetches and BINARY[] from offsets alone.
 * Sees untrusted input (every delivered message).
 */
#ifndef POSTINO_MIME_MIME_PARSE_H
#define POSTINO_MIME_MIME_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/span.h"
#include "mime/mime_decode.h"
#include "mime/mime_header.h"

/* part flags */
#define MIME_PART_F_MULTIPART	0x0001	/* children are its body parts */
#define MIME_PART_F_MESSAGE	0x0002	/* message/rfc822 or message/global:
					 * one child, the message inside */
#define MIME_PART_F_NO_CLOSE	0x0004	/* multipart without a final
					 * "--boundary--" line */
#define MIME_PART_F_TRUNCATED	0x0008	/* a limit was reached: not split
					 * into parts, one opaque body */
#define MIME_PART_F_NO_BOUNDARY	0x0010	/* multipart with no usable boundary
					 * parameter: kept as a leaf */
#define MIME_PART_F_DEFAULT_TYPE 0x0020	/* no valid Content-Type: the
					 * default applies (text/plain, or
					 * message/rfc822 in a digest) */
#define MIME_PART_F_HEADER_LIMIT 0x0040	/* header larger than the limits:
					 * fields past them are ignored */
#define MIME_PART_F_NO_HEADER_END 0x0080 /* header not ended by an empty
					 * line (EOF or boundary first) */

struct mime_part {
	struct mime_part	*parent;
	struct mime_part	*children;	/* first child */
	struct mime_part	*next;		/* next sibling */
	unsigned		 nchildren;
	unsigned		 depth;		/* root: 0 */
	unsigned		 flags;		/* MIME_PART_F_* */

	/* byte offsets into the message: header [hdr_off, body_off)
	 * including the empty line that ends it, body [body_off, end_off).
	 * The line break before a boundary line belongs to the boundary. */
	size_t			 hdr_off;
	size_t			 body_off;
	size_t			 end_off;

	/* sizes as IMAP counts them: with every bare LF counted as CRLF,
	 * and the number of lines (LF characters) in the body */
	size_t			 hdr_vsize;
	size_t			 body_vsize;
	size_t			 body_lines;

	/* Content-Type, lowercase; defaults applied (see flags) */
	const char		*type;
	const char		*subtype;
	struct mime_param	*params;
	enum mime_cte		 cte;

	/* raw values (after the colon, folds kept) of the first field of
	 * each name (the last one for Content-Disposition, as Dovecot);
	 * p == NULL if absent.  They point into the message. */
	struct span		 f_ctype;
	struct span		 f_cte;
	struct span		 f_id;
	struct span		 f_desc;
	struct span		 f_disp;
	struct span		 f_lang;
	struct span		 f_loc;
	struct span		 f_md5;

	/* private to the parser */
	size_t			 lf0, crlf0;
	struct mime_part	*last_child;
	bool			 closed;
};

struct mime_limits {
	unsigned	max_depth;	/* nesting: past it one opaque part */
	unsigned	max_parts;	/* past it, the rest is one part */
	size_t		max_header;	/* one field; longer ones ignored */
	size_t		max_headers_total; /* one header block */
	unsigned	max_header_fields; /* fields per header block */
};

/* The defaults from postino_limits.h. */
void mime_limits_default(struct mime_limits *l);

struct mime_message {
	struct arena		*arena;	/* owns the tree */
	const uint8_t		*data;	/* the message; not owned */
	size_t			 len;
	struct mime_part	*root;
	unsigned		 nparts;
	unsigned		 flags;	/* MIME_PART_F_* of any part, or'ed */
};

/*
 * Parses the len bytes at data (CRLF or bare LF line ends, any content).
 * Never fails: broken structure gets the lenient reading described in
 * docs/mime.md.  The tree keeps pointers into data, which must outlive
 * it.  Memory used is O(number of parts + header bytes), bounded by the
 * limits (NULL: mime_limits_default()).  Free with mime_message_free().
 */
struct mime_message *mime_parse(const void *data, size_t len,
    const struct mime_limits *limits);
void mime_message_free(struct mime_message **m);

/* The header (with its ending empty line) and body of a part. */
struct span mime_part_header(const struct mime_message *m,
    const struct mime_part *p);
struct span mime_part_body(const struct mime_message *m,
    const struct mime_part *p);
/* Whether a part is of the given lowercase type (subtype NULL: any). */
bool mime_part_is(const struct mime_part *p, const char *type,
    const char *subtype);
/*
 * Appends the transfer-decoded body of a leaf part (BINARY[], RFC 3516)
 * to out; multipart and message parts are copied.  Returns 0 or -1 if out
 * reached its ceiling.
 */
int mime_part_decode(const struct mime_message *m, const struct mime_part *p,
    struct buf *out) __attribute__((warn_unused_result));
/*
 * Decoded text of a leaf part: transfer-decoded, then converted from its
 * charset to UTF-8 (bytes kept if the charset is unknown).  0 or -1.
 */
int mime_part_text(const struct mime_message *m, const struct mime_part *p,
    struct buf *out) __attribute__((warn_unused_result));
/*
 * The attachment file name of a part: Content-Disposition filename, else
 * Content-Type name (both RFC 2231- and RFC 2047-decoded), else NULL.
 * Allocated from the message's arena.
 */
const char *mime_part_filename(struct mime_message *m, struct mime_part *p);

enum mime_section_kind {
	MIME_SECTION_ALL,	/* BODY[] : the whole message */
	MIME_SECTION_PART,	/* BODY[1.2] : the part's body */
	MIME_SECTION_HEADER,	/* BODY[HEADER], BODY[1.2.HEADER] */
	MIME_SECTION_HEADER_FIELDS, /* ...HEADER.FIELDS (caller filters) */
	MIME_SECTION_HEADER_FIELDS_NOT,
	MIME_SECTION_TEXT,	/* BODY[TEXT], BODY[1.2.TEXT] */
	MIME_SECTION_MIME	/* BODY[1.2.MIME] : the part's own header */
};

struct mime_section {
	enum mime_section_kind	 kind;
	const struct mime_part	*part;	/* the part the range belongs to */
	size_t			 off;	/* byte range in the message */
	size_t			 len;
};

/*
 * Locates an IMAP section specifier (RFC 3501 section 6.4.5, RFC 9051
 * 6.4.5): "" , "1.2", "1.2.HEADER", "1.2.TEXT", "1.2.MIME", "HEADER",
 * "TEXT", "1.2.HEADER.FIELDS" (any text after FIELDS, such as the field
 * list, is ignored: the caller filters with mime_header_filter()).
 * Keywords are case-insensitive.  Returns 0 with r set, -1 if the section
 * is malformed or names a part that does not exist (RFC 3501 then returns
 * an empty string; the caller decides).
 */
int mime_section_find(const struct mime_message *m, const char *section,
    struct mime_section *r);

/*
 * Appends to out the fields of header hdr whose names are (or with not,
 * are not) among names[0..n), followed by an empty line, as IMAP
 * HEADER.FIELDS wants.  Returns 0 or -1.
 */
int mime_header_filter(struct span hdr, const char *const *names, size_t n,
    bool not, struct buf *out) __attribute__((warn_unused_result));

/*
 * Writes a line-oriented description of the tree (one line per part:
 * section, type, parameters, offsets, sizes, filename, decoded-body
 * digest) for tests and debugging; the format is documented in
 * docs/mime.md.  With bodies, decoded texts are appended hex-encoded.
 */
int mime_dump(struct mime_message *m, bool bodies, struct buf *out)
	__attribute__((warn_unused_result));

#endif
