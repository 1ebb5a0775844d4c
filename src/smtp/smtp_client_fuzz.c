/*
 * smtp_client_fuzz.c - libFuzzer target for the SMTP client engine: the
 * input is what a hostile server sends, fed to the engine with a fixed
 * set of messages to deliver.
 *
 * The first byte picks options (TLS available/required, small limits,
 * whether the handshake succeeds and ends inside start_tls, whether the
 * owner drains the output), the second a chunk size; the rest is the
 * server's bytes.  The connection ends with EOF or a timeout.  Checked:
 * every recipient of a started message gets exactly one outcome, then
 * one message_done; failed comes at most once and nothing follows it;
 * the engine always takes all input; the output is CRLF-framed commands
 * or dot-stuffed text (no line "." before the end of a message).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "smtp/smtp_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_MSGS		3

static const char *const fz_rcpts[FZ_MSGS][3] = {
	{ "a@y.test", "b@y.test", "c@y.test" },
	{ "d@y.test", NULL, NULL },
	{ "\xc3\xa9@y.test", "e@y.test", NULL },
};

/* texts: one with lines that need stuffing, one 8-bit, one empty */
static const char *const fz_bodies[FZ_MSGS] = {
	"Subject: x\r\n\r\n.\r\n..a\r\n.\r\nend",
	"Subject: \xc3\xa9\r\n\r\nb\r\n",
	"",
};

struct fz {
	struct smtp_client	*c;
	size_t			 next;
	bool			 in_msg;
	size_t			 nrcpts;
	int			 got[3];
	bool			 failed;
	bool			 tls_wait;
	bool			 tls_sync;
	bool			 tls_ok;
	const char		*body;
	size_t			 body_pos;
};

static void
fz_start_tls(void *ctx)
{
	struct fz *f = ctx;

	if (f->failed || f->tls_wait)
		abort();
	if (f->tls_sync)
		smtp_client_tls_done(f->c, f->tls_ok);
	else
		f->tls_wait = true;
}

static void
fz_ready(void *ctx)
{
	struct fz *f = ctx;
	struct smtp_client_msg m;
	size_t n;

	if (f->failed || f->in_msg || !smtp_client_is_ready(f->c))
		abort();
	while (f->next < FZ_MSGS) {
		size_t i = f->next++;

		for (n = 0; n < 3 && fz_rcpts[i][n] != NULL; n++)
			;
		memset(&m, 0, sizeof(m));
		m.mail_from = i == 1 ? "" : "s@x.test";
		m.rcpts = fz_rcpts[i];
		m.nrcpts = n;
		m.size = strlen(fz_bodies[i]) + (i == 2 ? 100000 : 0);
		m.is_8bit = i == 1;
		f->body = fz_bodies[i];
		f->body_pos = 0;
		f->in_msg = true;
		f->nrcpts = n;
		memset(f->got, 0, sizeof(f->got));
		if (smtp_client_send(f->c, &m) == 0)
			return;
		if (f->in_msg)
			abort();	/* decided at once: done was called */
	}
	smtp_client_quit(f->c);
}

static void
fz_rcpt(void *ctx, size_t i, const struct smtp_client_result *r)
{
	struct fz *f = ctx;

	if (f->failed || !f->in_msg || i >= f->nrcpts || f->got[i]++ != 0)
		abort();
	if (r->code < 200 || r->code > 599 || r->text == NULL ||
	    r->enh[0] != '0' + r->code / 100)
		abort();
}

static void
fz_done(void *ctx, const struct smtp_client_result *r)
{
	struct fz *f = ctx;
	size_t i;

	if (f->failed || !f->in_msg || r->text == NULL)
		abort();
	for (i = 0; i < f->nrcpts; i++)
		if (f->got[i] != 1)
			abort();
	f->in_msg = false;
}

static void
fz_failed(void *ctx, enum smtp_client_fail why,
    const struct smtp_client_result *r)
{
	struct fz *f = ctx;

	(void)why;
	if (f->failed || f->in_msg || r->text == NULL ||
	    !smtp_client_want_close(f->c))
		abort();
	f->failed = true;
}

static ssize_t
fz_read(void *ctx, void *p, size_t max)
{
	struct fz *f = ctx;
	size_t n = strlen(f->body + f->body_pos);

	if (n > 3)
		n = 3;		/* small reads: stuffing across chunks */
	if (n > max)
		n = max;
	memcpy(p, f->body + f->body_pos, n);
	f->body_pos += n;
	return (ssize_t)n;
}

static const struct smtp_client_ops fz_ops = {
	fz_start_tls, fz_ready, fz_rcpt, fz_done, fz_failed, fz_read,
};

/*
 * check_output - lines end in CRLF; outside a message text every line
 * is a command we know; a lone "." only ends a text.
 */
static void
check_output(struct buf *acc, bool *in_text)
{
	static const char *const verbs[] = { "EHLO ", "HELO ", "STARTTLS",
		"MAIL FROM:<", "RCPT TO:<", "DATA", "RSET", "QUIT", "." };
	size_t i = 0, j, n;

	for (;;) {
		const uint8_t *p = acc->data + i;
		const uint8_t *lf = memchr(p, '\n', acc->len - i);
		bool known = false;

		if (lf == NULL)
			break;
		n = (size_t)(lf - p) + 1;
		if (n < 2 || p[n - 2] != '\r' || memchr(p, '\r', n - 2))
			abort();
		if (*in_text) {
			if (n == 3 && p[0] == '.')
				*in_text = false;
		} else {
			for (j = 0; j < sizeof(verbs) / sizeof(verbs[0]); j++)
				if (strncmp((const char *)p, verbs[j],
				    strlen(verbs[j])) == 0)
					known = true;
			if (!known)
				abort();
			if (n == 6 && memcmp(p, "DATA", 4) == 0)
				*in_text = true;
		}
		i += n;
	}
	buf_consume(acc, i);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtp_client_config cfg;
	struct fz f;
	struct buf acc;
	size_t pos = 0, chunk;
	uint8_t opt;
	bool in_text = false;

	if (size < 2)
		return 0;
	log_set_level(LOG_LEVEL_ERROR);
	opt = data[0];
	memset(&cfg, 0, sizeof(cfg));
	cfg.helo_name = "client.test";
	cfg.peer_name = "fuzz";
	cfg.tls_available = opt & 0x01;
	cfg.tls_required = opt & 0x02;
	if (opt & 0x04) {
		cfg.max_reply_line = 40;
		cfg.max_reply_lines = 4;
		cfg.max_reply = 100;
	}
	memset(&f, 0, sizeof(f));
	f.tls_sync = opt & 0x08;
	f.tls_ok = opt & 0x10;
	chunk = 1 + data[1];
	data += 2;
	size -= 2;
	buf_init(&acc, 1u << 20);
	f.c = smtp_client_new(&cfg, &fz_ops, &f);
	while (pos < size) {
		size_t k = size - pos < chunk ? size - pos : chunk;
		struct buf *out;

		if (smtp_client_input(f.c, data + pos, k) != k)
			abort();
		pos += k;
		if (f.tls_wait) {
			f.tls_wait = false;
			smtp_client_tls_done(f.c, f.tls_ok);
		}
		out = smtp_client_output(f.c);
		while (out->len > 0) {
			if (buf_append(&acc, out->data, out->len) < 0)
				abort();
			buf_reset(out);
			check_output(&acc, &in_text);
			if (!(opt & 0x20))
				smtp_client_output_drained(f.c);
		}
	}
	if (opt & 0x40)
		smtp_client_timeout(f.c);
	smtp_client_closed(f.c);
	if (f.in_msg || !smtp_client_want_close(f.c))
		abort();
	smtp_client_free(&f.c);
	buf_fini(&acc);
	return 0;
}
