/*
 * pop3_session_fuzz.c - libFuzzer target for the whole POP3 session with
 * fake ops, and for the byte stuffer.
 *
 * The first byte picks options (loopback, implicit TLS, whether requests
 * complete inside the op or later, between input calls, and whether logins
 * succeed); the second a chunk size; the rest is what the client sends.
 * Every reply line must start with "+OK", "-ERR", "+ " or be a multi-line
 * body line; the session must take all input unless a request is out or
 * it closed.  The message bytes served by RETR/TOP are the input itself;
 * the stuffed stream must consist of CRLF lines only and contain the
 * terminating "." line exactly once, at its end (a message can never end
 * the response early or smuggle lines after it).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "pop3/pop3_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum fz_pending { FZ_NONE, FZ_LOGIN, FZ_SCRAM, FZ_UPDATE, FZ_TLS };

struct fz {
	bool			 defer;
	bool			 login_ok;
	enum fz_pending		 pending;
	struct pop3_session	*s;
	const uint8_t		*msg;
	size_t			 msglen;
};

static void
fz_complete(struct fz *f)
{
	static const struct pop3_message msgs[3] = {
		{ 1, 10 }, { 2, 20 }, { 3, 30 },
	};
	enum fz_pending p = f->pending;

	f->pending = FZ_NONE;
	switch (p) {
	case FZ_NONE:
		abort();
	case FZ_LOGIN:
		pop3_session_login_done(f->s, f->login_ok ? POP3_LOGIN_OK :
		    POP3_LOGIN_BAD, "u@example.test", 9, msgs, 3);
		break;
	case FZ_SCRAM:
		pop3_session_scram_done(f->s, NULL);
		break;
	case FZ_UPDATE:
		pop3_session_update_done(f->s, true);
		break;
	case FZ_TLS:
		pop3_session_tls_started(f->s);
		break;
	}
}

static void
fz_request(struct fz *f, struct pop3_session *s, enum fz_pending p)
{
	if (f->pending != FZ_NONE)
		abort();	/* two requests at once */
	f->s = s;
	f->pending = p;
	if (!f->defer)
		fz_complete(f);
}

static void
op_login(void *ctx, struct pop3_session *s, const char *user,
    const char *password)
{
	(void)user;
	(void)password;
	fz_request(ctx, s, FZ_LOGIN);
}

static void
op_scram(void *ctx, struct pop3_session *s, const char *user)
{
	(void)user;
	fz_request(ctx, s, FZ_SCRAM);
}

static int
op_send(void *ctx, struct pop3_session *s, size_t idx, uint32_t uid,
    int64_t lines)
{
	struct fz *f = ctx;
	struct pop3_stuffer st;
	struct buf out;

	(void)uid;
	if (idx == 2)
		return -1;
	buf_init(&out, 4 * f->msglen + 16);
	pop3_stuffer_init(&st, lines);
	if (pop3_stuffer_feed(&st, f->msg, f->msglen, &out) < 0 ||
	    pop3_stuffer_finish(&st, &out) < 0)
		abort();	/* 4x is always enough */
	if (out.len < 3 || memcmp(out.data + out.len - 3, ".\r\n", 3) != 0)
		abort();
	{
		size_t i, bol = 0;

		for (i = 0; i < out.len; i++) {
			if (out.data[i] == '\n' &&
			    (i == 0 || out.data[i - 1] != '\r'))
				abort();
			if (out.data[i] != '\n')
				continue;
			/* a lone "." line only at the very end */
			if (i - bol == 2 && out.data[bol] == '.' &&
			    i + 1 != out.len)
				abort();
			bol = i + 1;
		}
	}
	buf_fini(&out);
	pop3_session_send_done(s, true);
	return 0;
}

static void
op_update(void *ctx, struct pop3_session *s, const uint32_t *uids, size_t n)
{
	(void)uids;
	if (n == 0 || n > 3)
		abort();
	fz_request(ctx, s, FZ_UPDATE);
}

static void
op_tls(void *ctx, struct pop3_session *s)
{
	fz_request(ctx, s, FZ_TLS);
}

static const struct pop3_session_ops fz_ops = {
	.login = op_login,
	.scram_lookup = op_scram,
	.send = op_send,
	.update = op_update,
	.start_tls = op_tls,
};

/* check_output - every line ends in CRLF and has no bare CR or LF */
static void
check_output(struct buf *o)
{
	size_t i;

	if (o->len > 0 && (o->len < 2 || o->data[o->len - 1] != '\n' ||
	    o->data[o->len - 2] != '\r'))
		abort();
	for (i = 0; i < o->len; i++) {
		if (o->data[i] == '\n' && (i == 0 || o->data[i - 1] != '\r'))
			abort();
		if (o->data[i] == '\r' && (i + 1 == o->len ||
		    o->data[i + 1] != '\n'))
			abort();
	}
	buf_reset(o);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pop3_session_config cfg;
	struct pop3_peer peer;
	struct fz f;
	size_t off = 2, chunk;
	uint8_t o0, o1;

	if (size < 2)
		return 0;
	log_set_level(LOG_LEVEL_ERROR);
	o0 = data[0];
	o1 = data[1];
	memset(&f, 0, sizeof(f));
	f.defer = (o0 & 0x04) != 0;
	f.login_ok = (o0 & 0x08) == 0;
	f.msg = data + 2;
	f.msglen = size - 2;
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "fuzz.example";
	cfg.tls_available = (o0 & 0x10) != 0;
	cfg.plaintext_loopback = true;
	cfg.scram_available = (o0 & 0x20) != 0;
	cfg.max_line = (o0 & 0x40) ? 32 : 0;
	cfg.sasl_secret = (const uint8_t *)"k";
	cfg.sasl_secret_len = 1;
	memset(&peer, 0, sizeof(peer));
	peer.session_id = "fz";
	peer.addr = "127.0.0.1";
	peer.is_loopback = (o0 & 0x01) != 0;
	peer.is_tls = (o0 & 0x02) != 0;
	chunk = (size_t)(o1 % 64) + 1;
	f.s = pop3_session_new(&cfg, &fz_ops, &f, &peer);
	pop3_session_start(f.s);
	check_output(pop3_session_output(f.s));
	while (off < size && !pop3_session_want_close(f.s)) {
		size_t len = size - off < chunk ? size - off : chunk;
		size_t used = pop3_session_input(f.s, data + off, len);

		check_output(pop3_session_output(f.s));
		if (used > len)
			abort();
		off += used;
		if (f.pending != FZ_NONE)
			fz_complete(&f);
		else if (used == 0 && !pop3_session_want_close(f.s) &&
		    !pop3_session_is_pending(f.s))
			abort();	/* stuck */
		check_output(pop3_session_output(f.s));
	}
	if (f.pending != FZ_NONE)
		fz_complete(&f);
	pop3_session_free(&f.s);
	return 0;
}
