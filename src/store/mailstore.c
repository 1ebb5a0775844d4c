/*
 * mailstore.c - one account's mailboxes and immutable message files.
 *
 * RFCs: RFC 3501/9051 (UID, UIDVALIDITY, UIDNEXT, flags, mailbox names and
 * hierarchy, INBOX, STORE, COPY, SEARCH candidates), RFC 6851 (MOVE),
 * RFC 6154 (special-use), RFC 7162 (MODSEQ, HIGHESTMODSEQ, UNCHANGEDSINCE,
 * the expunge log for QRESYNC), RFC 9208 (usage counters, quota).  Sees
 * untrusted input in three places, each checked: mailbox names and
 * keywords (IMAP clients; mailbox_name_check, keyword_ok), SEARCH terms
 * (fts_term: only valid UTF-8 without NUL, quoted for FTS5), and the
 * bytes of delivered messages, which only mime_text_extract parses.
 *
 * Durability of a delivery batch (see docs/store.md):
 *   1. every message file is written (O_EXCL, new random name);
 *   2. one syncfs() on the store's file system makes all file data, inodes
 *      and directory entries durable (on failure: fsync each file and the
 *      msg/ directory);
 *   3. one SQLite transaction (WAL, synchronous=FULL) inserts every index
 *      row and dedupe key; its COMMIT fsyncs the WAL.
 * A crash before 3 leaves unreferenced files (harmless garbage); after 3
 * the rows point at files that are already durable.  The dedupe key is
 * committed in the same transaction as the row, so a redelivery after a
 * crash finds it and is skipped.
 */
#include "store/mailstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "lib/ascii.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/span.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "mime/mime_text.h"
#include "store/store_int.h"

#define BLOB_RANDOM_BYTES	12		/* 24 hex digits */
#define BLOB_NAME_SIZE		(BLOB_RANDOM_BYTES * 2 + 1)
#define PRUNE_INTERVAL		3600		/* seconds between prunes */
#define MAILSTORE_SCHEMA_VERSION 8
#define STORE_PAGE_CACHE_KIB	"16384"	/* SQLite page cache, KiB */

/* statements prepared once per handle (hot paths) */
enum ms_stmt {
	MS_ST_MAILBOX_ID,
	MS_ST_MAILBOX_STATE,
	MS_ST_LIST_RANGE,
	MS_ST_LIST_RANGE_CACHE,
	MS_ST_LIST_SINCE,
	MS_ST_EXPUNGED_SINCE,
	MS_ST_FLAGS_GET,
	MS_ST_FLAGS_RANGE,
	MS_ST_FLAGS_SET,
	MS_ST_COPY,
	MS_ST_COPY_CACHE,
	MS_ST_CACHE_INSERT,
	MS_ST_MOVE,
	MS_ST_EXPUNGE_LOG,
	MS_ST_USAGE,
	MS_ST_FTS_INSERT,
	MS_ST_FTS_GC,
	MS_ST_SUMMARY_GET,
	MS_ST_SUMMARY_SCAN,
	MS_ST_SUMMARY_SAVE,
	MS_ST_COUNT
};

struct mailstore {
	sqlite3		*db;
	int64_t		 user_id;
	char		*dir;		/* DATA_DIR/mail/<id> */
	char		*msgdir;	/* .../msg */
	dev_t		 dev;		/* file system of msgdir */
	time_t		 last_prune;
	bool		 pack;		/* mailstore_set_packing */
	uint64_t	 quota_bytes;	/* mailstore_set_quota; 0: none */
	time_t		 last_expunge_prune;
	sqlite3_stmt	*st[MS_ST_COUNT];
	char		 name[STORE_MAX_MAILBOX_NAME + 1];	/* mailbox_get */
	char		 err[STORE_ERR_SIZE];
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta ("
	" key TEXT PRIMARY KEY,"
	" value INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS mailboxes ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" uidvalidity INTEGER NOT NULL,"
	" uidnext INTEGER NOT NULL DEFAULT 1,"
	" highestmodseq INTEGER NOT NULL DEFAULT 1,"
	" special_use TEXT,"
	" subscribed INTEGER NOT NULL DEFAULT 1,"
	" created INTEGER NOT NULL);"
	"CREATE TABLE IF NOT EXISTS messages ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),"
	" uid INTEGER NOT NULL,"
	" blob TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" internal_date INTEGER NOT NULL,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" keywords TEXT NOT NULL DEFAULT '',"
	" modseq INTEGER NOT NULL,"
	" blob_offset INTEGER NOT NULL DEFAULT 0,"
	" UNIQUE (mailbox_id, uid));"
	"CREATE INDEX IF NOT EXISTS messages_modseq"
	" ON messages(mailbox_id, modseq);"
	"CREATE INDEX IF NOT EXISTS messages_blob ON messages(blob);"
	"CREATE TABLE IF NOT EXISTS dedupe ("
	" key TEXT PRIMARY KEY,"
	" time INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS dedupe_time ON dedupe(time);"
	"PRAGMA user_version = 2;";

/* version 1 -> 2: messages may share a file (packs) */
static const char migrate_v2_sql[] =
	"ALTER TABLE messages ADD COLUMN"
	" blob_offset INTEGER NOT NULL DEFAULT 0;"
	"PRAGMA user_version = 2;";

/*
 * The full-text index: trigrams of the folded text (FTS5's trigram
 * tokenizer, case-insensitive) with detail=none: only which rows hold a
 * trigram, no columns or positions.  A query is then the AND of the
 * term's trigrams (fts_query): a superset of the substring matches, which
 * SEARCH confirms anyway, for a third of the indexing cost per delivery
 * and a tenth of the size of detail=full (docs/store.md has the figures).
 */
#define FTS_CREATE_SQL \
	"CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(header, body," \
	" tokenize = 'trigram', detail = none);" \
	"CREATE INDEX IF NOT EXISTS messages_unindexed" \
	" ON messages(mailbox_id) WHERE text_id IS NULL;"

/*
 * version 2 -> 3 -> 4 (also run on a new store after schema_sql): the expunge
 * log (RFC 7162 QRESYNC), usage counters kept by triggers (RFC 9208
 * quota), and the full-text index (FTS5, trigram tokenizer).
 *   expunged: every UID removed from a mailbox (expunge, or moved away)
 *     with the MODSEQ of that change; mailboxes.expunge_floor: the log
 *     holds every expunge with modseq > floor (0: since creation; an index
 *     migrated from v2 starts at its HIGHESTMODSEQ, older ones unknown).
 *   usage: one row; bytes and messages of the whole account.
 *   fts: one row per distinct message text (copies share it through
 *     messages.text_id; NULL: not indexed, always a search candidate).
 */
static const char migrate_v3_sql[] =
	"CREATE TABLE IF NOT EXISTS expunged ("
	" mailbox_id INTEGER NOT NULL,"
	" modseq INTEGER NOT NULL,"
	" uid INTEGER NOT NULL,"
	" time INTEGER NOT NULL,"
	" PRIMARY KEY (mailbox_id, modseq, uid)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS messages_text ON messages(text_id)"
	" WHERE text_id IS NOT NULL;"
	"CREATE TABLE IF NOT EXISTS usage ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" bytes INTEGER NOT NULL,"
	" messages INTEGER NOT NULL);"
	"INSERT OR REPLACE INTO usage SELECT 1, coalesce(sum(size), 0),"
	" count(*) FROM messages;"
	"CREATE TRIGGER IF NOT EXISTS messages_usage_ins AFTER INSERT ON"
	" messages BEGIN UPDATE usage SET bytes = bytes + NEW.size,"
	" messages = messages + 1 WHERE id = 1; END;"
	"CREATE TRIGGER IF NOT EXISTS messages_usage_del AFTER DELETE ON"
	" messages BEGIN UPDATE usage SET bytes = bytes - OLD.size,"
	" messages = messages - 1 WHERE id = 1; END;"
	FTS_CREATE_SQL
	"PRAGMA user_version = 5;";

/*
 * version 5 -> 6 (also run on a new store): the cached parse (ENVELOPE,
 * BODYSTRUCTURE, BODY; a few KB per message) leaves the messages rows
 * for a table of its own keyed by the message row id.  A messages row
 * is then about 80 bytes, so a flag UPDATE rewrites only that (not the
 * row and its overflow pages) and a listing reads a fraction of the
 * pages (docs/store.md has the figures).  Rows of a message
 * go with it (trigger).  The old columns are moved out and dropped
 * (migrate_v6), which rewrites the table once.
 */
static const char migrate_v6_sql[] =
	"CREATE TABLE IF NOT EXISTS message_cache ("
	" id INTEGER PRIMARY KEY,"
	" envelope TEXT,"
	" bodystructure TEXT,"
	" body TEXT);"
	"CREATE TRIGGER IF NOT EXISTS messages_cache_del AFTER DELETE ON"
	" messages BEGIN DELETE FROM message_cache WHERE id = OLD.id; END;";

/*
 * the cached parse of an index of version 5 or older, moved out; the
 * messages table is then built again without it (an ALTER TABLE DROP
 * COLUMN would leave its pages nine-tenths empty), with its indexes and
 * triggers, and its AUTOINCREMENT counter kept (ids are never reused)
 */
static const char migrate_v6_move_sql[] =
	"INSERT OR REPLACE INTO message_cache (id, envelope, bodystructure,"
	" body) SELECT id, envelope, bodystructure, body FROM messages"
	" WHERE envelope IS NOT NULL OR bodystructure IS NOT NULL"
	" OR body IS NOT NULL;"
	"CREATE TABLE messages_v6 ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),"
	" uid INTEGER NOT NULL,"
	" blob TEXT NOT NULL,"
	" size INTEGER NOT NULL,"
	" internal_date INTEGER NOT NULL,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" keywords TEXT NOT NULL DEFAULT '',"
	" modseq INTEGER NOT NULL,"
	" blob_offset INTEGER NOT NULL DEFAULT 0,"
	" text_id INTEGER,"
	" UNIQUE (mailbox_id, uid));"
	"INSERT INTO messages_v6 (id, mailbox_id, uid, blob, size,"
	" internal_date, flags, keywords, modseq, blob_offset, text_id)"
	" SELECT id, mailbox_id, uid, blob, size, internal_date, flags,"
	" keywords, modseq, blob_offset, text_id FROM messages ORDER BY id;"
	"CREATE TEMP TABLE v6_seq AS SELECT seq FROM sqlite_sequence"
	" WHERE name = 'messages';"
	"DROP TABLE messages;"
	"ALTER TABLE messages_v6 RENAME TO messages;"
	"UPDATE sqlite_sequence SET seq = max(seq, (SELECT coalesce(max(seq),"
	" 0) FROM temp.v6_seq)) WHERE name = 'messages';"
	"DROP TABLE temp.v6_seq;"
	"CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);"
	"CREATE INDEX messages_blob ON messages(blob);"
	"CREATE INDEX messages_text ON messages(text_id)"
	" WHERE text_id IS NOT NULL;"
	"CREATE TRIGGER messages_usage_ins AFTER INSERT ON"
	" messages BEGIN UPDATE usage SET bytes = bytes + NEW.size,"
	" messages = messages + 1 WHERE id = 1; END;"
	"CREATE TRIGGER messages_usage_del AFTER DELETE ON"
	" messages BEGIN UPDATE usage SET bytes = bytes - OLD.size,"
	" messages = messages - 1 WHERE id = 1; END;"
	"CREATE TRIGGER messages_cache_del AFTER DELETE ON"
	" messages BEGIN DELETE FROM message_cache WHERE id = OLD.id; END;"
	FTS_CREATE_SQL;

/*
 * version 6 -> 7 (also run on a new store): a summary of each mailbox as
 * SELECT needs it (its UIDs in order, where the first message without
 * \Seen is, the keywords in use), kept as one row per mailbox so that a
 * SELECT of a large mailbox reads one blob instead of every message row
 * (mailstore_mailbox_summary).  It is a cache: built at a SELECT that
 * finds none, and dropped by triggers when a message is added, removed
 * or moved, and when the mailbox's UIDVALIDITY, UIDNEXT or HIGHESTMODSEQ
 * changes (every flag or keyword change raises HIGHESTMODSEQ, once per
 * transaction: a trigger per message row would cost a STORE 1:* dearly);
 * it also names the HIGHESTMODSEQ it was made at, checked when read.
 */
static const char migrate_v7_sql[] =
	"CREATE TABLE IF NOT EXISTS mailbox_summary ("
	" mailbox_id INTEGER PRIMARY KEY,"
	" modseq INTEGER NOT NULL,"
	" uids BLOB NOT NULL,"		/* summary_encode */
	" first_unseen INTEGER NOT NULL,"	/* 1-based; 0: none */
	" keywords TEXT NOT NULL);"
	"CREATE TRIGGER IF NOT EXISTS summary_ins AFTER INSERT ON messages"
	" BEGIN DELETE FROM mailbox_summary"
	" WHERE mailbox_id = NEW.mailbox_id; END;"
	"CREATE TRIGGER IF NOT EXISTS summary_del AFTER DELETE ON messages"
	" BEGIN DELETE FROM mailbox_summary"
	" WHERE mailbox_id = OLD.mailbox_id; END;"
	"CREATE TRIGGER IF NOT EXISTS summary_upd AFTER UPDATE OF"
	" mailbox_id, uid ON messages"
	" BEGIN DELETE FROM mailbox_summary"
	" WHERE mailbox_id IN (OLD.mailbox_id, NEW.mailbox_id); END;"
	"CREATE TRIGGER IF NOT EXISTS summary_mailbox_del AFTER DELETE ON"
	" mailboxes BEGIN DELETE FROM mailbox_summary"
	" WHERE mailbox_id = OLD.id; END;"
	"CREATE TRIGGER IF NOT EXISTS summary_mailbox_upd AFTER UPDATE OF"
	" uidvalidity, uidnext, highestmodseq ON mailboxes"
	" BEGIN DELETE FROM mailbox_summary"
	" WHERE mailbox_id = OLD.id; END;"
	"PRAGMA user_version = 8;";

/* version 7 -> 8: the summary's UIDs as runs (summary_encode) */
static const char migrate_v8_sql[] =
	"DELETE FROM mailbox_summary;"
	"PRAGMA user_version = 8;";

/* version 4 -> 5: the index of messages waiting to be indexed */
static const char migrate_v5_sql[] =
	FTS_CREATE_SQL
	"PRAGMA user_version = 5;";

/*
 * version 3 -> 4: the index of version 3 kept positions (detail=full);
 * it is rebuilt without: its messages are indexed again lazily, at
 * searches (fts_catch_up), and are candidates until then.
 */
static const char migrate_v4_sql[] =
	"DROP TABLE IF EXISTS fts;"
	"UPDATE messages SET text_id = NULL WHERE text_id IS NOT NULL;"
	FTS_CREATE_SQL
	"PRAGMA user_version = 5;";
/* the columns v3 adds (before migrate_v3_sql, each if missing) */
static const struct {
	const char	*table, *column, *sql;
} migrate_v3_columns[] = {
	{ "mailboxes", "expunge_floor", "ALTER TABLE mailboxes ADD COLUMN"
	    " expunge_floor INTEGER NOT NULL DEFAULT 0;"
	    "UPDATE mailboxes SET expunge_floor = highestmodseq;" },
	{ "messages", "text_id", "ALTER TABLE messages ADD COLUMN"
	    " text_id INTEGER;" },
};

/* has_column - true if table has the column (false on error too) */
static bool
has_column(sqlite3 *db, const char *table, const char *column)
{
	sqlite3_stmt *s;
	bool r = false;

	if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1)"
	    " WHERE name = ?2", -1, &s, NULL) != SQLITE_OK)
		return false;
	sqlite3_bind_text(s, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, column, -1, SQLITE_STATIC);
	r = sqlite3_step(s) == SQLITE_ROW;
	sqlite3_finalize(s);
	return r;
}

/* migrate_v3 - v2 -> v3, also on a new store (inside a txn) */
static int
migrate_v3(sqlite3 *db, char *err, size_t errsize)
{
	size_t i;

	for (i = 0; i < sizeof(migrate_v3_columns) /
	    sizeof(migrate_v3_columns[0]); i++)
		if (!has_column(db, migrate_v3_columns[i].table,
		    migrate_v3_columns[i].column) &&
		    store_db_exec(db, migrate_v3_columns[i].sql, err,
		    errsize) < 0)
			return -1;
	return store_db_exec(db, migrate_v3_sql, err, errsize);
}

/* migrate_v6 - v5 -> v6 -> v7 -> v8, also on a new store (in a txn) */
static int
migrate_v6(sqlite3 *db, char *err, size_t errsize)
{
	if (store_db_exec(db, migrate_v6_sql, err, errsize) < 0)
		return -1;
	if (has_column(db, "messages", "envelope") &&
	    store_db_exec(db, migrate_v6_move_sql, err, errsize) < 0)
		return -1;
	if (store_db_exec(db, "PRAGMA user_version = 6;", err, errsize) < 0)
		return -1;
	if (store_db_exec(db, migrate_v7_sql, err, errsize) < 0)
		return -1;
	return store_db_exec(db, migrate_v8_sql, err, errsize);
}

static const struct {
	const char		*name;
	enum mailstore_special	 special;
} default_mailboxes[] = {
	{ "INBOX", MAILSTORE_SPECIAL_NONE },
	{ "Sent", MAILSTORE_SPECIAL_SENT },
	{ "Drafts", MAILSTORE_SPECIAL_DRAFTS },
	{ "Junk", MAILSTORE_SPECIAL_JUNK },
	{ "Trash", MAILSTORE_SPECIAL_TRASH },
};

static const char *const special_names[] = {
	[MAILSTORE_SPECIAL_NONE] = NULL,
	[MAILSTORE_SPECIAL_SENT] = "\\Sent",
	[MAILSTORE_SPECIAL_DRAFTS] = "\\Drafts",
	[MAILSTORE_SPECIAL_JUNK] = "\\Junk",
	[MAILSTORE_SPECIAL_TRASH] = "\\Trash",
	[MAILSTORE_SPECIAL_ARCHIVE] = "\\Archive",
	[MAILSTORE_SPECIAL_ALL] = "\\All",
	[MAILSTORE_SPECIAL_FLAGGED] = "\\Flagged",
};
#define NSPECIAL (sizeof(special_names) / sizeof(special_names[0]))

static __thread char static_err[STORE_ERR_SIZE];

const char *
mailstore_special_name(enum mailstore_special s)
{
	return (size_t)s < NSPECIAL ? special_names[s] : NULL;
}

static enum mailstore_special
special_from_name(const char *s)
{
	size_t i;

	if (s == NULL)
		return MAILSTORE_SPECIAL_NONE;
	for (i = 1; i < NSPECIAL; i++)
		if (strcmp(s, special_names[i]) == 0)
			return (enum mailstore_special)i;
	return MAILSTORE_SPECIAL_NONE;
}

static int __attribute__((format(printf, 3, 4)))
fail(struct mailstore *ms, const char **error_r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ms->err, sizeof(ms->err), fmt, ap);
	va_end(ap);
	if (error_r != NULL)
		*error_r = ms->err;
	return -1;
}

static int
fail_db(struct mailstore *ms, const char **error_r)
{
	return fail(ms, error_r, "mail store %lld: %s",
	    (long long)ms->user_id, sqlite3_errmsg(ms->db));
}

static int
exec(struct mailstore *ms, const char *sql, const char **error_r)
{
	if (store_db_exec(ms->db, sql, ms->err, sizeof(ms->err)) < 0) {
		if (error_r != NULL)
			*error_r = ms->err;
		return -1;
	}
	return 0;
}

static sqlite3_stmt *
prep(struct mailstore *ms, const char *sql, const char **error_r)
{
	sqlite3_stmt *s = NULL;

	if (sqlite3_prepare_v2(ms->db, sql, -1, &s, NULL) != SQLITE_OK) {
		fail_db(ms, error_r);
		return NULL;
	}
	return s;
}

/*
 * cached - a statement prepared once per handle, reset and unbound; the
 * caller resets it again when done (an unreset SELECT would keep its read
 * snapshot open and later reads on this handle would not see new commits).
 */
static sqlite3_stmt *
cached(struct mailstore *ms, enum ms_stmt which, const char *sql,
    const char **error_r)
{
	sqlite3_stmt *s = ms->st[which];

	if (s == NULL) {
		if (sqlite3_prepare_v3(ms->db, sql, -1,
		    SQLITE_PREPARE_PERSISTENT, &s, NULL) != SQLITE_OK) {
			fail_db(ms, error_r);
			return NULL;
		}
		ms->st[which] = s;
	} else {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
	}
	return s;
}

/* ---- change notification ---- */

static mailstore_change_fn *change_fn;
static void *change_ctx;

void
mailstore_set_change_hook(mailstore_change_fn *fn, void *ctx)
{
	__atomic_store_n(&change_ctx, ctx, __ATOMIC_RELEASE);
	__atomic_store_n(&change_fn, fn, __ATOMIC_RELEASE);
}

/* changed - after a commit that changed messages, flags or mailboxes */
static void
changed(struct mailstore *ms)
{
	mailstore_change_fn *fn = __atomic_load_n(&change_fn,
	    __ATOMIC_ACQUIRE);

	if (fn != NULL)
		fn(__atomic_load_n(&change_ctx, __ATOMIC_ACQUIRE),
		    ms->user_id);
}

static int step_done(struct mailstore *ms, sqlite3_stmt *s,
    const char **error_r);
static int fts_index_message(struct mailstore *ms, const char *blob,
    uint64_t off, uint64_t size, int64_t *text_id_r, const char **error_r);
static int usage_get(struct mailstore *ms, uint64_t *bytes_r,
    uint64_t *messages_r, const char **error_r);
static int kw_apply(struct mailstore *ms, struct buf *list, const char *arg,
    bool add, const char **error_r);
static int log_expunged(struct mailstore *ms, int64_t mailbox_id,
    uint64_t modseq, uint32_t uid, const char **error_r);
static int prune_expunged_txn(struct mailstore *ms, uint64_t max_age,
    uint64_t max_rows, const char **error_r);

/* ---- mailbox names ---- */

/*
 * mailbox_name_check - validates a name and writes its canonical form
 * (the first level "INBOX" in upper case, RFC 3501 section 5.1).
 */
static int
mailbox_name_check(struct mailstore *ms, const char *name, char *out,
    const char **error_r)
{
	size_t len = strnlen(name, STORE_MAX_MAILBOX_NAME + 1), i;
	char esc[LOG_ESCAPE_BUFSIZE];

	if (len == 0 || len > STORE_MAX_MAILBOX_NAME)
		goto bad;
	if (name[0] == '/' || name[len - 1] == '/')
		goto bad;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		/* '*' and '%' are LIST wildcards (RFC 3501 section 6.3.8) */
		if (c < 0x20 || c == 0x7f || c == '*' || c == '%')
			goto bad;
		if (c == '/' && name[i + 1] == '/')
			goto bad;
	}
	if (!store_utf8_valid((const unsigned char *)name, len))
		goto bad;
	memcpy(out, name, len + 1);
	if (len >= 5 && strncasecmp(out, "INBOX", 5) == 0 &&
	    (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return 0;
bad:
	return fail(ms, error_r, "invalid mailbox name \"%s\"",
	    log_escape(esc, sizeof(esc), name, len));
}

/* ---- create / open ---- */

static char *
store_dir(const char *data_dir, int64_t user_id)
{
	return xasprintf("%s/mail/%lld", data_dir, (long long)user_id);
}

/* next_uidvalidity - unique, increasing UIDVALIDITY (inside a txn) */
static int
next_uidvalidity(sqlite3 *db, uint32_t *v_r)
{
	sqlite3_stmt *s;
	int64_t last = 0, now = (int64_t)time(NULL), v;
	int rc;

	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key ="
	    " 'uidvalidity'", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		last = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	v = now > last ? now : last + 1;
	if (v > (int64_t)UINT32_MAX || v < 1)
		v = 1;	/* XXX: in 2106; UIDVALIDITY only must change */
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta (key, value)"
	    " VALUES ('uidvalidity', ?1)", -1, &s, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(s, 1, v);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return -1;
	*v_r = (uint32_t)v;
	return 0;
}

/* insert_mailbox - creates one mailbox row (inside a txn) */
static int
insert_mailbox(sqlite3 *db, const char *name, enum mailstore_special sp)
{
	sqlite3_stmt *s;
	uint32_t uidv;
	int rc;

	if (next_uidvalidity(db, &uidv) < 0)
		return -1;
	if (sqlite3_prepare_v2(db, "INSERT INTO mailboxes (name, uidvalidity,"
	    " special_use, created) VALUES (?1, ?2, ?3, ?4)", -1, &s, NULL) !=
	    SQLITE_OK)
		return -1;
	sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, uidv);
	if (mailstore_special_name(sp) != NULL)
		sqlite3_bind_text(s, 3, mailstore_special_name(sp), -1,
		    SQLITE_STATIC);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
mailstore_create(const char *data_dir, int64_t user_id,
    const char **error_r)
{
	char *dir = store_dir(data_dir, user_id), *top, *msg, *path;
	sqlite3 *db = NULL;
	size_t i;
	int r = -1;

	top = xasprintf("%s/mail", data_dir);
	msg = xasprintf("%s/msg", dir);
	path = xasprintf("%s/index.db", dir);
	if (user_id <= 0) {
		*error_r = store_err(static_err, sizeof(static_err),
		    "invalid user id %lld", (long long)user_id);
		goto out;
	}
	if (mkdir_p(top, 0700) < 0 || store_rmtree(dir) < 0 ||
	    mkdir(dir, 0700) < 0 || mkdir(msg, 0700) < 0) {
		*error_r = store_err(static_err, sizeof(static_err),
		    "cannot create %s: %s", dir, strerror(errno));
		goto out;
	}
	db = store_db_open(path, true, static_err, sizeof(static_err));
	if (db == NULL) {
		*error_r = static_err;
		goto out;
	}
	if (store_db_exec(db, "BEGIN IMMEDIATE", static_err,
	    sizeof(static_err)) < 0 ||
	    store_db_exec(db, schema_sql, static_err, sizeof(static_err)) < 0 ||
	    migrate_v3(db, static_err, sizeof(static_err)) < 0 ||
	    migrate_v6(db, static_err, sizeof(static_err)) < 0)
		goto fail_db;
	for (i = 0; i < sizeof(default_mailboxes) /
	    sizeof(default_mailboxes[0]); i++) {
		if (insert_mailbox(db, default_mailboxes[i].name,
		    default_mailboxes[i].special) < 0) {
			store_err(static_err, sizeof(static_err), "sqlite: %s",
			    sqlite3_errmsg(db));
			goto fail_db;
		}
	}
	if (store_db_exec(db, "COMMIT", static_err, sizeof(static_err)) < 0)
		goto fail_db;
	/* the directory entries of the new store must survive a crash too */
	if (fsync_dir(msg) < 0 || fsync_dir(dir) < 0 || fsync_dir(top) < 0) {
		*error_r = store_err(static_err, sizeof(static_err),
		    "fsync %s: %s", dir, strerror(errno));
		goto out;
	}
	r = 0;
	goto out;
fail_db:
	store_db_rollback(db);
	*error_r = static_err;
out:
	sqlite3_close(db);
	if (r < 0)
		(void)store_rmtree(dir);
	free(top);
	free(msg);
	free(path);
	free(dir);
	return r;
}

int
mailstore_remove(const char *data_dir, int64_t user_id,
    const char **error_r)
{
	char *dir = store_dir(data_dir, user_id);
	int r = 0;

	if (user_id <= 0 || store_rmtree(dir) < 0) {
		*error_r = store_err(static_err, sizeof(static_err),
		    "cannot remove %s: %s", dir, strerror(errno));
		r = -1;
	}
	free(dir);
	return r;
}

static int
user_version(sqlite3 *db)
{
	sqlite3_stmt *s;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(s) == SQLITE_ROW)
			v = sqlite3_column_int(s, 0);
		sqlite3_finalize(s);
	}
	return v;
}

/* migrate - brings an index made by an older version up to date */
static int
migrate(struct mailstore *ms)
{
	int v;

	if (exec(ms, "BEGIN IMMEDIATE", NULL) < 0)
		return -1;
	v = user_version(ms->db);	/* again, under the write lock */
	if (v < 1 || v > MAILSTORE_SCHEMA_VERSION) {
		fail(ms, NULL, "index.db of unknown version %d", v);
		goto fail;
	}
	if (v == 1 && exec(ms, migrate_v2_sql, NULL) < 0)
		goto fail;
	if (v <= 2 && migrate_v3(ms->db, ms->err, sizeof(ms->err)) < 0)
		goto fail;
	if (v == 3 && exec(ms, migrate_v4_sql, NULL) < 0)
		goto fail;
	if (v == 4 && exec(ms, migrate_v5_sql, NULL) < 0)
		goto fail;
	if (v <= 5 && migrate_v6(ms->db, ms->err, sizeof(ms->err)) < 0)
		goto fail;
	if (v == 6 && exec(ms, migrate_v7_sql, NULL) < 0)
		goto fail;
	if ((v == 6 || v == 7) && exec(ms, migrate_v8_sql, NULL) < 0)
		goto fail;
	if (exec(ms, "COMMIT", NULL) < 0)
		goto fail;
	return 0;
fail:
	store_db_rollback(ms->db);
	return -1;
}

struct mailstore *
mailstore_open(const char *data_dir, int64_t user_id, const char **error_r)
{
	struct mailstore *ms;
	struct stat st;
	char *path;

	if (user_id <= 0) {
		*error_r = store_err(static_err, sizeof(static_err),
		    "invalid user id %lld", (long long)user_id);
		return NULL;
	}
	ms = xcalloc(1, sizeof(*ms));
	ms->user_id = user_id;
	ms->dir = store_dir(data_dir, user_id);
	ms->msgdir = xasprintf("%s/msg", ms->dir);
	if (stat(ms->msgdir, &st) < 0) {
		*error_r = store_err(static_err, sizeof(static_err),
		    "no mail store %s: %s", ms->dir, strerror(errno));
		mailstore_close(&ms);
		return NULL;
	}
	ms->dev = st.st_dev;
	path = xasprintf("%s/index.db", ms->dir);
	ms->db = store_db_open(path, false, static_err, sizeof(static_err));
	free(path);
	if (ms->db == NULL) {
		*error_r = static_err;
		mailstore_close(&ms);
		return NULL;
	}
	/* a STORE 1:* of a large mailbox writes every messages page: they
	 * must fit in the page cache, or SQLite spills and reads them again
	 * (the default is 2 MiB; the memory is taken only when used) */
	if (exec(ms, "PRAGMA cache_size = -" STORE_PAGE_CACHE_KIB, NULL) < 0) {
		*error_r = store_err(static_err, sizeof(static_err), "%s",
		    ms->err);
		mailstore_close(&ms);
		return NULL;
	}
	if (user_version(ms->db) != MAILSTORE_SCHEMA_VERSION &&
	    migrate(ms) < 0) {
		*error_r = store_err(static_err, sizeof(static_err), "%s",
		    ms->err);
		mailstore_close(&ms);
		return NULL;
	}
	return ms;
}

void
mailstore_set_packing(struct mailstore *ms, bool on)
{
	ms->pack = on;
}

void
mailstore_close(struct mailstore **msp)
{
	struct mailstore *ms = *msp;
	size_t i;

	if (ms == NULL)
		return;
	for (i = 0; i < MS_ST_COUNT; i++)
		sqlite3_finalize(ms->st[i]);
	sqlite3_close(ms->db);
	free(ms->dir);
	free(ms->msgdir);
	free(ms);
	*msp = NULL;
}

int64_t
mailstore_user_id(const struct mailstore *ms)
{
	return ms->user_id;
}

/* ---- the cached parse (table message_cache, schema v6) ---- */

/* cached_done - steps a prepared-once statement to its end, resets it */
static int
cached_done(struct mailstore *ms, sqlite3_stmt *s, const char **error_r)
{
	int rc = sqlite3_step(s);

	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
}

/* cache_insert - the cached parse of message row id (inside a txn) */
static int
cache_insert(struct mailstore *ms, int64_t id, const char *envelope,
    const char *bodystructure, const char *body, const char **error_r)
{
	sqlite3_stmt *s;

	if ((s = cached(ms, MS_ST_CACHE_INSERT, "INSERT OR REPLACE INTO"
	    " message_cache (id, envelope, bodystructure, body)"
	    " VALUES (?1, ?2, ?3, ?4)", error_r)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	if (envelope != NULL)
		sqlite3_bind_text(s, 2, envelope, -1, SQLITE_STATIC);
	if (bodystructure != NULL)
		sqlite3_bind_text(s, 3, bodystructure, -1, SQLITE_STATIC);
	if (body != NULL)
		sqlite3_bind_text(s, 4, body, -1, SQLITE_STATIC);
	return cached_done(ms, s, error_r);
}

/* copy_cache - the cached parse of (mailbox, uid) for row id too */
static int
copy_cache(struct mailstore *ms, int64_t mailbox, uint32_t uid, int64_t id,
    const char **error_r)
{
	sqlite3_stmt *s;

	if ((s = cached(ms, MS_ST_COPY_CACHE, "INSERT OR REPLACE INTO"
	    " message_cache (id, envelope, bodystructure, body) SELECT ?3,"
	    " envelope, bodystructure, body FROM message_cache WHERE id ="
	    " (SELECT id FROM messages WHERE mailbox_id = ?1 AND uid = ?2)",
	    error_r)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_int64(s, 3, id);
	return cached_done(ms, s, error_r);
}

/* ---- delivery ---- */

/* per-delivery private state, parallel to the caller's array */
struct pending {
	char		blob[BLOB_NAME_SIZE];
	bool		written;	/* file exists and must be indexed */
	bool		packed;		/* shares its file with others */
	int64_t		mailbox_id;
	uint64_t	offset;		/* of the message in the file */
	uint64_t	size;
	char		*keywords;	/* checked, heap; NULL: none */
};

/* copy_fd - copies len bytes of fd at off to out (pread-style) */
static int
copy_fd(int out, int fd, uint64_t off, uint64_t len)
{
	loff_t in_off = (loff_t)off;
	char tmp[65536];
	bool use_cfr = true;

	while (len > 0) {
		ssize_t n;

		if (use_cfr) {
			n = copy_file_range(fd, &in_off, out, NULL,
			    len > (1u << 30) ? (1u << 30) : (size_t)len, 0);
			if (n < 0 && (errno == EXDEV || errno == EINVAL ||
			    errno == ENOSYS || errno == EOPNOTSUPP ||
			    errno == EBADF)) {
				use_cfr = false;
				continue;
			}
		} else {
			n = pread(fd, tmp, len > sizeof(tmp) ? sizeof(tmp) :
			    (size_t)len, (off_t)in_off);
			if (n > 0 && write_all(out, tmp, (size_t)n) < 0)
				return -1;
			if (n > 0)
				in_off += n;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;	/* source shorter than announced */
			return -1;
		}
		len -= (uint64_t)n;
	}
	return 0;
}

/* open_blob - creates a new file with a random name in msg/ */
static int
open_blob(struct mailstore *ms, char *blob)
{
	char *path;
	int fd, tries;

	for (tries = 0; ; tries++) {
		random_hex(blob, BLOB_RANDOM_BYTES);
		path = xasprintf("%s/%s", ms->msgdir, blob);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd >= 0 || errno != EEXIST || tries >= 3)
			break;
		free(path);
	}
	if (fd < 0)
		log_error("store deliver user=%lld open %s: %s",
		    (long long)ms->user_id, path, strerror(errno));
	free(path);
	return fd;
}

/* write_message - prefix and bytes at fd's current position */
static int
write_message(struct mailstore *ms, int fd, const char *blob,
    const struct mailstore_delivery *d)
{
	if ((d->prefix_len > 0 &&
	    write_all(fd, d->prefix, d->prefix_len) < 0) ||
	    (d->fd >= 0 ? copy_fd(fd, d->fd, d->offset, d->size) :
	    write_all(fd, d->data, (size_t)d->size)) < 0) {
		log_error("store deliver user=%lld write %s: %s",
		    (long long)ms->user_id, blob, strerror(errno));
		return -1;
	}
	return 0;
}

/* write_blob - writes one message to a file of its own */
static int
write_blob(struct mailstore *ms, struct mailstore_delivery *d,
    struct pending *p)
{
	char *path;
	int fd, r;

	if ((fd = open_blob(ms, p->blob)) < 0) {
		d->error = "cannot create message file";
		return -1;
	}
	r = write_message(ms, fd, p->blob, d);
	if (close(fd) < 0)
		r = -1;		/* write-back error: the data may be lost */
	if (r < 0) {
		path = xasprintf("%s/%s", ms->msgdir, p->blob);
		unlink(path);
		free(path);
		d->error = "cannot write message file";
		return -1;
	}
	p->offset = 0;
	p->size = d->prefix_len + d->size;
	p->written = true;
	return 0;
}

/*
 * A pack: several small messages of one batch in one file, one after the
 * other.  One file creation instead of one per message: creating inodes is
 * the dominant cost of a delivery on a busy ext4 (the inode allocator
 * scans recently freed inodes), more than the shared fsync.
 */
struct pack {
	int		fd;		/* -1: none open */
	char		blob[BLOB_NAME_SIZE];
	uint64_t	off;		/* end of the last good message */
	size_t		nmsgs;
};

/* write_packed - appends one message to the batch's pack */
static int
write_packed(struct mailstore *ms, struct pack *pk,
    struct mailstore_delivery *d, struct pending *p)
{
	if (pk->fd < 0) {
		if ((pk->fd = open_blob(ms, pk->blob)) < 0) {
			d->error = "cannot create message file";
			return -1;
		}
		pk->off = 0;
		pk->nmsgs = 0;
	}
	if (write_message(ms, pk->fd, pk->blob, d) < 0) {
		/* cut the partial message off; the pack goes on */
		if (ftruncate(pk->fd, (off_t)pk->off) < 0 ||
		    lseek(pk->fd, (off_t)pk->off, SEEK_SET) < 0) {
			close(pk->fd);
			pk->fd = -2;	/* unusable: single files from now */
		}
		d->error = "cannot write message file";
		return -1;
	}
	memcpy(p->blob, pk->blob, sizeof(p->blob));
	p->offset = pk->off;
	p->size = d->prefix_len + d->size;
	p->written = true;
	p->packed = true;
	pk->off += p->size;
	pk->nmsgs++;
	return 0;
}

static void
unlink_blob(struct mailstore *ms, const char *blob)
{
	char *path = xasprintf("%s/%s", ms->msgdir, blob);

	if (unlink(path) < 0 && errno != ENOENT)
		log_warn("store unlink %s: %s", path, strerror(errno));
	free(path);
}

/* find_mailbox - id of a mailbox by name or special use (read query) */
static int64_t
find_mailbox(struct mailstore *ms, const char *name,
    enum mailstore_special sp)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	const char *ignored;
	sqlite3_stmt *s;
	int64_t id = 0;

	if (name != NULL) {
		if (mailbox_name_check(ms, name, canon, &ignored) < 0)
			return 0;
		s = prep(ms, "SELECT id FROM mailboxes WHERE name = ?1",
		    &ignored);
		if (s == NULL)
			return -1;
		sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	} else if (mailstore_special_name(sp) != NULL) {
		s = prep(ms, "SELECT id FROM mailboxes WHERE special_use = ?1"
		    " ORDER BY id LIMIT 1", &ignored);
		if (s == NULL)
			return -1;
		sqlite3_bind_text(s, 1, mailstore_special_name(sp), -1,
		    SQLITE_STATIC);
	} else {
		s = prep(ms, "SELECT id FROM mailboxes WHERE name = 'INBOX'",
		    &ignored);
		if (s == NULL)
			return -1;
	}
	switch (sqlite3_step(s)) {
	case SQLITE_ROW:
		id = sqlite3_column_int64(s, 0);
		break;
	case SQLITE_DONE:
		id = 0;
		break;
	default:
		id = -1;
	}
	sqlite3_finalize(s);
	return id;
}

/* same_request - resolution cache key: same (name, special) */
static bool
same_target(const struct mailstore_delivery *a,
    const struct mailstore_delivery *b)
{
	if ((a->mailbox == NULL) != (b->mailbox == NULL))
		return false;
	if (a->mailbox != NULL)
		return strcmp(a->mailbox, b->mailbox) == 0;
	return a->special == b->special;
}

/* prepare_batch - dedupe pre-check, mailbox resolution, file writes */
static void
prepare_batch(struct mailstore *ms, struct mailstore_delivery *d,
    struct pending *p, size_t n)
{
	struct pack pk = { .fd = -1 };
	sqlite3_stmt *dk;
	const char *ignored;
	int64_t inbox = -2;
	uint64_t used = 0;
	bool have_usage = false;
	size_t i, j;

	dk = prep(ms, "SELECT 1 FROM dedupe WHERE key = ?1", &ignored);
	for (i = 0; i < n; i++) {
		d[i].status = -1;
		d[i].duplicate = false;
		d[i].uid = 0;
		d[i].uidvalidity = 0;
		d[i].error = NULL;
		d[i].over_quota = false;
		if ((d[i].fd < 0 && d[i].data == NULL && d[i].size > 0) ||
		    (d[i].prefix == NULL && d[i].prefix_len > 0)) {
			d[i].error = "bad delivery request";
			continue;
		}
		if (d[i].dedupe_key != NULL) {
			bool dup = false;

			for (j = 0; j < i && !dup; j++)
				dup = d[j].dedupe_key != NULL &&
				    (d[j].status == 0 || p[j].written) &&
				    strcmp(d[j].dedupe_key,
				    d[i].dedupe_key) == 0;
			if (!dup && dk != NULL) {
				sqlite3_reset(dk);
				sqlite3_bind_text(dk, 1, d[i].dedupe_key, -1,
				    SQLITE_STATIC);
				dup = sqlite3_step(dk) == SQLITE_ROW;
			}
			if (dup) {
				d[i].status = 0;
				d[i].duplicate = true;
				continue;
			}
		}
		/* resolve the mailbox, reusing an earlier answer */
		p[i].mailbox_id = 0;
		for (j = 0; j < i; j++) {
			if (p[j].mailbox_id > 0 && same_target(&d[i], &d[j])) {
				p[i].mailbox_id = p[j].mailbox_id;
				break;
			}
		}
		if (p[i].mailbox_id == 0)
			p[i].mailbox_id = find_mailbox(ms, d[i].mailbox,
			    d[i].special);
		if (p[i].mailbox_id == 0 && d[i].exact_mailbox &&
		    d[i].mailbox != NULL) {
			d[i].error = "no such mailbox";	/* APPEND */
			continue;
		}
		if (p[i].mailbox_id == 0) {
			/* XXX: an unknown target (a rule naming a deleted
			 * folder) falls back to INBOX rather than bouncing */
			if (inbox == -2)
				inbox = find_mailbox(ms, NULL,
				    MAILSTORE_SPECIAL_NONE);
			p[i].mailbox_id = inbox;
		}
		if (p[i].mailbox_id <= 0) {
			d[i].error = "mailbox lookup failed";
			continue;
		}
		if (d[i].keywords != NULL && d[i].keywords[0] != '\0') {
			struct buf kw;

			buf_init(&kw, STORE_MAX_KEYWORDS);
			if (kw_apply(ms, &kw, d[i].keywords, true,
			    &ignored) < 0) {
				buf_fini(&kw);
				d[i].error = "invalid keyword";
				continue;
			}
			p[i].keywords = xstrdup(buf_cstr(&kw));
			buf_fini(&kw);
		}
		/* quota: a first look before writing (the commit checks
		 * again, under the write lock) */
		if (ms->quota_bytes > 0) {
			if (!have_usage) {
				uint64_t msgs;

				if (usage_get(ms, &used, &msgs, &ignored) < 0)
					used = 0;
				have_usage = true;
			}
			if (used + d[i].prefix_len + d[i].size >
			    ms->quota_bytes) {
				d[i].over_quota = true;
				d[i].error = "mailbox full";
				continue;
			}
			used += d[i].prefix_len + d[i].size;
		}
		if (ms->pack && pk.fd != -2 &&
		    d[i].prefix_len + d[i].size <= MAILSTORE_PACK_MAX_MESSAGE)
			(void)write_packed(ms, &pk, &d[i], &p[i]);
		else
			(void)write_blob(ms, &d[i], &p[i]);
	}
	sqlite3_finalize(dk);
	if (pk.fd >= 0) {
		if (close(pk.fd) < 0) {
			/* the data may be lost: fail every message in it */
			for (i = 0; i < n; i++) {
				if (p[i].packed && p[i].written) {
					p[i].written = false;
					d[i].error = "cannot write message file";
				}
			}
			pk.nmsgs = 0;
		}
		if (pk.nmsgs == 0)
			unlink_blob(ms, pk.blob);
	}
}

/* sync_files - the fallback when syncfs() fails: fsync every file */
static int
sync_files(struct mailstore *ms, struct pending *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		char *path;
		int fd, r;

		if (!p[i].written || (i > 0 && p[i - 1].written &&
		    strcmp(p[i - 1].blob, p[i].blob) == 0))
			continue;
		path = xasprintf("%s/%s", ms->msgdir, p[i].blob);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		free(path);
		if (fd < 0)
			return -1;
		r = fsync(fd);
		close(fd);
		if (r < 0)
			return -1;
	}
	return fsync_dir(ms->msgdir);
}

struct mbstate {
	int64_t		id;
	uint32_t	uidvalidity;
	uint32_t	uidnext;
	uint64_t	modseq;
	bool		dirty;
};

/* commit_batch - indexes the written files in one transaction */
static int
commit_batch(struct mailstore *ms, struct mailstore_delivery *d,
    struct pending *p, size_t n, const char **error_r)
{
	sqlite3_stmt *ins = NULL, *dk = NULL, *mb = NULL, *up = NULL;
	struct mbstate *mbs = NULL;
	size_t nmbs = 0, i, j;
	time_t now = time(NULL);
	uint64_t used = 0;
	bool have_usage = false;
	int64_t text_id;
	int rc;

	if (exec(ms, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if ((ins = prep(ms, "INSERT INTO messages (mailbox_id, uid, blob,"
	    " size, internal_date, flags, modseq, blob_offset, keywords,"
	    " text_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?11,"
	    " coalesce(?12, ''), ?13)",
	    error_r)) == NULL ||
	    (dk = prep(ms, "INSERT OR IGNORE INTO dedupe (key, time)"
	    " VALUES (?1, ?2)", error_r)) == NULL ||
	    (mb = prep(ms, "SELECT uidvalidity, uidnext, highestmodseq"
	    " FROM mailboxes WHERE id = ?1", error_r)) == NULL ||
	    (up = prep(ms, "UPDATE mailboxes SET uidnext = ?2,"
	    " highestmodseq = ?3 WHERE id = ?1", error_r)) == NULL)
		goto fail;
	if (now - ms->last_prune >= PRUNE_INTERVAL) {
		char sql[128];

		snprintf(sql, sizeof(sql), "DELETE FROM dedupe WHERE time < %lld",
		    (long long)now - MAILSTORE_DEDUPE_MAX_AGE);
		if (exec(ms, sql, error_r) < 0)
			goto fail;
		ms->last_prune = now;
	}
	for (i = 0; i < n; i++) {
		struct mbstate *m = NULL;

		if (!p[i].written)
			continue;
		/* before the dedupe key: a refused message must come again */
		if (ms->quota_bytes > 0) {
			/* the authoritative check: under the write lock */
			if (!have_usage) {
				uint64_t msgs;

				if (usage_get(ms, &used, &msgs, error_r) < 0)
					goto fail;
				have_usage = true;
			}
			if (used + p[i].size > ms->quota_bytes) {
				p[i].written = false;
				if (!p[i].packed)
					unlink_blob(ms, p[i].blob);
				d[i].over_quota = true;
				d[i].error = "mailbox full";
				continue;
			}
			used += p[i].size;
		}
		if (d[i].dedupe_key != NULL) {
			sqlite3_reset(dk);
			sqlite3_bind_text(dk, 1, d[i].dedupe_key, -1,
			    SQLITE_STATIC);
			sqlite3_bind_int64(dk, 2, (sqlite3_int64)now);
			if (sqlite3_step(dk) != SQLITE_DONE) {
				fail_db(ms, error_r);
				goto fail;
			}
			if (sqlite3_changes(ms->db) == 0) {
				/* another handle stored it meanwhile (a
				 * packed copy stays as unreferenced bytes) */
				p[i].written = false;
				if (!p[i].packed)
					unlink_blob(ms, p[i].blob);
				d[i].status = 0;
				d[i].duplicate = true;
				continue;
			}
		}
		for (j = 0; j < nmbs; j++)
			if (mbs[j].id == p[i].mailbox_id)
				m = &mbs[j];
		if (m == NULL) {
			mbs = xreallocarray(mbs, nmbs + 1, sizeof(*mbs));
			m = &mbs[nmbs++];
			memset(m, 0, sizeof(*m));
			m->id = p[i].mailbox_id;
			sqlite3_reset(mb);
			sqlite3_bind_int64(mb, 1, m->id);
			if (sqlite3_step(mb) != SQLITE_ROW) {
				fail(ms, error_r, "mailbox %lld vanished",
				    (long long)m->id);
				goto fail;
			}
			m->uidvalidity = (uint32_t)sqlite3_column_int64(mb, 0);
			m->uidnext = (uint32_t)sqlite3_column_int64(mb, 1);
			m->modseq = (uint64_t)sqlite3_column_int64(mb, 2);
		}
		if (m->uidnext == UINT32_MAX) {
			/* RFC 3501: UIDs are 32-bit; a new UIDVALIDITY
			 * would be needed.  XXX: renumbering not done */
			fail(ms, error_r, "mailbox UIDs exhausted");
			goto fail;
		}
		if (fts_index_message(ms, p[i].blob, p[i].offset, p[i].size,
		    &text_id, error_r) < 0)
			goto fail;
		sqlite3_reset(ins);
		sqlite3_clear_bindings(ins);
		sqlite3_bind_int64(ins, 1, m->id);
		sqlite3_bind_int64(ins, 2, m->uidnext);
		sqlite3_bind_text(ins, 3, p[i].blob, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 4, (sqlite3_int64)p[i].size);
		sqlite3_bind_int64(ins, 5, (sqlite3_int64)(d[i].internal_date
		    != 0 ? d[i].internal_date : now));
		sqlite3_bind_int(ins, 6, (int)(d[i].flags & MAILSTORE_F_ALL));
		sqlite3_bind_int64(ins, 7, (sqlite3_int64)(m->modseq + 1));
		sqlite3_bind_int64(ins, 11, (sqlite3_int64)p[i].offset);
		if (p[i].keywords != NULL)
			sqlite3_bind_text(ins, 12, p[i].keywords, -1,
			    SQLITE_STATIC);
		/* text_id 0: unparsable, a candidate for good; NULL is left
		 * for messages not yet tried (fts_catch_up) */
		sqlite3_bind_int64(ins, 13, text_id > 0 ? text_id : 0);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			fail_db(ms, error_r);
			goto fail;
		}
		if ((d[i].envelope != NULL || d[i].bodystructure != NULL ||
		    d[i].body != NULL) && cache_insert(ms,
		    sqlite3_last_insert_rowid(ms->db), d[i].envelope,
		    d[i].bodystructure, d[i].body, error_r) < 0)
			goto fail;
		d[i].uid = m->uidnext++;
		d[i].uidvalidity = m->uidvalidity;
		m->modseq++;
		m->dirty = true;
	}
	for (j = 0; j < nmbs; j++) {
		sqlite3_reset(up);
		sqlite3_bind_int64(up, 1, mbs[j].id);
		sqlite3_bind_int64(up, 2, mbs[j].uidnext);
		sqlite3_bind_int64(up, 3, (sqlite3_int64)mbs[j].modseq);
		if (sqlite3_step(up) != SQLITE_DONE) {
			fail_db(ms, error_r);
			goto fail;
		}
	}
	sqlite3_finalize(ins);
	sqlite3_finalize(dk);
	sqlite3_finalize(mb);
	sqlite3_finalize(up);
	ins = dk = mb = up = NULL;
	rc = exec(ms, "COMMIT", error_r);
	if (rc < 0)
		goto fail;
	if (nmbs > 0)
		changed(ms);
	free(mbs);
	for (i = 0; i < n; i++)
		if (p[i].written)
			d[i].status = 0;
	return 0;
fail:
	sqlite3_finalize(ins);
	sqlite3_finalize(dk);
	sqlite3_finalize(mb);
	sqlite3_finalize(up);
	store_db_rollback(ms->db);
	free(mbs);
	for (i = 0; i < n; i++) {
		d[i].uid = 0;
		d[i].uidvalidity = 0;
		if (p[i].written) {
			unlink_blob(ms, p[i].blob);
			p[i].written = false;
			d[i].status = -1;
			d[i].error = "index update failed";
		}
	}
	return -1;
}

int
mailstore_deliver_multi(struct mailstore_batch *b, size_t nb,
    const char **error_r)
{
	struct pending **pp;
	dev_t *devs = NULL;
	size_t ndevs = 0, i, j, total = 0;
	int r = 0;

	for (i = 0; i < nb; i++) {
		if (b[i].n > STORE_MAX_DELIVERY_BATCH) {
			*error_r = store_err(static_err, sizeof(static_err),
			    "delivery batch of %zu exceeds %d", b[i].n,
			    STORE_MAX_DELIVERY_BATCH);
			for (i = 0; i < nb; i++)
				for (j = 0; j < b[i].n; j++) {
					b[i].d[j].status = -1;
					b[i].d[j].error = "batch too large";
				}
			return -1;
		}
	}
	pp = xcalloc(nb ? nb : 1, sizeof(*pp));
	for (i = 0; i < nb; i++) {
		pp[i] = xcalloc(b[i].n ? b[i].n : 1, sizeof(**pp));
		prepare_batch(b[i].ms, b[i].d, pp[i], b[i].n);
		for (j = 0; j < b[i].n; j++)
			total += pp[i][j].written;
		for (j = 0; j < ndevs; j++)
			if (devs[j] == b[i].ms->dev)
				break;
		if (j == ndevs) {
			devs = xreallocarray(devs, ndevs + 1, sizeof(*devs));
			devs[ndevs++] = b[i].ms->dev;
		}
	}
	/*
	 * One syncfs() per file system makes every file written above
	 * durable (data, inode, directory entry) in one go; it reports
	 * write-back errors since Linux 5.8.
	 */
	for (j = 0; total > 0 && j < ndevs; j++) {
		bool ok = false;

		for (i = 0; i < nb; i++) {
			int fd;

			if (b[i].ms->dev != devs[j])
				continue;
			if (!ok) {
				fd = open(b[i].ms->msgdir, O_RDONLY |
				    O_DIRECTORY | O_CLOEXEC);
				ok = fd >= 0 && syncfs(fd) == 0;
				if (fd >= 0)
					close(fd);
				if (ok)
					continue;
				log_warn("store syncfs %s: %s; fsync per file",
				    b[i].ms->msgdir, strerror(errno));
			}
			if (sync_files(b[i].ms, pp[i], b[i].n) < 0) {
				*error_r = store_err(static_err,
				    sizeof(static_err), "fsync in %s: %s",
				    b[i].ms->msgdir, strerror(errno));
				r = -1;
			}
		}
	}
	for (i = 0; i < nb; i++) {
		const char *err;

		if (r < 0) {
			/* not durable: nothing of this batch counts */
			for (j = 0; j < b[i].n; j++) {
				if (pp[i][j].written)
					unlink_blob(b[i].ms, pp[i][j].blob);
				if (!b[i].d[j].duplicate) {
					b[i].d[j].status = -1;
					b[i].d[j].error = "sync failed";
				}
			}
			continue;
		}
		for (j = 0; j < b[i].n && !pp[i][j].written; j++)
			;
		if (j == b[i].n)
			continue;	/* nothing to index */
		/* a failed index update only fails that account's
		 * deliveries (status -1, files removed); others stand */
		if (commit_batch(b[i].ms, b[i].d, pp[i], b[i].n, &err) < 0)
			log_error("store deliver user=%lld: %s",
			    (long long)b[i].ms->user_id, err);
	}
	for (i = 0; i < nb; i++)
	{
		for (j = 0; j < b[i].n; j++)
			free(pp[i][j].keywords);
		free(pp[i]);
	}
	free(pp);
	free(devs);
	return r;
}

int
mailstore_deliver(struct mailstore *ms, struct mailstore_delivery *d,
    size_t n, const char **error_r)
{
	struct mailstore_batch b = { ms, d, n };
	size_t i;
	int r;

	r = mailstore_deliver_multi(&b, 1, error_r);
	if (r == 0) {
		/* per the contract: -1 only if nothing was stored */
		for (i = 0; i < n; i++)
			if (d[i].status == 0)
				return 0;
		if (n > 0)
			return fail(ms, error_r, "nothing stored: %s",
			    d[0].error != NULL ? d[0].error :
			    "delivery failed");
	}
	return r;
}

int
mailstore_prune_dedupe(struct mailstore *ms, uint64_t max_age,
    const char **error_r)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = prep(ms, "DELETE FROM dedupe WHERE time < ?1", error_r)) ==
	    NULL)
		return -1;
	sqlite3_bind_int64(s, 1, (sqlite3_int64)time(NULL) -
	    (sqlite3_int64)max_age);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return fail_db(ms, error_r);
	return sqlite3_changes(ms->db);
}

/* ---- mailboxes ---- */

#define MAILBOX_SELECT \
	"SELECT m.id, m.name, m.uidvalidity, m.uidnext, m.highestmodseq," \
	" m.special_use, m.subscribed," \
	" (SELECT count(*) FROM messages WHERE mailbox_id = m.id)," \
	" (SELECT count(*) FROM messages WHERE mailbox_id = m.id" \
	"  AND (flags & 1) = 0)," \
	" (SELECT total(size) FROM messages WHERE mailbox_id = m.id)" \
	" FROM mailboxes m"

static void
mailbox_from_row(sqlite3_stmt *s, struct mailstore_mailbox *mb)
{
	mb->id = sqlite3_column_int64(s, 0);
	mb->name = (const char *)sqlite3_column_text(s, 1);
	mb->uidvalidity = (uint32_t)sqlite3_column_int64(s, 2);
	mb->uidnext = (uint32_t)sqlite3_column_int64(s, 3);
	mb->highestmodseq = (uint64_t)sqlite3_column_int64(s, 4);
	mb->special = special_from_name((const char *)
	    sqlite3_column_text(s, 5));
	mb->subscribed = sqlite3_column_int(s, 6) != 0;
	mb->messages = (uint32_t)sqlite3_column_int64(s, 7);
	mb->unseen = (uint32_t)sqlite3_column_int64(s, 8);
	mb->bytes = (uint64_t)sqlite3_column_double(s, 9);
}

int
mailstore_mailbox_list(struct mailstore *ms, mailstore_mailbox_fn *fn,
    void *ctx, const char **error_r)
{
	struct mailstore_mailbox mb;
	sqlite3_stmt *s;
	int rc;

	if ((s = prep(ms, MAILBOX_SELECT " ORDER BY m.name != 'INBOX',"
	    " m.name", error_r)) == NULL)
		return -1;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		mailbox_from_row(s, &mb);
		fn(ctx, &mb);
	}
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
}

int
mailstore_mailbox_get(struct mailstore *ms, const char *name,
    struct mailstore_mailbox *mb, const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	sqlite3_stmt *s;
	int rc;

	if (mailbox_name_check(ms, name, canon, error_r) < 0)
		return -1;
	if ((s = prep(ms, MAILBOX_SELECT " WHERE m.name = ?1", error_r)) ==
	    NULL)
		return -1;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		mailbox_from_row(s, mb);
		snprintf(ms->name, sizeof(ms->name), "%s", mb->name);
		mb->name = ms->name;
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
}

int
mailstore_mailbox_create(struct mailstore *ms, const char *name,
    enum mailstore_special special, const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];

	if (mailbox_name_check(ms, name, canon, error_r) < 0)
		return -1;
	if ((size_t)special >= NSPECIAL)
		return fail(ms, error_r, "invalid special-use value");
	if (exec(ms, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if (insert_mailbox(ms->db, canon, special) < 0) {
		if (sqlite3_extended_errcode(ms->db) ==
		    SQLITE_CONSTRAINT_UNIQUE)
			fail(ms, error_r, "mailbox %s exists already", canon);
		else
			fail_db(ms, error_r);
		store_db_rollback(ms->db);
		return -1;
	}
	if (exec(ms, "COMMIT", error_r) < 0) {
		store_db_rollback(ms->db);
		return -1;
	}
	changed(ms);
	return 0;
}

/* mailbox_id - id by canonical name inside or outside a txn (0: none) */
static int64_t
mailbox_id(struct mailstore *ms, const char *canon, const char **error_r)
{
	sqlite3_stmt *s;
	int64_t id = 0;
	int rc;

	if ((s = prep(ms, "SELECT id FROM mailboxes WHERE name = ?1",
	    error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail_db(ms, error_r);
	return id;
}

int
mailstore_mailbox_delete(struct mailstore *ms, const char *name,
    const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	char **blobs = NULL;
	size_t nblobs = 0, i;
	sqlite3_stmt *s;
	int64_t id;
	int rc;

	if (mailbox_name_check(ms, name, canon, error_r) < 0)
		return -1;
	if (strcmp(canon, "INBOX") == 0)
		return fail(ms, error_r, "INBOX cannot be deleted");
	if (exec(ms, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if ((id = mailbox_id(ms, canon, error_r)) <= 0) {
		if (id == 0)
			fail(ms, error_r, "no mailbox %s", canon);
		goto fail;
	}
	/* blobs referenced only by this mailbox go once the rows are gone */
	if ((s = prep(ms, "SELECT DISTINCT blob FROM messages m1 WHERE"
	    " mailbox_id = ?1 AND NOT EXISTS (SELECT 1 FROM messages m2"
	    " WHERE m2.blob = m1.blob AND m2.mailbox_id != ?1)",
	    error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		blobs = xreallocarray(blobs, nblobs + 1, sizeof(*blobs));
		blobs[nblobs++] = xstrdup((const char *)
		    sqlite3_column_text(s, 0));
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		fail_db(ms, error_r);
		goto fail;
	}
	/* full-text entries no other mailbox's message shares */
	if ((s = prep(ms, "DELETE FROM fts WHERE rowid IN (SELECT text_id"
	    " FROM messages m1 WHERE mailbox_id = ?1 AND text_id IS NOT NULL"
	    " AND NOT EXISTS (SELECT 1 FROM messages m2 WHERE"
	    " m2.text_id = m1.text_id AND m2.mailbox_id != ?1))",
	    error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, id);
	if (step_done(ms, s, error_r) < 0)
		goto fail;
	if ((s = prep(ms, "DELETE FROM messages WHERE mailbox_id = ?1",
	    error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		fail_db(ms, error_r);
		goto fail;
	}
	if ((s = prep(ms, "DELETE FROM expunged WHERE mailbox_id = ?1",
	    error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, id);
	if (step_done(ms, s, error_r) < 0)
		goto fail;
	if ((s = prep(ms, "DELETE FROM mailboxes WHERE id = ?1",
	    error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		fail_db(ms, error_r);
		goto fail;
	}
	if (exec(ms, "COMMIT", error_r) < 0)
		goto fail;
	changed(ms);
	for (i = 0; i < nblobs; i++) {
		unlink_blob(ms, blobs[i]);
		free(blobs[i]);
	}
	free(blobs);
	return 0;
fail:
	store_db_rollback(ms->db);
	for (i = 0; i < nblobs; i++)
		free(blobs[i]);
	free(blobs);
	return -1;
}

/* step - runs a statement to completion; 0 or -1 (error set) */
static int
step_done(struct mailstore *ms, sqlite3_stmt *s, const char **error_r)
{
	int rc = sqlite3_step(s);

	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
}

/*
 * rename_inbox - RFC 3501 6.3.5: INBOX's messages move to a new mailbox;
 * INBOX stays (empty, same UIDVALIDITY, so its UIDs are never reused).
 */
static int
rename_inbox(struct mailstore *ms, const char *to, const char **error_r)
{
	sqlite3_stmt *s;
	int64_t inbox, id;

	if (strcmp(to, "INBOX") == 0 || strncmp(to, "INBOX/", 6) == 0)
		return fail(ms, error_r, "cannot rename INBOX into itself");
	if (exec(ms, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if ((inbox = mailbox_id(ms, "INBOX", error_r)) <= 0) {
		if (inbox == 0)
			fail(ms, error_r, "no INBOX");
		goto fail;
	}
	if ((id = mailbox_id(ms, to, error_r)) != 0) {
		if (id > 0)
			fail(ms, error_r, "mailbox %s exists already", to);
		goto fail;
	}
	if (insert_mailbox(ms->db, to, MAILSTORE_SPECIAL_NONE) < 0) {
		fail_db(ms, error_r);
		goto fail;
	}
	id = sqlite3_last_insert_rowid(ms->db);
	if ((s = prep(ms, "UPDATE mailboxes SET (uidnext, highestmodseq) ="
	    " (SELECT uidnext, highestmodseq + 1 FROM mailboxes WHERE id = ?1)"
	    " WHERE id = ?2", error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, inbox);
	sqlite3_bind_int64(s, 2, id);
	if (step_done(ms, s, error_r) < 0)
		goto fail;
	if ((s = prep(ms, "UPDATE mailboxes SET highestmodseq ="
	    " highestmodseq + 1 WHERE id = ?1", error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, inbox);
	if (step_done(ms, s, error_r) < 0)
		goto fail;
	/* to a session on INBOX its messages are expunged (QRESYNC) */
	if ((s = prep(ms, "INSERT OR IGNORE INTO expunged (mailbox_id,"
	    " modseq, uid, time) SELECT ?1, (SELECT highestmodseq FROM"
	    " mailboxes WHERE id = ?1), uid, ?2 FROM messages WHERE"
	    " mailbox_id = ?1", error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, inbox);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)time(NULL));
	if (step_done(ms, s, error_r) < 0)
		goto fail;
	if ((s = prep(ms, "UPDATE messages SET mailbox_id = ?2 WHERE"
	    " mailbox_id = ?1", error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, inbox);
	sqlite3_bind_int64(s, 2, id);
	if (step_done(ms, s, error_r) < 0)
		goto fail;
	if (exec(ms, "COMMIT", error_r) < 0)
		goto fail;
	changed(ms);
	return 0;
fail:
	store_db_rollback(ms->db);
	return -1;
}

int
mailstore_mailbox_rename(struct mailstore *ms, const char *from,
    const char *to, const char **error_r)
{
	char cf[STORE_MAX_MAILBOX_NAME + 1], ct[STORE_MAX_MAILBOX_NAME + 1];
	size_t lf, lt;
	sqlite3_stmt *s;
	int64_t id;
	int rc;

	if (mailbox_name_check(ms, from, cf, error_r) < 0 ||
	    mailbox_name_check(ms, to, ct, error_r) < 0)
		return -1;
	if (strcmp(cf, "INBOX") == 0)
		return rename_inbox(ms, ct, error_r);
	lf = strlen(cf);
	lt = strlen(ct);
	if (strncmp(ct, cf, lf) == 0 && (ct[lf] == '/' || ct[lf] == '\0'))
		return fail(ms, error_r, "cannot rename %s into itself", cf);
	if (strcmp(ct, "INBOX") == 0 || strncmp(ct, "INBOX/", 6) == 0) {
		/* allowed below INBOX, but not INBOX itself */
		if (lt == 5)
			return fail(ms, error_r, "INBOX exists already");
	}
	if (exec(ms, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if ((id = mailbox_id(ms, cf, error_r)) <= 0) {
		if (id == 0)
			fail(ms, error_r, "no mailbox %s", cf);
		goto fail;
	}
	if ((id = mailbox_id(ms, ct, error_r)) != 0) {
		if (id > 0)
			fail(ms, error_r, "mailbox %s exists already", ct);
		goto fail;
	}
	/* the mailbox and every child: "from" and "from/..." */
	if ((s = prep(ms, "UPDATE mailboxes SET name = ?2 || substr(name, ?3)"
	    " WHERE name = ?1 OR substr(name, 1, ?3) = ?1 || '/'",
	    error_r)) == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, cf, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, ct, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)lf + 1);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		if (sqlite3_extended_errcode(ms->db) ==
		    SQLITE_CONSTRAINT_UNIQUE)
			fail(ms, error_r, "a child of %s exists already", ct);
		else
			fail_db(ms, error_r);
		goto fail;
	}
	if (exec(ms, "COMMIT", error_r) < 0)
		goto fail;
	changed(ms);
	return 0;
fail:
	store_db_rollback(ms->db);
	return -1;
}

int
mailstore_mailbox_subscribe(struct mailstore *ms, const char *name,
    bool subscribed, const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	sqlite3_stmt *s;
	int rc;

	if (mailbox_name_check(ms, name, canon, error_r) < 0)
		return -1;
	if ((s = prep(ms, "UPDATE mailboxes SET subscribed = ?2 WHERE"
	    " name = ?1", error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, subscribed ? 1 : 0);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return fail_db(ms, error_r);
	if (sqlite3_changes(ms->db) == 0)
		return fail(ms, error_r, "no mailbox %s", canon);
	changed(ms);
	return 0;
}

/* ---- messages ---- */

int
mailstore_message_list(struct mailstore *ms, const char *mailbox,
    mailstore_message_fn *fn, void *ctx, const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	struct mailstore_message m;
	sqlite3_stmt *s;
	int64_t id;
	int rc, n = 0;

	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	if (exec(ms, "BEGIN", error_r) < 0)
		return -1;
	if ((id = mailbox_id(ms, canon, error_r)) <= 0) {
		if (id == 0)
			fail(ms, error_r, "no mailbox %s", canon);
		store_db_rollback(ms->db);
		return -1;
	}
	if ((s = prep(ms, "SELECT uid, size, flags, keywords, internal_date,"
	    " modseq, blob, blob_offset FROM messages WHERE mailbox_id = ?1"
	    " ORDER BY uid", error_r)) == NULL) {
		store_db_rollback(ms->db);
		return -1;
	}
	sqlite3_bind_int64(s, 1, id);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		char *path = xasprintf("%s/%s", ms->msgdir,
		    sqlite3_column_text(s, 6));

		m.uid = (uint32_t)sqlite3_column_int64(s, 0);
		m.size = (uint64_t)sqlite3_column_int64(s, 1);
		m.flags = (unsigned)sqlite3_column_int(s, 2);
		m.keywords = (const char *)sqlite3_column_text(s, 3);
		if (m.keywords == NULL)
			m.keywords = "";
		m.internal_date = (time_t)sqlite3_column_int64(s, 4);
		m.modseq = (uint64_t)sqlite3_column_int64(s, 5);
		m.path = path;
		m.offset = (uint64_t)sqlite3_column_int64(s, 7);
		fn(ctx, &m);
		free(path);
		n++;
	}
	sqlite3_finalize(s);
	store_db_rollback(ms->db);	/* read-only txn: just end it */
	return rc == SQLITE_DONE ? n : fail_db(ms, error_r);
}

int
mailstore_message_locate(struct mailstore *ms, const char *mailbox,
    uint32_t uid, char **path_r, uint64_t *offset_r, uint64_t *size_r,
    const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	sqlite3_stmt *s;
	int rc;

	*path_r = NULL;
	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	if ((s = prep(ms, "SELECT blob, blob_offset, size FROM messages"
	    " WHERE uid = ?2 AND"
	    " mailbox_id = (SELECT id FROM mailboxes WHERE name = ?1)",
	    error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, uid);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*path_r = xasprintf("%s/%s", ms->msgdir,
		    sqlite3_column_text(s, 0));
		*offset_r = (uint64_t)sqlite3_column_int64(s, 1);
		*size_r = (uint64_t)sqlite3_column_int64(s, 2);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
}

/* open_at - opens path read-only, positioned at off */
static int
open_at(struct mailstore *ms, const char *path, uint64_t off,
    const char **error_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), saved;

	if (fd >= 0 && lseek(fd, (off_t)off, SEEK_SET) == (off_t)off)
		return fd;
	saved = errno;
	fail(ms, error_r, "cannot open %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	errno = saved;
	return -1;
}

int
mailstore_message_read(struct mailstore *ms, const char *mailbox,
    uint32_t uid, struct buf *out, const char **error_r)
{
	uint64_t off = 0, size = 0, done = 0;
	uint8_t *w;
	char *path;
	int r, fd;

	if ((r = mailstore_message_locate(ms, mailbox, uid, &path, &off,
	    &size, error_r)) <= 0)
		return r;
	if (size > out->max - out->len) {
		free(path);
		errno = EFBIG;
		return fail(ms, error_r, "message %u is larger than %zu bytes",
		    uid, out->max);
	}
	if ((fd = open_at(ms, path, off, error_r)) < 0) {
		free(path);
		return -1;
	}
	if ((w = buf_reserve(out, (size_t)size)) == NULL) {
		close(fd);
		free(path);
		errno = EFBIG;
		return fail(ms, error_r, "message %u too large", uid);
	}
	while (done < size) {
		ssize_t n = pread(fd, w + done, (size_t)(size - done),
		    (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;	/* file shorter than the row */
			r = fail(ms, error_r, "cannot read %s: %s", path,
			    strerror(errno));
			close(fd);
			free(path);
			return r;
		}
		done += (uint64_t)n;
	}
	out->len += (size_t)size;
	out->data[out->len] = '\0';
	close(fd);
	free(path);
	return 1;
}

int
mailstore_message_open(struct mailstore *ms, const char *mailbox,
    uint32_t uid, uint64_t *size_r, const char **error_r)
{
	uint64_t off = 0;
	char *path;
	int r, fd;

	if ((r = mailstore_message_locate(ms, mailbox, uid, &path, &off,
	    size_r, error_r)) <= 0) {
		if (r == 0) {
			fail(ms, error_r, "no message %u in %s", uid, mailbox);
			errno = ENOENT;
		}
		return -1;
	}
	fd = open_at(ms, path, off, error_r);
	free(path);
	return fd;
}

int
mailstore_message_set_flags(struct mailstore *ms, const char *mailbox,
    uint32_t uid, unsigned add, unsigned del, const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	sqlite3_stmt *s;
	int64_t id;
	int rc, was_changed;

	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	if (exec(ms, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if ((id = mailbox_id(ms, canon, error_r)) <= 0) {
		store_db_rollback(ms->db);
		return id == 0 ? 0 : -1;
	}
	/* the new MODSEQ is the mailbox's HIGHESTMODSEQ + 1 (RFC 7162) */
	if ((s = prep(ms, "UPDATE messages SET flags = ((flags | ?3) & ~?4),"
	    " modseq = (SELECT highestmodseq + 1 FROM mailboxes WHERE id = ?1)"
	    " WHERE mailbox_id = ?1 AND uid = ?2 AND"
	    " flags != ((flags | ?3) & ~?4)", error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_int(s, 3, (int)(add & MAILSTORE_F_ALL));
	sqlite3_bind_int(s, 4, (int)(del & MAILSTORE_F_ALL));
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		fail_db(ms, error_r);
		goto fail;
	}
	was_changed = sqlite3_changes(ms->db) > 0;
	if (was_changed) {
		if ((s = prep(ms, "UPDATE mailboxes SET highestmodseq ="
		    " highestmodseq + 1 WHERE id = ?1", error_r)) == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, id);
		rc = sqlite3_step(s);
		sqlite3_finalize(s);
		if (rc != SQLITE_DONE) {
			fail_db(ms, error_r);
			goto fail;
		}
	}
	if (exec(ms, "COMMIT", error_r) < 0)
		goto fail;
	if (was_changed)
		changed(ms);
	return was_changed;
fail:
	store_db_rollback(ms->db);
	return -1;
}

/* ---- cached parse ---- */

int
mailstore_message_cache_set(struct mailstore *ms, const char *mailbox,
    uint32_t uid, const char *envelope, const char *bodystructure,
    const char *body, const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	sqlite3_stmt *s;
	int rc;

	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	if ((s = prep(ms, "INSERT INTO message_cache (id, envelope,"
	    " bodystructure, body) SELECT id, ?3, ?4, ?5 FROM messages"
	    " WHERE uid = ?2 AND mailbox_id ="
	    " (SELECT id FROM mailboxes WHERE name = ?1) AND true"
	    " ON CONFLICT (id) DO UPDATE SET"
	    " envelope = coalesce(excluded.envelope, envelope),"
	    " bodystructure = coalesce(excluded.bodystructure, bodystructure),"
	    " body = coalesce(excluded.body, body)", error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, uid);
	if (envelope != NULL)
		sqlite3_bind_text(s, 3, envelope, -1, SQLITE_STATIC);
	if (bodystructure != NULL)
		sqlite3_bind_text(s, 4, bodystructure, -1, SQLITE_STATIC);
	if (body != NULL)
		sqlite3_bind_text(s, 5, body, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return fail_db(ms, error_r);
	return sqlite3_changes(ms->db) > 0 ? 1 : 0;
}

static char *
column_dup(sqlite3_stmt *s, int col)
{
	const unsigned char *t = sqlite3_column_text(s, col);

	return t != NULL ? xstrdup((const char *)t) : NULL;
}

int
mailstore_message_cache_get(struct mailstore *ms, const char *mailbox,
    uint32_t uid, char **envelope_r, char **bodystructure_r, char **body_r,
    const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	sqlite3_stmt *s;
	int rc;

	*envelope_r = *bodystructure_r = *body_r = NULL;
	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	if ((s = prep(ms, "SELECT c.envelope, c.bodystructure, c.body FROM"
	    " messages LEFT JOIN message_cache c ON c.id = messages.id"
	    " WHERE uid = ?2 AND mailbox_id ="
	    " (SELECT id FROM mailboxes WHERE name = ?1)", error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, uid);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*envelope_r = column_dup(s, 0);
		*bodystructure_r = column_dup(s, 1);
		*body_r = column_dup(s, 2);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
}

/* ---- expunge and sweep ---- */

struct gone {
	uint32_t	 uid;
	char		*blob;
	int64_t		 text_id;	/* 0: not indexed */
};

/*
 * fts_gc - removes full-text entry text_id if no message row uses it any
 * more (inside a txn, after the rows went)
 */
static int
fts_gc(struct mailstore *ms, int64_t text_id, const char **error_r)
{
	sqlite3_stmt *s;
	int rc;

	if (text_id <= 0)
		return 0;
	if ((s = cached(ms, MS_ST_FTS_GC, "DELETE FROM fts WHERE rowid = ?1"
	    " AND NOT EXISTS (SELECT 1 FROM messages WHERE text_id = ?1)",
	    error_r)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, text_id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
}

static int
cmp_gone(const void *a, const void *b)
{
	const struct gone *x = a, *y = b;

	return (x->uid > y->uid) - (x->uid < y->uid);
}

/* blob_unused - true if no message row references blob */
static bool
blob_unused(struct mailstore *ms, const char *blob)
{
	const char *ignored;
	sqlite3_stmt *s;
	int rc;

	if ((s = prep(ms, "SELECT 1 FROM messages WHERE blob = ?1 LIMIT 1",
	    &ignored)) == NULL)
		return false;
	sqlite3_bind_text(s, 1, blob, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE;
}

int
mailstore_expunge(struct mailstore *ms, const char *mailbox,
    const uint32_t *uids, size_t nuids, bool require_deleted,
    uint32_t **expunged_r, size_t *nexpunged_r, const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	struct gone *g = NULL;
	sqlite3_stmt *sel = NULL, *del = NULL, *s;
	size_t ng = 0, i;
	int64_t id;
	int rc;

	if (expunged_r != NULL)
		*expunged_r = NULL;
	*nexpunged_r = 0;
	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	if (exec(ms, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if ((id = mailbox_id(ms, canon, error_r)) <= 0) {
		if (id == 0)
			fail(ms, error_r, "no mailbox %s", canon);
		goto fail;
	}
	if ((sel = prep(ms, uids == NULL ?
	    "SELECT uid, blob, flags, text_id FROM messages WHERE"
	    " mailbox_id = ?1" :
	    "SELECT uid, blob, flags, text_id FROM messages WHERE"
	    " mailbox_id = ?1 AND uid = ?2", error_r)) == NULL)
		goto fail;
	for (i = 0; uids == NULL ? i < 1 : i < nuids; i++) {
		sqlite3_reset(sel);
		sqlite3_bind_int64(sel, 1, id);
		if (uids != NULL)
			sqlite3_bind_int64(sel, 2, uids[i]);
		while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
			if (require_deleted && (sqlite3_column_int(sel, 2) &
			    MAILSTORE_F_DELETED) == 0)
				continue;
			g = xreallocarray(g, ng + 1, sizeof(*g));
			g[ng].uid = (uint32_t)sqlite3_column_int64(sel, 0);
			g[ng].blob = xstrdup((const char *)
			    sqlite3_column_text(sel, 1));
			g[ng].text_id = sqlite3_column_int64(sel, 3);
			ng++;
		}
		if (rc != SQLITE_DONE) {
			fail_db(ms, error_r);
			goto fail;
		}
	}
	if ((del = prep(ms, "DELETE FROM messages WHERE mailbox_id = ?1 AND"
	    " uid = ?2", error_r)) == NULL)
		goto fail;
	for (i = 0; i < ng; i++) {
		sqlite3_reset(del);
		sqlite3_bind_int64(del, 1, id);
		sqlite3_bind_int64(del, 2, g[i].uid);
		if (sqlite3_step(del) != SQLITE_DONE) {
			fail_db(ms, error_r);
			goto fail;
		}
	}
	if (ng > 0) {
		uint64_t modseq = 0;

		if ((s = prep(ms, "UPDATE mailboxes SET highestmodseq ="
		    " highestmodseq + 1 WHERE id = ?1 RETURNING highestmodseq",
		    error_r)) == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, id);
		if ((rc = sqlite3_step(s)) == SQLITE_ROW)
			modseq = (uint64_t)sqlite3_column_int64(s, 0);
		if (rc != SQLITE_ROW || (rc = sqlite3_step(s)) != SQLITE_DONE) {
			sqlite3_finalize(s);
			fail_db(ms, error_r);
			goto fail;
		}
		sqlite3_finalize(s);
		/* QRESYNC: who was here at which MODSEQ; and the index */
		for (i = 0; i < ng; i++)
			if (log_expunged(ms, id, modseq, g[i].uid,
			    error_r) < 0 || fts_gc(ms, g[i].text_id,
			    error_r) < 0)
				goto fail;
		if (time(NULL) - ms->last_expunge_prune >= PRUNE_INTERVAL) {
			if (prune_expunged_txn(ms, MAILSTORE_EXPUNGE_LOG_AGE,
			    MAILSTORE_EXPUNGE_LOG_ROWS, error_r) < 0)
				goto fail;
			ms->last_expunge_prune = time(NULL);
		}
	}
	sqlite3_finalize(sel);
	sqlite3_finalize(del);
	sel = del = NULL;
	if (exec(ms, "COMMIT", error_r) < 0)
		goto fail;
	if (ng > 0)
		changed(ms);
	if (ng > 1)
		qsort(g, ng, sizeof(*g), cmp_gone);
	if (expunged_r != NULL && ng > 0)
		*expunged_r = xreallocarray(NULL, ng, sizeof(**expunged_r));
	for (i = 0; i < ng; i++) {
		if (expunged_r != NULL)
			(*expunged_r)[i] = g[i].uid;
		if (blob_unused(ms, g[i].blob))
			unlink_blob(ms, g[i].blob);
		free(g[i].blob);
	}
	free(g);
	*nexpunged_r = ng;
	return 0;
fail:
	sqlite3_finalize(sel);
	sqlite3_finalize(del);
	store_db_rollback(ms->db);
	for (i = 0; i < ng; i++)
		free(g[i].blob);
	free(g);
	return -1;
}

/* blob_name_ok - looks like one of our file names (24 hex digits) */
static bool
blob_name_ok(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++)
		if (!ascii_isxdigit((unsigned char)name[i]))
			return false;
	return i == BLOB_RANDOM_BYTES * 2;
}

int
mailstore_sweep(struct mailstore *ms, uint64_t min_age, const char **error_r)
{
	DIR *dir;
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);
	int n = 0;

	if ((dir = opendir(ms->msgdir)) == NULL)
		return fail(ms, error_r, "cannot read %s: %s", ms->msgdir,
		    strerror(errno));
	while ((de = readdir(dir)) != NULL) {
		if (!blob_name_ok(de->d_name))
			continue;
		if (fstatat(dirfd(dir), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (st.st_mtime > now ||
		    (uint64_t)(now - st.st_mtime) < min_age)
			continue;
		/* checked one by one: a file committed meanwhile by another
		 * handle has a row by now, since it is older than min_age */
		if (!blob_unused(ms, de->d_name))
			continue;
		if (unlinkat(dirfd(dir), de->d_name, 0) == 0) {
			log_info("store sweep user=%lld removed=%s",
			    (long long)ms->user_id, de->d_name);
			n++;
		}
	}
	closedir(dir);
	return n;
}

/* ---- copy / move ---- */

/* bump_mailbox - UIDNEXT += uids, HIGHESTMODSEQ += 1 (inside a txn) */
static int
bump_mailbox(struct mailstore *ms, int64_t id, int uids,
    const char **error_r)
{
	sqlite3_stmt *s;

	if ((s = prep(ms, "UPDATE mailboxes SET uidnext = uidnext + ?2,"
	    " highestmodseq = highestmodseq + 1 WHERE id = ?1", error_r)) ==
	    NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, uids);
	return step_done(ms, s, error_r);
}

int
mailstore_message_copy(struct mailstore *ms, const char *from,
    uint32_t uid, const char *to, bool move, uint32_t *uid_r,
    uint32_t *uidvalidity_r, const char **error_r)
{
	uint32_t newuid = 0;

	if (mailstore_copy_multi(ms, from, &uid, 1, to, move, &newuid,
	    uidvalidity_r, error_r) < 0)
		return -1;
	if (newuid == 0)
		return 0;
	if (uid_r != NULL)
		*uid_r = newuid;
	return 1;
}

/* ---- keywords ---- */

/* keyword_ok - an IMAP atom (RFC 3501 section 9) not starting with '\' */
static bool
keyword_ok(const char *k, size_t len)
{
	size_t i;

	if (len == 0 || k[0] == '\\')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)k[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

/* kw_find - index of keyword k in the space-separated list, or -1 */
static long
kw_find(const char *list, const char *k, size_t klen)
{
	const char *p = list;

	while (*p != '\0') {
		size_t n = strcspn(p, " ");

		if (n == klen && strncasecmp(p, k, n) == 0)
			return p - list;
		p += n;
		while (*p == ' ')
			p++;
	}
	return -1;
}

/* kw_apply - edits list (a buf) by one space-separated argument */
static int
kw_apply(struct mailstore *ms, struct buf *list, const char *arg, bool add,
    const char **error_r)
{
	const char *p = arg;

	while (p != NULL && *p != '\0') {
		size_t n;
		long at;

		while (*p == ' ')
			p++;
		if ((n = strcspn(p, " ")) == 0)
			break;
		if (!keyword_ok(p, n))
			return fail(ms, error_r, "invalid keyword");
		at = kw_find(buf_cstr(list), p, n);
		if (add && at < 0) {
			if ((list->len > 0 && buf_append_byte(list, ' ') < 0) ||
			    buf_append(list, p, n) < 0)
				return fail(ms, error_r, "too many keywords");
		} else if (!add && at >= 0) {
			size_t start = (size_t)at, end = start + n;

			/* take the keyword and one neighbouring space */
			if (end < list->len)
				end++;
			else if (start > 0)
				start--;
			memmove(list->data + start, list->data + end,
			    list->len - end);
			list->len -= end - start;
			list->data[list->len] = '\0';
		}
		p += n;
	}
	return 0;
}

int
mailstore_message_set_keywords(struct mailstore *ms, const char *mailbox,
    uint32_t uid, const char *add, const char *del, const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	struct buf list;
	sqlite3_stmt *s;
	int64_t id;
	char *old = NULL;
	int rc, r = -1;

	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	buf_init(&list, STORE_MAX_KEYWORDS);
	if (exec(ms, "BEGIN IMMEDIATE", error_r) < 0)
		goto out;
	if ((id = mailbox_id(ms, canon, error_r)) <= 0) {
		r = id == 0 ? 0 : -1;
		goto rollback;
	}
	if ((s = prep(ms, "SELECT keywords FROM messages WHERE"
	    " mailbox_id = ?1 AND uid = ?2", error_r)) == NULL)
		goto rollback;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, uid);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		old = xstrdup(sqlite3_column_text(s, 0) != NULL ?
		    (const char *)sqlite3_column_text(s, 0) : "");
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
		goto rollback;
	}
	if (buf_append_str(&list, old) < 0 ||
	    kw_apply(ms, &list, add, true, error_r) < 0 ||
	    kw_apply(ms, &list, del, false, error_r) < 0)
		goto rollback;
	if (strcmp(old, buf_cstr(&list)) == 0) {
		r = 0;
		goto rollback;
	}
	if ((s = prep(ms, "UPDATE messages SET keywords = ?3, modseq ="
	    " (SELECT highestmodseq + 1 FROM mailboxes WHERE id = ?1)"
	    " WHERE mailbox_id = ?1 AND uid = ?2", error_r)) == NULL)
		goto rollback;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, uid);
	sqlite3_bind_text(s, 3, buf_cstr(&list), -1, SQLITE_STATIC);
	if (step_done(ms, s, error_r) < 0 ||
	    bump_mailbox(ms, id, 0, error_r) < 0 ||
	    exec(ms, "COMMIT", error_r) < 0)
		goto rollback;
	changed(ms);
	r = 1;
	goto out;
rollback:
	store_db_rollback(ms->db);
out:
	free(old);
	buf_fini(&list);
	return r;
}

/* ---- IMAP: ranges, cheap state, changes since a MODSEQ ---- */

#define LIST_COLUMNS \
	"SELECT uid, size, flags, keywords, internal_date, modseq, blob," \
	" blob_offset"
#define LIST_FROM_MAILBOX \
	" FROM messages WHERE mailbox_id =" \
	" (SELECT id FROM mailboxes WHERE name = ?1)"

static const char *
column_str(sqlite3_stmt *s, int col)
{
	return (const char *)sqlite3_column_text(s, col);
}

/* message_from_row - a row of LIST_COLUMNS (+ the cache) into *m */
static void
message_from_row(struct mailstore *ms, sqlite3_stmt *s, bool cache,
    char *path, size_t pathsize, struct mailstore_message *m)
{
	const char *blob = column_str(s, 6);

	memset(m, 0, sizeof(*m));
	m->uid = (uint32_t)sqlite3_column_int64(s, 0);
	m->size = (uint64_t)sqlite3_column_int64(s, 1);
	m->flags = (unsigned)sqlite3_column_int(s, 2);
	m->keywords = column_str(s, 3);
	if (m->keywords == NULL)
		m->keywords = "";
	m->internal_date = (time_t)sqlite3_column_int64(s, 4);
	m->modseq = (uint64_t)sqlite3_column_int64(s, 5);
	snprintf(path, pathsize, "%s/%s", ms->msgdir,
	    blob != NULL ? blob : "");
	m->path = path;
	m->offset = (uint64_t)sqlite3_column_int64(s, 7);
	if (cache) {
		m->envelope = column_str(s, 8);
		m->bodystructure = column_str(s, 9);
		m->body = column_str(s, 10);
	}
}

/* mailbox_id_fast - mailbox_id with the handle's prepared statement */
static int64_t
mailbox_id_fast(struct mailstore *ms, const char *canon,
    const char **error_r)
{
	sqlite3_stmt *s;
	int64_t id = 0;
	int rc;

	if ((s = cached(ms, MS_ST_MAILBOX_ID, "SELECT id FROM mailboxes"
	    " WHERE name = ?1", error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		id = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail_db(ms, error_r);
	return id;
}

/* run_list - steps a listing statement, calling fn per row */
static int
run_list(struct mailstore *ms, sqlite3_stmt *s, const char *canon,
    bool cache, mailstore_message_fn *fn, void *ctx, const char **error_r)
{
	struct mailstore_message m;
	char path[PATH_MAX];
	int64_t id;
	int rc, n = 0;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		message_from_row(ms, s, cache, path, sizeof(path), &m);
		fn(ctx, &m);
		n++;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return fail_db(ms, error_r);
	if (n == 0) {
		/* nothing listed: an empty range, or no such mailbox? */
		if ((id = mailbox_id_fast(ms, canon, error_r)) < 0)
			return -1;
		if (id == 0)
			return fail(ms, error_r, "no mailbox %s", canon);
	}
	return n;
}

int
mailstore_message_list_range(struct mailstore *ms, const char *mailbox,
    uint32_t uid_lo, uint32_t uid_hi, unsigned what,
    mailstore_message_fn *fn, void *ctx, const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	bool cache = (what & MAILSTORE_LIST_CACHE) != 0;
	sqlite3_stmt *s;

	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	/* one statement: one read snapshot; the (mailbox_id, uid) key
	 * gives the range and the order */
	s = cache ? cached(ms, MS_ST_LIST_RANGE_CACHE, LIST_COLUMNS
	    ", c.envelope, c.bodystructure, c.body FROM messages"
	    " LEFT JOIN message_cache c ON c.id = messages.id"
	    " WHERE mailbox_id = (SELECT id FROM mailboxes WHERE name = ?1)"
	    " AND uid >= ?2 AND uid <= ?3 ORDER BY uid", error_r) :
	    cached(ms, MS_ST_LIST_RANGE, LIST_COLUMNS LIST_FROM_MAILBOX
	    " AND uid >= ?2 AND uid <= ?3 ORDER BY uid", error_r);
	if (s == NULL)
		return -1;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, uid_lo);
	sqlite3_bind_int64(s, 3, uid_hi != 0 ? uid_hi : UINT32_MAX);
	return run_list(ms, s, canon, cache, fn, ctx, error_r);
}

int
mailstore_mailbox_state(struct mailstore *ms, const char *name,
    uint32_t *uidvalidity_r, uint32_t *uidnext_r, uint64_t *highestmodseq_r,
    const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	sqlite3_stmt *s;
	int rc;

	if (mailbox_name_check(ms, name, canon, error_r) < 0)
		return -1;
	if ((s = cached(ms, MS_ST_MAILBOX_STATE, "SELECT uidvalidity,"
	    " uidnext, highestmodseq FROM mailboxes WHERE name = ?1",
	    error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (uidvalidity_r != NULL)
			*uidvalidity_r = (uint32_t)sqlite3_column_int64(s, 0);
		if (uidnext_r != NULL)
			*uidnext_r = (uint32_t)sqlite3_column_int64(s, 1);
		if (highestmodseq_r != NULL)
			*highestmodseq_r = (uint64_t)sqlite3_column_int64(s,
			    2);
	}
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
}

/* ---- the mailbox summary SELECT reads (schema v7) ---- */

void
mailstore_summary_free(struct mailstore_summary *s)
{
	free(s->runs);
	free(s->keywords);
	s->runs = NULL;
	s->keywords = NULL;
	s->nruns = s->n = 0;
}

/* kw_union_add - adds the keywords of list to u (" kw" each), once each */
static void
kw_union_add(struct buf *u, const char *list)
{
	const char *k = list;

	while (k != NULL && *k != '\0') {
		const char *p = (const char *)u->data;
		size_t l, mark;
		bool have = false;

		while (*k == ' ')
			k++;
		l = strcspn(k, " ");
		if (l == 0)
			break;
		/* a short list in practice: a linear look is fine */
		while (p != NULL && *p != '\0' && !have) {
			size_t pl;

			p++;
			pl = strcspn(p, " ");
			have = pl == l && span_eq_ci(span_make(p, pl),
			    span_make(k, l));
			p += pl;
		}
		mark = u->len;
		if (!have && (buf_append_byte(u, ' ') < 0 ||
		    buf_append(u, k, l) < 0)) {
			u->len = mark;	/* past the ceiling: fewer */
			if (u->data != NULL)
				u->data[mark] = '\0';
		}
		k += l;
	}
}

/*
 * summary_build - reads the summary of mailbox id from its messages
 * (inside a txn); the uids are pushed into s, the keywords into u
 */
static int
summary_build(struct mailstore *ms, int64_t id, struct mailstore_summary *s,
    struct buf *u, const char **error_r)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc;

	if ((st = cached(ms, MS_ST_SUMMARY_SCAN, "SELECT uid, flags, keywords"
	    " FROM messages WHERE mailbox_id = ?1 ORDER BY uid", error_r)) ==
	    NULL)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *kw = sqlite3_column_text(st, 2);

		uint32_t uid = (uint32_t)sqlite3_column_int64(st, 0);

		if (s->nruns > 0 && s->runs[s->nruns - 1].hi + 1 == uid) {
			s->runs[s->nruns - 1].hi = uid;
		} else {
			if (s->nruns == cap) {
				cap = cap < 64 ? 64 : cap * 2;
				s->runs = xreallocarray(s->runs, cap,
				    sizeof(*s->runs));
			}
			s->runs[s->nruns].lo = s->runs[s->nruns].hi = uid;
			s->nruns++;
		}
		s->n++;
		if (s->first_unseen == 0 && (sqlite3_column_int(st, 1) &
		    MAILSTORE_F_SEEN) == 0)
			s->first_unseen = s->n;
		if (kw != NULL && kw[0] != '\0')
			kw_union_add(u, (const char *)kw);
	}
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
}

/* put_varint - v in 7-bit groups, low first; returns the bytes written */
static size_t
put_varint(unsigned char *p, uint32_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

/* get_varint - reads one put_varint value at *pos; false if malformed */
static bool
get_varint(const unsigned char *p, size_t len, size_t *pos, uint32_t *v_r)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (*pos < len && shift <= 28) {
		unsigned char c = p[(*pos)++];

		v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0) {
			if (v > UINT32_MAX)
				return false;
			*v_r = (uint32_t)v;
			return true;
		}
		shift += 7;
	}
	return false;
}

/*
 * summary_encode - the UIDs (ascending) as runs of consecutive UIDs, each
 * two varints: the gap after the previous run's last UID (from 0) and the
 * run's length - 1.  A mailbox that lost few messages is a few bytes
 * (10,000 UIDs in a row: 4), so the summary row has no overflow pages.
 */
static unsigned char *
summary_encode(const struct mailstore_uid_run *r, size_t n, size_t *len_r)
{
	unsigned char *p = xmalloc(n * 10 + 1);
	uint32_t prev = 0;
	size_t i, len = 0;

	for (i = 0; i < n; i++) {
		len += put_varint(p + len, r[i].lo - prev - 1);
		len += put_varint(p + len, r[i].hi - r[i].lo);
		prev = r[i].hi;
	}
	*len_r = len;
	return p;
}

/*
 * summary_decode - the runs of a summary_encode blob into s (runs, nruns,
 * n), every UID below uidnext; false (s untouched) if it is malformed
 */
static bool
summary_decode(const unsigned char *p, size_t len, uint32_t uidnext,
    struct mailstore_summary *s)
{
	struct mailstore_uid_run *r = NULL;
	uint32_t prev = 0, gap, more;
	size_t pos = 0, nr = 0, n = 0, cap = 0;

	while (pos < len) {
		uint64_t lo, hi;

		if (!get_varint(p, len, &pos, &gap) ||
		    !get_varint(p, len, &pos, &more))
			goto bad;
		lo = (uint64_t)prev + gap + 1;
		hi = lo + more;
		if (hi >= uidnext)
			goto bad;
		if (nr == cap) {
			/* at most one run per two bytes of the blob */
			cap = cap < 64 ? 64 : cap * 2;
			r = xreallocarray(r, cap, sizeof(*r));
		}
		r[nr].lo = (uint32_t)lo;
		r[nr].hi = (uint32_t)hi;
		nr++;
		n += (size_t)(hi - lo + 1);
		prev = (uint32_t)hi;
	}
	s->runs = r;
	s->nruns = nr;
	s->n = n;
	return true;
bad:
	free(r);
	return false;
}

/* summary_save - stores s as mailbox id's summary (inside a write txn) */
static int
summary_save(struct mailstore *ms, int64_t id,
    const struct mailstore_summary *s, const char *keywords,
    const char **error_r)
{
	sqlite3_stmt *st;
	unsigned char *blob;
	size_t len;
	int r;

	blob = summary_encode(s->runs, s->nruns, &len);
	if ((st = cached(ms, MS_ST_SUMMARY_SAVE, "INSERT OR REPLACE INTO"
	    " mailbox_summary (mailbox_id, modseq, uids, first_unseen,"
	    " keywords) VALUES (?1, ?2, ?3, ?4, ?5)", error_r)) == NULL) {
		free(blob);
		return -1;
	}
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)s->highestmodseq);
	sqlite3_bind_blob64(st, 3, blob, len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)s->first_unseen);
	sqlite3_bind_text(st, 5, keywords, -1, SQLITE_STATIC);
	r = cached_done(ms, st, error_r);
	free(blob);
	return r;
}

/*
 * summary_read - the state of mailbox canon and its saved summary, if
 * it is current (inside a txn): 1 with *have_r set when the summary was
 * taken, 0 no such mailbox, -1 error
 */
static int
summary_read(struct mailstore *ms, const char *canon, int64_t *id_r,
    struct mailstore_summary *s, bool *have_r, const char **error_r)
{
	sqlite3_stmt *st;
	const unsigned char *b;
	size_t len;
	int rc;

	*have_r = false;
	if ((st = cached(ms, MS_ST_SUMMARY_GET, "SELECT m.id, m.uidvalidity,"
	    " m.uidnext, m.highestmodseq, s.modseq, s.uids, s.first_unseen,"
	    " s.keywords FROM mailboxes m LEFT JOIN mailbox_summary s"
	    " ON s.mailbox_id = m.id WHERE m.name = ?1", error_r)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, canon, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
	}
	*id_r = sqlite3_column_int64(st, 0);
	s->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
	s->uidnext = (uint32_t)sqlite3_column_int64(st, 2);
	s->highestmodseq = (uint64_t)sqlite3_column_int64(st, 3);
	b = sqlite3_column_blob(st, 5);
	len = (size_t)sqlite3_column_bytes(st, 5);
	if (sqlite3_column_type(st, 4) == SQLITE_INTEGER &&
	    (uint64_t)sqlite3_column_int64(st, 4) == s->highestmodseq &&
	    (len == 0 || b != NULL) &&
	    summary_decode(b, len, s->uidnext, s)) {
		s->first_unseen = (size_t)sqlite3_column_int64(st, 6);
		if (s->first_unseen > s->n)
			s->first_unseen = 0;
		s->keywords = xstrdup(column_str(st, 7) != NULL ?
		    column_str(st, 7) : "");
		*have_r = true;
	}
	sqlite3_reset(st);
	return 1;
}

int
mailstore_mailbox_summary(struct mailstore *ms, const char *name,
    struct mailstore_summary *s, const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	struct buf u;
	int64_t id = 0;
	bool have = false, writing = false;
	int r;

	memset(s, 0, sizeof(*s));
	if (mailbox_name_check(ms, name, canon, error_r) < 0)
		return -1;
	/* one statement: one snapshot, no transaction needed */
	r = summary_read(ms, canon, &id, s, &have, error_r);
	if (r <= 0 || have)
		return r;
	/*
	 * None saved, or not current: build it from the messages under the
	 * write lock (so that no change slips between the reading and the
	 * saving), if the lock is free now; else read it without saving.
	 * The summary is a cache: its commit need not reach the disk at
	 * once (a later commit, or the checkpoint, takes it there).
	 */
	sqlite3_busy_timeout(ms->db, 0);
	writing = exec(ms, "PRAGMA synchronous = NORMAL", NULL) == 0 &&
	    exec(ms, "BEGIN IMMEDIATE", NULL) == 0;
	sqlite3_busy_timeout(ms->db, STORE_BUSY_TIMEOUT_MS);
	if (!writing && exec(ms, "BEGIN", error_r) < 0) {
		r = -1;
		goto out;
	}
	mailstore_summary_free(s);
	buf_init(&u, MAILSTORE_SUMMARY_KEYWORDS + 1);
	if ((r = summary_read(ms, canon, &id, s, &have, error_r)) > 0 &&
	    !have) {
		if (summary_build(ms, id, s, &u, error_r) < 0)
			r = -1;
		else
			s->keywords = xstrdup(u.len > 0 ?
			    (const char *)u.data + 1 : "");
		if (r > 0 && writing && (summary_save(ms, id, s, s->keywords,
		    NULL) < 0 || exec(ms, "COMMIT", NULL) < 0))
			log_warn("store user=%lld summary not saved: %s",
			    (long long)ms->user_id, ms->err);
	}
	buf_fini(&u);
	store_db_rollback(ms->db);	/* if not committed */
out:
	if (exec(ms, "PRAGMA synchronous = FULL", NULL) < 0)
		log_error("store user=%lld cannot restore synchronous=FULL: %s",
		    (long long)ms->user_id, ms->err);
	if (r <= 0)
		mailstore_summary_free(s);
	return r;
}

int
mailstore_message_list_since(struct mailstore *ms, const char *mailbox,
    uint64_t since, mailstore_message_fn *fn, void *ctx,
    const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	sqlite3_stmt *s;

	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	/* index messages_modseq (mailbox_id, modseq) */
	if ((s = cached(ms, MS_ST_LIST_SINCE, LIST_COLUMNS LIST_FROM_MAILBOX
	    " AND modseq > ?2 ORDER BY uid", error_r)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, since > INT64_MAX ? INT64_MAX :
	    (sqlite3_int64)since);
	return run_list(ms, s, canon, false, fn, ctx, error_r);
}

int
mailstore_expunged_since(struct mailstore *ms, const char *mailbox,
    uint64_t since, uint32_t **uids_r, size_t *n_r, bool *complete_r,
    const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	sqlite3_stmt *s = NULL;
	uint32_t *uids = NULL;
	size_t n = 0, cap = 0;
	int64_t id = 0;
	uint64_t floor = 0;
	int rc;

	*uids_r = NULL;
	*n_r = 0;
	*complete_r = false;
	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	/* the floor and the log from one snapshot */
	if (exec(ms, "BEGIN", error_r) < 0)
		return -1;
	if ((s = prep(ms, "SELECT id, expunge_floor FROM mailboxes"
	    " WHERE name = ?1", error_r)) == NULL)
		goto fail;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		id = sqlite3_column_int64(s, 0);
		floor = (uint64_t)sqlite3_column_int64(s, 1);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW) {
		if (rc == SQLITE_DONE)
			fail(ms, error_r, "no mailbox %s", canon);
		else
			fail_db(ms, error_r);
		goto fail;
	}
	if ((s = cached(ms, MS_ST_EXPUNGED_SINCE, "SELECT uid FROM expunged"
	    " WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
	    error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, since > INT64_MAX ? INT64_MAX :
	    (sqlite3_int64)since);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			uids = xreallocarray(uids, cap, sizeof(*uids));
		}
		uids[n++] = (uint32_t)sqlite3_column_int64(s, 0);
	}
	sqlite3_reset(s);
	if (rc != SQLITE_DONE) {
		fail_db(ms, error_r);
		goto fail;
	}
	store_db_rollback(ms->db);	/* read-only: just end it */
	*uids_r = uids;
	*n_r = n;
	*complete_r = since >= floor;
	return 0;
fail:
	store_db_rollback(ms->db);
	free(uids);
	return -1;
}

/* log_expunged - one expunge log entry (inside a txn) */
static int
log_expunged(struct mailstore *ms, int64_t mailbox_id, uint64_t modseq,
    uint32_t uid, const char **error_r)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = cached(ms, MS_ST_EXPUNGE_LOG, "INSERT OR IGNORE INTO"
	    " expunged (mailbox_id, modseq, uid, time) VALUES (?1, ?2, ?3,"
	    " ?4)", error_r)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, mailbox_id);
	sqlite3_bind_int64(s, 2, (sqlite3_int64)modseq);
	sqlite3_bind_int64(s, 3, uid);
	sqlite3_bind_int64(s, 4, (sqlite3_int64)time(NULL));
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : fail_db(ms, error_r);
}

/* prune_expunged_txn - mailstore_prune_expunged inside a txn */
static int
prune_expunged_txn(struct mailstore *ms, uint64_t max_age, uint64_t max_rows,
    const char **error_r)
{
	sqlite3_stmt *s = NULL, *q = NULL;
	int64_t cut = (int64_t)time(NULL) - (int64_t)(max_age > INT64_MAX / 2 ?
	    INT64_MAX / 2 : max_age);
	int rc, total = 0;

	/* per mailbox: the highest MODSEQ that goes, by age or by count */
	if ((q = prep(ms, "SELECT mailbox_id, max(m) FROM ("
	    " SELECT mailbox_id, max(modseq) AS m FROM expunged"
	    "  WHERE time < ?1 GROUP BY mailbox_id"
	    " UNION ALL"
	    " SELECT e.mailbox_id, (SELECT modseq FROM expunged x"
	    "  WHERE x.mailbox_id = e.mailbox_id ORDER BY modseq DESC, uid DESC"
	    "  LIMIT 1 OFFSET ?2) FROM (SELECT mailbox_id FROM expunged"
	    "  GROUP BY mailbox_id HAVING count(*) > ?2) e)"
	    " WHERE m IS NOT NULL GROUP BY mailbox_id", error_r)) == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, cut);
	sqlite3_bind_int64(q, 2, max_rows > INT64_MAX ? INT64_MAX :
	    (sqlite3_int64)max_rows);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int64_t id = sqlite3_column_int64(q, 0);
		int64_t m = sqlite3_column_int64(q, 1);

		/* a MODSEQ is dropped whole: the log stays exact above it */
		if ((s = prep(ms, "DELETE FROM expunged WHERE mailbox_id = ?1"
		    " AND modseq <= ?2", error_r)) == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, m);
		if (step_done(ms, s, error_r) < 0)
			goto fail;
		total += sqlite3_changes(ms->db);
		if ((s = prep(ms, "UPDATE mailboxes SET expunge_floor ="
		    " max(expunge_floor, ?2) WHERE id = ?1", error_r)) == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, m);
		if (step_done(ms, s, error_r) < 0)
			goto fail;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return fail_db(ms, error_r);
	return total;
fail:
	sqlite3_finalize(q);
	return -1;
}

int
mailstore_prune_expunged(struct mailstore *ms, uint64_t max_age,
    uint64_t max_rows, const char **error_r)
{
	int r;

	if (exec(ms, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if ((r = prune_expunged_txn(ms, max_age, max_rows, error_r)) < 0 ||
	    exec(ms, "COMMIT", error_r) < 0) {
		store_db_rollback(ms->db);
		return -1;
	}
	return r;
}

/* ---- IMAP STORE on many messages ---- */

void
mailstore_flag_changes_free(struct mailstore_flag_change *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(c[i].keywords);
		c[i].keywords = NULL;
	}
}

/* the state of one message as read for a STORE */
struct flag_row {
	int64_t		 rowid;		/* 0: no such message */
	unsigned	 flags;
	uint64_t	 modseq;
	char		*keywords;	/* heap */
};

struct uid_index {
	uint32_t	uid;
	size_t		i;
};

static int
cmp_uid_index(const void *a, const void *b)
{
	const struct uid_index *x = a, *y = b;

	if (x->uid != y->uid)
		return (x->uid > y->uid) - (x->uid < y->uid);
	return (x->i > y->i) - (x->i < y->i);
}

/*
 * flag_rows_read - current flags of every c[i] (inside a txn).  *dense_r
 * is set when every message with a UID in [*lo_r, *hi_r] is among c
 * (then one UPDATE over the range changes exactly the messages asked for).
 */
static int
flag_rows_read(struct mailstore *ms, int64_t id,
    const struct mailstore_flag_change *c, size_t n, struct flag_row *rows,
    uint32_t *lo_r, uint32_t *hi_r, bool *dense_r, const char **error_r)
{
	struct uid_index *ix;
	sqlite3_stmt *s;
	size_t i, j, gaps = 0;
	int rc;

	*dense_r = false;
	if (n <= 64) {
		/* a few messages: point lookups on (mailbox_id, uid) */
		if ((s = cached(ms, MS_ST_FLAGS_GET, "SELECT id, flags,"
		    " keywords, modseq FROM messages WHERE mailbox_id = ?1"
		    " AND uid = ?2", error_r)) == NULL)
			return -1;
		for (i = 0; i < n; i++) {
			sqlite3_reset(s);
			sqlite3_bind_int64(s, 1, id);
			sqlite3_bind_int64(s, 2, c[i].uid);
			rc = sqlite3_step(s);
			if (rc == SQLITE_ROW) {
				rows[i].rowid = sqlite3_column_int64(s, 0);
				rows[i].flags = (unsigned)
				    sqlite3_column_int(s, 1);
				rows[i].keywords = xstrdup(column_str(s, 2) !=
				    NULL ? column_str(s, 2) : "");
				rows[i].modseq = (uint64_t)
				    sqlite3_column_int64(s, 3);
			} else if (rc != SQLITE_DONE) {
				sqlite3_reset(s);
				return fail_db(ms, error_r);
			}
		}
		sqlite3_reset(s);
		return 0;
	}
	/* many: one range scan merged with the sorted UIDs */
	ix = xreallocarray(NULL, n, sizeof(*ix));
	for (i = 0; i < n; i++) {
		ix[i].uid = c[i].uid;
		ix[i].i = i;
	}
	qsort(ix, n, sizeof(*ix), cmp_uid_index);
	if ((s = cached(ms, MS_ST_FLAGS_RANGE, "SELECT id, flags, keywords,"
	    " modseq, uid FROM messages WHERE mailbox_id = ?1 AND"
	    " uid >= ?2 AND uid <= ?3 ORDER BY uid", error_r)) == NULL) {
		free(ix);
		return -1;
	}
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, ix[0].uid);
	sqlite3_bind_int64(s, 3, ix[n - 1].uid);
	j = 0;
	while (j < n && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		uint32_t uid = (uint32_t)sqlite3_column_int64(s, 4);

		while (j < n && ix[j].uid < uid)
			j++;
		if (j == n || ix[j].uid != uid)
			gaps++;		/* in the range, not asked for */
		for (; j < n && ix[j].uid == uid; j++) {
			struct flag_row *r = &rows[ix[j].i];

			r->rowid = sqlite3_column_int64(s, 0);
			r->flags = (unsigned)sqlite3_column_int(s, 1);
			r->keywords = xstrdup(column_str(s, 2) != NULL ?
			    column_str(s, 2) : "");
			r->modseq = (uint64_t)sqlite3_column_int64(s, 3);
		}
	}
	if (j < n && rc != SQLITE_DONE) {
		sqlite3_reset(s);
		free(ix);
		return fail_db(ms, error_r);
	}
	sqlite3_reset(s);
	*lo_r = ix[0].uid;
	*hi_r = ix[n - 1].uid;
	*dense_r = gaps == 0;
	free(ix);
	return 0;
}

int
mailstore_store_flags(struct mailstore *ms, const char *mailbox,
    struct mailstore_flag_change *c, size_t n, enum mailstore_flag_mode mode,
    unsigned flags, const char *keywords, uint64_t unchangedsince,
    const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	struct flag_row *rows = NULL;
	struct buf kw, cur;
	sqlite3_stmt *s;
	uint64_t newmodseq;
	uint32_t lo = 0, hi = 0;
	bool any = false, dense = false, bulk = false;
	size_t i;
	int64_t id;
	int rc, r = -1;

	for (i = 0; i < n; i++) {
		c[i].status = -1;
		c[i].flags = 0;
		c[i].keywords = NULL;
		c[i].modseq = 0;
	}
	flags &= MAILSTORE_F_ALL;
	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	buf_init(&kw, STORE_MAX_KEYWORDS);
	buf_init(&cur, STORE_MAX_KEYWORDS);
	/* the argument, checked and without duplicates, once */
	if (kw_apply(ms, &kw, keywords, true, error_r) < 0)
		goto out;
	if (exec(ms, "BEGIN IMMEDIATE", error_r) < 0)
		goto out;
	if ((id = mailbox_id_fast(ms, canon, error_r)) <= 0) {
		if (id == 0)
			fail(ms, error_r, "no mailbox %s", canon);
		goto rollback;
	}
	if ((s = cached(ms, MS_ST_MAILBOX_STATE, "SELECT uidvalidity,"
	    " uidnext, highestmodseq FROM mailboxes WHERE name = ?1",
	    error_r)) == NULL)
		goto rollback;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	newmodseq = (uint64_t)sqlite3_column_int64(s, 2) + 1;
	sqlite3_reset(s);
	if (rc != SQLITE_ROW) {
		fail_db(ms, error_r);
		goto rollback;
	}
	rows = xcalloc(n ? n : 1, sizeof(*rows));
	if (n > 0 && flag_rows_read(ms, id, c, n, rows, &lo, &hi, &dense,
	    error_r) < 0)
		goto rollback;
	/* STORE 1:* +FLAGS (\Seen) and the like: system flags only, every
	 * message of a UID range: one UPDATE instead of one per message */
	bulk = dense && unchangedsince == 0 && kw.len == 0 &&
	    (mode == MAILSTORE_FLAGS_ADD || mode == MAILSTORE_FLAGS_REMOVE);
	if (bulk) {
		unsigned add = mode == MAILSTORE_FLAGS_ADD ? flags : 0;
		unsigned del = mode == MAILSTORE_FLAGS_REMOVE ? flags : 0;

		if ((s = prep(ms, "UPDATE messages SET flags = ((flags | ?4) &"
		    " ~?5), modseq = ?6 WHERE mailbox_id = ?1 AND uid >= ?2"
		    " AND uid <= ?3 AND flags != ((flags | ?4) & ~?5)",
		    error_r)) == NULL)
			goto rollback;
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, lo);
		sqlite3_bind_int64(s, 3, hi);
		sqlite3_bind_int(s, 4, (int)add);
		sqlite3_bind_int(s, 5, (int)del);
		sqlite3_bind_int64(s, 6, (sqlite3_int64)newmodseq);
		if (step_done(ms, s, error_r) < 0)
			goto rollback;
		for (i = 0; i < n; i++) {
			unsigned nf = (rows[i].flags | add) & ~del;

			if (rows[i].rowid == 0)
				continue;	/* status -1 */
			c[i].flags = nf;
			if (nf == rows[i].flags) {
				c[i].status = 0;
				c[i].modseq = rows[i].modseq;
				continue;
			}
			c[i].status = 1;
			c[i].modseq = newmodseq;
			any = true;
		}
	}
	for (i = 0; i < n && !bulk; i++) {
		struct flag_row *row = &rows[i];
		unsigned nf;

		if (row->rowid == 0)
			continue;	/* status -1 */
		c[i].flags = row->flags;
		c[i].modseq = row->modseq;
		if (unchangedsince > 0 && row->modseq > unchangedsince) {
			c[i].status = 2;	/* RFC 7162 3.1.3 */
			continue;
		}
		buf_reset(&cur);
		switch (mode) {
		case MAILSTORE_FLAGS_REPLACE:
			nf = flags;
			rc = buf_append(&cur, kw.data, kw.len);
			break;
		case MAILSTORE_FLAGS_ADD:
			nf = row->flags | flags;
			rc = buf_append_str(&cur, row->keywords) < 0 ? -1 :
			    kw_apply(ms, &cur, buf_cstr(&kw), true, error_r);
			break;
		case MAILSTORE_FLAGS_REMOVE:
		default:
			nf = row->flags & ~flags;
			rc = buf_append_str(&cur, row->keywords) < 0 ? -1 :
			    kw_apply(ms, &cur, buf_cstr(&kw), false, error_r);
			break;
		}
		if (rc < 0) {
			fail(ms, error_r, "too many keywords");
			goto rollback;
		}
		if (nf == row->flags && strcmp(buf_cstr(&cur),
		    row->keywords) == 0) {
			c[i].status = 0;
			continue;
		}
		if ((s = cached(ms, MS_ST_FLAGS_SET, "UPDATE messages SET"
		    " flags = ?2, keywords = ?3, modseq = ?4 WHERE id = ?1",
		    error_r)) == NULL)
			goto rollback;
		sqlite3_bind_int64(s, 1, row->rowid);
		sqlite3_bind_int(s, 2, (int)nf);
		sqlite3_bind_text(s, 3, buf_cstr(&cur), (int)cur.len,
		    SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, (sqlite3_int64)newmodseq);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE) {
			fail_db(ms, error_r);
			goto rollback;
		}
		free(row->keywords);
		row->keywords = xstrdup(buf_cstr(&cur));
		row->flags = nf;
		c[i].flags = nf;
		c[i].modseq = newmodseq;
		c[i].status = 1;
		any = true;
	}
	if (any) {
		if ((s = prep(ms, "UPDATE mailboxes SET highestmodseq = ?2"
		    " WHERE id = ?1", error_r)) == NULL)
			goto rollback;
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)newmodseq);
		if (step_done(ms, s, error_r) < 0)
			goto rollback;
	}
	if (exec(ms, "COMMIT", error_r) < 0)
		goto rollback;
	for (i = 0; i < n; i++) {
		c[i].keywords = rows[i].keywords;	/* handed over */
		rows[i].keywords = NULL;
	}
	if (any)
		changed(ms);
	r = 0;
	goto out;
rollback:
	store_db_rollback(ms->db);
	for (i = 0; i < n; i++) {
		c[i].status = -1;
		c[i].flags = 0;
		c[i].modseq = 0;
	}
out:
	if (rows != NULL)
		for (i = 0; i < n; i++)
			free(rows[i].keywords);
	free(rows);
	buf_fini(&kw);
	buf_fini(&cur);
	return r;
}

/* ---- COPY / MOVE of many messages ---- */

/* usage_get - the account's counters (inside or outside a txn) */
static int
usage_get(struct mailstore *ms, uint64_t *bytes_r, uint64_t *messages_r,
    const char **error_r)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = cached(ms, MS_ST_USAGE, "SELECT bytes, messages FROM usage"
	    " WHERE id = 1", error_r)) == NULL)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		int64_t b = sqlite3_column_int64(s, 0);
		int64_t m = sqlite3_column_int64(s, 1);

		*bytes_r = b > 0 ? (uint64_t)b : 0;
		*messages_r = m > 0 ? (uint64_t)m : 0;
	}
	sqlite3_reset(s);
	if (rc != SQLITE_ROW)
		return rc == SQLITE_DONE ? fail(ms, error_r, "no usage row") :
		    fail_db(ms, error_r);
	return 0;
}

int
mailstore_usage(struct mailstore *ms, uint64_t *bytes_r,
    uint64_t *messages_r, const char **error_r)
{
	uint64_t b = 0, m = 0;

	if (usage_get(ms, &b, &m, error_r) < 0)
		return -1;
	if (bytes_r != NULL)
		*bytes_r = b;
	if (messages_r != NULL)
		*messages_r = m;
	return 0;
}

void
mailstore_set_quota(struct mailstore *ms, uint64_t bytes)
{
	ms->quota_bytes = bytes;
}

int
mailstore_copy_multi(struct mailstore *ms, const char *from,
    const uint32_t *uids, size_t n, const char *to, bool move,
    uint32_t *new_uids, uint32_t *uidvalidity_r, const char **error_r)
{
	char cf[STORE_MAX_MAILBOX_NAME + 1], ct[STORE_MAX_MAILBOX_NAME + 1];
	sqlite3_stmt *s;
	int64_t src, dst;
	uint32_t uidnext, next, uidv;
	uint64_t dmod, smod = 0, bytes, msgs;
	size_t i;
	int rc, err = EIO;

	for (i = 0; i < n; i++)
		new_uids[i] = 0;
	if (mailbox_name_check(ms, from, cf, error_r) < 0 ||
	    mailbox_name_check(ms, to, ct, error_r) < 0) {
		errno = EINVAL;
		return -1;
	}
	if (exec(ms, "BEGIN IMMEDIATE", error_r) < 0)
		return -1;
	if ((src = mailbox_id_fast(ms, cf, error_r)) < 0 ||
	    (dst = mailbox_id_fast(ms, ct, error_r)) < 0)
		goto fail;
	if (dst == 0) {
		fail(ms, error_r, "no mailbox %s", ct);
		err = ENOENT;
		goto fail;
	}
	if ((s = prep(ms, "SELECT uidnext, highestmodseq, uidvalidity FROM"
	    " mailboxes WHERE id = ?1", error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, dst);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		uidnext = (uint32_t)sqlite3_column_int64(s, 0);
		dmod = (uint64_t)sqlite3_column_int64(s, 1) + 1;
		uidv = (uint32_t)sqlite3_column_int64(s, 2);
	}
	sqlite3_finalize(s);
	if (rc != SQLITE_ROW) {
		fail_db(ms, error_r);
		goto fail;
	}
	if (uidvalidity_r != NULL)
		*uidvalidity_r = uidv;
	if (src == 0 || n == 0) {
		store_db_rollback(ms->db);
		return 0;
	}
	if (move && src != dst) {
		if ((s = prep(ms, "SELECT highestmodseq FROM mailboxes"
		    " WHERE id = ?1", error_r)) == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, src);
		if ((rc = sqlite3_step(s)) == SQLITE_ROW)
			smod = (uint64_t)sqlite3_column_int64(s, 0) + 1;
		sqlite3_finalize(s);
		if (rc != SQLITE_ROW) {
			fail_db(ms, error_r);
			goto fail;
		}
	} else
		smod = dmod;
	next = uidnext;
	for (i = 0; i < n; i++) {
		if (next == UINT32_MAX) {
			/* XXX: a new UIDVALIDITY would be needed */
			fail(ms, error_r, "mailbox UIDs exhausted");
			goto fail;
		}
		/* MOVE keeps the row (and its text_id): only its place
		 * changes; COPY makes a row sharing file and index entry */
		s = move ? cached(ms, MS_ST_MOVE, "UPDATE messages SET"
		    " mailbox_id = ?3, uid = ?4, modseq = ?5 WHERE"
		    " mailbox_id = ?1 AND uid = ?2", error_r) :
		    cached(ms, MS_ST_COPY, "INSERT INTO messages (mailbox_id,"
		    " uid, blob, blob_offset, size, internal_date, flags,"
		    " keywords, modseq, text_id)"
		    " SELECT ?3, ?4, blob, blob_offset, size, internal_date,"
		    " flags, keywords, ?5, text_id FROM messages WHERE"
		    " mailbox_id = ?1 AND uid = ?2", error_r);
		if (s == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, src);
		sqlite3_bind_int64(s, 2, uids[i]);
		sqlite3_bind_int64(s, 3, dst);
		sqlite3_bind_int64(s, 4, next);
		sqlite3_bind_int64(s, 5, (sqlite3_int64)dmod);
		rc = sqlite3_step(s);
		sqlite3_reset(s);
		if (rc != SQLITE_DONE) {
			fail_db(ms, error_r);
			goto fail;
		}
		if (sqlite3_changes(ms->db) == 0)
			continue;	/* no such source message */
		if (!move && copy_cache(ms, src, uids[i],
		    sqlite3_last_insert_rowid(ms->db), error_r) < 0)
			goto fail;
		new_uids[i] = next++;
		if (move && log_expunged(ms, src, smod, uids[i], error_r) < 0)
			goto fail;
	}
	if (next == uidnext) {
		store_db_rollback(ms->db);
		return 0;
	}
	if (!move && ms->quota_bytes > 0) {
		if (usage_get(ms, &bytes, &msgs, error_r) < 0)
			goto fail;
		if (bytes > ms->quota_bytes) {
			fail(ms, error_r, "over quota");
			err = EDQUOT;
			goto fail;
		}
	}
	if ((s = prep(ms, "UPDATE mailboxes SET uidnext = ?2,"
	    " highestmodseq = ?3 WHERE id = ?1", error_r)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, dst);
	sqlite3_bind_int64(s, 2, next);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)dmod);
	if (step_done(ms, s, error_r) < 0)
		goto fail;
	if (move && src != dst) {
		if ((s = prep(ms, "UPDATE mailboxes SET highestmodseq = ?2"
		    " WHERE id = ?1", error_r)) == NULL)
			goto fail;
		sqlite3_bind_int64(s, 1, src);
		sqlite3_bind_int64(s, 2, (sqlite3_int64)smod);
		if (step_done(ms, s, error_r) < 0)
			goto fail;
	}
	if (exec(ms, "COMMIT", error_r) < 0)
		goto fail;
	changed(ms);
	return 0;
fail:
	store_db_rollback(ms->db);
	for (i = 0; i < n; i++)
		new_uids[i] = 0;
	errno = err;
	return -1;
}

/* ---- full-text index (SQLite FTS5, trigram tokenizer) ---- */

/*
 * The index keeps no positions (detail=none), so it only has to know which
 * trigrams a message holds, not how often or where.  Queries use only
 * trigrams without a separator (fts_term), so it is enough to index each
 * distinct word (maximal run of non-separator bytes) once: a trigram of a
 * term that holds no separator lies inside one word of any text holding
 * the term.  Folding maps no other character to a separator, so this holds
 * after folding too.  This halves the text to tokenize for ordinary mail
 * (tokenizing is the cost of indexing) and shrinks repetitive mail to
 * almost nothing.
 */
static bool
fts_separator(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* at most 4 MiB of table */
#define FTS_WORDS_MAX_SLOTS	(1u << 19)

/*
 * fts_distinct_words - the distinct words of p[0..len) into out, joined by
 * one space.  Past a load of 3/4 of the table the remaining words go out
 * as they are (a larger text, never a smaller trigram set).
 */
static void
fts_distinct_words(const uint8_t *p, size_t len, struct buf *out)
{
	struct slot {
		uint32_t	off, len;	/* len 0: empty */
	} *tab;
	size_t nslots = 64, used = 0, i = 0;

	while (nslots < len / 4 && nslots < FTS_WORDS_MAX_SLOTS)
		nslots <<= 1;
	tab = xcalloc(nslots, sizeof(*tab));
	while (i < len) {
		size_t start, wl, h;
		uint32_t fnv = 2166136261u;
		bool dup = false;

		while (i < len && fts_separator(p[i]))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && !fts_separator(p[i]))
			fnv = (fnv ^ p[i++]) * 16777619u;
		wl = i - start;
		if (len > UINT32_MAX || used >= nslots / 4 * 3) {
			dup = false;	/* table full: no more checks */
		} else {
			for (h = fnv & (nslots - 1); tab[h].len != 0;
			    h = (h + 1) & (nslots - 1)) {
				if (tab[h].len == wl && memcmp(p + tab[h].off,
				    p + start, wl) == 0) {
					dup = true;
					break;
				}
			}
			if (!dup) {
				tab[h].off = (uint32_t)start;
				tab[h].len = (uint32_t)wl;
				used++;
			}
		}
		if (dup)
			continue;
		/* out has room for all of p: these appends cannot fail */
		if ((out->len > 0 && buf_append_byte(out, ' ') < 0) ||
		    buf_append(out, p + start, wl) < 0)
			break;
	}
	free(tab);
}

/*
 * fts_index_message - extracts the searchable text of a stored message
 * (mime_text_extract over the very bytes IMAP SEARCH will read, prefix
 * included) and adds it to the index: *text_id_r is its rowid, or 0 when
 * the message cannot be parsed (then it is always a search candidate).
 * -1 only on a database error.
 */
static int
fts_index_message(struct mailstore *ms, const char *blob, uint64_t off,
    uint64_t size, int64_t *text_id_r, const char **error_r)
{
	long pagesize = sysconf(_SC_PAGESIZE);
	uint64_t start = off - off % (uint64_t)(pagesize > 0 ? pagesize : 4096);
	size_t maplen;
	struct buf h, b, hw, bw;
	sqlite3_stmt *s;
	char path[PATH_MAX];
	void *map;
	int fd, rc, r = 0;

	*text_id_r = 0;
	if (size == 0 || size > SIZE_MAX - (off - start))
		return 0;
	maplen = (size_t)(off - start + size);
	snprintf(path, sizeof(path), "%s/%s", ms->msgdir, blob);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	map = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, fd, (off_t)start);
	close(fd);
	if (map == MAP_FAILED)
		return 0;
	/* the ceilings SEARCH uses, so both see the same text */
	buf_init(&h, MIME_TEXT_MAX_HEADER);
	buf_init(&b, MIME_TEXT_MAX_BODY);
	if (mime_text_extract((const char *)map + (off - start), (size_t)size,
	    &h, &b) < 0)
		goto out;
	if ((s = cached(ms, MS_ST_FTS_INSERT, "INSERT INTO fts (header, body)"
	    " VALUES (?1, ?2)", error_r)) == NULL) {
		r = -1;
		goto out;
	}
	buf_init(&hw, h.len + 1);
	buf_init(&bw, b.len + 1);
	fts_distinct_words(h.data, h.len, &hw);
	fts_distinct_words(b.data, b.len, &bw);
	sqlite3_bind_text(s, 1, hw.len > 0 ? (const char *)hw.data : "",
	    (int)hw.len, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, bw.len > 0 ? (const char *)bw.data : "",
	    (int)bw.len, SQLITE_STATIC);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	buf_fini(&hw);
	buf_fini(&bw);
	if (rc != SQLITE_DONE) {
		r = fail_db(ms, error_r);
		goto out;
	}
	*text_id_r = sqlite3_last_insert_rowid(ms->db);
out:
	munmap(map, maplen);
	buf_fini(&h);
	buf_fini(&b);
	return r;
}

/* utf8_chars - code points in s[0..len), or -1 if not valid UTF-8 */
static long
utf8_chars(const uint8_t *s, size_t len)
{
	long n = 0;
	size_t i;

	if (!store_utf8_valid(s, len))
		return -1;
	for (i = 0; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/*
 * Code points that SEARCH folds (imap_search_fold) but SQLite's FTS5
 * folding does not (its tables predate Unicode 7): a term holding one
 * could miss a match in the index, so it does not narrow.  Found by
 * mailstore_imap_test.c:test_fts_superset, which checks every BMP code
 * point.
 */
static const struct {
	uint32_t	lo, hi;
} fts_fold_gaps[] = {
	{ 0x0528, 0x052f },	/* Cyrillic Supplement, Unicode 7.0 */
};

/* fts_fold_safe - false if s holds a code point of fts_fold_gaps */
static bool
fts_fold_safe(const uint8_t *s, size_t len)
{
	size_t i, k;

	for (i = 0; i < len; i++) {
		uint32_t c;

		/* U+0528..U+052F are two-byte sequences 0xd4 0xa8..0xaf;
		 * the decoding below is general for any table entry */
		if (s[i] < 0x80 || (s[i] & 0xc0) == 0x80)
			continue;
		if ((s[i] & 0xe0) == 0xc0 && i + 1 < len)
			c = ((uint32_t)(s[i] & 0x1f) << 6) | (s[i + 1] & 0x3f);
		else if ((s[i] & 0xf0) == 0xe0 && i + 2 < len)
			c = ((uint32_t)(s[i] & 0x0f) << 12) |
			    ((uint32_t)(s[i + 1] & 0x3f) << 6) |
			    (s[i + 2] & 0x3f);
		else
			continue;
		for (k = 0; k < sizeof(fts_fold_gaps) /
		    sizeof(fts_fold_gaps[0]); k++)
			if (c >= fts_fold_gaps[k].lo &&
			    c <= fts_fold_gaps[k].hi)
				return false;
	}
	return true;
}

/*
 * fts_term - one term as the AND of its trigrams ("abc" AND "bcd" ...,
 * each an FTS5 string with '"' doubled; those holding a separator left
 * out, see fts_distinct_words), appended to q.  Only the first
 * FTS_MAX_TERM characters count (a text holding the term holds its
 * prefix: still a superset).  false if the term cannot narrow: fewer than
 * 3 characters (no trigram), a NUL, not UTF-8, a character the two
 * foldings disagree on, no trigram without a separator; or if q is full
 * (fewer terms narrow less).
 */
#define FTS_MAX_TERM	64		/* characters */
static bool
fts_term(struct span t, struct buf *q)
{
	size_t at[FTS_MAX_TERM + 1], nc = 0, i, j, mark = q->len;
	bool any = false;

	if (t.len == 0 || memchr(t.p, '\0', t.len) != NULL ||
	    utf8_chars(t.p, t.len) < 3 || !fts_fold_safe(t.p, t.len))
		return false;
	/* where each character starts (t is valid UTF-8 here) */
	for (i = 0; i < t.len && nc <= FTS_MAX_TERM; i++)
		if ((t.p[i] & 0xc0) != 0x80)
			at[nc++] = i;
	if (nc <= FTS_MAX_TERM)
		at[nc] = t.len;		/* end of the last character */
	else
		nc = FTS_MAX_TERM;	/* at[nc] starts the first one cut */
	for (j = 0; j + 3 <= nc; j++) {
		/* the index holds words (fts_distinct_words): only
		 * trigrams inside one word can be asked for */
		for (i = at[j]; i < at[j + 3]; i++)
			if (fts_separator(t.p[i]))
				break;
		if (i < at[j + 3])
			continue;
		if ((q->len > 0 && buf_append_str(q, " AND ") < 0) ||
		    buf_append_byte(q, '"') < 0)
			goto full;
		for (i = at[j]; i < at[j + 3]; i++)
			if ((t.p[i] == '"' && buf_append_byte(q, '"') < 0) ||
			    buf_append_byte(q, t.p[i]) < 0)
				goto full;
		if (buf_append_byte(q, '"') < 0)
			goto full;
		any = true;
	}
	return any;	/* false: every trigram held a separator */
full:
	q->len = mark;
	if (q->data != NULL)
		q->data[q->len] = '\0';
	return false;
}

/*
 * fts_catch_up - indexes up to max messages of the mailbox that have no
 * index entry yet (stored before the index existed, or under a version-3
 * index), in one transaction; index messages_unindexed finds them (it is
 * empty once everything is indexed, so this costs one lookup then).
 * Best effort: on any failure the messages stay candidates.
 */
#define FTS_CATCH_UP_MAX	500
static void
fts_catch_up(struct mailstore *ms, const char *canon, int max)
{
	struct unindexed {
		int64_t		 rowid;
		char		*blob;
		uint64_t	 off, size;
	} *t;
	sqlite3_stmt *s;
	const char *err = NULL;
	size_t n = 0, i;
	int64_t text_id;
	int rc;

	if ((s = prep(ms, "SELECT id, blob, blob_offset, size FROM messages"
	    " WHERE mailbox_id = (SELECT id FROM mailboxes WHERE name = ?1)"
	    " AND text_id IS NULL LIMIT ?2", &err)) == NULL)
		return;
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 2, max);
	t = xcalloc((size_t)max, sizeof(*t));	/* LIMIT max rows */
	while (n < (size_t)max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		t[n].rowid = sqlite3_column_int64(s, 0);
		t[n].blob = xstrdup(column_str(s, 1) != NULL ?
		    column_str(s, 1) : "");
		t[n].off = (uint64_t)sqlite3_column_int64(s, 2);
		t[n].size = (uint64_t)sqlite3_column_int64(s, 3);
		n++;
	}
	sqlite3_finalize(s);
	if (n == 0 || exec(ms, "BEGIN IMMEDIATE", &err) < 0)
		goto out;
	for (i = 0; i < n; i++) {
		if (fts_index_message(ms, t[i].blob, t[i].off, t[i].size,
		    &text_id, &err) < 0 ||
		    (s = prep(ms, "UPDATE messages SET text_id = ?2 WHERE"
		    " id = ?1 AND text_id IS NULL", &err)) == NULL)
			goto rollback;
		sqlite3_bind_int64(s, 1, t[i].rowid);
		sqlite3_bind_int64(s, 2, text_id > 0 ? text_id : 0);
		if (step_done(ms, s, &err) < 0)
			goto rollback;
	}
	if (exec(ms, "COMMIT", &err) < 0)
		goto rollback;
	log_info("store fts user=%lld mailbox indexed=%zu", (long long)
	    ms->user_id, n);
	goto out;
rollback:
	store_db_rollback(ms->db);
	log_warn("store fts user=%lld catch-up failed: %s",
	    (long long)ms->user_id, err != NULL ? err : "?");
out:
	for (i = 0; i < n; i++)
		free(t[i].blob);
	free(t);
}

int
mailstore_fts_candidates(struct mailstore *ms, const char *mailbox,
    const struct span *terms, const bool *body_only, size_t nterms,
    uint32_t **uids_r, size_t *n_r, bool *narrowed_r, const char **error_r)
{
	char canon[STORE_MAX_MAILBOX_NAME + 1];
	struct buf q;
	sqlite3_stmt *s = NULL;
	uint32_t *uids = NULL;
	size_t n = 0, cap = 0, i;
	bool any = false;
	int64_t id;
	int rc;

	*uids_r = NULL;
	*n_r = 0;
	*narrowed_r = false;
	if (mailbox_name_check(ms, mailbox, canon, error_r) < 0)
		return -1;
	/* XXX: body_only does not narrow: the index keeps no columns
	 * (detail=none), so a BODY term also finds header-only matches */
	(void)body_only;
	buf_init(&q, 64 * 1024);
	for (i = 0; i < nterms; i++)
		if (fts_term(terms[i], &q))
			any = true;
	if (!any) {
		buf_fini(&q);
		if ((id = mailbox_id_fast(ms, canon, error_r)) < 0)
			return -1;
		if (id == 0)
			return fail(ms, error_r, "no mailbox %s", canon);
		return 0;	/* the caller scans everything */
	}
	fts_catch_up(ms, canon, FTS_CATCH_UP_MAX);
	/* a message without an index entry (not indexed yet, or
	 * unparsable) is always a candidate */
	if ((s = prep(ms, "SELECT uid FROM messages WHERE mailbox_id ="
	    " (SELECT id FROM mailboxes WHERE name = ?1) AND"
	    " (coalesce(text_id, 0) <= 0"
	    " OR text_id IN (SELECT rowid FROM fts WHERE fts MATCH ?2))"
	    " ORDER BY uid", error_r)) == NULL) {
		buf_fini(&q);
		return -1;
	}
	sqlite3_bind_text(s, 1, canon, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 2, buf_cstr(&q), (int)q.len, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			uids = xreallocarray(uids, cap, sizeof(*uids));
		}
		uids[n++] = (uint32_t)sqlite3_column_int64(s, 0);
	}
	if (rc != SQLITE_DONE) {
		/* whatever the index cannot answer (a query past an FTS5
		 * limit, a damaged index), a scan can: do not narrow */
		log_warn("store fts user=%lld: %s; scanning instead",
		    (long long)ms->user_id, sqlite3_errmsg(ms->db));
		sqlite3_finalize(s);
		buf_fini(&q);
		free(uids);
		return 0;
	}
	sqlite3_finalize(s);
	buf_fini(&q);
	if (n == 0) {
		if ((id = mailbox_id_fast(ms, canon, error_r)) < 0)
			return -1;
		if (id == 0)
			return fail(ms, error_r, "no mailbox %s", canon);
	}
	*uids_r = uids;
	*n_r = n;
	*narrowed_r = true;
	return 0;
}
