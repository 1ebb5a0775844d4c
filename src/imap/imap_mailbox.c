/*
 * imap_mailbox.c - the IMAP commands that work on mailboxes as a whole:
 * CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, NAMESPACE,
 * STATUS, GETQUOTA, GETQUOTAROOT, SETQUOTA.
 *
 * RFC 9051 sections 6.3.4-6.3.11, RFC 3501 6.3.3-6.3.10 (LSUB), RFC 5258
 * LIST-EXTENDED (selection and return options, CHILDINFO), RFC 5819
 * LIST-STATUS, RFC 6154 SPECIAL-USE (attributes, CREATE ... USE), RFC 2342
 * NAMESPACE, RFC 8438 STATUS=SIZE, RFC 7889 APPENDLIMIT, RFC 9208 QUOTA.
 *
 * Runs after login only.  Mailbox names come from the client: a name
 * about to be created is checked here (imap_mailbox_name_ok) on top of the
 * store's own checks, and names never become paths (the store keys
 * mailboxes by id).  LIST patterns are matched with a bounded dynamic
 * programme, not by backtracking, so "*%*%*..." costs O(pattern x name).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_session_int.h"
#include "imap/imap_recent.h"
#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"
#include "store/mailstore.h"

/* ---- names and patterns ---------------------------------------- */

bool
imap_mailbox_name_ok(const char *name, size_t len, const char **why_r)
{
	size_t i, levels = 1, level_len = 0;

	if (len == 0) {
		*why_r = "Empty mailbox name";
		return false;
	}
	if (len > STORE_MAX_MAILBOX_NAME) {
		*why_r = "Mailbox name too long";
		return false;
	}
	if (name[0] == '/') {
		*why_r = "Mailbox name starts with the delimiter";
		return false;
	}
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];

		if (ch < 0x20 || ch == 0x7f) {
			*why_r = "Control character in mailbox name";
			return false;
		}
		if (ch == '*' || ch == '%') {
			*why_r = "Wildcard in mailbox name";
			return false;
		}
		if (ch == '.' && i + 1 < len && name[i + 1] == '.') {
			*why_r = "\"..\" in mailbox name";
			return false;
		}
		if (ch == '/') {
			if (level_len == 0) {
				*why_r = "Empty level in mailbox name";
				return false;
			}
			if (++levels > IMAP_MAX_MAILBOX_LEVELS) {
				*why_r = "Mailbox hierarchy too deep";
				return false;
			}
			level_len = 0;
		} else {
			level_len++;
		}
	}
	if (level_len == 0) {
		*why_r = "Empty level in mailbox name";
		return false;
	}
	return true;
}

/* match - the DP over pattern p and name n (both NUL-free) */
static bool
match(const char *p, size_t plen, const char *n, size_t nlen, bool *row,
    bool *next)
{
	size_t i, j;

	/* row[j]: p[0..i) matches n[0..j) */
	row[0] = true;
	for (j = 1; j <= nlen; j++)
		row[j] = false;
	for (i = 0; i < plen; i++) {
		char pc = p[i];

		if (pc == '*' || pc == '%') {
			/* next[j] = row[k] for some k <= j with n[k..j)
			 * free of '/' when pc is '%' */
			bool run = false;

			for (j = 0; j <= nlen; j++) {
				if (pc == '%' && j > 0 && n[j - 1] == '/')
					run = false;
				run = run || row[j];
				next[j] = run;
			}
		} else {
			next[0] = false;
			for (j = 1; j <= nlen; j++)
				next[j] = row[j - 1] && n[j - 1] == pc;
		}
		memcpy(row, next, (nlen + 1) * sizeof(*row));
	}
	return row[nlen];
}

bool
imap_list_match(const char *pattern, size_t plen, const char *name)
{
	size_t nlen = strlen(name);
	bool stack_row[256], stack_next[256];
	bool *row = stack_row, *next = stack_next, ok;
	char *alt = NULL;

	if (nlen + 1 > sizeof(stack_row) / sizeof(stack_row[0])) {
		row = xcalloc(nlen + 1, sizeof(*row));
		next = xcalloc(nlen + 1, sizeof(*next));
	}
	ok = match(pattern, plen, name, nlen, row, next);
	/* INBOX is case-insensitive: "inbox/%" lists INBOX's children */
	if (!ok && strncmp(name, "INBOX", 5) == 0 &&
	    (name[5] == '\0' || name[5] == '/') && plen >= 5 &&
	    strncasecmp(pattern, "INBOX", 5) == 0) {
		alt = xstrndup(pattern, plen);
		memcpy(alt, "INBOX", 5);
		ok = match(alt, plen, name, nlen, row, next);
		free(alt);
	}
	if (row != stack_row) {
		free(row);
		free(next);
	}
	return ok;
}

/* ---- the mailbox tree ------------------------------------------ */

struct mbx {
	char			*name;		/* heap */
	bool			 exists;	/* else an implied parent */
	bool			 has_children;
	bool			 sub_child;	/* has a subscribed
						   descendant */
	enum mailstore_special	 special;
	bool			 subscribed;
	uint32_t		 messages, unseen, uidnext, uidvalidity;
	uint64_t		 highestmodseq, bytes;
};

struct mbx_list {
	struct mbx	*v;
	size_t		 n, cap;
};

static struct mbx *
mbx_add(struct mbx_list *l, const char *name, size_t len)
{
	struct mbx *m;

	if (l->n == l->cap) {
		l->cap = l->cap == 0 ? 32 : l->cap * 2;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	m = &l->v[l->n++];
	memset(m, 0, sizeof(*m));
	/* heap, not the command arena: an account may have many mailboxes */
	m->name = xstrndup(name, len);
	return m;
}

static void
collect_cb(void *ctx, const struct mailstore_mailbox *mb)
{
	struct mbx_list *l = ctx;
	struct mbx *m = mbx_add(l, mb->name, strlen(mb->name));

	m->exists = true;
	m->special = mb->special;
	m->subscribed = mb->subscribed;
	m->messages = mb->messages;
	m->unseen = mb->unseen;
	m->uidnext = mb->uidnext;
	m->uidvalidity = mb->uidvalidity;
	m->highestmodseq = mb->highestmodseq;
	m->bytes = mb->bytes;
}

static int
mbx_cmp(const void *a, const void *b)
{
	const struct mbx *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	/* equal names: the real mailbox first (it wins the dedupe) */
	if (r == 0)
		return (int)y->exists - (int)x->exists;
	return r;
}

static struct mbx *
mbx_find(struct mbx_list *l, const char *name)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = strcmp(l->v[mid].name, name);

		if (r == 0)
			return &l->v[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void
mbx_free(struct mbx_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

/*
 * mbx_collect - every mailbox of the account, plus the parents a name
 * implies but that do not exist, sorted by name, with the children
 * attributes filled.  0, or -1 with the result set on the call.
 */
static int
mbx_collect(struct imap_call *c, struct mailstore *ms, struct mbx_list *l)
{
	const char *err = NULL;
	size_t i, nreal, k;

	memset(l, 0, sizeof(*l));
	if (mailstore_mailbox_list(ms, collect_cb, l, &err) < 0) {
		log_warn("imap list failed sid=%s error=\"%s\"", c->s->sid,
		    err);
		mbx_free(l);
		imap_result(c, IMAP_RESULT_NO, "SERVERBUG",
		    "Cannot list mailboxes");
		return -1;
	}
	nreal = l->n;
	for (i = 0; i < nreal; i++) {
		const char *name = l->v[i].name;
		const char *p;

		for (p = strchr(name, '/'); p != NULL;
		    p = strchr(p + 1, '/'))
			(void)mbx_add(l, name, (size_t)(p - name));
	}
	if (l->n > 1)
		qsort(l->v, l->n, sizeof(*l->v), mbx_cmp);
	/* dedupe: the first of equal names is the real one, if any */
	for (i = 0, k = 0; i < l->n; i++) {
		if (k > 0 && strcmp(l->v[k - 1].name, l->v[i].name) == 0) {
			free(l->v[i].name);
			continue;
		}
		l->v[k++] = l->v[i];
	}
	l->n = k;
	for (i = 0; i < l->n; i++) {
		const char *name = l->v[i].name, *slash = strrchr(name, '/');
		bool sub = l->v[i].exists && l->v[i].subscribed;
		char *parent;

		if (slash == NULL)
			continue;
		parent = xstrndup(name, (size_t)(slash - name));
		for (;;) {
			struct mbx *pm = mbx_find(l, parent);
			char *ps;

			if (pm != NULL) {
				if (strlen(name) > strlen(pm->name) &&
				    strchr(name + strlen(pm->name) + 1, '/') ==
				    NULL)
					pm->has_children = true;
				if (sub)
					pm->sub_child = true;
			}
			if (!sub || (ps = strrchr(parent, '/')) == NULL)
				break;
			*ps = '\0';
		}
		free(parent);
	}
	return 0;
}

/* ---- CREATE, DELETE, RENAME, (UN)SUBSCRIBE --------------------- */

static enum mailstore_special
special_from_flag(struct span f, bool *ok_r)
{
	static const struct {
		const char		*name;
		enum mailstore_special	 v;
	} map[] = {
		{ "\\Sent", MAILSTORE_SPECIAL_SENT },
		{ "\\Drafts", MAILSTORE_SPECIAL_DRAFTS },
		{ "\\Junk", MAILSTORE_SPECIAL_JUNK },
		{ "\\Trash", MAILSTORE_SPECIAL_TRASH },
		{ "\\Archive", MAILSTORE_SPECIAL_ARCHIVE },
		{ "\\All", MAILSTORE_SPECIAL_ALL },
		{ "\\Flagged", MAILSTORE_SPECIAL_FLAGGED },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (span_eq_str_ci(f, map[i].name)) {
			*ok_r = true;
			return map[i].v;
		}
	}
	*ok_r = false;
	return MAILSTORE_SPECIAL_NONE;
}

/* mailbox_exists - 1, 0, or -1 with the result set */
static int
mailbox_exists(struct imap_call *c, struct mailstore *ms, const char *name)
{
	const char *err = NULL;
	int r = mailstore_mailbox_state(ms, name, NULL, NULL, NULL, &err);

	(void)c;
	if (r < 0) {
		/* an invalid name is simply not there */
		return 0;
	}
	return r;
}

/*
 * create_parents - RFC 9051 6.3.4: the superior names of a new mailbox
 * are created as needed.  0, or -1 with the result set.
 */
static int
create_parents(struct imap_call *c, struct mailstore *ms, const char *name)
{
	const char *p, *err = NULL;

	for (p = strchr(name, '/'); p != NULL; p = strchr(p + 1, '/')) {
		char *parent = arena_strndup(c->s->arena, name,
		    (size_t)(p - name));

		if (mailbox_exists(c, ms, parent) == 1)
			continue;
		if (mailstore_mailbox_create(ms, parent,
		    MAILSTORE_SPECIAL_NONE, &err) < 0) {
			imap_result(c, IMAP_RESULT_NO, "CANNOT",
			    "Cannot create parent mailbox");
			return -1;
		}
	}
	return 0;
}

enum imap_session_status
imap_cmd_create(struct imap_call *c)
{
	struct imap_command *cmd = c->cmd;
	const char *name = cmd->u.create.mbox.name, *why = NULL, *err = NULL;
	size_t len = cmd->u.create.mbox.len;
	enum mailstore_special special = MAILSTORE_SPECIAL_NONE;
	struct mailstore *ms;
	unsigned i;

	/* a trailing delimiter only says children will follow (6.3.4) */
	if (len > 1 && name[len - 1] == '/')
		name = arena_strndup(c->s->arena, name, --len);
	if (!imap_mailbox_name_ok(name, len, &why)) {
		imap_result(c, IMAP_RESULT_NO, "CANNOT", "%s", why);
		return IMAP_SESSION_OK;
	}
	for (i = 0; i < cmd->u.create.use.count; i++) {
		bool ok;

		special = special_from_flag(cmd->u.create.use.v[i], &ok);
		if (!ok || i > 0) {
			imap_result(c, IMAP_RESULT_NO, "USEATTR", "%s",
			    ok ? "Only one special use per mailbox" :
			    "Unsupported special-use attribute");
			return IMAP_SESSION_OK;
		}
	}
	if ((ms = imap_call_store(c)) == NULL)
		return IMAP_SESSION_OK;
	if (strcmp(name, "INBOX") == 0 || mailbox_exists(c, ms, name) == 1) {
		imap_result(c, IMAP_RESULT_NO, "ALREADYEXISTS",
		    "Mailbox already exists");
		return IMAP_SESSION_OK;
	}
	if (create_parents(c, ms, name) < 0)
		return IMAP_SESSION_OK;
	if (mailstore_mailbox_create(ms, name, special, &err) < 0) {
		log_info("imap create failed sid=%s error=\"%s\"", c->s->sid,
		    err);
		imap_result(c, IMAP_RESULT_NO, "CANNOT", "Cannot create "
		    "mailbox");
		return IMAP_SESSION_OK;
	}
	imap_result(c, IMAP_RESULT_OK, "", "CREATE completed");
	return IMAP_SESSION_OK;
}

enum imap_session_status
imap_cmd_delete(struct imap_call *c)
{
	const char *name = c->cmd->u.mbox.name, *err = NULL;
	struct mailstore *ms;

	if (strcmp(name, "INBOX") == 0) {
		imap_result(c, IMAP_RESULT_NO, "CANNOT",
		    "INBOX cannot be deleted");
		return IMAP_SESSION_OK;
	}
	if ((ms = imap_call_store(c)) == NULL)
		return IMAP_SESSION_OK;
	if (mailbox_exists(c, ms, name) != 1) {
		imap_result(c, IMAP_RESULT_NO, "NONEXISTENT",
		    "No such mailbox");
		return IMAP_SESSION_OK;
	}
	if (c->s->view != NULL &&
	    strcmp(imap_view_mailbox(c->s->view), name) == 0) {
		/* XXX: RFC 9051 lets a server delete the selected mailbox;
		 * the view would then answer from a mailbox that is gone */
		imap_result(c, IMAP_RESULT_NO, "INUSE",
		    "Mailbox is selected; close it first");
		return IMAP_SESSION_OK;
	}
	/*
	 * RFC 9051 6.3.5: a mailbox with inferior names may be deleted; its
	 * messages go and the name stays as a non-existent parent (LIST shows
	 * it \NonExistent \HasChildren).
	 */
	if (mailstore_mailbox_delete(ms, name, &err) < 0) {
		log_info("imap delete failed sid=%s error=\"%s\"", c->s->sid,
		    err);
		imap_result(c, IMAP_RESULT_NO, "CANNOT",
		    "Cannot delete mailbox");
		return IMAP_SESSION_OK;
	}
	imap_result(c, IMAP_RESULT_OK, "", "DELETE completed");
	return IMAP_SESSION_OK;
}

enum imap_session_status
imap_cmd_rename(struct imap_call *c)
{
	const char *from = c->cmd->u.rename.from.name;
	const char *to = c->cmd->u.rename.to.name, *why = NULL, *err = NULL;
	size_t flen = strlen(from), tlen = c->cmd->u.rename.to.len;
	struct mailstore *ms;
	char *new_sel = NULL;

	if (tlen > 1 && to[tlen - 1] == '/')
		to = arena_strndup(c->s->arena, to, --tlen);
	if (!imap_mailbox_name_ok(to, tlen, &why)) {
		imap_result(c, IMAP_RESULT_NO, "CANNOT", "%s", why);
		return IMAP_SESSION_OK;
	}
	if (tlen > flen && strncmp(to, from, flen) == 0 && to[flen] == '/') {
		imap_result(c, IMAP_RESULT_NO, "CANNOT",
		    "Cannot move a mailbox under itself");
		return IMAP_SESSION_OK;
	}
	if ((ms = imap_call_store(c)) == NULL)
		return IMAP_SESSION_OK;
	if (mailbox_exists(c, ms, from) != 1) {
		imap_result(c, IMAP_RESULT_NO, "NONEXISTENT",
		    "No such mailbox");
		return IMAP_SESSION_OK;
	}
	if (strcmp(to, "INBOX") == 0 || mailbox_exists(c, ms, to) == 1) {
		imap_result(c, IMAP_RESULT_NO, "ALREADYEXISTS",
		    "Target mailbox already exists");
		return IMAP_SESSION_OK;
	}
	/*
	 * The selected mailbox, or one of its parents, is renamed: the
	 * client hears of every pending change first, then the view follows
	 * the new name (INBOX itself stays: its messages leave it, and the
	 * view hears of that as expunges).
	 */
	if (c->s->view != NULL && strcmp(from, "INBOX") != 0) {
		const char *sel = imap_view_mailbox(c->s->view);

		if (strncmp(sel, from, flen) == 0 &&
		    (sel[flen] == '\0' || sel[flen] == '/')) {
			new_sel = arena_printf(c->s->arena, "%s%s", to,
			    sel + flen);
			if (imap_selected_sync(c) < 0) {
				c->res.text[0] = '\0';
				return IMAP_SESSION_CLOSE;
			}
		}
	}
	if (create_parents(c, ms, to) < 0)
		return IMAP_SESSION_OK;
	if (mailstore_mailbox_rename(ms, from, to, &err) < 0) {
		log_info("imap rename failed sid=%s error=\"%s\"", c->s->sid,
		    err);
		imap_result(c, IMAP_RESULT_NO, "CANNOT",
		    "Cannot rename mailbox");
		return IMAP_SESSION_OK;
	}
	if (new_sel != NULL) {
		imap_selected_renamed(c, ms, new_sel);
		if (c->s->flags & IMAP_F_CLOSE) {
			c->res.text[0] = '\0';
			return IMAP_SESSION_CLOSE;
		}
	}
	imap_result(c, IMAP_RESULT_OK, "", "RENAME completed");
	return IMAP_SESSION_OK;
}

enum imap_session_status
imap_cmd_subscribe(struct imap_call *c)
{
	bool on = c->cmd->name == IMAP_CMD_SUBSCRIBE;
	const char *name = c->cmd->u.mbox.name, *err = NULL;
	struct mailstore *ms;

	if ((ms = imap_call_store(c)) == NULL)
		return IMAP_SESSION_OK;
	/* XXX: the store keeps subscriptions on mailboxes, so a name that
	 * does not exist cannot be subscribed (RFC 9051 allows refusing) */
	if (mailbox_exists(c, ms, name) != 1) {
		imap_result(c, IMAP_RESULT_NO, "NONEXISTENT",
		    "No such mailbox");
		return IMAP_SESSION_OK;
	}
	if (mailstore_mailbox_subscribe(ms, name, on, &err) < 0) {
		imap_result(c, IMAP_RESULT_NO, "SERVERBUG", "Cannot %s",
		    on ? "subscribe" : "unsubscribe");
		return IMAP_SESSION_OK;
	}
	imap_result(c, IMAP_RESULT_OK, "", "%s completed",
	    on ? "SUBSCRIBE" : "UNSUBSCRIBE");
	return IMAP_SESSION_OK;
}

/* ---- STATUS ---------------------------------------------------- */

struct deleted_count {
	uint32_t	n;
};

static void
count_deleted(void *ctx, const struct mailstore_message *m)
{
	struct deleted_count *d = ctx;

	if (m->flags & MAILSTORE_F_DELETED)
		d->n++;
}

static void
count_none(void *ctx, const struct mailstore_message *m)
{
	(void)ctx;
	(void)m;
}

/*
 * status_recent - STATUS RECENT: the messages above the mailbox's \Recent
 * mark (imap_recent.h), which the next session to select it will get;
 * always 0 for IMAP4rev2.  0, or -1 on a store error.
 */
static int
status_recent(struct imap_call *c, struct mailstore *ms, const struct mbx *m,
    uint32_t *n_r)
{
	const char *err = NULL;
	uint32_t mark;
	int r;

	*n_r = 0;
	if (c->s->opts.rev2)
		return 0;
	mark = imap_recent_mark(c->s->user_id, m->uidvalidity);
	if (mark == 0) {
		*n_r = m->messages;
		return 0;
	}
	if (mark == UINT32_MAX)
		return 0;
	r = mailstore_message_list_range(ms, m->name, mark + 1, 0, 0,
	    count_none, NULL, &err);
	if (r < 0)
		return -1;
	*n_r = (uint32_t)r;
	return 0;
}

/* put_status_items - "(MESSAGES 3 UIDNEXT 4 ...)"; -1 on a store error */
static int
put_status_items(struct imap_call *c, struct mailstore *ms,
    const struct mbx *m, unsigned items)
{
	struct imap_session *s = c->s;
	char line[512];
	size_t n = 0;
	const char *err = NULL;

#define ITEM(...) do { \
	int w_ = snprintf(line + n, sizeof(line) - n, __VA_ARGS__); \
	if (w_ > 0 && (size_t)w_ < sizeof(line) - n) \
		n += (size_t)w_; \
} while (0)
	line[0] = '\0';
	if (items & IMAP_STATUS_F_MESSAGES)
		ITEM(" MESSAGES %u", m->messages);
	if (items & IMAP_STATUS_F_UIDNEXT)
		ITEM(" UIDNEXT %u", m->uidnext);
	if (items & IMAP_STATUS_F_UIDVALIDITY)
		ITEM(" UIDVALIDITY %u", m->uidvalidity);
	if (items & IMAP_STATUS_F_UNSEEN)
		ITEM(" UNSEEN %u", m->unseen);
	if (items & IMAP_STATUS_F_DELETED) {
		struct deleted_count d = { 0 };

		if (mailstore_message_list(ms, m->name, count_deleted, &d,
		    &err) < 0)
			return -1;
		ITEM(" DELETED %u", d.n);
	}
	if (items & IMAP_STATUS_F_SIZE)
		ITEM(" SIZE %llu", (unsigned long long)m->bytes);
	if (items & IMAP_STATUS_F_RECENT) {
		uint32_t recent;

		if (status_recent(c, ms, m, &recent) < 0)
			return -1;
		ITEM(" RECENT %u", recent);
	}
	if (items & IMAP_STATUS_F_HIGHESTMODSEQ)
		ITEM(" HIGHESTMODSEQ %llu",
		    (unsigned long long)m->highestmodseq);
	if (items & IMAP_STATUS_F_APPENDLIMIT)
		ITEM(" APPENDLIMIT %llu",
		    (unsigned long long)s->append_limit);
#undef ITEM
	imap_out_raw(s, c->out, "* STATUS ", 9);
	if (imap_put_mailbox(s, c->out, m->name) < 0)
		imap_put_quoted(s, c->out, m->name, strlen(m->name));
	imap_out(s, c->out, " (%s)", n > 0 ? line + 1 : "");
	return 0;
}

enum imap_session_status
imap_cmd_status(struct imap_call *c)
{
	struct mailstore *ms;
	struct mailstore_mailbox mb;
	struct mbx m;
	const char *err = NULL;
	unsigned items = c->cmd->u.status.items;
	int r;

	if (items & IMAP_STATUS_F_HIGHESTMODSEQ)
		c->s->opts.condstore = true;	/* RFC 7162 3.1 */
	if ((ms = imap_call_store(c)) == NULL)
		return IMAP_SESSION_OK;
	r = mailstore_mailbox_get(ms, c->cmd->u.status.mbox.name, &mb, &err);
	if (r != 1) {
		imap_result(c, IMAP_RESULT_NO, "NONEXISTENT",
		    "No such mailbox");
		return IMAP_SESSION_OK;
	}
	memset(&m, 0, sizeof(m));
	m.name = arena_strdup(c->s->arena, mb.name);	/* arena */
	m.exists = true;
	m.messages = mb.messages;
	m.unseen = mb.unseen;
	m.uidnext = mb.uidnext;
	m.uidvalidity = mb.uidvalidity;
	m.highestmodseq = mb.highestmodseq;
	m.bytes = mb.bytes;
	if (put_status_items(c, ms, &m, items) < 0) {
		imap_result(c, IMAP_RESULT_NO, "SERVERBUG",
		    "Cannot read mailbox");
		return IMAP_SESSION_OK;
	}
	imap_result(c, IMAP_RESULT_OK, "", "STATUS completed");
	return IMAP_SESSION_OK;
}

/* ---- LIST, LSUB, NAMESPACE ------------------------------------- */

/* canonical_pattern - reference and pattern joined (RFC 9051 6.3.9) */
static const char *
canonical_pattern(struct imap_call *c, const struct imap_mailbox *pat,
    size_t *len_r)
{
	const struct imap_mailbox *ref = &c->cmd->u.list.ref;
	char *p;

	if (ref->len == 0 || (pat->len > 0 && pat->name[0] == '/')) {
		*len_r = pat->len;
		return pat->name;
	}
	p = arena_alloc(c->s->arena, ref->len + pat->len + 1);
	memcpy(p, ref->name, ref->len);
	memcpy(p + ref->len, pat->name, pat->len);
	*len_r = ref->len + pat->len;
	return p;
}

static void
put_list_line(struct imap_call *c, const struct mbx *m, bool lsub,
    bool subscribed_attr, bool childinfo, bool noselect)
{
	struct imap_session *s = c->s;
	const struct imap_command *cmd = c->cmd;
	char attrs[128];
	size_t n = 0;
	const char *sp;
	bool extended = cmd->u.list.is_extended || s->opts.rev2;

#define ATTR(a) do { \
	int w_ = snprintf(attrs + n, sizeof(attrs) - n, "%s%s", \
	    n > 0 ? " " : "", (a)); \
	if (w_ > 0 && (size_t)w_ < sizeof(attrs) - n) \
		n += (size_t)w_; \
} while (0)
	attrs[0] = '\0';
	if (!m->exists) {
		if (extended && !lsub)
			ATTR("\\NonExistent");
		ATTR("\\Noselect");
	} else if (noselect) {
		ATTR("\\Noselect");
	}
	if (!lsub) {
		ATTR(m->has_children ? "\\HasChildren" : "\\HasNoChildren");
		if (subscribed_attr && m->exists && m->subscribed)
			ATTR("\\Subscribed");
		if (m->exists && (sp = mailstore_special_name(m->special)) !=
		    NULL)
			ATTR(sp);
	}
#undef ATTR
	{
		char head[160];
		int w = snprintf(head, sizeof(head), "* %s (%s) \"/\" ",
		    lsub ? "LSUB" : "LIST", attrs);

		imap_out_raw(s, c->out, head, (size_t)w);
	}
	if (imap_put_mailbox(s, c->out, m->name) < 0)
		imap_put_quoted(s, c->out, m->name, strlen(m->name));
	if (childinfo)
		imap_out_raw(s, c->out, " (\"CHILDINFO\" (\"SUBSCRIBED\"))",
		    29);
	imap_out_raw(s, c->out, "\r\n", 2);
}

struct list_pattern {
	const char	*p;
	size_t		 len;
};

static bool
matches_any(const struct list_pattern *pats, unsigned n, const char *name)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (imap_list_match(pats[i].p, pats[i].len, name))
			return true;
	return false;
}

/* sub_descendant_matches - a subscribed mailbox under name matches */
static bool
sub_descendant_matches(const struct mbx_list *l, const char *name,
    const struct list_pattern *pats, unsigned npats)
{
	size_t i, len = strlen(name);

	for (i = 0; i < l->n; i++) {
		const struct mbx *d = &l->v[i];

		if (d->exists && d->subscribed &&
		    strncmp(d->name, name, len) == 0 && d->name[len] == '/' &&
		    matches_any(pats, npats, d->name))
			return true;
	}
	return false;
}

enum imap_session_status
imap_cmd_list(struct imap_call *c)
{
	struct imap_session *s = c->s;
	const struct imap_command *cmd = c->cmd;
	bool lsub = cmd->name == IMAP_CMD_LSUB;
	unsigned sel = cmd->u.list.sel_flags, ret = cmd->u.list.ret_flags;
	bool want_sub = lsub || (sel & IMAP_LIST_SEL_F_SUBSCRIBED);
	bool recursive = (sel & IMAP_LIST_SEL_F_RECURSIVEMATCH) != 0;
	struct mailstore *ms;
	struct mbx_list l;
	struct list_pattern *pats;
	size_t i, pass;

	/* LIST "" "": the delimiter and the root (RFC 9051 6.3.9) */
	if (!lsub && cmd->u.list.npatterns == 1 &&
	    cmd->u.list.patterns[0].len == 0) {
		imap_out(s, c->out, "* LIST (\\Noselect) \"/\" \"\"");
		imap_result(c, IMAP_RESULT_OK, "", "LIST completed");
		return IMAP_SESSION_OK;
	}
	if ((ms = imap_call_store(c)) == NULL)
		return IMAP_SESSION_OK;
	pats = arena_alloc(s->arena, cmd->u.list.npatterns * sizeof(*pats));
	for (i = 0; i < cmd->u.list.npatterns; i++)
		pats[i].p = canonical_pattern(c, &cmd->u.list.patterns[i],
		    &pats[i].len);
	if (mbx_collect(c, ms, &l) < 0)
		return IMAP_SESSION_OK;
	/* INBOX first, then by name */
	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < l.n; i++) {
			const struct mbx *m = &l.v[i];
			bool is_inbox = strcmp(m->name, "INBOX") == 0;
			bool childinfo = false, noselect = false;

			if (is_inbox != (pass == 0))
				continue;
			if (!matches_any(pats, cmd->u.list.npatterns,
			    m->name))
				continue;
			if (sel & IMAP_LIST_SEL_F_SPECIAL_USE &&
			    (!m->exists ||
			    m->special == MAILSTORE_SPECIAL_NONE))
				continue;
			if (lsub && !(m->exists && m->subscribed)) {
				/* RFC 3501 6.3.9: "%" lists the parent of
				 * a subscribed mailbox it does not reach,
				 * \Noselect */
				if (!m->sub_child || sub_descendant_matches(&l,
				    m->name, pats, cmd->u.list.npatterns))
					continue;
				noselect = true;
			} else if (want_sub && !(m->exists && m->subscribed)) {
				/* RFC 5258 RECURSIVEMATCH: a parent of a
				 * subscribed mailbox, with CHILDINFO */
				if (!(recursive && m->sub_child))
					continue;
				childinfo = true;
			} else if (want_sub && recursive && m->sub_child) {
				childinfo = true;
			}
			put_list_line(c, m, lsub, want_sub ||
			    (ret & IMAP_LIST_RET_F_SUBSCRIBED), childinfo &&
			    !lsub, noselect);
			if (!lsub && (ret & IMAP_LIST_RET_F_STATUS) &&
			    m->exists && cmd->u.list.status_items != 0)
				(void)put_status_items(c, ms, m,
				    cmd->u.list.status_items);
		}
	}
	mbx_free(&l);
	imap_result(c, IMAP_RESULT_OK, "", "%s completed",
	    lsub ? "LSUB" : "LIST");
	return IMAP_SESSION_OK;
}

enum imap_session_status
imap_cmd_namespace(struct imap_call *c)
{
	imap_out(c->s, c->out, "* NAMESPACE ((\"\" \"/\")) NIL NIL");
	imap_result(c, IMAP_RESULT_OK, "", "NAMESPACE completed");
	return IMAP_SESSION_OK;
}

/* ---- QUOTA ---------------------------------------------------- */

/*
 * RFC 9208: one quota root, "", for the whole account, with the STORAGE
 * resource (units of 1024 octets) when the account has a limit; without
 * one the account has no quota root (section 4.3 allows that).  There is
 * no limit on the number of messages, so no MESSAGE resource.
 */
static int
put_quota(struct imap_call *c, struct mailstore *ms)
{
	uint64_t bytes = 0, msgs = 0;
	const char *err = NULL;

	if (mailstore_usage(ms, &bytes, &msgs, &err) < 0) {
		imap_result(c, IMAP_RESULT_NO, "SERVERBUG",
		    "Cannot read the usage");
		return -1;
	}
	imap_out(c->s, c->out, "* QUOTA \"\" (STORAGE %llu %llu)",
	    (unsigned long long)((bytes + 1023) / 1024),
	    (unsigned long long)(c->s->quota / 1024));
	return 0;
}

enum imap_session_status
imap_cmd_getquota(struct imap_call *c)
{
	struct mailstore *ms;

	if ((ms = imap_call_store(c)) == NULL)
		return IMAP_SESSION_OK;
	if (c->cmd->name == IMAP_CMD_GETQUOTA) {
		if (c->cmd->u.quota.root.len != 0 || c->s->quota == 0) {
			imap_result(c, IMAP_RESULT_NO, "NONEXISTENT",
			    "No such quota root");
			return IMAP_SESSION_OK;
		}
		if (put_quota(c, ms) == 0)
			imap_result(c, IMAP_RESULT_OK, "",
			    "GETQUOTA completed");
		return IMAP_SESSION_OK;
	}
	if (mailbox_exists(c, ms, c->cmd->u.mbox.name) != 1) {
		imap_result(c, IMAP_RESULT_NO, "NONEXISTENT",
		    "No such mailbox");
		return IMAP_SESSION_OK;
	}
	imap_out_raw(c->s, c->out, "* QUOTAROOT ", 12);
	if (imap_put_mailbox(c->s, c->out, c->cmd->u.mbox.name) < 0)
		imap_put_quoted(c->s, c->out, c->cmd->u.mbox.name,
		    c->cmd->u.mbox.len);
	if (c->s->quota == 0) {
		imap_out_raw(c->s, c->out, "\r\n", 2);
	} else {
		imap_out_raw(c->s, c->out, " \"\"\r\n", 5);
		if (put_quota(c, ms) < 0)
			return IMAP_SESSION_OK;
	}
	imap_result(c, IMAP_RESULT_OK, "", "GETQUOTAROOT completed");
	return IMAP_SESSION_OK;
}

enum imap_session_status
imap_cmd_setquota(struct imap_call *c)
{
	imap_result(c, IMAP_RESULT_NO, "NOPERM",
	    "Quotas are set by the administrator");
	return IMAP_SESSION_OK;
}
