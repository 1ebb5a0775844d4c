/*
 * imap_append.c - APPEND (RFC 9051 6.3.12, RFC 3501 6.3.11) with
 * MULTIAPPEND (RFC 3502), APPENDUID (RFC 4315 UIDPLUS), APPENDLIMIT and
 * TOOBIG (RFC 7889), BINARY literal8 (RFC 3516) and UTF8 (RFC 6855).
 *
 * Runs after login only.  Messages up to the reader's literal_max arrive
 * inside the command text; bigger ones are streamed by the reader chunk
 * by chunk into an unlinked temporary file in DATA_DIR/tmp, so a 50 MiB
 * message never sits in memory.  The parse IMAP FETCH needs (ENVELOPE,
 * BODYSTRUCTURE, BODY) is computed here once, as local delivery does, and
 * cached with the message.  All messages of one command go to the store
 * in one batch, keywords and all, into exactly the named mailbox; if
 * any fails, the others are expunged again (RFC 3502: all or nothing).
 *
 * Messages are stored with CRLF line ends: a bare LF becomes CRLF as the
 * message is written (buffered or streamed), so the stored size is
 * RFC822.SIZE and BODY[] and its partial offsets, which FETCH serves with
 * CRLF, count the same octets.  A bare CR is left alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "imap/imap_session_int.h"
#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "mime/mime_imap.h"
#include "store/mailstore.h"

/* Ceiling of one cached structure string (as in delivery/local.c). */
#define APPEND_MAX_CACHED_PARSE	(4u * 1024 * 1024)

/* ---- streamed literals ----------------------------------------- */

void
imap_append_literal_begin(struct imap_session *s, unsigned index,
    uint64_t size)
{
	char *dir, *path;
	int fd;

	if (index >= s->nlits) {
		unsigned n = index + 1, i;

		s->lits = xreallocarray(s->lits, n, sizeof(*s->lits));
		for (i = s->nlits; i < n; i++)
			memset(&s->lits[i], 0, sizeof(s->lits[i]));
		for (i = s->nlits; i < n; i++)
			s->lits[i].fd = -1;
		s->nlits = n;
	}
	if (s->lits[index].fd >= 0)
		close(s->lits[index].fd);
	s->lits[index].fd = -1;
	s->lits[index].size = size;
	s->lits[index].written = 0;
	s->lits[index].last_cr = false;
	dir = xasprintf("%s/tmp", s->data_dir);
	if (!(s->flags & IMAP_F_TMPDIR)) {
		if (mkdir_p(dir, 0700) == 0)
			s->flags |= IMAP_F_TMPDIR;
	}
	path = xasprintf("%s/imap-append-XXXXXX", dir);
	fd = mkstemp(path);
	if (fd < 0) {
		log_warn("imap append: cannot create %s: %s", path,
		    strerror(errno));
	} else {
		/* nobody else needs the name; the file goes with the fd */
		(void)unlink(path);
		s->lits[index].fd = fd;
	}
	free(path);
	free(dir);
}

size_t
imap_append_crlf(const uint8_t *in, size_t len, bool *last_cr, uint8_t *out)
{
	size_t i, n = 0;
	bool cr = *last_cr;

	for (i = 0; i < len; i++) {
		if (in[i] == '\n' && !cr)
			out[n++] = '\r';
		out[n++] = in[i];
		cr = in[i] == '\r';
	}
	*last_cr = cr;
	return n;
}

void
imap_append_literal_data(struct imap_session *s, unsigned index,
    struct span data)
{
	struct imap_tmp_literal *l;
	uint8_t tmp[2 * 4096];

	if (index >= s->nlits || s->lits[index].fd < 0 || data.len == 0)
		return;
	l = &s->lits[index];
	while (data.len > 0) {
		size_t take = data.len < sizeof(tmp) / 2 ? data.len :
		    sizeof(tmp) / 2;
		size_t n = imap_append_crlf(data.p, take, &l->last_cr, tmp);

		if (write_all(l->fd, tmp, n) < 0) {
			log_warn("imap append: temporary file write failed: "
			    "%s", strerror(errno));
			close(l->fd);
			l->fd = -1;
			return;
		}
		l->written += n;
		data.p += take;
		data.len -= take;
	}
}

void
imap_append_literals_drop(struct imap_session *s)
{
	unsigned i;

	for (i = 0; i < s->nlits; i++) {
		if (s->lits[i].fd >= 0)
			close(s->lits[i].fd);
	}
	/* an idle session keeps nothing of a big MULTIAPPEND */
	free(s->lits);
	s->lits = NULL;
	s->nlits = 0;
}

/* ---- APPEND ---------------------------------------------------- */

/* datetime_to_time - the parsed date-time as seconds since the epoch */
static time_t
datetime_to_time(const struct imap_datetime *d)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = d->date.year - 1900;
	tm.tm_mon = d->date.month - 1;
	tm.tm_mday = d->date.day;
	tm.tm_hour = d->hour;
	tm.tm_min = d->min;
	tm.tm_sec = d->sec;
	return timegm(&tm) - (time_t)d->zone * 60;
}

/*
 * flags_split - system flags as bits, keywords as a space-separated
 * string (in the arena; NULL if none).  false with the response code
 * (CANNOT: a system flag we do not know; LIMIT: too many keywords).
 */
static bool
flags_split(struct imap_call *c, const struct imap_flags *f,
    unsigned *bits_r, char **keywords_r, const char **why_r)
{
	static const struct {
		const char	*name;
		unsigned	 bit;
	} sys[] = {
		{ "\\Seen", MAILSTORE_F_SEEN },
		{ "\\Answered", MAILSTORE_F_ANSWERED },
		{ "\\Flagged", MAILSTORE_F_FLAGGED },
		{ "\\Deleted", MAILSTORE_F_DELETED },
		{ "\\Draft", MAILSTORE_F_DRAFT },
	};
	struct buf kw;
	unsigned i;
	size_t j;

	*bits_r = 0;
	*keywords_r = NULL;
	buf_init(&kw, STORE_MAX_KEYWORDS);
	for (i = 0; i < f->count; i++) {
		struct span fl = f->v[i];

		if (fl.len > 0 && fl.p[0] == '\\') {
			for (j = 0; j < sizeof(sys) / sizeof(sys[0]); j++)
				if (span_eq_str_ci(fl, sys[j].name))
					break;
			if (j < sizeof(sys) / sizeof(sys[0])) {
				*bits_r |= sys[j].bit;
				continue;
			}
			if (span_eq_str_ci(fl, "\\Recent"))
				continue;	/* RFC 3501: not settable */
			buf_fini(&kw);
			*why_r = "CANNOT";
			return false;
		}
		if ((kw.len > 0 && buf_append_byte(&kw, ' ') < 0) ||
		    buf_append(&kw, fl.p, fl.len) < 0) {
			buf_fini(&kw);
			*why_r = "LIMIT";
			return false;
		}
	}
	if (kw.len > 0)
		*keywords_r = arena_strndup(c->s->arena, kw.data, kw.len);
	buf_fini(&kw);
	return true;
}

/* One message of the command, ready for the store. */
struct append_item {
	const struct imap_append_msg	*msg;
	char				*keywords;	/* arena */
	char				*envelope;	/* heap */
	char				*bodystructure;
	char				*body;
	uint8_t				*crlf;		/* heap: the data
							   with CRLF */
};

static char *
take_string(struct buf *b)
{
	char *r = NULL;

	if (b->len > 0 && memchr(b->data, '\0', b->len) == NULL)
		r = (char *)buf_steal(b, NULL);
	buf_fini(b);
	return r;
}

/* compute_cache - ENVELOPE/BODYSTRUCTURE/BODY of the bytes at data */
static void
compute_cache(struct append_item *it, const void *data, size_t len)
{
	struct buf env, bs, body;

	buf_init(&env, APPEND_MAX_CACHED_PARSE);
	buf_init(&bs, APPEND_MAX_CACHED_PARSE);
	buf_init(&body, APPEND_MAX_CACHED_PARSE);
	if (mime_imap_compute(data, len, &env, &bs, &body, NULL) == 0) {
		it->envelope = take_string(&env);
		it->bodystructure = take_string(&bs);
		it->body = take_string(&body);
	}
	buf_fini(&env);
	buf_fini(&bs);
	buf_fini(&body);
}

static void
compute_cache_fd(struct append_item *it, int fd, uint64_t size)
{
	void *map;

	if (size == 0 || size > SIZE_MAX)
		return;
	map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return;
	compute_cache(it, map, (size_t)size);
	munmap(map, (size_t)size);
}

/* uid_set - "5" or "5:7" or "5,9" for APPENDUID */
static void
uid_set(const struct mailstore_delivery *d, size_t n, char *out,
    size_t outsize)
{
	size_t i = 0, len = 0;

	out[0] = '\0';
	while (i < n && len < outsize) {
		size_t j = i;
		int w;

		while (j + 1 < n && d[j + 1].uid == d[j].uid + 1)
			j++;
		if (j == i)
			w = snprintf(out + len, outsize - len, "%s%u",
			    len > 0 ? "," : "", d[i].uid);
		else
			w = snprintf(out + len, outsize - len, "%s%u:%u",
			    len > 0 ? "," : "", d[i].uid, d[j].uid);
		if (w < 0)
			break;
		len += (size_t)w;
		i = j + 1;
	}
}

static void
items_free(struct append_item *it, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(it[i].envelope);
		free(it[i].bodystructure);
		free(it[i].body);
		free(it[i].crlf);
	}
	free(it);
}

enum imap_session_status
imap_cmd_append(struct imap_call *c)
{
	struct imap_session *s = c->s;
	const struct imap_command *cmd = c->cmd;
	const char *mbox = cmd->u.append.mbox.name, *why = NULL, *err = NULL;
	const struct imap_append_msg *m;
	struct mailstore_delivery *d = NULL;
	struct append_item *it = NULL;
	struct mailstore *ms;
	size_t n = cmd->u.append.count, i;
	char uids[256];
	bool failed = false, over_quota = false;

	if ((ms = imap_call_store(c)) == NULL)
		return IMAP_SESSION_OK;
	/* one row: the counts of mailstore_mailbox_get are not needed */
	if (mailstore_mailbox_state(ms, mbox, NULL, NULL, NULL, &err) != 1) {
		imap_result(c, IMAP_RESULT_NO, "TRYCREATE", "No such mailbox");
		return IMAP_SESSION_OK;
	}
	it = xcalloc(n, sizeof(*it));
	d = xcalloc(n, sizeof(*d));
	for (i = 0, m = cmd->u.append.msgs; i < n && m != NULL;
	    i++, m = m->next) {
		unsigned bits;

		it[i].msg = m;
		if (m->size > s->append_limit) {
			imap_result(c, IMAP_RESULT_NO, "TOOBIG",
			    "Message too big (limit %llu)",
			    (unsigned long long)s->append_limit);
			goto out;
		}
		if (m->size == 0) {
			imap_result(c, IMAP_RESULT_NO, "CANNOT",
			    "Empty message");
			goto out;
		}
		if (!flags_split(c, &m->flags, &bits, &it[i].keywords,
		    &why)) {
			imap_result(c, IMAP_RESULT_NO, why, "%s",
			    strcmp(why, "LIMIT") == 0 ? "Too many keywords" :
			    "Unknown system flag");
			goto out;
		}
		d[i].mailbox = mbox;
		d[i].exact_mailbox = true;	/* never INBOX instead */
		d[i].keywords = it[i].keywords;
		d[i].fd = -1;
		d[i].size = m->size;
		d[i].flags = bits;
		d[i].internal_date = m->has_date ? datetime_to_time(&m->date) :
		    0;
		if (m->is_streamed) {
			if (m->literal_index >= s->nlits ||
			    s->lits[m->literal_index].fd < 0) {
				imap_result(c, IMAP_RESULT_NO, "UNAVAILABLE",
				    "Cannot store the message now");
				goto out;
			}
			d[i].fd = s->lits[m->literal_index].fd;
			d[i].offset = 0;
			d[i].size = s->lits[m->literal_index].written;
			compute_cache_fd(&it[i], d[i].fd, d[i].size);
		} else if (memchr(m->data.p, '\n', m->data.len) != NULL) {
			bool cr = false;

			/* at most twice as long; bounded by literal_max */
			it[i].crlf = xreallocarray(NULL, 2, m->data.len);
			d[i].size = imap_append_crlf(m->data.p, m->data.len,
			    &cr, it[i].crlf);
			d[i].data = it[i].crlf;
			compute_cache(&it[i], d[i].data, d[i].size);
		} else {
			d[i].data = m->data.p;
			compute_cache(&it[i], m->data.p, m->data.len);
		}
		d[i].envelope = it[i].envelope;
		d[i].bodystructure = it[i].bodystructure;
		d[i].body = it[i].body;
	}
	n = i;
	if (mailstore_deliver(ms, d, n, &err) < 0) {
		/* nothing stored: say why, from the first refusal */
		for (i = 0; i < n; i++) {
			if (d[i].over_quota) {
				imap_result(c, IMAP_RESULT_NO, "OVERQUOTA",
				    "Mailbox is full");
				goto out;
			}
			if (d[i].error != NULL &&
			    strcmp(d[i].error, "no such mailbox") == 0) {
				imap_result(c, IMAP_RESULT_NO, "TRYCREATE",
				    "No such mailbox");
				goto out;
			}
			if (d[i].error != NULL &&
			    strcmp(d[i].error, "invalid keyword") == 0) {
				imap_result(c, IMAP_RESULT_NO, "CANNOT",
				    "Invalid keyword");
				goto out;
			}
		}
		log_warn("imap append failed sid=%s error=\"%s\"", s->sid, err);
		imap_result(c, IMAP_RESULT_NO, "SERVERBUG",
		    "Cannot store the message");
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (d[i].status == 0 && d[i].uid != 0)
			continue;
		failed = true;
		if (d[i].over_quota)
			over_quota = true;
		else if (d[i].error != NULL)
			why = d[i].error;
	}
	if (failed) {
		/* RFC 3502: none of them, then */
		uint32_t *v = xcalloc(n, sizeof(*v));
		size_t k = 0, gone = 0;

		for (i = 0; i < n; i++)
			if (d[i].status == 0 && d[i].uid != 0)
				v[k++] = d[i].uid;
		if (k > 0 && mailstore_expunge(ms, mbox, v, k, false, NULL,
		    &gone, &err) < 0)
			log_warn("imap append undo failed sid=%s", s->sid);
		free(v);
		if (over_quota)
			imap_result(c, IMAP_RESULT_NO, "OVERQUOTA",
			    "Mailbox is full");
		else if (why != NULL && strcmp(why, "no such mailbox") == 0)
			imap_result(c, IMAP_RESULT_NO, "TRYCREATE",
			    "No such mailbox");
		else if (why != NULL)
			imap_result(c, IMAP_RESULT_NO, "CANNOT",
			    "Cannot store the message: %s", why);
		else
			imap_result(c, IMAP_RESULT_NO, "SERVERBUG",
			    "Cannot store the message");
		goto out;
	}
	uid_set(d, n, uids, sizeof(uids));
	{
		char code[300];

		snprintf(code, sizeof(code), "APPENDUID %u %s",
		    d[0].uidvalidity, uids);
		imap_result(c, IMAP_RESULT_OK, code, "APPEND completed");
	}
out:
	items_free(it, n);
	free(d);
	return IMAP_SESSION_OK;
}
