/*
 * smtp_client_test.c - unit tests for the SMTP client engine, driven by a
 * scripted fake server.
 *
 * A scenario is the server's bytes (in segments, with owner actions such
 * as "TLS handshake done" or "connection closed" between them), the
 * messages the fake owner hands over when the engine is ready, and the
 * expected outcome: every byte the client wrote and every callback it
 * made, as text.  Each scenario runs with every segment fed whole, one
 * byte at a time, and split in two at every offset; the outcome must be
 * the same each time.  Property tests cut a whole dialogue at every byte
 * (closing, timing out or answering 421 there) and check that every
 * recipient still gets exactly one outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "smtp/smtp_client.h"
#include "smtp/smtp_session.h"
#include "../../tests/lib/test.h"

#define MAX_MSGS	4
#define MAX_RCPTS	4
#define MAX_SEGS	16

struct tmsg {
	const char	*from;
	const char	*rcpts[MAX_RCPTS];
	uint64_t	 size;
	bool		 is_8bit;
	bool		 utf8;
	const char	*body;
};

struct scenario {
	const char	*name;
	bool		 tls_available;
	bool		 tls_required;
	bool		 hold;		/* no QUIT when idle */
	size_t		 max_line;
	unsigned	 max_lines;
	size_t		 max_reply;
	size_t		 read_max;	/* read_body chunk, 0: any */
	struct tmsg	 msgs[MAX_MSGS];
	/*
	 * Server segments; "@TLS_OK", "@TLS_FAIL", "@CLOSE", "@TIMEOUT" are
	 * owner actions, "@T<ms>" checks smtp_client_timeout_ms().
	 */
	const char	*server[MAX_SEGS];
	const char	*client;	/* everything the client wrote */
	const char	*events;	/* callbacks, one per line */
	bool		 open;		/* no want_close at the end */
};

struct fake {
	const struct scenario	*sc;
	struct smtp_client	*c;
	struct buf		 sent;
	struct buf		 ev;
	size_t			 next;		/* next message */
	const char		*body;
	size_t			 body_len, body_pos;
	size_t			 read_max;
	int			 read_fail;	/* fail read N, 0 never */
	int			 reads;
	bool			 tls_sync;	/* in start_tls */
	bool			 no_drain;	/* owner never drains */
	/* property tests */
	int			 nrcpt[MAX_RCPTS];
	int			 ndone, nfailed, nready, nsend;
	bool			 bad_after_fail;
};

static const char *const fail_names[] = {
	"GREETING", "HELO", "SHUTDOWN", "CLOSED", "TIMEOUT", "PROTOCOL",
	"TLS", "TLS_REQUIRED", "RSET", "LOCAL",
};

static void
ev_result(struct fake *f, const char *what, const struct smtp_client_result *r)
{
	CHECK_INT(buf_printf(&f->ev, "%s %d %s %s%s\n", what, r->code, r->enh,
	    r->text, r->is_remote ? "" : " [local]"), 0);
}

static void
op_start_tls(void *ctx)
{
	struct fake *f = ctx;

	CHECK_INT(buf_append_str(&f->ev, "starttls\n"), 0);
	if (f->tls_sync)
		smtp_client_tls_done(f->c, true);
}

static void
op_ready(void *ctx)
{
	struct fake *f = ctx;
	const struct tmsg *tm;
	struct smtp_client_msg m;
	size_t n;
	int rc;

	CHECK(smtp_client_is_ready(f->c));
	CHECK(f->nfailed == 0);
	f->nready++;
	CHECK_INT(buf_append_str(&f->ev, "ready\n"), 0);
	while (f->next < MAX_MSGS && f->sc->msgs[f->next].from != NULL) {
		tm = &f->sc->msgs[f->next++];
		for (n = 0; n < MAX_RCPTS && tm->rcpts[n] != NULL; n++)
			;
		memset(&m, 0, sizeof(m));
		m.mail_from = tm->from;
		m.rcpts = tm->rcpts;
		m.nrcpts = n;
		m.size = tm->size;
		m.is_8bit = tm->is_8bit;
		m.smtputf8 = tm->utf8;
		f->body = tm->body != NULL ? tm->body : "";
		f->body_len = strlen(f->body);
		f->body_pos = 0;
		memset(f->nrcpt, 0, sizeof(f->nrcpt));
		f->nsend++;
		rc = smtp_client_send(f->c, &m);
		if (rc == 0)
			return;
		CHECK_INT(rc, 1);
		CHECK(smtp_client_is_ready(f->c));
		CHECK_INT(buf_append_str(&f->ev, "send=1\n"), 0);
	}
	if (!f->sc->hold)
		smtp_client_quit(f->c);
}

static void
op_rcpt_result(void *ctx, size_t i, const struct smtp_client_result *r)
{
	struct fake *f = ctx;
	char what[32];

	CHECK(i < MAX_RCPTS);
	if (i < MAX_RCPTS)
		f->nrcpt[i]++;
	if (f->nfailed > 0)
		f->bad_after_fail = true;
	snprintf(what, sizeof(what), "rcpt %zu", i);
	ev_result(f, what, r);
}

static void
op_message_done(void *ctx, const struct smtp_client_result *r)
{
	struct fake *f = ctx;

	f->ndone++;
	if (f->nfailed > 0)
		f->bad_after_fail = true;
	ev_result(f, "done", r);
}

static void
op_failed(void *ctx, enum smtp_client_fail why,
    const struct smtp_client_result *r)
{
	struct fake *f = ctx;
	char what[64];

	f->nfailed++;
	CHECK(smtp_client_want_close(f->c));
	snprintf(what, sizeof(what), "failed %s", fail_names[why]);
	ev_result(f, what, r);
}

static ssize_t
op_read_body(void *ctx, void *p, size_t max)
{
	struct fake *f = ctx;
	size_t n = f->body_len - f->body_pos;

	f->reads++;
	if (f->read_fail != 0 && f->reads == f->read_fail)
		return -1;
	if (n > max)
		n = max;
	if (f->read_max != 0 && n > f->read_max)
		n = f->read_max;
	memcpy(p, f->body + f->body_pos, n);
	f->body_pos += n;
	return (ssize_t)n;
}

static const struct smtp_client_ops fake_ops = {
	op_start_tls, op_ready, op_rcpt_result, op_message_done, op_failed,
	op_read_body,
};

static void
fake_init(struct fake *f, const struct scenario *sc)
{
	struct smtp_client_config cfg;

	log_set_level(LOG_LEVEL_WARN);
	memset(f, 0, sizeof(*f));
	f->sc = sc;
	f->read_max = sc->read_max;
	buf_init(&f->sent, 64u * 1024 * 1024);
	buf_init(&f->ev, 1024 * 1024);
	memset(&cfg, 0, sizeof(cfg));
	cfg.helo_name = "client.test";
	cfg.peer_name = "mx.test[192.0.2.25]";
	cfg.session_id = "t1";
	cfg.tls_available = sc->tls_available;
	cfg.tls_required = sc->tls_required;
	cfg.max_reply_line = sc->max_line;
	cfg.max_reply_lines = sc->max_lines;
	cfg.max_reply = sc->max_reply;
	f->c = smtp_client_new(&cfg, &fake_ops, f);
}

static void
fake_fini(struct fake *f)
{
	smtp_client_free(&f->c);
	CHECK(f->c == NULL);
	buf_fini(&f->sent);
	buf_fini(&f->ev);
}

/* pump - the owner sends the output and says the socket drained */
static void
pump(struct fake *f)
{
	struct buf *out = smtp_client_output(f->c);

	while (out->len > 0) {
		CHECK(out->len <= SMTP_CLIENT_BODY_BLOCK +
		    2 * 16 * 1024 + 8 + 4096);
		CHECK_INT(buf_append(&f->sent, out->data, out->len), 0);
		buf_reset(out);
		if (f->no_drain)
			break;
		smtp_client_output_drained(f->c);
	}
}

static void
feed(struct fake *f, const char *p, size_t n)
{
	CHECK_INT(smtp_client_input(f->c, (const uint8_t *)p, n), n);
	pump(f);
}

/*
 * run - one run of a scenario: mode 0 feeds each segment whole, 1 byte
 * by byte, 2 in two pieces split at offset k.
 */
static void
run(const struct scenario *sc, int mode, size_t k, struct fake *f)
{
	const char *seg;
	size_t i, n;

	fake_init(f, sc);
	pump(f);
	for (i = 0; i < MAX_SEGS && (seg = sc->server[i]) != NULL; i++) {
		n = strlen(seg);
		if (strcmp(seg, "@TLS_OK") == 0)
			smtp_client_tls_done(f->c, true);
		else if (strcmp(seg, "@TLS_FAIL") == 0)
			smtp_client_tls_done(f->c, false);
		else if (strcmp(seg, "@CLOSE") == 0)
			smtp_client_closed(f->c);
		else if (strcmp(seg, "@TIMEOUT") == 0)
			smtp_client_timeout(f->c);
		else if (strncmp(seg, "@T", 2) == 0)
			CHECK_INT(smtp_client_timeout_ms(f->c),
			    strtoul(seg + 2, NULL, 10));
		else if (mode == 0)
			feed(f, seg, n);
		else if (mode == 1) {
			size_t j;

			for (j = 0; j < n; j++)
				feed(f, seg + j, 1);
		} else {
			size_t cut = k < n ? k : n;

			feed(f, seg, cut);
			feed(f, seg + cut, n - cut);
		}
		pump(f);
	}
}

static size_t
max_segment(const struct scenario *sc)
{
	size_t i, m = 0, n;

	for (i = 0; i < MAX_SEGS && sc->server[i] != NULL; i++)
		if ((n = strlen(sc->server[i])) > m)
			m = n;
	return m;
}

/* check_scenario - every way of feeding gives the expected outcome */
static void
check_scenario(const struct scenario *sc)
{
	struct fake f;
	size_t k, kmax = max_segment(sc);
	int mode;

	for (mode = 0; mode < 3; mode++) {
		for (k = 1; k <= (mode == 2 ? kmax : 1); k++) {
			bool ok = true;

			run(sc, mode, k, &f);
			ok &= CHECK_STR(buf_cstr(&f.sent), sc->client);
			ok &= CHECK_STR(buf_cstr(&f.ev), sc->events);
			ok &= CHECK_INT(smtp_client_want_close(f.c), !sc->open);
			if (!ok)
				fprintf(stderr, "  scenario \"%s\" mode %d "
				    "k %zu\n", sc->name, mode, k);
			fake_fini(&f);
			if (!ok)
				return;
		}
	}
}

static void
check_all(const struct scenario *scs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		check_scenario(&scs[i]);
}

/* --- common dialogue pieces ---------------------------------------- */

#define GREET		"220 mx.test ESMTP ready\r\n"
#define EHLO_C		"EHLO client.test\r\n"
#define HELO_C		"HELO client.test\r\n"
#define EHLO_PIPE	"250-mx.test hello\r\n250-PIPELINING\r\n" \
			"250-SIZE 10000\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n" \
			"250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n"
#define EHLO_LOCK	"250-mx.test hello\r\n250-SIZE 10000\r\n" \
			"250 8BITMIME\r\n"
#define BODY		"Subject: hi\r\n\r\nhello\r\n"
#define M1		{ "a@x.test", { "b@y.test", "c@y.test" }, 20, \
			  false, false, BODY }
#define M1_CMDS		"MAIL FROM:<a@x.test> SIZE=20\r\n" \
			"RCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\nDATA\r\n"
#define M1_CMDS_NO_DATA	"MAIL FROM:<a@x.test> SIZE=20\r\n" \
			"RCPT TO:<b@y.test>\r\nRCPT TO:<c@y.test>\r\n"
#define M1_TEXT		BODY ".\r\n"
#define OK_MAIL		"250 2.1.0 sender ok\r\n"
#define OK_RCPT		"250 2.1.5 rcpt ok\r\n"
#define GO		"354 go ahead\r\n"
#define QUEUED		"250 2.0.0 queued as X1\r\n"
#define BYE		"221 2.0.0 bye\r\n"
#define QUIT_C		"QUIT\r\n"

/* --- scenarios ----------------------------------------------------- */

static void
test_basic(void)
{
	static const struct scenario scs[] = {
	{
		.name = "pipelined, one refused",
		.msgs = { M1 },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT
		    "550 5.1.1 no such user\r\n" GO QUEUED BYE },
		.client = EHLO_C M1_CMDS M1_TEXT QUIT_C,
		.events = "ready\n"
		    "rcpt 1 550 5.1.1 no such user\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "lock-step, both accepted",
		.msgs = { M1 },
		.server = { GREET EHLO_LOCK OK_MAIL OK_RCPT OK_RCPT GO QUEUED
		    BYE },
		.client = EHLO_C M1_CMDS M1_TEXT QUIT_C,
		.events = "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "rcpt 1 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "multi-line greeting and replies, LF only",
		.msgs = { M1 },
		.server = { "220-mx.test ESMTP\n220-second line\n220 third\n"
		    EHLO_PIPE "250 ok\n250 ok\n250 ok\n"
		    "354 go\n"
		    "250-2.0.0 queued\r\n250-2.0.0 as\r\n250 2.0.0 X2\r\n"
		    "221\r\n" },
		.client = EHLO_C M1_CMDS M1_TEXT QUIT_C,
		.events = "ready\n"
		    "rcpt 0 250 2.0.0 queued as X2\n"
		    "rcpt 1 250 2.0.0 queued as X2\n"
		    "done 250 2.0.0 queued as X2\n"
		    "ready\n",
	},
	{
		.name = "every recipient class",
		.msgs = { { "a@x.test", { "r0@y.test", "r1@y.test",
		    "r2@y.test" }, 5, false, false, "x\r\n" } },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT
		    "451 4.3.0 try later\r\n"
		    "550-5.1.1 no such\r\n550 5.1.1 user here\r\n"
		    GO "250 2.0.0 ok\r\n" BYE },
		.client = EHLO_C "MAIL FROM:<a@x.test> SIZE=5\r\n"
		    "RCPT TO:<r0@y.test>\r\nRCPT TO:<r1@y.test>\r\n"
		    "RCPT TO:<r2@y.test>\r\nDATA\r\nx\r\n.\r\n" QUIT_C,
		.events = "ready\n"
		    "rcpt 1 451 4.3.0 try later\n"
		    "rcpt 2 550 5.1.1 no such user here\n"
		    "rcpt 0 250 2.0.0 ok\n"
		    "done 250 2.0.0 ok\n"
		    "ready\n",
	},
	{
		.name = "no enhanced codes: derived; text cleaned",
		.msgs = { M1 },
		.server = { GREET EHLO_PIPE "250 ok\r\n250 ok\r\n"
		    "550 no\x01 such\xff user\r\n354 go\r\n"
		    "452 full\r\n" BYE },
		.client = EHLO_C M1_CMDS M1_TEXT QUIT_C,
		.events = "ready\n"
		    "rcpt 1 550 5.0.0 no? such? user\n"
		    "rcpt 0 452 4.0.0 full\n"
		    "done 452 4.0.0 full\n"
		    "ready\n",
	},
	{
		.name = "null sender, QUIT answered by EOF",
		.msgs = { { "", { "b@y.test" }, 0, false, false, "" } },
		.server = { GREET EHLO_LOCK OK_MAIL OK_RCPT GO QUEUED,
		    "@CLOSE" },
		.client = EHLO_C "MAIL FROM:<> SIZE=0\r\nRCPT TO:<b@y.test>\r\n"
		    "DATA\r\n.\r\n" QUIT_C,
		.events = "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	};

	check_all(scs, sizeof(scs) / sizeof(scs[0]));
}

static void
test_greeting_and_helo(void)
{
	static const struct scenario scs[] = {
	{
		.name = "554 greeting",
		.server = { "554 5.7.1 go away\r\n" },
		.client = QUIT_C,
		.events = "failed GREETING 554 5.7.1 go away\n",
	},
	{
		.name = "multi-line 554 greeting",
		.server = { "554-mx.test\r\n554 no service here\r\n" },
		.client = QUIT_C,
		.events = "failed GREETING 554 5.0.0 mx.test no service "
		    "here\n",
	},
	{
		.name = "421 greeting",
		.server = { "421 4.3.2 busy\r\n" },
		.client = "",
		.events = "failed SHUTDOWN 421 4.3.2 busy\n",
	},
	{
		.name = "450 greeting",
		.server = { "450 later\r\n" },
		.client = QUIT_C,
		.events = "failed GREETING 450 4.0.0 later\n",
	},
	{
		.name = "250 greeting",
		.server = { "250 what\r\n" },
		.client = "",
		.events = "failed PROTOCOL 451 4.5.0 protocol error: bad "
		    "greeting [local]\n",
	},
	{
		.name = "closed before greeting",
		.server = { "220-partial", "@CLOSE" },
		.client = "",
		.events = "failed CLOSED 421 4.4.2 connection closed by the "
		    "server (state GREETING) [local]\n",
	},
	{
		.name = "EHLO 500 -> HELO ok, plain commands",
		.msgs = { { "a@x.test", { "b@y.test" }, 3, false, false,
		    "hi\r\n" } },
		.server = { GREET "500 5.5.1 what\r\n250 mx.test\r\n"
		    OK_MAIL OK_RCPT GO QUEUED BYE },
		.client = EHLO_C HELO_C "MAIL FROM:<a@x.test>\r\n"
		    "RCPT TO:<b@y.test>\r\nDATA\r\nhi\r\n.\r\n" QUIT_C,
		.events = "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "EHLO 502 -> HELO, 8-bit message fails locally",
		.msgs = { { "a@x.test", { "b@y.test" }, 3, true, false,
		    "h\xc3\xa9\r\n" } },
		.server = { GREET "502 no\r\n250 mx.test\r\n" BYE },
		.client = EHLO_C HELO_C QUIT_C,
		.events = "ready\n"
		    "rcpt 0 554 5.6.3 conversion required but not supported "
		    "(8-bit message, remote lacks 8BITMIME) [local]\n"
		    "done 554 5.6.3 conversion required but not supported "
		    "(8-bit message, remote lacks 8BITMIME) [local]\n"
		    "send=1\n",
	},
	{
		.name = "EHLO 421",
		.server = { GREET "421 4.7.0 bye\r\n" },
		.client = EHLO_C,
		.events = "failed SHUTDOWN 421 4.7.0 bye\n",
	},
	{
		.name = "EHLO 451",
		.server = { GREET "451 4.3.0 later\r\n" },
		.client = EHLO_C QUIT_C,
		.events = "failed HELO 451 4.3.0 later\n",
	},
	{
		.name = "EHLO 550, HELO 550",
		.server = { GREET "550 no\r\n550 5.7.1 still no\r\n" },
		.client = EHLO_C HELO_C QUIT_C,
		.events = "failed HELO 550 5.7.1 still no\n",
	},
	{
		.name = "EHLO 550, HELO 450",
		.server = { GREET "550 no\r\n450 later\r\n" },
		.client = EHLO_C HELO_C QUIT_C,
		.events = "failed HELO 450 4.0.0 later\n",
	},
	{
		.name = "EHLO 354",
		.server = { GREET "354 huh\r\n" },
		.client = EHLO_C,
		.events = "failed PROTOCOL 451 4.5.0 protocol error: "
		    "unexpected reply to EHLO [local]\n",
	},
	{
		.name = "closed after EHLO",
		.server = { GREET, "@CLOSE" },
		.client = EHLO_C,
		.events = "failed CLOSED 421 4.4.2 connection closed by the "
		    "server (state EHLO) [local]\n",
	},
	{
		.name = "QUIT with no message, QUIT answered 500",
		.server = { GREET EHLO_PIPE "500 what\r\n" },
		.client = EHLO_C QUIT_C,
		.events = "ready\n",
	},
	{
		.name = "unexpected reply when idle",
		.hold = true,
		.server = { GREET EHLO_PIPE, "@T0", "250 surprise\r\n" },
		.client = EHLO_C,
		.events = "ready\n"
		    "failed PROTOCOL 451 4.5.0 protocol error: reply "
		    "without a command [local]\n",
	},
	{
		.name = "idle, then 421",
		.hold = true,
		.server = { GREET EHLO_PIPE, "421 4.4.2 idle too long\r\n" },
		.client = EHLO_C,
		.events = "ready\n"
		    "failed SHUTDOWN 421 4.4.2 idle too long\n",
	},
	{
		.name = "idle, timeout ignored, then closed",
		.hold = true,
		.server = { GREET EHLO_PIPE, "@TIMEOUT", "@CLOSE" },
		.client = EHLO_C,
		.events = "ready\n"
		    "failed CLOSED 421 4.4.2 connection closed by the server "
		    "(state READY) [local]\n",
	},
	};

	check_all(scs, sizeof(scs) / sizeof(scs[0]));
}

static void
test_transaction_failures(void)
{
	static const struct scenario scs[] = {
	{
		.name = "MAIL 550 pipelined, then RSET before next",
		.msgs = { M1, M1 },
		.server = { GREET EHLO_PIPE "550 5.7.1 sender refused\r\n"
		    "503 5.5.1 no MAIL\r\n503 5.5.1 no MAIL\r\n"
		    "503 5.5.1 no MAIL\r\n"
		    "250 2.0.0 reset\r\n" OK_MAIL OK_RCPT OK_RCPT GO QUEUED
		    BYE },
		.client = EHLO_C M1_CMDS "RSET\r\n" M1_CMDS M1_TEXT QUIT_C,
		.events = "ready\n"
		    "rcpt 0 550 5.7.1 sender refused\n"
		    "rcpt 1 550 5.7.1 sender refused\n"
		    "done 550 5.7.1 sender refused\n"
		    "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "rcpt 1 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "MAIL 451 lock-step: no RCPT sent",
		.msgs = { M1, M1 },
		.server = { GREET EHLO_LOCK "451 4.3.0 later\r\n"
		    "250 reset\r\n" OK_MAIL OK_RCPT OK_RCPT GO QUEUED BYE },
		.client = EHLO_C "MAIL FROM:<a@x.test> SIZE=20\r\n"
		    "RSET\r\n" M1_CMDS M1_TEXT QUIT_C,
		.events = "ready\n"
		    "rcpt 0 451 4.3.0 later\n"
		    "rcpt 1 451 4.3.0 later\n"
		    "done 451 4.3.0 later\n"
		    "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "rcpt 1 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "all RCPT refused pipelined: DATA 554, RSET",
		.msgs = { M1, M1 },
		.server = { GREET EHLO_PIPE OK_MAIL "550 5.1.1 no\r\n"
		    "450 4.2.1 busy\r\n554 5.5.1 no valid recipients\r\n"
		    "250 ok\r\n" OK_MAIL OK_RCPT OK_RCPT GO QUEUED BYE },
		.client = EHLO_C M1_CMDS "RSET\r\n" M1_CMDS M1_TEXT QUIT_C,
		.events = "ready\n"
		    "rcpt 0 550 5.1.1 no\n"
		    "rcpt 1 450 4.2.1 busy\n"
		    "done 450 4.2.1 busy\n"
		    "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "rcpt 1 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "all RCPT refused lock-step: no DATA",
		.msgs = { M1 },
		.server = { GREET EHLO_LOCK OK_MAIL "550 5.1.1 no\r\n"
		    "551 5.1.6 moved\r\n" BYE },
		.client = EHLO_C M1_CMDS_NO_DATA QUIT_C,
		.events = "ready\n"
		    "rcpt 0 550 5.1.1 no\n"
		    "rcpt 1 551 5.1.6 moved\n"
		    "done 550 5.1.1 no\n"
		    "ready\n",
	},
	{
		.name = "all RCPT refused, DATA 354 anyway: lone dot",
		.msgs = { M1 },
		.server = { GREET EHLO_PIPE OK_MAIL "550 5.1.1 no\r\n"
		    "550 5.1.1 no\r\n" GO "554 5.5.1 no recipients\r\n" BYE },
		.client = EHLO_C M1_CMDS ".\r\n" QUIT_C,
		.events = "ready\n"
		    "rcpt 0 550 5.1.1 no\n"
		    "rcpt 1 550 5.1.1 no\n"
		    "done 550 5.1.1 no\n"
		    "ready\n",
	},
	{
		.name = "DATA 451 with accepted recipients",
		.msgs = { M1, M1 },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT OK_RCPT
		    "451 4.3.0 no spool\r\n" "250 ok\r\n" OK_MAIL OK_RCPT
		    OK_RCPT "554 5.7.1 no\r\n" BYE },
		.client = EHLO_C M1_CMDS "RSET\r\n" M1_CMDS QUIT_C,
		.events = "ready\n"
		    "rcpt 0 451 4.3.0 no spool\n"
		    "rcpt 1 451 4.3.0 no spool\n"
		    "done 451 4.3.0 no spool\n"
		    "ready\n"
		    "rcpt 0 554 5.7.1 no\n"
		    "rcpt 1 554 5.7.1 no\n"
		    "done 554 5.7.1 no\n"
		    "ready\n",
	},
	{
		.name = "final dot 554 then 451: no RSET after a dot",
		.msgs = { M1, M1 },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT OK_RCPT GO
		    "554 5.7.1 spam\r\n" OK_MAIL OK_RCPT OK_RCPT GO
		    "451 4.7.1 greylisted\r\n" BYE },
		.client = EHLO_C M1_CMDS M1_TEXT M1_CMDS M1_TEXT QUIT_C,
		.events = "ready\n"
		    "rcpt 0 554 5.7.1 spam\n"
		    "rcpt 1 554 5.7.1 spam\n"
		    "done 554 5.7.1 spam\n"
		    "ready\n"
		    "rcpt 0 451 4.7.1 greylisted\n"
		    "rcpt 1 451 4.7.1 greylisted\n"
		    "done 451 4.7.1 greylisted\n"
		    "ready\n",
	},
	{
		.name = "RSET refused",
		.msgs = { M1, M1 },
		.server = { GREET EHLO_PIPE "550 5.7.1 no\r\n"
		    "503 x\r\n503 x\r\n503 x\r\n"
		    "500 5.5.1 what RSET\r\n" },
		.client = EHLO_C M1_CMDS "RSET\r\n" M1_CMDS QUIT_C,
		.events = "ready\n"
		    "rcpt 0 550 5.7.1 no\n"
		    "rcpt 1 550 5.7.1 no\n"
		    "done 550 5.7.1 no\n"
		    "ready\n"
		    "rcpt 0 451 4.5.1 what RSET\n"
		    "rcpt 1 451 4.5.1 what RSET\n"
		    "done 451 4.5.1 what RSET\n"
		    "failed RSET 500 5.5.1 what RSET\n",
	},
	{
		.name = "421 after MAIL, pipelined",
		.msgs = { M1 },
		.server = { GREET EHLO_PIPE OK_MAIL
		    "421 4.3.2 shutting down\r\n" OK_RCPT },
		.client = EHLO_C M1_CMDS,
		.events = "ready\n"
		    "rcpt 0 421 4.3.2 shutting down\n"
		    "rcpt 1 421 4.3.2 shutting down\n"
		    "done 421 4.3.2 shutting down\n"
		    "failed SHUTDOWN 421 4.3.2 shutting down\n",
	},
	{
		.name = "421 after the text: accepted ones deferred",
		.msgs = { M1 },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT
		    "550 5.1.1 no\r\n" GO "421 4.4.2 timeout\r\n" },
		.client = EHLO_C M1_CMDS M1_TEXT,
		.events = "ready\n"
		    "rcpt 1 550 5.1.1 no\n"
		    "rcpt 0 421 4.4.2 timeout\n"
		    "done 421 4.4.2 timeout\n"
		    "failed SHUTDOWN 421 4.4.2 timeout\n",
	},
	{
		.name = "closed while waiting for the dot reply",
		.msgs = { M1 },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT OK_RCPT GO,
		    "@CLOSE" },
		.client = EHLO_C M1_CMDS M1_TEXT,
		.events = "ready\n"
		    "rcpt 0 421 4.4.2 connection closed by the server (state "
		    "DOT) [local]\n"
		    "rcpt 1 421 4.4.2 connection closed by the server (state "
		    "DOT) [local]\n"
		    "done 421 4.4.2 connection closed by the server (state "
		    "DOT) [local]\n"
		    "failed CLOSED 421 4.4.2 connection closed by the server "
		    "(state DOT) [local]\n",
	},
	{
		.name = "unexpected 3xx to RCPT",
		.msgs = { M1 },
		.server = { GREET EHLO_PIPE OK_MAIL "354 huh\r\n" },
		.client = EHLO_C M1_CMDS,
		.events = "ready\n"
		    "rcpt 0 451 4.5.0 protocol error: unexpected reply to "
		    "RCPT [local]\n"
		    "rcpt 1 451 4.5.0 protocol error: unexpected reply to "
		    "RCPT [local]\n"
		    "done 451 4.5.0 protocol error: unexpected reply to "
		    "RCPT [local]\n"
		    "failed PROTOCOL 451 4.5.0 protocol error: unexpected "
		    "reply to RCPT [local]\n",
	},
	{
		.name = "lock-step timeouts",
		.msgs = { M1 },
		.server = { GREET EHLO_LOCK, "@T300000",
		    OK_MAIL, "@T300000", OK_RCPT OK_RCPT, "@T120000",
		    GO QUEUED "250 extra\r\n" },
		.client = EHLO_C M1_CMDS M1_TEXT QUIT_C,
		.events = "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "rcpt 1 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	};

	check_all(scs, sizeof(scs) / sizeof(scs[0]));
}

/* A reply of a class the command cannot get fails the connection. */
static void
test_unexpected_codes(void)
{
#define PROTO(what) "failed PROTOCOL 451 4.5.0 protocol error: " what \
	" [local]\n"
#define DEFER(what) \
	"rcpt 0 451 4.5.0 protocol error: " what " [local]\n" \
	"rcpt 1 451 4.5.0 protocol error: " what " [local]\n" \
	"done 451 4.5.0 protocol error: " what " [local]\n" PROTO(what)
	static const struct scenario scs[] = {
	{
		.name = "MAIL 354",
		.msgs = { M1 },
		.server = { GREET EHLO_LOCK "354 what\r\n" },
		.client = EHLO_C "MAIL FROM:<a@x.test> SIZE=20\r\n",
		.events = "ready\n" DEFER("unexpected reply to MAIL"),
	},
	{
		.name = "DATA 250",
		.msgs = { M1 },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT OK_RCPT
		    "250 ok\r\n" },
		.client = EHLO_C M1_CMDS,
		.events = "ready\n" DEFER("unexpected reply to DATA"),
	},
	{
		.name = "final dot 354",
		.msgs = { M1 },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT OK_RCPT GO GO },
		.client = EHLO_C M1_CMDS M1_TEXT,
		.events = "ready\n"
		    DEFER("unexpected reply to the final dot"),
	},
	{
		.name = "reply while sending the text",
		.msgs = { { "a@x.test", { "b@y.test", "c@y.test" }, 1, false,
		    false, NULL } },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT OK_RCPT GO },
		.client = NULL,	/* checked below: the text is big */
	},
	{
		.name = "HELO 354",
		.server = { GREET "500 no\r\n354 x\r\n" },
		.client = EHLO_C HELO_C,
		.events = PROTO("unexpected reply to HELO"),
	},
	{
		.name = "STARTTLS 250",
		.tls_available = true,
		.server = { GREET "250-mx\r\n250 STARTTLS\r\n250 ok\r\n" },
		.client = EHLO_C "STARTTLS\r\n",
		.events = PROTO("unexpected reply to STARTTLS"),
	},
	};
	size_t i;

	for (i = 0; i < sizeof(scs) / sizeof(scs[0]); i++)
		if (scs[i].client != NULL)
			check_scenario(&scs[i]);
	/* a reply in the middle of a big text: nobody asked for it */
	{
		struct scenario sc = scs[3];
		size_t len = 200 * 1024;
		char *body = malloc(len + 1);
		struct fake f;

		memset(body, 'x', len);
		body[len] = '\0';
		sc.msgs[0].body = body;
		fake_init(&f, &sc);
		f.no_drain = true;
		feed(&f, sc.server[0], strlen(sc.server[0]));
		CHECK_INT(smtp_client_timeout_ms(f.c),
		    SMTP_CLIENT_TIMEOUT_BLOCK);
		feed(&f, "250 early\r\n", 11);
		CHECK_STR(buf_cstr(&f.ev), "ready\n"
		    DEFER("reply without a command"));
		/* the text was cut short: no final dot was sent */
		CHECK(f.sent.len > 5 && memcmp(f.sent.data + f.sent.len - 5,
		    "\r\n.\r\n", 5) != 0);
		smtp_client_output_drained(f.c);
		CHECK_INT(smtp_client_output(f.c)->len, 0);
		fake_fini(&f);
		free(body);
	}
#undef PROTO
#undef DEFER
}

static void
test_starttls(void)
{
	static const struct scenario scs[] = {
	{
		.name = "STARTTLS, new capabilities after it",
		.tls_available = true,
		.msgs = { { "a@x.test", { "b@y.test" }, 500, false, false,
		    "x\r\n" } },
		.server = { GREET "250-mx.test\r\n250-SIZE 100\r\n"
		    "250 STARTTLS\r\n" "220 2.0.0 go\r\n"
		    "250 injected before TLS\r\n", "@T0", "@TLS_OK",
		    "250-mx.test\r\n250-SIZE 1000\r\n250 STARTTLS\r\n"
		    OK_MAIL OK_RCPT GO QUEUED BYE },
		.client = EHLO_C "STARTTLS\r\n" EHLO_C
		    "MAIL FROM:<a@x.test> SIZE=500\r\n"
		    "RCPT TO:<b@y.test>\r\nDATA\r\nx\r\n.\r\n" QUIT_C,
		.events = "starttls\n"
		    "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "STARTTLS offered, TLS not available",
		.msgs = { { "a@x.test", { "b@y.test" }, 0, false, false,
		    "" } },
		.server = { GREET "250-mx.test\r\n250 STARTTLS\r\n"
		    OK_MAIL OK_RCPT GO QUEUED BYE },
		.client = EHLO_C "MAIL FROM:<a@x.test>\r\n"
		    "RCPT TO:<b@y.test>\r\nDATA\r\n.\r\n" QUIT_C,
		.events = "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "STARTTLS 454: plaintext",
		.tls_available = true,
		.server = { GREET "250-mx.test\r\n250 STARTTLS\r\n"
		    "454 4.7.0 TLS not available\r\n" BYE },
		.client = EHLO_C "STARTTLS\r\n" QUIT_C,
		.events = "ready\n",
	},
	{
		.name = "STARTTLS 454, TLS required",
		.tls_available = true,
		.tls_required = true,
		.server = { GREET "250-mx.test\r\n250 STARTTLS\r\n"
		    "454 4.7.0 TLS not available\r\n" },
		.client = EHLO_C "STARTTLS\r\n" QUIT_C,
		.events = "failed TLS_REQUIRED 454 4.7.0 TLS not "
		    "available\n",
	},
	{
		.name = "STARTTLS not offered, TLS required",
		.tls_available = true,
		.tls_required = true,
		.server = { GREET EHLO_PIPE },
		.client = EHLO_C QUIT_C,
		.events = "failed TLS_REQUIRED 451 4.7.5 TLS required but "
		    "STARTTLS not offered by the server [local]\n",
	},
	{
		.name = "handshake failed",
		.tls_available = true,
		.server = { GREET "250-mx.test\r\n250 STARTTLS\r\n"
		    "220 go\r\n", "@TLS_FAIL" },
		.client = EHLO_C "STARTTLS\r\n",
		.events = "starttls\n"
		    "failed TLS 451 4.7.5 TLS handshake failed [local]\n",
	},
	{
		.name = "STARTTLS answered 421",
		.tls_available = true,
		.server = { GREET "250-mx.test\r\n250 STARTTLS\r\n"
		    "421 4.3.2 bye\r\n" },
		.client = EHLO_C "STARTTLS\r\n",
		.events = "failed SHUTDOWN 421 4.3.2 bye\n",
	},
	};

	check_all(scs, sizeof(scs) / sizeof(scs[0]));
}

/* The handshake finishing inside start_tls must not revive the rest. */
static void
test_starttls_sync_injection(void)
{
	static const struct scenario sc = {
		.name = "sync", .tls_available = true, .hold = true,
	};
	static const char in[] = GREET "250-mx.test\r\n250 STARTTLS\r\n"
	    "220 go\r\n250-fake\r\n250 PIPELINING\r\n";
	static const char after[] = "250-mx.test\r\n250 8BITMIME\r\n";
	struct fake f;

	fake_init(&f, &sc);
	f.tls_sync = true;
	feed(&f, in, sizeof(in) - 1);
	CHECK_STR(buf_cstr(&f.sent), EHLO_C "STARTTLS\r\n" EHLO_C);
	CHECK_STR(buf_cstr(&f.ev), "starttls\n");
	CHECK(smtp_client_is_tls(f.c));
	CHECK_INT(smtp_client_caps(f.c), 0);
	feed(&f, after, sizeof(after) - 1);
	CHECK_STR(buf_cstr(&f.ev), "starttls\nready\n");
	CHECK_INT(smtp_client_caps(f.c), SMTP_CLIENT_CAP_ESMTP |
	    SMTP_CLIENT_CAP_8BITMIME);
	fake_fini(&f);
}

/* Our own name must not break the command line. */
static void
test_helo_name(void)
{
	static const char *const names[] = { "a b", "x\r\nRSET", "", NULL,
		"caf\xc3\xa9.test" };
	struct smtp_client_config cfg;
	struct fake f;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		static const struct scenario sc = { .name = "h", .hold = true };

		fake_init(&f, &sc);
		smtp_client_free(&f.c);
		memset(&cfg, 0, sizeof(cfg));
		cfg.helo_name = names[i];
		f.c = smtp_client_new(&cfg, &fake_ops, &f);
		feed(&f, GREET, strlen(GREET));
		CHECK_STR(buf_cstr(&f.sent), "EHLO localhost\r\n");
		fake_fini(&f);
	}
}

static void
test_capabilities(void)
{
	static const struct scenario sc = { .name = "caps", .hold = true };
	static const char in[] = GREET "250-mx.test\r\n250-pipelining\r\n"
	    "250-SIZE 52428800\r\n250-8bitmime\r\n250-SMTPUTF8\r\n"
	    "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n"
	    "250-DSN\r\n250-AUTH PLAIN LOGIN\r\n250-X-UNKNOWN a b\r\n"
	    "250 SIZEX 5\r\n";
	static const struct {
		const char	*line;
		unsigned	 caps;
		uint64_t	 size;
	} sizes[] = {
		{ "250 SIZE\r\n", SMTP_CLIENT_CAP_SIZE, 0 },
		{ "250 SIZE 0\r\n", SMTP_CLIENT_CAP_SIZE, 0 },
		{ "250 SIZE 12345\r\n", SMTP_CLIENT_CAP_SIZE, 12345 },
		{ "250 SIZE -5\r\n", SMTP_CLIENT_CAP_SIZE, 0 },
		{ "250 SIZE 99999999999999999999999\r\n",
		    SMTP_CLIENT_CAP_SIZE, 0 },
		{ "250 SIZE 12 junk\r\n", SMTP_CLIENT_CAP_SIZE, 0 },
		{ "250 SIZES 10\r\n", 0, 0 },
	};
	struct fake f;
	size_t i;

	fake_init(&f, &sc);
	CHECK_INT(smtp_client_caps(f.c), 0);
	CHECK_INT(smtp_client_timeout_ms(f.c), SMTP_CLIENT_TIMEOUT_GREETING);
	feed(&f, in, sizeof(in) - 1);
	CHECK_INT(smtp_client_caps(f.c), SMTP_CLIENT_CAP_ESMTP |
	    SMTP_CLIENT_CAP_PIPELINING | SMTP_CLIENT_CAP_SIZE |
	    SMTP_CLIENT_CAP_8BITMIME | SMTP_CLIENT_CAP_SMTPUTF8 |
	    SMTP_CLIENT_CAP_STARTTLS | SMTP_CLIENT_CAP_ENHANCED |
	    SMTP_CLIENT_CAP_CHUNKING | SMTP_CLIENT_CAP_DSN);
	CHECK_INT(smtp_client_peer_size(f.c), 52428800);
	CHECK(!smtp_client_is_tls(f.c));
	CHECK(smtp_client_is_ready(f.c));
	CHECK_INT(smtp_client_timeout_ms(f.c), 0);
	fake_fini(&f);

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char buf[256];

		snprintf(buf, sizeof(buf), GREET "250-mx.test\r\n%s",
		    sizes[i].line);
		fake_init(&f, &sc);
		feed(&f, buf, strlen(buf));
		CHECK_INT(smtp_client_caps(f.c), SMTP_CLIENT_CAP_ESMTP |
		    sizes[i].caps);
		CHECK_INT(smtp_client_peer_size(f.c), sizes[i].size);
		fake_fini(&f);
	}
}

static void
test_message_checks(void)
{
	static const struct scenario scs[] = {
	{
		.name = "SIZE exceeded, then one that fits",
		.msgs = { { "a@x.test", { "b@y.test", "c@y.test" }, 10001,
		    false, false, "x\r\n" },
		    { "a@x.test", { "b@y.test" }, 10000, false, false,
		    "y\r\n" } },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT GO QUEUED BYE },
		.client = EHLO_C "MAIL FROM:<a@x.test> SIZE=10000\r\n"
		    "RCPT TO:<b@y.test>\r\nDATA\r\ny\r\n.\r\n" QUIT_C,
		.events = "ready\n"
		    "rcpt 0 552 5.3.4 message too big for remote (10001 "
		    "bytes, limit 10000) [local]\n"
		    "rcpt 1 552 5.3.4 message too big for remote (10001 "
		    "bytes, limit 10000) [local]\n"
		    "done 552 5.3.4 message too big for remote (10001 "
		    "bytes, limit 10000) [local]\n"
		    "send=1\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "SIZE without a limit",
		.msgs = { { "a@x.test", { "b@y.test" }, 99999999, false,
		    false, "" } },
		.server = { GREET "250-mx\r\n250 SIZE\r\n"
		    OK_MAIL OK_RCPT GO QUEUED BYE },
		.client = EHLO_C "MAIL FROM:<a@x.test> SIZE=99999999\r\n"
		    "RCPT TO:<b@y.test>\r\nDATA\r\n.\r\n" QUIT_C,
		.events = "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "8-bit with 8BITMIME, UTF-8 envelope with SMTPUTF8",
		.msgs = { { "a@x.test", { "b@y.test" }, 5, true, false,
		    "\xc3\xa9\r\n" },
		    { "\xc3\xa9@x.test", { "b@y.test" }, 5, true, false,
		    "\xc3\xa9\r\n" } },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT GO QUEUED
		    OK_MAIL OK_RCPT GO QUEUED BYE },
		.client = EHLO_C "MAIL FROM:<a@x.test> SIZE=5 BODY=8BITMIME"
		    "\r\nRCPT TO:<b@y.test>\r\nDATA\r\n\xc3\xa9\r\n.\r\n"
		    "MAIL FROM:<\xc3\xa9@x.test> SIZE=5 BODY=8BITMIME "
		    "SMTPUTF8\r\nRCPT TO:<b@y.test>\r\nDATA\r\n"
		    "\xc3\xa9\r\n.\r\n" QUIT_C,
		.events = "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "SMTPUTF8 needed, not offered (rcpt, then flag)",
		.msgs = { { "a@x.test", { "b@y.test", "\xc3\xa9@y.test" }, 5,
		    false, false, "" },
		    { "a@x.test", { "b@y.test" }, 5, false, true, "" } },
		.server = { GREET EHLO_LOCK BYE },
		.client = EHLO_C QUIT_C,
		.events = "ready\n"
		    "rcpt 0 553 5.6.7 SMTPUTF8 required but not supported "
		    "by the remote server [local]\n"
		    "rcpt 1 553 5.6.7 SMTPUTF8 required but not supported "
		    "by the remote server [local]\n"
		    "done 553 5.6.7 SMTPUTF8 required but not supported by "
		    "the remote server [local]\n"
		    "send=1\n"
		    "rcpt 0 553 5.6.7 SMTPUTF8 required but not supported "
		    "by the remote server [local]\n"
		    "done 553 5.6.7 SMTPUTF8 required but not supported by "
		    "the remote server [local]\n"
		    "send=1\n",
	},
	{
		.name = "addresses that cannot be sent",
		.msgs = { { "a@x.test\r\nRSET", { "b@y.test" }, 1, false,
		    false, "" },
		    { "a@x.test", { "b@y.test\r\nDATA", "c@y.test",
		    "d<@y.test" }, 1, false, false, "" },
		    { "a@x.test", { "b\x01@y.test" }, 1, false, false,
		    "" } },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT GO QUEUED BYE },
		.client = EHLO_C "MAIL FROM:<a@x.test> SIZE=1\r\n"
		    "RCPT TO:<c@y.test>\r\nDATA\r\n.\r\n" QUIT_C,
		.events = "ready\n"
		    "rcpt 0 553 5.1.7 sender address cannot be sent (control "
		    "characters or too long) [local]\n"
		    "done 553 5.1.7 sender address cannot be sent (control "
		    "characters or too long) [local]\n"
		    "send=1\n"
		    "rcpt 0 553 5.1.3 recipient address cannot be sent "
		    "(control characters or too long) [local]\n"
		    "rcpt 2 553 5.1.3 recipient address cannot be sent "
		    "(control characters or too long) [local]\n"
		    "rcpt 1 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n"
		    "rcpt 0 553 5.1.3 recipient address cannot be sent "
		    "(control characters or too long) [local]\n"
		    "done 553 5.1.3 recipient address cannot be sent "
		    "(control characters or too long) [local]\n"
		    "send=1\n",
	},
	};

	check_all(scs, sizeof(scs) / sizeof(scs[0]));
}

/* An address of SMTP_MAX_PATH - 2 octets fits in its brackets; +1 not. */
static void
test_address_length(void)
{
	char a253[300], a254[300], a255[300], want[1024];
	struct scenario sc = {
		.name = "address length",
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT OK_RCPT GO QUEUED
		    BYE },
	};
	struct fake f;

	memset(a253, 'a', sizeof(a253));
	memcpy(a253 + SMTP_MAX_PATH - 3 - 7, "@y.test", 8);
	memset(a254, 'a', sizeof(a254));
	memcpy(a254 + SMTP_MAX_PATH - 2 - 7, "@y.test", 8);
	memset(a255, 'a', sizeof(a255));
	memcpy(a255 + SMTP_MAX_PATH - 1 - 7, "@y.test", 8);
	CHECK_INT(strlen(a254), SMTP_MAX_PATH - 2);
	sc.msgs[0] = (struct tmsg){ "a@x.test", { a253, a255, a254 }, 1,
	    false, false, "" };
	snprintf(want, sizeof(want), EHLO_C "MAIL FROM:<a@x.test> SIZE=1\r\n"
	    "RCPT TO:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n.\r\n" QUIT_C, a253,
	    a254);
	run(&sc, 0, 0, &f);
	CHECK_STR(buf_cstr(&f.sent), want);
	CHECK_STR(buf_cstr(&f.ev), "ready\n"
	    "rcpt 1 553 5.1.3 recipient address cannot be sent (control "
	    "characters or too long) [local]\n"
	    "rcpt 0 250 2.0.0 queued as X1\n"
	    "rcpt 2 250 2.0.0 queued as X1\n"
	    "done 250 2.0.0 queued as X1\n"
	    "ready\n");
	fake_fini(&f);
}

static void
test_many_messages(void)
{
	static const struct scenario scs[] = {
	{
		.name = "ok, all refused, ok, greylisted",
		.msgs = { M1,
		    { "a@x.test", { "z@y.test" }, 3, false, false, "z\r\n" },
		    { "q@x.test", { "b@y.test" }, 3, false, false, "q\r\n" },
		    M1 },
		.server = { GREET EHLO_PIPE
		    OK_MAIL OK_RCPT OK_RCPT GO QUEUED
		    OK_MAIL "550 5.1.1 no z\r\n" "554 5.5.1 nobody\r\n"
		    "250 2.0.0 flushed\r\n" OK_MAIL OK_RCPT GO
		    "250 2.0.0 queued as X3\r\n"
		    OK_MAIL OK_RCPT OK_RCPT GO "451 4.7.1 grey\r\n" BYE },
		.client = EHLO_C M1_CMDS M1_TEXT
		    "MAIL FROM:<a@x.test> SIZE=3\r\nRCPT TO:<z@y.test>\r\n"
		    "DATA\r\n"
		    "RSET\r\nMAIL FROM:<q@x.test> SIZE=3\r\n"
		    "RCPT TO:<b@y.test>\r\nDATA\r\nq\r\n.\r\n"
		    M1_CMDS M1_TEXT QUIT_C,
		.events = "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "rcpt 1 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n"
		    "rcpt 0 550 5.1.1 no z\n"
		    "done 550 5.1.1 no z\n"
		    "ready\n"
		    "rcpt 0 250 2.0.0 queued as X3\n"
		    "done 250 2.0.0 queued as X3\n"
		    "ready\n"
		    "rcpt 0 451 4.7.1 grey\n"
		    "rcpt 1 451 4.7.1 grey\n"
		    "done 451 4.7.1 grey\n"
		    "ready\n",
	},
	};

	check_all(scs, sizeof(scs) / sizeof(scs[0]));
}

/* --- the message text ---------------------------------------------- */

static void
test_dot_stuffing(void)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "", ".\r\n" },
		{ "a\r\n", "a\r\n.\r\n" },
		{ "a", "a\r\n.\r\n" },
		{ ".", "..\r\n.\r\n" },
		{ ".\r\n", "..\r\n.\r\n" },
		{ "a\r\n.b\r\n..c\r\n.\r\nend", "a\r\n..b\r\n...c\r\n..\r\n"
		    "end\r\n.\r\n" },
		{ "x\n.y\n", "x\r\n..y\r\n.\r\n" },		/* bare LF */
		{ "x\r.y\r", "x\r\n..y\r\n.\r\n" },		/* bare CR */
		{ "x\r\r\n.", "x\r\n\r\n..\r\n.\r\n" },
		{ "a.b\r\n .\r\n", "a.b\r\n .\r\n.\r\n" },
		{ "\r\n.\r\n", "\r\n..\r\n.\r\n" },
		{ "x\r\n\r", "x\r\n\r\n.\r\n" },
	};
	size_t i, chunk;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (chunk = 0; chunk < 5; chunk++) {
			struct scenario sc = {
				.name = "dots",
				.read_max = chunk,
				.msgs = { { "a@x.test", { "b@y.test" }, 1,
				    false, false, cases[i].in } },
				.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT GO
				    QUEUED BYE },
			};
			char want[512];
			struct fake f;

			snprintf(want, sizeof(want), EHLO_C
			    "MAIL FROM:<a@x.test> SIZE=1\r\n"
			    "RCPT TO:<b@y.test>\r\nDATA\r\n%s" QUIT_C,
			    cases[i].out);
			run(&sc, 0, 0, &f);
			if (!CHECK_STR(buf_cstr(&f.sent), want))
				fprintf(stderr, "  case %zu chunk %zu\n", i,
				    chunk);
			fake_fini(&f);
		}
	}
}

/* A big message streams in blocks, only when the socket drained. */
static void
test_streaming(void)
{
	static const struct scenario sc = {
		.name = "stream",
		.msgs = { { "a@x.test", { "b@y.test" }, 1, false, false,
		    NULL } },
	};
	static const char head[] = GREET EHLO_PIPE OK_MAIL OK_RCPT GO;
	size_t len = 3u * 1024 * 1024, i, drains = 0, total = 0;
	char *body = malloc(len + 1);
	struct buf want;
	struct fake f;
	struct buf *out;
	struct scenario sc2 = sc;

	/* lines of 99 bytes + CRLF, every other line starting with '.' */
	for (i = 0; i < len; i++) {
		size_t col = i % 101;

		body[i] = col == 99 ? '\r' : col == 100 ? '\n' :
		    (col == 0 && (i / 101) % 2 == 1) ? '.' : 'a' + col % 26;
	}
	body[len] = '\0';
	buf_init(&want, 8u * 1024 * 1024);
	for (i = 0; i < len; i++) {
		if (body[i] == '.' && (i == 0 || body[i - 1] == '\n'))
			CHECK_INT(buf_append_byte(&want, '.'), 0);
		CHECK_INT(buf_append_byte(&want, (uint8_t)body[i]), 0);
	}
	CHECK_INT(buf_append_str(&want, "\r\n.\r\n"), 0);

	/* do it with a message whose body is the big one */
	{
		sc2.msgs[0].body = body;
		fake_init(&f, &sc2);
		f.no_drain = true;
		out = smtp_client_output(f.c);
		CHECK_INT(smtp_client_input(f.c, (const uint8_t *)head,
		    sizeof(head) - 1), sizeof(head) - 1);
		/* the commands plus one block of text, no more */
		CHECK(out->len >= SMTP_CLIENT_BODY_BLOCK);
		CHECK(out->len < SMTP_CLIENT_BODY_BLOCK + 40 * 1024);
		CHECK_INT(smtp_client_timeout_ms(f.c),
		    SMTP_CLIENT_TIMEOUT_BLOCK);
		i = f.reads;
		smtp_client_output_drained(f.c);	/* still full */
		CHECK_INT(f.reads, i);
		CHECK_INT(buf_append(&f.sent, out->data, out->len), 0);
		buf_reset(out);
		while (smtp_client_timeout_ms(f.c) ==
		    SMTP_CLIENT_TIMEOUT_BLOCK) {
			smtp_client_output_drained(f.c);
			drains++;
			CHECK(out->len > 0);
			CHECK(out->len < SMTP_CLIENT_BODY_BLOCK + 40 * 1024);
			total += out->len;
			CHECK_INT(buf_append(&f.sent, out->data, out->len), 0);
			buf_reset(out);
			if (drains > 1000)
				break;
		}
		CHECK(drains > 40);
		CHECK_INT(smtp_client_timeout_ms(f.c),
		    SMTP_CLIENT_TIMEOUT_DOT);
		i = strlen(EHLO_C "MAIL FROM:<a@x.test> SIZE=1\r\n"
		    "RCPT TO:<b@y.test>\r\nDATA\r\n");
		CHECK(f.sent.len == i + want.len);
		if (f.sent.len == i + want.len)
			CHECK(memcmp(f.sent.data + i, want.data, want.len) ==
			    0);
		feed(&f, QUEUED, strlen(QUEUED));
		CHECK_STR(buf_cstr(&f.ev), "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n");
		fake_fini(&f);
	}
	buf_fini(&want);
	free(body);
	(void)total;
}

static void
test_read_error(void)
{
	static const struct scenario sc = {
		.name = "read error",
		.read_max = 2,
		.msgs = { { "a@x.test", { "b@y.test" }, 1, false, false,
		    "abcdefgh\r\n" } },
	};
	static const char in[] = GREET EHLO_PIPE OK_MAIL OK_RCPT GO;
	struct fake f;

	fake_init(&f, &sc);
	f.read_fail = 3;
	feed(&f, in, sizeof(in) - 1);
	CHECK_STR(buf_cstr(&f.sent), EHLO_C "MAIL FROM:<a@x.test> SIZE=1\r\n"
	    "RCPT TO:<b@y.test>\r\nDATA\r\nabcd");
	CHECK_STR(buf_cstr(&f.ev), "ready\n"
	    "rcpt 0 451 4.3.0 local error reading the message [local]\n"
	    "done 451 4.3.0 local error reading the message [local]\n"
	    "failed LOCAL 451 4.3.0 local error reading the message "
	    "[local]\n");
	CHECK(smtp_client_want_close(f.c));
	fake_fini(&f);
}

/* --- limits and malformed replies ---------------------------------- */

static void
test_reply_limits(void)
{
	static const struct scenario scs[] = {
	{
		.name = "lines under the limit",
		.max_lines = 3, .hold = true,
		.server = { "220-a\r\n220 b\r\n" },
		.client = EHLO_C,
		.events = "",
		.open = true,
	},
	{
		.name = "reply size under the limit",
		.max_reply = 20, .hold = true,
		.server = { "220-abc\r\n220 efgh\r\n" },
		.client = EHLO_C,
		.events = "",
		.open = true,
	},
	{
		.name = "lines at the limit",
		.max_lines = 3, .hold = true,
		.server = { "220-a\r\n220-b\r\n220 c\r\n" },
		.client = EHLO_C,
		.events = "",
		.open = true,
	},
	{
		.name = "lines over the limit",
		.max_lines = 3,
		.server = { "220-a\r\n220-b\r\n220-c\r\n220 d\r\n" },
		.client = "",
		.events = "failed PROTOCOL 451 4.5.0 protocol error: reply "
		    "has too many lines [local]\n",
	},
	{
		.name = "reply size at the limit",
		.max_reply = 20, .hold = true,
		.server = { "220-abcd\r\n220 efgh\r\n" },
		.client = EHLO_C,
		.events = "",
		.open = true,
	},
	{
		.name = "reply size over the limit",
		.max_reply = 19,
		.server = { "220-abcd\r\n220 efgh\r\n" },
		.client = "",
		.events = "failed PROTOCOL 451 4.5.0 protocol error: reply "
		    "too long [local]\n",
	},
	};

	check_all(scs, sizeof(scs) / sizeof(scs[0]));
}

/* reply lines at limit-1, limit and limit+1 bytes, CRLF or LF ended */
static void
test_reply_line_limit(void)
{
	static const struct scenario sc = { .name = "line", .hold = true,
		.max_line = 64 };
	static const char *const ends[] = { "\r\n", "\n" };
	size_t len, e;

	for (e = 0; e < 2; e++) {
		for (len = 63; len <= 65; len++) {
			char line[128];
			size_t el = strlen(ends[e]), n;
			struct fake f;

			memcpy(line, "220 ", 4);
			for (n = 4; n < len - el; n++)
				line[n] = 'x';
			memcpy(line + n, ends[e], el + 1);
			CHECK_INT(strlen(line), len);
			fake_init(&f, &sc);
			/* whole, then again byte by byte */
			feed(&f, line, len);
			if (len <= 64) {
				CHECK_STR(buf_cstr(&f.sent), EHLO_C);
				CHECK_STR(buf_cstr(&f.ev), "");
			} else {
				CHECK_STR(buf_cstr(&f.sent), "");
				CHECK_STR(buf_cstr(&f.ev), "failed PROTOCOL "
				    "451 4.5.0 protocol error: reply line "
				    "too long [local]\n");
			}
			fake_fini(&f);
			fake_init(&f, &sc);
			for (n = 0; n < len; n++)
				feed(&f, line + n, 1);
			CHECK_INT(f.nfailed, len <= 64 ? 0 : 1);
			fake_fini(&f);
		}
	}
	/* an unterminated line fails as soon as it cannot fit */
	{
		char line[128];
		struct fake f;

		memset(line, 'x', sizeof(line));
		memcpy(line, "220 ", 4);
		fake_init(&f, &sc);
		feed(&f, line, 63);
		CHECK_INT(f.nfailed, 0);
		feed(&f, line, 1);
		CHECK_INT(f.nfailed, 1);
		fake_fini(&f);
	}
}

static void
test_malformed(void)
{
	static const char *const bad[] = {
		"abc\r\n", "22\r\n", "\r\n", "2x0 hi\r\n", "220x\r\n",
		"220_hi\r\n", "120 hi\r\n", "620 hi\r\n", "260 hi\r\n",
		"220-a\r\n221 b\r\n", "220-a\r\n550 b\r\n", " 220 hi\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct scenario sc = {
			.name = bad[i],
			.server = { bad[i] },
			.client = "",
		};
		struct fake f;

		run(&sc, 0, 0, &f);
		CHECK_STR(buf_cstr(&f.sent), "");
		if (!CHECK(strncmp(buf_cstr(&f.ev), "failed PROTOCOL 451 "
		    "4.5.0 protocol error: ", 40) == 0))
			fprintf(stderr, "  case %zu\n", i);
		CHECK(smtp_client_want_close(f.c));
		/* nothing more is read after the failure */
		feed(&f, GREET, strlen(GREET));
		CHECK_STR(buf_cstr(&f.sent), "");
		smtp_client_closed(f.c);
		smtp_client_timeout(f.c);
		CHECK_INT(f.nfailed, 1);
		fake_fini(&f);
	}
}

static void
test_timeouts(void)
{
	static const struct scenario scs[] = {
	{
		.name = "timeouts per phase, pipelined",
		.msgs = { M1 },
		.server = { "@T300000", GREET, "@T300000", EHLO_PIPE,
		    "@T300000", OK_MAIL, "@T300000", OK_RCPT OK_RCPT,
		    "@T120000", GO, "@T600000", QUEUED, "@T300000", BYE,
		    },
		.client = EHLO_C M1_CMDS M1_TEXT QUIT_C,
		.events = "ready\n"
		    "rcpt 0 250 2.0.0 queued as X1\n"
		    "rcpt 1 250 2.0.0 queued as X1\n"
		    "done 250 2.0.0 queued as X1\n"
		    "ready\n",
	},
	{
		.name = "timeout waiting for RCPT",
		.msgs = { M1 },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT, "@TIMEOUT",
		    OK_RCPT },
		.client = EHLO_C M1_CMDS,
		.events = "ready\n"
		    "rcpt 0 451 4.4.2 timeout (state TXN) [local]\n"
		    "rcpt 1 451 4.4.2 timeout (state TXN) [local]\n"
		    "done 451 4.4.2 timeout (state TXN) [local]\n"
		    "failed TIMEOUT 451 4.4.2 timeout (state TXN) [local]\n",
	},
	{
		.name = "timeout waiting for the greeting",
		.server = { "@TIMEOUT" },
		.client = "",
		.events = "failed TIMEOUT 451 4.4.2 timeout (state GREETING) "
		    "[local]\n",
	},
	{
		.name = "timeout waiting for QUIT reply ends quietly",
		.server = { GREET EHLO_PIPE, "@TIMEOUT" },
		.client = EHLO_C QUIT_C,
		.events = "ready\n",
	},
	};

	check_all(scs, sizeof(scs) / sizeof(scs[0]));
}

/* --- properties: cut the dialogue anywhere -------------------------- */

enum cut_how { CUT_CLOSE, CUT_TIMEOUT, CUT_421 };

/*
 * cut_everywhere - feeds the first p bytes of a complete dialogue (for
 * every p), then ends it: EOF, timeout, or a 421.  Whatever happens,
 * each recipient gets exactly one outcome and the message one
 * message_done once it was sent; the connection fails exactly once,
 * unless the dialogue got as far as QUIT; nothing is reported after the
 * failure.
 */
static void
cut_everywhere(const struct scenario *sc, enum cut_how how)
{
	const char *in = sc->server[0];
	size_t len = strlen(in), p, quit_at;
	const char *q = strstr(in, QUEUED);

	ASSERT(q != NULL);
	quit_at = (size_t)(q - in) + strlen(QUEUED);
	for (p = 0; p <= len; p++) {
		struct fake f;
		size_t i;
		bool ok = true;

		/* a 421 can only start a line */
		if (how == CUT_421 && p > 0 && in[p - 1] != '\n')
			continue;
		fake_init(&f, sc);
		feed(&f, in, p);
		if (how == CUT_CLOSE)
			smtp_client_closed(f.c);
		else if (how == CUT_TIMEOUT)
			smtp_client_timeout(f.c);
		else
			feed(&f, "421 4.3.2 bye\r\n", 15);
		ok &= CHECK_INT(f.nfailed, p < quit_at ? 1 : 0);
		if (f.nsend > 0) {
			ok &= CHECK_INT(f.ndone, 1);
			for (i = 0; i < 2; i++)
				ok &= CHECK_INT(f.nrcpt[i], 1);
		} else {
			ok &= CHECK_INT(f.ndone, 0);
		}
		ok &= CHECK(!f.bad_after_fail);
		ok &= CHECK(smtp_client_want_close(f.c) || p == len);
		if (!ok)
			fprintf(stderr, "  %s cut %d at %zu\n", sc->name,
			    (int)how, p);
		fake_fini(&f);
		if (!ok)
			return;
	}
}

static void
test_cut_everywhere(void)
{
	static const struct scenario scs[] = {
	{
		.name = "pipelined",
		.msgs = { M1 },
		.server = { GREET EHLO_PIPE OK_MAIL OK_RCPT
		    "550 5.1.1 no\r\n" GO QUEUED BYE },
	},
	{
		.name = "lock-step",
		.msgs = { M1 },
		.server = { GREET EHLO_LOCK OK_MAIL "451 4.1.1 later\r\n"
		    OK_RCPT GO QUEUED BYE },
	},
	};
	enum cut_how how;
	size_t i;

	for (i = 0; i < sizeof(scs) / sizeof(scs[0]); i++)
		for (how = CUT_CLOSE; how <= CUT_421; how++)
			cut_everywhere(&scs[i], how);
}

/* --- against our own server session, in memory -------------------- */

struct loop_srv {
	struct smtp_session	*s;
	struct buf		 msg;		/* being stored */
	struct buf		 stored[MAX_MSGS];
	int			 nstored;
	bool			 open;
};

static void
srv_rcpt(void *ctx, struct smtp_session *s, const char *addr)
{
	(void)ctx;
	if (strncmp(addr, "bad", 3) == 0)
		smtp_session_rcpt_done(s, 550, "5.1.1", "no such user");
	else
		smtp_session_rcpt_done(s, 250, "2.1.5", "OK");
}

static int
srv_begin(void *ctx, const struct smtp_envelope *env, char qid[64],
    int *code_r, const char **enh_r, const char **text_r)
{
	struct loop_srv *l = ctx;

	(void)env;
	(void)code_r;
	(void)enh_r;
	(void)text_r;
	CHECK(!l->open);
	l->open = true;
	buf_reset(&l->msg);
	snprintf(qid, 64, "Q%d", l->nstored);
	return 0;
}

static int
srv_write(void *ctx, const void *p, size_t n)
{
	struct loop_srv *l = ctx;

	return buf_append(&l->msg, p, n);
}

static void
srv_end(void *ctx, struct smtp_session *s)
{
	struct loop_srv *l = ctx;

	CHECK(l->open);
	l->open = false;
	if (l->nstored < MAX_MSGS) {
		CHECK_INT(buf_append(&l->stored[l->nstored], l->msg.data,
		    l->msg.len), 0);
		l->nstored++;
	}
	smtp_session_data_done(s, 250, "2.0.0", "stored");
}

static void
srv_abort(void *ctx)
{
	struct loop_srv *l = ctx;

	l->open = false;
}

static const struct smtp_session_ops srv_ops = {
	srv_rcpt, srv_begin, srv_write, srv_end, srv_abort, NULL, NULL, NULL,
};

/*
 * shuttle - moves bytes both ways until neither side has anything more
 * to say; the client's bytes go over in pieces of `piece`.
 */
static void
shuttle(struct fake *f, struct loop_srv *l, size_t piece)
{
	bool moved = true;
	int rounds = 0;

	while (moved && rounds++ < 100000) {
		struct buf *so = smtp_session_output(l->s);
		struct buf *co = smtp_client_output(f->c);

		moved = false;
		if (so->len > 0) {
			struct buf tmp;

			buf_init(&tmp, so->len + 1);
			CHECK_INT(buf_append(&tmp, so->data, so->len), 0);
			buf_reset(so);
			CHECK_INT(smtp_client_input(f->c, tmp.data, tmp.len),
			    tmp.len);
			buf_fini(&tmp);
			moved = true;
		}
		if (co->len > 0) {
			size_t off = 0, n;

			while (off < co->len) {
				n = co->len - off < piece ? co->len - off :
				    piece;
				n = smtp_session_input(l->s, co->data + off,
				    n);
				if (n == 0)
					break;
				off += n;
			}
			CHECK_INT(off, co->len);
			CHECK_INT(buf_append(&f->sent, co->data, co->len), 0);
			buf_reset(co);
			smtp_client_output_drained(f->c);
			moved = true;
		}
	}
}

static void
test_against_server(void)
{
	size_t big = 1024 * 1024, i, piece;
	char *body3 = malloc(big + 1);
	struct scenario sc = {
		.name = "loop",
		.read_max = 777,
		.msgs = {
		    { "a@x.test", { "b@y.test", "bad@y.test" }, 40, false,
		    false, "Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nend" },
		    { "", { "bad@y.test" }, 1, false, false, "x\r\n" },
		    { "a@x.test", { "c@y.test" }, 0, true, false, NULL },
		    { "\xc3\xa9@x.test", { "d@y.test" }, 10, true, true,
		    "Subject: \xc3\xa9\r\n\r\n\xc3\xa9\r\n" } },
	};
	static const char *const want[] = {
		"Subject: dots\r\n\r\n.\r\n..\r\n.x\r\nend\r\n",
		NULL,
		NULL,
		"Subject: \xc3\xa9\r\n\r\n\xc3\xa9\r\n",
	};

	/* 80-byte lines, 8-bit, every other one starting with '.' */
	for (i = 0; i < big; i++)
		body3[i] = i % 80 == 78 ? '\r' : i % 80 == 79 ? '\n' :
		    i % 80 == 0 && i % 160 == 0 ? '.' : (char)(0xa0 + i % 50);
	body3[big] = '\0';
	sc.msgs[2].body = body3;
	sc.msgs[2].size = big;
	for (piece = 1; piece <= 65536; piece *= 64) {
		struct smtp_session_config scfg;
		struct smtp_peer peer = { "loop", "192.0.2.1", NULL, false };
		struct loop_srv l;
		struct fake f;

		memset(&l, 0, sizeof(l));
		buf_init(&l.msg, 4u * 1024 * 1024);
		for (i = 0; i < MAX_MSGS; i++)
			buf_init(&l.stored[i], 4u * 1024 * 1024);
		memset(&scfg, 0, sizeof(scfg));
		scfg.hostname = "mx.test";
		scfg.max_message_size = 2u * 1024 * 1024;
		l.s = smtp_session_new(&scfg, &srv_ops, &l, &peer);
		fake_init(&f, &sc);
		smtp_session_start(l.s);
		shuttle(&f, &l, piece);
		CHECK_STR(buf_cstr(&f.ev), "ready\n"
		    "rcpt 1 550 5.1.1 no such user\n"
		    "rcpt 0 250 2.0.0 stored\n"
		    "done 250 2.0.0 stored\n"
		    "ready\n"
		    "rcpt 0 550 5.1.1 no such user\n"
		    "done 550 5.1.1 no such user\n"
		    "ready\n"
		    "rcpt 0 250 2.0.0 stored\n"
		    "done 250 2.0.0 stored\n"
		    "ready\n"
		    "rcpt 0 250 2.0.0 stored\n"
		    "done 250 2.0.0 stored\n"
		    "ready\n");
		CHECK(smtp_client_want_close(f.c));
		CHECK(smtp_session_want_close(l.s));
		CHECK_INT(l.nstored, 3);
		/* each stored message is ours after the server's trace */
		for (i = 0; i < 3; i++) {
			const char *w = i == 0 ? want[0] : i == 1 ? body3 :
			    want[3];
			size_t wl = strlen(w);
			struct buf *st = &l.stored[i];

			/* the big one lacks its last CRLF: we add it */
			size_t tail = i == 1 ? 2 : 0;

			CHECK(st->len > wl + tail);
			if (st->len > wl + tail)
				CHECK(memcmp(st->data + st->len - wl - tail, w,
				    wl) == 0);
			if (tail > 0)
				CHECK(memcmp(st->data + st->len - 2, "\r\n",
				    2) == 0);
			CHECK(strncmp(buf_cstr(st), "Received: ", 10) == 0);
		}
		smtp_session_free(&l.s);
		fake_fini(&f);
		buf_fini(&l.msg);
		for (i = 0; i < MAX_MSGS; i++)
			buf_fini(&l.stored[i]);
	}
	free(body3);
}

static const struct test_case cases[] = {
	TEST(test_basic),
	TEST(test_greeting_and_helo),
	TEST(test_transaction_failures),
	TEST(test_unexpected_codes),
	TEST(test_starttls),
	TEST(test_starttls_sync_injection),
	TEST(test_helo_name),
	TEST(test_capabilities),
	TEST(test_message_checks),
	TEST(test_address_length),
	TEST(test_many_messages),
	TEST(test_dot_stuffing),
	TEST(test_streaming),
	TEST(test_read_error),
	TEST(test_reply_limits),
	TEST(test_reply_line_limit),
	TEST(test_malformed),
	TEST(test_timeouts),
	TEST(test_cut_everywhere),
	TEST(test_against_server),
};

TEST_MAIN(cases)
