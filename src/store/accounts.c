/*
 * accounts.c - domains, users, passwords and aliases in DATA_DIR/accounts.db.
 *
 * RFCs: RFC 5321 section 2.4 (local parts are case-sensitive in principle;
 * we match them case-insensitively like Postfix and Dovecot), RFC 5802 and
 * RFC 7677 (SCRAM-SHA-256 keys kept for later SASL mechanisms).
 *
 * Addresses come from the CLI and, through resolve.c, from SMTP clients;
 * every address is checked for length and syntax before any query, and is
 * only ever bound as an SQL parameter.
 *
 * Each row keeps the address as given plus a "key" column: the whole
 * address ASCII-lowercased, which carries the UNIQUE constraint and every
 * lookup.  Nothing is cached between calls (see accounts.h), so changes
 * by the CLI are visible to the server at once.
 */
#include "store/accounts.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>
#include <sqlite3.h>

#include "lib/ascii.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "store/mailstore.h"
#include "store/store_int.h"

enum acc_stmt {
	ST_DOMAIN_IS_LOCAL,
	ST_USER_BY_KEY,
	ST_USER_AUTH,
	ST_ALIAS_TARGETS,
	ST_FIRST_USER,
	ST_FIRST_DOMAIN,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_DOMAIN_IS_LOCAL] = "SELECT 1 FROM domains WHERE name = ?1",
	[ST_USER_BY_KEY] = "SELECT id, address, created, quota_bytes FROM"
	    " users WHERE key = ?1",
	[ST_USER_AUTH] = "SELECT id, address, created, quota_bytes, password"
	    " FROM users WHERE key = ?1",
	[ST_ALIAS_TARGETS] = "SELECT target FROM aliases WHERE key = ?1"
	    " ORDER BY id",
	[ST_FIRST_USER] = "SELECT id, address, created, quota_bytes FROM users"
	    " ORDER BY id LIMIT 1",
	[ST_FIRST_DOMAIN] = "SELECT name FROM domains ORDER BY id LIMIT 1",
};

struct accounts {
	sqlite3		*db;
	char		*data_dir;
	sqlite3_stmt	*stmts[ST_COUNT];
	char		 err[STORE_ERR_SIZE];
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS domains ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" created INTEGER NOT NULL);"
	/* AUTOINCREMENT: a user id is never reused, since it names the
	 * user's store directory. */
	"CREATE TABLE IF NOT EXISTS users ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" address TEXT NOT NULL,"
	" key TEXT NOT NULL UNIQUE,"
	" domain TEXT NOT NULL,"
	" password TEXT NOT NULL DEFAULT '',"
	" scram_salt BLOB,"
	" scram_iterations INTEGER,"
	" scram_stored_key BLOB,"
	" scram_server_key BLOB,"
	" created INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS users_domain ON users(domain);"
	"CREATE TABLE IF NOT EXISTS aliases ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" address TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" domain TEXT NOT NULL,"
	" target TEXT NOT NULL,"
	" target_key TEXT NOT NULL,"
	" created INTEGER NOT NULL,"
	" UNIQUE (key, target_key));"
	"CREATE INDEX IF NOT EXISTS aliases_domain ON aliases(domain);"
	"PRAGMA user_version = 1;";

/* version 1 -> 2: a storage quota per user (bytes; 0: the default) */
static const char migrate_v2_sql[] =
	"ALTER TABLE users ADD COLUMN quota_bytes INTEGER NOT NULL DEFAULT 0;"
	"PRAGMA user_version = 2;";

static __thread char open_err[STORE_ERR_SIZE];

/* users_have_quota - the v2 column exists already */
static bool
users_have_quota(sqlite3 *db)
{
	sqlite3_stmt *s;
	bool r;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info('users')"
	    " WHERE name = 'quota_bytes'", -1, &s, NULL) != SQLITE_OK)
		return false;
	r = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return r;
}

/* fail - formats an error into the handle and returns -1 */
static int __attribute__((format(printf, 3, 4)))
fail(struct accounts *a, const char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
	if (error_r != NULL)
		*error_r = a->err;
	return -1;
}

static int
fail_db(struct accounts *a, const char **error_r)
{
	return fail(a, error_r, "accounts database: %s",
	    sqlite3_errmsg(a->db));
}

/* stmt - the prepared statement id, reset and ready to bind */
static sqlite3_stmt *
stmt(struct accounts *a, enum acc_stmt id, const char **error_r)
{
	if (a->stmts[id] == NULL) {
		if (sqlite3_prepare_v3(a->db, stmt_sql[id], -1,
		    SQLITE_PREPARE_PERSISTENT, &a->stmts[id], NULL) !=
		    SQLITE_OK) {
			fail_db(a, error_r);
			return NULL;
		}
	}
	sqlite3_reset(a->stmts[id]);
	sqlite3_clear_bindings(a->stmts[id]);
	return a->stmts[id];
}

static int
exec(struct accounts *a, const char *sql, const char **error_r)
{
	if (store_db_exec(a->db, sql, a->err, sizeof(a->err)) < 0) {
		if (error_r != NULL)
			*error_r = a->err;
		return -1;
	}
	return 0;
}

/* ---- address syntax ---- */

static bool
local_char_ok(unsigned char c)
{
	if (c <= 0x20 || c == 0x7f)
		return false;
	/* no quoting, no routing: '"', '%', '!', '@' and the specials of
	 * RFC 5322 section 3.2.3 that only make sense quoted */
	return strchr("\"%!@(),:;<>[\\]", c) == NULL;
}

static bool
domain_valid(struct span d)
{
	size_t i, label = 0;

	if (d.len == 0 || d.len > SMTP_MAX_DOMAIN)
		return false;
	if (d.p[0] == '.' || d.p[d.len - 1] == '.' || d.p[0] == '-')
		return false;
	for (i = 0; i < d.len; i++) {
		unsigned char c = d.p[i];

		if (c == '.' && i + 1 < d.len && d.p[i + 1] == '.')
			return false;
		if (!(ascii_isalnum(c) || c == '-' || c == '.' || c >= 0x80))
			return false;
		/* RFC 1035 2.3.4: labels of at most 63 octets */
		label = c == '.' ? 0 : label + 1;
		if (label > 63)
			return false;
	}
	return store_utf8_valid(d.p, d.len);
}

bool
accounts_address_split(const char *address, bool allow_catchall,
    struct span *local_r, struct span *domain_r)
{
	const char *at = strrchr(address, '@');

	if (at == NULL || at[1] == '\0')
		return false;
	if (at == address && !allow_catchall)
		return false;
	*local_r = span_make(address, (size_t)(at - address));
	*domain_r = span_from_str(at + 1);
	return true;
}

bool
accounts_address_valid(const char *address, bool allow_catchall)
{
	struct span l, d;
	size_t i, len = strnlen(address, ACCOUNTS_MAX_ADDRESS + 1);

	if (len == 0 || len > ACCOUNTS_MAX_ADDRESS)
		return false;
	if (!accounts_address_split(address, allow_catchall, &l, &d))
		return false;
	if (l.len > SMTP_MAX_LOCAL_PART || !domain_valid(d))
		return false;
	for (i = 0; i < l.len; i++)
		if (!local_char_ok(l.p[i]))
			return false;
	if (l.len > 0 && (l.p[0] == '.' || l.p[l.len - 1] == '.'))
		return false;
	return store_utf8_valid(l.p, l.len);
}

/*
 * canon - checks address; writes the canonical form (local part as given,
 * domain lowercased), its key (all lowercased) and the domain.  Each
 * output has room for ACCOUNTS_MAX_ADDRESS + 1 bytes.
 */
static int
canon(struct accounts *a, const char *address, bool allow_catchall,
    char *canon_r, char *key_r, char *domain_r, const char **error_r)
{
	struct span l, d;
	char esc[LOG_ESCAPE_BUFSIZE];

	if (!accounts_address_valid(address, allow_catchall) ||
	    !accounts_address_split(address, allow_catchall, &l, &d))
		return fail(a, error_r, "invalid address \"%s\"",
		    log_escape(esc, sizeof(esc), address,
		    strnlen(address, 1024)));
	memcpy(canon_r, l.p, l.len);
	canon_r[l.len] = '@';
	memcpy(canon_r + l.len + 1, d.p, d.len);
	canon_r[l.len + 1 + d.len] = '\0';
	ascii_strlower(canon_r + l.len + 1);
	memcpy(domain_r, canon_r + l.len + 1, d.len + 1);
	memcpy(key_r, canon_r, l.len + d.len + 2);
	ascii_strlower(key_r);
	return 0;
}

static int
domain_canon(struct accounts *a, const char *domain, char *out,
    const char **error_r)
{
	size_t len = strnlen(domain, SMTP_MAX_DOMAIN + 1);
	char esc[LOG_ESCAPE_BUFSIZE];

	if (!domain_valid(span_make(domain, len)) || len > SMTP_MAX_DOMAIN)
		return fail(a, error_r, "invalid domain \"%s\"",
		    log_escape(esc, sizeof(esc), domain, len));
	memcpy(out, domain, len + 1);
	ascii_strlower(out);
	return 0;
}

/* ---- open / close ---- */

struct accounts *
accounts_open(const char *data_dir, const char **error_r)
{
	struct accounts *a;
	char *path;
	sqlite3_stmt *s;
	int version = -1;

	if (sodium_init() < 0) {
		*error_r = store_err(open_err, sizeof(open_err),
		    "libsodium initialisation failed");
		return NULL;
	}
	if (mkdir_p(data_dir, 0700) < 0) {
		*error_r = store_err(open_err, sizeof(open_err),
		    "cannot create %s: %s", data_dir, strerror(errno));
		return NULL;
	}
	path = xasprintf("%s/accounts.db", data_dir);
	a = xcalloc(1, sizeof(*a));
	a->data_dir = xstrdup(data_dir);
	a->db = store_db_open(path, true, open_err, sizeof(open_err));
	free(path);
	if (a->db == NULL) {
		*error_r = open_err;
		accounts_close(&a);
		return NULL;
	}
	if (sqlite3_prepare_v2(a->db, "PRAGMA user_version", -1, &s,
	    NULL) == SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			version = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	if (version < 2) {
		/* IMMEDIATE: two processes creating the schema at once
		 * take turns instead of one failing; the version is read
		 * again under the lock */
		if (exec(a, "BEGIN IMMEDIATE", error_r) < 0 ||
		    exec(a, schema_sql, error_r) < 0 ||
		    (!users_have_quota(a->db) &&
		    exec(a, migrate_v2_sql, error_r) < 0) ||
		    exec(a, "PRAGMA user_version = 2", error_r) < 0 ||
		    exec(a, "COMMIT", error_r) < 0) {
			store_db_rollback(a->db);
			store_err(open_err, sizeof(open_err), "%s", a->err);
			*error_r = open_err;
			accounts_close(&a);
			return NULL;
		}
	}
	return a;
}

void
accounts_close(struct accounts **ap)
{
	struct accounts *a = *ap;
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(a->stmts[i]);
	sqlite3_close(a->db);
	free(a->data_dir);
	free(a);
	*ap = NULL;
}

const char *
accounts_data_dir(const struct accounts *a)
{
	return a->data_dir;
}

/* ---- domains ---- */

/* add_domain - inserts a domain if missing (inside or outside a txn) */
static int
add_domain(struct accounts *a, const char *domain, const char **error_r)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(a->db, "INSERT OR IGNORE INTO domains"
	    " (name, created) VALUES (?1, ?2)", -1, &s, NULL) != SQLITE_OK)
		return fail_db(a, error_r);
	sqlite3_bind_text(s, 1, domain, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return fail_db(a, error_r);
	if (sqlite3_changes(a->db) > 0)
		log_info("accounts domain-add domain=%s", domain);
	return 0;
}

int
accounts_domain_add(struct accounts *a, const char *domain,
    const char **error_r)
{
	char d[SMTP_MAX_DOMAIN + 1];

	if (domain_canon(a, domain, d, error_r) < 0)
		return -1;
	return add_domain(a, d, error_r);
}

/* count - runs a one-parameter COUNT(*) query */
static int64_t
count(struct accounts *a, const char *sql, const char *arg,
    const char **error_r)
{
	sqlite3_stmt *s;
	int64_t n = -1;

	if (sqlite3_prepare_v2(a->db, sql, -1, &s, NULL) != SQLITE_OK)
		return fail_db(a, error_r);
	sqlite3_bind_text(s, 1, arg, -1, SQLITE_STATIC);
	if (sqlite3_step(s) == SQLITE_ROW)
		n = sqlite3_column_int64(s, 0);
	else
		fail_db(a, error_r);
	sqlite3_finalize(s);
	return n;
}

int
accounts_domain_del(struct accounts *a, const char *domain,
    const char **error_r)
{
	char d[SMTP_MAX_DOMAIN + 1];
	int64_t nu, na;
	sqlite3_stmt *s;
	int rc;

	if (domain_canon(a, domain, d, error_r) < 0)
		return -1;
	if (exec(a, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	nu = count(a, "SELECT count(*) FROM users WHERE domain = ?1", d,
	    error_r);
	na = count(a, "SELECT count(*) FROM aliases WHERE domain = ?1", d,
	    error_r);
	if (nu < 0 || na < 0)
		goto fail;
	if (nu > 0 || na > 0) {
		fail(a, error_r, "domain %s still has %lld users and %lld"
		    " aliases", d, (long long)nu, (long long)na);
		goto fail;
	}
	if (sqlite3_prepare_v2(a->db, "DELETE FROM domains WHERE name = ?1",
	    -1, &s, NULL) != SQLITE_OK) {
		fail_db(a, error_r);
		goto fail;
	}
	sqlite3_bind_text(s, 1, d, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		fail_db(a, error_r);
		goto fail;
	}
	if (sqlite3_changes(a->db) == 0) {
		fail(a, error_r, "no such domain %s", d);
		goto fail;
	}
	if (exec(a, "COMMIT", error_r) < 0)
		goto fail;
	log_info("accounts domain-del domain=%s", d);
	return 0;
fail:
	store_db_rollback(a->db);
	return -1;
}

int
accounts_domain_list(struct accounts *a, accounts_name_fn *fn, void *ctx,
    const char **error_r)
{
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(a->db, "SELECT name FROM domains ORDER BY"
	    " name", -1, &s, NULL) != SQLITE_OK)
		return fail_db(a, error_r);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(ctx, (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : fail_db(a, error_r);
}

int
accounts_domain_is_local(struct accounts *a, const char *domain,
    const char **error_r)
{
	char d[SMTP_MAX_DOMAIN + 1];
	size_t len = strnlen(domain, SMTP_MAX_DOMAIN + 1);
	sqlite3_stmt *s;
	int rc;

	/* a malformed domain is simply not ours (it may come from a peer) */
	if (len > SMTP_MAX_DOMAIN || !domain_valid(span_make(domain, len)))
		return 0;
	memcpy(d, domain, len + 1);
	ascii_strlower(d);
	if ((s = stmt(a, ST_DOMAIN_IS_LOCAL, error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, d, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return fail_db(a, error_r);
}

/* ---- passwords ---- */

int
accounts_scram_derive(const char *password, const uint8_t *salt,
    size_t salt_len, unsigned iterations,
    uint8_t stored_key[ACCOUNTS_SCRAM_KEY_LEN],
    uint8_t server_key[ACCOUNTS_SCRAM_KEY_LEN])
{
	uint8_t salted[ACCOUNTS_SCRAM_KEY_LEN], client_key[EVP_MAX_MD_SIZE];
	unsigned klen = 0, slen = 0;
	unsigned int dlen = 0;
	int r = -1;

	/* RFC 5802 section 3:
	 * SaltedPassword = Hi(Normalize(password), salt, i)
	 * ClientKey = HMAC(SaltedPassword, "Client Key")
	 * StoredKey = H(ClientKey)
	 * ServerKey = HMAC(SaltedPassword, "Server Key") */
	if (PKCS5_PBKDF2_HMAC(password, (int)strlen(password), salt,
	    (int)salt_len, (int)iterations, EVP_sha256(), sizeof(salted),
	    salted) != 1)
		goto out;
	if (HMAC(EVP_sha256(), salted, sizeof(salted),
	    (const unsigned char *)"Client Key", 10, client_key, &klen) ==
	    NULL || klen != ACCOUNTS_SCRAM_KEY_LEN)
		goto out;
	if (EVP_Digest(client_key, klen, stored_key, &dlen, EVP_sha256(),
	    NULL) != 1 || dlen != ACCOUNTS_SCRAM_KEY_LEN)
		goto out;
	if (HMAC(EVP_sha256(), salted, sizeof(salted),
	    (const unsigned char *)"Server Key", 10, server_key, &slen) ==
	    NULL || slen != ACCOUNTS_SCRAM_KEY_LEN)
		goto out;
	r = 0;
out:
	explicit_wipe(salted, sizeof(salted));
	explicit_wipe(client_key, sizeof(client_key));
	return r;
}

struct pwdata {
	char		hash[crypto_pwhash_STRBYTES];
	uint8_t		salt[ACCOUNTS_SCRAM_SALT_LEN];
	uint8_t		stored[ACCOUNTS_SCRAM_KEY_LEN];
	uint8_t		server[ACCOUNTS_SCRAM_KEY_LEN];
};

/* pw_make - argon2id hash and SCRAM keys of a password */
static int
pw_make(struct accounts *a, const char *password, struct pwdata *pw,
    const char **error_r)
{
	if (password[0] == '\0')
		return fail(a, error_r, "empty password");
	if (crypto_pwhash_str(pw->hash, password, strlen(password),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		return fail(a, error_r, "password hashing failed (memory)");
	random_bytes(pw->salt, sizeof(pw->salt));
	if (accounts_scram_derive(password, pw->salt, sizeof(pw->salt),
	    ACCOUNTS_SCRAM_ITERATIONS, pw->stored, pw->server) < 0)
		return fail(a, error_r, "SCRAM key derivation failed");
	return 0;
}

/* pw_bind - binds hash and SCRAM columns at ?first.. (NULLs if no pw) */
static void
pw_bind(sqlite3_stmt *s, int first, const struct pwdata *pw)
{
	if (pw == NULL) {
		sqlite3_bind_text(s, first, "", -1, SQLITE_STATIC);
		sqlite3_bind_null(s, first + 1);
		sqlite3_bind_null(s, first + 2);
		sqlite3_bind_null(s, first + 3);
		sqlite3_bind_null(s, first + 4);
		return;
	}
	sqlite3_bind_text(s, first, pw->hash, -1, SQLITE_TRANSIENT);
	sqlite3_bind_blob(s, first + 1, pw->salt, sizeof(pw->salt),
	    SQLITE_TRANSIENT);
	sqlite3_bind_int(s, first + 2, ACCOUNTS_SCRAM_ITERATIONS);
	sqlite3_bind_blob(s, first + 3, pw->stored, sizeof(pw->stored),
	    SQLITE_TRANSIENT);
	sqlite3_bind_blob(s, first + 4, pw->server, sizeof(pw->server),
	    SQLITE_TRANSIENT);
}

static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;
static char dummy_hash[crypto_pwhash_STRBYTES];

static void
dummy_init(void)
{
	char pw[33];

	random_hex(pw, 16);
	if (crypto_pwhash_str(dummy_hash, pw, strlen(pw),
	    crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
		dummy_hash[0] = '\0';
	explicit_wipe(pw, sizeof(pw));
}

/* dummy_verify - spends the time of a real verification */
static void
dummy_verify(const char *password)
{
	volatile int r;

	pthread_once(&dummy_once, dummy_init);
	if (dummy_hash[0] != '\0') {
		/* the answer is always "no"; only the time spent matters */
		r = crypto_pwhash_str_verify(dummy_hash, password,
		    strlen(password));
		(void)r;
	}
}

/* ---- users ---- */

static void
user_from_row(sqlite3_stmt *s, struct accounts_user *u)
{
	const unsigned char *addr = sqlite3_column_text(s, 1);

	u->id = sqlite3_column_int64(s, 0);
	snprintf(u->address, sizeof(u->address), "%s",
	    addr != NULL ? (const char *)addr : "");
	u->created = (time_t)sqlite3_column_int64(s, 2);
	/* every user query has quota_bytes as its fourth column */
	u->quota_bytes = sqlite3_column_int64(s, 3) > 0 ?
	    (uint64_t)sqlite3_column_int64(s, 3) : 0;
}

int
accounts_user_add(struct accounts *a, const char *address,
    const char *password, int64_t *id_r, const char **error_r)
{
	char c[ACCOUNTS_MAX_ADDRESS + 1], k[ACCOUNTS_MAX_ADDRESS + 1];
	char d[ACCOUNTS_MAX_ADDRESS + 1];
	struct pwdata pw;
	sqlite3_stmt *s = NULL;
	const char *merr;
	int64_t id;
	int rc;

	if (canon(a, address, false, c, k, d, error_r) < 0)
		return -1;
	/* hash before taking the write lock: it takes ~100 ms */
	if (password != NULL && pw_make(a, password, &pw, error_r) < 0)
		goto fail_wipe;
	if (exec(a, "BEGIN IMMEDIATE", error_r) < 0)
		goto fail_wipe;
	if (add_domain(a, d, error_r) < 0)
		goto fail;
	if (sqlite3_prepare_v2(a->db, "INSERT INTO users (address, key,"
	    " domain, password, scram_salt, scram_iterations,"
	    " scram_stored_key, scram_server_key, created)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)", -1, &s,
	    NULL) != SQLITE_OK) {
		fail_db(a, error_r);
		goto fail;
	}
	sqlite3_bind_text(s, 1, c, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, k, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, d, -1, SQLITE_STATIC);
	pw_bind(s, 4, password != NULL ? &pw : NULL);
	sqlite3_bind_int64(s, 9, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc == SQLITE_CONSTRAINT_UNIQUE) {
		fail(a, error_r, "user %s exists already", c);
		goto fail;
	}
	if (rc != SQLITE_DONE) {
		fail_db(a, error_r);
		goto fail;
	}
	id = sqlite3_last_insert_rowid(a->db);
	/*
	 * The store is created inside the transaction: if that fails, the
	 * row goes too.  If we crash after creating it but before COMMIT,
	 * the id was never committed and the next add of that id removes
	 * the leftover directory (mailstore_create).
	 */
	if (mailstore_create(a->data_dir, id, &merr) < 0) {
		fail(a, error_r, "%s", merr);
		goto fail;
	}
	if (exec(a, "COMMIT", error_r) < 0) {
		if (mailstore_remove(a->data_dir, id, &merr) < 0)
			log_warn("accounts user-add id=%lld leftover store:"
			    " %s", (long long)id, merr);
		goto fail;
	}
	explicit_wipe(&pw, sizeof(pw));
	log_info("accounts user-add user=%s id=%lld", c, (long long)id);
	if (id_r != NULL)
		*id_r = id;
	return 0;
fail:
	store_db_rollback(a->db);
fail_wipe:
	explicit_wipe(&pw, sizeof(pw));
	return -1;
}

int
accounts_user_del(struct accounts *a, const char *address,
    const char **error_r)
{
	char c[ACCOUNTS_MAX_ADDRESS + 1], k[ACCOUNTS_MAX_ADDRESS + 1];
	char d[ACCOUNTS_MAX_ADDRESS + 1];
	struct accounts_user u;
	const char *merr;
	sqlite3_stmt *s;
	int rc;

	if (canon(a, address, false, c, k, d, error_r) < 0)
		return -1;
	if (exec(a, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if ((s = stmt(a, ST_USER_BY_KEY, error_r)) == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		user_from_row(s, &u);
	sqlite3_reset(s);
	if (rc == SQLITE_DONE) {
		fail(a, error_r, "no such user %s", c);
		goto fail;
	}
	if (rc != SQLITE_ROW) {
		fail_db(a, error_r);
		goto fail;
	}
	if (sqlite3_prepare_v2(a->db, "DELETE FROM users WHERE id = ?1", -1,
	    &s, NULL) != SQLITE_OK) {
		fail_db(a, error_r);
		goto fail;
	}
	sqlite3_bind_int64(s, 1, u.id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		fail_db(a, error_r);
		goto fail;
	}
	if (exec(a, "COMMIT", error_r) < 0)
		goto fail;
	/* the row is gone first, so no delivery starts on a half-removed
	 * store; a delivery already running may fail, and is retried */
	if (mailstore_remove(a->data_dir, u.id, &merr) < 0)
		log_warn("accounts user-del user=%s id=%lld store not removed:"
		    " %s", u.address, (long long)u.id, merr);
	log_info("accounts user-del user=%s id=%lld", u.address,
	    (long long)u.id);
	return 0;
fail:
	store_db_rollback(a->db);
	return -1;
}

int
accounts_user_passwd(struct accounts *a, const char *address,
    const char *password, const char **error_r)
{
	char c[ACCOUNTS_MAX_ADDRESS + 1], k[ACCOUNTS_MAX_ADDRESS + 1];
	char d[ACCOUNTS_MAX_ADDRESS + 1];
	struct pwdata pw;
	sqlite3_stmt *s;
	int rc;

	if (canon(a, address, false, c, k, d, error_r) < 0)
		return -1;
	if (password == NULL)
		return fail(a, error_r, "no password given");
	if (pw_make(a, password, &pw, error_r) < 0) {
		explicit_wipe(&pw, sizeof(pw));
		return -1;
	}
	if (sqlite3_prepare_v2(a->db, "UPDATE users SET password = ?1,"
	    " scram_salt = ?2, scram_iterations = ?3, scram_stored_key = ?4,"
	    " scram_server_key = ?5 WHERE key = ?6", -1, &s, NULL) !=
	    SQLITE_OK) {
		explicit_wipe(&pw, sizeof(pw));
		return fail_db(a, error_r);
	}
	pw_bind(s, 1, &pw);
	sqlite3_bind_text(s, 6, k, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	explicit_wipe(&pw, sizeof(pw));
	if (rc != SQLITE_DONE)
		return fail_db(a, error_r);
	if (sqlite3_changes(a->db) == 0)
		return fail(a, error_r, "no such user %s", c);
	log_info("accounts user-passwd user=%s", c);
	return 0;
}

int
accounts_user_quota_set(struct accounts *a, const char *address,
    uint64_t bytes, const char **error_r)
{
	char c[ACCOUNTS_MAX_ADDRESS + 1], k[ACCOUNTS_MAX_ADDRESS + 1];
	char d[ACCOUNTS_MAX_ADDRESS + 1];
	sqlite3_stmt *s;
	int rc;

	if (canon(a, address, false, c, k, d, error_r) < 0)
		return -1;
	if (bytes > (uint64_t)INT64_MAX)
		return fail(a, error_r, "quota too large");
	if (sqlite3_prepare_v2(a->db, "UPDATE users SET quota_bytes = ?1"
	    " WHERE key = ?2", -1, &s, NULL) != SQLITE_OK)
		return fail_db(a, error_r);
	sqlite3_bind_int64(s, 1, (sqlite3_int64)bytes);
	sqlite3_bind_text(s, 2, k, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return fail_db(a, error_r);
	if (sqlite3_changes(a->db) == 0)
		return fail(a, error_r, "no such user %s", c);
	log_info("accounts user-quota user=%s bytes=%llu", c,
	    (unsigned long long)bytes);
	return 0;
}

int
accounts_user_list(struct accounts *a, accounts_user_fn *fn, void *ctx,
    const char **error_r)
{
	struct accounts_user u;
	sqlite3_stmt *s;
	int rc;

	if (sqlite3_prepare_v2(a->db, "SELECT id, address, created,"
	    " quota_bytes FROM users ORDER BY id", -1, &s, NULL) != SQLITE_OK)
		return fail_db(a, error_r);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		user_from_row(s, &u);
		fn(ctx, &u);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : fail_db(a, error_r);
}

/* lookup_key - user by key (already canonical) */
static int
lookup_key(struct accounts *a, const char *key, struct accounts_user *u_r,
    const char **error_r)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = stmt(a, ST_USER_BY_KEY, error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && u_r != NULL)
		user_from_row(s, u_r);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return fail_db(a, error_r);
}

int
accounts_user_lookup(struct accounts *a, const char *address,
    struct accounts_user *u_r, const char **error_r)
{
	char c[ACCOUNTS_MAX_ADDRESS + 1], k[ACCOUNTS_MAX_ADDRESS + 1];
	char d[ACCOUNTS_MAX_ADDRESS + 1];
	const char *ignored;

	/* a malformed address is nobody (it may come from a peer) */
	if (canon(a, address, false, c, k, d, &ignored) < 0)
		return 0;
	return lookup_key(a, k, u_r, error_r);
}

int
accounts_user_verify(struct accounts *a, const char *address,
    const char *password, struct accounts_user *u_r, const char **error_r)
{
	char c[ACCOUNTS_MAX_ADDRESS + 1], k[ACCOUNTS_MAX_ADDRESS + 1];
	char d[ACCOUNTS_MAX_ADDRESS + 1];
	char hash[crypto_pwhash_STRBYTES];
	struct accounts_user u;
	const char *ignored;
	const unsigned char *h;
	sqlite3_stmt *s;
	int rc;

	if (password == NULL)
		password = "";	/* empty passwords are never set */
	if (canon(a, address, false, c, k, d, &ignored) < 0) {
		dummy_verify(password);
		return 0;
	}
	if ((s = stmt(a, ST_USER_AUTH, error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	hash[0] = '\0';
	if (rc == SQLITE_ROW) {
		user_from_row(s, &u);
		h = sqlite3_column_text(s, 4);
		if (h != NULL)
			snprintf(hash, sizeof(hash), "%s", (const char *)h);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail_db(a, error_r);
	if (rc == SQLITE_DONE || hash[0] == '\0') {
		dummy_verify(password);
		return 0;
	}
	if (crypto_pwhash_str_verify(hash, password, strlen(password)) != 0)
		return 0;
	if (u_r != NULL)
		*u_r = u;
	return 1;
}

int
accounts_user_scram(struct accounts *a, const char *address,
    struct accounts_scram *r, const char **error_r)
{
	char c[ACCOUNTS_MAX_ADDRESS + 1], k[ACCOUNTS_MAX_ADDRESS + 1];
	char d[ACCOUNTS_MAX_ADDRESS + 1];
	const char *ignored;
	sqlite3_stmt *s;
	int rc, found = 0;

	if (canon(a, address, false, c, k, d, &ignored) < 0)
		return 0;
	if (sqlite3_prepare_v2(a->db, "SELECT scram_salt, scram_iterations,"
	    " scram_stored_key, scram_server_key FROM users WHERE key = ?1",
	    -1, &s, NULL) != SQLITE_OK)
		return fail_db(a, error_r);
	sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW &&
	    sqlite3_column_bytes(s, 0) > 0 &&
	    sqlite3_column_bytes(s, 0) <= ACCOUNTS_SCRAM_SALT_LEN &&
	    sqlite3_column_bytes(s, 2) == ACCOUNTS_SCRAM_KEY_LEN &&
	    sqlite3_column_bytes(s, 3) == ACCOUNTS_SCRAM_KEY_LEN) {
		r->salt_len = (size_t)sqlite3_column_bytes(s, 0);
		memcpy(r->salt, sqlite3_column_blob(s, 0), r->salt_len);
		r->iterations = (unsigned)sqlite3_column_int(s, 1);
		memcpy(r->stored_key, sqlite3_column_blob(s, 2),
		    ACCOUNTS_SCRAM_KEY_LEN);
		memcpy(r->server_key, sqlite3_column_blob(s, 3),
		    ACCOUNTS_SCRAM_KEY_LEN);
		found = 1;
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail_db(a, error_r);
	return found;
}

/* ---- aliases ---- */

int
accounts_alias_add(struct accounts *a, const char *address,
    const char *target, const char **error_r)
{
	char c[ACCOUNTS_MAX_ADDRESS + 1], k[ACCOUNTS_MAX_ADDRESS + 1];
	char d[ACCOUNTS_MAX_ADDRESS + 1];
	char tc[ACCOUNTS_MAX_ADDRESS + 1], tk[ACCOUNTS_MAX_ADDRESS + 1];
	char td[ACCOUNTS_MAX_ADDRESS + 1];
	sqlite3_stmt *s;
	int rc;

	if (canon(a, address, true, c, k, d, error_r) < 0 ||
	    canon(a, target, false, tc, tk, td, error_r) < 0)
		return -1;
	if (strcmp(k, tk) == 0)
		return fail(a, error_r, "alias %s points at itself", c);
	if (exec(a, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if (add_domain(a, d, error_r) < 0)
		goto fail;
	if (sqlite3_prepare_v2(a->db, "INSERT OR IGNORE INTO aliases"
	    " (address, key, domain, target, target_key, created)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)", -1, &s, NULL) != SQLITE_OK) {
		fail_db(a, error_r);
		goto fail;
	}
	sqlite3_bind_text(s, 1, c, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, k, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, d, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, tc, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 5, tk, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 6, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		fail_db(a, error_r);
		goto fail;
	}
	rc = sqlite3_changes(a->db);
	if (exec(a, "COMMIT", error_r) < 0)
		goto fail;
	if (rc > 0)
		log_info("accounts alias-add alias=%s target=%s", c, tc);
	return 0;
fail:
	store_db_rollback(a->db);
	return -1;
}

int
accounts_alias_del(struct accounts *a, const char *address,
    const char *target, const char **error_r)
{
	char c[ACCOUNTS_MAX_ADDRESS + 1], k[ACCOUNTS_MAX_ADDRESS + 1];
	char d[ACCOUNTS_MAX_ADDRESS + 1];
	char tc[ACCOUNTS_MAX_ADDRESS + 1], tk[ACCOUNTS_MAX_ADDRESS + 1];
	char td[ACCOUNTS_MAX_ADDRESS + 1];
	sqlite3_stmt *s;
	int rc;

	if (canon(a, address, true, c, k, d, error_r) < 0)
		return -1;
	if (target != NULL && canon(a, target, false, tc, tk, td, error_r) < 0)
		return -1;
	if (sqlite3_prepare_v2(a->db, target != NULL ?
	    "DELETE FROM aliases WHERE key = ?1 AND target_key = ?2" :
	    "DELETE FROM aliases WHERE key = ?1", -1, &s, NULL) != SQLITE_OK)
		return fail_db(a, error_r);
	sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
	if (target != NULL)
		sqlite3_bind_text(s, 2, tk, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return fail_db(a, error_r);
	if (sqlite3_changes(a->db) == 0)
		return target != NULL ?
		    fail(a, error_r, "no alias %s -> %s", c, tc) :
		    fail(a, error_r, "no alias %s", c);
	log_info("accounts alias-del alias=%s target=%s", c,
	    target != NULL ? tc : "*");
	return 0;
}

int
accounts_alias_list(struct accounts *a, const char *address,
    accounts_alias_fn *fn, void *ctx, const char **error_r)
{
	char c[ACCOUNTS_MAX_ADDRESS + 1], k[ACCOUNTS_MAX_ADDRESS + 1];
	char d[ACCOUNTS_MAX_ADDRESS + 1];
	sqlite3_stmt *s;
	int rc, n = 0;

	if (address != NULL && canon(a, address, true, c, k, d, error_r) < 0)
		return -1;
	if (sqlite3_prepare_v2(a->db, address != NULL ?
	    "SELECT address, target FROM aliases WHERE key = ?1 ORDER BY id" :
	    "SELECT address, target FROM aliases ORDER BY key, id", -1, &s,
	    NULL) != SQLITE_OK)
		return fail_db(a, error_r);
	if (address != NULL)
		sqlite3_bind_text(s, 1, k, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		fn(ctx, (const char *)sqlite3_column_text(s, 0),
		    (const char *)sqlite3_column_text(s, 1));
		n++;
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? n : fail_db(a, error_r);
}

/* ---- for resolve.c (store_int.h) ---- */

int
accounts_int_lookup_key(struct accounts *a, const char *key,
    struct accounts_user *u_r, const char **error_r)
{
	return lookup_key(a, key, u_r, error_r);
}

int
accounts_int_alias_targets(struct accounts *a, const char *key,
    char ***targets_r, size_t *n_r, const char **error_r)
{
	sqlite3_stmt *s;
	char **t = NULL;
	size_t n = 0;
	int rc;

	*targets_r = NULL;
	*n_r = 0;
	if ((s = stmt(a, ST_ALIAS_TARGETS, error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		/* the caller bounds the total; this bounds one list */
		if (n >= ALIAS_MAX_EXPANSION + 1)
			break;
		t = xreallocarray(t, n + 1, sizeof(*t));
		t[n++] = xstrdup((const char *)sqlite3_column_text(s, 0));
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		while (n > 0)
			free(t[--n]);
		free(t);
		return fail_db(a, error_r);
	}
	*targets_r = t;
	*n_r = n;
	return n > 0 ? 1 : 0;
}

int
accounts_int_first_user(struct accounts *a, struct accounts_user *u_r,
    const char **error_r)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = stmt(a, ST_FIRST_USER, error_r)) == NULL)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		user_from_row(s, u_r);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail_db(a, error_r);
}

int
accounts_int_first_domain(struct accounts *a, char *out, size_t outsize,
    const char **error_r)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = stmt(a, ST_FIRST_DOMAIN, error_r)) == NULL)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		snprintf(out, outsize, "%s", sqlite3_column_text(s, 0));
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail_db(a, error_r);
}
