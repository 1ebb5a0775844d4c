/*
 * imap_recent.h - the \Recent flag of IMAP4rev1 (RFC 3501 section 2.3.2)
 * for a single-process server: a message is recent for the first session
 * that selects its mailbox read-write (or has it selected) after the
 * message arrived.
 *
 * Each mailbox, keyed by (user id, UIDVALIDITY), has a mark in a
 * process-wide table: the highest UID some session has already taken as
 * recent.  A rev1 session opening the mailbox read-write claims every UID
 * above the mark (and moves the mark past them); so does it for new
 * messages at each update while selected.  EXAMINE and STATUS only read
 * the mark.  IMAP4rev2 sessions neither see nor take \Recent.
 *
 * XXX: the marks live in memory only: after a restart (or once the table
 * has dropped a mailbox's entry past IMAP_RECENT_MAX_ENTRIES) every
 * message of that mailbox is recent again, once.
 *
 * Thread-safe (one mutex); no untrusted input.
 */
#ifndef POSTINO_IMAP_IMAP_RECENT_H
#define POSTINO_IMAP_IMAP_RECENT_H

#include <stdint.h>

/* Mailboxes with a mark; past it the least recently used is dropped. */
#define IMAP_RECENT_MAX_ENTRIES	65536

/*
 * Moves the mark of (user_id, uidvalidity) up to max_uid (never down)
 * and returns what it was before (0 for a mailbox not in the table):
 * the caller owns the UIDs in (old mark, max_uid] as recent.
 */
uint32_t imap_recent_claim(int64_t user_id, uint32_t uidvalidity,
    uint32_t max_uid);
/* The mark, unchanged (0 for a mailbox not in the table). */
uint32_t imap_recent_mark(int64_t user_id, uint32_t uidvalidity);
/* Forgets every mark (tests; stores made again with the same ids). */
void imap_recent_reset(void);

#endif
