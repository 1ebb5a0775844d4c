/*
 * imap_search_int.h - helpers shared by imap_search.c (SEARCH) and
 * imap_sort.c (SORT, THREAD): case folding, RFC 5322 dates, RFC 5256
 * base subjects.  Private to the IMAP search code; exposed for its tests.
 * All of them see untrusted message bytes.
 */
#ifndef POSTINO_IMAP_IMAP_SEARCH_INT_H
#define POSTINO_IMAP_IMAP_SEARCH_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "imap/imap_parse.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/span.h"

/*
 * Appends the case-folded form of in to out: ASCII letters lowercased,
 * and UTF-8 upper-case letters of Latin-1, Latin Extended-A and
 * Additional, Greek, Cyrillic, Armenian and fullwidth Latin mapped to
 * their simple lowercase (a subset of Unicode simple case folding, and of
 * SQLite's FTS5 folding, so that the full-text index stays a superset).
 * Bytes that are not UTF-8 are copied.  0 or -1 (out's ceiling).
 */
int imap_search_fold(struct span in, struct buf *out)
	__attribute__((warn_unused_result));

/* True if folded needle occurs in folded hay (an empty needle always). */
bool imap_search_contains(struct span hay, struct span needle);

/*
 * Parses an RFC 5322 date-time (section 3.3, with the obsolete forms of
 * section 4.3: two- and three-digit years, named zones, comments).  Sets
 * date_r to the date as written and, if utc_r is not NULL, *utc_r to the
 * instant in UTC (a missing time counts as 00:00:00 and a missing zone as
 * +0000).  False if no day, month and year can be read.
 */
bool imap_search_date_parse(struct span value, struct imap_date *date_r,
    time_t *utc_r);

/*
 * The base subject of a Subject: field value (RFC 5256 section 2.1):
 * RFC 2047-decoded, blanks collapsed, "Re:", "Fwd:", "[blob]" leaders,
 * "(fwd)" trailers and "[fwd: ...]" wrappers removed.  Returned
 * NUL-terminated from a (ASCII case preserved); *is_reply_r (if not NULL)
 * tells whether a reply or forward marker was removed.
 */
char *imap_search_base_subject(struct arena *a, struct span value,
    bool *is_reply_r);

/* The header block of a message (to the empty line, or all of it). */
struct span imap_search_header_of(struct span data);

#endif
