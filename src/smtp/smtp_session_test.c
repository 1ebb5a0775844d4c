/*
 * smtp_session_test.c - unit tests for the SMTP server session with fake
 * ops.  Most scripts run twelve-plus ways: fed whole, one byte at a time
 * and split at every offset, each with the fake completing requests
 * synchronously (inside the op) and deferred (from the "event loop"); the
 * transcript and the stored message must be identical in every run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/sasl.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "smtp/smtp_session.h"
#include "store/accounts.h"
#include "../../tests/lib/test.h"

enum fake_pending { P_NONE, P_RCPT, P_END, P_VRFY, P_EXPN, P_AUTH,
	P_SCRAM };

struct fake {
	/* settings */
	bool			 defer;
	bool			 begin_fail;
	int			 write_fail;	/* fail write N; 0: never */
	int			 end_code;	/* 0: 250 */
	bool			 tls;		/* implicit TLS */
	bool			 loopback;	/* peer 127.0.0.1 */
	enum smtp_auth_result	 auth_verdict;	/* forced, if not OK */
	/* state */
	struct smtp_session	*s;
	enum fake_pending	 pending;
	char			 arg[1024];
	struct buf		 msg;
	struct buf		 seen;		/* "addr\n" per rcpt_check */
	int			 begins, ends, aborts, writes;
	size_t			 consumed;
	char			 env_helo[300];
	char			 env_from[300];
	char			 env_rcpts[2048];
	size_t			 env_nrcpts;
	enum smtp_body_type	 env_body;
	bool			 env_utf8;
	uint64_t		 env_size;
	char			 auth_pw[256];
	int			 auth_ok, auth_fail;	/* auth_result calls */
	char			 mails[512];	/* "helo|addr\n" per notice */
};

/*
 * The fake accounts: bob@x.test (password "secret", alias b@x.test) and,
 * for SCRAM, the RFC 7677 user "user" (password "pencil", account
 * user@x.test).  Names are matched case-insensitively.
 */
static void
fake_auth_complete(struct fake *f)
{
	if (f->auth_verdict != SMTP_AUTH_OK) {
		smtp_session_auth_done(f->s, f->auth_verdict, NULL);
		return;
	}
	if (strcasecmp(f->arg, "bob@x.test") == 0 &&
	    strcmp(f->auth_pw, "secret") == 0)
		smtp_session_auth_done(f->s, SMTP_AUTH_OK, "bob@x.test");
	else
		smtp_session_auth_done(f->s, SMTP_AUTH_FAIL, NULL);
}

static void
fake_scram_complete(struct fake *f)
{
	struct sasl_scram_keys k;
	struct buf salt;

	if (f->auth_verdict != SMTP_AUTH_OK) {
		smtp_session_auth_scram_done(f->s, f->auth_verdict, NULL,
		    NULL);
		return;
	}
	if (strcmp(f->arg, "user") != 0) {
		smtp_session_auth_scram_done(f->s, SMTP_AUTH_OK, NULL, NULL);
		return;
	}
	memset(&k, 0, sizeof(k));
	buf_init(&salt, 64);
	CHECK_INT(sasl_base64_decode(span_from_str("W22ZaJ0SNY7soEsUEjb6gQ=="),
	    &salt), 0);
	memcpy(k.salt, salt.data, salt.len);
	k.salt_len = salt.len;
	k.iterations = 4096;
	buf_fini(&salt);
	CHECK_INT(accounts_scram_derive("pencil", k.salt, k.salt_len,
	    k.iterations, k.stored_key, k.server_key), 0);
	smtp_session_auth_scram_done(f->s, SMTP_AUTH_OK, "user@x.test", &k);
}

static void fake_request(struct fake *f, enum fake_pending p,
    const char *arg);

static void
op_auth_verify(void *ctx, struct smtp_session *s, const char *user,
    const char *password)
{
	struct fake *f = ctx;

	CHECK(s == f->s);
	snprintf(f->auth_pw, sizeof(f->auth_pw), "%s", password);
	fake_request(f, P_AUTH, user);
}

static void
op_auth_scram(void *ctx, struct smtp_session *s, const char *user)
{
	struct fake *f = ctx;

	CHECK(s == f->s);
	fake_request(f, P_SCRAM, user);
}

static void
op_auth_result(void *ctx, struct smtp_session *s, const char *user, bool ok)
{
	struct fake *f = ctx;

	(void)s;
	(void)user;
	if (ok)
		f->auth_ok++;
	else
		f->auth_fail++;
}

static bool
op_sender_allowed(void *ctx, const char *account, const char *addr)
{
	(void)ctx;
	if (strcasecmp(account, "bob@x.test") == 0)
		return strcasecmp(addr, "bob@x.test") == 0 ||
		    strcasecmp(addr, "b@x.test") == 0;
	return strcasecmp(account, addr) == 0;
}

static const struct smtp_auth_ops fake_auth_ops = {
	op_auth_verify, op_auth_scram, op_auth_result, op_sender_allowed,
};

static void
fake_complete(struct fake *f)
{
	static const char *const expn_lines[] = { "a@x.test", "b@x.test" };
	const char *line = f->arg;
	enum fake_pending p = f->pending;

	f->pending = P_NONE;
	switch (p) {
	case P_NONE:
		break;
	case P_RCPT:
		if (strncmp(f->arg, "bad", 3) == 0)
			smtp_session_rcpt_done(f->s, 550, "5.1.1",
			    "User unknown");
		else if (strncmp(f->arg, "temp", 4) == 0)
			smtp_session_rcpt_done(f->s, 450, "4.2.0",
			    "Try again later");
		else
			smtp_session_rcpt_done(f->s, 250, "2.1.5", "OK");
		break;
	case P_END:
		if (f->end_code == 0 || f->end_code == 250)
			smtp_session_data_done(f->s, 250, "2.0.0",
			    "OK queued as Q1");
		else
			smtp_session_data_done(f->s, f->end_code, "5.7.1",
			    "Rejected by policy");
		break;
	case P_VRFY:
		smtp_session_lines_done(f->s, 250, "2.1.5", &line, 1);
		break;
	case P_EXPN:
		smtp_session_lines_done(f->s, 250, "2.1.5", expn_lines, 2);
		break;
	case P_AUTH:
		fake_auth_complete(f);
		break;
	case P_SCRAM:
		fake_scram_complete(f);
		break;
	}
}

static void
fake_request(struct fake *f, enum fake_pending p, const char *arg)
{
	CHECK_INT(f->pending, P_NONE);
	f->pending = p;
	snprintf(f->arg, sizeof(f->arg), "%s", arg != NULL ? arg : "");
	if (!f->defer)
		fake_complete(f);
}

static void
op_rcpt_check(void *ctx, struct smtp_session *s, const char *addr)
{
	struct fake *f = ctx;

	CHECK(s == f->s);
	CHECK_INT(buf_printf(&f->seen, "%s\n", addr), 0);
	fake_request(f, P_RCPT, addr);
}

static int
op_data_begin(void *ctx, const struct smtp_envelope *env, char qid[64],
    int *code_r, const char **enh_r, const char **text_r)
{
	struct fake *f = ctx;
	size_t i, n = 0;

	f->begins++;
	snprintf(f->env_helo, sizeof(f->env_helo), "%s", env->helo);
	snprintf(f->env_from, sizeof(f->env_from), "%s", env->mail_from);
	f->env_rcpts[0] = '\0';
	for (i = 0; i < env->nrcpts; i++)
		n += (size_t)snprintf(f->env_rcpts + n,
		    sizeof(f->env_rcpts) - n, "%s,", env->rcpts[i]);
	f->env_nrcpts = env->nrcpts;
	f->env_body = env->body;
	f->env_utf8 = env->smtputf8;
	f->env_size = env->declared_size;
	if (f->begin_fail) {
		*code_r = 451;
		*enh_r = "4.3.0";
		*text_r = "Spool unavailable";
		return -1;
	}
	snprintf(qid, 64, "Q1");
	return 0;
}

static int
op_data_write(void *ctx, const void *p, size_t n)
{
	struct fake *f = ctx;

	f->writes++;
	if (f->write_fail != 0 && f->writes == f->write_fail)
		return -1;
	return buf_append(&f->msg, p, n);
}

static void
op_data_end(void *ctx, struct smtp_session *s)
{
	struct fake *f = ctx;

	CHECK(s == f->s);
	f->ends++;
	fake_request(f, P_END, NULL);
}

static void
op_data_abort(void *ctx)
{
	struct fake *f = ctx;

	f->aborts++;
}

static void
op_vrfy(void *ctx, struct smtp_session *s, const char *arg)
{
	(void)s;
	fake_request(ctx, P_VRFY, arg);
}

static void
op_expn(void *ctx, struct smtp_session *s, const char *arg)
{
	(void)s;
	fake_request(ctx, P_EXPN, arg);
}

static void
op_mail_accepted(void *ctx, struct smtp_session *s, const char *helo,
    const char *addr)
{
	struct fake *f = ctx;
	size_t l = strlen(f->mails);

	(void)s;
	snprintf(f->mails + l, sizeof(f->mails) - l, "%s|%s\n", helo, addr);
}

static const struct smtp_session_ops fake_ops = {
	op_rcpt_check, op_data_begin, op_data_write, op_data_end,
	op_data_abort, op_expn, op_vrfy, op_mail_accepted,
};

static const struct smtp_peer test_peer = {
	"t1", "192.0.2.7", NULL, false,
};

static const struct smtp_peer loopback_peer = {
	"t2", "127.0.0.1", NULL, true,
};

static struct smtp_session_config
default_cfg(void)
{
	struct smtp_session_config c;

	memset(&c, 0, sizeof(c));
	c.hostname = "mx.test";
	c.max_message_size = 1000000;
	c.max_rcpts = 100;
	c.max_errors = 100;
	c.max_received = 50;
	c.max_cmd_line = 512;
	c.max_text_line = 1000;
	return c;
}

static void
fake_start(struct fake *f, const struct smtp_session_config *cfg,
    struct buf *tr)
{
	log_set_level(LOG_LEVEL_ERROR);
	buf_init(&f->msg, 1 << 24);
	buf_init(&f->seen, 1 << 20);
	buf_init(tr, 1 << 24);
	f->s = smtp_session_new(cfg, &fake_ops, f, f->loopback ?
	    &loopback_peer : &test_peer);
	smtp_session_set_auth_ops(f->s, &fake_auth_ops, NULL);
	if (f->tls)
		smtp_session_tls_started(f->s, NULL);
	smtp_session_start(f->s);
}

static void
drain(struct fake *f, struct buf *tr)
{
	struct buf *out = smtp_session_output(f->s);

	CHECK_INT(buf_append(tr, out->data, out->len), 0);
	buf_reset(out);
}

/*
 * feed - what the I/O layer does: offer bytes, send the replies, and
 * when the session stops early because a request is out, answer it (the
 * "event loop") and offer the rest again.
 */
static void
feed(struct fake *f, const uint8_t *p, size_t n, struct buf *tr)
{
	for (;;) {
		size_t k = n > 0 ? smtp_session_input(f->s, p, n) : 0;

		CHECK(k <= n);
		p += k;
		n -= k;
		f->consumed += k;
		drain(f, tr);
		if (f->pending != P_NONE) {
			CHECK(smtp_session_is_pending(f->s));
			fake_complete(f);
			CHECK(!smtp_session_is_pending(f->s));
			drain(f, tr);
			continue;
		}
		if (n == 0 || smtp_session_want_close(f->s))
			break;
		if (k == 0) {
			CHECK(!"session took nothing and wants nothing");
			break;
		}
	}
}

static void
fake_end(struct fake *f, struct buf *tr)
{
	smtp_session_free(&f->s);
	CHECK(f->s == NULL);
	buf_fini(&f->msg);
	buf_fini(&f->seen);
	buf_fini(tr);
}

/* strip_received - removes our own Received: fields from a message */
static void
strip_received(struct buf *m)
{
	for (;;) {
		char *p = memmem(m->data, m->len, "Received: from ", 15);
		char *q;
		size_t off, end;

		if (p == NULL)
			return;
		off = (size_t)(p - (char *)m->data);
		q = p;
		for (;;) {
			q = memmem(q, m->len - (size_t)(q - (char *)m->data),
			    "\r\n", 2);
			if (q == NULL)
				return;
			q += 2;
			if ((size_t)(q - (char *)m->data) >= m->len ||
			    *q != '\t')
				break;
		}
		end = (size_t)(q - (char *)m->data);
		memmove(m->data + off, m->data + end, m->len - end);
		m->len -= end - off;
	}
}

struct expect {
	const char	*transcript;	/* after the greeting */
	const char	*message;	/* stored minus Received:; or NULL */
	int		 aborts;	/* -1: don't care */
};

static const char greeting[] = "220 mx.test ESMTP postino\r\n";
static const char ehlo_reply[] =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n"
    "250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n";

static bool
run_one(const struct smtp_session_config *cfg, const struct fake *proto,
    const char *in, size_t n, const size_t *cuts, size_t ncuts,
    const struct expect *e, const char *mode)
{
	struct fake f = *proto;
	struct buf tr, want;
	size_t i, pos = 0;
	bool ok = true;

	fake_start(&f, cfg, &tr);
	for (i = 0; i < ncuts; i++) {
		feed(&f, (const uint8_t *)in + pos, cuts[i] - pos, &tr);
		pos = cuts[i];
	}
	CHECK(pos == n);
	buf_init(&want, 1 << 24);
	CHECK_INT(buf_append_str(&want, greeting), 0);
	CHECK_INT(buf_append_str(&want, e->transcript), 0);
	if (!CHECK_MEM(tr.data, tr.len, want.data, want.len))
		ok = false;
	if (e->message != NULL) {
		strip_received(&f.msg);
		if (!CHECK_MEM(f.msg.data, f.msg.len, e->message,
		    strlen(e->message)))
			ok = false;
	}
	if (e->aborts >= 0 && !CHECK_INT(f.aborts, e->aborts))
		ok = false;
	if (!ok)
		fprintf(stderr, "  mode %s%s\n", mode,
		    proto->defer ? ", deferred" : ", synchronous");
	buf_fini(&want);
	fake_end(&f, &tr);
	return ok;
}

/* check_script - runs in every way; stops at the first failing way */
static void
check_script(const struct smtp_session_config *cfg, const struct fake *proto,
    const char *in, const struct expect *e)
{
	size_t n = strlen(in), i, split;
	size_t *cuts = calloc(n + 2, sizeof(*cuts));
	struct fake p = *proto;
	int d;
	char mode[64];

	for (d = 0; d < 2; d++) {
		p.defer = d == 1;
		cuts[0] = n;
		if (!run_one(cfg, &p, in, n, cuts, 1, e, "whole"))
			break;
		for (i = 0; i < n; i++)
			cuts[i] = i + 1;
		if (!run_one(cfg, &p, in, n, cuts, n, e, "bytewise"))
			break;
		for (split = 1; split < n; split++) {
			cuts[0] = split;
			cuts[1] = n;
			snprintf(mode, sizeof(mode), "split at %zu", split);
			if (!run_one(cfg, &p, in, n, cuts, 2, e, mode))
				break;
		}
		if (split < n)
			break;
	}
	free(cuts);
}

/* run_simple - whole input, synchronous; the transcript after the 220 */
static void
run_simple(const struct smtp_session_config *cfg, struct fake *f,
    const char *in, size_t n, struct buf *tr)
{
	fake_start(f, cfg, tr);
	drain(f, tr);
	buf_reset(tr);
	feed(f, (const uint8_t *)in, n, tr);
}

static void
test_greeting(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;

	memset(&f, 0, sizeof(f));
	fake_start(&f, &cfg, &tr);
	drain(&f, &tr);
	CHECK_MEM(tr.data, tr.len, greeting, sizeof(greeting) - 1);
	CHECK(!smtp_session_want_close(f.s));
	CHECK(!smtp_session_is_pending(f.s));
	fake_end(&f, &tr);
}

static void
test_transaction(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct expect e = {
		"", "Subject: hi\r\n\r\nbody\r\n.dot\r\n", 0,
	};
	char want[1024];

	memset(&f, 0, sizeof(f));
	snprintf(want, sizeof(want), "%s"
	    "250 2.1.0 Sender OK\r\n"
	    "250 2.1.5 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 OK queued as Q1\r\n"
	    "221 2.0.0 mx.test closing connection\r\n", ehlo_reply);
	e.transcript = want;
	check_script(&cfg, &f,
	    "EHLO client.test\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@local.test>\r\n"
	    "DATA\r\n"
	    "Subject: hi\r\n\r\nbody\r\n..dot\r\n.\r\n"
	    "QUIT\r\n", &e);
}

/* The envelope and the Received: field of one run. */
static void
test_envelope_received(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] =
	    "EHLO client.test\r\n"
	    "MAIL FROM:<a@b.test> SIZE=30 BODY=8BITMIME\r\n"
	    "RCPT TO:<x@local.test>\r\n"
	    "DATA\r\nhi\r\n.\r\n";
	static const char rcv[] =
	    "Received: from client.test (unknown [192.0.2.7])\r\n"
	    "\tby mx.test (postino) with ESMTP id Q1\r\n"
	    "\tfor <x@local.test>; ";
	const char *end;

	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK_INT(f.begins, 1);
	CHECK_INT(f.ends, 1);
	CHECK_STR(f.env_helo, "client.test");
	CHECK_STR(f.env_from, "a@b.test");
	CHECK_STR(f.env_rcpts, "x@local.test,");
	CHECK_INT(f.env_nrcpts, 1);
	CHECK_INT(f.env_body, SMTP_BODY_8BITMIME);
	CHECK_INT(f.env_size, 30);
	CHECK(!f.env_utf8);
	CHECK(f.msg.len > sizeof(rcv));
	CHECK_MEM(f.msg.data, sizeof(rcv) - 1, rcv, sizeof(rcv) - 1);
	/* a date of at least "1 Jan 2026 00:00:00 +0000", CRLF, message */
	end = memmem(f.msg.data, f.msg.len, "\r\nhi\r\n", 6);
	CHECK(end != NULL && (size_t)(end - (char *)f.msg.data) + 6 ==
	    f.msg.len);
	CHECK(end != NULL && (size_t)(end - (char *)f.msg.data) >=
	    sizeof(rcv) - 1 + 25);
	fake_end(&f, &tr);
}

/* HELO: plain SMTP, no parameters, "with SMTP"; two recipients: no "for" */
static void
test_helo_and_two_rcpts(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] =
	    "HELO [192.0.2.99]\r\n"
	    "MAIL FROM:<a@b.test> SIZE=10\r\n"
	    "MAIL FROM:<>\r\n"
	    "RCPT TO:<x@local.test>\r\n"
	    "RCPT TO:<y@local.test>\r\n"
	    "DATA\r\nhi\r\n.\r\n";
	static const char want[] =
	    "250 mx.test\r\n"
	    "555 5.5.4 Unsupported parameter\r\n"
	    "250 2.1.0 Sender OK\r\n"
	    "250 2.1.5 OK\r\n"
	    "250 2.1.5 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 OK queued as Q1\r\n";
	static const char rcv[] =
	    "Received: from [192.0.2.99] (unknown [192.0.2.7])\r\n"
	    "\tby mx.test (postino) with SMTP id Q1;\r\n\t";

	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK_MEM(tr.data, tr.len, want, sizeof(want) - 1);
	CHECK_MEM(f.msg.data, sizeof(rcv) - 1, rcv, sizeof(rcv) - 1);
	CHECK_STR(f.env_from, "");
	CHECK_STR(f.env_rcpts, "x@local.test,y@local.test,");
	fake_end(&f, &tr);
}

static void
test_sequencing(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct expect e = { NULL, NULL, 0 };
	char want[2048];

	memset(&f, 0, sizeof(f));
	snprintf(want, sizeof(want),
	    "503 5.5.1 Bad sequence of commands\r\n"	/* MAIL */
	    "503 5.5.1 Bad sequence of commands\r\n"	/* RCPT */
	    "503 5.5.1 Bad sequence of commands\r\n"	/* DATA */
	    "%s"
	    "503 5.5.1 Bad sequence of commands\r\n"	/* RCPT */
	    "503 5.5.1 Bad sequence of commands\r\n"	/* DATA */
	    "250 2.1.0 Sender OK\r\n"
	    "503 5.5.1 Bad sequence of commands\r\n"	/* MAIL again */
	    "554 5.5.1 No valid recipients\r\n"		/* DATA */
	    "550 5.1.1 User unknown\r\n"
	    "450 4.2.0 Try again later\r\n"
	    "554 5.5.1 No valid recipients\r\n"		/* DATA */
	    "250 2.0.0 OK\r\n"				/* RSET */
	    "503 5.5.1 Bad sequence of commands\r\n"	/* RCPT */
	    "250 2.1.0 Sender OK\r\n"
	    "250 2.1.5 OK\r\n"
	    "250 2.0.0 OK\r\n"				/* RSET mid-way */
	    "503 5.5.1 Bad sequence of commands\r\n"	/* DATA */
	    "250 2.1.0 Sender OK\r\n"
	    "250 2.1.5 OK\r\n"
	    "250-mx.test\r\n"				/* EHLO resets */
	    "250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n"
	    "250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n"
	    "503 5.5.1 Bad sequence of commands\r\n",	/* DATA */
	    ehlo_reply);
	e.transcript = want;
	check_script(&cfg, &f,
	    "MAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@local.test>\r\n"
	    "DATA\r\n"
	    "EHLO client.test\r\n"
	    "RCPT TO:<x@local.test>\r\n"
	    "DATA\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "DATA\r\n"
	    "RCPT TO:<bad@local.test>\r\n"
	    "RCPT TO:<temp@local.test>\r\n"
	    "DATA\r\n"
	    "RSET\r\n"
	    "RCPT TO:<x@local.test>\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@local.test>\r\n"
	    "RSET\r\n"
	    "DATA\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@local.test>\r\n"
	    "EHLO client.test\r\n"
	    "DATA\r\n", &e);
}

static void
test_commands(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct expect e = {
		"250 2.0.0 OK\r\n"
		"250 2.0.0 OK\r\n"
		"250 2.0.0 OK\r\n"
		"214-2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT "
		"VRFY HELP\r\n"
		"214-2.0.0 See RFC 5321\r\n"
		"214 2.0.0 End of HELP info\r\n"
		"252 2.1.5 Cannot VRFY user, but will accept message and "
		"attempt delivery\r\n"
		"501 5.5.4 Syntax: VRFY address\r\n"
		"502 5.5.1 EXPN not available\r\n"
		"501 5.5.4 Syntax: EXPN list\r\n"
		"502 5.5.1 Command not implemented\r\n"
		"502 5.5.1 Command not implemented\r\n"
		"502 5.5.1 Command not implemented\r\n"
		"502 5.5.1 Command not implemented\r\n"
		"500 5.5.2 Command unrecognized\r\n"
		"500 5.5.2 Command unrecognized\r\n"
		"500 5.5.2 Command unrecognized\r\n"
		"501 5.5.4 Syntax: RSET\r\n"
		"502 5.5.1 Command not implemented\r\n"	/* STARTTLS */
		"501 5.5.4 Syntax: HELO hostname\r\n"
		"501 5.5.4 Syntax: EHLO hostname\r\n"
		"250 mx.test\r\n"
		"250 2.1.0 Sender OK\r\n"
		"250 2.1.5 OK\r\n"
		"501 5.5.4 Syntax: DATA\r\n"
		"250 2.0.0 OK\r\n"
		"501 5.5.4 Address must be enclosed in <>\r\n"
		"501 5.5.4 Syntax: MAIL FROM:<address>\r\n"
		"221 2.0.0 mx.test closing connection\r\n",
		NULL, 0,
	};

	memset(&f, 0, sizeof(f));
	check_script(&cfg, &f,
	    "NOOP\r\n"
	    "noop\r\n"
	    "NOOP some text\r\n"
	    "HELP\r\n"
	    "VRFY someone\r\n"
	    "VRFY\r\n"
	    "EXPN list\r\n"
	    "EXPN\r\n"
	    "SEND FROM:<a@b>\r\n"
	    "SOML FROM:<a@b>\r\n"
	    "SAML FROM:<a@b>\r\n"
	    "TURN\r\n"
	    "FOO\r\n"
	    "\r\n"
	    " NOOP\r\n"
	    "RSET now\r\n"
	    "STARTTLS\r\n"
	    "HELO\r\n"
	    "EHLO two words\r\n"
	    "HELO client.test\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@local.test>\r\n"
	    "DATA now\r\n"
	    "RSET\r\n" "MAIL FROM:a@b.test\r\n" "MAIL TO:<a@b.test>\r\n"
	    "QUIT\r\n", &e);
}

static void
test_vrfy_expn_enabled(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct expect e = {
		"250 2.1.5 someone\r\n"
		"250-2.1.5 a@x.test\r\n"
		"250 2.1.5 b@x.test\r\n"
		"250 2.0.0 OK\r\n",
		NULL, 0,
	};

	cfg.vrfy_enabled = true;
	cfg.expn_enabled = true;
	memset(&f, 0, sizeof(f));
	check_script(&cfg, &f, "VRFY someone\r\nEXPN list\r\nNOOP\r\n", &e);
}

/* Command line limit 32 incl. CRLF: 31, 32, 33 and a much longer line. */
static void
test_cmd_line_limit(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	char in[512];
	struct expect e = {
		"250 2.0.0 OK\r\n"
		"250 2.0.0 OK\r\n"
		"500 5.5.6 Line too long\r\n"
		"250 2.0.0 OK\r\n"
		"500 5.5.6 Line too long\r\n"
		"250 2.0.0 OK\r\n",
		NULL, 0,
	};
	size_t n = 0, len;

	cfg.max_cmd_line = 32;
	for (len = 31; len <= 33; len++) {
		memcpy(in + n, "NOOP ", 5);
		memset(in + n + 5, 'x', len - 7);
		memcpy(in + n + len - 2, "\r\n", 2);
		n += len;
	}
	memcpy(in + n, "NOOP\r\n", 6);
	n += 6;
	memset(in + n, 'y', 100);
	n += 100;
	memcpy(in + n, "\r\nNOOP\r\n", 9);
	memset(&f, 0, sizeof(f));
	check_script(&cfg, &f, in, &e);
}

/* max_rcpts 3: the fourth gets 452 4.5.3, the message goes to three. */
static void
test_rcpt_limit(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] =
	    "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<r1@local.test>\r\n"
	    "RCPT TO:<r2@local.test>\r\n"
	    "RCPT TO:<r3@local.test>\r\n"
	    "RCPT TO:<r4@local.test>\r\n"
	    "DATA\r\nx\r\n.\r\n";
	static const char in2[] =
	    "EHLO c.test\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<r1@local.test>\r\nRCPT TO:<r2@local.test>\r\n"
	    "RSET\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<r1@local.test>\r\nRCPT TO:<r2@local.test>\r\n"
	    "RCPT TO:<r3@local.test>\r\nDATA\r\nx\r\n.\r\n";
	static const char tail[] =
	    "250 2.1.0 Sender OK\r\n"
	    "250 2.1.5 OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n"
	    "452 4.5.3 Too many recipients\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 OK queued as Q1\r\n";

	cfg.max_rcpts = 3;
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK(tr.len > sizeof(tail));
	CHECK_MEM(tr.data + tr.len - (sizeof(tail) - 1), sizeof(tail) - 1,
	    tail, sizeof(tail) - 1);
	CHECK_INT(f.env_nrcpts, 3);
	CHECK_STR(f.env_rcpts, "r1@local.test,r2@local.test,r3@local.test,");
	/* the fourth was never asked about */
	CHECK_STR(buf_cstr(&f.seen),
	    "r1@local.test\nr2@local.test\nr3@local.test\n");
	fake_end(&f, &tr);

	/* limit - 1 (two of three) and a new transaction starts over */
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in2, sizeof(in2) - 1, &tr);
	CHECK_INT(f.env_nrcpts, 3);
	CHECK(memmem(tr.data, tr.len, "452", 3) == NULL);
	fake_end(&f, &tr);
}

/* max_errors 3: three errors are answered, the fourth also closes. */
static void
test_error_limit(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	static const char in3[] = "FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n";
	static const char in4[] = "FOO\r\nBAR\r\nBAZ\r\nQUX\r\nNOOP\r\n";
	struct expect e = {
		"500 5.5.2 Command unrecognized\r\n"
		"500 5.5.2 Command unrecognized\r\n"
		"500 5.5.2 Command unrecognized\r\n"
		"500 5.5.2 Command unrecognized\r\n"
		"421 4.7.0 mx.test Too many errors, closing connection\r\n",
		NULL, 0,
	};

	cfg.max_errors = 3;
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in3, sizeof(in3) - 1, &tr);
	CHECK(!smtp_session_want_close(f.s));
	CHECK(memmem(tr.data, tr.len, "250 2.0.0 OK", 12) != NULL);
	fake_end(&f, &tr);

	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in4, sizeof(in4) - 1, &tr);
	CHECK(smtp_session_want_close(f.s));
	CHECK_INT(f.consumed, 20);	/* NOOP is not read */
	CHECK_INT(smtp_session_input(f.s, (const uint8_t *)"NOOP\r\n", 6), 0);
	fake_end(&f, &tr);
	memset(&f, 0, sizeof(f));
	check_script(&cfg, &f, in4, &e);

	/* rejected recipients count too (dictionary attacks) */
	cfg.max_errors = 2;
	memset(&f, 0, sizeof(f));
	e.transcript = "250 mx.test\r\n250 2.1.0 Sender OK\r\n"
	    "550 5.1.1 User unknown\r\n550 5.1.1 User unknown\r\n"
	    "550 5.1.1 User unknown\r\n"
	    "421 4.7.0 mx.test Too many errors, closing connection\r\n";
	check_script(&cfg, &f, "HELO c\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<bad1@l.test>\r\nRCPT TO:<bad2@l.test>\r\n"
	    "RCPT TO:<bad3@l.test>\r\nRCPT TO:<ok@l.test>\r\n", &e);
}

static void
test_bad_lines(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] =
	    "NO\0OP\r\n"
	    "NOOP\n"
	    "NOOP\rRSET\r\n"
	    "\n"
	    "NOOP\r\n";
	static const char want[] =
	    "500 5.5.2 NUL byte in command\r\n"
	    "500 5.5.2 Line must end with CRLF\r\n"
	    "500 5.5.2 Bare CR in command\r\n"
	    "500 5.5.2 Line must end with CRLF\r\n"
	    "250 2.0.0 OK\r\n";

	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK_MEM(tr.data, tr.len, want, sizeof(want) - 1);
	fake_end(&f, &tr);
}

/* SIZE= against max_message_size 1000: 999, 1000, 1001. */
static void
test_size_param(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct expect e = {
		"250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
		"250-8BITMIME\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES\r\n"
		"250 2.1.0 Sender OK\r\n250 2.0.0 OK\r\n"
		"250 2.1.0 Sender OK\r\n250 2.0.0 OK\r\n"
		"552 5.3.4 Message size exceeds fixed maximum message size\r\n",
		NULL, 0,
	};

	cfg.max_message_size = 1000;
	memset(&f, 0, sizeof(f));
	check_script(&cfg, &f, "EHLO c\r\n"
	    "MAIL FROM:<a@b.test> SIZE=999\r\nRSET\r\n"
	    "MAIL FROM:<a@b.test> SIZE=1000\r\nRSET\r\n"
	    "MAIL FROM:<a@b.test> SIZE=1001\r\n", &e);
}

/* Message size 100: bodies of 99, 100 and 101 octets. */
static void
test_message_size(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	char in[1024], body[128];
	size_t len;
	static const char ok[] =
	    "250 mx.test\r\n250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 OK queued as Q1\r\n250 2.0.0 OK\r\n";
	static const char big[] =
	    "250 mx.test\r\n250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "552 5.3.4 Message size exceeds the fixed limit\r\n"
	    "250 2.0.0 OK\r\n";
	struct expect e;

	cfg.max_message_size = 100;
	for (len = 99; len <= 101; len++) {
		memset(body, 'b', len - 2);
		memcpy(body + len - 2, "\r\n", 2);
		body[len] = '\0';
		snprintf(in, sizeof(in), "HELO c\r\nMAIL FROM:<a@b.test>\r\n"
		    "RCPT TO:<x@l.test>\r\nDATA\r\n%s.\r\nNOOP\r\n", body);
		e.transcript = len <= 100 ? ok : big;
		e.message = len <= 100 ? body : NULL;
		e.aborts = len <= 100 ? 0 : 1;
		memset(&f, 0, sizeof(f));
		check_script(&cfg, &f, in, &e);
	}
}

/* Every smuggling variant: one rejection, nothing inside runs. */
static void
test_smuggling(void)
{
	static const char *const variants[] = {
		"\n.\n", "\n.\r\n", "\r\n.\n", "\r.\r", "\r\n.\r", "\r.\r\n",
	};
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	char in[1024];
	size_t i;
	struct expect e = {
		"250 mx.test\r\n250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"554 5.6.0 Bare CR or LF in message, only CRLF is allowed "
		"(RFC 5321 2.3.8); message refused\r\n"
		"250 2.0.0 OK\r\n",
		NULL, 1,
	};

	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		struct buf tr;

		snprintf(in, sizeof(in), "HELO c\r\nMAIL FROM:<a@b.test>\r\n"
		    "RCPT TO:<x@l.test>\r\nDATA\r\nhello%s"
		    "MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@l.test>\r\n"
		    "DATA\r\nevil\r\n.\r\nNOOP\r\n", variants[i]);
		memset(&f, 0, sizeof(f));
		check_script(&cfg, &f, in, &e);
		memset(&f, 0, sizeof(f));
		run_simple(&cfg, &f, in, strlen(in), &tr);
		CHECK_STR(buf_cstr(&f.seen), "x@l.test\n");
		CHECK_INT(f.ends, 0);
		fake_end(&f, &tr);
	}
}

/* Received: limit 2: two pass, three are a loop. */
static void
test_loop(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct expect e = {
		"250 mx.test\r\n250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"250 2.0.0 OK queued as Q1\r\n"
		"250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"554 5.4.6 Too many Received: header fields, mail loop?\r\n",
		NULL, 1,
	};

	cfg.max_received = 2;
	memset(&f, 0, sizeof(f));
	check_script(&cfg, &f, "HELO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@l.test>\r\nDATA\r\n"
	    "Received: a\r\nReceived: b\r\n\r\nx\r\n.\r\n"
	    "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@l.test>\r\nDATA\r\n"
	    "Received: a\r\nReceived: b\r\nReceived: c\r\n\r\nx\r\n.\r\n",
	    &e);
}

/* Text line limit 20: 19, 20 and 21 octets. */
static void
test_text_line(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct expect e = {
		"250 mx.test\r\n250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"250 2.0.0 OK queued as Q1\r\n"
		"250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"554 5.6.0 Line too long in message; message refused\r\n",
		NULL, 1,
	};

	cfg.max_text_line = 20;
	memset(&f, 0, sizeof(f));
	check_script(&cfg, &f, "HELO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@l.test>\r\nDATA\r\n"
	    "12345678901234567\r\n123456789012345678\r\n.\r\n"
	    "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@l.test>\r\nDATA\r\n"
	    "1234567890123456789\r\n.\r\n", &e);
}

static void
test_body_types(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] =
	    "EHLO c\r\n"
	    "MAIL FROM:<a@b.test> BODY=BINARYMIME\r\n"
	    "MAIL FROM:<\xc3\xbc@b.test>\r\n"
	    "MAIL FROM:<\xc3\xbc@b.test> SMTPUTF8\r\n"
	    "RCPT TO:<\xc3\xa9@l.test>\r\n"
	    "DATA\r\n\xc3\xa9\r\n.\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<\xc3\xa9@l.test>\r\n";
	static const char tail[] =
	    "555 5.5.4 BODY=BINARYMIME needs CHUNKING, which is not "
	    "offered\r\n"
	    "553 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter\r\n"
	    "250 2.1.0 Sender OK\r\n"
	    "250 2.1.5 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 OK queued as Q1\r\n"
	    "250 2.1.0 Sender OK\r\n"
	    "553 5.6.7 Non-ASCII address needs the SMTPUTF8 parameter\r\n";

	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK(tr.len > sizeof(tail));
	CHECK_MEM(tr.data + tr.len - (sizeof(tail) - 1), sizeof(tail) - 1,
	    tail, sizeof(tail) - 1);
	CHECK(f.env_utf8);
	CHECK(memmem(f.msg.data, f.msg.len, "with UTF8SMTP id Q1", 19) !=
	    NULL);
	fake_end(&f, &tr);
}

static void
test_data_begin_fail(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct expect e = {
		"250 mx.test\r\n250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
		"451 4.3.0 Spool unavailable\r\n"
		"503 5.5.1 Bad sequence of commands\r\n"
		"250 2.1.0 Sender OK\r\n",
		NULL, 0,
	};

	memset(&f, 0, sizeof(f));
	f.begin_fail = true;
	check_script(&cfg, &f, "HELO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@l.test>\r\nDATA\r\nRCPT TO:<x@l.test>\r\n"
	    "MAIL FROM:<a@b.test>\r\n", &e);
}

static void
test_write_fail(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct expect e = {
		"250 mx.test\r\n250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
		"451 4.3.0 Local error writing the message, try again later\r\n"
		"250 2.0.0 OK\r\n",
		NULL, 1,
	};

	/* the Received: write fails: no 354 */
	memset(&f, 0, sizeof(f));
	f.write_fail = 1;
	check_script(&cfg, &f, "HELO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@l.test>\r\nDATA\r\nNOOP\r\n", &e);
	/* the body write fails: answered after the end marker */
	memset(&f, 0, sizeof(f));
	f.write_fail = 2;
	e.transcript = "250 mx.test\r\n250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "451 4.3.0 Local error writing the message, try again later\r\n"
	    "250 2.0.0 OK\r\n";
	check_script(&cfg, &f, "HELO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@l.test>\r\nDATA\r\nbody\r\n.\r\nNOOP\r\n", &e);
}

static void
test_data_end_reject(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct expect e = {
		"250 mx.test\r\n250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"554 5.7.1 Rejected by policy\r\n"
		"250 2.1.0 Sender OK\r\n",
		NULL, 0,
	};

	memset(&f, 0, sizeof(f));
	f.end_code = 554;
	check_script(&cfg, &f, "HELO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@l.test>\r\nDATA\r\nbody\r\n.\r\n"
	    "MAIL FROM:<a@b.test>\r\n", &e);
}

static void
test_several_transactions(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct expect e = {
		"250 mx.test\r\n"
		"250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"250 2.0.0 OK queued as Q1\r\n"
		"250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n250 2.1.5 OK\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"250 2.0.0 OK queued as Q1\r\n"
		"250 2.1.0 Sender OK\r\n250 2.1.5 OK\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"250 2.0.0 OK queued as Q1\r\n"
		"221 2.0.0 mx.test closing connection\r\n",
		"one\r\ntwo\r\n.\r\nthree\r\n", 0,
	};
	struct buf tr;
	static const char in[] =
	    "HELO c\r\n"
	    "MAIL FROM:<a@b.test>\r\nRCPT TO:<x@l.test>\r\nDATA\r\n"
	    "one\r\n.\r\n"
	    "MAIL FROM:<>\r\nRCPT TO:<x@l.test>\r\nRCPT TO:<y@l.test>\r\n"
	    "DATA\r\ntwo\r\n..\r\n.\r\n"
	    "MAIL FROM:<c@b.test>\r\nRCPT TO:<z@l.test>\r\nDATA\r\n"
	    "three\r\n.\r\n"
	    "QUIT\r\n";

	memset(&f, 0, sizeof(f));
	check_script(&cfg, &f, in, &e);
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK_INT(f.begins, 3);
	CHECK_INT(f.ends, 3);
	CHECK_STR(f.env_from, "c@b.test");
	CHECK_STR(f.env_rcpts, "z@l.test,");
	fake_end(&f, &tr);
}

/* QUIT: nothing after it is read. */
static void
test_quit_stops(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;

	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, "QUIT\r\nNOOP\r\n", 12, &tr);
	CHECK_INT(f.consumed, 6);
	CHECK(smtp_session_want_close(f.s));
	CHECK_STR(buf_cstr(&tr), "221 2.0.0 mx.test closing connection\r\n");
	fake_end(&f, &tr);
}

static void
test_timeout_shutdown(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] = "HELO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@l.test>\r\nDATA\r\npartial";

	/* timeout in the middle of DATA: 421, the message is aborted */
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK_INT(f.aborts, 0);
	buf_reset(&tr);
	smtp_session_timeout(f.s);
	drain(&f, &tr);
	CHECK_STR(buf_cstr(&tr), "421 4.4.2 mx.test Error: timeout "
	    "exceeded\r\n");
	CHECK_INT(f.aborts, 1);
	CHECK(smtp_session_want_close(f.s));
	CHECK_INT(smtp_session_input(f.s, (const uint8_t *)"x\r\n.\r\n", 6),
	    0);
	smtp_session_timeout(f.s);	/* only one 421 */
	CHECK_INT(smtp_session_output(f.s)->len, 0);
	fake_end(&f, &tr);

	/* shutdown while idle */
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, "HELO c\r\n", 8, &tr);
	buf_reset(&tr);
	smtp_session_shutdown(f.s);
	drain(&f, &tr);
	CHECK_STR(buf_cstr(&tr), "421 4.3.2 mx.test Service shutting down, "
	    "closing connection\r\n");
	CHECK(smtp_session_want_close(f.s));
	fake_end(&f, &tr);

	/* freed in the middle of DATA: aborted once */
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	smtp_session_free(&f.s);
	CHECK_INT(f.aborts, 1);
	smtp_session_free(&f.s);	/* NULL: no-op */
	fake_end(&f, &tr);
}

/* A request still out when the timer fires: its late answer is dropped. */
static void
test_timeout_while_pending(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] = "HELO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@l.test>\r\nNOOP\r\n";
	size_t k;

	memset(&f, 0, sizeof(f));
	f.defer = true;
	fake_start(&f, &cfg, &tr);
	k = smtp_session_input(f.s, (const uint8_t *)in, sizeof(in) - 1);
	CHECK_INT(k, sizeof(in) - 1 - 6);	/* NOOP waits */
	CHECK(smtp_session_is_pending(f.s));
	CHECK_INT(smtp_session_input(f.s, (const uint8_t *)"NOOP\r\n", 6), 0);
	drain(&f, &tr);
	buf_reset(&tr);
	smtp_session_timeout(f.s);
	drain(&f, &tr);
	fake_complete(&f);
	drain(&f, &tr);
	CHECK_STR(buf_cstr(&tr), "421 4.4.2 mx.test Error: timeout "
	    "exceeded\r\n");
	CHECK(!smtp_session_is_pending(f.s));
	fake_end(&f, &tr);

	/* data_end still out when freed: the message is the server's */
	memset(&f, 0, sizeof(f));
	f.defer = true;
	fake_start(&f, &cfg, &tr);
	k = smtp_session_input(f.s, (const uint8_t *)in, sizeof(in) - 1 - 6);
	fake_complete(&f);
	k = smtp_session_input(f.s, (const uint8_t *)"DATA\r\nx\r\n.\r\n",
	    12);
	CHECK_INT(k, 12);
	CHECK(smtp_session_is_pending(f.s));
	CHECK_INT(f.ends, 1);
	smtp_session_free(&f.s);
	CHECK_INT(f.aborts, 0);
	f.pending = P_NONE;
	fake_end(&f, &tr);
}

/* Relay protection: rcpt_check sees exactly what the client wrote. */
static void
test_relay_addresses(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] =
	    "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<user%other.test@local.test>\r\n"
	    "RCPT TO:<other.test!user@local.test>\r\n"
	    "RCPT TO:<@local.test:user@other.test>\r\n"
	    "RCPT TO:<\"a@b\"@local.test>\r\n"
	    "RCPT TO:<\"user@other.test\"@local.test>\r\n"
	    "RCPT TO:<Postmaster>\r\n"
	    "RCPT TO:<user@[192.0.2.1]>\r\n";

	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK_STR(buf_cstr(&f.seen),
	    "user%other.test@local.test\n"
	    "other.test!user@local.test\n"
	    "user@other.test\n"
	    "\"a@b\"@local.test\n"
	    "\"user@other.test\"@local.test\n"
	    "postmaster\n"
	    "user@[192.0.2.1]\n");
	fake_end(&f, &tr);
}

static void
test_tls_and_auth_flags(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	static const char want[] =
	    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n"
	    "250-8BITMIME\r\n250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n"
	    "250 STARTTLS\r\n"
	    "454 4.7.0 TLS not available now\r\n"
	    "530 5.7.0 Authentication required\r\n";
	static const char in[] =
	    "EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b.test>\r\n";

	cfg.tls_available = true;
	cfg.auth_required = true;
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK_MEM(tr.data, tr.len, want, sizeof(want) - 1);
	fake_end(&f, &tr);
}

/* Thousands of pipelined commands in one buffer: all answered in order. */
static void
test_pipelining_many(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf in, tr, want;
	size_t i;

	buf_init(&in, 1 << 20);
	buf_init(&want, 1 << 22);
	for (i = 0; i < 5000; i++) {
		CHECK_INT(buf_append_str(&in, i % 2 ? "NOOP\r\n" :
		    "RSET\r\n"), 0);
		CHECK_INT(buf_append_str(&want, "250 2.0.0 OK\r\n"), 0);
	}
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, (const char *)in.data, in.len, &tr);
	CHECK_INT(f.consumed, in.len);
	CHECK_MEM(tr.data, tr.len, want.data, want.len);
	fake_end(&f, &tr);
	buf_fini(&in);
	buf_fini(&want);
}

/* Defaults fill in for zero limits. */
static void
test_zero_config(void)
{
	struct smtp_session_config cfg;
	struct fake f;
	struct buf tr;

	memset(&cfg, 0, sizeof(cfg));
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, "EHLO c\r\n", 8, &tr);
	CHECK(memmem(tr.data, tr.len, "250-SIZE 52428800\r\n", 19) != NULL);
	CHECK(memmem(tr.data, tr.len, "250-localhost\r\n", 15) != NULL);
	fake_end(&f, &tr);
}

/* Reply texts from the server can never break the framing. */
static void
test_reply_sanitizing(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	char longtext[2000];

	memset(&f, 0, sizeof(f));
	f.defer = true;
	run_simple(&cfg, &f, "HELO c\r\nMAIL FROM:<>\r\n", 22, &tr);
	buf_reset(&tr);
	CHECK_INT(smtp_session_input(f.s, (const uint8_t *)
	    "RCPT TO:<x@l.test>\r\n", 20), 20);
	f.pending = P_NONE;
	smtp_session_rcpt_done(f.s, 550, NULL, "bad\r\nMAIL FROM:<x>");
	drain(&f, &tr);
	CHECK_STR(buf_cstr(&tr), "550 5.0.0 bad??MAIL FROM:<x>\r\n");
	buf_reset(&tr);
	CHECK_INT(smtp_session_input(f.s, (const uint8_t *)
	    "RCPT TO:<x@l.test>\r\n", 20), 20);
	memset(longtext, 'z', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	f.pending = P_NONE;
	smtp_session_rcpt_done(f.s, 250, "2.1.5", longtext);
	drain(&f, &tr);
	CHECK_INT(tr.len, 512);		/* RFC 5321 4.5.3.1.5 */
	CHECK(tr.data[510] == '\r' && tr.data[511] == '\n');
	fake_end(&f, &tr);
}

/* IPv6 peers and known peer names in Received:. */
static void
test_received_ipv6(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct smtp_peer peer = { "t2", "2001:db8::7", "client.example",
	    false };
	struct fake f;
	struct buf tr;
	static const char rcv[] =
	    "Received: from c (client.example [IPv6:2001:db8::7])\r\n";
	static const char in[] = "HELO c\r\nMAIL FROM:<>\r\n"
	    "RCPT TO:<x@l.test>\r\nDATA\r\nx\r\n.\r\n";

	memset(&f, 0, sizeof(f));
	log_set_level(LOG_LEVEL_ERROR);
	buf_init(&f.msg, 1 << 20);
	buf_init(&f.seen, 1 << 20);
	buf_init(&tr, 1 << 20);
	f.s = smtp_session_new(&cfg, &fake_ops, &f, &peer);
	smtp_session_start(f.s);
	feed(&f, (const uint8_t *)in, sizeof(in) - 1, &tr);
	CHECK(f.msg.len > sizeof(rcv));
	CHECK_MEM(f.msg.data, sizeof(rcv) - 1, rcv, sizeof(rcv) - 1);
	fake_end(&f, &tr);
}

/* --- AUTH (RFC 4954) and submission -------------------------------- */

static bool
contains(const struct buf *b, const char *str)
{
	return memmem(b->data, b->len, str, strlen(str)) != NULL;
}

static const char ehlo_auth[] =
    "250-mx.test\r\n250-PIPELINING\r\n250-SIZE 1000000\r\n250-8BITMIME\r\n"
    "250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n"
    "250 AUTH SCRAM-SHA-256 PLAIN LOGIN\r\n";

static struct smtp_session_config
auth_cfg(void)
{
	struct smtp_session_config c = default_cfg();
	static const uint8_t secret[] = "session test secret";

	c.auth_enabled = true;
	c.auth_secret = secret;
	c.auth_secret_len = sizeof(secret);
	return c;
}

/* a whole message with its own Date/Message-ID, so it is stored as is */
#define AUTH_MSG	"From: Bob <bob@x.test>\r\n" \
			"Date: Sun, 22 Nov 2026 08:00:00 +0000\r\n" \
			"Message-ID: <m1@x.test>\r\n\r\nhi\r\n"

static void
test_auth_plain(void)
{
	struct smtp_session_config cfg = auth_cfg();
	struct fake f;
	struct expect e = { NULL, AUTH_MSG, 0 };
	char want[2048];

	memset(&f, 0, sizeof(f));
	f.tls = true;
	snprintf(want, sizeof(want), "%s"
	    "235 2.7.0 Authentication successful\r\n"
	    "250 2.1.0 Sender OK\r\n"
	    "250 2.1.5 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "250 2.0.0 OK queued as Q1\r\n", ehlo_auth);
	e.transcript = want;
	check_script(&cfg, &f,
	    "EHLO c\r\n"
	    "AUTH PLAIN AGJvYkB4LnRlc3QAc2VjcmV0\r\n"
	    "MAIL FROM:<bob@x.test>\r\n"
	    "RCPT TO:<anyone@remote.example>\r\n"
	    "DATA\r\n" AUTH_MSG ".\r\n", &e);
	/* without an initial response: an empty 334 first */
	snprintf(want, sizeof(want), "%s"
	    "334 \r\n"
	    "235 2.7.0 Authentication successful\r\n", ehlo_auth);
	e.message = NULL;
	check_script(&cfg, &f,
	    "EHLO c\r\nAUTH plain\r\nAGJvYkB4LnRlc3QAc2VjcmV0\r\n", &e);
}

static void
test_auth_login(void)
{
	struct smtp_session_config cfg = auth_cfg();
	struct fake f;
	struct expect e = { NULL, NULL, -1 };
	char want[2048];

	memset(&f, 0, sizeof(f));
	f.tls = true;
	snprintf(want, sizeof(want), "%s"
	    "334 VXNlcm5hbWU6\r\n"
	    "334 UGFzc3dvcmQ6\r\n"
	    "235 2.7.0 Authentication successful\r\n", ehlo_auth);
	e.transcript = want;
	check_script(&cfg, &f,
	    "EHLO c\r\nAUTH LOGIN\r\nYm9iQHgudGVzdA==\r\nc2VjcmV0\r\n", &e);
}

static void
test_auth_wrong_and_throttled(void)
{
	struct smtp_session_config cfg = auth_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] =
	    "EHLO c\r\n"
	    "AUTH PLAIN AGJvYkB4LnRlc3QAd3Jvbmc=\r\n"
	    "AUTH PLAIN AGNlb0B4LnRlc3QAc2VjcmV0\r\n"
	    "AUTH LOGIN Ym9iQHgudGVzdA==\r\nc2VjcmV0\r\n";
	char want[2048];

	memset(&f, 0, sizeof(f));
	f.tls = true;
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	snprintf(want, sizeof(want), "%s"
	    "535 5.7.8 Authentication credentials invalid\r\n"
	    "535 5.7.8 Authentication credentials invalid\r\n"
	    "334 UGFzc3dvcmQ6\r\n"
	    "235 2.7.0 Authentication successful\r\n", ehlo_auth);
	CHECK_MEM(tr.data, tr.len, want, strlen(want));
	CHECK_INT(f.auth_fail, 2);
	CHECK_INT(f.auth_ok, 1);
	CHECK_STR(smtp_session_auth_user(f.s), "bob@x.test");
	fake_end(&f, &tr);

	/* the throttle refuses: 454, not counted as a failure here */
	memset(&f, 0, sizeof(f));
	f.tls = true;
	f.auth_verdict = SMTP_AUTH_BLOCKED;
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK(contains(&tr, "454 4.7.0 Too many failed "
	    "authentication attempts, try again later\r\n"));
	CHECK(smtp_session_auth_user(f.s) == NULL);
	CHECK_INT(f.auth_fail + f.auth_ok, 0);
	fake_end(&f, &tr);
	memset(&f, 0, sizeof(f));
	f.auth_verdict = SMTP_AUTH_TEMPFAIL;
	f.tls = true;
	run_simple(&cfg, &f, in, strlen(in), &tr);
	CHECK(contains(&tr, "454 4.7.0 Temporary authentication "
	    "failure\r\n"));
	fake_end(&f, &tr);
}

static void
test_auth_failure_limit(void)
{
	struct smtp_session_config cfg = auth_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] =
	    "EHLO c\r\n"
	    "AUTH PLAIN AGJvYkB4LnRlc3QAd3Jvbmc=\r\n"
	    "AUTH PLAIN AGJvYkB4LnRlc3QAd3Jvbmc=\r\n"
	    "AUTH PLAIN AGJvYkB4LnRlc3QAd3Jvbmc=\r\n"
	    "NOOP\r\n";
	char want[2048];

	memset(&f, 0, sizeof(f));
	f.tls = true;
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	snprintf(want, sizeof(want), "%s"
	    "535 5.7.8 Authentication credentials invalid\r\n"
	    "535 5.7.8 Authentication credentials invalid\r\n"
	    "535 5.7.8 Authentication credentials invalid\r\n"
	    "421 4.7.0 mx.test Too many authentication failures, closing "
	    "connection\r\n", ehlo_auth);
	CHECK_MEM(tr.data, tr.len, want, strlen(want));
	CHECK(smtp_session_want_close(f.s));
	CHECK_INT(f.auth_fail, 3);
	fake_end(&f, &tr);
}

/* RFC 7677 section 3 over SMTP, with the RFC's server nonce */
static void
test_auth_scram_rfc7677(void)
{
	struct smtp_session_config cfg = auth_cfg();
	struct fake f;
	struct expect e = { NULL, NULL, -1 };
	char want[2048];

	cfg.auth_test_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	memset(&f, 0, sizeof(f));
	f.tls = true;
	snprintf(want, sizeof(want), "%s"
	    "334 cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJ"
	    "bGopaE5sRiRrMCxzPVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTY="
	    "\r\n"
	    "334 dj02cnJpVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5"
	    "NUc0PQ==\r\n"
	    "235 2.7.0 Authentication successful\r\n"
	    "250 2.1.0 Sender OK\r\n", ehlo_auth);
	e.transcript = want;
	check_script(&cfg, &f,
	    "EHLO c\r\n"
	    "AUTH SCRAM-SHA-256 biwsbj11c2VyLHI9ck9wck5HZndFYmVSV2diTkVrcU8="
	    "\r\n"
	    "Yz1iaXdzLHI9ck9wck5HZndFYmVSV2diTkVrcU8laHZZRHBXVWEyUmFUQ0Fm"
	    "dXhGSWxqKWhObEYkazAscD1kSHpiWmFwV0lrNGpVaE4rVXRlOXl0YWc5empm"
	    "TUhnc3FtbWl6N0FuZFZRPQ==\r\n"
	    "\r\n"
	    "MAIL FROM:<user@x.test>\r\n", &e);

	/* an unknown user gets a salt too, and fails only at the proof */
	snprintf(want, sizeof(want), "%s", ehlo_auth);
	{
		struct buf tr;
		static const char in[] =
		    "EHLO c\r\n"
		    "AUTH SCRAM-SHA-256 biwsbj1ub2JvZHkscj1yT3ByTkdmd0ViZVJX"
		    "Z2JORWtxTw==\r\n";

		memset(&f, 0, sizeof(f));
		f.tls = true;
		run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
		/* same nonce, a salt (not the real user's), i=4096 */
		CHECK(contains(&tr, "\r\n334 cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVo"
		    "dllEcFdVYTJSYVRDQWZ1eEZJbGopaE5sRiRrMCxz"));
		/* the vector's final message: refused at the proof */
		feed(&f, (const uint8_t *)"Yz1iaXdzLHI9ck9wck5HZndFYmVSV2di"
		    "TkVrcU8laHZZRHBXVWEyUmFUQ0FmdXhGSWxqKWhObEYkazAscD1kSHpi"
		    "WmFwV0lrNGpVaE4rVXRlOXl0YWc5empmTUhnc3FtbWl6N0FuZFZRPQ=="
		    "\r\n", 146, &tr);
		CHECK(contains(&tr, "\r\n535 5.7.8 Authentication "
		    "credentials invalid\r\n"));
		CHECK_INT(f.auth_fail, 1);
		CHECK(!contains(&tr, "W22ZaJ0SNY7soEsUEjb6gQ"));
		fake_end(&f, &tr);
	}
}

static void
test_auth_needs_tls(void)
{
	struct smtp_session_config cfg = auth_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] =
	    "EHLO c\r\nAUTH PLAIN AGJvYkB4LnRlc3QAc2VjcmV0\r\n";
	char want[2048];

	/* no TLS: not advertised, and refused with 538 5.7.11 */
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	snprintf(want, sizeof(want), "%s"
	    "538 5.7.11 Encryption required for requested authentication "
	    "mechanism\r\n", ehlo_reply);
	CHECK_MEM(tr.data, tr.len, want, strlen(want));
	fake_end(&f, &tr);
	/* loopback, but plaintext AUTH on loopback not allowed: the same */
	memset(&f, 0, sizeof(f));
	f.loopback = true;
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK_MEM(tr.data, tr.len, want, strlen(want));
	fake_end(&f, &tr);
	/* allowed on loopback */
	cfg.auth_plaintext_loopback = true;
	memset(&f, 0, sizeof(f));
	f.loopback = true;
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	snprintf(want, sizeof(want), "%s"
	    "235 2.7.0 Authentication successful\r\n", ehlo_auth);
	CHECK_MEM(tr.data, tr.len, want, strlen(want));
	fake_end(&f, &tr);
	/* ... but not from elsewhere */
	memset(&f, 0, sizeof(f));
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK(contains(&tr, "538 5.7.11 "));
	fake_end(&f, &tr);
	/* AUTH not configured at all: 502 */
	cfg = default_cfg();
	memset(&f, 0, sizeof(f));
	f.tls = true;
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	snprintf(want, sizeof(want), "%s"
	    "502 5.5.1 Command not implemented\r\n", ehlo_reply);
	CHECK_MEM(tr.data, tr.len, want, strlen(want));
	fake_end(&f, &tr);
}

static void
test_auth_sequence_and_syntax(void)
{
	struct smtp_session_config cfg = auth_cfg();
	struct fake f;
	struct expect e = { NULL, NULL, -1 };
	char want[4096];

	memset(&f, 0, sizeof(f));
	f.tls = true;
	snprintf(want, sizeof(want),
	    "503 5.5.1 Bad sequence of commands\r\n"	/* before EHLO */
	    "%s"
	    "504 5.5.4 Unrecognized authentication type\r\n"
	    "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"
	    "501 5.5.4 Syntax: AUTH mechanism [initial-response]\r\n"
	    "501 5.5.2 Invalid base64 data\r\n"		/* initial */
	    "334 \r\n"
	    "501 5.5.2 Invalid base64 data\r\n"		/* a response */
	    "334 \r\n"
	    "501 5.0.0 Authentication cancelled\r\n"
	    "334 VXNlcm5hbWU6\r\n"
	    "501 5.0.0 Authentication cancelled\r\n",
	    ehlo_auth);
	e.transcript = want;
	check_script(&cfg, &f,
	    "AUTH PLAIN\r\n"
	    "EHLO c\r\n"
	    "AUTH CRAM-MD5\r\n"
	    "AUTH\r\n"
	    "AUTH PLAIN a b\r\n"
	    "AUTH PLAIN AGJvYkB4LnRlc3QAc2VjcmV0=\r\n"
	    "AUTH PLAIN\r\n"
	    "!!!!\r\n"
	    "AUTH PLAIN\r\n"
	    "*\r\n"
	    "AUTH LOGIN\r\n"
	    "*\r\n", &e);
	snprintf(want, sizeof(want), "%s"
	    "501 5.5.2 Malformed authentication data\r\n"
	    "250 2.1.0 Sender OK\r\n"
	    "503 5.5.1 Bad sequence of commands\r\n"	/* in a transaction */
	    "250 2.0.0 OK\r\n"
	    "235 2.7.0 Authentication successful\r\n"
	    "503 5.5.1 Already authenticated\r\n",
	    ehlo_auth);
	check_script(&cfg, &f,
	    "EHLO c\r\n"
	    "AUTH PLAIN =\r\n"
	    "MAIL FROM:<a@b.test>\r\n"
	    "AUTH PLAIN AGJvYkB4LnRlc3QAc2VjcmV0\r\n"
	    "RSET\r\n"
	    "AUTH PLAIN AGJvYkB4LnRlc3QAc2VjcmV0\r\n"
	    "AUTH PLAIN AGJvYkB4LnRlc3QAc2VjcmV0\r\n", &e);
}

/* AUTH lines: 12288 octets with CRLF at most (RFC 4954 section 4) */
static void
test_auth_line_limit(void)
{
	struct smtp_session_config cfg = auth_cfg();
	struct fake f;
	struct buf in, tr;
	size_t len;

	for (len = SASL_MAX_RESPONSE - 4; len <= SASL_MAX_RESPONSE + 4;
	    len += 4) {
		/* a response line of len bytes incl. CRLF: base64 "AAAA"s */
		size_t i;

		buf_init(&in, 1 << 16);
		CHECK_INT(buf_append_str(&in, "EHLO c\r\nAUTH PLAIN\r\n"), 0);
		for (i = 0; i + 4 <= len - 2; i += 4)
			CHECK_INT(buf_append_str(&in, "QUFB"), 0);
		CHECK_INT(buf_append_str(&in, "\r\nNOOP\r\n"), 0);
		memset(&f, 0, sizeof(f));
		f.tls = true;
		run_simple(&cfg, &f, (const char *)in.data, in.len, &tr);
		if (i + 2 <= SASL_MAX_RESPONSE)
			CHECK(contains(&tr, "\r\n501 5.5.2 Malformed "
			    "authentication data\r\n250 2.0.0 OK\r\n"));
		else
			CHECK(contains(&tr, "\r\n500 5.5.6 Line too "
			    "long\r\n250 2.0.0 OK\r\n"));
		fake_end(&f, &tr);
		buf_fini(&in);
	}
	/* the AUTH command line itself may be as long */
	buf_init(&in, 1 << 16);
	CHECK_INT(buf_append_str(&in, "EHLO c\r\nAUTH PLAIN "), 0);
	while (in.len + 4 + 2 <= 8 + SASL_MAX_RESPONSE)
		CHECK_INT(buf_append_str(&in, "QUFB"), 0);
	CHECK_INT(buf_append_str(&in, "\r\n"), 0);
	memset(&f, 0, sizeof(f));
	f.tls = true;
	run_simple(&cfg, &f, (const char *)in.data, in.len, &tr);
	CHECK(contains(&tr, "\r\n501 5.5.2 Malformed"));
	fake_end(&f, &tr);
	buf_fini(&in);
}

static void
test_submission_spoofing(void)
{
	struct smtp_session_config cfg = auth_cfg();
	struct fake f;
	struct expect e = { NULL, NULL, 1 };
	char want[4096];

	cfg.auth_required = true;
	memset(&f, 0, sizeof(f));
	f.tls = true;
	snprintf(want, sizeof(want), "%s"
	    "530 5.7.0 Authentication required\r\n"
	    "235 2.7.0 Authentication successful\r\n"
	    "553 5.7.1 Sender address not owned by the authenticated user\r\n"
	    "553 5.7.1 Sender address not owned by the authenticated user\r\n"
	    "250 2.1.0 Sender OK\r\n"
	    "250 2.1.5 OK\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "553 5.7.1 From: address not owned by the authenticated user\r\n"
	    "250 2.1.0 Sender OK\r\n", ehlo_auth);
	e.transcript = want;
	check_script(&cfg, &f,
	    "EHLO c\r\n"
	    "MAIL FROM:<bob@x.test>\r\n"
	    "AUTH PLAIN AGJvYkB4LnRlc3QAc2VjcmV0\r\n"
	    "MAIL FROM:<ceo@x.test>\r\n"
	    "MAIL FROM:<>\r\n"
	    "MAIL FROM:<B@X.test>\r\n"		/* the alias */
	    "RCPT TO:<r@remote.example>\r\n"
	    "DATA\r\n"
	    "From: The CEO <ceo@x.test>\r\n\r\npay this\r\n.\r\n"
	    "MAIL FROM:<bob@x.test>\r\n", &e);
}

static void
test_submission_adds_fields(void)
{
	struct smtp_session_config cfg = auth_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] =
	    "EHLO c\r\n"
	    "AUTH PLAIN AGJvYkB4LnRlc3QAc2VjcmV0\r\n"
	    "MAIL FROM:<bob@x.test>\r\n"
	    "RCPT TO:<r@remote.example>\r\n"
	    "DATA\r\n"
	    "From: bob@x.test\r\nSubject: s\r\n\r\nbody\r\n.\r\n";
	const char *m;

	memset(&f, 0, sizeof(f));
	f.tls = true;
	run_simple(&cfg, &f, in, sizeof(in) - 1, &tr);
	CHECK(contains(&tr, "250 2.0.0 OK queued as Q1\r\n"));
	CHECK_INT(buf_append_byte(&f.msg, 0), 0);
	m = (const char *)f.msg.data;
	CHECK(strstr(m, " with ESMTPSA id Q1") != NULL);
	CHECK(strstr(m, "From: bob@x.test\r\nSubject: s\r\nDate: ") != NULL);
	CHECK(strstr(m, "\r\nMessage-ID: <") != NULL);
	CHECK(strstr(m, "@mx.test>\r\n\r\nbody\r\n") != NULL);
	fake_end(&f, &tr);
	/* an unauthenticated message is stored untouched */
	cfg = default_cfg();
	memset(&f, 0, sizeof(f));
	{
		static const char in2[] = "EHLO c\r\nMAIL FROM:<a@b.c>\r\n"
		    "RCPT TO:<r@d>\r\nDATA\r\nSubject: s\r\n\r\nb\r\n.\r\n";

		run_simple(&cfg, &f, in2, sizeof(in2) - 1, &tr);
	}
	strip_received(&f.msg);
	CHECK_MEM(f.msg.data, f.msg.len, "Subject: s\r\n\r\nb\r\n", 17);
	fake_end(&f, &tr);
}

static void
test_auth_channel_binding_offer(void)
{
	struct smtp_session_config cfg = auth_cfg();
	struct fake f;
	struct buf tr;
	static const uint8_t cb[32] = { 1 };

	memset(&f, 0, sizeof(f));
	f.tls = true;
	fake_start(&f, &cfg, &tr);
	smtp_session_set_channel_binding(f.s, "tls-exporter", cb, sizeof(cb));
	feed(&f, (const uint8_t *)"EHLO c\r\nAUTH SCRAM-SHA-256-PLUS "
	    "cD10bHMtZXhwb3J0ZXIsLG49dXNlcixyPWFiYw==\r\n", 74, &tr);
	CHECK(contains(&tr, "250 AUTH SCRAM-SHA-256-PLUS "
	    "SCRAM-SHA-256 PLAIN LOGIN\r\n"));
	CHECK(contains(&tr, "\r\n334 cj1hYm"));	/* "r=ab" */
	fake_end(&f, &tr);
}

/* the mail_accepted notice: once per accepted MAIL, not for refused ones */
static void
test_mail_accepted(void)
{
	struct smtp_session_config cfg = default_cfg();
	struct fake f;
	struct buf tr;
	static const char in[] =
	    "EHLO client.example\r\n"
	    "MAIL FROM:<a@example.org>\r\n"
	    "MAIL FROM:<b@example.org>\r\n"	/* 503: nested */
	    "RSET\r\n"
	    "MAIL FROM:<bad\r\n"			/* 501 */
	    "HELO other.example\r\n"
	    "MAIL FROM:<>\r\n";

	memset(&f, 0, sizeof(f));
	fake_start(&f, &cfg, &tr);
	feed(&f, (const uint8_t *)in, strlen(in), &tr);
	CHECK_STR(f.mails, "client.example|a@example.org\nother.example|\n");
	fake_end(&f, &tr);
}

static const struct test_case cases[] = {
	TEST(test_mail_accepted),
	TEST(test_greeting),
	TEST(test_transaction),
	TEST(test_envelope_received),
	TEST(test_helo_and_two_rcpts),
	TEST(test_sequencing),
	TEST(test_commands),
	TEST(test_vrfy_expn_enabled),
	TEST(test_cmd_line_limit),
	TEST(test_rcpt_limit),
	TEST(test_error_limit),
	TEST(test_bad_lines),
	TEST(test_size_param),
	TEST(test_message_size),
	TEST(test_smuggling),
	TEST(test_loop),
	TEST(test_text_line),
	TEST(test_body_types),
	TEST(test_data_begin_fail),
	TEST(test_write_fail),
	TEST(test_data_end_reject),
	TEST(test_several_transactions),
	TEST(test_quit_stops),
	TEST(test_timeout_shutdown),
	TEST(test_timeout_while_pending),
	TEST(test_relay_addresses),
	TEST(test_tls_and_auth_flags),
	TEST(test_pipelining_many),
	TEST(test_zero_config),
	TEST(test_reply_sanitizing),
	TEST(test_received_ipv6),
	TEST(test_auth_plain),
	TEST(test_auth_login),
	TEST(test_auth_wrong_and_throttled),
	TEST(test_auth_failure_limit),
	TEST(test_auth_scram_rfc7677),
	TEST(test_auth_needs_tls),
	TEST(test_auth_sequence_and_syntax),
	TEST(test_auth_line_limit),
	TEST(test_submission_spoofing),
	TEST(test_submission_adds_fields),
	TEST(test_auth_channel_binding_offer),
};

TEST_MAIN(cases)
