/*
 * queue_spool_fuzz.c - libFuzzer target for the spool file loader.
 *
 * Spool files are written only by postino, but after a crash or a disk
 * error they can hold anything; the loader must reject or repair them
 * without crashing or allocating without bound.  The input is put in a
 * memfd and loaded with the recovery flags (CRC check, tail repair).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "lib/fsutil.h"
#include "lib/xmalloc.h"
#include "queue/queue_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char qid[] = "0123456789abcdef";
	struct queue_msg *m = NULL;
	const char *err = NULL;
	uint8_t *copy;
	int fd, r;

	fd = memfd_create("spool", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	/* put the expected id in the magic line, to get past it more often */
	copy = xmalloc(size + 1);
	memcpy(copy, data, size);
	if (size >= QUEUE_MAGIC_LINE_LEN)
		memcpy(copy + sizeof(QUEUE_MAGIC) - 1, qid, QUEUE_ID_LEN);
	if (write_all(fd, copy, size) == 0) {
		r = queue_spool_load_fd(fd, qid,
		    QUEUE_LOAD_F_VERIFY | QUEUE_LOAD_F_REPAIR, &m, &err);
		if (r == 1 && m == NULL)
			abort();
		queue_msg_free(&m);
	}
	free(copy);
	close(fd);
	return 0;
}
