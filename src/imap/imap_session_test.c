/*
 * imap_session_test.c - the IMAP session against a real temporary data
 * directory (accounts.db and a mail store): scripted exchanges for the
 * commands of every state and their errors, LOGIN and AUTHENTICATE (PLAIN,
 * SCRAM-SHA-256, SASL-IR, cancel), failure limits, literals split across
 * calls, APPEND (small, streamed, MULTIAPPEND), IDLE, COMPRESS, STARTTLS.
 */
#include "imap/imap_session.h"
#include "imap/imap_recent.h"
#include "imap/imap_session_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "auth/auth_throttle.h"
#include "auth/sasl.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"
#include "store/accounts.h"
#include "store/mailstore.h"
#include "store/store_int.h"
#include "../../tests/lib/test.h"

#define USER	"alice@example.org"
#define PASS	"correct horse"

struct t {
	char			*top, *dir;
	struct accounts		*a;
	struct imap_store_cache	*sc;
	struct imap_env		 env;
	struct imap_session	*s;
	struct buf		 out;
	enum imap_session_status st;
	int			 auths;		/* AUTH requests seen */
	size_t			 chunk;		/* feed in pieces of this */
	/* SCRAM and the login throttle, as the connection does it */
	struct auth_throttle	*thr;		/* NULL: always allowed */
	const char		*addr;
	uint64_t		 now_ms;	/* the throttle's clock */
	int			 gates, delays, refused;
	int			 outcomes_ok, outcomes_bad;
};

static struct accounts *shared_accounts;
static char *shared_top, *shared_dir;
static int64_t shared_uid;
static uint64_t cfg_quota_default;	/* for the next t_init */

/* one data directory for the whole run (argon2 is slow) */
static void
setup_shared(void)
{
	char tmpl[] = "/tmp/postino-imapsess-XXXXXX";
	const char *err = NULL;

	if (shared_accounts != NULL)
		return;
	log_set_level(LOG_LEVEL_ERROR);
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	shared_top = xstrdup(tmpl);
	shared_dir = xasprintf("%s/data", tmpl);
	shared_accounts = accounts_open(shared_dir, &err);
	if (shared_accounts == NULL ||
	    accounts_user_add(shared_accounts, USER, PASS, &shared_uid,
	    &err) < 0) {
		fprintf(stderr, "setup: %s\n", err);
		exit(1);
	}
}

/* reset_store - a fresh mail store for the user (default mailboxes) */
static void
reset_store(void)
{
	const char *err = NULL;

	imap_recent_reset();	/* a fresh store may reuse UIDVALIDITY */
	if (mailstore_create(shared_dir, shared_uid, &err) < 0) {
		fprintf(stderr, "mailstore_create: %s\n", err);
		exit(1);
	}
}

static void
t_init_peer(struct t *t, bool loopback, bool tls, bool tls_available)
{
	struct imap_session_config cfg;
	struct imap_peer peer;

	setup_shared();
	reset_store();
	memset(t, 0, sizeof(*t));
	t->dir = shared_dir;
	t->a = shared_accounts;
	t->sc = imap_store_cache_new(shared_dir, 4);
	t->env.accounts = t->a;
	t->env.stores = t->sc;
	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "mx.example.org";
	cfg.data_dir = shared_dir;
	cfg.tls_available = tls_available;
	cfg.plaintext_loopback = true;
	cfg.append_limit = 200000;
	cfg.quota_default = cfg_quota_default;
	memset(&peer, 0, sizeof(peer));
	peer.session_id = "test";
	peer.addr = loopback ? "127.0.0.1" : "192.0.2.7";
	t->addr = peer.addr;
	peer.is_loopback = loopback;
	peer.is_tls = tls;
	t->s = imap_session_new(&cfg, &peer);
	buf_init(&t->out, 64u * 1024 * 1024);
	t->chunk = SIZE_MAX;
}

static void
t_init(struct t *t)
{
	t_init_peer(t, true, false, true);
}

static void
t_fini(struct t *t)
{
	imap_session_free(&t->s);
	CHECK(t->s == NULL);
	imap_store_cache_free(&t->sc);
	buf_fini(&t->out);
}

/* answer_auth - what the connection does on IMAP_SESSION_AUTH */
static void
answer_auth(struct t *t)
{
	const char *user, *pass, *err = NULL;
	struct accounts_user u;
	int r;

	t->auths++;
	imap_session_auth_request(t->s, &user, &pass);
	r = accounts_user_verify(t->a, user, pass, &u, &err);
	t->st = imap_session_auth_done(t->s, &t->env,
	    r == 1 ? IMAP_AUTH_OK : IMAP_AUTH_BAD, r == 1 ? u.address : NULL,
	    &t->out);
}

/* take_outcome - a SCRAM outcome to the throttle, as the connection */
static void
take_outcome(struct t *t)
{
	const char *user = NULL;

	switch (imap_session_auth_outcome(t->s, &user)) {
	case IMAP_AUTH_OK:
		t->outcomes_ok++;
		if (t->thr != NULL)
			auth_throttle_success(t->thr, t->addr, user,
			    t->now_ms);
		break;
	case IMAP_AUTH_BAD:
		t->outcomes_bad++;
		if (t->thr != NULL)
			(void)auth_throttle_failure(t->thr, t->addr, user,
			    t->now_ms);
		break;
	default:
		break;
	}
}

/* answer_gate - what the connection does on IMAP_SESSION_AUTH_GATE */
static void
answer_gate(struct t *t)
{
	const char *user, *pass;
	uint64_t delay = 0;
	bool allowed = true;

	t->gates++;
	imap_session_auth_request(t->s, &user, &pass);
	CHECK_STR(pass, "");
	if (t->thr != NULL) {
		switch (auth_throttle_check(t->thr, t->addr, user, t->now_ms,
		    &delay)) {
		case AUTH_THROTTLE_BLOCK:
			allowed = false;
			t->refused++;
			break;
		case AUTH_THROTTLE_DELAY:
			t->delays++;
			t->now_ms += delay;	/* waited out */
			break;
		case AUTH_THROTTLE_ALLOW:
			break;
		}
	}
	t->st = imap_session_auth_gate(t->s, &t->env, allowed, &t->out);
	take_outcome(t);
}

/*
 * feed - sends in (in pieces of t->chunk bytes), acting on AUTH and MORE
 * as the connection would; returns everything the server wrote (valid
 * until the next feed).
 */
static const char *
feed_n(struct t *t, const void *in, size_t len)
{
	const uint8_t *p = in;
	size_t off = 0;

	buf_reset(&t->out);
	do {
		size_t n = len - off < t->chunk ? len - off : t->chunk;
		size_t done = 0;

		for (;;) {
			size_t used = 0;
			bool was_auth = false;

			t->st = imap_session_input(t->s, &t->env, p + off + done,
			    n - done, &used, &t->out);
			done += used;
			take_outcome(t);
			if (t->st == IMAP_SESSION_AUTH) {
				answer_auth(t);
				was_auth = true;
			}
			if (t->st == IMAP_SESSION_AUTH_GATE) {
				answer_gate(t);
				was_auth = true;
			}
			while (t->st == IMAP_SESSION_MORE)
				t->st = imap_session_resume(t->s, &t->env,
				    &t->out);
			if (t->st == IMAP_SESSION_CLOSE ||
			    t->st == IMAP_SESSION_STARTTLS ||
			    t->st == IMAP_SESSION_COMPRESS)
				return buf_cstr(&t->out); /* rest unread */
			if (done >= n || (used == 0 && !was_auth))
				break;
		}
		off += n;
	} while (off < len);
	return buf_cstr(&t->out);
}

static const char *
feed(struct t *t, const char *in)
{
	return feed_n(t, in, strlen(in));
}

static bool
has(const char *out, const char *want)
{
	if (strstr(out, want) != NULL)
		return true;
	fprintf(stderr, "  missing \"%s\" in:\n%s\n", want, out);
	return false;
}

static bool
hasnt(const char *out, const char *bad)
{
	if (strstr(out, bad) == NULL)
		return true;
	fprintf(stderr, "  unexpected \"%s\" in:\n%s\n", bad, out);
	return false;
}

static void
login(struct t *t)
{
	const char *o = feed(t, "L1 LOGIN " USER " \"" PASS "\"\r\n");

	CHECK(has(o, "L1 OK [CAPABILITY "));
	CHECK(imap_session_user_id(t->s) == shared_uid);
}

/* ---- any state, not authenticated ------------------------------ */

static void
test_greeting_capability(void)
{
	struct t t;

	t_init_peer(&t, false, false, true);
	imap_session_greeting(t.s, &t.out);
	CHECK(has(buf_cstr(&t.out), "* OK [CAPABILITY IMAP4rev1 IMAP4rev2 "));
	CHECK(has(buf_cstr(&t.out), " STARTTLS"));
	CHECK(has(buf_cstr(&t.out), " LOGINDISABLED"));
	CHECK(has(buf_cstr(&t.out), " AUTH=SCRAM-SHA-256"));
	CHECK(hasnt(buf_cstr(&t.out), "AUTH=PLAIN"));
	CHECK(has(buf_cstr(&t.out), " LITERAL-"));
	CHECK(has(buf_cstr(&t.out), "] mx.example.org IMAP4rev2"));
	CHECK(has(feed(&t, "a CAPABILITY\r\n"), "a OK CAPABILITY completed"));
	CHECK(has(buf_cstr(&t.out), "* CAPABILITY IMAP4rev1 IMAP4rev2 "));
	CHECK(has(buf_cstr(&t.out), "APPENDLIMIT=200000"));
	CHECK(has(buf_cstr(&t.out), " SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT "
	    "THREAD=REFERENCES QUOTA QUOTA=RES-STORAGE "));
	CHECK_INT(t.st, IMAP_SESSION_OK);
	/* LOGIN without TLS from a remote peer */
	CHECK(has(feed(&t, "b LOGIN " USER " x\r\n"),
	    "b NO [PRIVACYREQUIRED]"));
	CHECK(has(feed(&t, "c AUTHENTICATE PLAIN\r\n"),
	    "c NO [PRIVACYREQUIRED]"));
	/* STARTTLS: then TLS-only things change */
	CHECK(has(feed(&t, "d STARTTLS\r\ne NOOP\r\n"), "d OK Begin TLS"));
	CHECK_INT(t.st, IMAP_SESSION_STARTTLS);
	CHECK(hasnt(buf_cstr(&t.out), "e OK"));
	imap_session_tls_started(t.s);
	feed(&t, "f CAPABILITY\r\n");
	CHECK(has(buf_cstr(&t.out), "AUTH=PLAIN"));
	CHECK(hasnt(buf_cstr(&t.out), "STARTTLS"));
	CHECK(hasnt(buf_cstr(&t.out), "LOGINDISABLED"));
	CHECK(has(feed(&t, "g STARTTLS\r\n"), "g BAD"));
	t_fini(&t);

	/* implicit TLS, no STARTTLS offered */
	t_init_peer(&t, false, true, true);
	imap_session_greeting(t.s, &t.out);
	CHECK(hasnt(buf_cstr(&t.out), "STARTTLS"));
	CHECK(has(buf_cstr(&t.out), "AUTH=PLAIN"));
	t_fini(&t);
}

static void
test_noop_id_logout(void)
{
	struct t t;
	const char *o;

	t_init(&t);
	CHECK(has(feed(&t, "a NOOP\r\n"), "a OK NOOP completed\r\n"));
	o = feed(&t, "b ID (\"name\" \"test client\" \"version\" \"1\")\r\n");
	CHECK(has(o, "* ID (\"name\" \"postino\" \"version\""));
	CHECK(has(o, "b OK ID completed"));
	CHECK(has(feed(&t, "c ID NIL\r\n"), "c OK"));
	o = feed(&t, "d LOGOUT\r\ne NOOP\r\n");
	CHECK(has(o, "* BYE Logging out\r\nd OK LOGOUT completed\r\n"));
	CHECK(hasnt(o, "e OK"));
	CHECK_INT(t.st, IMAP_SESSION_CLOSE);
	t_fini(&t);
}

static void
test_state_errors(void)
{
	struct t t;

	t_init(&t);
	CHECK(has(feed(&t, "a SELECT INBOX\r\n"), "a BAD Log in first"));
	CHECK(has(feed(&t, "b FETCH 1 FLAGS\r\n"), "b BAD Log in first"));
	CHECK(has(feed(&t, "c ENABLE IMAP4rev2\r\n"), "c BAD"));
	CHECK(has(feed(&t, "d FOO\r\n"), "d BAD"));
	CHECK(has(feed(&t, "\r\n"), "* BAD"));
	login(&t);
	CHECK(has(feed(&t, "e LOGIN a b\r\n"), "e BAD Already logged in"));
	CHECK(has(feed(&t, "f FETCH 1 FLAGS\r\n"),
	    "f BAD No mailbox selected"));
	CHECK(has(feed(&t, "g CLOSE\r\n"), "g BAD No mailbox selected"));
	CHECK(has(feed(&t, "h STARTTLS\r\n"), "h BAD"));
	t_fini(&t);
}

static void
test_too_many_bad(void)
{
	struct t t;
	const char *o = NULL;
	int i;

	t_init(&t);
	for (i = 0; i < IMAP_MAX_BAD_COMMANDS - 1; i++) {
		o = feed(&t, "x BLAH\r\n");
		CHECK(hasnt(o, "BYE"));
	}
	/* a good command resets the count */
	CHECK(has(feed(&t, "y NOOP\r\n"), "y OK"));
	for (i = 0; i < IMAP_MAX_BAD_COMMANDS; i++)
		o = feed(&t, "x BLAH\r\n");
	CHECK(has(o, "* BYE Too many invalid commands"));
	CHECK_INT(t.st, IMAP_SESSION_CLOSE);
	t_fini(&t);
}

static void
test_prelogin_limits(void)
{
	struct t t;
	char *big;
	const char *o;

	t_init(&t);
	/* a line past the pre-login limit: BAD, then in sync again */
	big = xmalloc(IMAP_MAX_LINE_PRELOGIN + 100);
	memset(big, 'a', IMAP_MAX_LINE_PRELOGIN + 100);
	memcpy(big, "a NOOP ", 7);
	o = feed_n(&t, big, IMAP_MAX_LINE_PRELOGIN + 100);
	CHECK(has(o, "BAD"));
	CHECK(has(feed(&t, "\r\nb NOOP\r\n"), "b OK"));
	free(big);
	/* a big synchronizing literal is refused before its data */
	o = feed(&t, "c LOGIN {100000}\r\n");
	CHECK(has(o, "c BAD"));
	CHECK(hasnt(o, "+ "));
	/* LITERAL- before login: {n+} over 4096 */
	o = feed(&t, "d LOGIN {5000+}\r\n");
	CHECK(has(o, "d BAD"));
	t_fini(&t);
}

static void
test_prelogin_command_limit(void)
{
	struct t t;
	const char *o = NULL;
	int i;

	t_init(&t);
	for (i = 0; i < IMAP_MAX_PRELOGIN_COMMANDS; i++)
		o = feed(&t, "a NOOP\r\n");
	CHECK(has(o, "a OK"));
	CHECK_INT(t.st, IMAP_SESSION_OK);
	o = feed(&t, "b NOOP\r\n");
	CHECK(has(o, "* BYE Too many commands without logging in"));
	CHECK(hasnt(o, "b OK"));
	CHECK_INT(t.st, IMAP_SESSION_CLOSE);
	t_fini(&t);

	/* after login there is no such limit */
	t_init(&t);
	login(&t);
	for (i = 0; i < IMAP_MAX_PRELOGIN_COMMANDS + 5; i++)
		o = feed(&t, "a NOOP\r\n");
	CHECK(has(o, "a OK"));
	t_fini(&t);
}

/* a client pipelining without reading is paused at OUT_HIGH */
static void
test_pipeline_pause(void)
{
	struct t t;
	struct buf in;
	size_t used = 0, total = 0, rounds = 0;
	int i;

	t_init(&t);
	login(&t);
	buf_init(&in, 1u << 20);
	for (i = 0; i < 3000; i++)
		CHECK_INT(buf_append_str(&in, "p LIST \"\" *\r\n"), 0);
	buf_reset(&t.out);
	for (;;) {
		enum imap_session_status st;

		st = imap_session_input(t.s, &t.env, in.data + total,
		    in.len - total, &used, &t.out);
		total += used;
		if (st == IMAP_SESSION_OK)
			break;
		CHECK_INT(st, IMAP_SESSION_MORE);
		CHECK(t.out.len >= IMAP_SESSION_OUT_HIGH);
		CHECK(t.out.len < IMAP_SESSION_OUT_HIGH + 4096);
		/* no input while paused */
		CHECK_INT(imap_session_input(t.s, &t.env, in.data + total,
		    in.len - total, &used, &t.out), IMAP_SESSION_MORE);
		CHECK_INT(used, 0);
		buf_reset(&t.out);	/* "sent" */
		CHECK_INT(imap_session_resume(t.s, &t.env, &t.out),
		    IMAP_SESSION_OK);
		rounds++;
	}
	CHECK_INT(total, in.len);
	CHECK(rounds >= 2);
	buf_fini(&in);
	t_fini(&t);
}

/* ---- authentication -------------------------------------------- */

static void
test_login(void)
{
	struct t t;
	const char *o;

	t_init(&t);
	o = feed(&t, "a LOGIN " USER " wrong\r\n");
	CHECK(has(o, "a NO [AUTHENTICATIONFAILED]"));
	CHECK_INT(t.auths, 1);
	CHECK(imap_session_user_id(t.s) == 0);
	/* pipelined after LOGIN: runs after the check, logged in */
	o = feed(&t, "b LOGIN {17}\r\n");
	CHECK(has(o, "+ Ready"));
	o = feed(&t, USER " {13}\r\n");
	CHECK(has(o, "+ Ready"));
	o = feed(&t, PASS "\r\nc NAMESPACE\r\n");
	CHECK(has(o, "b OK [CAPABILITY IMAP4rev1"));
	CHECK(has(o, "LITERAL+"));
	CHECK(hasnt(o, "AUTH="));
	CHECK(has(o, "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\nc OK"));
	CHECK(imap_session_user_id(t.s) == shared_uid);
	t_fini(&t);

	/* an empty password fails without a check, and counts */
	t_init(&t);
	CHECK(has(feed(&t, "a LOGIN " USER " \"\"\r\n"),
	    "a NO [AUTHENTICATIONFAILED]"));
	CHECK_INT(t.auths, 0);
	feed(&t, "b LOGIN x@example.org y\r\n");
	o = feed(&t, "c LOGIN " USER " \"\"\r\n");
	CHECK(has(o, "c NO [AUTHENTICATIONFAILED]"));
	CHECK(has(o, "* BYE Too many authentication failures"));
	CHECK_INT(t.st, IMAP_SESSION_CLOSE);
	t_fini(&t);

	/* three failures: BYE */
	t_init(&t);
	feed(&t, "a LOGIN x@example.org y\r\n");
	feed(&t, "b LOGIN x@example.org y\r\n");
	o = feed(&t, "c LOGIN x@example.org y\r\nd NOOP\r\n");
	CHECK(has(o, "c NO [AUTHENTICATIONFAILED]"));
	CHECK(has(o, "* BYE Too many authentication failures"));
	CHECK(hasnt(o, "d OK"));
	CHECK_INT(t.st, IMAP_SESSION_CLOSE);
	t_fini(&t);

	/* throttled and temporary failures */
	t_init(&t);
	buf_reset(&t.out);
	{
		size_t used;
		const char *in = "a LOGIN " USER " x\r\nb NOOP\r\n";

		t.st = imap_session_input(t.s, &t.env, (const uint8_t *)in,
		    strlen(in), &used, &t.out);
		CHECK_INT(t.st, IMAP_SESSION_AUTH);
		CHECK(used < strlen(in));
		/* no input while the check runs */
		CHECK_INT(imap_session_input(t.s, &t.env, (const uint8_t *)in,
		    strlen(in), &used, &t.out), IMAP_SESSION_AUTH);
		CHECK_INT(used, 0);
		t.st = imap_session_auth_done(t.s, &t.env,
		    IMAP_AUTH_THROTTLED, NULL, &t.out);
		CHECK(has(buf_cstr(&t.out), "a NO [UNAVAILABLE]"));
		CHECK_INT(t.st, IMAP_SESSION_OK);
	}
	t_fini(&t);
}

static void
b64(const char *in, size_t len, char *out, size_t outsize)
{
	struct buf b;

	buf_init(&b, outsize - 1);
	CHECK_INT(sasl_base64_encode(span_make(in, len), &b), 0);
	snprintf(out, outsize, "%s", buf_cstr(&b));
	buf_fini(&b);
}

static void
test_authenticate_plain(void)
{
	struct t t;
	char ir[256], line[300];
	const char *o;

	b64("\0" USER "\0" PASS, sizeof("\0" USER "\0" PASS) - 1, ir,
	    sizeof(ir));
	/* SASL-IR */
	t_init(&t);
	snprintf(line, sizeof(line), "a AUTHENTICATE PLAIN %s\r\n", ir);
	o = feed(&t, line);
	CHECK(has(o, "a OK [CAPABILITY"));
	CHECK(imap_session_user_id(t.s) == shared_uid);
	t_fini(&t);

	/* continuation, split byte by byte */
	t_init(&t);
	t.chunk = 1;
	o = feed(&t, "a AUTHENTICATE plain\r\n");
	CHECK(has(o, "+ \r\n"));
	snprintf(line, sizeof(line), "%s\r\nb NOOP\r\n", ir);
	o = feed(&t, line);
	CHECK(has(o, "a OK [CAPABILITY"));
	CHECK(has(o, "b OK NOOP"));
	t_fini(&t);

	/* cancel, bad base64, unknown mechanism, wrong password */
	t_init(&t);
	feed(&t, "a AUTHENTICATE PLAIN\r\n");
	CHECK(has(feed(&t, "*\r\n"), "a BAD Authentication cancelled"));
	feed(&t, "b AUTHENTICATE PLAIN\r\n");
	CHECK(has(feed(&t, "!!!\r\n"), "b BAD"));
	CHECK(has(feed(&t, "c AUTHENTICATE GSSAPI\r\n"), "c NO [CANNOT]"));
	b64("\0" USER "\0nope", sizeof("\0" USER "\0nope") - 1, ir,
	    sizeof(ir));
	snprintf(line, sizeof(line), "d AUTHENTICATE PLAIN %s\r\n", ir);
	CHECK(has(feed(&t, line), "d NO [AUTHENTICATIONFAILED]"));
	CHECK(has(feed(&t, "e AUTHENTICATE PLAIN =\r\n"), "e BAD"));
	t_fini(&t);

	/* LOGIN mechanism (not advertised, accepted where PLAIN is) */
	t_init(&t);
	o = feed(&t, "a AUTHENTICATE LOGIN\r\n");
	CHECK(strncmp(o, "+ ", 2) == 0);
	b64(USER, strlen(USER), ir, sizeof(ir));
	snprintf(line, sizeof(line), "%s\r\n", ir);
	o = feed(&t, line);
	CHECK(strncmp(o, "+ ", 2) == 0);
	b64(PASS, strlen(PASS), ir, sizeof(ir));
	snprintf(line, sizeof(line), "%s\r\n", ir);
	CHECK(has(feed(&t, line), "a OK [CAPABILITY"));
	t_fini(&t);

	/* a SASL response line past the reader's limit ends the exchange */
	t_init(&t);
	feed(&t, "a AUTHENTICATE PLAIN\r\n");
	{
		size_t n = IMAP_MAX_LINE_PRELOGIN + 10;
		char *big = xmalloc(n);

		memset(big, 'A', n);
		big[n - 2] = '\r';
		big[n - 1] = '\n';
		o = feed_n(&t, big, n);
		CHECK(has(o, "a BAD"));
		free(big);
	}
	CHECK(has(feed(&t, "b NOOP\r\n"), "b OK"));
	t_fini(&t);
}

/* scram_final - the client-final message for a server-first (test side) */
static void
scram_final(const char *pw, const char *cfb, const char *sf, char *out,
    size_t outsize)
{
	const char *r = strstr(sf, "r="), *s = strstr(sf, ",s=");
	const char *i = strstr(sf, ",i=");
	char nonce[256], salt64[128], cwp[300], am[1024], proof64[128];
	uint8_t salt[64], salted[32], ckey[32], skey[32], sig[32], proof[32];
	unsigned len, k;
	struct buf sb;

	snprintf(nonce, sizeof(nonce), "%.*s", (int)(s - r - 2), r + 2);
	snprintf(salt64, sizeof(salt64), "%.*s", (int)(i - s - 3), s + 3);
	buf_init(&sb, sizeof(salt));
	CHECK_INT(sasl_base64_decode(span_from_str(salt64), &sb), 0);
	memcpy(salt, sb.data, sb.len);
	PKCS5_PBKDF2_HMAC(pw, (int)strlen(pw), salt, (int)sb.len,
	    atoi(i + 3), EVP_sha256(), 32, salted);
	buf_fini(&sb);
	HMAC(EVP_sha256(), salted, 32, (const uint8_t *)"Client Key", 10,
	    ckey, &len);
	SHA256(ckey, 32, skey);
	snprintf(cwp, sizeof(cwp), "c=biws,r=%s", nonce);
	snprintf(am, sizeof(am), "%s,%s,%s", cfb, sf, cwp);
	HMAC(EVP_sha256(), skey, 32, (const uint8_t *)am, strlen(am), sig,
	    &len);
	for (k = 0; k < 32; k++)
		proof[k] = ckey[k] ^ sig[k];
	b64((const char *)proof, 32, proof64, sizeof(proof64));
	snprintf(out, outsize, "%s,p=%s", cwp, proof64);
}

static void
test_authenticate_scram(void)
{
	struct t t;
	char cf[128], line[1024], sf[512], fin[512];
	const char *o, *p;
	struct buf dec;

	t_init_peer(&t, false, false, false);	/* no TLS: SCRAM is fine */
	b64("n,,n=" USER ",r=abcdefgh", strlen("n,,n=" USER ",r=abcdefgh"),
	    cf, sizeof(cf));
	snprintf(line, sizeof(line), "a AUTHENTICATE SCRAM-SHA-256 %s\r\n",
	    cf);
	o = feed(&t, line);
	CHECK(strncmp(o, "+ ", 2) == 0);
	p = strstr(o, "\r\n");
	buf_init(&dec, 1024);
	CHECK_INT(sasl_base64_decode(span_make(o + 2, (size_t)(p - o - 2)),
	    &dec), 0);
	snprintf(sf, sizeof(sf), "%s", buf_cstr(&dec));
	buf_fini(&dec);
	scram_final(PASS, "n=" USER ",r=abcdefgh", sf, fin, sizeof(fin));
	b64(fin, strlen(fin), line, sizeof(line) - 2);
	strcat(line, "\r\n");
	o = feed(&t, line);
	CHECK(strncmp(o, "+ ", 2) == 0);	/* server-final */
	CHECK(has(feed(&t, "\r\n"), "a OK [CAPABILITY"));
	CHECK(imap_session_user_id(t.s) == shared_uid);
	CHECK_INT(t.auths, 0);
	t_fini(&t);

	/* unknown user: the same steps, then failure */
	t_init_peer(&t, false, false, false);
	b64("n,,n=nobody@example.org,r=abcdefgh",
	    strlen("n,,n=nobody@example.org,r=abcdefgh"), cf, sizeof(cf));
	snprintf(line, sizeof(line), "a AUTHENTICATE SCRAM-SHA-256 %s\r\n",
	    cf);
	o = feed(&t, line);
	CHECK(strncmp(o, "+ ", 2) == 0);
	p = strstr(o, "\r\n");
	buf_init(&dec, 1024);
	CHECK_INT(sasl_base64_decode(span_make(o + 2, (size_t)(p - o - 2)),
	    &dec), 0);
	snprintf(sf, sizeof(sf), "%s", buf_cstr(&dec));
	buf_fini(&dec);
	scram_final(PASS, "n=nobody@example.org,r=abcdefgh", sf, fin,
	    sizeof(fin));
	b64(fin, strlen(fin), line, sizeof(line) - 2);
	strcat(line, "\r\n");
	CHECK(has(feed(&t, line), "a NO [AUTHENTICATIONFAILED]"));
	t_fini(&t);

	/* the right user, a wrong password */
	t_init_peer(&t, false, false, false);
	b64("n,,n=" USER ",r=abcdefgh", strlen("n,,n=" USER ",r=abcdefgh"),
	    cf, sizeof(cf));
	snprintf(line, sizeof(line), "a AUTHENTICATE SCRAM-SHA-256 %s\r\n",
	    cf);
	o = feed(&t, line);
	p = strstr(o, "\r\n");
	buf_init(&dec, 1024);
	CHECK_INT(sasl_base64_decode(span_make(o + 2, (size_t)(p - o - 2)),
	    &dec), 0);
	snprintf(sf, sizeof(sf), "%s", buf_cstr(&dec));
	buf_fini(&dec);
	scram_final("wrong", "n=" USER ",r=abcdefgh", sf, fin, sizeof(fin));
	b64(fin, strlen(fin), line, sizeof(line) - 2);
	strcat(line, "\r\n");
	CHECK(has(feed(&t, line), "a NO [AUTHENTICATIONFAILED]"));
	CHECK(imap_session_user_id(t.s) == 0);
	/* and the cancel of a SCRAM exchange after its first step */
	snprintf(line, sizeof(line), "b AUTHENTICATE SCRAM-SHA-256 %s\r\n",
	    cf);
	CHECK(strncmp(feed(&t, line), "+ ", 2) == 0);
	CHECK(has(feed(&t, "*\r\n"), "b BAD Authentication cancelled"));
	t_fini(&t);
}

/*
 * scram_try - one SCRAM-SHA-256 exchange as user with pw on a fresh
 * session of t (not loopback, no TLS); returns the last output (the
 * tagged answer), valid until the next feed.
 */
static const char *
scram_try(struct t *t, const char *user, const char *pw)
{
	char first[300], cf[400], line[1024], sf[512], fin[512];
	const char *o, *p;
	struct buf dec;

	snprintf(first, sizeof(first), "n,,n=%s,r=abcdefgh", user);
	b64(first, strlen(first), cf, sizeof(cf));
	snprintf(line, sizeof(line), "a AUTHENTICATE SCRAM-SHA-256 %s\r\n",
	    cf);
	o = feed(t, line);
	if (strncmp(o, "+ ", 2) != 0)
		return o;		/* refused before the exchange */
	p = strstr(o, "\r\n");
	buf_init(&dec, 1024);
	CHECK_INT(sasl_base64_decode(span_make(o + 2, (size_t)(p - o - 2)),
	    &dec), 0);
	snprintf(sf, sizeof(sf), "%s", buf_cstr(&dec));
	buf_fini(&dec);
	scram_final(pw, first + 3, sf, fin, sizeof(fin));
	b64(fin, strlen(fin), line, sizeof(line) - 2);
	strcat(line, "\r\n");
	o = feed(t, line);
	if (strncmp(o, "+ ", 2) == 0)	/* server-final: acknowledge */
		o = feed(t, "\r\n");
	return o;
}

/*
 * SCRAM and the login throttle: failures from one address are counted
 * (delays from the 4th, then refusal before the exchange, the right
 * password included); a success clears the account's counter.
 */
static void
test_scram_throttle(void)
{
	struct auth_throttle_config tc;
	struct auth_throttle *thr;
	struct t t;
	uint64_t now = 1000000, delay = 0;
	int i, delays = 0, gates = 0;

	auth_throttle_defaults(&tc);
	thr = auth_throttle_new(&tc);
	for (i = 0; i < 10; i++) {
		t_init_peer(&t, false, false, false);
		t.thr = thr;
		t.now_ms = now;
		CHECK(has(scram_try(&t, USER, "guess"),
		    "a NO [AUTHENTICATIONFAILED]"));
		CHECK_INT(t.outcomes_bad, 1);
		CHECK_INT(t.outcomes_ok, 0);
		gates += t.gates;
		delays += t.delays;
		if (i < 3)
			CHECK_INT(t.delays, 0);	/* delay after 3 */
		else
			CHECK_INT(t.delays, 1);
		now = t.now_ms + 10;
		t_fini(&t);
	}
	CHECK_INT(gates, 10);
	CHECK_INT(delays, 7);
	/* blocked: refused before the exchange, whatever the password */
	t_init_peer(&t, false, false, false);
	t.thr = thr;
	t.now_ms = now;
	CHECK(has(scram_try(&t, USER, PASS),
	    "a NO [UNAVAILABLE] Too many failed logins"));
	CHECK_INT(t.refused, 1);
	CHECK_INT(t.outcomes_bad + t.outcomes_ok, 0);
	CHECK(imap_session_user_id(t.s) == 0);
	/* the session goes on: another command is read */
	CHECK(has(feed(&t, "b NOOP\r\n"), "b OK"));
	t_fini(&t);
	/* unknown users count too (the same steps, a failure) */
	CHECK_INT(auth_throttle_check(thr, "192.0.2.7", "nobody@example.org",
	    now, NULL), AUTH_THROTTLE_BLOCK);
	auth_throttle_free(&thr);

	/* a success clears the account's counter */
	auth_throttle_defaults(&tc);
	tc.account.delay_after = 2;
	tc.addr.delay_after = 100;
	tc.addr.block_after = 200;
	thr = auth_throttle_new(&tc);
	for (i = 0; i < 2; i++) {
		t_init_peer(&t, false, false, false);
		t.thr = thr;
		t.now_ms = now;
		CHECK(has(scram_try(&t, "nobody@example.org", PASS),
		    "a NO [AUTHENTICATIONFAILED]"));
		CHECK(has(scram_try(&t, USER, "guess"),
		    "a NO [AUTHENTICATIONFAILED]"));
		t_fini(&t);
	}
	CHECK_INT(auth_throttle_check(thr, "198.51.100.1", USER, now,
	    &delay), AUTH_THROTTLE_DELAY);
	t_init_peer(&t, false, false, false);
	t.thr = thr;
	t.now_ms = now;
	CHECK(has(scram_try(&t, USER, PASS), "a OK [CAPABILITY"));
	CHECK_INT(t.delays, 1);		/* the account was delayed */
	CHECK_INT(t.outcomes_ok, 1);
	CHECK(imap_session_user_id(t.s) == shared_uid);
	t_fini(&t);
	CHECK_INT(auth_throttle_check(thr, "198.51.100.1", USER, now, NULL),
	    AUTH_THROTTLE_ALLOW);
	CHECK_INT(auth_throttle_check(thr, "198.51.100.1",
	    "nobody@example.org", now, NULL), AUTH_THROTTLE_DELAY);
	auth_throttle_free(&thr);
}

/* ---- authenticated state --------------------------------------- */

static void
test_enable(void)
{
	struct t t;
	const char *o;

	t_init(&t);
	login(&t);
	o = feed(&t, "a ENABLE CONDSTORE X-UNKNOWN\r\n");
	CHECK(has(o, "* ENABLED CONDSTORE\r\na OK"));
	o = feed(&t, "b ENABLE CONDSTORE QRESYNC IMAP4rev2\r\n");
	CHECK(has(o, "* ENABLED QRESYNC IMAP4rev2\r\nb OK"));
	o = feed(&t, "c ENABLE UTF8=ACCEPT\r\n");
	CHECK(has(o, "* ENABLED\r\nc OK"));
	t_fini(&t);
}

static void
test_create_delete_rename(void)
{
	struct t t;
	const char *o;

	t_init(&t);
	login(&t);
	CHECK(has(feed(&t, "a CREATE work\r\n"), "a OK CREATE completed"));
	CHECK(has(feed(&t, "b CREATE work\r\n"), "b NO [ALREADYEXISTS]"));
	CHECK(has(feed(&t, "c CREATE inbox\r\n"), "c NO [ALREADYEXISTS]"));
	/* parents are created */
	CHECK(has(feed(&t, "d CREATE x/y/z\r\n"), "d OK"));
	o = feed(&t, "e LIST \"\" x*\r\n");
	CHECK(has(o, "* LIST (\\HasChildren) \"/\" \"x\"\r\n"));
	CHECK(has(o, "* LIST (\\HasChildren) \"/\" \"x/y\"\r\n"));
	CHECK(has(o, "* LIST (\\HasNoChildren) \"/\" \"x/y/z\"\r\n"));
	/* a trailing delimiter is dropped */
	CHECK(has(feed(&t, "f CREATE trail/\r\n"), "f OK"));
	CHECK(has(feed(&t, "g LIST \"\" trail\r\n"), "\"trail\"\r\n"));
	/* refused names */
	CHECK(has(feed(&t, "h CREATE a/../b\r\n"), "h NO [CANNOT]"));
	CHECK(has(feed(&t, "i CREATE \"a*b\"\r\n"), "i NO [CANNOT]"));
	CHECK(has(feed(&t, "j CREATE \"a%b\"\r\n"), "j NO [CANNOT]"));
	CHECK(has(feed(&t, "k CREATE /abs\r\n"), "k NO [CANNOT]"));
	CHECK(has(feed(&t, "l CREATE a//b\r\n"), "l NO [CANNOT]"));
	CHECK(has(feed(&t, "m CREATE \"a\\\"b\"\r\n"), "m OK"));
	CHECK(has(feed(&t, "n CREATE "
	    "1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17\r\n"), "n NO [CANNOT]"));
	CHECK(has(feed(&t, "o CREATE "
	    "1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16\r\n"), "o OK"));
	/* special use */
	CHECK(has(feed(&t, "p CREATE Arch (USE (\\Archive))\r\n"), "p OK"));
	CHECK(has(feed(&t, "q LIST \"\" Arch\r\n"), "(\\HasNoChildren "
	    "\\Archive) \"/\" \"Arch\""));
	CHECK(has(feed(&t, "r CREATE Bad (USE (\\Important))\r\n"),
	    "r NO [USEATTR]"));
	/* DELETE */
	CHECK(has(feed(&t, "s DELETE INBOX\r\n"), "s NO [CANNOT]"));
	CHECK(has(feed(&t, "t DELETE nope\r\n"), "t NO [NONEXISTENT]"));
	CHECK(has(feed(&t, "u DELETE work\r\n"), "u OK"));
	CHECK(hasnt(feed(&t, "v LIST \"\" work\r\n"), "* LIST"));
	/* a name with children: it goes, the children stay */
	CHECK(has(feed(&t, "w DELETE x/y\r\n"), "w OK"));
	o = feed(&t, "x LIST \"\" x/%\r\n");
	CHECK(has(o, "* LIST (\\Noselect \\HasChildren) \"/\" \"x/y\""));
	o = feed(&t, "x2 LIST (SUBSCRIBED) \"\" x/%\r\n");
	CHECK(has(o, "x2 OK"));
	o = feed(&t, "x3 LIST () \"\" x/%\r\n");
	CHECK(has(o, "(\\NonExistent \\Noselect \\HasChildren)"));
	/* RENAME */
	CHECK(has(feed(&t, "y RENAME nope other\r\n"), "y NO [NONEXISTENT]"));
	CHECK(has(feed(&t, "z RENAME x x/q\r\n"), "z NO [CANNOT]"));
	CHECK(has(feed(&t, "A RENAME trail Sent\r\n"), "A NO [ALREADYEXISTS]"));
	CHECK(has(feed(&t, "B RENAME x new/place\r\n"), "B OK"));
	o = feed(&t, "C LIST \"\" *\r\n");
	CHECK(has(o, "\"new/place/y/z\""));
	CHECK(has(o, "\"new\"\r\n"));
	CHECK(hasnt(o, "\"x\""));
	/* renaming INBOX moves its messages, INBOX stays */
	CHECK(has(feed(&t, "D RENAME inbox old-inbox\r\n"), "D OK"));
	o = feed(&t, "E LIST \"\" %\r\n");
	CHECK(has(o, "\"INBOX\""));
	CHECK(has(o, "\"old-inbox\""));
	/* XXX: the store does not take INBOX's messages under INBOX */
	CHECK(has(feed(&t, "F RENAME INBOX INBOX/old\r\n"), "F NO [CANNOT]"));
	t_fini(&t);
}

static void
test_list(void)
{
	struct t t;
	const char *o;

	t_init(&t);
	login(&t);
	feed(&t, "a CREATE a/b\r\nb CREATE a/b/c\r\nc CREATE ab\r\n");
	o = feed(&t, "d LIST \"\" \"\"\r\n");
	CHECK(has(o, "* LIST (\\Noselect) \"/\" \"\"\r\nd OK"));
	o = feed(&t, "e LIST \"\" *\r\n");
	/* INBOX first, special-use attributes */
	CHECK(strncmp(o, "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n", 37)
	    == 0);
	CHECK(has(o, "(\\HasNoChildren \\Sent) \"/\" \"Sent\""));
	CHECK(has(o, "(\\HasNoChildren \\Trash) \"/\" \"Trash\""));
	CHECK(has(o, "(\\HasNoChildren \\Drafts) \"/\" \"Drafts\""));
	CHECK(has(o, "(\\HasNoChildren \\Junk) \"/\" \"Junk\""));
	CHECK(has(o, "\"a/b/c\""));
	o = feed(&t, "f LIST \"\" %\r\n");
	CHECK(has(o, "\"a\""));
	CHECK(has(o, "\"ab\""));
	CHECK(hasnt(o, "\"a/b\""));
	o = feed(&t, "g LIST a/ %\r\n");
	CHECK(has(o, "\"a/b\""));
	CHECK(hasnt(o, "\"a/b/c\""));
	o = feed(&t, "h LIST \"\" inbox\r\n");
	CHECK(has(o, "\"INBOX\""));
	o = feed(&t, "i LIST \"\" a%\r\n");
	CHECK(has(o, "\"a\""));
	CHECK(has(o, "\"ab\""));
	CHECK(hasnt(o, "\"a/b\""));
	/* several patterns, SPECIAL-USE selection */
	o = feed(&t, "j LIST (SPECIAL-USE) \"\" (* ab)\r\n");
	CHECK(has(o, "\"Sent\""));
	CHECK(hasnt(o, "\"ab\""));
	CHECK(hasnt(o, "\"INBOX\""));
	/* subscriptions */
	/* the store subscribes new mailboxes: start from none */
	feed(&t, "k0 UNSUBSCRIBE a\r\nk1 UNSUBSCRIBE a/b\r\n"
	    "k2 UNSUBSCRIBE a/b/c\r\nk3 UNSUBSCRIBE ab\r\n");
	CHECK(has(feed(&t, "k SUBSCRIBE a/b/c\r\n"), "k OK"));
	CHECK(has(feed(&t, "l SUBSCRIBE nope\r\n"), "l NO [NONEXISTENT]"));
	o = feed(&t, "m LIST (SUBSCRIBED) \"\" *\r\n");
	CHECK(has(o, "(\\HasNoChildren \\Subscribed) \"/\" \"a/b/c\""));
	CHECK(hasnt(o, "\"ab\""));
	o = feed(&t, "n LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n");
	CHECK(has(o, "\"a\" (\"CHILDINFO\" (\"SUBSCRIBED\"))"));
	o = feed(&t, "o LIST \"\" * RETURN (SUBSCRIBED)\r\n");
	CHECK(has(o, "\\Subscribed) \"/\" \"a/b/c\""));
	o = feed(&t, "p LSUB \"\" *\r\n");
	CHECK(has(o, "* LSUB () \"/\" \"a/b/c\"\r\n"));
	CHECK(hasnt(o, "\"a\"\r\n"));	/* "*" reaches a/b/c itself */
	CHECK(has(o, "p OK LSUB completed"));
	/* RFC 3501 6.3.9: "%" gives the parent, \Noselect */
	o = feed(&t, "p2 LSUB \"\" %\r\n");
	CHECK(has(o, "* LSUB (\\Noselect) \"/\" \"a\"\r\n"));
	CHECK(hasnt(o, "a/b"));
	o = feed(&t, "p3 LSUB \"\" a/%\r\n");
	CHECK(has(o, "* LSUB (\\Noselect) \"/\" \"a/b\"\r\n"));
	CHECK(has(feed(&t, "q UNSUBSCRIBE a/b/c\r\n"), "q OK"));
	CHECK(hasnt(feed(&t, "r LSUB \"\" *\r\n"), "a/b/c"));
	/* LIST-STATUS */
	o = feed(&t, "s LIST \"\" INBOX RETURN (STATUS (MESSAGES UIDNEXT "
	    "SIZE))\r\n");
	CHECK(has(o, "* LIST (\\HasNoChildren) \"/\" \"INBOX\"\r\n"
	    "* STATUS \"INBOX\" (MESSAGES 0 UIDNEXT 1 SIZE 0)\r\n"));
	/* mUTF-7 for rev1, UTF-8 after ENABLE */
	CHECK(has(feed(&t, "t CREATE \"&ZeVnLIqe-\"\r\n"), "t OK"));
	CHECK(has(feed(&t, "u LIST \"\" &ZeVnLIqe-\r\n"),
	    "\"/\" \"&ZeVnLIqe-\"\r\n"));
	feed(&t, "v ENABLE UTF8=ACCEPT\r\n");
	CHECK(has(feed(&t, "w LIST \"\" \"\xe6\x97\xa5*\"\r\n"),
	    "\"/\" \"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\"\r\n"));
	t_fini(&t);
}

static void
test_status_append(void)
{
	struct t t;
	const char *o;

	t_init(&t);
	login(&t);
	CHECK(has(feed(&t, "a STATUS nope (MESSAGES)\r\n"),
	    "a NO [NONEXISTENT]"));
	o = feed(&t, "b APPEND INBOX (\\Seen $Work) \"14-Jul-2024 10:00:00 "
	    "+0200\" {22}\r\n");
	CHECK(has(o, "+ Ready"));
	o = feed(&t, "Subject: hi\r\n\r\nhello\r\n\r\n");
	CHECK(has(o, "b OK [APPENDUID "));
	CHECK(has(o, " 1] APPEND completed"));
	o = feed(&t, "c APPEND INBOX {4+}\r\nab\r\n\r\n");
	CHECK(has(o, "c OK [APPENDUID "));
	CHECK(has(o, " 2]"));
	o = feed(&t, "d STATUS INBOX (MESSAGES UIDNEXT UNSEEN DELETED SIZE "
	    "RECENT APPENDLIMIT HIGHESTMODSEQ UIDVALIDITY)\r\n");
	CHECK(has(o, "* STATUS \"INBOX\" (MESSAGES 2 UIDNEXT 3 UIDVALIDITY "));
	CHECK(has(o, " UNSEEN 1 DELETED 0 SIZE 26 RECENT 2 HIGHESTMODSEQ "));
	CHECK(has(o, " APPENDLIMIT 200000)\r\nd OK"));
	/* \Recent: the first rev1 SELECT takes both; nothing left after */
	CHECK(has(feed(&t, "d2 SELECT INBOX\r\n"), "* 2 RECENT\r\n"));
	CHECK(has(feed(&t, "d3 STATUS INBOX (RECENT)\r\n"),
	    "* STATUS \"INBOX\" (RECENT 0)"));
	CHECK(has(feed(&t, "d4 UNSELECT\r\n"), "d4 OK"));
	/* MULTIAPPEND */
	o = feed(&t, "e APPEND Sent (\\Deleted) {3+}\r\nx\r\n (\\Draft) "
	    "{3+}\r\ny\r\n\r\n");
	CHECK(has(o, "e OK [APPENDUID "));
	CHECK(has(o, " 1:2]"));
	CHECK(has(feed(&t, "f STATUS Sent (MESSAGES DELETED)\r\n"),
	    "(MESSAGES 2 DELETED 1)"));
	/* errors */
	CHECK(has(feed(&t, "g APPEND nope {3+}\r\nabc\r\n"),
	    "g NO [TRYCREATE]"));
	CHECK(has(feed(&t, "h APPEND INBOX {0+}\r\n\r\n"), "h NO"));
	CHECK(has(feed(&t, "i APPEND INBOX (\\Bogus) {1+}\r\nx\r\n"),
	    "i NO [CANNOT]"));
	/* the reader refuses a literal over the limit before its data */
	o = feed(&t, "j APPEND INBOX {300000}\r\n");
	CHECK(has(o, "j NO [TOOBIG]"));
	CHECK(hasnt(o, "+ Ready"));
	CHECK(has(feed(&t, "k STATUS INBOX (MESSAGES)\r\n"), "(MESSAGES 2)"));
	/* flags, keywords and date went along */
	feed(&t, "l EXAMINE INBOX\r\n");
	o = feed(&t, "m FETCH 1 (FLAGS INTERNALDATE)\r\n");
	CHECK(has(o, "\\Seen"));
	CHECK(has(o, "$Work"));
	CHECK(has(o, "INTERNALDATE \"14-Jul-2024 "));
	/* SORT and THREAD through the view */
	o = feed(&t, "n SORT (REVERSE ARRIVAL) UTF-8 ALL\r\n");
	CHECK(has(o, "* SORT 2 1\r\nn OK"));
	o = feed(&t, "o UID THREAD REFERENCES UTF-8 ALL\r\n");
	CHECK(has(o, "* THREAD "));
	CHECK(has(o, "o OK"));
	t_fini(&t);
}

/* login_with_quota - a session whose account has a quota of q bytes */
static void
login_with_quota(struct t *t, uint64_t q)
{
	const char *err = NULL;

	CHECK_INT(accounts_user_quota_set(t->a, USER, q, &err), 0);
	login(t);
	CHECK_INT(accounts_user_quota_set(t->a, USER, 0, &err), 0);
}

static void
test_append_over_quota(void)
{
	struct t t;
	const char *o;

	t_init(&t);
	login_with_quota(&t, 30);
	CHECK(has(feed(&t, "a APPEND INBOX {20+}\r\n0123456789012345678\n"
	    "\r\n"), "a OK"));
	o = feed(&t, "b APPEND INBOX {20+}\r\n0123456789012345678\n\r\n");
	CHECK(has(o, "b NO [OVERQUOTA]"));
	t_fini(&t);

	/* MULTIAPPEND: all or nothing */
	t_init(&t);
	login_with_quota(&t, 25);
	o = feed(&t, "c APPEND INBOX {10+}\r\n012345678\n {10+}\r\n"
	    "012345678\n {10+}\r\n012345678\n\r\n");
	CHECK(has(o, "c NO [OVERQUOTA]"));
	CHECK(has(feed(&t, "d STATUS INBOX (MESSAGES)\r\n"), "(MESSAGES 0)"));
	/* keywords past STORE_MAX_KEYWORDS */
	{
		struct buf in;
		int i;

		buf_init(&in, 1u << 16);
		CHECK_INT(buf_append_str(&in, "e APPEND INBOX ("), 0);
		for (i = 0; i < 120; i++)
			CHECK_INT(buf_printf(&in, "%skeyword%03d", i ? " " : "",
			    i), 0);
		CHECK_INT(buf_append_str(&in, ") {1+}\r\nx\r\n"), 0);
		CHECK(has(feed(&t, buf_cstr(&in)), "e NO [LIMIT]"));
		buf_fini(&in);
	}
	t_fini(&t);
}

static void
test_append_streamed(void)
{
	struct t t;
	size_t len = 150000, i;
	char *msg = xmalloc(len), head[64];
	const char *o;
	struct mailstore *ms;
	struct buf got;
	const char *err = NULL;

	memcpy(msg, "Subject: big\r\n\r\n", 16);
	for (i = 16; i < len; i++)
		msg[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' :
		    (char)('a' + i % 26);
	t_init(&t);
	login(&t);
	snprintf(head, sizeof(head), "a APPEND INBOX {%zu}\r\n", len);
	CHECK(has(feed(&t, head), "+ Ready"));
	t.chunk = 7000;		/* in pieces */
	feed_n(&t, msg, len);
	o = feed(&t, "\r\n");
	CHECK(has(o, "a OK [APPENDUID "));
	ms = imap_store_cache_get(t.sc, shared_uid, &err);
	CHECK(ms != NULL);
	buf_init(&got, 1u << 20);
	CHECK_INT(mailstore_message_read(ms, "INBOX", 1, &got, &err), 1);
	CHECK_MEM(got.data, got.len, msg, len);
	buf_fini(&got);
	{
		char *env = NULL, *bs = NULL, *body = NULL;

		CHECK_INT(mailstore_message_cache_get(ms, "INBOX", 1, &env,
		    &bs, &body, &err), 1);
		CHECK(env != NULL && strstr(env, "\"big\"") != NULL);
		CHECK(bs != NULL && strstr(bs, "\"text\" \"plain\"") != NULL);
		free(env);
		free(bs);
		free(body);
	}
	free(msg);
	t_fini(&t);
}

/* to_crlf - the test's own bare-LF -> CRLF conversion (heap) */
static char *
to_crlf(const char *in, size_t len, size_t *len_r)
{
	char *out = xmalloc(2 * len + 1);
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (in[i] == '\n' && (i == 0 || in[i - 1] != '\r'))
			out[n++] = '\r';
		out[n++] = in[i];
	}
	out[n] = '\0';
	*len_r = n;
	return out;
}

/*
 * APPEND of bare-LF messages: stored with CRLF, so RFC822.SIZE, BODY[]
 * and a partial agree; buffered and streamed in pieces (a CRLF split
 * between two pieces stays one CRLF).
 */
static void
test_append_bare_lf(void)
{
	static const char mixed[] = "a\nb\r\nc\n\n\r\r\nd\r";
	static const char small[] = "Subject: lf only\n\nline one\n"
	    "line two\r\nline three\n";
	struct t t;
	uint8_t out[64];
	char line[256], *want, *msg, *big;
	size_t wlen, split, n, len = 150000, i, blen;
	bool cr;
	const char *o, *err = NULL;
	struct mailstore *ms;
	struct buf got;

	/* the converter, whole and split at every offset */
	want = to_crlf(mixed, strlen(mixed), &wlen);
	for (split = 0; split <= strlen(mixed); split++) {
		cr = false;
		n = imap_append_crlf((const uint8_t *)mixed, split, &cr, out);
		n += imap_append_crlf((const uint8_t *)mixed + split,
		    strlen(mixed) - split, &cr, out + n);
		CHECK_MEM(out, n, want, wlen);
	}
	free(want);

	/* buffered */
	t_init(&t);
	login(&t);
	snprintf(line, sizeof(line), "a APPEND INBOX {%zu+}\r\n%s\r\n",
	    strlen(small), small);
	CHECK(has(feed(&t, line), "a OK [APPENDUID "));
	want = to_crlf(small, strlen(small), &wlen);
	ms = imap_store_cache_get(t.sc, shared_uid, &err);
	CHECK(ms != NULL);
	buf_init(&got, 1u << 20);
	CHECK_INT(mailstore_message_read(ms, "INBOX", 1, &got, &err), 1);
	CHECK_MEM(got.data, got.len, want, wlen);
	CHECK(has(feed(&t, "s SELECT INBOX\r\n"), "s OK"));
	o = feed(&t, "f FETCH 1 (RFC822.SIZE BODY.PEEK[] "
	    "BODY.PEEK[]<0.20>)\r\n");
	snprintf(line, sizeof(line), "RFC822.SIZE %zu BODY[] {%zu}\r\n%s"
	    " BODY[]<0> {20}\r\n%.20s)", wlen, wlen, want, want);
	CHECK(has(o, line));
	free(want);

	/* streamed in pieces of 7001: LF and CRLF lines, CRs at the cuts */
	big = xmalloc(len);
	memcpy(big, "Subject: big lf\n\n", 17);
	for (i = 17; i < len; i++)
		big[i] = (i % 7001 == 7000) ? '\r' : (i % 7001 == 0) ?
		    '\n' : (i % 61 == 60) ? '\n' : (char)('a' + i % 26);
	snprintf(line, sizeof(line), "b APPEND INBOX {%zu}\r\n", len);
	CHECK(has(feed(&t, line), "+ Ready"));
	t.chunk = 7001;
	feed_n(&t, big, len);
	t.chunk = SIZE_MAX;
	CHECK(has(feed(&t, "\r\n"), "b OK [APPENDUID "));
	msg = to_crlf(big, len, &blen);
	buf_reset(&got);
	CHECK_INT(mailstore_message_read(ms, "INBOX", 2, &got, &err), 1);
	CHECK_MEM(got.data, got.len, msg, blen);
	o = feed(&t, "g FETCH 2 (RFC822.SIZE BODY.PEEK[]<0.20>)\r\n");
	snprintf(line, sizeof(line), "RFC822.SIZE %zu BODY[]<0> {20}\r\n"
	    "%.20s)", blen, msg);
	CHECK(has(o, line));
	{
		char *env = NULL, *bs = NULL, *body = NULL;

		/* the cached parse was made of the CRLF form */
		CHECK_INT(mailstore_message_cache_get(ms, "INBOX", 2, &env,
		    &bs, &body, &err), 1);
		CHECK(env != NULL && strstr(env, "\"big lf\"") != NULL);
		free(env);
		free(bs);
		free(body);
	}
	free(msg);
	free(big);
	buf_fini(&got);
	t_fini(&t);
}

static void
test_idle_compress(void)
{
	struct t t;
	const char *o;

	t_init(&t);
	login(&t);
	o = feed(&t, "a IDLE\r\n");
	CHECK(has(o, "+ idling\r\n"));
	CHECK_INT(t.st, IMAP_SESSION_IDLE);
	buf_reset(&t.out);
	CHECK_INT(imap_session_poll(t.s, &t.env, &t.out), IMAP_SESSION_IDLE);
	o = feed(&t, "DONE\r\nb NOOP\r\n");
	CHECK(has(o, "a OK IDLE terminated\r\nb OK"));
	CHECK_INT(t.st, IMAP_SESSION_OK);
	feed(&t, "c IDLE\r\n");
	CHECK(has(feed(&t, "NOPE\r\n"), "c BAD Expected DONE"));
	/* COMPRESS: once */
	CHECK(has(feed(&t, "d COMPRESS LZMA\r\n"), "d NO"));
	o = feed(&t, "e COMPRESS DEFLATE\r\nf NOOP\r\n");
	CHECK(has(o, "e OK DEFLATE active"));
	CHECK(hasnt(o, "f OK"));
	CHECK_INT(t.st, IMAP_SESSION_COMPRESS);
	CHECK(has(feed(&t, "g COMPRESS DEFLATE\r\n"),
	    "g NO [COMPRESSIONACTIVE]"));
	t_fini(&t);
}

static void
test_quota_bye(void)
{
	struct t t;
	const char *o;

	t_init(&t);
	login(&t);
	CHECK(has(feed(&t, "a GETQUOTAROOT INBOX\r\n"),
	    "* QUOTAROOT \"INBOX\"\r\na OK"));
	CHECK(has(feed(&t, "a2 GETQUOTA \"\"\r\n"), "a2 NO [NONEXISTENT]"));
	CHECK(has(feed(&t, "a3 GETQUOTAROOT nope\r\n"),
	    "a3 NO [NONEXISTENT]"));
	CHECK(has(feed(&t, "b SETQUOTA \"\" (STORAGE 10)\r\n"),
	    "b NO [NOPERM]"));
	buf_reset(&t.out);
	imap_session_bye(t.s, "Server shutting down", &t.out);
	CHECK(has(buf_cstr(&t.out), "* BYE Server shutting down\r\n"));
	o = feed(&t, "c NOOP\r\n");
	CHECK(hasnt(o, "c OK"));
	CHECK_INT(t.st, IMAP_SESSION_CLOSE);
	t_fini(&t);

	/* an account with a quota: one root, STORAGE in KiB */
	t_init(&t);
	login_with_quota(&t, 10 * 1024);
	feed(&t, "a APPEND Sent {1500+}\r\n");
	{
		char body[1501];

		memset(body, 'x', 1500);
		body[1498] = '\r';
		body[1499] = '\n';
		body[1500] = '\0';
		feed(&t, body);
	}
	CHECK(has(feed(&t, "\r\n"), "a OK"));
	o = feed(&t, "b GETQUOTAROOT Sent\r\n");
	CHECK(has(o, "* QUOTAROOT \"Sent\" \"\"\r\n"
	    "* QUOTA \"\" (STORAGE 2 10)\r\nb OK"));
	o = feed(&t, "c GETQUOTA \"\"\r\n");
	CHECK(has(o, "* QUOTA \"\" (STORAGE 2 10)\r\nc OK"));
	CHECK(has(feed(&t, "d GETQUOTA \"other\"\r\n"), "d NO [NONEXISTENT]"));
	t_fini(&t);

	/* no quota of its own: the configured default */
	cfg_quota_default = 4096;
	t_init(&t);
	cfg_quota_default = 0;
	login(&t);
	CHECK(has(feed(&t, "e GETQUOTA \"\"\r\n"),
	    "* QUOTA \"\" (STORAGE 0 4)\r\ne OK"));
	t_fini(&t);
}

/* ---- selected state -------------------------------------------- */

/* a second session of the same user, on the same worker's env */
static struct imap_session *
second_session(struct t *t, struct buf *out)
{
	struct imap_session_config cfg;
	struct imap_peer peer;
	struct imap_session *s2;
	size_t used;
	const char *in = "L LOGIN " USER " \"" PASS "\"\r\n";
	const char *user, *pass, *err = NULL;
	struct accounts_user u;

	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "mx.example.org";
	cfg.data_dir = t->dir;
	cfg.plaintext_loopback = true;
	memset(&peer, 0, sizeof(peer));
	peer.addr = "127.0.0.1";
	peer.is_loopback = true;
	s2 = imap_session_new(&cfg, &peer);
	CHECK_INT(imap_session_input(s2, &t->env, (const uint8_t *)in,
	    strlen(in), &used, out), IMAP_SESSION_AUTH);
	imap_session_auth_request(s2, &user, &pass);
	CHECK_INT(accounts_user_verify(t->a, user, pass, &u, &err), 1);
	CHECK_INT(imap_session_auth_done(s2, &t->env, IMAP_AUTH_OK, u.address,
	    out), IMAP_SESSION_OK);
	CHECK(has(buf_cstr(out), "L OK"));
	buf_reset(out);
	return s2;
}

static const char *
feed2(struct t *t, struct imap_session *s2, struct buf *out, const char *in)
{
	size_t used = 0;

	buf_reset(out);
	CHECK_INT(imap_session_input(s2, &t->env, (const uint8_t *)in,
	    strlen(in), &used, out), IMAP_SESSION_OK);
	CHECK_INT(used, strlen(in));
	return buf_cstr(out);
}

static void
test_select_fetch_close(void)
{
	struct t t;
	const char *o;

	t_init(&t);
	login(&t);
	o = feed(&t, "a SELECT INBOX\r\n");
	CHECK(has(o, "* 0 EXISTS\r\n"));
	CHECK(has(o, "* OK [UIDVALIDITY "));
	CHECK(has(o, "a OK [READ-WRITE] SELECT completed"));
	/* APPEND into the selected mailbox: EXISTS before the tagged OK */
	o = feed(&t, "b APPEND INBOX {22}\r\nSubject: hi\r\n\r\nhello\r\n"
	    "\r\n");
	/* (rev1: new messages are \Recent for this first session) */
	CHECK(has(o, "* 1 EXISTS\r\n* 1 RECENT\r\nb OK [APPENDUID "));
	feed(&t, "c APPEND INBOX (\\Deleted) {4+}\r\nab\r\n\r\n");
	o = feed(&t, "d FETCH 1:* (UID FLAGS)\r\n");
	CHECK(has(o, "* 1 FETCH (UID 1 FLAGS (\\Recent))"));
	CHECK(has(o, "* 2 FETCH (UID 2 FLAGS (\\Deleted \\Recent))"));
	CHECK(has(o, "d OK"));
	o = feed(&t, "e UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\n");
	CHECK(has(o, "Subject: hi"));
	/* ENABLE only in the authenticated state */
	CHECK(has(feed(&t, "f ENABLE CONDSTORE\r\n"), "f BAD"));
	/* selecting again closes the first */
	o = feed(&t, "g EXAMINE INBOX\r\n");
	CHECK(has(o, "* OK [CLOSED]"));
	CHECK(has(o, "g OK [READ-ONLY]"));
	/* CLOSE after EXAMINE expunges nothing */
	CHECK(has(feed(&t, "h CLOSE\r\n"), "h OK CLOSE completed"));
	CHECK(has(feed(&t, "i STATUS INBOX (MESSAGES)\r\n"), "(MESSAGES 2)"));
	CHECK(has(feed(&t, "j FETCH 1 FLAGS\r\n"), "j BAD No mailbox"));
	/* UNSELECT keeps \Deleted messages, CLOSE removes them silently */
	feed(&t, "k SELECT INBOX\r\n");
	CHECK(has(feed(&t, "l UNSELECT\r\n"), "l OK UNSELECT completed"));
	CHECK(has(feed(&t, "m STATUS INBOX (MESSAGES)\r\n"), "(MESSAGES 2)"));
	feed(&t, "n SELECT INBOX\r\n");
	o = feed(&t, "o CLOSE\r\n");
	CHECK(hasnt(o, "EXPUNGE"));
	CHECK(has(o, "o OK CLOSE"));
	CHECK(has(feed(&t, "p STATUS INBOX (MESSAGES)\r\n"), "(MESSAGES 1)"));
	/* a failed SELECT leaves the authenticated state */
	feed(&t, "q SELECT INBOX\r\n");
	o = feed(&t, "r SELECT nope\r\n");
	CHECK(has(o, "* OK [CLOSED]"));
	CHECK(has(o, "r NO [NONEXISTENT]"));
	CHECK(has(feed(&t, "s FETCH 1 FLAGS\r\n"), "s BAD No mailbox"));
	/* QRESYNC parameters need ENABLE QRESYNC */
	CHECK(has(feed(&t, "u SELECT INBOX (QRESYNC (1 1))\r\n"), "u BAD"));
	/* the selected mailbox cannot be deleted */
	feed(&t, "v CREATE box\r\nw SELECT box\r\n");
	CHECK(has(feed(&t, "x DELETE box\r\n"), "x NO [INUSE]"));
	/* renamed, it stays selected under its new name */
	feed(&t, "x2 APPEND box {5+}\r\none\r\n\r\n");
	CHECK(has(feed(&t, "y RENAME box box2\r\n"), "y OK RENAME completed"));
	o = feed(&t, "y2 FETCH 1 (UID BODY.PEEK[])\r\n");
	CHECK(has(o, "* 1 FETCH (UID 1 BODY[] {5}\r\none\r\n)"));
	CHECK(has(o, "y2 OK"));
	o = feed(&t, "y3 APPEND box2 {4+}\r\ntwo\n\r\n");
	/* \Recent kept over the rename: both messages */
	CHECK(has(o, "* 2 EXISTS\r\n* 2 RECENT\r\ny3 OK"));
	/* and so when a parent is renamed */
	feed(&t, "y4 CREATE top/sub\r\ny5 APPEND top/sub {4+}\r\nsub\n"
	    "\r\ny6 SELECT top/sub\r\n");
	CHECK(has(feed(&t, "y7 RENAME top new\r\n"), "y7 OK"));
	o = feed(&t, "y8 FETCH 1 (BODY.PEEK[])\r\n");
	CHECK(has(o, "\r\nsub"));
	CHECK(has(o, "y8 OK"));
	CHECK(has(feed(&t, "y9 NOOP\r\n"), "y9 OK"));
	t_fini(&t);
}

static void
test_two_sessions_idle(void)
{
	struct t t;
	struct imap_session *s2;
	struct buf out2;
	const char *o;

	t_init(&t);
	login(&t);
	buf_init(&out2, 1u << 20);
	s2 = second_session(&t, &out2);
	feed(&t, "a APPEND INBOX {4+}\r\none\n\r\nb APPEND INBOX {4+}\r\n"
	    "two\n\r\n");
	CHECK(has(feed(&t, "c SELECT INBOX\r\n"), "* 2 EXISTS"));
	o = feed2(&t, s2, &out2, "A SELECT INBOX\r\n");
	CHECK(has(o, "* 2 EXISTS"));
	/* s2 flags and expunges; s1 hears it at its next command, but no
	 * EXPUNGE while answering FETCH (RFC 9051 7.5.1) */
	o = feed2(&t, s2, &out2, "B STORE 1 +FLAGS (\\Deleted)\r\n"
	    "C EXPUNGE\r\n");
	CHECK(has(o, "* 1 EXPUNGE"));
	o = feed(&t, "d FETCH 2 (UID)\r\n");
	CHECK(hasnt(o, "EXPUNGE"));
	CHECK(has(o, "d OK"));
	o = feed(&t, "e NOOP\r\n");
	CHECK(has(o, "* 1 EXPUNGE\r\n"));
	CHECK(has(o, "e OK"));
	/* IDLE: a change reaches the idling session through poll */
	o = feed(&t, "f IDLE\r\n");
	CHECK(has(o, "+ idling"));
	feed2(&t, s2, &out2, "D APPEND INBOX {6+}\r\nthree\n\r\n");
	buf_reset(&t.out);
	CHECK_INT(imap_session_poll(t.s, &t.env, &t.out), IMAP_SESSION_IDLE);
	CHECK(has(buf_cstr(&t.out), "* 2 EXISTS\r\n"));
	buf_reset(&t.out);
	CHECK_INT(imap_session_poll(t.s, &t.env, &t.out), IMAP_SESSION_IDLE);
	CHECK_INT(t.out.len, 0);
	feed2(&t, s2, &out2, "E STORE 2 +FLAGS (\\Flagged)\r\n");
	o = feed(&t, "DONE\r\n");
	CHECK(has(o, "FLAGS (\\Flagged)"));
	CHECK(has(o, "f OK IDLE terminated"));
	/* outside IDLE, poll says nothing */
	feed2(&t, s2, &out2, "F STORE 2 -FLAGS (\\Flagged)\r\n");
	buf_reset(&t.out);
	CHECK_INT(imap_session_poll(t.s, &t.env, &t.out), IMAP_SESSION_OK);
	CHECK_INT(t.out.len, 0);
	imap_session_free(&s2);
	buf_fini(&out2);
	t_fini(&t);
}

/* the selected mailbox deleted by another session: BYE */
static void
test_selected_mailbox_deleted(void)
{
	struct t t;
	struct imap_session *s2;
	struct buf out2;
	const char *o;

	t_init(&t);
	login(&t);
	buf_init(&out2, 1u << 20);
	s2 = second_session(&t, &out2);
	feed(&t, "a CREATE box\r\nb CREATE box2\r\n");
	CHECK(has(feed(&t, "c SELECT box\r\n"), "c OK"));
	CHECK(has(feed2(&t, s2, &out2, "A DELETE box\r\n"), "A OK"));
	o = feed(&t, "d NOOP\r\n");
	CHECK(has(o, "* BYE Selected mailbox was deleted"));
	CHECK(hasnt(o, "d OK"));
	CHECK_INT(t.st, IMAP_SESSION_CLOSE);
	t_fini(&t);

	/* the same heard in IDLE */
	t_init(&t);
	login(&t);
	feed(&t, "a CREATE box\r\n");
	CHECK(has(feed(&t, "c SELECT box\r\nd IDLE\r\n"), "+ idling"));
	CHECK(has(feed2(&t, s2, &out2, "B DELETE box\r\n"), "B OK"));
	buf_reset(&t.out);
	CHECK_INT(imap_session_poll(t.s, &t.env, &t.out), IMAP_SESSION_CLOSE);
	CHECK(has(buf_cstr(&t.out), "* BYE Selected mailbox was deleted"));
	t_fini(&t);
	imap_session_free(&s2);
	buf_fini(&out2);
}

/* FETCH 1:* over more than IMAP_SESSION_OUT_HIGH pauses and resumes */
static void
test_long_fetch_pauses(void)
{
	struct t t;
	struct mailstore *ms;
	struct mailstore_delivery d[40];
	char *body = xmalloc(20000);
	const char *err = NULL, *in = "a FETCH 1:* (BODY.PEEK[])\r\n";
	size_t used, i, total = 0;
	int pauses = 0;
	enum imap_session_status st;

	memset(body, 'x', 20000);
	memcpy(body, "Subject: big\r\n\r\n", 16);
	t_init(&t);
	login(&t);
	ms = imap_store_cache_get(t.sc, shared_uid, &err);
	memset(d, 0, sizeof(d));
	for (i = 0; i < 40; i++) {
		d[i].mailbox = "INBOX";
		d[i].fd = -1;
		d[i].data = body;
		d[i].size = 20000;
	}
	CHECK_INT(mailstore_deliver(ms, d, 40, &err), 0);
	feed(&t, "s SELECT INBOX\r\n");
	buf_reset(&t.out);
	st = imap_session_input(t.s, &t.env, (const uint8_t *)in, strlen(in),
	    &used, &t.out);
	while (st == IMAP_SESSION_MORE) {
		pauses++;
		CHECK(t.out.len < IMAP_SESSION_OUT_HIGH + 64 * 1024);
		total += t.out.len;
		buf_reset(&t.out);
		st = imap_session_resume(t.s, &t.env, &t.out);
	}
	total += t.out.len;
	CHECK_INT(st, IMAP_SESSION_OK);
	CHECK(pauses >= 2);
	CHECK(total > 40 * 20000);
	CHECK(has(buf_cstr(&t.out), "a OK"));
	CHECK(has(feed(&t, "b NOOP\r\n"), "b OK"));
	free(body);
	t_fini(&t);
}

/* normalize - UIDVALIDITY values (time-based) become "N" */
static char *
normalize(const char *in)
{
	char *out = xmalloc(strlen(in) + 1), *w = out;
	const char *p = in;

	while (*p != '\0') {
		size_t n = strspn(p, "0123456789");

		if (n >= 9) {
			*w++ = 'N';
			p += n;
		} else if (n > 0) {
			memcpy(w, p, n);
			w += n;
			p += n;
		} else {
			*w++ = *p++;
		}
	}
	*w = '\0';
	return out;
}

/* every exchange fed whole and byte by byte gives the same output */
static void
test_split_equivalence(void)
{
	static const char *const script =
	    "a CAPABILITY\r\nb LOGIN {17}\r\n" USER " \"" PASS "\"\r\n"
	    "c CREATE {3}\r\nfoo\r\nd LIST \"\" *\r\n"
	    "e APPEND foo {4}\r\nab\r\n\r\nf STATUS foo (MESSAGES)\r\n"
	    "f2 SELECT foo\r\nf3 FETCH 1 (FLAGS BODY[])\r\n"
	    "f4 APPEND foo (\\Seen) {3+}\r\nxy\n\r\n"
	    "g IDLE\r\nDONE\r\nh LOGOUT\r\n";
	struct t t;
	char *whole;

	t_init(&t);
	whole = normalize(feed(&t, script));
	CHECK(has(whole, "h OK LOGOUT"));
	CHECK(has(whole, "f3 OK"));
	CHECK(has(whole, "* 2 EXISTS\r\n* 2 RECENT\r\nf4 OK"));
	t_fini(&t);
	t_init(&t);
	t.chunk = 1;
	{
		/* feed_n resets the output per call: collect it here */
		struct buf all;
		size_t i;

		buf_init(&all, 1u << 20);
		for (i = 0; script[i] != '\0'; i++) {
			const char *o = feed_n(&t, script + i, 1);

			CHECK_INT(buf_append_str(&all, o), 0);
		}
		{
			char *norm = normalize(buf_cstr(&all));

			CHECK_STR(norm, whole);
			free(norm);
		}
		buf_fini(&all);
	}
	free(whole);
	t_fini(&t);
}

static void
test_store_cache(void)
{
	struct imap_store_cache *c;
	const char *err = NULL;
	struct mailstore *a, *b;

	setup_shared();
	c = imap_store_cache_new(shared_dir, 1);
	a = imap_store_cache_get(c, shared_uid, &err);
	CHECK(a != NULL);
	b = imap_store_cache_get(c, shared_uid, &err);
	CHECK(a == b);
	CHECK(imap_store_cache_get(c, 999, &err) == NULL);
	CHECK(imap_store_cache_get(c, 0, &err) == NULL);
	CHECK(imap_store_cache_get(NULL, shared_uid, &err) == NULL);
	imap_store_cache_free(&c);
	CHECK(c == NULL);
	imap_store_cache_free(&c);
}

static void
test_cleanup(void)
{
	accounts_close(&shared_accounts);
	CHECK_INT(store_rmtree(shared_top), 0);
	free(shared_top);
	free(shared_dir);
}

static const struct test_case cases[] = {
	TEST(test_greeting_capability),
	TEST(test_noop_id_logout),
	TEST(test_state_errors),
	TEST(test_too_many_bad),
	TEST(test_prelogin_limits),
	TEST(test_prelogin_command_limit),
	TEST(test_pipeline_pause),
	TEST(test_login),
	TEST(test_authenticate_plain),
	TEST(test_authenticate_scram),
	TEST(test_scram_throttle),
	TEST(test_enable),
	TEST(test_create_delete_rename),
	TEST(test_list),
	TEST(test_status_append),
	TEST(test_append_over_quota),
	TEST(test_append_streamed),
	TEST(test_append_bare_lf),
	TEST(test_idle_compress),
	TEST(test_quota_bye),
	TEST(test_select_fetch_close),
	TEST(test_two_sessions_idle),
	TEST(test_selected_mailbox_deleted),
	TEST(test_long_fetch_pauses),
	TEST(test_split_equivalence),
	TEST(test_store_cache),
	TEST(test_cleanup),
};

TEST_MAIN(cases)
