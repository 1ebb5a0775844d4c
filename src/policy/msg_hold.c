/*
 * msg_hold.c - a held message, in memory then in an unlinked temporary
 * file (see msg_hold.h).
 *
 * The message bytes are untrusted but only stored.  The spill file is
 * never visible under a name (O_TMPFILE; else a random name unlinked
 * right after it is created), so nothing is left behind by a crash, and
 * mode 0600.  Writes are batched into MSG_HOLD_CHUNK pieces; the view
 * maps the file read-only (MAP_PRIVATE), so its pages are page cache the
 * kernel may drop and read again, not heap.
 */
#include "policy/msg_hold.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

struct msg_hold {
	char		*dir;
	size_t		 mem_max;
	uint64_t	 max_size;
	uint64_t	 size;		/* bytes appended */
	struct buf	 mem;		/* the message, or (spilled) the
					 * bytes not yet written */
	int		 fd;		/* spill file, -1 before */
	bool		 broken;	/* an I/O error: unusable */
	void		*map;
	size_t		 maplen;
};

struct msg_hold *
msg_hold_new(const char *dir, size_t mem_max, uint64_t max_size)
{
	struct msg_hold *h = xcalloc(1, sizeof(*h));

	h->dir = xstrdup(dir);
	h->mem_max = mem_max;
	h->max_size = max_size;
	h->fd = -1;
	buf_init(&h->mem, mem_max > MSG_HOLD_CHUNK ? mem_max : MSG_HOLD_CHUNK);
	return h;
}

static void
unmap(struct msg_hold *h)
{
	if (h->map != NULL)
		munmap(h->map, h->maplen);
	h->map = NULL;
	h->maplen = 0;
}

void
msg_hold_free(struct msg_hold **hp)
{
	struct msg_hold *h = *hp;

	if (h == NULL)
		return;
	*hp = NULL;
	unmap(h);
	if (h->fd >= 0)
		close(h->fd);
	buf_fini(&h->mem);
	free(h->dir);
	free(h);
}

/* spill_open - an anonymous file in dir */
static int
spill_open(const char *dir)
{
	char *path;
	char rnd[17];
	int fd;

	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR &&
	    errno != EINVAL))
		return fd;
	/* no O_TMPFILE here: a fresh name, gone at once */
	random_hex(rnd, 8);
	path = xasprintf("%s/.hold-%s", dir, rnd);
	fd = open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 && unlink(path) < 0) {
		close(fd);
		fd = -1;
	}
	free(path);
	return fd;
}

/* flush - the staged bytes go to the file */
static int
flush(struct msg_hold *h)
{
	if (h->mem.len == 0)
		return 0;
	if (write_all(h->fd, h->mem.data, h->mem.len) < 0) {
		h->broken = true;
		return -1;
	}
	buf_reset(&h->mem);
	return 0;
}

/* spill - move what memory holds to a new file; the buffer shrinks to a
 * staging area of MSG_HOLD_CHUNK */
static int
spill(struct msg_hold *h)
{
	h->fd = spill_open(h->dir);
	if (h->fd < 0) {
		log_warn("policy hold: cannot create a spill file in %s: %s",
		    h->dir, strerror(errno));
		h->broken = true;
		return -1;
	}
	if (flush(h) < 0)
		return -1;
	buf_fini(&h->mem);	/* give the big buffer back */
	buf_init(&h->mem, MSG_HOLD_CHUNK);
	return 0;
}

int
msg_hold_append(struct msg_hold *h, const void *data, size_t n,
    const char **error_r)
{
	const uint8_t *p = data;

	if (h->broken) {
		*error_r = "the held message could not be written";
		return -1;
	}
	if (n > h->max_size - h->size) {
		*error_r = "message too big";
		return -1;
	}
	unmap(h);
	if (h->fd < 0 && h->mem.len + n > h->mem_max && spill(h) < 0) {
		*error_r = "cannot write the message to a spill file";
		return -1;
	}
	if (h->fd < 0) {
		if (buf_append(&h->mem, p, n) < 0) {
			*error_r = "message too big";	/* cannot happen */
			return -1;
		}
		h->size += n;
		return 0;
	}
	while (n > 0) {
		size_t room = MSG_HOLD_CHUNK - h->mem.len;
		size_t k = n < room ? n : room;

		if (buf_append(&h->mem, p, k) < 0 ||
		    (h->mem.len == MSG_HOLD_CHUNK && flush(h) < 0)) {
			h->broken = true;
			*error_r = "cannot write the message to a spill file";
			return -1;
		}
		p += k;
		n -= k;
		h->size += k;
	}
	return 0;
}

int
msg_hold_view(struct msg_hold *h, struct span *view_r, const char **error_r)
{
	if (h->broken) {
		*error_r = "the held message could not be written";
		return -1;
	}
	if (h->fd < 0) {
		*view_r = buf_span(&h->mem);
		return 0;
	}
	if (h->map == NULL) {
		if (flush(h) < 0) {
			*error_r = "cannot write the message to a spill file";
			return -1;
		}
		if (h->size > SIZE_MAX) {
			*error_r = "message too big to map";
			return -1;
		}
		h->map = mmap(NULL, (size_t)h->size, PROT_READ, MAP_PRIVATE,
		    h->fd, 0);
		if (h->map == MAP_FAILED) {
			h->map = NULL;
			*error_r = "cannot map the spill file";
			return -1;
		}
		h->maplen = (size_t)h->size;
	}
	*view_r = span_make(h->map, h->maplen);
	return 0;
}

uint64_t
msg_hold_size(const struct msg_hold *h)
{
	return h->size;
}

bool
msg_hold_spilled(const struct msg_hold *h)
{
	return h->fd >= 0;
}

size_t
msg_hold_memory(const struct msg_hold *h)
{
	return h->mem.cap;
}
