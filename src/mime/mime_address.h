/*
 * mime_address.h - RFC 5322 address lists to structured addresses.
 *
 * RFC 5322 section 3.4 (mailbox, group, angle-addr, addr-spec) and 4.4
 * (obsolete: route, phrase with dots, comments as names), in the shape
 * IMAP's ENVELOPE wants (RFC 3501 section 7.4.2).  Untrusted input.
 */
#ifndef POSTINO_MIME_MIME_ADDRESS_H
#define POSTINO_MIME_MIME_ADDRESS_H

#include <stdbool.h>

#include "lib/arena.h"
#include "lib/span.h"

struct mime_address {
	struct mime_address	*next;
	const char		*name;	  /* display name as written (quotes
					   * removed, words joined by one
					   * blank, encoded words kept);
					   * NULL if none.  A trailing
					   * comment serves as the name of a
					   * bare addr-spec. */
	const char		*route;	  /* obsolete "@a,@b" or NULL */
	const char		*mailbox; /* local part; the group name for
					   * a group start; NULL at a group
					   * end or if missing */
	const char		*domain;  /* NULL for a group start or end,
					   * or if missing */
	bool			 group_start;
	bool			 group_end;
};

/*
 * Parses an address-list header value (folds allowed).  Returns the list
 * in order (NULL if it holds no address), allocated from a; at most max
 * entries are returned.  Never fails: a broken address yields what could
 * be read (a missing domain stays NULL).
 */
struct mime_address *mime_address_parse(struct span value, struct arena *a,
    unsigned max);

/* Number of entries in a list. */
unsigned mime_address_count(const struct mime_address *list);

#endif
