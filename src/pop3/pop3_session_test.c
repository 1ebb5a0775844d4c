/*
 * pop3_session_test.c - the POP3 session against fake ops: every command,
 * every error, states, limits, STLS injection, SASL PLAIN, and the byte
 * stuffer; each transcript is fed whole, byte by byte and split at every
 * offset.
 */
#include "pop3/pop3_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"
#include "../../tests/lib/test.h"

/* ---- the fake server ------------------------------------------- */

static const char *const msg_text[] = {
	"Subject: one\r\n\r\nhello\r\n",
	"Subject: two\r\nX: y\r\n\r\n.dot line\r\nline 2\r\n..two\r\n"
	    "bare\nend",
	"Subject: three\r\n\r\ngone\r\n",
};

struct fake {
	bool		 async_tls;	/* leave STLS pending */
	bool		 tls_called;
	uint32_t	 updated[8];
	size_t		 nupdated;
	bool		 update_called;
	int		 logins;
	char		 last_user[64];
	bool		 last_pw_null;
	size_t		 big;		/* list this many messages instead */
};

static void
fake_login(void *ctx, struct pop3_session *s, const char *user,
    const char *password)
{
	struct fake *f = ctx;
	static const struct pop3_message msgs[] = {
		{ 11, 0 }, { 15, 0 }, { 19, 0 },
	};
	struct pop3_message m[3];
	size_t i;

	f->logins++;
	snprintf(f->last_user, sizeof(f->last_user), "%s", user);
	f->last_pw_null = password == NULL;
	if (f->big > 0) {
		struct pop3_message *mm = xcalloc(f->big, sizeof(*mm));

		for (i = 0; i < f->big; i++) {
			mm[i].uid = (uint32_t)i + 1;
			mm[i].size = 1000;
		}
		pop3_session_login_done(s, POP3_LOGIN_OK, user, 4000000000u,
		    mm, f->big);
		free(mm);
		return;
	}
	if (!strcmp(user, "busy@example.test")) {
		pop3_session_login_done(s, POP3_LOGIN_IN_USE, NULL, 0, NULL,
		    0);
		return;
	}
	if (!strcmp(user, "slow@example.test")) {
		pop3_session_login_done(s, POP3_LOGIN_THROTTLED, NULL, 0,
		    NULL, 0);
		return;
	}
	if (strcmp(user, "alice@example.test") ||
	    (password != NULL && strcmp(password, "sec ret"))) {
		pop3_session_login_done(s, POP3_LOGIN_BAD, NULL, 0, NULL, 0);
		return;
	}
	memcpy(m, msgs, sizeof(m));
	for (i = 0; i < 3; i++)
		m[i].size = strlen(msg_text[i]);
	pop3_session_login_done(s, POP3_LOGIN_OK, user, 7, m, 3);
}

static int
fake_send(void *ctx, struct pop3_session *s, size_t idx, uint32_t uid,
    int64_t lines)
{
	struct pop3_stuffer st;
	const char *t;
	int r;

	(void)ctx;
	if (idx == 2 || uid == 19)
		return -1;	/* "expunged by IMAP meanwhile" */
	t = msg_text[idx];
	pop3_stuffer_init(&st, lines);
	r = pop3_stuffer_feed(&st, (const uint8_t *)t, strlen(t),
	    pop3_session_output(s));
	CHECK(r >= 0);
	CHECK_INT(pop3_stuffer_finish(&st, pop3_session_output(s)), 0);
	pop3_session_send_done(s, true);
	return 0;
}

static void
fake_update(void *ctx, struct pop3_session *s, const uint32_t *uids,
    size_t n)
{
	struct fake *f = ctx;

	f->update_called = true;
	CHECK(n <= 8);
	memcpy(f->updated, uids, n * sizeof(*uids));
	f->nupdated = n;
	pop3_session_update_done(s, true);
}

static void
fake_start_tls(void *ctx, struct pop3_session *s)
{
	struct fake *f = ctx;

	f->tls_called = true;
	if (!f->async_tls)
		pop3_session_tls_started(s);
}

static void
fake_scram_lookup(void *ctx, struct pop3_session *s, const char *user)
{
	(void)ctx;
	(void)user;
	pop3_session_scram_done(s, NULL);
}

static const struct pop3_session_ops fake_ops = {
	.login = fake_login,
	.send = fake_send,
	.update = fake_update,
	.start_tls = fake_start_tls,
	.scram_lookup = fake_scram_lookup,
};

/* ---- the runner ------------------------------------------------ */

enum feed_mode { FEED_WHOLE, FEED_BYTES, FEED_SPLIT };

struct run {
	struct fake	 f;
	struct buf	 out;
	bool		 closed;
};

static struct pop3_session *
session_new(struct fake *f, bool loopback, bool tls)
{
	struct pop3_session_config cfg;
	struct pop3_peer peer;
	struct pop3_session *s;

	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "mx.example.test";
	cfg.tls_available = true;
	cfg.plaintext_loopback = true;
	cfg.scram_available = true;
	memset(&peer, 0, sizeof(peer));
	peer.session_id = "t1";
	peer.addr = loopback ? "127.0.0.1" : "192.0.2.1";
	peer.is_loopback = loopback;
	peer.is_tls = tls;
	s = pop3_session_new(&cfg, &fake_ops, f, &peer);
	pop3_session_start(s);
	return s;
}

/* feed - give the session p[0..n) in pieces of at most chunk bytes */
static void
feed(struct pop3_session *s, struct buf *out, const char *p, size_t n,
    size_t chunk)
{
	size_t off = 0;

	while (off < n && !pop3_session_want_close(s)) {
		size_t len = n - off < chunk ? n - off : chunk;
		size_t used = pop3_session_input(s, (const uint8_t *)p + off,
		    len);
		struct buf *o = pop3_session_output(s);

		CHECK(buf_append(out, o->data, o->len) == 0);
		buf_reset(o);
		off += used;
		if (used == 0)
			break;
	}
	{
		struct buf *o = pop3_session_output(s);

		CHECK(buf_append(out, o->data, o->len) == 0);
		buf_reset(o);
	}
}

/*
 * transcript - run input against a fresh session in every feeding mode
 * and compare the whole output (greeting included) with expect.
 */
static void
transcript_at(const char *in, const char *expect, bool loopback, bool tls,
    size_t split)
{
	struct fake f;
	struct pop3_session *s;
	struct buf out;

	memset(&f, 0, sizeof(f));
	buf_init(&out, 1 << 20);
	s = session_new(&f, loopback, tls);
	if (split == 0) {
		feed(s, &out, in, strlen(in), strlen(in) + 1);
	} else if (split == (size_t)-1) {
		feed(s, &out, in, strlen(in), 1);
	} else {
		feed(s, &out, in, split, split);
		feed(s, &out, in + split, strlen(in) - split,
		    strlen(in) + 1);
	}
	if (!CHECK_STR((const char *)out.data, expect))
		fprintf(stderr, "  (split %zu)\n", split);
	pop3_session_free(&s);
	buf_fini(&out);
}

static void
transcript(const char *in, const char *expect, bool loopback, bool tls)
{
	size_t i;

	transcript_at(in, expect, loopback, tls, 0);
	transcript_at(in, expect, loopback, tls, (size_t)-1);
	for (i = 1; i < strlen(in); i++)
		transcript_at(in, expect, loopback, tls, i);
}

#define GREET "+OK mx.example.test POP3 server ready\r\n"
#define LOGIN "USER alice@example.test\r\nPASS sec ret\r\n"
#define LOGGED "+OK Send your password\r\n" \
	"+OK maildrop locked and ready, 3 messages (103 octets)\r\n"

/* ---- tests ----------------------------------------------------- */

static void
test_capa_loopback(void)
{
	transcript("CAPA\r\nQUIT\r\n",
	    GREET
	    "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\n"
	    "SASL PLAIN SCRAM-SHA-256\r\nSTLS\r\n"
	    "IMPLEMENTATION postino\r\n.\r\n"
	    "+OK mx.example.test POP3 server signing off\r\n", true, false);
}

static void
test_capa_remote_plaintext(void)
{
	/* no TLS, not loopback: no USER, no PLAIN; USER/AUTH PLAIN refused */
	transcript("CAPA\r\nUSER alice@example.test\r\nAUTH PLAIN\r\n"
	    "AUTH\r\n",
	    GREET
	    "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\nPIPELINING\r\nSASL SCRAM-SHA-256\r\nSTLS\r\n"
	    "IMPLEMENTATION postino\r\n.\r\n"
	    "-ERR [AUTH] Plaintext authentication is disallowed without "
	    "TLS; use STLS first\r\n"
	    "-ERR [AUTH] Plaintext authentication is disallowed without "
	    "TLS; use STLS first\r\n"
	    "+OK Mechanisms follow\r\nSCRAM-SHA-256\r\n.\r\n", false, false);
}

static void
test_capa_implicit_tls(void)
{
	transcript("CAPA\r\nSTLS\r\n",
	    GREET
	    "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\n"
	    "SASL PLAIN SCRAM-SHA-256\r\nIMPLEMENTATION postino\r\n.\r\n"
	    "-ERR TLS is already active\r\n", false, true);
}

static void
test_transaction(void)
{
	transcript(LOGIN
	    "STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\nuidl 3\r\nRETR 1\r\n"
	    "RETR 2\r\nTOP 2 0\r\nTOP 2 1\r\nTOP 1 5\r\nNOOP\r\n"
	    "DELE 1\r\nSTAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nLIST 1\r\n"
	    "RSET\r\nDELE 3\r\nDELE 1\r\nQUIT\r\n",
	    GREET LOGGED
	    "+OK 3 103\r\n"
	    "+OK 3 messages (103 octets)\r\n1 23\r\n2 56\r\n3 24\r\n.\r\n"
	    "+OK 2 56\r\n"
	    "+OK Unique-ID listing follows\r\n1 7.11\r\n2 7.15\r\n"
	    "3 7.19\r\n.\r\n"
	    "+OK 3 7.19\r\n"
	    "+OK 23 octets\r\nSubject: one\r\n\r\nhello\r\n.\r\n"
	    "+OK 56 octets\r\nSubject: two\r\nX: y\r\n\r\n..dot line\r\n"
	    "line 2\r\n...two\r\nbare\r\nend\r\n.\r\n"
	    "+OK top of message follows\r\nSubject: two\r\nX: y\r\n\r\n"
	    ".\r\n"
	    "+OK top of message follows\r\nSubject: two\r\nX: y\r\n\r\n"
	    "..dot line\r\n.\r\n"
	    "+OK top of message follows\r\nSubject: one\r\n\r\nhello\r\n"
	    ".\r\n"
	    "+OK\r\n"
	    "+OK message 1 deleted\r\n"
	    "+OK 2 80\r\n"
	    "+OK 2 messages (80 octets)\r\n2 56\r\n3 24\r\n.\r\n"
	    "-ERR message 1 already deleted\r\n"
	    "-ERR message 1 already deleted\r\n"
	    "-ERR message 1 already deleted\r\n"
	    "+OK maildrop has 3 messages (103 octets)\r\n"
	    "+OK message 3 deleted\r\n"
	    "+OK message 1 deleted\r\n"
	    "+OK mx.example.test POP3 server signing off (1 messages "
	    "left)\r\n", true, false);
}

static void
test_update_uids(void)
{
	struct fake f;
	struct pop3_session *s;
	struct buf out;
	const char *in = LOGIN "DELE 3\r\nDELE 1\r\nQUIT\r\n";

	memset(&f, 0, sizeof(f));
	buf_init(&out, 1 << 16);
	s = session_new(&f, true, false);
	feed(s, &out, in, strlen(in), 1000);
	CHECK(f.update_called);
	CHECK_INT(f.nupdated, 2);
	CHECK_INT(f.updated[0], 11);
	CHECK_INT(f.updated[1], 19);
	CHECK(pop3_session_want_close(s));
	pop3_session_free(&s);
	buf_fini(&out);
}

static void
test_dropped_connection_deletes_nothing(void)
{
	struct fake f;
	struct pop3_session *s;
	struct buf out;
	const char *in = LOGIN "DELE 1\r\nDELE 2\r\n";

	memset(&f, 0, sizeof(f));
	buf_init(&out, 1 << 16);
	s = session_new(&f, true, false);
	feed(s, &out, in, strlen(in), 1000);
	CHECK(pop3_session_is_authenticated(s));
	CHECK_STR(pop3_session_user(s), "alice@example.test");
	pop3_session_timeout(s);
	CHECK(pop3_session_want_close(s));
	CHECK(strstr((const char *)pop3_session_output(s)->data,
	    "-ERR Autologout") != NULL);
	pop3_session_free(&s);
	CHECK(!f.update_called);
	buf_fini(&out);
}

static void
test_quit_nothing_deleted(void)
{
	struct fake f;
	struct pop3_session *s;
	struct buf out;
	const char *in = LOGIN "QUIT\r\n";

	memset(&f, 0, sizeof(f));
	buf_init(&out, 1 << 16);
	s = session_new(&f, true, false);
	feed(s, &out, in, strlen(in), 1000);
	CHECK(!f.update_called);
	CHECK(pop3_session_want_close(s));
	CHECK(strstr((const char *)out.data, "(3 messages left)") != NULL);
	pop3_session_free(&s);
	buf_fini(&out);
}

static void
test_message_gone(void)
{
	transcript(LOGIN "RETR 3\r\nTOP 3 1\r\nNOOP\r\n",
	    GREET LOGGED
	    "-ERR [SYS/TEMP] message 3 is no longer available\r\n"
	    "-ERR [SYS/TEMP] message 3 is no longer available\r\n"
	    "+OK\r\n", true, false);
}

static void
test_bad_numbers(void)
{
	transcript(LOGIN "RETR\r\nRETR 0\r\nRETR 4\r\nRETR -1\r\n"
	    "RETR +1\r\nRETR 1x\r\nTOP 1\r\nTOP 1 -1\r\nDELE 99999999999\r\n"
	    "LIST 1 2\r\n",
	    GREET LOGGED
	    "-ERR invalid message number\r\n"
	    "-ERR invalid message number\r\n"
	    "-ERR no such message\r\n"
	    "-ERR invalid message number\r\n"
	    "-ERR invalid message number\r\n"
	    "-ERR invalid message number\r\n"
	    "-ERR TOP needs a message number and a line count\r\n"
	    "-ERR TOP needs a message number and a line count\r\n"
	    "-ERR invalid message number\r\n"
	    "-ERR invalid message number\r\n", true, false);
}

/* test_top_without_arguments - a fuzz find: no argument at all was UB */
static void
test_top_without_arguments(void)
{
	transcript(LOGIN "TOP\r\nTOP \r\nNOOP\r\n",
	    GREET LOGGED
	    "-ERR TOP needs a message number and a line count\r\n"
	    "-ERR TOP needs a message number and a line count\r\n"
	    "+OK\r\n", true, false);
}

static void
test_wrong_state(void)
{
	transcript("STAT\r\nRETR 1\r\nPASS x\r\nFOO\r\n" LOGIN
	    "USER bob\r\nAUTH PLAIN\r\nSTLS\r\n",
	    GREET
	    "-ERR not logged in\r\n"
	    "-ERR not logged in\r\n"
	    "-ERR USER first\r\n"
	    "-ERR unknown command\r\n"
	    LOGGED
	    "-ERR command not valid in this state\r\n"
	    "-ERR command not valid in this state\r\n"
	    "-ERR command not valid in this state\r\n", true, false);
}

static void
test_too_many_errors(void)
{
	char in[256] = "";
	size_t i;

	for (i = 0; i < POP3_MAX_ERRORS + 2; i++)
		strcat(in, "XYZZY\r\n");
	{
		char expect[1024] = GREET;

		for (i = 0; i + 1 < POP3_MAX_ERRORS; i++)
			strcat(expect, "-ERR unknown command\r\n");
		strcat(expect, "-ERR unknown command; too many errors, "
		    "closing\r\n");
		transcript(in, expect, true, false);
	}
}

static void
test_preauth_command_limit(void)
{
	size_t i, n;

	for (n = POP3_MAX_PREAUTH_COMMANDS - 1;
	    n <= POP3_MAX_PREAUTH_COMMANDS + 1; n++) {
		struct fake f;
		struct pop3_session *s;
		struct buf out, in;

		memset(&f, 0, sizeof(f));
		buf_init(&out, 1 << 20);
		buf_init(&in, 1 << 20);
		for (i = 0; i < n; i++)
			CHECK(buf_append_str(&in, "CAPA\r\n") == 0);
		s = session_new(&f, true, false);
		feed(s, &out, (const char *)in.data, in.len, 7);
		CHECK_INT(pop3_session_want_close(s),
		    n > POP3_MAX_PREAUTH_COMMANDS);
		CHECK_INT(strstr((const char *)out.data, "-ERR Too many "
		    "commands without logging in\r\n") != NULL,
		    n > POP3_MAX_PREAUTH_COMMANDS);
		pop3_session_free(&s);
		buf_fini(&out);
		buf_fini(&in);
	}
}

static void
test_bad_logins(void)
{
	transcript("USER alice@example.test\r\nPASS wrong\r\n"
	    "PASS sec ret\r\n"
	    "USER nobody@example.test\r\nPASS sec ret\r\n"
	    "USER alice@example.test\r\nPASS x\r\nNOOP\r\n",
	    GREET
	    "+OK Send your password\r\n"
	    "-ERR [AUTH] Authentication failed\r\n"
	    "-ERR USER first\r\n"
	    "+OK Send your password\r\n"
	    "-ERR [AUTH] Authentication failed\r\n"
	    "+OK Send your password\r\n"
	    "-ERR [AUTH] Authentication failed\r\n", true, false);
}

static void
test_in_use_and_throttled(void)
{
	transcript("USER busy@example.test\r\nPASS a\r\n"
	    "USER slow@example.test\r\nPASS a\r\nNOOP\r\n",
	    GREET
	    "+OK Send your password\r\n"
	    "-ERR [IN-USE] Mailbox is locked by another POP3 session\r\n"
	    "+OK Send your password\r\n"
	    "-ERR [LOGIN-DELAY] Too many failed logins, try again later\r\n",
	    true, false);
}

static void
test_apop_and_user_args(void)
{
	transcript("APOP alice@example.test 0123456789abcdef\r\n"
	    "USER\r\nUSER a b\r\nUSER a\r\nPASS\r\nQUIT\r\n",
	    GREET
	    "-ERR [AUTH] APOP is not supported; use USER/PASS or AUTH\r\n"
	    "-ERR USER needs one user name\r\n"
	    "-ERR USER needs one user name\r\n"
	    "+OK Send your password\r\n"
	    "-ERR PASS needs a password\r\n"
	    "+OK mx.example.test POP3 server signing off\r\n", true, false);
}

static void
test_auth_plain(void)
{
	/* "\0alice@example.test\0sec ret" */
	transcript("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABzZWMgcmV0\r\n"
	    "STAT\r\n",
	    GREET
	    "+OK maildrop locked and ready, 3 messages (103 octets)\r\n"
	    "+OK 3 103\r\n", true, false);
	transcript("AUTH PLAIN\r\n"
	    "AGFsaWNlQGV4YW1wbGUudGVzdABzZWMgcmV0\r\nSTAT\r\n",
	    GREET "+ \r\n"
	    "+OK maildrop locked and ready, 3 messages (103 octets)\r\n"
	    "+OK 3 103\r\n", true, false);
	/* wrong password, cancel, bad base64, unknown mechanism */
	transcript("auth plain AGFsaWNlQGV4YW1wbGUudGVzdAB4\r\n"
	    "AUTH PLAIN\r\n*\r\nAUTH PLAIN\r\n!!!\r\nAUTH PLAIN ###\r\n"
	    "AUTH CRAM-MD5\r\nNOOP\r\n",
	    GREET
	    "-ERR [AUTH] Authentication failed\r\n"
	    "+ \r\n-ERR Authentication cancelled\r\n"
	    "+ \r\n-ERR invalid base64 in the SASL response\r\n"
	    "-ERR invalid base64 in the initial response\r\n"
	    "-ERR unsupported authentication mechanism\r\n"
	    "-ERR not logged in\r\n", true, false);
}

static void
test_auth_scram_unknown_user(void)
{
	struct fake f;
	struct pop3_session *s;
	struct buf out;
	/* "n,,n=ghost,r=abcdefgh" */
	const char *in = "AUTH SCRAM-SHA-256 biwsbj1naG9zdCxyPWFiY2RlZmdo\r\n";

	memset(&f, 0, sizeof(f));
	buf_init(&out, 1 << 16);
	s = session_new(&f, false, false);
	feed(s, &out, in, strlen(in), 1000);
	/* a server-first challenge comes even for an unknown user */
	CHECK(strncmp((const char *)out.data + strlen(GREET), "+ ", 2) == 0);
	CHECK(!pop3_session_is_pending(s));
	/* a bogus client-final fails like a wrong password */
	buf_reset(&out);
	{
		const char *bad = "Yz1iaXdzLHI9YWJjZGVmZ2gscD1BQUFB\r\n";

		feed(s, &out, bad, strlen(bad), 1000);
	}
	CHECK(strncmp((const char *)out.data, "-ERR", 4) == 0);
	CHECK(f.logins == 0);
	pop3_session_free(&s);
	buf_fini(&out);
}

static void
test_stls_injection(void)
{
	struct fake f;
	struct pop3_session *s;
	struct buf out;
	const char *in = "STLS\r\nUSER alice@example.test\r\n";
	size_t used;

	memset(&f, 0, sizeof(f));
	f.async_tls = true;
	buf_init(&out, 1 << 16);
	s = session_new(&f, false, false);
	used = pop3_session_input(s, (const uint8_t *)in, strlen(in));
	/* consumed up to the end of the STLS line, no further */
	CHECK_INT(used, 6);
	CHECK(f.tls_called);
	CHECK(pop3_session_is_pending(s));
	CHECK_STR((const char *)pop3_session_output(s)->data,
	    GREET "+OK Begin TLS negotiation\r\n");
	buf_reset(pop3_session_output(s));
	/* the caller drops the rest; after the handshake all is fresh */
	pop3_session_tls_started(s);
	{
		const char *capa = "CAPA\r\nSTLS\r\n";

		feed(s, &out, capa, strlen(capa), 1000);
	}
	CHECK_STR((const char *)out.data,
	    "+OK Capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\n"
	    "AUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\n"
	    "SASL PLAIN SCRAM-SHA-256\r\nIMPLEMENTATION postino\r\n.\r\n"
	    "-ERR TLS is already active\r\n");
	pop3_session_free(&s);
	buf_fini(&out);
}

static void
test_stls_forgets_user(void)
{
	/* synchronous handshake in the fake: USER given before is gone */
	transcript("USER alice@example.test\r\nSTLS\r\nPASS sec ret\r\n",
	    GREET "+OK Send your password\r\n"
	    "+OK Begin TLS negotiation\r\n-ERR USER first\r\n", true, false);
}

static void
test_line_limits(void)
{
	char *line;
	char expect[512];
	size_t lens[3] = { POP3_MAX_LINE - 1, POP3_MAX_LINE,
	    POP3_MAX_LINE + 1 };
	size_t i;

	for (i = 0; i < 3; i++) {
		size_t len = lens[i];	/* with CRLF */

		line = xmalloc(len + 16);
		memcpy(line, "NOOP ", 5);
		memset(line + 5, 'a', len - 7);
		memcpy(line + len - 2, "\r\nQUIT\r\n", 9);
		snprintf(expect, sizeof(expect), GREET "%s"
		    "+OK mx.example.test POP3 server signing off\r\n",
		    len <= POP3_MAX_LINE ? "-ERR not logged in\r\n" :
		    "-ERR line too long\r\n");
		transcript_at(line, expect, true, false, 0);
		transcript_at(line, expect, true, false, (size_t)-1);
		transcript_at(line, expect, true, false, 100);
		transcript_at(line, expect, true, false, len - 1);
		free(line);
	}
}

static void
test_framing(void)
{
	transcript("NOOP\nQUIT\r\n",
	    GREET "-ERR lines must end with CRLF\r\n"
	    "+OK mx.example.test POP3 server signing off\r\n", true, false);
	transcript("NO\rOP\r\nQUxT\r\nQUIT\r\n",
	    GREET "-ERR invalid characters in the command line\r\n"
	    "-ERR unknown command\r\n"
	    "+OK mx.example.test POP3 server signing off\r\n", true, false);
}

static void
test_shutdown(void)
{
	struct fake f;
	struct pop3_session *s;

	memset(&f, 0, sizeof(f));
	s = session_new(&f, true, false);
	buf_reset(pop3_session_output(s));
	pop3_session_shutdown(s);
	CHECK(pop3_session_want_close(s));
	CHECK_STR((const char *)pop3_session_output(s)->data,
	    "-ERR [SYS/TEMP] Server shutting down, try again later\r\n");
	CHECK_INT(pop3_session_input(s, (const uint8_t *)"NOOP\r\n", 6), 0);
	pop3_session_free(&s);
	pop3_session_free(&s);
}

static void
big_maildrop(size_t n, bool ok)
{
	struct fake f;
	struct pop3_session *s;
	struct buf out;
	const char *in = LOGIN "UIDL\r\nLIST\r\nSTAT\r\n";
	char want[64];

	memset(&f, 0, sizeof(f));
	f.big = n;
	buf_init(&out, 64u << 20);
	s = session_new(&f, true, false);
	feed(s, &out, in, strlen(in), 1000);
	if (ok) {
		snprintf(want, sizeof(want), "\r\n+OK %zu %llu\r\n", n,
		    (unsigned long long)n * 1000);
		CHECK(!pop3_session_want_close(s));
		CHECK(strstr((const char *)out.data, want) != NULL);
		snprintf(want, sizeof(want), "\r\n%zu 4000000000.%zu\r\n.\r\n",
		    n, n);
		CHECK(strstr((const char *)out.data, want) != NULL);
	} else {
		CHECK(pop3_session_want_close(s));
		CHECK(strstr((const char *)out.data,
		    "-ERR [SYS/PERM] maildrop too large for POP3\r\n") != NULL);
	}
	pop3_session_free(&s);
	buf_fini(&out);
}

static void
test_maildrop_limit(void)
{
	/* the largest maildrop's UIDL still fits the output cap */
	big_maildrop(POP3_MAX_MESSAGES - 1, true);
	big_maildrop(POP3_MAX_MESSAGES, true);
	big_maildrop(POP3_MAX_MESSAGES + 1, false);
}

static void
test_sasl_line_limit(void)
{
	size_t lens[3] = { POP3_MAX_AUTH_LINE - 1, POP3_MAX_AUTH_LINE,
	    POP3_MAX_AUTH_LINE + 1 };
	size_t i;

	for (i = 0; i < 3; i++) {
		size_t len = lens[i];	/* with CRLF */
		char *in = xmalloc(len + 64);
		struct fake f;
		struct pop3_session *s;
		struct buf out;

		strcpy(in, "AUTH PLAIN\r\n");
		memset(in + 12, 'A', len - 2);
		memcpy(in + 12 + len - 2, "\r\nNOOP\r\n", 9);
		memset(&f, 0, sizeof(f));
		buf_init(&out, 1 << 16);
		s = session_new(&f, true, false);
		feed(s, &out, in, strlen(in), 1000);
		CHECK_INT(strstr((const char *)out.data, "line too long") !=
		    NULL, len > POP3_MAX_AUTH_LINE);
		/* the exchange is over either way: NOOP is a command again */
		CHECK(strstr((const char *)out.data,
		    "-ERR not logged in\r\n") != NULL);
		pop3_session_free(&s);
		buf_fini(&out);
		free(in);
	}
}

/* ---- stuffer --------------------------------------------------- */

static void
stuff_case(const char *in, int64_t lines, const char *expect)
{
	size_t split, len = strlen(in);

	for (split = 0; split <= len; split++) {
		struct pop3_stuffer st;
		struct buf out;
		size_t i;

		buf_init(&out, 1 << 16);
		pop3_stuffer_init(&st, lines);
		if (split == 0) {
			/* one byte at a time */
			for (i = 0; i < len; i++)
				CHECK(pop3_stuffer_feed(&st,
				    (const uint8_t *)in + i, 1, &out) >= 0);
		} else {
			CHECK(pop3_stuffer_feed(&st, (const uint8_t *)in,
			    split, &out) >= 0);
			CHECK(pop3_stuffer_feed(&st, (const uint8_t *)in +
			    split, len - split, &out) >= 0);
		}
		CHECK_INT(pop3_stuffer_finish(&st, &out), 0);
		if (!CHECK_STR((const char *)out.data, expect))
			fprintf(stderr, "  (split %zu)\n", split);
		buf_fini(&out);
	}
}

static void
test_stuffer(void)
{
	stuff_case("", -1, ".\r\n");
	stuff_case("a", -1, "a\r\n.\r\n");
	stuff_case("a\r", -1, "a\r\n.\r\n");
	stuff_case(".\r\n", -1, "..\r\n.\r\n");
	stuff_case("a\r\n.\r\n..x\r\n", -1, "a\r\n..\r\n...x\r\n.\r\n");
	stuff_case("a\n.b\nc", -1, "a\r\n..b\r\nc\r\n.\r\n");
	stuff_case("x.\r\n", -1, "x.\r\n.\r\n");
	/* TOP */
	stuff_case("H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\n", 0,
	    "H: 1\r\nH: 2\r\n\r\n.\r\n");
	stuff_case("H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\n", 1,
	    "H: 1\r\nH: 2\r\n\r\nb1\r\n.\r\n");
	stuff_case("H: 1\r\n\r\n.b1\r\nb2\r\nb3", 5,
	    "H: 1\r\n\r\n..b1\r\nb2\r\nb3\r\n.\r\n");
	stuff_case("H: 1\n\n.b1\nb2\n", 1, "H: 1\r\n\r\n..b1\r\n.\r\n");
	/* a message without a body */
	stuff_case("H: 1\r\n", 0, "H: 1\r\n.\r\n");
}

static void
test_stuffer_full(void)
{
	struct pop3_stuffer st;
	struct buf out;

	buf_init(&out, 4);
	pop3_stuffer_init(&st, -1);
	CHECK_INT(pop3_stuffer_feed(&st, (const uint8_t *)"abcdef", 6, &out),
	    -1);
	buf_fini(&out);
}

static void
test_uidl_format(void)
{
	char u[24];

	pop3_uidl_format(u, sizeof(u), 4294967295u, 4294967295u);
	CHECK_STR(u, "4294967295.4294967295");
	pop3_uidl_format(u, sizeof(u), 1, 2);
	CHECK_STR(u, "1.2");
}

static const struct test_case cases[] = {
	TEST(test_capa_loopback),
	TEST(test_capa_remote_plaintext),
	TEST(test_capa_implicit_tls),
	TEST(test_transaction),
	TEST(test_update_uids),
	TEST(test_dropped_connection_deletes_nothing),
	TEST(test_quit_nothing_deleted),
	TEST(test_message_gone),
	TEST(test_bad_numbers),
	TEST(test_top_without_arguments),
	TEST(test_wrong_state),
	TEST(test_too_many_errors),
	TEST(test_preauth_command_limit),
	TEST(test_bad_logins),
	TEST(test_in_use_and_throttled),
	TEST(test_apop_and_user_args),
	TEST(test_auth_plain),
	TEST(test_auth_scram_unknown_user),
	TEST(test_stls_injection),
	TEST(test_stls_forgets_user),
	TEST(test_line_limits),
	TEST(test_framing),
	TEST(test_shutdown),
	TEST(test_maildrop_limit),
	TEST(test_sasl_line_limit),
	TEST(test_stuffer),
	TEST(test_stuffer_full),
	TEST(test_uidl_format),
};

TEST_MAIN(cases)
