/*
 * imap_fetch.h - renders the data items of one FETCH response (RFC 9051
 * section 7.5.2, RFC 3516 BINARY, RFC 7162 MODSEQ): FLAGS, INTERNALDATE,
 * RFC822.SIZE, ENVELOPE, BODY, BODYSTRUCTURE, BODY[section]<partial>
 * (HEADER, HEADER.FIELDS[.NOT], TEXT, MIME, part numbers), BINARY[...],
 * BINARY.SIZE, UID, MODSEQ, and the rev1 RFC822, RFC822.HEADER and
 * RFC822.TEXT.
 *
 * Pure: no store, no I/O.  The caller (imap_view.c) hands over what it
 * knows of the message; the message bytes are needed only for section
 * items and when the cached ENVELOPE/BODYSTRUCTURE/BODY are missing
 * (imap_fetch_needs_data).  Sections are cut at the byte offsets the MIME
 * library finds (mime_parse), and partial fetches copy only the bytes
 * asked for.  The message bytes are untrusted.
 */
#ifndef POSTINO_IMAP_IMAP_FETCH_H
#define POSTINO_IMAP_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap/imap_parse.h"
#include "lib/buf.h"
#include "lib/span.h"

struct imap_fetch_msg {
	uint32_t	 seq, uid;
	unsigned	 flags;		/* MAILSTORE_F_* */
	const char	*keywords;	/* space-separated, "" if none */
	bool		 recent;	/* \Recent (rev1 only) */
	time_t		 internal_date;
	uint64_t	 size;		/* RFC822.SIZE */
	uint64_t	 modseq;
	const char	*envelope;	/* cached, or NULL */
	const char	*bodystructure;	/* cached, or NULL */
	const char	*body;		/* cached, or NULL */
	struct span	 data;		/* the whole message, if needed */
};

struct imap_fetch_opts {
	bool	rev2;		/* no \Recent; rev2 forms */
	bool	utf8;
	bool	add_uid;	/* UID FETCH: UID always included */
	bool	add_flags;	/* \Seen was just set: FLAGS included */
	bool	add_modseq;	/* CONDSTORE active: MODSEQ included */
};

/* True if rendering atts needs m->data (sections, or no cache). */
bool imap_fetch_needs_data(const struct imap_fetch_att *atts, unsigned n,
    const struct imap_fetch_msg *m);
/* True if atts read the body without PEEK (sets \Seen, RFC 9051 6.4.5). */
bool imap_fetch_sets_seen(const struct imap_fetch_att *atts, unsigned n);

/*
 * Appends "* <seq> FETCH (...)\r\n" to out.  Returns 0; -1 with error_r
 * when out reached its ceiling or the data is unusable.  A BINARY section
 * whose content transfer encoding is unknown gives 1 with error_r: the
 * command answers NO [UNKNOWN-CTE].
 */
int imap_fetch_render(struct buf *out, const struct imap_fetch_msg *m,
    const struct imap_fetch_att *atts, unsigned n,
    const struct imap_fetch_opts *o, const char **error_r)
	__attribute__((warn_unused_result));

/* "(\Seen \Flagged $Label)" for flags and keywords (also for STORE). */
int imap_fetch_flags(struct buf *out, unsigned flags, const char *keywords,
    bool recent) __attribute__((warn_unused_result));

#endif
