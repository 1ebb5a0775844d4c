/*
 * queue_int.h - private parts of the queue shared by its .c files: the
 * in-memory form of a spooled message and the spool file codec
 * (queue_spool.c).  docs/queue.md describes the file format.  Sees no
 * network input; spool files are read with the limits below.
 */
#ifndef POSTINO_QUEUE_QUEUE_INT_H
#define POSTINO_QUEUE_QUEUE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/buf.h"
#include "queue/queue.h"

#define QUEUE_ID_LEN		16	/* lowercase hex */
#define QUEUE_MAGIC		"POSTINO-QUEUE 1 "
/* "POSTINO-QUEUE 1 <id>\n" */
#define QUEUE_MAGIC_LINE_LEN	(sizeof(QUEUE_MAGIC) - 1 + QUEUE_ID_LEN + 1)
/* "commit <16 hex size> <8 hex crc32>\n" */
#define QUEUE_COMMIT_LINE_LEN	(7 + 16 + 1 + 8 + 1)
#define QUEUE_PREFIX_LEN	(QUEUE_MAGIC_LINE_LEN + QUEUE_COMMIT_LINE_LEN)

/* Limits on what a spool file may hold (the files are ours, but a
 * corrupt or foreign file must not make us allocate without bound). */
#define QUEUE_MAX_ENVELOPE	(4u * 1024 * 1024)	/* header bytes */
#define QUEUE_MAX_STATE		(64u * 1024 * 1024)	/* state records */
#define QUEUE_MAX_RCPTS		10000	/* incl. forwarded ones */
#define QUEUE_MAX_ADDR		1024	/* one address or name */
#define QUEUE_MAX_ERROR		400	/* kept error text */

struct queue_rcpt {
	char			*addr;
	enum queue_rcpt_status	 status;
	unsigned		 attempts;
	time_t			 next_attempt;	/* persisted, seconds */
	char			*last_error;	/* NULL if none */
	bool			 reported;	/* FAILED and in a bounce
						 * ("b" record) */
	bool			 remote;	/* in memory: with the remote
						 * agent now */
	int64_t			 due_ms;	/* in memory: may run then */
};

/* queue_msg.flags: QUEUE_ENV_F_* from the envelope, and: */
#define QUEUE_MSG_F_INJECTED	0x100	/* written by queue_inject */

struct queue_msg {
	char			 qid[QUEUE_ID_LEN + 1];
	char			*sender;
	char			*client;	/* NULL if none */
	char			*helo;		/* NULL if none */
	bool			 body_8bit;
	bool			 smtputf8;
	unsigned		 flags;		/* QUEUE_ENV_F_*, _MSG_F_* */
	int64_t			 arrival_ms;
	uint64_t		 body_offset;
	uint64_t		 size;
	struct queue_rcpt	*rcpts;
	size_t			 nrcpts;
	size_t			 rcpts_cap;

	/* scheduler (queue.c), under the scheduler lock */
	int64_t			 due_ms;
	uint64_t		 seq;		/* order of indexing */
	size_t			 heap_idx;
	bool			 busy;		/* the agent has it */
	bool			 deleted;	/* done or gone (worker, while
						 * busy) */
	bool			 gone;		/* file gone (rescan) */
	bool			 warned;	/* delay warning sent ("w"
						 * record) */
	bool			 remote_busy;	/* with the remote agent */
	char			(*dsn_qids)[QUEUE_ID_LEN + 1]; /* notices
						 * recorded ("b", "w") */
	size_t			 ndsn;
	struct queue_msg	*all_prev, *all_next;
	struct queue_msg	*hash_next;	/* index by qid */
};

/* Loader flags. */
#define QUEUE_LOAD_F_VERIFY	0x1	/* check the CRC if no state yet */
#define QUEUE_LOAD_F_REPAIR	0x2	/* truncate a torn state tail */

int64_t queue_now_ms(void);
bool queue_id_valid(const char *s);
/* Makes a fresh random queue id (not checked for uniqueness). */
void queue_id_new(char out[QUEUE_ID_LEN + 1]);

/* A new message (from an envelope); rcpts are PENDING, due at once.
 * Returns NULL with error_r if a string is unusable. */
struct queue_msg *queue_msg_new(const char *qid, int64_t arrival_ms,
    const struct queue_envelope *env, const char **error_r);
void queue_msg_free(struct queue_msg **m);
/* Adds a PENDING recipient; returns its index. */
size_t queue_msg_add_rcpt(struct queue_msg *m, const char *addr);
/* Index of addr among m's recipients (ASCII case-insensitive), or -1. */
long queue_msg_find_rcpt(const struct queue_msg *m, const char *addr);

/* Envelope header: magic line, placeholder commit line, fields, blank
 * line.  Sets m->body_offset.  -1 if it would pass QUEUE_MAX_ENVELOPE. */
int queue_spool_header(struct buf *out, struct queue_msg *m);
/* Writes the commit line (QUEUE_COMMIT_LINE_LEN bytes, plus NUL). */
void queue_spool_commit_line(char *out, uint64_t size, uint32_t crc);

/* State blocks: lines added with the two functions below, closed by
 * queue_spool_block_end() with a CRC over the bytes since start. */
int queue_spool_block_rcpt(struct buf *out, size_t idx,
    const struct queue_rcpt *r);
int queue_spool_block_add(struct buf *out, const char *addr);
int queue_spool_block_end(struct buf *out, size_t start);
/* "b <dsn> <idx>": recipient idx was reported failed in notice dsn. */
int queue_spool_block_bounced(struct buf *out, const char *dsn, size_t idx);
/* "w <dsn>": the delay warning dsn was sent. */
int queue_spool_block_warned(struct buf *out, const char *dsn);
/* Notes dsn among m's recorded notices (once). */
void queue_msg_add_dsn(struct queue_msg *m, const char *dsn);
/* Whether m's records name notice dsn. */
bool queue_msg_has_dsn(const struct queue_msg *m, const char *dsn);

/*
 * Loads spool file qid from dirfd.  Returns 1 with a message in m_r, 0 if
 * the file is incomplete (a commit never finished: safe to remove), -1
 * with error_r if it is unreadable or corrupt.
 */
int queue_spool_load(int dirfd, const char *qid, unsigned flags,
    struct queue_msg **m_r, const char **error_r);
/* Sets how many empty spool files the pool thread keeps ready (at most
 * 64; 0 turns the pool off).  For tests and benchmarks. */
void queue_pool_set(struct queue *q, size_t max);
/* The same on an open file (read; written only to repair). */
int queue_spool_load_fd(int fd, const char *qid, unsigned flags,
    struct queue_msg **m_r, const char **error_r);
/* Copies error text for keeping: printable ASCII only, cut to
 * QUEUE_MAX_ERROR bytes.  NULL in, NULL out. */
char *queue_error_dup(const char *s);

/* Prefix of a spool file being injected ("tmp.<qid>"); other names are
 * ignored by recovery, queue_list and rescan. */
#define QUEUE_TMP_PREFIX	"tmp."
/* A temporary file left this many seconds old is from a dead injector. */
#define QUEUE_TMP_MAX_AGE	3600

/*
 * queue_inject in two steps: queue_inject_write() writes the whole spool
 * file durably as QUEUE_TMP_PREFIX<qid> in dirfd under a fresh id
 * (qid_r), and gives its in-memory form in *m_r if m_r is not NULL;
 * queue_inject_publish() renames it to <qid> (never replacing)
 * and fsyncs the directory.  Between the two the caller may record the id
 * (bounces do, for exactly-once sending).  0 / -1 with error_r.
 */
int queue_inject_write(int dirfd, const struct queue_envelope *env,
    const void *data, size_t len, char qid_r[QUEUE_ID_LEN + 1],
    struct queue_msg **m_r, const char **error_r);
int queue_inject_publish(int dirfd, const char *qid, const char **error_r);
/*
 * Bounces and delay warnings (queue_bounce.c).  Who gets a notice about
 * m: its sender (returns 1, *rcpt_r = sender, *flags_r = BOUNCE), or for
 * a failed bounce of ours "postmaster" (1, DOUBLE_BOUNCE); 0 if nobody
 * does (null sender not ours, or a failed double bounce: dropped).
 */
int queue_notice_target(const struct queue_msg *m, const char **rcpt_r,
    unsigned *flags_r);
/*
 * Builds the notice (RFC 3464: action failed, or delayed if delayed)
 * about m's recipients idx[0..n) with dsn_build, reading the original's
 * header from fd, and writes it with queue_inject_write into dirfd (to be
 * published by the caller).  Returns 0 with its id in dsn_r and its
 * in-memory form in *bm_r, or -1 with error_r.
 */
int queue_notice_write(int dirfd, const struct queue_config *cfg,
    const struct queue_msg *m, int fd, const size_t *idx, size_t n,
    bool delayed, int64_t now_ms, char dsn_r[QUEUE_ID_LEN + 1],
    struct queue_msg **bm_r, const char **error_r);

/* Removes a temporary file of queue_inject_write (after an error). */
void queue_inject_discard(int dirfd, const char *qid);

#endif
