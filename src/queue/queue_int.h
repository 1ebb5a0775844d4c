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
	int64_t			 due_ms;	/* in memory: may run then */
};

struct queue_msg {
	char			 qid[QUEUE_ID_LEN + 1];
	char			*sender;
	char			*client;	/* NULL if none */
	char			*helo;		/* NULL if none */
	bool			 body_8bit;
	bool			 smtputf8;
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
	bool			 warned;	/* delay warning logged */
	struct queue_msg	*all_prev, *all_next;
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

#endif
