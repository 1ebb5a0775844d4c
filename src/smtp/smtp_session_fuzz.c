/*
 * smtp_session_fuzz.c - libFuzzer target for the whole SMTP session, with
 * fake ops that complete every request synchronously.
 *
 * The first byte picks small limits and options, the second a chunk size
 * and whether requests complete inside the op or later (from the "event
 * loop", between input calls); the rest is what the client sends.  Every
 * reply must be a well-formed SMTP reply line, and the session must take
 * all input unless a request is out or it closed.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "smtp/smtp_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum fz_pending { FZ_NONE, FZ_RCPT_OK, FZ_RCPT_BAD, FZ_END, FZ_LINES };

struct fz {
	size_t			 stored;
	int			 open;
	bool			 defer;
	enum fz_pending		 pending;
	struct smtp_session	*s;
};

static void
fz_complete(struct fz *f)
{
	static const char *const lines[2] = { "first", "second" };
	enum fz_pending p = f->pending;

	f->pending = FZ_NONE;
	switch (p) {
	case FZ_NONE:
		abort();
	case FZ_RCPT_OK:
		smtp_session_rcpt_done(f->s, 250, "2.1.5", "OK");
		break;
	case FZ_RCPT_BAD:
		smtp_session_rcpt_done(f->s, 550, "5.1.1", "unknown");
		break;
	case FZ_END:
		if (!f->open)
			abort();
		f->open = 0;
		smtp_session_data_done(f->s, 250, "2.0.0", "queued");
		break;
	case FZ_LINES:
		smtp_session_lines_done(f->s, 250, "2.1.5", lines, 2);
		break;
	}
}

static void
fz_request(struct fz *f, struct smtp_session *s, enum fz_pending p)
{
	if (f->pending != FZ_NONE || s != f->s)
		abort();
	f->pending = p;
	if (!f->defer)
		fz_complete(f);
}

static void
fz_rcpt(void *ctx, struct smtp_session *s, const char *addr)
{
	fz_request(ctx, s, addr[0] == 'b' ? FZ_RCPT_BAD : FZ_RCPT_OK);
}

static int
fz_begin(void *ctx, const struct smtp_envelope *env, char qid[64],
    int *code_r, const char **enh_r, const char **text_r)
{
	struct fz *f = ctx;

	if (env->nrcpts == 0 || env->helo == NULL || env->mail_from == NULL)
		abort();
	if (env->mail_from[0] == 'f') {
		*code_r = 451;
		*enh_r = "4.3.0";
		*text_r = "no";
		return -1;
	}
	if (f->open)
		abort();
	f->open = 1;
	memcpy(qid, "FUZZ", 5);
	return 0;
}

static int
fz_write(void *ctx, const void *p, size_t n)
{
	struct fz *f = ctx;

	(void)p;
	if (!f->open)
		abort();
	f->stored += n;
	return 0;
}

static void
fz_end(void *ctx, struct smtp_session *s)
{
	struct fz *f = ctx;

	if (!f->open)
		abort();
	fz_request(f, s, FZ_END);
}

static void
fz_abort(void *ctx)
{
	struct fz *f = ctx;

	if (!f->open)
		abort();
	f->open = 0;
}

static void
fz_lines(void *ctx, struct smtp_session *s, const char *arg)
{
	(void)arg;
	fz_request(ctx, s, FZ_LINES);
}

/* fz_mail - the MAIL notice: a sender the parser accepted, and a HELO */
static void
fz_mail(void *ctx, struct smtp_session *s, const char *helo,
    const char *addr)
{
	(void)ctx;
	(void)s;
	if (helo == NULL || addr == NULL || strlen(addr) > 4096)
		abort();
}

static const struct smtp_session_ops fz_ops = {
	fz_rcpt, fz_begin, fz_write, fz_end, fz_abort, fz_lines, fz_lines,
	fz_mail,
};

/* check_output - every line is "ddd[ -]text\r\n" */
static void
check_output(const struct buf *out)
{
	size_t i = 0;

	while (i < out->len) {
		const uint8_t *p = out->data + i;
		const uint8_t *lf = memchr(p, '\n', out->len - i);
		size_t n;

		if (lf == NULL)
			abort();
		n = (size_t)(lf - p) + 1;
		if (n < 6 || n > 512 || p[n - 2] != '\r' ||
		    p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' ||
		    p[2] < '0' || p[2] > '9' || (p[3] != ' ' && p[3] != '-'))
			abort();
		if (memchr(p, '\r', n - 2) != NULL || memchr(p, 0, n) != NULL)
			abort();
		i += n;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_session_config cfg;
	struct smtp_peer peer = { "fuzz", "192.0.2.1", NULL, false };
	struct smtp_session *s;
	struct fz f;
	size_t pos = 0, chunk;

	if (size < 2)
		return 0;
	log_set_level(LOG_LEVEL_ERROR);
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "mx.fuzz";
	cfg.max_message_size = 64 + (data[0] & 3) * 1000;
	cfg.max_rcpts = 1 + (data[0] >> 2 & 3);
	cfg.max_errors = 1 + (data[0] >> 4 & 3) * 4;
	cfg.max_received = 2;
	cfg.max_cmd_line = (data[0] & 0x40) ? 64 : 512;
	cfg.max_text_line = (data[0] & 0x40) ? 40 : 1000;
	cfg.vrfy_enabled = cfg.expn_enabled = data[0] & 0x80;
	cfg.tls_available = data[0] & 1;
	memset(&f, 0, sizeof(f));
	f.defer = data[1] & 0x80;
	chunk = 1 + (data[1] & 0x7f);
	data += 2;
	size -= 2;
	s = f.s = smtp_session_new(&cfg, &fz_ops, &f, &peer);
	smtp_session_start(s);
	while (pos < size) {
		size_t k = size - pos < chunk ? size - pos : chunk;
		size_t used = smtp_session_input(s, data + pos, k);

		if (used > k || smtp_session_is_pending(s) !=
		    (f.pending != FZ_NONE))
			abort();
		check_output(smtp_session_output(s));
		buf_reset(smtp_session_output(s));
		pos += used;
		if (f.pending != FZ_NONE) {
			fz_complete(&f);	/* the "event loop" */
			if (smtp_session_is_pending(s))
				abort();
			continue;
		}
		if (used < k) {
			if (!smtp_session_want_close(s))
				abort();
			break;
		}
	}
	if (data[-1] & 1)
		smtp_session_timeout(s);
	if (f.pending != FZ_NONE)
		fz_complete(&f);	/* a late answer after the timeout */
	check_output(smtp_session_output(s));
	smtp_session_free(&s);
	if (f.open)
		abort();	/* freeing must abort an open message */
	return 0;
}
