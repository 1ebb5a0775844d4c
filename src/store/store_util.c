/*
 * store_util.c - SQLite setup and small helpers shared by the store.
 *
 * No RFC; no untrusted input.
 */
#include "store/store_int.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

const char *
store_err(char *err, size_t errsize, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errsize, fmt, ap);
	va_end(ap);
	return err;
}

sqlite3 *
store_db_open(const char *path, bool create, char *err, size_t errsize)
{
	sqlite3 *db = NULL;
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	int rc, persist = 1;

	if (create) {
		/* SQLite would create the file with 0644 (less umask): it
		 * holds password hashes or mail, so create it 0600 first;
		 * SQLite gives -wal and -shm the same mode */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

		if (fd < 0) {
			store_err(err, errsize, "cannot create %s: %s", path,
			    strerror(errno));
			return NULL;
		}
		close(fd);
		flags |= SQLITE_OPEN_CREATE;
	}
	rc = sqlite3_open_v2(path, &db, flags, NULL);
	if (rc != SQLITE_OK) {
		store_err(err, errsize, "cannot open %s: %s", path,
		    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
	/* keep the -wal file when the last connection closes: it is then
	 * created once, with its directory entry made durable at store
	 * creation, instead of at the first commit after each reopen */
	(void)sqlite3_file_control(db, "main", SQLITE_FCNTL_PERSIST_WAL,
	    &persist);
	/*
	 * WAL: readers never block the writer, so the RCPT check on the
	 * event loop does not wait for a delivery or a CLI change.
	 * synchronous=FULL: a commit is on disk when it returns (the WAL is
	 * fsynced at every commit), which the delivery contract needs.
	 */
	if (store_db_exec(db, "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=FULL;", err, errsize) < 0) {
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

int
store_db_exec(sqlite3 *db, const char *sql, char *err, size_t errsize)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		store_err(err, errsize, "sqlite: %s",
		    msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

void
store_db_rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		(void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static int
rmtree_one(const char *path, const struct stat *st, int type,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP)
		return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
	return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

int
store_rmtree(const char *path)
{
	if (access(path, F_OK) < 0)
		return errno == ENOENT ? 0 : -1;
	return nftw(path, rmtree_one, 16, FTW_DEPTH | FTW_PHYS);
}

bool
store_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned c = s[i], need, min, cp, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
			min = 0x80;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			min = 0x800;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			min = 0x10000;
			cp = c & 0x07;
		} else
			return false;
		if (len - i <= need)
			return false;
		for (k = 1; k <= need; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += need + 1;
	}
	return true;
}
