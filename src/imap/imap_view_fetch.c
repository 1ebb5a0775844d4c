/*
 * imap_view_fetch.c - FETCH and UID FETCH in the selected mailbox (RFC
 * 9051 6.4.5, RFC 7162 3.1.4 CHANGEDSINCE and 3.2.6 VANISHED): walks the
 * requested messages in chunks of the store listing (one query per chunk,
 * the cached ENVELOPE/BODYSTRUCTURE/BODY included when asked for), maps a
 * message file only when a section needs the bytes, sets \Seen for
 * non-PEEK body items in one store transaction up front, and pauses when
 * the output passes IMAP_SESSION_OUT_HIGH.  Rendering is imap_fetch.c's.
 *
 * Message bytes are untrusted (imap_fetch_render parses them).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "imap/imap_fetch.h"
#include "imap/imap_session.h"
#include "imap/imap_view_int.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

/* Messages listed per store query; grows when they render small. */
#define VIEW_FETCH_CHUNK_MIN	32u
#define VIEW_FETCH_CHUNK_MAX	4096u

int
view_map_message(const struct mailstore_message *m, struct view_mapping *mp,
    const char **error_r)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t start;
	void *p;
	int fd;

	memset(mp, 0, sizeof(*mp));
	if (m->size == 0) {
		mp->data = span_make("", 0);
		return 0;
	}
	if (m->size > SIZE_MAX / 2) {
		*error_r = "message too big";
		return -1;
	}
	if ((fd = open(m->path, O_RDONLY | O_CLOEXEC)) < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	start = m->offset - m->offset % (uint64_t)page;
	mp->len = (size_t)(m->offset - start + m->size);
	p = mmap(NULL, mp->len, PROT_READ, MAP_PRIVATE, fd, (off_t)start);
	close(fd);
	if (p == MAP_FAILED) {
		*error_r = strerror(errno);
		mp->len = 0;
		return -1;
	}
	mp->base = p;
	mp->data = span_make((const uint8_t *)p + (m->offset - start),
	    (size_t)m->size);
	return 0;
}

void
view_unmap_message(struct view_mapping *mp)
{
	if (mp->base != NULL)
		munmap(mp->base, mp->len);
	memset(mp, 0, sizeof(*mp));
}

struct fetch_ctx {
	struct imap_view		*v;
	const struct imap_view_opts	*o;
	const struct imap_command	*cmd;
	struct buf			*out;
	uint32_t			 last_seq;
	bool				 gap;		/* some not listed */
	unsigned			 rendered;
	bool				 stop;
	int				 failed;	/* -1 error, 1 CTE */
	const char			*error;
};

static bool
seen_has(const struct view_job *j, uint32_t uid)
{
	size_t lo = 0, hi = j->nseen;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (j->seen[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < j->nseen && j->seen[lo] == uid;
}

static void
fetch_cb(void *ctx, const struct vs_msg *vm)
{
	struct fetch_ctx *fc = ctx;
	const struct mailstore_message *m = vm->m;
	const struct imap_command *cmd = fc->cmd;
	struct imap_fetch_msg fm;
	struct imap_fetch_opts fo;
	struct view_mapping mp;
	const char *err = NULL;
	uint32_t seq;
	bool mapped = false;
	int r;

	if (fc->stop || fc->failed != 0)
		return;
	if ((seq = seqmap_seq(&fc->v->map, m->uid)) == 0)
		return;
	if (seq > fc->last_seq + 1)
		fc->gap = true;	/* the ones between went meanwhile */
	if (cmd->u.fetch.has_changedsince &&
	    m->modseq <= cmd->u.fetch.changedsince) {
		fc->last_seq = seq;
		return;
	}
	memset(&fm, 0, sizeof(fm));
	fm.seq = seq;
	fm.uid = m->uid;
	fm.flags = m->flags;
	fm.keywords = m->keywords != NULL ? m->keywords : "";
	fm.recent = view_is_recent(fc->v, m->uid);
	fm.internal_date = m->internal_date;
	fm.size = m->size;
	fm.modseq = m->modseq;
	fm.envelope = vm->envelope;
	fm.bodystructure = vm->bodystructure;
	fm.body = vm->body;
	memset(&fo, 0, sizeof(fo));
	fo.rev2 = fc->o->rev2;
	fo.utf8 = fc->o->utf8;
	fo.add_uid = cmd->is_uid;
	fo.add_flags = seen_has(&fc->v->job, m->uid);
	fo.add_modseq = cmd->u.fetch.has_changedsince ||
	    (fo.add_flags && view_condstore(fc->v, fc->o));
	if (imap_fetch_needs_data(cmd->u.fetch.atts, cmd->u.fetch.count,
	    &fm)) {
		if (view_map_message(m, &mp, &err) < 0) {
			/* gone under us (expunged elsewhere): skip it */
			log_info("imap fetch mailbox=%s uid=%u error=\"%s\"",
			    fc->v->mailbox, m->uid, err);
			fc->last_seq = seq;
			return;
		}
		mapped = true;
		fm.data = mp.data;
	}
	r = imap_fetch_render(fc->out, &fm, cmd->u.fetch.atts,
	    cmd->u.fetch.count, &fo, &err);
	if (mapped)
		view_unmap_message(&mp);
	if (r != 0) {
		fc->failed = r;
		fc->error = err;
		return;
	}
	fc->last_seq = seq;
	fc->rendered++;
	if (fc->out->len >= IMAP_SESSION_OUT_HIGH)
		fc->stop = true;
}

/* Does the command ask for what the store caches? */
static bool
wants_cache(const struct imap_command *cmd)
{
	unsigned i;

	for (i = 0; i < cmd->u.fetch.count; i++)
		switch (cmd->u.fetch.atts[i].type) {
		case IMAP_FETCH_ENVELOPE:
		case IMAP_FETCH_BODY:
		case IMAP_FETCH_BODYSTRUCTURE:
			return true;
		default:
			break;
		}
	return false;
}

static bool
wants_modseq(const struct imap_command *cmd)
{
	unsigned i;

	for (i = 0; i < cmd->u.fetch.count; i++)
		if (cmd->u.fetch.atts[i].type == IMAP_FETCH_MODSEQ)
			return true;
	return false;
}

int
view_fetch_run(struct imap_view *v, struct mailstore *ms,
    const struct imap_view_opts *o, struct buf *out, struct imap_result *res)
{
	struct view_job *j = &v->job;
	struct fetch_ctx fc;
	const char *err = NULL;

	while (j->ri < j->nranges) {
		struct seq_range *r = &j->ranges[j->ri];
		uint32_t lo = j->next_seq, hi, chunk;
		size_t before = out->len;

		if (lo < r->lo)
			lo = r->lo;
		/* aim at what fits below the mark, from the last chunk */
		chunk = VIEW_FETCH_CHUNK_MIN;
		if (j->avg > 0) {
			size_t per = j->avg;	/* bytes per message */
			size_t room = out->len < IMAP_SESSION_OUT_HIGH ?
			    IMAP_SESSION_OUT_HIGH - out->len : 0;

			chunk = (uint32_t)(room / per + 1);
			if (chunk < VIEW_FETCH_CHUNK_MIN)
				chunk = VIEW_FETCH_CHUNK_MIN;
			if (chunk > VIEW_FETCH_CHUNK_MAX)
				chunk = VIEW_FETCH_CHUNK_MAX;
		}
		hi = r->hi - lo + 1 > chunk ? lo + chunk - 1 : r->hi;
		memset(&fc, 0, sizeof(fc));
		fc.v = v;
		fc.o = o;
		fc.cmd = j->cmd;
		fc.out = out;
		fc.last_seq = lo - 1;
		if (vs_list_range(ms, v->mailbox, seqmap_uid(&v->map, lo),
		    seqmap_uid(&v->map, hi), j->cache, fetch_cb, &fc,
		    &err) < 0) {
			log_warn("imap fetch mailbox=%s error=\"%s\"",
			    v->mailbox, err);
			view_job_clear(j);
			view_result(res, IMAP_RESULT_NO, "SERVERBUG",
			    "FETCH failed");
			return 0;
		}
		if (fc.failed != 0) {
			view_job_clear(j);
			if (fc.failed == 1)
				view_result(res, IMAP_RESULT_NO, "UNKNOWN-CTE",
				    "%s", fc.error != NULL ? fc.error :
				    "Unknown content transfer encoding");
			else
				view_result(res, IMAP_RESULT_NO, "LIMIT",
				    "FETCH failed: %s", fc.error != NULL ?
				    fc.error : "response too big");
			return 0;
		}
		if (fc.rendered > 0) {
			j->avg = (size_t)((out->len - before) /
			    fc.rendered + 1);
		}
		if (fc.gap || (!fc.stop && fc.last_seq < hi))
			j->expunged = true;
		j->next_seq = fc.stop ? fc.last_seq + 1 : hi + 1;
		if (j->next_seq > r->hi) {
			j->ri++;
			if (j->ri < j->nranges)
				j->next_seq = j->ranges[j->ri].lo;
		}
		if (fc.stop && j->ri < j->nranges)
			return 1;
	}
	/*
	 * Messages another session expunged (not told yet: RFC 9051 7.5.1)
	 * are left out; RFC 5530's EXPUNGEISSUED hints at a NOOP.
	 */
	if (j->expunged)
		view_result(res, IMAP_RESULT_OK, "EXPUNGEISSUED",
		    "Some messages were expunged meanwhile");
	else
		view_result(res, IMAP_RESULT_OK, NULL, "FETCH completed");
	view_job_clear(j);
	return 0;
}

int
view_fetch_start(struct imap_view *v, struct mailstore *ms,
    const struct imap_command *cmd, const struct imap_view_opts *o,
    struct buf *out, struct imap_result *res)
{
	struct view_job *j = &v->job;
	struct seq_range *ranges;
	size_t nranges;
	const char *err = NULL;

	if (cmd->u.fetch.vanished && (!cmd->is_uid || !o->qresync ||
	    !cmd->u.fetch.has_changedsince)) {
		/* RFC 7162 3.2.6 */
		view_result(res, IMAP_RESULT_BAD, NULL, "VANISHED needs UID "
		    "FETCH, CHANGEDSINCE and QRESYNC enabled");
		return 0;
	}
	if (view_set_ranges(v, &cmd->u.fetch.set, cmd->is_uid, &ranges,
	    &nranges) == 0) {
		view_result(res, IMAP_RESULT_BAD, NULL,
		    "Invalid message sequence number");
		return 0;
	}
	if (cmd->u.fetch.has_changedsince || wants_modseq(cmd))
		v->condstore = true;	/* RFC 7162 3.1: implicit enable */
	view_job_clear(j);
	j->kind = VIEW_JOB_FETCH;
	j->cmd = cmd;
	j->ranges = ranges;
	j->nranges = nranges;
	j->next_seq = nranges > 0 ? ranges[0].lo : 0;
	j->cache = wants_cache(cmd);

	if (cmd->u.fetch.vanished) {
		struct seq_range *known;
		size_t nknown = 0, i;
		uint32_t max = v->known_uid;

		/* the UIDs the client asked about, not just the mapped */
		known = xcalloc(cmd->u.fetch.set.count + 1, sizeof(*known));
		for (i = 0; i < cmd->u.fetch.set.count && max > 0; i++) {
			uint32_t a = cmd->u.fetch.set.ranges[i].lo;
			uint32_t b = cmd->u.fetch.set.ranges[i].hi, t;

			a = a == 0 ? max : a;
			b = b == 0 ? max : b;
			if (a > b)
				t = a, a = b, b = t;
			if (a > max)
				continue;
			known[nknown].lo = a;
			known[nknown].hi = b > max ? max : b;
			nknown++;
		}
		if (nknown > 1) {
			/* view_put_vanished_earlier wants them sorted */
			size_t x, y;

			for (x = 1; x < nknown; x++)
				for (y = x; y > 0 &&
				    known[y - 1].lo > known[y].lo; y--) {
					struct seq_range tmp = known[y];

					known[y] = known[y - 1];
					known[y - 1] = tmp;
				}
		}
		if (view_put_vanished_earlier(v, ms,
		    cmd->u.fetch.changedsince, known, nknown, out,
		    &err) < 0) {
			free(known);
			view_job_clear(j);
			view_result(res, IMAP_RESULT_NO, "SERVERBUG",
			    "FETCH failed");
			return 0;
		}
		free(known);
	}

	if (!v->readonly && nranges > 0 &&
	    imap_fetch_sets_seen(cmd->u.fetch.atts, cmd->u.fetch.count)) {
		struct vs_flag_change *c;
		uint32_t *uids, uv, un;
		uint64_t h0 = 0, mine = 0;
		size_t n, k;

		uids = view_ranges_uids(v, ranges, nranges, &n);
		c = xcalloc(n + 1, sizeof(*c));
		for (k = 0; k < n; k++)
			c[k].uid = uids[k];
		if (vs_state(ms, v->mailbox, &uv, &un, &h0, &err) < 0 ||
		    vs_store_flags(ms, v->mailbox, c, n, VS_FLAGS_ADD,
		    MAILSTORE_F_SEEN, NULL, 0, &err) < 0) {
			log_warn("imap fetch mailbox=%s seen error=\"%s\"",
			    v->mailbox, err);
			vs_flag_changes_free(c, n);
			free(c);
			free(uids);
			view_job_clear(j);
			view_result(res, IMAP_RESULT_NO, "SERVERBUG",
			    "FETCH failed");
			return 0;
		}
		j->nseen = 0;
		for (k = 0; k < n; k++) {
			if (c[k].status != 1)
				continue;
			uids[j->nseen++] = c[k].uid;
			view_told_add(v, c[k].uid, c[k].modseq);
			mine = c[k].modseq;
		}
		if (mine != 0)
			view_own_change(v, ms, h0, mine);
		j->seen = uids;
		vs_flag_changes_free(c, n);
		free(c);
	}
	return view_fetch_run(v, ms, o, out, res);
}
