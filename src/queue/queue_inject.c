/*
 * queue_inject.c - writing a complete message into the spool without the
 * queue's lock: for `postino sendmail` (another process) and for the
 * bounces the queue generates itself (RFC 3464 notices).
 *
 * The file is written whole under a temporary name that recovery,
 * queue_list and queue_rescan ignore ("tmp.<qid>"), fsynced, and renamed
 * into place with renameat2(RENAME_NOREPLACE); then the directory is
 * fsynced.  A reader therefore sees either no message or a complete,
 * durable one, which is what a running server's queue_rescan() needs:
 * its own files in progress never carry the "injected" mark, injected
 * ones are complete from the moment they have their name.
 *
 * No untrusted input: the envelope is checked like queue_incoming_new's
 * (no CR, LF, bounded lengths); the data is stored as given.
 */
#include "queue/queue_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

static void
tmp_name(char out[sizeof(QUEUE_TMP_PREFIX) + QUEUE_ID_LEN], const char *qid)
{
	snprintf(out, sizeof(QUEUE_TMP_PREFIX) + QUEUE_ID_LEN, "%s%s",
	    QUEUE_TMP_PREFIX, qid);
}

/* crc_data - zlib's crc32 takes uInt lengths: feed it in pieces. */
static uLong
crc_data(uLong crc, const uint8_t *p, size_t n)
{
	while (n > 0) {
		size_t k = n > (1u << 30) ? (1u << 30) : n;

		crc = crc32(crc, p, (uInt)k);
		p += k;
		n -= k;
	}
	return crc;
}

int
queue_inject_write(int dirfd, const struct queue_envelope *env,
    const void *data, size_t len, char qid_r[QUEUE_ID_LEN + 1],
    struct queue_msg **m_r, const char **error_r)
{
	char qid[QUEUE_ID_LEN + 1], tmp[sizeof(QUEUE_TMP_PREFIX) +
	    QUEUE_ID_LEN], line[QUEUE_COMMIT_LINE_LEN + 1];
	struct queue_msg *m;
	struct buf hdr;
	uLong crc;
	int fd = -1, tries;

	if (len > 0 && data == NULL) {
		*error_r = "no message data";
		return -1;
	}
	queue_id_new(qid);
	m = queue_msg_new(qid, queue_now_ms(), env, error_r);
	if (m == NULL)
		return -1;
	m->flags |= QUEUE_MSG_F_INJECTED;
	buf_init(&hdr, QUEUE_MAX_ENVELOPE + 1);
	if (queue_spool_header(&hdr, m) < 0) {
		*error_r = "envelope too large";
		goto fail;
	}
	/* the header holds the id: pick one no file has (temporary or
	 * final) before writing it */
	for (tries = 0; tries < 8; tries++) {
		struct stat st;

		tmp_name(tmp, m->qid);
		if (fstatat(dirfd, m->qid, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			errno = EEXIST;
		} else {
			fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL |
			    O_CLOEXEC | O_NOFOLLOW, 0600);
			if (fd >= 0 || errno != EEXIST)
				break;
		}
		queue_id_new(qid);
		memcpy(m->qid, qid, sizeof(qid));
		memcpy(hdr.data + sizeof(QUEUE_MAGIC) - 1, qid, QUEUE_ID_LEN);
	}
	if (fd < 0) {
		log_error("queue inject create error=\"%s\"", strerror(errno));
		*error_r = "cannot create the spool file";
		goto fail;
	}
	m->size = len;
	crc = crc32(0L, Z_NULL, 0);
	crc = crc_data(crc, hdr.data + QUEUE_PREFIX_LEN,
	    hdr.len - QUEUE_PREFIX_LEN);
	crc = crc_data(crc, data, len);
	queue_spool_commit_line(line, len, (uint32_t)crc);
	memcpy(hdr.data + QUEUE_MAGIC_LINE_LEN, line, QUEUE_COMMIT_LINE_LEN);
	if (write_all(fd, hdr.data, hdr.len) < 0 ||
	    (len > 0 && write_all(fd, data, len) < 0) || fsync(fd) < 0) {
		log_error("queue inject qid=%s error=\"%s\"", m->qid,
		    strerror(errno));
		*error_r = errno == ENOSPC ? "queue file system full" :
		    "cannot write the message";
		close(fd);
		(void)unlinkat(dirfd, tmp, 0);
		goto fail;
	}
	if (close(fd) < 0) {
		*error_r = "cannot write the message";
		(void)unlinkat(dirfd, tmp, 0);
		goto fail;
	}
	buf_fini(&hdr);
	memcpy(qid_r, m->qid, QUEUE_ID_LEN + 1);
	if (m_r != NULL)
		*m_r = m;
	else
		queue_msg_free(&m);
	return 0;
fail:
	buf_fini(&hdr);
	queue_msg_free(&m);
	return -1;
}

int
queue_inject_publish(int dirfd, const char *qid, const char **error_r)
{
	char tmp[sizeof(QUEUE_TMP_PREFIX) + QUEUE_ID_LEN];

	tmp_name(tmp, qid);
	if (renameat2(dirfd, tmp, dirfd, qid, RENAME_NOREPLACE) < 0) {
		log_error("queue inject qid=%s rename error=\"%s\"", qid,
		    strerror(errno));
		*error_r = "cannot move the message into the queue";
		return -1;
	}
	if (fsync(dirfd) < 0) {
		/* the name may not be durable: say so, the caller retries;
		 * the message may come twice, never zero times */
		log_error("queue inject qid=%s fsync error=\"%s\"", qid,
		    strerror(errno));
		*error_r = "cannot make the message durable";
		return -1;
	}
	return 0;
}

void
queue_inject_discard(int dirfd, const char *qid)
{
	char tmp[sizeof(QUEUE_TMP_PREFIX) + QUEUE_ID_LEN];

	tmp_name(tmp, qid);
	(void)unlinkat(dirfd, tmp, 0);
}

int
queue_inject(const char *dir, const struct queue_envelope *env,
    const void *data, size_t len, char qid_r[64], const char **error_r)
{
	char qid[QUEUE_ID_LEN + 1];
	int dirfd, r;

	if (dir == NULL || dir[0] == '\0') {
		*error_r = "no queue directory";
		return -1;
	}
	if (mkdir_p(dir, 0700) < 0) {
		*error_r = "cannot create the queue directory";
		return -1;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		*error_r = "cannot open the queue directory";
		return -1;
	}
	r = queue_inject_write(dirfd, env, data, len, qid, NULL, error_r);
	if (r == 0 && (r = queue_inject_publish(dirfd, qid, error_r)) < 0)
		queue_inject_discard(dirfd, qid);
	close(dirfd);
	if (r < 0)
		return -1;
	memcpy(qid_r, qid, QUEUE_ID_LEN + 1);
	log_info("queue inject qid=%s nrcpt=%zu size=%zu", qid, env->nrcpts,
	    len);
	return 0;
}
