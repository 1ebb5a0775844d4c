/*
 * smtp_auth_fuzz.c - libFuzzer target for the SMTP session with AUTH and
 * the submission checks switched on (TLS already up), fake ops that know
 * one user ("u@x", password "pw", SCRAM keys from a fixed salt).
 *
 * Lives in src/auth because it fuzzes the AUTH paths of the session,
 * which the general session fuzzer (src/smtp/smtp_session_fuzz.c) does
 * not reach.  The first byte picks the chunk size and whether requests
 * complete inside the op or later; the rest is what the client sends.
 * Every reply must be a well-formed SMTP reply line, and requests must
 * match the session's pending state.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "smtp/smtp_session.h"
#include "store/accounts.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum fz_pending { FZ_NONE, FZ_RCPT, FZ_END, FZ_VERIFY_OK, FZ_VERIFY_BAD,
	FZ_SCRAM_USER, FZ_SCRAM_NONE };

struct fz {
	int			 open;
	bool			 defer;
	enum fz_pending		 pending;
	struct smtp_session	*s;
};

static struct sasl_scram_keys fz_keys;

static void
fz_complete(struct fz *f)
{
	enum fz_pending p = f->pending;

	f->pending = FZ_NONE;
	switch (p) {
	case FZ_NONE:
		abort();
	case FZ_RCPT:
		smtp_session_rcpt_done(f->s, 250, "2.1.5", "OK");
		break;
	case FZ_END:
		if (!f->open)
			abort();
		f->open = 0;
		smtp_session_data_done(f->s, 250, "2.0.0", "queued");
		break;
	case FZ_VERIFY_OK:
		smtp_session_auth_done(f->s, SMTP_AUTH_OK, "u@x");
		break;
	case FZ_VERIFY_BAD:
		smtp_session_auth_done(f->s, SMTP_AUTH_FAIL, NULL);
		break;
	case FZ_SCRAM_USER:
		smtp_session_auth_scram_done(f->s, SMTP_AUTH_OK, "u@x",
		    &fz_keys);
		break;
	case FZ_SCRAM_NONE:
		smtp_session_auth_scram_done(f->s, SMTP_AUTH_OK, NULL, NULL);
		break;
	}
}

static void
fz_request(struct fz *f, enum fz_pending p)
{
	if (f->pending != FZ_NONE)
		abort();
	f->pending = p;
	if (!f->defer)
		fz_complete(f);
}

static void
fz_rcpt(void *ctx, struct smtp_session *s, const char *addr)
{
	(void)s;
	(void)addr;
	fz_request(ctx, FZ_RCPT);
}

static int
fz_begin(void *ctx, const struct smtp_envelope *env, char qid[64],
    int *code_r, const char **enh_r, const char **text_r)
{
	struct fz *f = ctx;

	(void)env;
	(void)code_r;
	(void)enh_r;
	(void)text_r;
	f->open = 1;
	memcpy(qid, "Q", 2);
	return 0;
}

static int
fz_write(void *ctx, const void *p, size_t n)
{
	(void)ctx;
	(void)p;
	(void)n;
	return 0;
}

static void
fz_end(void *ctx, struct smtp_session *s)
{
	(void)s;
	fz_request(ctx, FZ_END);
}

static void
fz_abort(void *ctx)
{
	struct fz *f = ctx;

	f->open = 0;
}

static void
fz_verify(void *ctx, struct smtp_session *s, const char *user,
    const char *password)
{
	(void)s;
	if (user == NULL || password == NULL || user[0] == '\0')
		abort();
	fz_request(ctx, strcmp(user, "u@x") == 0 && strcmp(password, "pw") ==
	    0 ? FZ_VERIFY_OK : FZ_VERIFY_BAD);
}

static void
fz_scram(void *ctx, struct smtp_session *s, const char *user)
{
	(void)s;
	fz_request(ctx, strcmp(user, "u@x") == 0 ? FZ_SCRAM_USER :
	    FZ_SCRAM_NONE);
}

static bool
fz_sender(void *ctx, const char *account, const char *addr)
{
	(void)ctx;
	if (account == NULL || addr == NULL)
		abort();
	return strcmp(addr, account) == 0;
}

static const struct smtp_session_ops fz_ops = {
	fz_rcpt, fz_begin, fz_write, fz_end, fz_abort, NULL, NULL, NULL,
};

static const struct smtp_auth_ops fz_auth_ops = {
	fz_verify, fz_scram, NULL, fz_sender,
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
	static const uint8_t secret[] = "fuzz secret";
	struct smtp_session_config cfg;
	struct smtp_peer peer = { "fuzz", "192.0.2.1", NULL, false };
	struct smtp_session *s;
	struct fz f;
	size_t pos = 0, chunk;
	uint8_t cb[32] = { 3 };

	if (size < 1)
		return 0;
	if (fz_keys.iterations == 0) {
		memset(fz_keys.salt, 0x5a, 16);
		fz_keys.salt_len = 16;
		fz_keys.iterations = 4096;
		if (accounts_scram_derive("pw", fz_keys.salt, 16, 4096,
		    fz_keys.stored_key, fz_keys.server_key) < 0)
			abort();
	}
	log_set_level(LOG_LEVEL_ERROR);
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "mx.fuzz";
	cfg.max_message_size = 4096;
	cfg.max_errors = 50;
	cfg.max_cmd_line = 512;
	cfg.auth_enabled = true;
	cfg.auth_required = data[0] & 0x40;
	cfg.auth_secret = secret;
	cfg.auth_secret_len = sizeof(secret);
	cfg.auth_test_nonce = (data[0] & 0x20) ? "fixed" : NULL;
	memset(&f, 0, sizeof(f));
	f.defer = data[0] & 0x80;
	chunk = 1 + (size_t)(data[0] & 0x1f) * 64;
	data++;
	size--;
	s = f.s = smtp_session_new(&cfg, &fz_ops, &f, &peer);
	smtp_session_set_auth_ops(s, &fz_auth_ops, NULL);
	smtp_session_tls_started(s, NULL);
	if (chunk & 2)
		smtp_session_set_channel_binding(s, "tls-exporter", cb,
		    sizeof(cb));
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
			fz_complete(&f);
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
	if (f.pending != FZ_NONE)
		fz_complete(&f);
	check_output(smtp_session_output(s));
	smtp_session_free(&s);
	if (f.open)
		abort();
	return 0;
}
