/*
 * store_int.h - helpers shared by the store modules (component-private).
 *
 * SQLite connection setup, error formatting, recursive directory removal.
 * No untrusted input here.
 */
#ifndef POSTINO_STORE_STORE_INT_H
#define POSTINO_STORE_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include <sqlite3.h>

#include "store/accounts.h"

/* How long a connection waits for another writer before SQLITE_BUSY. */
#define STORE_BUSY_TIMEOUT_MS	10000

#define STORE_ERR_SIZE		512

/*
 * Opens path as an SQLite database for one thread (no internal mutex),
 * sets busy_timeout, WAL mode and synchronous=FULL.  With create false the
 * file must exist.  Returns the connection, or NULL with a message in err.
 */
sqlite3 *store_db_open(const char *path, bool create, char *err,
    size_t errsize);
/* Runs SQL without results; 0, or -1 with a message in err. */
int store_db_exec(sqlite3 *db, const char *sql, char *err, size_t errsize);
/* Rolls back if a transaction is open (errors ignored). */
void store_db_rollback(sqlite3 *db);
/* snprintf into err and returns err (for error_r). */
const char *store_err(char *err, size_t errsize, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Removes a directory tree (no symlinks followed).  0, or -1 with errno. */
int store_rmtree(const char *path);
/* true if s is valid UTF-8 (no overlongs, no surrogates). */
bool store_utf8_valid(const unsigned char *s, size_t len);

/*
 * accounts.c internals for resolve.c.  key is an address already checked
 * and lowercased.  Return 1 found, 0 not found, -1 error.
 * alias_targets: heap array of heap strings (caller frees), at most
 * ALIAS_MAX_EXPANSION + 1 of them.
 */
int accounts_int_lookup_key(struct accounts *a, const char *key,
    struct accounts_user *u_r, const char **error_r);
int accounts_int_alias_targets(struct accounts *a, const char *key,
    char ***targets_r, size_t *n_r, const char **error_r);
int accounts_int_first_user(struct accounts *a, struct accounts_user *u_r,
    const char **error_r);
int accounts_int_first_domain(struct accounts *a, char *out, size_t outsize,
    const char **error_r);

#endif
