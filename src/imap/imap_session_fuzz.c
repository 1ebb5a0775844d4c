/*
 * imap_session_fuzz.c - libFuzzer target for the IMAP session fed a
 * client's byte stream, against a temporary data directory (one account,
 * made once per process, in /dev/shm when there is one so that the
 * store's fsyncs stay cheap).
 *
 * The first byte picks the options (loopback, implicit TLS, whether
 * plaintext logins from loopback are allowed, whether password checks
 * succeed when the password is "pw", and the store cache size); the second
 * the piece size; the rest is what the client sends, fed piece by piece
 * and acted on as the connection layer would (AUTH answered at once,
 * MORE resumed, STARTTLS completed, IDLE polled).  Checks: every response
 * is "* ...", "+ ..." or "tag OK|NO|BAD ...", in CRLF lines, with literal
 * data (FETCH) exactly as long as announced, and no NUL in a tagged line;
 * the session eats all input unless it asked to stop.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include "imap/imap_recent.h"
#include "imap/imap_session.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/accounts.h"
#include "store/mailstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_USER	"fuzz@example.org"

static char *fz_top, *fz_dir;
static struct accounts *fz_accounts;
static int64_t fz_uid;
static unsigned fz_runs;

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

static void
fz_cleanup(void)
{
	accounts_close(&fz_accounts);
	if (fz_top != NULL)
		(void)nftw(fz_top, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void
fz_setup(void)
{
	char tmpl[64];
	const char *err = NULL;
	struct stat st;

	if (fz_dir != NULL)
		return;
	log_set_level(LOG_LEVEL_ERROR);
	snprintf(tmpl, sizeof(tmpl), "%s/postino-imapfuzz-XXXXXX",
	    stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" :
	    "/tmp");
	if (mkdtemp(tmpl) == NULL)
		abort();
	fz_top = xstrdup(tmpl);
	fz_dir = xasprintf("%s/data", tmpl);
	/* /dev/shm is memory: leave nothing behind */
	atexit(fz_cleanup);
	fz_accounts = accounts_open(fz_dir, &err);
	/* no password: SCRAM lookups find the user but no keys; LOGIN is
	 * answered by the fake check below, without argon2 */
	if (fz_accounts == NULL ||
	    accounts_user_add(fz_accounts, FZ_USER, NULL, &fz_uid, &err) < 0)
		abort();
}

/* fz_fresh_store - now and then a new store, so that what earlier runs
 * created (mailboxes, messages) does not pile up */
static void
fz_fresh_store(void)
{
	const char *err = NULL;

	if (fz_runs++ % 500 == 0 && mailstore_create(fz_dir, fz_uid,
	    &err) < 0)
		abort();
	/* \Recent marks of the previous store (imap_recent.h) */
	imap_recent_reset();
}

/* literal_at_end - the n of a "{n}" ending line[0..len), or -1 */
static long long
literal_at_end(const uint8_t *line, size_t len)
{
	size_t i;
	long long n = 0, mul = 1;

	if (len < 3 || line[len - 1] != '}')
		return -1;
	for (i = len - 1; i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9';
	    i--) {
		if (mul > 1000000000000LL)
			return -1;
		n += (line[i - 1] - '0') * mul;
		mul *= 10;
	}
	if (i == len - 1 || i == 0 || line[i - 1] != '{')
		return -1;
	return n;
}

/*
 * check_output - every response is "* ...", "+ ..." or "tag OK|NO|BAD
 * ...", made of CRLF lines; a line ending in {n} is followed by n bytes of
 * literal data (FETCH), after which the same response goes on
 */
static void
check_output(const struct buf *out)
{
	size_t i = 0;
	bool start = true;

	while (i < out->len) {
		const uint8_t *line = out->data + i;
		const uint8_t *nl = memchr(line, '\n', out->len - i);
		size_t len, t;
		long long lit;

		if (nl == NULL || nl == line || nl[-1] != '\r')
			abort();		/* lines end in CRLF */
		len = (size_t)(nl - line) + 1;
		if (start && line[0] != '*' && line[0] != '+') {
			for (t = 0; t < len && line[t] != ' '; t++)
				;
			if (t == 0 || t + 4 > len)
				abort();
			if (memcmp(line + t, " OK", 3) != 0 &&
			    memcmp(line + t, " NO", 3) != 0 &&
			    memcmp(line + t, " BAD", 4) != 0)
				abort();
			if (memchr(line, '\0', len) != NULL)
				abort();
		}
		i += len;
		lit = literal_at_end(line, len - 2);
		if (lit >= 0) {
			if ((unsigned long long)lit > out->len - i)
				abort();	/* literal cut short */
			i += (size_t)lit;
			start = false;
		} else {
			start = true;
		}
	}
}

static void
answer_auth(struct imap_session *s, const struct imap_env *env,
    bool login_ok, struct buf *out, enum imap_session_status *st)
{
	const char *user, *pass;
	bool ok;

	imap_session_auth_request(s, &user, &pass);
	ok = login_ok && strcmp(pass, "pw") == 0 &&
	    strcasecmp(user, FZ_USER) == 0;
	*st = imap_session_auth_done(s, env, ok ? IMAP_AUTH_OK :
	    IMAP_AUTH_BAD, ok ? FZ_USER : NULL, out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_session_config cfg;
	struct imap_peer peer;
	struct imap_env env;
	struct imap_session *s;
	struct buf out;
	size_t piece, off;
	uint8_t opt;
	bool login_ok, stop = false;
	enum imap_session_status st = IMAP_SESSION_OK;

	if (size < 2)
		return 0;
	fz_setup();
	fz_fresh_store();
	opt = data[0];
	piece = (size_t)data[1] + 1;
	data += 2;
	size -= 2;
	login_ok = (opt & 0x08) != 0;

	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "fuzz.example.org";
	cfg.data_dir = fz_dir;
	cfg.tls_available = true;
	cfg.plaintext_loopback = (opt & 0x04) != 0;
	cfg.append_limit = 100000;
	memset(&peer, 0, sizeof(peer));
	peer.session_id = "fuzz";
	peer.addr = "127.0.0.1";
	peer.is_loopback = (opt & 0x01) != 0;
	peer.is_tls = (opt & 0x02) != 0;
	memset(&env, 0, sizeof(env));
	env.accounts = fz_accounts;
	env.stores = imap_store_cache_new(fz_dir, (opt & 0x10) ? 1 : 4);

	s = imap_session_new(&cfg, &peer);
	buf_init(&out, 64u * 1024 * 1024);
	imap_session_greeting(s, &out);
	for (off = 0; off < size && !stop;) {
		size_t n = size - off < piece ? size - off : piece;
		size_t used = 0;

		st = imap_session_input(s, &env, data + off, n, &used, &out);
		off += used;
		switch (st) {
		case IMAP_SESSION_OK:
			if (used != n)
				abort();	/* OK means all eaten */
			break;
		case IMAP_SESSION_IDLE:
			if (used != n)
				abort();
			st = imap_session_poll(s, &env, &out);
			break;
		case IMAP_SESSION_AUTH:
			answer_auth(s, &env, login_ok, &out, &st);
			if (st == IMAP_SESSION_CLOSE)
				stop = true;
			break;
		case IMAP_SESSION_AUTH_GATE: {
			const char *who = NULL;

			/* 0x20: the throttle refuses SCRAM exchanges */
			st = imap_session_auth_gate(s, &env,
			    (opt & 0x20) == 0, &out);
			(void)imap_session_auth_outcome(s, &who);
			if (st == IMAP_SESSION_CLOSE)
				stop = true;
			break;
		}
		case IMAP_SESSION_MORE:
			while (st == IMAP_SESSION_MORE)
				st = imap_session_resume(s, &env, &out);
			break;
		case IMAP_SESSION_STARTTLS:
			imap_session_tls_started(s);
			break;
		case IMAP_SESSION_COMPRESS:
			/* the rest would be deflated: read it as is */
			break;
		case IMAP_SESSION_CLOSE:
			stop = true;
			break;
		}
		check_output(&out);
		buf_reset(&out);
	}
	if (!stop) {
		imap_session_bye(s, "fuzz over", &out);
		check_output(&out);
	}
	buf_fini(&out);
	imap_session_free(&s);
	imap_store_cache_free(&env.stores);
	return 0;
}
