/*
 * mailstore.h - one account's mailboxes and messages (IMAP data model).
 *
 * Layout: DATA_DIR/mail/<user id>/index.db (SQLite, WAL) and immutable
 * message files DATA_DIR/mail/<user id>/msg/<blob> (one message per file,
 * or several with packing: a message is (file, offset, size)).  The
 * directory is named by the numeric user id only, never by anything a
 * client sends.
 *
 * Data model (RFC 3501/9051, RFC 6154, RFC 7162): mailboxes form a
 * hierarchy with delimiter '/', names in UTF-8, "INBOX" case-insensitive;
 * each has UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, a special-use attribute and
 * a subscribed flag.  Each message has mailbox, UID, blob name, size,
 * internal date, system flags (bits below), keywords, MODSEQ, and cached
 * parse results (envelope, bodystructure, body) filled later by the MIME
 * library.  New accounts get INBOX, Sent, Drafts, Junk and Trash.
 *
 * Delivery is batched (mailstore_deliver / mailstore_deliver_multi): all
 * message files of a batch are written, made durable with one syncfs(), and
 * then indexed in one SQLite transaction per account (synchronous=FULL).
 * Each delivery may carry a dedupe key; a key already recorded is skipped
 * and reported as delivered, so a crash between the store commit and the
 * queue's own bookkeeping never delivers a message twice.
 *
 * For IMAP the index also keeps an expunge log (UIDs that left a mailbox,
 * with their MODSEQ, for QRESYNC), the account's usage counters (RFC
 * 9208, kept by triggers) and a full-text index of every message's
 * searchable text (FTS5, trigram tokenizer); see docs/store.md.
 *
 * Handles: one struct mailstore per account and per thread, each with its
 * own SQLite connection; never share one between threads.  Does not parse
 * untrusted input; mailbox names (which later come from IMAP clients) are
 * validated: UTF-8, no control characters, no empty hierarchy level, at most
 * STORE_MAX_MAILBOX_NAME bytes.
 *
 * Error strings returned through error_r live until the next call on the
 * same handle (for functions without a handle: until the next such call
 * in the same thread).
 */
#ifndef POSTINO_STORE_MAILSTORE_H
#define POSTINO_STORE_MAILSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "lib/span.h"

/* With packing on, messages up to this size share one file per batch. */
#define MAILSTORE_PACK_MAX_MESSAGE	(256u * 1024)
/* Dedupe keys older than this are pruned (seconds). */
#define MAILSTORE_DEDUPE_MAX_AGE	(7 * 24 * 3600)

/* The expunge log (QRESYNC) keeps entries this long (seconds) ... */
#define MAILSTORE_EXPUNGE_LOG_AGE	(90 * 24 * 3600)
/* ... and at most this many per mailbox. */
#define MAILSTORE_EXPUNGE_LOG_ROWS	100000

/* System flags as bits (RFC 3501 section 2.3.2). */
#define MAILSTORE_F_SEEN	0x01u
#define MAILSTORE_F_ANSWERED	0x02u
#define MAILSTORE_F_FLAGGED	0x04u
#define MAILSTORE_F_DELETED	0x08u
#define MAILSTORE_F_DRAFT	0x10u
#define MAILSTORE_F_ALL		0x1fu

/* Special-use attributes (RFC 6154). */
enum mailstore_special {
	MAILSTORE_SPECIAL_NONE,
	MAILSTORE_SPECIAL_SENT,		/* \Sent */
	MAILSTORE_SPECIAL_DRAFTS,	/* \Drafts */
	MAILSTORE_SPECIAL_JUNK,		/* \Junk */
	MAILSTORE_SPECIAL_TRASH,	/* \Trash */
	MAILSTORE_SPECIAL_ARCHIVE,	/* \Archive */
	MAILSTORE_SPECIAL_ALL,		/* \All */
	MAILSTORE_SPECIAL_FLAGGED,	/* \Flagged */
};
/* "\Sent" etc., or NULL for MAILSTORE_SPECIAL_NONE. */
const char *mailstore_special_name(enum mailstore_special s);

struct mailstore;

/*
 * Creates the store of a new account: directory (mode 0700), msg/,
 * index.db with the default mailboxes.  A leftover directory of the same
 * id (from an add that crashed before committing) is removed first.
 */
int mailstore_create(const char *data_dir, int64_t user_id,
    const char **error_r) __attribute__((warn_unused_result));
/* Removes the whole store directory of an account (0, or -1). */
int mailstore_remove(const char *data_dir, int64_t user_id,
    const char **error_r) __attribute__((warn_unused_result));
/*
 * Opens an existing store.  Returns NULL with error_r set if it does not
 * exist or cannot be opened.
 */
struct mailstore *mailstore_open(const char *data_dir, int64_t user_id,
    const char **error_r);
/* NULL is a no-op; sets *ms to NULL. */
void mailstore_close(struct mailstore **ms);
int64_t mailstore_user_id(const struct mailstore *ms);
/*
 * Packing (off by default): the messages of one delivery batch up to
 * MAILSTORE_PACK_MAX_MESSAGE bytes go into ONE new file, one after the
 * other, instead of a file each; larger ones still get their own.  A
 * message is then (path, offset, size), not a whole file: readers must
 * use mailstore_message_read/_open/_locate or the offset of
 * struct mailstore_message.  A file is removed when its last message is
 * expunged (space inside a pack is not reclaimed before: XXX compaction).
 * Creating one inode per message is the main cost of a delivery on a busy
 * ext4, so this multiplies delivery throughput.
 */
void mailstore_set_packing(struct mailstore *ms, bool on);

/* ---- delivery ---- */

struct mailstore_delivery {
	/* in */
	const char	*dedupe_key;	/* e.g. "<qid> <rcpt>"; NULL: none */
	const char	*mailbox;	/* target name; NULL: see special;
					 * an unknown name falls back to
					 * INBOX */
	enum mailstore_special special;	/* used when mailbox is NULL: the
					 * mailbox with this attribute; INBOX
					 * if NONE or none has it */
	const void	*prefix;	/* bytes written first (e.g.
					 * "Return-Path: <..>\r\nDelivered-To:
					 * ..\r\n"), may be NULL */
	size_t		 prefix_len;
	int		 fd;		/* source of the message bytes, or -1 */
	uint64_t	 offset;	/* where they start in fd */
	uint64_t	 size;		/* how many (from fd, or from data) */
	const void	*data;		/* used when fd < 0 */
	time_t		 internal_date;	/* 0: now */
	unsigned	 flags;		/* MAILSTORE_F_* */
	const char	*envelope;	/* cached parse (IMAP ENVELOPE, */
	const char	*bodystructure;	/* BODYSTRUCTURE, BODY text), stored */
	const char	*body;		/* as given; NULL: left empty */
	/* out */
	int		 status;	/* 0 stored or duplicate, -1 failed */
	bool		 duplicate;	/* dedupe key was known: not stored */
	uint32_t	 uid;		/* UID given (0 if duplicate/failed) */
	uint32_t	 uidvalidity;	/* of the mailbox it went into */
	const char	*error;		/* static reason when status is -1 */
	/* in (IMAP APPEND) */
	const char	*keywords;	/* space-separated keywords to set
					 * (checked as for set_keywords; an
					 * invalid one fails the delivery),
					 * or NULL */
	bool		 exact_mailbox;	/* mailbox must exist: no fallback
					 * to INBOX (status -1, error "no
					 * such mailbox") */
	/* out */
	bool		 over_quota;	/* status -1 because the message
					 * would take the account past
					 * mailstore_set_quota's limit
					 * (error "mailbox full") */
};

/*
 * Delivers n messages to one account.  Every delivery's out fields are
 * set.  Returns 0 if the batch was processed (individual deliveries may
 * still have status -1: e.g. a read error on fd), or -1
 * with error_r set if nothing was stored (every status is then -1).
 * When this returns, each delivery with status 0 is on stable storage.
 * Source fds are read with pread/copy_file_range: their offsets are not
 * changed.
 */
int mailstore_deliver(struct mailstore *ms, struct mailstore_delivery *d,
    size_t n, const char **error_r) __attribute__((warn_unused_result));

/* Several accounts at once: files of all accounts, one syncfs() for all. */
struct mailstore_batch {
	struct mailstore		*ms;
	struct mailstore_delivery	*d;
	size_t				 n;
};
/*
 * Returns 0 when the batch was processed: each delivery's status says
 * whether it is stored (a failed index update of one account fails only
 * that account's deliveries).  Returns -1 with error_r set if the files
 * could not be made durable: then no delivery of any account is stored
 * (every status -1 except duplicates found beforehand).
 */
int mailstore_deliver_multi(struct mailstore_batch *b, size_t nb,
    const char **error_r) __attribute__((warn_unused_result));

/* Removes dedupe keys older than max_age seconds; returns rows or -1. */
int mailstore_prune_dedupe(struct mailstore *ms, uint64_t max_age,
    const char **error_r);

/* ---- mailboxes ---- */

struct mailstore_mailbox {
	int64_t			 id;
	const char		*name;		/* lives for the callback */
	uint32_t		 uidvalidity;
	uint32_t		 uidnext;
	uint64_t		 highestmodseq;
	enum mailstore_special	 special;
	bool			 subscribed;
	uint32_t		 messages;
	uint32_t		 unseen;	/* without \Seen */
	uint64_t		 bytes;
};
typedef void mailstore_mailbox_fn(void *ctx,
    const struct mailstore_mailbox *mb);
/* Calls fn for each mailbox, INBOX first, then by name.  0 or -1. */
int mailstore_mailbox_list(struct mailstore *ms, mailstore_mailbox_fn *fn,
    void *ctx, const char **error_r) __attribute__((warn_unused_result));
/*
 * Fills *mb for one mailbox by name (mb->name then points into the handle
 * and lives until the next call).  1 found, 0 not found, -1 error.
 */
int mailstore_mailbox_get(struct mailstore *ms, const char *name,
    struct mailstore_mailbox *mb, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * Creates a mailbox (special may be NONE).  Parents are not created
 * (IMAP clients may do that); -1 if the name is invalid or exists.
 */
int mailstore_mailbox_create(struct mailstore *ms, const char *name,
    enum mailstore_special special, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * Deletes a mailbox and its messages (files removed after the commit).
 * INBOX cannot be deleted; children are kept.  0 or -1.
 */
int mailstore_mailbox_delete(struct mailstore *ms, const char *name,
    const char **error_r) __attribute__((warn_unused_result));
/*
 * Renames a mailbox and every child ("a/b" moves with "a"), keeping
 * UIDVALIDITY and UIDs.  Renaming INBOX follows RFC 3501 section 6.3.5: a
 * new mailbox `to` receives all of INBOX's messages (same UIDs, its own new
 * UIDVALIDITY), INBOX stays, empty, and its children are not moved.
 * -1 if from does not exist, to exists, or a name is invalid.
 */
int mailstore_mailbox_rename(struct mailstore *ms, const char *from,
    const char *to, const char **error_r)
	__attribute__((warn_unused_result));
int mailstore_mailbox_subscribe(struct mailstore *ms, const char *name,
    bool subscribed, const char **error_r)
	__attribute__((warn_unused_result));

/*
 * Removes messages from a mailbox (IMAP EXPUNGE / UID EXPUNGE, POP3 QUIT).
 * uids NULL: every message of the mailbox, else those of uids[0..nuids);
 * with require_deleted, only those carrying \Deleted.  Bumps
 * HIGHESTMODSEQ if anything went.  The removed UIDs (ascending) go to
 * *expunged_r (heap, caller frees; may be NULL if not wanted) and their
 * count to *nexpunged_r.  Files no other message uses are unlinked after
 * the commit.  0, or -1 (no such mailbox, error).
 */
int mailstore_expunge(struct mailstore *ms, const char *mailbox,
    const uint32_t *uids, size_t nuids, bool require_deleted,
    uint32_t **expunged_r, size_t *nexpunged_r, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * Removes files in msg/ that no message row references and that are older
 * than min_age seconds (left by a crash between writing files and the
 * index commit).  min_age must exceed the longest delivery (e.g. 3600) so
 * that files of a batch in progress in another thread are not taken.
 * Returns the number removed, or -1.
 */
int mailstore_sweep(struct mailstore *ms, uint64_t min_age,
    const char **error_r);

/* ---- messages ---- */

struct mailstore_message {
	uint32_t	 uid;
	uint64_t	 size;
	unsigned	 flags;		/* MAILSTORE_F_* */
	const char	*keywords;	/* space-separated, "" if none */
	time_t		 internal_date;
	uint64_t	 modseq;
	const char	*path;		/* full path of the file holding it */
	uint64_t	 offset;	/* where it starts in that file (0
					 * unless packing is on); size bytes */
	/* the cached parse (IMAP ENVELOPE, BODYSTRUCTURE, BODY): NULL
	 * unless listed with MAILSTORE_LIST_CACHE, or not cached */
	const char	*envelope;
	const char	*bodystructure;
	const char	*body;
};
typedef void mailstore_message_fn(void *ctx,
    const struct mailstore_message *m);
/*
 * Calls fn for each message of a mailbox in UID order (strings live for
 * the callback).  Returns the number of messages, or -1 (no such mailbox).
 */
int mailstore_message_list(struct mailstore *ms, const char *mailbox,
    mailstore_message_fn *fn, void *ctx, const char **error_r)
	__attribute__((warn_unused_result));

/* what mailstore_message_list_range fills beyond the basic fields */
#define MAILSTORE_LIST_CACHE	0x1u	/* envelope, bodystructure, body */
/*
 * Like mailstore_message_list, over the UIDs uid_lo..uid_hi (uid_hi 0: no
 * upper bound), in UID order, from one read snapshot.  One prepared query
 * per call, nothing per message: listing 10,000 messages with the cache
 * takes a few ms.  fn must not write, nor list again, through the same
 * handle (other reads are fine).  Returns the
 * number of messages listed, or -1 (no such mailbox, error).
 */
int mailstore_message_list_range(struct mailstore *ms, const char *mailbox,
    uint32_t uid_lo, uint32_t uid_hi, unsigned what,
    mailstore_message_fn *fn, void *ctx, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * The cheap state of one mailbox (one indexed row, no count over its
 * messages), for polling: 1 with the values set (any pointer may be NULL),
 * 0 if there is no such mailbox, -1 on error.  Every change to a mailbox's
 * messages (delivery, flags, keywords, expunge, copy or move in or out)
 * raises its HIGHESTMODSEQ.
 */
int mailstore_mailbox_state(struct mailstore *ms, const char *name,
    uint32_t *uidvalidity_r, uint32_t *uidnext_r, uint64_t *highestmodseq_r,
    const char **error_r) __attribute__((warn_unused_result));
/*
 * What SELECT needs of a mailbox, without reading every message row: its
 * state, its UIDs in ascending order (as runs), the position of the first
 * message without \Seen, and the keywords its messages use.  Read from a
 * summary kept per mailbox (schema v7/v8), or, when a change dropped it,
 * from the messages (and the summary saved again for the next SELECT,
 * unless another writer holds the database).  All from one snapshot.
 */
struct mailstore_uid_run {
	uint32_t	lo, hi;		/* every UID from lo to hi */
};
struct mailstore_summary {
	uint32_t	 uidvalidity, uidnext;
	uint64_t	 highestmodseq;
	/* the UIDs, ascending, as runs of consecutive UIDs: heap, NULL if
	 * nruns is 0; n UIDs in all */
	struct mailstore_uid_run *runs;
	size_t		 nruns, n;
	size_t		 first_unseen;	/* 1-based; 0: none */
	char		*keywords;	/* heap: distinct (any case),
					   space-separated, "" if none, at most
					   MAILSTORE_SUMMARY_KEYWORDS bytes */
};
#define MAILSTORE_SUMMARY_KEYWORDS	(64u * 1024)
/* 1 (*s filled; mailstore_summary_free it), 0 no such mailbox, -1 error */
int mailstore_mailbox_summary(struct mailstore *ms, const char *name,
    struct mailstore_summary *s, const char **error_r)
	__attribute__((warn_unused_result));
void mailstore_summary_free(struct mailstore_summary *s);
/*
 * Changes since a MODSEQ (RFC 7162 CONDSTORE/QRESYNC, and cross-session
 * updates).  list_since: the messages whose MODSEQ is > since (new, or
 * flags/keywords changed), in UID order, basic fields only; returns their
 * count or -1 (no such mailbox, error).
 * expunged_since: UIDs removed (expunged, or moved away) with a MODSEQ >
 * since, ascending, in *uids_r (heap, caller frees; NULL when *n_r is 0).
 * *complete_r is false when the expunge log (pruned by age and size, see
 * mailstore_prune_expunged) no longer reaches back to since: the caller
 * must then compare full UID lists.  0, or -1 (no such mailbox, error).
 */
int mailstore_message_list_since(struct mailstore *ms, const char *mailbox,
    uint64_t since, mailstore_message_fn *fn, void *ctx,
    const char **error_r) __attribute__((warn_unused_result));
int mailstore_expunged_since(struct mailstore *ms, const char *mailbox,
    uint64_t since, uint32_t **uids_r, size_t *n_r, bool *complete_r,
    const char **error_r) __attribute__((warn_unused_result));
/*
 * Prunes the expunge log: entries older than max_age seconds, and in each
 * mailbox all but the newest max_rows entries; remembers per mailbox the
 * highest MODSEQ dropped (expunged_since is incomplete below it).  Runs
 * by itself inside mailstore_expunge hourly with MAILSTORE_EXPUNGE_LOG_AGE
 * and MAILSTORE_EXPUNGE_LOG_ROWS.  Returns the rows removed, or -1.
 */
int mailstore_prune_expunged(struct mailstore *ms, uint64_t max_age,
    uint64_t max_rows, const char **error_r);

/* IMAP STORE (RFC 9051 6.4.6), with UNCHANGEDSINCE (RFC 7162 3.1.3) */
enum mailstore_flag_mode {
	MAILSTORE_FLAGS_REPLACE,	/* FLAGS */
	MAILSTORE_FLAGS_ADD,		/* +FLAGS */
	MAILSTORE_FLAGS_REMOVE,		/* -FLAGS */
};
struct mailstore_flag_change {
	uint32_t	 uid;		/* in */
	int		 status;	/* out: 1 changed, 0 unchanged, -1 no
					 * such message, 2 refused: its
					 * modseq > unchangedsince */
	unsigned	 flags;		/* out: flags after */
	char		*keywords;	/* out: heap, keywords after ("" if
					 * none; NULL when status is -1) */
	uint64_t	 modseq;	/* out: modseq after */
};
/*
 * Applies one STORE to the messages c[0..n) in one transaction: flags
 * (MAILSTORE_F_* bits) and keywords (space-separated, or NULL: none) are
 * set, added or removed per mode.  With unchangedsince > 0 a message whose
 * MODSEQ is greater is left alone (status 2).  Every changed message gets
 * the same new MODSEQ (HIGHESTMODSEQ + 1).  The out fields are set for
 * every entry (free the keywords with mailstore_flag_changes_free).
 * Returns 0, or -1 (no such mailbox, invalid keyword, too many keywords,
 * error: then nothing changed and no out keywords were allocated).
 */
int mailstore_store_flags(struct mailstore *ms, const char *mailbox,
    struct mailstore_flag_change *c, size_t n, enum mailstore_flag_mode mode,
    unsigned flags, const char *keywords, uint64_t unchangedsince,
    const char **error_r) __attribute__((warn_unused_result));
/* Frees the keywords of c[0..n) (and sets them to NULL). */
void mailstore_flag_changes_free(struct mailstore_flag_change *c, size_t n);
/*
 * COPY or MOVE (RFC 6851) of uids[0..n) in one transaction.  New UIDs are
 * given in the order of uids; new_uids[i] is 0 where the source message
 * does not exist.  Copies share the message file and the full-text index
 * entry; a move keeps the row and logs the source UIDs as expunged.  The
 * target's UIDNEXT advances and both mailboxes' HIGHESTMODSEQ rise.  A
 * copy that would take the account over its quota (mailstore_set_quota)
 * fails with errno EDQUOT.  Returns 0 with the target's UIDVALIDITY in
 * *uidvalidity_r (may be NULL), or -1 (no such target: errno ENOENT; no
 * source mailbox: every new_uids[i] 0 and 0 returned; error).
 */
int mailstore_copy_multi(struct mailstore *ms, const char *from,
    const uint32_t *uids, size_t n, const char *to, bool move,
    uint32_t *new_uids, uint32_t *uidvalidity_r, const char **error_r)
	__attribute__((warn_unused_result));

/*
 * Quota (RFC 9208 STORAGE and MESSAGE usage).  The account's bytes and
 * messages are counters kept in the index by every change (not summed per
 * call): 0, or -1.
 */
int mailstore_usage(struct mailstore *ms, uint64_t *bytes_r,
    uint64_t *messages_r, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * The storage limit this handle enforces (bytes; 0: none): a delivery or
 * APPEND that would take the account past it fails (status -1,
 * over_quota set), and so does a COPY (errno EDQUOT); MOVE, flags and
 * expunge are always allowed.
 */
void mailstore_set_quota(struct mailstore *ms, uint64_t bytes);

/*
 * Full-text search (RFC 9051 SEARCH BODY/TEXT).  Every delivery and APPEND
 * indexes the message's mime_text_extract() text (header and body, the
 * same ceilings as SEARCH) in an FTS5 table with the trigram tokenizer
 * (case-insensitive); COPY shares the entry, MOVE keeps it, expunge drops
 * it with the last message using it.  Returns in *uids_r (ascending, heap,
 * caller frees) the UIDs of the mailbox whose indexed text holds every
 * term (body_only[i]: in the body (BODY), else in header or body (TEXT);
 * body_only may be NULL: all TEXT), plus every message without an index
 * entry (stored before the index existed, or unparsable): always a
 * superset of the true matches.  Terms of fewer than 3 characters, or
 * not UTF-8, do not narrow; if none narrows, *narrowed_r is false,
 * *uids_r NULL, and the caller scans everything.  0, or -1 (no such
 * mailbox, error).
 */
int mailstore_fts_candidates(struct mailstore *ms, const char *mailbox,
    const struct span *terms, const bool *body_only, size_t nterms,
    uint32_t **uids_r, size_t *n_r, bool *narrowed_r, const char **error_r)
	__attribute__((warn_unused_result));

/*
 * Change notification, process-wide: fn runs on the committing thread
 * after every commit that changes an account's messages, flags or
 * mailboxes (through any handle of this process), with the account's user
 * id.  It must be cheap and thread-safe.  NULL removes the hook.
 */
typedef void mailstore_change_fn(void *ctx, int64_t user_id);
void mailstore_set_change_hook(mailstore_change_fn *fn, void *ctx);

/*
 * Reads the bytes of one message into out (capped by out->max).  Returns
 * 1, 0 if no such message, -1 on error (EFBIG if out->max is too small).
 */
int mailstore_message_read(struct mailstore *ms, const char *mailbox,
    uint32_t uid, struct buf *out, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * Opens one message read-only: returns an fd (caller closes) positioned at
 * the message's first byte, with its size in *size_r (read that many
 * bytes, the file may hold more), or -1 (errno ENOENT if no such message).
 */
int mailstore_message_open(struct mailstore *ms, const char *mailbox,
    uint32_t uid, uint64_t *size_r, const char **error_r);
/*
 * Where a message lives: heap path in *path_r (caller frees), byte offset
 * and size (for pread, IMAP partial fetch).  1, 0 if none, -1.
 */
int mailstore_message_locate(struct mailstore *ms, const char *mailbox,
    uint32_t uid, char **path_r, uint64_t *offset_r, uint64_t *size_r,
    const char **error_r) __attribute__((warn_unused_result));
/*
 * Copies a message into a mailbox of the same account (IMAP COPY): the new
 * row shares the file; flags, keywords, internal date and cached parse go
 * along; the target's UIDNEXT and HIGHESTMODSEQ advance.  With move, the
 * source row goes in the same transaction (IMAP MOVE, RFC 6851).  Returns
 * 1 with the new UID in *uid_r and the target's UIDVALIDITY in
 * *uidvalidity_r (either may be NULL), 0 if no such message, -1 (no such
 * target mailbox, error).
 */
int mailstore_message_copy(struct mailstore *ms, const char *from,
    uint32_t uid, const char *to, bool move, uint32_t *uid_r,
    uint32_t *uidvalidity_r, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * Keywords (RFC 3501 flag-keywords): adds the space-separated keywords of
 * add, then removes those of del (either may be NULL), compared ASCII
 * case-insensitively as IMAP does; bumps MODSEQ if the set changed.  A
 * keyword must be an atom not starting with '\'; the stored list is at
 * most STORE_MAX_KEYWORDS bytes.  1 changed, 0 unchanged or no such
 * message, -1 (invalid keyword, too many, error).
 */
int mailstore_message_set_keywords(struct mailstore *ms, const char *mailbox,
    uint32_t uid, const char *add, const char *del, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * Changes system flags: sets the bits of add, then clears those of del;
 * bumps MODSEQ if anything changed.  1 changed, 0 unchanged or no such
 * message, -1 error.
 */
int mailstore_message_set_flags(struct mailstore *ms, const char *mailbox,
    uint32_t uid, unsigned add, unsigned del, const char **error_r)
	__attribute__((warn_unused_result));

/*
 * The cached parse of a message (nullable TEXT columns filled by the MIME
 * library, at delivery or later).  set: a NULL argument leaves that column
 * unchanged; returns 1, 0 if no such message, -1.  get: heap copies (NULL
 * where empty; caller frees); returns 1, 0 if no such message, -1.
 */
int mailstore_message_cache_set(struct mailstore *ms, const char *mailbox,
    uint32_t uid, const char *envelope, const char *bodystructure,
    const char *body, const char **error_r)
	__attribute__((warn_unused_result));
int mailstore_message_cache_get(struct mailstore *ms, const char *mailbox,
    uint32_t uid, char **envelope_r, char **bodystructure_r, char **body_r,
    const char **error_r) __attribute__((warn_unused_result));

#endif
