/*
 * msg_hold.h - a message held while it is checked (SPF, DKIM, DMARC) or
 * signed, before it goes to the queue: in memory up to a threshold, then
 * spilled to an unlinked temporary file, so that many concurrent large
 * messages do not exhaust memory.  At the end the whole message is seen
 * as one contiguous read-only view: the memory buffer, or the file mapped
 * (page cache, which the kernel can reclaim, not heap).
 *
 * The bytes are untrusted (any SMTP client's message) but are only
 * stored here, never parsed.
 *
 * Use:
 *	h = msg_hold_new(data_dir, 1 << 20, max_message_size);
 *	msg_hold_append(h, p, n, &err);     ... as the message arrives
 *	msg_hold_view(h, &msg, &err);       -> DKIM, DMARC, the queue
 *	msg_hold_free(&h);                  (unmaps, closes: file gone)
 */
#ifndef POSTINO_POLICY_MSG_HOLD_H
#define POSTINO_POLICY_MSG_HOLD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/span.h"

struct msg_hold;

/*
 * dir is where a spill file is created (O_TMPFILE, or a random name
 * unlinked at once where the file system lacks it); copied.  mem_max is
 * the most bytes kept in memory (the threshold), max_size the ceiling of
 * the whole message.  Never returns NULL; no file is made before it is
 * needed.
 */
struct msg_hold *msg_hold_new(const char *dir, size_t mem_max,
    uint64_t max_size);
/*
 * Appends message bytes.  Past mem_max everything held so far goes to
 * the spill file and later bytes follow it (written in chunks of
 * MSG_HOLD_CHUNK).  Returns 0, or -1 with a static reason in error_r:
 * past max_size (nothing appended), or the file could not be made or
 * written (the hold is then unusable: every later call fails).
 */
int msg_hold_append(struct msg_hold *h, const void *p, size_t n,
    const char **error_r)
	__attribute__((warn_unused_result));
/*
 * The whole message so far as one view, valid until the next append or
 * msg_hold_free (a spilled message is mapped read-only; an empty one is
 * an empty span).  Returns 0, or -1 with a static reason in error_r.
 */
int msg_hold_view(struct msg_hold *h, struct span *view_r,
    const char **error_r)
	__attribute__((warn_unused_result));
/* Bytes appended. */
uint64_t msg_hold_size(const struct msg_hold *h);
/* True once the message went to the spill file. */
bool msg_hold_spilled(const struct msg_hold *h);
/* Heap bytes it holds now (buffer capacity), for accounting. */
size_t msg_hold_memory(const struct msg_hold *h);
/* Unmaps, closes (the file disappears), frees.  NULL is a no-op; sets *h
 * to NULL. */
void msg_hold_free(struct msg_hold **h);

#endif
