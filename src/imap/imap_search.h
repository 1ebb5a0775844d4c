/*
 * imap_search.h - SEARCH criteria evaluation (RFC 9051 section 6.4.4,
 * every key, CHARSET UTF-8/US-ASCII, RFC 7162 MODSEQ), and SORT and
 * THREAD (RFC 5256 with RFC 5957 DISPLAYFROM/DISPLAYTO).
 *
 * Pure: no store, no I/O.  The caller (imap_view.c) hands over one
 * message at a time with what it knows; the header or the whole message
 * is loaded only if a key needs it (imap_search_needs).  String keys match
 * as RFC 9051 says: case-insensitive substring, over the decoded text
 * (RFC 2047 words in headers, base64/quoted-printable bodies, charsets
 * converted to UTF-8: mime/mime_text.h).  The full-text index only
 * narrows the candidates (imap_search_fts_terms); this module always
 * confirms.  Message bytes are untrusted.
 */
#ifndef POSTINO_IMAP_IMAP_SEARCH_H
#define POSTINO_IMAP_IMAP_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "imap/imap_parse.h"
#include "lib/buf.h"
#include "lib/span.h"

#define IMAP_SEARCH_NEED_HEADER	0x1u	/* header keys, SENT*, SORT */
#define IMAP_SEARCH_NEED_BODY	0x2u	/* BODY, TEXT: the whole message */

struct imap_search_msg {
	uint32_t	 seq, uid;
	unsigned	 flags;		/* MAILSTORE_F_* */
	const char	*keywords;	/* space-separated */
	bool		 recent;
	time_t		 internal_date;
	uint64_t	 size;		/* RFC822.SIZE */
	uint64_t	 modseq;
	struct span	 header;	/* if NEED_HEADER (or data) */
	struct span	 data;		/* whole message, if NEED_BODY */
};

/* The mailbox around the messages (for "*" and "$"). */
struct imap_search_ctx {
	uint32_t		 exists;	/* highest sequence number */
	uint32_t		 max_uid;	/* UID of the last message */
	const uint32_t		*saved_uids;	/* "$" (SEARCHRES), sorted */
	size_t			 nsaved;
	int			 zone_minutes;	/* for date keys: 0 (UTC) */
};

/* Which parts of the message the keys look at (NEED_* bits). */
unsigned imap_search_needs(const struct imap_search_key *k);

/*
 * Strings every match must contain in its body or text (from BODY and
 * TEXT keys under the top-level AND, not under OR/NOT): the full-text
 * index may narrow to messages holding all of them.  Fills up to max
 * spans (pointing into the command); returns how many.
 */
size_t imap_search_fts_terms(const struct imap_search_key *k,
    struct span *terms, size_t max);
/* The same, with body_only_r[i] (if not NULL; max entries) true for a
 * BODY term and false for a TEXT one, as mailstore_fts_candidates wants. */
size_t imap_search_fts_terms_kind(const struct imap_search_key *k,
    struct span *terms, bool *body_only_r, size_t max);

/* 1 match, 0 no match, -1 on an error (e.g. bad charset). */
int imap_search_match(const struct imap_search_key *k,
    const struct imap_search_msg *m, const struct imap_search_ctx *c);

/* ---- SORT and THREAD ---- */

/*
 * Sorts msgs[0..n) (each with header loaded) by crit, ties broken by
 * sequence number (RFC 5256 section 3); writes the order (indexes into
 * msgs) to order_r (n entries).  0 or -1 (out of memory is fatal).
 */
int imap_sort(const struct imap_search_msg *msgs, size_t n,
    const struct imap_sort_crit *crit, unsigned ncrit, size_t *order_r);

/*
 * THREAD=ORDEREDSUBJECT or THREAD=REFERENCES over msgs (headers loaded):
 * appends the thread list "(1)(2 3)..." of sequence numbers, or UIDs
 * with use_uid, to out (without "* THREAD ").  0, -1 (out full or
 * unknown algorithm).
 */
int imap_thread(const struct imap_search_msg *msgs, size_t n,
    struct span algorithm, bool use_uid, struct buf *out);

#endif
