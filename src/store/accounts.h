/*
 * accounts.h - domains, users, passwords and aliases (DATA_DIR/accounts.db).
 *
 * The accounts database is SQLite in WAL mode.  Each struct accounts is one
 * handle with its own SQLite connection: open one per thread and never share
 * it between threads.  Nothing is cached across calls, so a change made by
 * the CLI (another process) is seen by a running server at its next call.
 * Write transactions are BEGIN IMMEDIATE with a busy timeout, so concurrent
 * writers wait for each other instead of failing.
 *
 * Addresses: "local@domain".  The domain is compared case-insensitively
 * (stored lowercased); the local part is stored as given but matched
 * ASCII case-insensitively (as Postfix and Dovecot do by default).  Local
 * parts containing '"', '%', '!', '@', whitespace or control characters are
 * refused when adding users and aliases (see resolve.h for what happens to
 * such recipients).
 *
 * Passwords: argon2id (libsodium crypto_pwhash_str, interactive limits).
 * When a password is set, SCRAM-SHA-256 keys (RFC 5802, RFC 7677) are
 * derived and kept too: 16 random salt bytes, 4096 PBKDF2 iterations,
 * StoredKey and ServerKey.  Hashing takes tens of milliseconds and 64 MiB:
 * call user_add/user_passwd/user_verify from a worker thread, never from the
 * event loop.
 *
 * Does not see untrusted input directly, but every address passed in is
 * checked for syntax and length (ACCOUNTS_MAX_ADDRESS) first.
 *
 * Error strings returned through error_r live until the next call on the
 * same handle (or, for accounts_open, until the next accounts_open in the
 * same thread).
 */
#ifndef POSTINO_STORE_ACCOUNTS_H
#define POSTINO_STORE_ACCOUNTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/postino_limits.h"
#include "lib/span.h"

#define ACCOUNTS_MAX_ADDRESS	SMTP_MAX_PATH	/* local@domain, bytes */
#define ACCOUNTS_SCRAM_ITERATIONS 4096
#define ACCOUNTS_SCRAM_SALT_LEN	16
#define ACCOUNTS_SCRAM_KEY_LEN	32		/* SHA-256 */

struct accounts;

/*
 * Opens (creating if needed) DATA_DIR/accounts.db; creates data_dir (mode
 * 0700) if it does not exist.  Returns a handle, or NULL with error_r set.
 */
struct accounts *accounts_open(const char *data_dir, const char **error_r);
/* Closes the handle; NULL is a no-op; sets *a to NULL. */
void accounts_close(struct accounts **a);
/* The data directory this handle was opened on (owned by the handle). */
const char *accounts_data_dir(const struct accounts *a);

/* Called once per row by the list functions; strings live for the call. */
typedef void accounts_name_fn(void *ctx, const char *name);

/*
 * Domains.  Names are lowercased; ASCII letters, digits, '-', '.' and
 * UTF-8 bytes (>= 0x80) are allowed, up to SMTP_MAX_DOMAIN bytes.
 * add: 0, or -1 (bad name; already exists is not an error: 0).
 * del: 0, or -1 if it does not exist or still has users or aliases.
 * is_local: 1 if local, 0 if not, -1 on error.
 */
int accounts_domain_add(struct accounts *a, const char *domain,
    const char **error_r) __attribute__((warn_unused_result));
int accounts_domain_del(struct accounts *a, const char *domain,
    const char **error_r) __attribute__((warn_unused_result));
int accounts_domain_list(struct accounts *a, accounts_name_fn *fn, void *ctx,
    const char **error_r) __attribute__((warn_unused_result));
int accounts_domain_is_local(struct accounts *a, const char *domain,
    const char **error_r) __attribute__((warn_unused_result));

/* A user as stored; fixed-size so lookups allocate nothing. */
struct accounts_user {
	int64_t	id;		/* never reused; names DATA_DIR/mail/<id>/ */
	char	address[ACCOUNTS_MAX_ADDRESS + 1];	/* canonical */
	time_t	created;
	uint64_t quota_bytes;	/* storage limit; 0: the default
				 * ([store] quota) */
};

/*
 * Adds a user and creates its mail store with the default mailboxes
 * (INBOX, Sent, Drafts, Junk, Trash).  The user's domain is made local if it
 * is not yet.  password may be NULL: the account then receives mail but
 * cannot log in until accounts_user_passwd; "" is refused.  Returns 0 with the new id in
 * *id_r (id_r may be NULL), or -1 (bad address, exists already, I/O error).
 */
int accounts_user_add(struct accounts *a, const char *address,
    const char *password, int64_t *id_r, const char **error_r)
	__attribute__((warn_unused_result));
/* Removes the user and its store directory.  -1 if there is no such user. */
int accounts_user_del(struct accounts *a, const char *address,
    const char **error_r) __attribute__((warn_unused_result));
/*
 * Sets a new password (argon2id hash and SCRAM keys).  -1 if no such
 * user, or password is NULL or "".
 */
int accounts_user_passwd(struct accounts *a, const char *address,
    const char *password, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * Sets a user's storage quota (RFC 9208 STORAGE, in bytes; 0: the
 * configured default, [store] quota).  -1 if no such user.
 */
int accounts_user_quota_set(struct accounts *a, const char *address,
    uint64_t bytes, const char **error_r) __attribute__((warn_unused_result));
/* Calls fn for each user, ordered by id. */
typedef void accounts_user_fn(void *ctx, const struct accounts_user *u);
int accounts_user_list(struct accounts *a, accounts_user_fn *fn, void *ctx,
    const char **error_r) __attribute__((warn_unused_result));
/*
 * Finds a user by exact address (case rules above; no alias, no
 * sub-addressing: see resolve.h for that).  Returns 1 with *u_r filled
 * (u_r may be NULL), 0 if there is no such user, -1 on error.
 */
int accounts_user_lookup(struct accounts *a, const char *address,
    struct accounts_user *u_r, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * Checks a login.  Returns 1 if the password is right (with *u_r filled;
 * u_r may be NULL), 0 if the user does not exist, has no password or the
 * password is wrong, -1 on a database error.  When the user does not exist
 * a dummy hash is verified anyway so the time taken does not tell.
 */
int accounts_user_verify(struct accounts *a, const char *address,
    const char *password, struct accounts_user *u_r, const char **error_r)
	__attribute__((warn_unused_result));

/* SCRAM-SHA-256 credentials of a user (RFC 5802 section 3). */
struct accounts_scram {
	uint8_t		salt[ACCOUNTS_SCRAM_SALT_LEN];
	size_t		salt_len;
	unsigned	iterations;
	uint8_t		stored_key[ACCOUNTS_SCRAM_KEY_LEN];
	uint8_t		server_key[ACCOUNTS_SCRAM_KEY_LEN];
};
/* Returns 1 with *r filled, 0 if no such user or no password, -1 on error. */
int accounts_user_scram(struct accounts *a, const char *address,
    struct accounts_scram *r, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * Derives StoredKey and ServerKey from a password (no SASLprep: the bytes
 * are used as given), salt and iteration count.  Returns 0, or -1 if OpenSSL
 * fails.  Needs no handle; public for tests and for SCRAM clients.
 */
int accounts_scram_derive(const char *password, const uint8_t *salt,
    size_t salt_len, unsigned iterations,
    uint8_t stored_key[ACCOUNTS_SCRAM_KEY_LEN],
    uint8_t server_key[ACCOUNTS_SCRAM_KEY_LEN])
	__attribute__((warn_unused_result));

/*
 * Aliases: address -> target rows.  Several rows per address make a list
 * (one-to-many); several addresses may point at one target (many-to-one).
 * address is "local@domain", or "@domain" for the domain's catch-all; its
 * domain is made local if it is not yet.  target is any address (local user,
 * another alias, or remote), never "@domain".
 * add: 0 (also if the row exists already), -1 on bad syntax or error.
 * del: target NULL removes every row of address; returns -1 if nothing was
 *      removed.
 * list: address NULL lists every row (ordered by address, then insertion);
 *       otherwise the rows of that address; fn gets (address, target) as
 *       stored.  Returns the number of rows listed, or -1.
 */
typedef void accounts_alias_fn(void *ctx, const char *address,
    const char *target);
int accounts_alias_add(struct accounts *a, const char *address,
    const char *target, const char **error_r)
	__attribute__((warn_unused_result));
int accounts_alias_del(struct accounts *a, const char *address,
    const char *target, const char **error_r)
	__attribute__((warn_unused_result));
int accounts_alias_list(struct accounts *a, const char *address,
    accounts_alias_fn *fn, void *ctx, const char **error_r)
	__attribute__((warn_unused_result));

/*
 * Address syntax helpers (no database).  accounts_address_split finds the
 * last '@' and returns the local part and domain as spans into address;
 * false if there is none or either side is empty (the local part may be
 * empty only when allow_catchall is set: "@domain").
 * accounts_address_valid applies the rules above (true if acceptable for a
 * user, alias or target).
 */
bool accounts_address_split(const char *address, bool allow_catchall,
    struct span *local_r, struct span *domain_r);
bool accounts_address_valid(const char *address, bool allow_catchall);

#endif
