/*
 * fsutil.h - small file-system helpers with honest error reporting.
 *
 * Functions return 0 or -1 with errno set.
 */
#ifndef POSTINO_LIB_FSUTIL_H
#define POSTINO_LIB_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "lib/buf.h"

/* Writes all n bytes, retrying on EINTR and short writes. */
int write_all(int fd, const void *p, size_t n)
	__attribute__((warn_unused_result));
int pwrite_all(int fd, const void *p, size_t n, off_t off)
	__attribute__((warn_unused_result));
/* fsyncs the directory itself (to make entries durable). */
int fsync_dir(const char *path) __attribute__((warn_unused_result));
/* mkdir -p with the given mode for created directories. */
int mkdir_p(const char *path, mode_t mode) __attribute__((warn_unused_result));
/* Reads a whole file into out (cap at out->max); -1 with errno (EFBIG). */
int read_file(const char *path, struct buf *out)
	__attribute__((warn_unused_result));
/* Writes a file atomically: temp file, fsync, rename, fsync of the dir. */
int write_file_atomic(const char *path, const void *p, size_t n, mode_t mode)
	__attribute__((warn_unused_result));

#endif
