/*
 * queue_spool.c - the spool file codec: writing the envelope header and
 * recipient-state records, loading a spool file back (with torn-write
 * detection), and the offline CLI helpers queue_list / queue_delete.
 *
 * The format is described in docs/queue.md.  In short:
 *
 *   POSTINO-QUEUE 1 <qid>\n
 *   commit <size, 16 hex> <crc32, 8 hex>\n   ("-" placeholders until commit)
 *   arrival <ms>\n sender <addr>\n [client ..\n] [helo ..\n]
 *   [8bitmime\n] [smtputf8\n] rcpt <addr>\n ... \n
 *   <size bytes of message>
 *   state blocks: ("s <idx> <status> <attempts> <next> <error>\n" |
 *                  "a <addr>\n")* "c <crc32 of the block>\n"
 *
 * Input: spool files are written only by postino, but they are read with
 * limits and checked strictly, since a crash can leave any torn tail.
 */
#include "queue/queue_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/ascii.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/span.h"
#include "lib/strnum.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

static const char *const status_names[] = {
	[QUEUE_RCPT_PENDING] = "pending",
	[QUEUE_RCPT_DELIVERED] = "delivered",
	[QUEUE_RCPT_DEFERRED] = "deferred",
	[QUEUE_RCPT_FAILED] = "failed",
};

const char *
queue_rcpt_status_name(enum queue_rcpt_status s)
{
	if (s == QUEUE_RCPT_REMOTE)
		return "remote";	/* in memory only, never parsed */
	if ((unsigned)s >= sizeof(status_names) / sizeof(status_names[0]))
		return "unknown";
	return status_names[s];
}

static int
status_parse(struct span s, enum queue_rcpt_status *st_r)
{
	size_t i;

	for (i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++) {
		if (span_eq(s, span_from_str(status_names[i]))) {
			*st_r = (enum queue_rcpt_status)i;
			return 0;
		}
	}
	return -1;
}

int64_t
queue_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
queue_id_valid(const char *s)
{
	size_t i;

	for (i = 0; i < QUEUE_ID_LEN; i++) {
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return s[QUEUE_ID_LEN] == '\0';
}

void
queue_id_new(char out[QUEUE_ID_LEN + 1])
{
	random_hex(out, QUEUE_ID_LEN / 2);
}

/* A string fit for a header line: no CR, LF, bounded. */
static bool
field_ok(const char *s)
{
	size_t n = strnlen(s, QUEUE_MAX_ADDR + 1);

	return n <= QUEUE_MAX_ADDR && strpbrk(s, "\r\n") == NULL;
}

char *
queue_error_dup(const char *s)
{
	size_t i, n;
	char *out;

	if (s == NULL)
		return NULL;
	n = strnlen(s, QUEUE_MAX_ERROR);
	out = xmalloc(n + 1);
	for (i = 0; i < n; i++)
		out[i] = ascii_isprint((unsigned char)s[i]) ? s[i] : ' ';
	out[n] = '\0';
	return out;
}

size_t
queue_msg_add_rcpt(struct queue_msg *m, const char *addr)
{
	struct queue_rcpt *r;

	if (m->nrcpts == m->rcpts_cap) {
		m->rcpts_cap = m->rcpts_cap == 0 ? 4 : m->rcpts_cap * 2;
		m->rcpts = xreallocarray(m->rcpts, m->rcpts_cap,
		    sizeof(*m->rcpts));
	}
	r = &m->rcpts[m->nrcpts];
	memset(r, 0, sizeof(*r));
	r->addr = xstrdup(addr);
	r->status = QUEUE_RCPT_PENDING;
	return m->nrcpts++;
}

long
queue_msg_find_rcpt(const struct queue_msg *m, const char *addr)
{
	size_t i;

	for (i = 0; i < m->nrcpts; i++) {
		if (ascii_strcasecmp(m->rcpts[i].addr, addr) == 0)
			return (long)i;
	}
	return -1;
}

static struct queue_msg *
msg_alloc(const char *qid)
{
	struct queue_msg *m = xcalloc(1, sizeof(*m));

	memcpy(m->qid, qid, QUEUE_ID_LEN);
	m->qid[QUEUE_ID_LEN] = '\0';
	return m;
}

struct queue_msg *
queue_msg_new(const char *qid, int64_t arrival_ms,
    const struct queue_envelope *env, const char **error_r)
{
	struct queue_msg *m;
	size_t i;

	if (env->sender == NULL || !field_ok(env->sender) ||
	    (env->client_addr != NULL && !field_ok(env->client_addr)) ||
	    (env->helo != NULL && !field_ok(env->helo))) {
		*error_r = "unusable envelope string";
		return NULL;
	}
	if (env->nrcpts == 0 || env->nrcpts > QUEUE_MAX_RCPTS) {
		*error_r = "bad recipient count";
		return NULL;
	}
	for (i = 0; i < env->nrcpts; i++) {
		if (env->rcpts[i] == NULL || env->rcpts[i][0] == '\0' ||
		    !field_ok(env->rcpts[i])) {
			*error_r = "unusable recipient address";
			return NULL;
		}
	}
	m = msg_alloc(qid);
	m->sender = xstrdup(env->sender);
	m->client = env->client_addr != NULL ?
	    xstrdup(env->client_addr) : NULL;
	m->helo = env->helo != NULL ? xstrdup(env->helo) : NULL;
	m->body_8bit = env->body_8bit != 0;
	m->smtputf8 = env->smtputf8 != 0;
	m->flags = env->flags & (QUEUE_ENV_F_BOUNCE |
	    QUEUE_ENV_F_DOUBLE_BOUNCE | QUEUE_ENV_F_JUNK);
	m->arrival_ms = arrival_ms;
	for (i = 0; i < env->nrcpts; i++)
		(void)queue_msg_add_rcpt(m, env->rcpts[i]);
	return m;
}

void
queue_msg_free(struct queue_msg **mp)
{
	struct queue_msg *m = *mp;
	size_t i;

	if (m == NULL)
		return;
	*mp = NULL;
	for (i = 0; i < m->nrcpts; i++) {
		free(m->rcpts[i].addr);
		free(m->rcpts[i].last_error);
	}
	free(m->rcpts);
	free(m->dsn_qids);
	free(m->sender);
	free(m->client);
	free(m->helo);
	free(m);
}

int
queue_spool_header(struct buf *out, struct queue_msg *m)
{
	size_t start = out->len, i;
	int r = 0;

	r |= buf_printf(out, "%s%s\n", QUEUE_MAGIC, m->qid);
	r |= buf_printf(out, "commit ---------------- --------\n");
	r |= buf_printf(out, "arrival %" PRId64 "\n", m->arrival_ms);
	r |= buf_printf(out, "sender %s\n", m->sender);
	if (m->client != NULL)
		r |= buf_printf(out, "client %s\n", m->client);
	if (m->helo != NULL)
		r |= buf_printf(out, "helo %s\n", m->helo);
	if (m->body_8bit)
		r |= buf_append_str(out, "8bitmime\n");
	if (m->smtputf8)
		r |= buf_append_str(out, "smtputf8\n");
	if (m->flags & QUEUE_MSG_F_INJECTED)
		r |= buf_append_str(out, "injected\n");
	if (m->flags & QUEUE_ENV_F_BOUNCE)
		r |= buf_append_str(out, "bounce\n");
	if (m->flags & QUEUE_ENV_F_DOUBLE_BOUNCE)
		r |= buf_append_str(out, "double-bounce\n");
	if (m->flags & QUEUE_ENV_F_JUNK)
		r |= buf_append_str(out, "junk\n");
	for (i = 0; i < m->nrcpts && r == 0; i++)
		r |= buf_printf(out, "rcpt %s\n", m->rcpts[i].addr);
	r |= buf_append_str(out, "\n");
	if (r != 0 || out->len - start > QUEUE_MAX_ENVELOPE)
		return -1;
	m->body_offset = out->len - start;
	return 0;
}

void
queue_spool_commit_line(char *out, uint64_t size, uint32_t crc)
{
	snprintf(out, QUEUE_COMMIT_LINE_LEN + 1, "commit %016" PRIx64
	    " %08" PRIx32 "\n", size, crc);
}

int
queue_spool_block_rcpt(struct buf *out, size_t idx,
    const struct queue_rcpt *r)
{
	return buf_printf(out, "s %zu %s %u %lld %s\n", idx,
	    queue_rcpt_status_name(r->status), r->attempts,
	    (long long)r->next_attempt,
	    r->last_error != NULL ? r->last_error : "");
}

int
queue_spool_block_add(struct buf *out, const char *addr)
{
	return buf_printf(out, "a %s\n", addr);
}

int
queue_spool_block_bounced(struct buf *out, const char *dsn, size_t idx)
{
	return buf_printf(out, "b %s %zu\n", dsn, idx);
}

int
queue_spool_block_warned(struct buf *out, const char *dsn)
{
	return buf_printf(out, "w %s\n", dsn);
}

bool
queue_msg_has_dsn(const struct queue_msg *m, const char *dsn)
{
	size_t i;

	for (i = 0; i < m->ndsn; i++) {
		if (strcmp(m->dsn_qids[i], dsn) == 0)
			return true;
	}
	return false;
}

void
queue_msg_add_dsn(struct queue_msg *m, const char *dsn)
{
	if (queue_msg_has_dsn(m, dsn))
		return;
	/* a handful per message: grow one at a time */
	m->dsn_qids = xreallocarray(m->dsn_qids, m->ndsn + 1,
	    sizeof(*m->dsn_qids));
	memcpy(m->dsn_qids[m->ndsn], dsn, QUEUE_ID_LEN + 1);
	m->ndsn++;
}

int
queue_spool_block_end(struct buf *out, size_t start)
{
	uint32_t crc = (uint32_t)crc32(0L, out->data + start,
	    (uInt)(out->len - start));

	return buf_printf(out, "c %08" PRIx32 "\n", crc);
}

/* pread of exactly n bytes (fewer only at end of file). */
static ssize_t
pread_full(int fd, void *p, size_t n, off_t off)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = pread(fd, (char *)p + done, n - done,
		    off + (off_t)done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0)
			break;
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static int
hex_parse(struct span s, size_t digits, uint64_t *v_r)
{
	uint64_t v = 0;
	size_t i;

	if (s.len != digits)
		return -1;
	for (i = 0; i < s.len; i++) {
		uint8_t c = s.p[i];

		if (c >= '0' && c <= '9')
			v = v * 16 + (c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v * 16 + (c - 'a' + 10);
		else
			return -1;
	}
	*v_r = v;
	return 0;
}

static char *
span_dup(struct span s)
{
	return xstrndup((const char *)s.p, s.len);
}

/* Next '\n'-terminated line of data at *pos; false if there is none. */
static bool
next_line(struct span data, size_t *pos, struct span *line_r)
{
	struct span rest = span_make(data.p + *pos, data.len - *pos);
	long nl = span_find(rest, '\n');

	if (nl < 0)
		return false;
	*line_r = span_make(rest.p, (size_t)nl);
	*pos += (size_t)nl + 1;
	return true;
}

/* Splits "key rest" at the first blank; rest is empty if there is none. */
static struct span
line_key(struct span line, struct span *rest_r)
{
	struct span key;

	if (!span_split(line, ' ', &key, rest_r)) {
		*rest_r = span_make(line.p + line.len, 0);
		return line;
	}
	return key;
}

/*
 * parse_header - parses the envelope (after the commit line) into m.
 * Returns 1 when the blank line was found (body_offset set), 0 if the
 * data ends first, -1 if malformed.
 */
static int
parse_header(struct span data, struct queue_msg *m)
{
	size_t pos = QUEUE_PREFIX_LEN;
	struct span line, key, rest;
	bool have_arrival = false, have_sender = false;
	uint64_t v;

	while (next_line(data, &pos, &line)) {
		if (line.len == 0) {
			if (!have_arrival || !have_sender || m->nrcpts == 0)
				return -1;
			m->body_offset = pos;
			return 1;
		}
		if (span_has_nul(line) || span_find(line, '\r') >= 0 ||
		    line.len > QUEUE_MAX_ADDR + 16)
			return -1;
		key = line_key(line, &rest);
		if (span_eq(key, SPAN_LIT("arrival"))) {
			if (strnum_u64(rest, INT64_MAX, &v) < 0)
				return -1;
			m->arrival_ms = (int64_t)v;
			have_arrival = true;
		} else if (span_eq(key, SPAN_LIT("sender"))) {
			free(m->sender);
			m->sender = span_dup(rest);
			have_sender = true;
		} else if (span_eq(key, SPAN_LIT("client"))) {
			free(m->client);
			m->client = span_dup(rest);
		} else if (span_eq(key, SPAN_LIT("helo"))) {
			free(m->helo);
			m->helo = span_dup(rest);
		} else if (span_eq(key, SPAN_LIT("8bitmime"))) {
			m->body_8bit = true;
		} else if (span_eq(key, SPAN_LIT("smtputf8"))) {
			m->smtputf8 = true;
		} else if (span_eq(key, SPAN_LIT("injected"))) {
			m->flags |= QUEUE_MSG_F_INJECTED;
		} else if (span_eq(key, SPAN_LIT("bounce"))) {
			m->flags |= QUEUE_ENV_F_BOUNCE;
		} else if (span_eq(key, SPAN_LIT("double-bounce"))) {
			m->flags |= QUEUE_ENV_F_DOUBLE_BOUNCE;
		} else if (span_eq(key, SPAN_LIT("junk"))) {
			m->flags |= QUEUE_ENV_F_JUNK;
		} else if (span_eq(key, SPAN_LIT("rcpt"))) {
			char *a;

			if (rest.len == 0 || m->nrcpts >= QUEUE_MAX_RCPTS)
				return -1;
			a = span_dup(rest);
			(void)queue_msg_add_rcpt(m, a);
			free(a);
		}
		/* unknown keys are skipped: room for later fields */
	}
	return 0;
}

/*
 * state_line - checks (apply false) or applies one state record.  *count
 * is the number of recipients the block has seen so far.
 */
static int
state_line(struct queue_msg *m, struct span line, size_t *count,
    bool apply)
{
	struct span key, rest, f;
	uint64_t idx, attempts, next;
	enum queue_rcpt_status st;

	if (span_has_nul(line) || span_find(line, '\r') >= 0)
		return -1;
	key = line_key(line, &rest);
	if (span_eq(key, SPAN_LIT("a"))) {
		if (rest.len == 0 || rest.len > QUEUE_MAX_ADDR ||
		    *count >= QUEUE_MAX_RCPTS)
			return -1;
		if (apply) {
			char *a = span_dup(rest);
			size_t i = queue_msg_add_rcpt(m, a);

			free(a);
			ASSERT(i == *count);
		}
		(*count)++;
		return 0;
	}
	if (span_eq(key, SPAN_LIT("w")) || span_eq(key, SPAN_LIT("b"))) {
		char dsn[QUEUE_ID_LEN + 1];
		bool is_b = key.p[0] == 'b';

		if (!is_b)
			f = rest;
		else if (!span_split(rest, ' ', &f, &rest) ||
		    strnum_u64(rest, SIZE_MAX, &idx) < 0 || idx >= *count)
			return -1;
		if (f.len != QUEUE_ID_LEN)
			return -1;
		memcpy(dsn, f.p, QUEUE_ID_LEN);
		dsn[QUEUE_ID_LEN] = '\0';
		if (!queue_id_valid(dsn))
			return -1;
		if (apply) {
			queue_msg_add_dsn(m, dsn);
			if (is_b)
				m->rcpts[idx].reported = true;
			else
				m->warned = true;
		}
		return 0;
	}
	if (!span_eq(key, SPAN_LIT("s")))
		return -1;
	if (!span_split(rest, ' ', &f, &rest) ||
	    strnum_u64(f, SIZE_MAX, &idx) < 0 || idx >= *count)
		return -1;
	if (!span_split(rest, ' ', &f, &rest) || status_parse(f, &st) < 0)
		return -1;
	if (!span_split(rest, ' ', &f, &rest) ||
	    strnum_u64(f, UINT32_MAX, &attempts) < 0)
		return -1;
	if (!span_split(rest, ' ', &f, &rest) ||
	    strnum_u64(f, INT64_MAX, &next) < 0)
		return -1;
	if (rest.len > QUEUE_MAX_ERROR)
		return -1;
	if (apply) {
		struct queue_rcpt *r = &m->rcpts[idx];

		r->status = st;
		r->attempts = (unsigned)attempts;
		r->next_attempt = (time_t)next;
		free(r->last_error);
		r->last_error = rest.len > 0 ? span_dup(rest) : NULL;
	}
	return 0;
}

/*
 * parse_state - applies every complete, CRC-checked state block of data
 * to m.  Returns the number of bytes covered by good blocks; stops at the
 * first torn or bad one.  *nblocks_r counts the good blocks.
 */
static size_t
parse_state(struct span data, struct queue_msg *m, size_t *nblocks_r)
{
	size_t good = 0, pos = 0, start, count, p2;
	struct span line;

	*nblocks_r = 0;
	for (;;) {
		bool closed = false;

		start = pos;
		count = m->nrcpts;
		while (next_line(data, &pos, &line)) {
			if (line.len >= 2 && line.p[0] == 'c' &&
			    line.p[1] == ' ') {
				uint64_t want;
				uint32_t got;

				if (hex_parse(span_make(line.p + 2,
				    line.len - 2), 8, &want) < 0)
					return good;
				got = (uint32_t)crc32(0L, data.p + start,
				    (uInt)(line.p - (data.p + start)));
				if (got != want)
					return good;
				closed = true;
				break;
			}
			if (state_line(m, line, &count, false) < 0)
				return good;
		}
		if (!closed)
			return good;
		/* the block is whole: apply it */
		p2 = start;
		count = m->nrcpts;
		while (next_line(data, &p2, &line) && p2 < pos)
			(void)state_line(m, line, &count, true);
		good = pos;
		(*nblocks_r)++;
	}
}

/* read_head - the first n bytes of the file into b (fewer at its end). */
static int
read_head(int fd, struct buf *b, size_t n)
{
	ssize_t got;

	buf_reset(b);
	if (buf_reserve(b, n) == NULL)
		panic("queue: buf_reserve");
	got = pread_full(fd, b->data, n, 0);
	if (got < 0)
		return -1;
	b->len = (size_t)got;
	return 0;
}

static int
verify_crc(int fd, const struct queue_msg *m, uint32_t want)
{
	uint64_t off = QUEUE_PREFIX_LEN, end = m->body_offset + m->size;
	uLong crc = crc32(0L, Z_NULL, 0);
	static const size_t chunk = 64 * 1024;
	uint8_t *b = xmalloc(chunk);

	while (off < end) {
		size_t n = end - off < chunk ? (size_t)(end - off) : chunk;
		ssize_t r = pread_full(fd, b, n, (off_t)off);

		if (r != (ssize_t)n) {
			free(b);
			return -1;
		}
		crc = crc32(crc, b, (uInt)n);
		off += n;
	}
	free(b);
	return (uint32_t)crc == want ? 0 : -1;
}

int
queue_spool_load_fd(int fd, const char *qid, unsigned flags,
    struct queue_msg **m_r, const char **error_r)
{
	struct queue_msg *m;
	struct stat st;
	struct buf b;
	struct span line;
	uint64_t size, crc, fsize, state_len;
	size_t pos = 0, nblocks, good, want, limit;
	ssize_t got;
	int r;

	if (fstat(fd, &st) < 0) {
		*error_r = "cannot stat spool file";
		return -1;
	}
	fsize = (uint64_t)st.st_size;
	if (fsize < QUEUE_PREFIX_LEN)
		return 0;	/* crashed before the header was written */
	/* the envelope is read in growing pieces: most are small, and a
	 * large message's body need not be read to list it */
	limit = fsize < QUEUE_MAX_ENVELOPE + QUEUE_PREFIX_LEN ?
	    (size_t)fsize : QUEUE_MAX_ENVELOPE + QUEUE_PREFIX_LEN;
	want = limit < 16384 ? limit : 16384;
	buf_init(&b, limit + 1);
	if (read_head(fd, &b, want) < 0) {
		buf_fini(&b);
		*error_r = "cannot read spool file";
		return -1;
	}
	if (b.len < QUEUE_PREFIX_LEN) {
		buf_fini(&b);
		return 0;
	}
	/* magic line */
	(void)next_line(buf_span(&b), &pos, &line);
	if (pos != QUEUE_MAGIC_LINE_LEN ||
	    memcmp(b.data, QUEUE_MAGIC, sizeof(QUEUE_MAGIC) - 1) != 0) {
		buf_fini(&b);
		*error_r = "bad magic line";
		return -1;
	}
	if (memcmp(b.data + sizeof(QUEUE_MAGIC) - 1, qid, QUEUE_ID_LEN) != 0) {
		char other[QUEUE_ID_LEN + 1];

		memcpy(other, b.data + sizeof(QUEUE_MAGIC) - 1, QUEUE_ID_LEN);
		other[QUEUE_ID_LEN] = '\0';
		buf_fini(&b);
		if (queue_id_valid(other))
			return 0;	/* a recycled file of the pool */
		*error_r = "bad magic line";
		return -1;
	}
	/* commit line: placeholder means the commit never happened */
	line = span_make(b.data + QUEUE_MAGIC_LINE_LEN, QUEUE_COMMIT_LINE_LEN);
	if (memcmp(line.p, "commit ", 7) != 0 ||
	    line.p[QUEUE_COMMIT_LINE_LEN - 1] != '\n') {
		buf_fini(&b);
		*error_r = "bad commit line";
		return -1;
	}
	if (line.p[7] == '-') {
		buf_fini(&b);
		return 0;
	}
	if (hex_parse(span_make(line.p + 7, 16), 16, &size) < 0 ||
	    line.p[23] != ' ' ||
	    hex_parse(span_make(line.p + 24, 8), 8, &crc) < 0) {
		/* a torn commit line: the commit was never acknowledged */
		buf_fini(&b);
		return 0;
	}
	for (;;) {
		m = msg_alloc(qid);
		r = parse_header(buf_span(&b), m);
		if (r != 0 || b.len < want || want >= limit)
			break;
		queue_msg_free(&m);
		want = limit / 4 < want ? limit : want * 4;
		if (read_head(fd, &b, want) < 0) {
			buf_fini(&b);
			*error_r = "cannot read spool file";
			return -1;
		}
	}
	buf_fini(&b);
	if (r < 0) {
		queue_msg_free(&m);
		*error_r = "malformed envelope";
		return -1;
	}
	if (r == 0 || size > fsize || m->body_offset > fsize - size) {
		/* header or body cut short: torn before the group sync */
		queue_msg_free(&m);
		return 0;
	}
	m->size = size;

	/* recipient state records after the body */
	state_len = fsize - (m->body_offset + size);
	if (state_len > QUEUE_MAX_STATE) {
		queue_msg_free(&m);
		*error_r = "state records too large";
		return -1;
	}
	good = 0;
	nblocks = 0;
	if (state_len > 0) {
		buf_init(&b, (size_t)state_len + 1);
		if (buf_reserve(&b, (size_t)state_len) == NULL)
			panic("queue: buf_reserve");
		got = pread_full(fd, b.data, (size_t)state_len,
		    (off_t)(m->body_offset + size));
		if (got < 0) {
			buf_fini(&b);
			queue_msg_free(&m);
			*error_r = "cannot read state records";
			return -1;
		}
		b.len = (size_t)got;
		good = parse_state(buf_span(&b), m, &nblocks);
		buf_fini(&b);
	}
	/*
	 * A good state block is only ever written after the commit's group
	 * sync, so it proves the body durable; without one, check the CRC
	 * (a power loss during the commit can leave a committed-looking
	 * header over a torn body).
	 */
	if (nblocks == 0 && (flags & QUEUE_LOAD_F_VERIFY) != 0 &&
	    verify_crc(fd, m, (uint32_t)crc) < 0) {
		queue_msg_free(&m);
		return 0;
	}
	if (good < state_len && (flags & QUEUE_LOAD_F_REPAIR) != 0) {
		log_warn("queue repair qid=%s dropped_tail=%" PRIu64, qid,
		    state_len - good);
		if (ftruncate(fd, (off_t)(m->body_offset + size + good)) < 0)
			log_warn("queue repair qid=%s error=\"%s\"", qid,
			    strerror(errno));
	}
	*m_r = m;
	return 1;
}

int
queue_spool_load(int dirfd, const char *qid, unsigned flags,
    struct queue_msg **m_r, const char **error_r)
{
	int fd, r;

	fd = openat(dirfd, qid, ((flags & QUEUE_LOAD_F_REPAIR) != 0 ?
	    O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		*error_r = errno == ENOENT ? "no such message" :
		    "cannot open spool file";
		return -1;
	}
	r = queue_spool_load_fd(fd, qid, flags, m_r, error_r);
	close(fd);
	return r;
}

static int
cmp_msg(const void *a, const void *b)
{
	const struct queue_msg *x = *(struct queue_msg *const *)a;
	const struct queue_msg *y = *(struct queue_msg *const *)b;

	if (x->arrival_ms != y->arrival_ms)
		return x->arrival_ms < y->arrival_ms ? -1 : 1;
	return strcmp(x->qid, y->qid);
}

int
queue_list(const char *dir, queue_list_fn *fn, void *ctx,
    const char **error_r)
{
	struct queue_msg **msgs = NULL, *m;
	struct queue_info_rcpt *ir;
	struct queue_info info;
	struct dirent *de;
	size_t n = 0, cap = 0, i, j;
	int dirfd;
	DIR *d;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0 || (d = fdopendir(dirfd)) == NULL) {
		if (dirfd >= 0)
			close(dirfd);
		*error_r = "cannot open queue directory";
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		const char *err;

		if (!queue_id_valid(de->d_name))
			continue;
		m = NULL;
		if (queue_spool_load(dirfd, de->d_name, 0, &m, &err) <= 0)
			continue;	/* being written, or just removed */
		if (n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			msgs = xreallocarray(msgs, cap, sizeof(*msgs));
		}
		msgs[n++] = m;
	}
	closedir(d);
	if (n > 0)
		qsort(msgs, n, sizeof(*msgs), cmp_msg);
	for (i = 0; i < n; i++) {
		m = msgs[i];
		ir = xcalloc(m->nrcpts, sizeof(*ir));
		for (j = 0; j < m->nrcpts; j++) {
			ir[j].addr = m->rcpts[j].addr;
			ir[j].status = m->rcpts[j].status;
			ir[j].attempts = m->rcpts[j].attempts;
			ir[j].next_attempt = m->rcpts[j].next_attempt;
			ir[j].last_error = m->rcpts[j].last_error;
		}
		info.qid = m->qid;
		info.sender = m->sender;
		info.arrival = (time_t)(m->arrival_ms / 1000);
		info.size = m->size;
		info.rcpts = ir;
		info.nrcpts = m->nrcpts;
		fn(ctx, &info);
		free(ir);
		queue_msg_free(&msgs[i]);
	}
	free(msgs);
	return 0;
}

int
queue_delete(const char *dir, const char *qid, const char **error_r)
{
	int dirfd;

	if (!queue_id_valid(qid)) {
		*error_r = "no such message";
		return -1;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		*error_r = "cannot open queue directory";
		return -1;
	}
	if (unlinkat(dirfd, qid, 0) < 0) {
		*error_r = errno == ENOENT ? "no such message" :
		    "cannot remove spool file";
		close(dirfd);
		return -1;
	}
	/* make the removal durable, so the message cannot come back */
	if (fsync(dirfd) < 0)
		log_warn("queue delete qid=%s fsync=\"%s\"", qid,
		    strerror(errno));
	close(dirfd);
	log_info("queue delete qid=%s", qid);
	return 0;
}
