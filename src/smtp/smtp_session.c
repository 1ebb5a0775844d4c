/*
 * smtp_session.c - the SMTP server session state machine (sans-I/O).
 *
 * RFC 5321 (commands, replies, sequencing 4.1.4, limits 4.5.3.1, trace
 * fields 4.4), RFC 1869/5321 EHLO, RFC 2920 PIPELINING (replies in order;
 * we stop reading while a request is out), RFC 1870 SIZE, RFC 6152
 * 8BITMIME, RFC 6531 SMTPUTF8, RFC 2034/3463 enhanced status codes,
 * RFC 3848 protocol names in Received:.
 *
 * Untrusted input before authentication.  Input is framed into CRLF lines
 * in a buffer capped at max_cmd_line; a line that outgrows it is answered
 * with 500 5.5.6 and skipped to its end.  Each command is looked up in one
 * table that says in which states it is allowed; every wrong-state command
 * gets its 503 in one place (run_line).  Only smtp_set_state() changes the
 * state.  Requests to the server (rcpt_check, data_end, vrfy, expn) make
 * the session pending: input stops being consumed until the matching
 * smtp_session_*_done() arrives, which may happen inside the request call
 * or later; the done functions only write the reply and move the state,
 * never read input, so they are safe to call from either place.
 */
#include "smtp/smtp_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "auth/sasl.h"
#include "auth/submission.h"
#include "smtp/smtp_data.h"
#include "smtp/smtp_parse.h"

/*
 * Ceiling of unsent replies.  The I/O layer sends them after each input
 * call, so only a client pipelining megabytes without reading (or a huge
 * EXPN) gets near it; we then close rather than grow without bound.
 */
#define SMTP_OUT_MAX		(4u * 1024 * 1024)
/* RFC 5321 4.5.3.1.5: a reply line is at most 512 octets with CRLF. */
#define SMTP_MAX_REPLY_LINE	512

enum smtp_state {
	SMTP_STATE_GREETING,	/* created, no 220 yet */
	SMTP_STATE_HELO,	/* greeted, waiting for HELO/EHLO */
	SMTP_STATE_READY,	/* no transaction */
	SMTP_STATE_MAIL,	/* MAIL accepted, no recipient yet */
	SMTP_STATE_RCPT,	/* at least one recipient accepted */
	SMTP_STATE_DATA,	/* reading the message text */
	SMTP_STATE_QUIT,	/* closing: nothing more is read */
};

static const char *const state_names[] = {
	"GREETING", "HELO", "READY", "MAIL", "RCPT", "DATA", "QUIT",
};

#define ST(x)		(1u << SMTP_STATE_##x)
#define ST_CMD		(ST(HELO) | ST(READY) | ST(MAIL) | ST(RCPT))

enum smtp_pending {
	SMTP_PENDING_NONE,
	SMTP_PENDING_RCPT,
	SMTP_PENDING_DATA_END,
	SMTP_PENDING_LINES,	/* VRFY or EXPN */
	SMTP_PENDING_TLS,	/* STARTTLS handshake under way */
	SMTP_PENDING_AUTH,	/* auth_verify or auth_scram out */
};

/* Sticky facts of the connection. */
#define SMTP_SESSION_F_EHLO	0x01	/* EHLO (not HELO) was used */
#define SMTP_SESSION_F_TLS	0x02	/* STARTTLS done or implicit TLS */
#define SMTP_SESSION_F_AUTH	0x04	/* authenticated (RFC 4954) */

struct smtp_session;

struct smtp_cmd {
	const char	*verb;
	unsigned	 allowed;	/* bit per enum smtp_state */
	unsigned	 flags;
	void		(*run)(struct smtp_session *, struct span args);
};

struct smtp_session {
	struct smtp_session_config	 cfg;
	const struct smtp_session_ops	*ops;
	void				*ctx;
	char				*hostname;
	char				*sid;
	char				*peer_addr;
	char				*peer_host;	/* NULL if unknown */
	bool				 is_loopback;
	char				*tls_info;	/* NULL if unknown */

	enum smtp_state			 state;
	enum smtp_pending		 pending;
	unsigned			 flags;
	bool				 want_close;
	bool				 skipping;	/* a too long line */
	unsigned			 errors;
	const struct smtp_cmd		*cur;		/* command running */

	struct buf			 out;
	struct buf			 line;		/* partial command */
	char				*helo;		/* heap */
	struct arena			*cmd_arena;	/* one command */

	/* the transaction: MAIL to end of DATA or RSET */
	struct arena			*txn;
	const char			*mail_from;
	struct smtp_mail_args		 mail;
	const char			**rcpts;	/* heap array */
	size_t				 nrcpts;
	size_t				 rcpts_cap;
	const char			*rcpt_wait;	/* in cmd_arena */
	struct smtp_data		*data;
	bool				 data_open;	/* begun, not ended */
	char				 qid[64];
	unsigned			 ntxn;

	/* AUTH (RFC 4954): see the AUTH section below */
	const struct smtp_auth_ops	*aops;		/* NULL: no AUTH */
	void				*actx;		/* their ctx */
	struct sasl			*sasl;		/* exchange under way */
	struct sasl_config		 sasl_cfg;
	struct sasl_channel_binding	 cb;
	uint8_t				 cb_data[SASL_MAX_CB_DATA];
	char				 cb_type[32];
	bool				 has_cb;
	char				*auth_user;	/* valid with F_AUTH */
	char				*scram_account;	/* from auth_scram */
	unsigned			 auth_failures;
	struct submission		*sub;		/* authenticated DATA */
};

static void smtp_set_state(struct smtp_session *s, enum smtp_state st);

/* --- replies ------------------------------------------------------- */

static void
out_fail(struct smtp_session *s)
{
	if (s->want_close)
		return;
	log_warn("smtp output overflow sid=%s peer=%s", s->sid, s->peer_addr);
	s->want_close = true;
}

/*
 * reply_line - one reply line: "code[-| ]enh text"; enh may be NULL.
 * Control characters in text become '?' so that a reply text (which may
 * quote client data) can never break the framing.
 */
static void
reply_line(struct smtp_session *s, int code, bool more, const char *enh,
    const char *text)
{
	char line[SMTP_MAX_REPLY_LINE];
	size_t n, i;
	int k;

	k = snprintf(line, sizeof(line), "%03d%c", code, more ? '-' : ' ');
	n = (size_t)k;
	if (enh != NULL && enh[0] != '\0') {
		k = snprintf(line + n, sizeof(line) - n, "%s%s", enh,
		    text != NULL && text[0] != '\0' ? " " : "");
		n += (size_t)k < sizeof(line) - n ? (size_t)k : 0;
	}
	if (text != NULL)
		for (i = 0; text[i] != '\0' && n < sizeof(line) - 2; i++)
			line[n++] = (unsigned char)text[i] < 0x20 ||
			    text[i] == 0x7f ? '?' : text[i];
	line[n++] = '\r';
	line[n++] = '\n';
	if (buf_append(&s->out, line, n) < 0)
		out_fail(s);
}

static void
reply(struct smtp_session *s, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
reply(struct smtp_session *s, int code, const char *enh, const char *fmt, ...)
{
	char text[SMTP_MAX_REPLY_LINE];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	reply_line(s, code, false, enh, text);
}

static const char *
cur_verb(const struct smtp_session *s)
{
	return s->cur != NULL ? s->cur->verb : "-";
}

/*
 * count_error - one more misbehaviour; past max_errors the peer gets
 * 421 4.7.0 and the connection is closed (RFC 5321 4.1.4 allows closing
 * after repeated errors; it is what stops command-guessing scanners).
 */
static void
count_error(struct smtp_session *s)
{
	if (++s->errors <= s->cfg.max_errors || s->want_close)
		return;
	log_warn("smtp too-many-errors sid=%s peer=%s errors=%u", s->sid,
	    s->peer_addr, s->errors);
	reply(s, 421, "4.7.0", "%s Too many errors, closing connection",
	    s->hostname);
	s->want_close = true;
	smtp_set_state(s, SMTP_STATE_QUIT);
}

/* fail - answers a failed command; 5xx replies count as errors */
static void
fail(struct smtp_session *s, int code, const char *enh, const char *text)
{
	log_info("smtp reject sid=%s peer=%s cmd=%s code=%d reason=\"%s\"",
	    s->sid, s->peer_addr, cur_verb(s), code, text);
	reply(s, code, enh, "%s", text);
	if (code >= 500)
		count_error(s);
}

static void
fail_reply(struct smtp_session *s, const struct smtp_reply *r)
{
	fail(s, r->code, r->enh, r->text);
}

static const char *
default_enh(int code)
{
	if (code >= 500)
		return "5.0.0";
	if (code >= 400)
		return "4.0.0";
	return "2.0.0";
}

/* --- state and transaction ----------------------------------------- */

static void
smtp_set_state(struct smtp_session *s, enum smtp_state st)
{
	if (s->state == st)
		return;
	log_debug("smtp state sid=%s %s -> %s", s->sid,
	    state_names[s->state], state_names[st]);
	s->state = st;
}

/* txn_reset - undoes exactly what MAIL created (RSET, end of DATA) */
static void
txn_reset(struct smtp_session *s)
{
	if (s->data_open) {
		s->data_open = false;
		s->ops->data_abort(s->ctx);
	}
	smtp_data_free(&s->data);
	submission_free(&s->sub);
	arena_reset(s->txn);
	s->mail_from = NULL;
	memset(&s->mail, 0, sizeof(s->mail));
	s->nrcpts = 0;
	s->qid[0] = '\0';
	if (s->state != SMTP_STATE_QUIT)
		smtp_set_state(s, s->helo != NULL ? SMTP_STATE_READY :
		    SMTP_STATE_HELO);
}

static void
close_with(struct smtp_session *s, const char *enh, const char *why)
{
	if (s->want_close)
		return;
	reply(s, 421, enh, "%s %s", s->hostname, why);
	s->want_close = true;
	if (s->state == SMTP_STATE_DATA && s->pending == SMTP_PENDING_NONE)
		txn_reset(s);	/* aborts the half-read message */
	smtp_set_state(s, SMTP_STATE_QUIT);
}

/* --- AUTH (RFC 4954) and submission rules (RFC 6409) ---------------- */

/*
 * AUTH is offered only over TLS (or, if configured, to a loopback client)
 * and only when the server wired the auth ops.  The SASL exchange itself
 * is src/auth/sasl.c; here are the SMTP framing (334 challenges, base64
 * lines, "*" to cancel), the replies and the requests to the server.
 * While an exchange is under way s->sasl is set and every input line is
 * a response, not a command (feed_line routes it to auth_line).
 */

/* a few failures on one connection, then 421: guessing costs a reconnect */
#define SMTP_MAX_AUTH_FAILURES	3

static bool
auth_wired(const struct smtp_session *s)
{
	return s->cfg.auth_enabled && s->aops != NULL &&
	    s->aops->auth_verify != NULL && s->aops->auth_scram != NULL;
}

/* auth_allowed_here - RFC 4954 section 4: no plaintext passwords */
static bool
auth_allowed_here(const struct smtp_session *s)
{
	return (s->flags & SMTP_SESSION_F_TLS) ||
	    (s->cfg.auth_plaintext_loopback && s->is_loopback);
}

static bool
auth_offered(const struct smtp_session *s)
{
	return auth_wired(s) && auth_allowed_here(s);
}

/* auth_end - the exchange is over; report it for the throttle */
static void
auth_end(struct smtp_session *s, bool report, bool ok)
{
	const char *user = s->sasl != NULL ? sasl_user(s->sasl) : NULL;

	if (report && s->aops->auth_result != NULL)
		s->aops->auth_result(s->actx, s, user, ok);
	sasl_free(&s->sasl);
	free(s->scram_account);
	s->scram_account = NULL;
}

static const char *
auth_log_user(const struct smtp_session *s, char *esc, size_t size)
{
	const char *u = s->sasl != NULL ? sasl_user(s->sasl) : NULL;

	if (u == NULL)
		return "-";
	return log_escape(esc, size, u, strlen(u));
}

static void
auth_success(struct smtp_session *s, const char *account)
{
	char esc[LOG_ESCAPE_BUFSIZE];

	if (account == NULL)
		account = sasl_user(s->sasl);
	free(s->auth_user);
	s->auth_user = xstrdup(account);
	s->flags |= SMTP_SESSION_F_AUTH;
	log_info("smtp auth sid=%s peer=%s mech=%s user=\"%s\" result=ok",
	    s->sid, s->peer_addr, sasl_mech_name(sasl_mech(s->sasl)),
	    log_escape(esc, sizeof(esc), account, strlen(account)));
	auth_end(s, true, true);
	reply(s, 235, "2.7.0", "Authentication successful");
}

/*
 * auth_refuse - a failed exchange: 535 for wrong credentials, 501 for a
 * malformed one, 454 when throttled or on a lookup error.  Failures and
 * protocol errors count towards the connection's AUTH limit.
 */
static void
auth_refuse(struct smtp_session *s, int code, const char *enh,
    const char *text, const char *result, bool count)
{
	char esc[LOG_ESCAPE_BUFSIZE];

	log_info("smtp auth sid=%s peer=%s mech=%s user=\"%s\" result=%s",
	    s->sid, s->peer_addr, sasl_mech_name(sasl_mech(s->sasl)),
	    auth_log_user(s, esc, sizeof(esc)), result);
	auth_end(s, count, false);
	fail(s, code, enh, text);
	if (count && ++s->auth_failures >= SMTP_MAX_AUTH_FAILURES) {
		log_warn("smtp auth-limit sid=%s peer=%s failures=%u", s->sid,
		    s->peer_addr, s->auth_failures);
		close_with(s, "4.7.0", "Too many authentication failures, "
		    "closing connection");
	}
}

/* auth_handle - acts on what the mechanism said */
static void
auth_handle(struct smtp_session *s, enum sasl_status st, struct buf *chal)
{
	struct buf b64;

	switch (st) {
	case SASL_CONTINUE:
		buf_init(&b64, SASL_MAX_RESPONSE);
		if (sasl_base64_encode(buf_span(chal), &b64) < 0)
			panic("smtp: SASL challenge too long");
		/* RFC 4954 4: "334 " and the base64 challenge, maybe empty */
		reply_line(s, 334, false, NULL, buf_cstr(&b64));
		buf_fini(&b64);
		return;
	case SASL_VERIFY:
		s->pending = SMTP_PENDING_AUTH;
		/* may call smtp_session_auth_done() before returning */
		s->aops->auth_verify(s->actx, s, sasl_user(s->sasl),
		    sasl_password(s->sasl));
		return;
	case SASL_LOOKUP:
		s->pending = SMTP_PENDING_AUTH;
		s->aops->auth_scram(s->actx, s, sasl_user(s->sasl));
		return;
	case SASL_OK:
		auth_success(s, s->scram_account);
		return;
	case SASL_FAIL:
		auth_refuse(s, 535, "5.7.8", "Authentication credentials "
		    "invalid", "fail", true);
		return;
	case SASL_BAD:
		auth_refuse(s, 501, "5.5.2", "Malformed authentication data",
		    "malformed", true);
		return;
	}
}

/* auth_feed - one decoded response (NULL: none) into the mechanism */
static void
auth_feed(struct smtp_session *s, const struct span *resp)
{
	struct buf chal;

	buf_init(&chal, SASL_MAX_RESPONSE);
	auth_handle(s, sasl_step(s->sasl, resp, &chal), &chal);
	buf_fini_wipe(&chal);
}

/* auth_decode_feed - a base64 response from the client */
static void
auth_decode_feed(struct smtp_session *s, struct span b64)
{
	struct buf raw;
	struct span r;

	buf_init(&raw, SASL_MAX_RESPONSE);
	if (sasl_base64_decode(b64, &raw) != 0) {
		buf_fini_wipe(&raw);
		auth_refuse(s, 501, "5.5.2", "Invalid base64 data",
		    "malformed", true);
		return;
	}
	r = buf_span(&raw);
	auth_feed(s, &r);
	buf_fini_wipe(&raw);
}

/* auth_line - a response line during the exchange (CRLF included) */
static void
auth_line(struct smtp_session *s, struct span line)
{
	struct span body;

	s->cur = NULL;
	if (line.len < 2 || line.p[line.len - 2] != '\r') {
		auth_refuse(s, 500, "5.5.2", "Line must end with CRLF",
		    "malformed", true);
		return;
	}
	body = span_make(line.p, line.len - 2);
	if (body.len == 1 && body.p[0] == '*') {
		/* RFC 4954 4: the client cancels */
		log_info("smtp auth sid=%s peer=%s mech=%s result=cancelled",
		    s->sid, s->peer_addr, sasl_mech_name(sasl_mech(s->sasl)));
		auth_end(s, false, false);
		fail(s, 501, "5.0.0", "Authentication cancelled");
		return;
	}
	auth_decode_feed(s, body);
}

static void
cmd_auth(struct smtp_session *s, struct span args)
{
	struct span mech, init;
	enum sasl_mech m;

	if (!auth_wired(s)) {
		fail(s, 502, "5.5.1", "Command not implemented");
		return;
	}
	if (s->flags & SMTP_SESSION_F_AUTH) {
		fail(s, 503, "5.5.1", "Already authenticated");
		return;
	}
	if (!auth_allowed_here(s)) {
		/* RFC 4954 section 6: 538 for a mechanism needing TLS */
		fail(s, 538, "5.7.11", "Encryption required for requested "
		    "authentication mechanism");
		return;
	}
	if (!span_split(args, ' ', &mech, &init)) {
		mech = args;
		init = span_make(args.p + args.len, 0);
	}
	init = span_trim(init);
	if (mech.len == 0 || span_find(init, ' ') >= 0) {
		fail(s, 501, "5.5.4", "Syntax: AUTH mechanism "
		    "[initial-response]");
		return;
	}
	if (!sasl_mech_lookup(mech, s->has_cb, &m)) {
		fail(s, 504, "5.5.4", "Unrecognized authentication type");
		return;
	}
	memset(&s->sasl_cfg, 0, sizeof(s->sasl_cfg));
	s->sasl_cfg.secret = s->cfg.auth_secret;
	s->sasl_cfg.secret_len = s->cfg.auth_secret_len;
	s->sasl_cfg.cb = s->has_cb ? &s->cb : NULL;
	s->sasl_cfg.test_nonce = s->cfg.auth_test_nonce;
	s->sasl = sasl_new(m, &s->sasl_cfg);
	if (init.len == 0) {
		auth_feed(s, NULL);
	} else if (init.len == 1 && init.p[0] == '=') {
		struct span empty = span_make(init.p, 0);

		auth_feed(s, &empty);	/* RFC 4954 4: "=" is empty */
	} else {
		auth_decode_feed(s, init);
	}
}

void
smtp_session_auth_done(struct smtp_session *s, enum smtp_auth_result result,
    const char *account)
{
	ASSERT(s->pending == SMTP_PENDING_AUTH);
	s->pending = SMTP_PENDING_NONE;
	if (s->want_close) {
		auth_end(s, false, false);
		return;
	}
	switch (result) {
	case SMTP_AUTH_OK:
		sasl_verify_done(s->sasl, true);
		auth_success(s, account);
		break;
	case SMTP_AUTH_FAIL:
		auth_handle(s, sasl_verify_done(s->sasl, false), NULL);
		break;
	case SMTP_AUTH_BLOCKED:
		auth_refuse(s, 454, "4.7.0", "Too many failed "
		    "authentication attempts, try again later", "blocked",
		    false);
		break;
	case SMTP_AUTH_TEMPFAIL:
		auth_refuse(s, 454, "4.7.0", "Temporary authentication "
		    "failure", "tempfail", false);
		break;
	}
}

void
smtp_session_auth_scram_done(struct smtp_session *s,
    enum smtp_auth_result result, const char *account,
    const struct sasl_scram_keys *keys)
{
	struct buf chal;

	ASSERT(s->pending == SMTP_PENDING_AUTH);
	s->pending = SMTP_PENDING_NONE;
	if (s->want_close) {
		auth_end(s, false, false);
		return;
	}
	if (result == SMTP_AUTH_BLOCKED || result == SMTP_AUTH_TEMPFAIL) {
		auth_refuse(s, 454, "4.7.0", result == SMTP_AUTH_BLOCKED ?
		    "Too many failed authentication attempts, try again "
		    "later" : "Temporary authentication failure",
		    result == SMTP_AUTH_BLOCKED ? "blocked" : "tempfail",
		    false);
		return;
	}
	if (result != SMTP_AUTH_OK)
		keys = NULL;	/* unknown: go on with a fake salt */
	free(s->scram_account);
	s->scram_account = keys != NULL && account != NULL ?
	    xstrdup(account) : NULL;
	buf_init(&chal, SASL_MAX_RESPONSE);
	auth_handle(s, sasl_scram_done(s->sasl, keys, &chal), &chal);
	buf_fini(&chal);
}

void
smtp_session_set_auth_ops(struct smtp_session *s,
    const struct smtp_auth_ops *ops, void *ctx)
{
	s->aops = ops;
	s->actx = ctx != NULL ? ctx : s->ctx;
}

const char *
smtp_session_auth_user(const struct smtp_session *s)
{
	return (s->flags & SMTP_SESSION_F_AUTH) ? s->auth_user : NULL;
}

void
smtp_session_set_channel_binding(struct smtp_session *s, const char *type,
    const uint8_t *data, size_t len)
{
	if (type == NULL || data == NULL || len == 0 ||
	    len > sizeof(s->cb_data) || strlen(type) >= sizeof(s->cb_type)) {
		s->has_cb = false;
		return;
	}
	memcpy(s->cb_data, data, len);
	snprintf(s->cb_type, sizeof(s->cb_type), "%s", type);
	s->cb.type = s->cb_type;
	s->cb.data = s->cb_data;
	s->cb.len = len;
	s->has_cb = true;
}

/* sender_ok - may the authenticated account use addr? */
static bool
sender_ok(struct smtp_session *s, const char *addr)
{
	if (addr[0] == '\0')
		return false;
	if (s->aops != NULL && s->aops->sender_allowed != NULL)
		return s->aops->sender_allowed(s->actx, s->auth_user, addr);
	return ascii_strcasecmp(addr, s->auth_user) == 0;
}

/*
 * auth_sender_check - MAIL FROM of an authenticated client must be one of
 * its addresses (553 5.7.1); the null sender is refused too (a user
 * agent has no reason to send bounces).  True if MAIL may go on.
 */
static bool
auth_sender_check(struct smtp_session *s, const char *addr)
{
	char esc[LOG_ESCAPE_BUFSIZE];

	if (!(s->flags & SMTP_SESSION_F_AUTH) || sender_ok(s, addr))
		return true;
	log_warn("smtp spoof sid=%s peer=%s user=%s from=<%s>", s->sid,
	    s->peer_addr, s->auth_user, log_escape(esc, sizeof(esc), addr,
	    strlen(addr)));
	fail(s, 553, "5.7.1", "Sender address not owned by the "
	    "authenticated user");
	return false;
}

static bool
sub_sender_ok(void *ctx, const char *addr)
{
	return sender_ok(ctx, addr);
}

static int
sub_write(void *ctx, const void *p, size_t n)
{
	struct smtp_session *s = ctx;

	return s->ops->data_write(s->ctx, p, n);
}

/* auth_data_begin - authenticated DATA goes through the header checks */
static void
auth_data_begin(struct smtp_session *s)
{
	if (s->flags & SMTP_SESSION_F_AUTH)
		s->sub = submission_new(s->hostname, sub_write, sub_sender_ok,
		    s);
}

/*
 * auth_data_end - after the end marker of an acceptable message: add
 * what is missing, judge From:.  False if the message was refused (the
 * reply is written and the transaction reset).
 */
static bool
auth_data_end(struct smtp_session *s)
{
	enum submission_from v;

	if (submission_finish(s->sub) < 0) {
		fail(s, 451, "4.3.0", "Local error writing the message, try "
		    "again later");
		txn_reset(s);
		return false;
	}
	v = submission_from_status(s->sub);
	if (v == SUBMISSION_FROM_DENIED || v == SUBMISSION_FROM_BAD) {
		log_warn("smtp spoof sid=%s peer=%s user=%s qid=%s "
		    "reason=\"%s\"", s->sid, s->peer_addr, s->auth_user,
		    s->qid, v == SUBMISSION_FROM_DENIED ? "From: not owned" :
		    "From: malformed");
		reply(s, 553, "5.7.1", "%s", v == SUBMISSION_FROM_DENIED ?
		    "From: address not owned by the authenticated user" :
		    "From: header must hold one field with an address");
		txn_reset(s);	/* calls data_abort */
		return false;
	}
	return true;
}

/* --- commands ------------------------------------------------------ */

/* cmd_helo_common - checks and records HELO/EHLO; false if refused */
static bool
cmd_helo_common(struct smtp_session *s, struct span args, bool ehlo)
{
	char esc[LOG_ESCAPE_BUFSIZE];

	if (!smtp_parse_helo_ok(args)) {
		log_info("smtp bad-helo sid=%s peer=%s helo=\"%s\"", s->sid,
		    s->peer_addr, log_escape(esc, sizeof(esc), args.p,
		    args.len));
		fail(s, 501, "5.5.4", ehlo ? "Syntax: EHLO hostname" :
		    "Syntax: HELO hostname");
		return false;
	}
	/* RFC 5321 4.1.4: HELO/EHLO in a transaction resets it, like RSET */
	free(s->helo);
	s->helo = xstrndup((const char *)args.p, args.len);
	if (ehlo)
		s->flags |= SMTP_SESSION_F_EHLO;
	else
		s->flags &= ~SMTP_SESSION_F_EHLO;
	txn_reset(s);
	smtp_set_state(s, SMTP_STATE_READY);
	return true;
}

static void
cmd_helo(struct smtp_session *s, struct span args)
{
	/* RFC 2034: no enhanced code on the HELO/EHLO reply */
	if (cmd_helo_common(s, args, false))
		reply(s, 250, NULL, "%s", s->hostname);
}

static void
cmd_ehlo(struct smtp_session *s, struct span args)
{
	const char *lines[16];
	char size[64], auth[128];
	size_t n = 0, i;

	if (!cmd_helo_common(s, args, true))
		return;
	snprintf(size, sizeof(size), "SIZE %llu",
	    (unsigned long long)s->cfg.max_message_size);
	lines[n++] = s->hostname;
	lines[n++] = "PIPELINING";
	lines[n++] = size;
	lines[n++] = "8BITMIME";
	lines[n++] = "SMTPUTF8";
	lines[n++] = "ENHANCEDSTATUSCODES";
	if (s->cfg.tls_available && !(s->flags & SMTP_SESSION_F_TLS))
		lines[n++] = "STARTTLS";
	if (auth_offered(s)) {
		snprintf(auth, sizeof(auth), "AUTH %s",
		    sasl_mechanisms(s->has_cb));
		lines[n++] = auth;
	}
	for (i = 0; i < n; i++)
		reply_line(s, 250, i + 1 < n, NULL, lines[i]);
}

static void
cmd_mail(struct smtp_session *s, struct span args)
{
	struct smtp_reply err;
	struct smtp_mail_args m;
	unsigned flags = 0;

	if (s->cfg.auth_required && !(s->flags & SMTP_SESSION_F_AUTH)) {
		fail(s, 530, "5.7.0", "Authentication required");
		return;
	}
	if (s->flags & SMTP_SESSION_F_EHLO)
		flags |= SMTP_PARSE_F_ESMTP | SMTP_PARSE_F_UTF8_OK;
	if (smtp_parse_mail(args, flags, s->cmd_arena, &m, &err) < 0) {
		fail_reply(s, &err);
		return;
	}
	if (m.has_size && m.size > s->cfg.max_message_size) {
		fail(s, 552, "5.3.4", "Message size exceeds fixed maximum "
		    "message size");
		return;
	}
	if (m.body == SMTP_BODY_BINARYMIME) {
		/* RFC 3030: BINARYMIME needs BDAT, which we do not offer */
		fail(s, 555, "5.5.4", "BODY=BINARYMIME needs CHUNKING, "
		    "which is not offered");
		return;
	}
	if (!auth_sender_check(s, m.addr))
		return;
	s->mail = m;
	s->mail.addr = s->mail_from = arena_strdup(s->txn, m.addr);
	smtp_set_state(s, SMTP_STATE_MAIL);
	if (s->ops->mail_accepted != NULL)
		s->ops->mail_accepted(s->ctx, s, s->helo, s->mail_from);
	reply(s, 250, "2.1.0", "Sender OK");
}

static void
cmd_rcpt(struct smtp_session *s, struct span args)
{
	struct smtp_reply err;
	struct smtp_rcpt_args r;
	unsigned flags = 0;

	if (s->flags & SMTP_SESSION_F_EHLO)
		flags |= SMTP_PARSE_F_ESMTP;
	if (s->mail.smtputf8)
		flags |= SMTP_PARSE_F_UTF8;
	if (smtp_parse_rcpt(args, flags, s->cmd_arena, &r, &err) < 0) {
		fail_reply(s, &err);
		return;
	}
	if (s->nrcpts >= s->cfg.max_rcpts) {
		/* RFC 5321 4.5.3.1.10: 452, the client sends the rest later */
		log_info("smtp reject sid=%s peer=%s cmd=RCPT code=452 "
		    "reason=\"too many recipients\"", s->sid, s->peer_addr);
		reply(s, 452, "4.5.3", "Too many recipients");
		return;
	}
	s->rcpt_wait = r.addr;
	s->pending = SMTP_PENDING_RCPT;
	/* may call smtp_session_rcpt_done() before returning */
	s->ops->rcpt_check(s->ctx, s, r.addr);
}

static const char *
with_protocol(const struct smtp_session *s)
{
	static const char *const names[] = {
		"ESMTP", "ESMTPA", "ESMTPS", "ESMTPSA",
		"UTF8SMTP", "UTF8SMTPA", "UTF8SMTPS", "UTF8SMTPSA",
	};
	unsigned i = 0;

	if (!(s->flags & SMTP_SESSION_F_EHLO))
		return "SMTP";
	if (s->flags & SMTP_SESSION_F_AUTH)
		i |= 1;
	if (s->flags & SMTP_SESSION_F_TLS)
		i |= 2;
	if (s->mail.smtputf8)
		i |= 4;		/* RFC 6531 section 3.7.3 */
	return names[i];
}

/* received_header - the RFC 5321 4.4 trace field for this message */
static char *
received_header(struct smtp_session *s)
{
	char date[64];
	const char *v6 = strchr(s->peer_addr, ':') != NULL ? "IPv6:" : "";
	/* the TLS version and cipher go in a comment (CFWS before "id") */
	const char *tp = s->tls_info != NULL ? " (" : "";
	const char *ti = s->tls_info != NULL ? s->tls_info : "";
	const char *tc = s->tls_info != NULL ? ")" : "";

	rfc5322_date(date, sizeof(date), time(NULL));
	if (s->nrcpts == 1)
		return xasprintf("Received: from %s (%s [%s%s])\r\n"
		    "\tby %s (postino) with %s%s%s%s id %s\r\n"
		    "\tfor <%s>; %s\r\n",
		    s->helo, s->peer_host != NULL ? s->peer_host : "unknown",
		    v6, s->peer_addr, s->hostname, with_protocol(s), tp, ti,
		    tc, s->qid, s->rcpts[0], date);
	return xasprintf("Received: from %s (%s [%s%s])\r\n"
	    "\tby %s (postino) with %s%s%s%s id %s;\r\n"
	    "\t%s\r\n",
	    s->helo, s->peer_host != NULL ? s->peer_host : "unknown",
	    v6, s->peer_addr, s->hostname, with_protocol(s), tp, ti, tc,
	    s->qid, date);
}

static int
data_sink(void *ctx, const void *p, size_t n)
{
	struct smtp_session *s = ctx;

	if (s->sub != NULL)	/* authenticated: header checks first */
		return submission_input(s->sub, p, n);
	return s->ops->data_write(s->ctx, p, n);
}

static void
cmd_data(struct smtp_session *s, struct span args)
{
	struct smtp_envelope env;
	struct smtp_data_limits lim;
	const char *enh = NULL, *text = NULL;
	int code = 0;
	char *rcv;
	int rc;

	if (args.len > 0) {
		fail(s, 501, "5.5.4", "Syntax: DATA");
		return;
	}
	if (s->nrcpts == 0) {
		/* RFC 5321 3.3 and RFC 2920 3.1: all RCPTs were refused */
		fail(s, 554, "5.5.1", "No valid recipients");
		return;
	}
	memset(&env, 0, sizeof(env));
	env.helo = s->helo;
	env.mail_from = s->mail_from;
	env.rcpts = s->rcpts;
	env.nrcpts = s->nrcpts;
	env.body = s->mail.body;
	env.smtputf8 = s->mail.smtputf8;
	env.declared_size = s->mail.size;
	s->qid[0] = '\0';
	if (s->ops->data_begin(s->ctx, &env, s->qid, &code, &enh, &text) < 0) {
		if (code < 400 || code > 599)
			code = 451;
		if (text == NULL)
			text = "Local error, try again later";
		fail(s, code, enh != NULL ? enh : default_enh(code), text);
		txn_reset(s);
		return;
	}
	s->qid[sizeof(s->qid) - 1] = '\0';
	s->data_open = true;
	rcv = received_header(s);
	rc = s->ops->data_write(s->ctx, rcv, strlen(rcv));
	free(rcv);
	if (rc < 0) {
		fail(s, 451, "4.3.0", "Local error writing the message, try "
		    "again later");
		txn_reset(s);
		return;
	}
	memset(&lim, 0, sizeof(lim));
	lim.max_size = s->cfg.max_message_size;
	lim.max_line = s->cfg.max_text_line;
	lim.max_received = s->cfg.max_received;
	lim.allow_nul = s->mail.body == SMTP_BODY_BINARYMIME;
	s->data = smtp_data_new(&lim, data_sink, s);
	auth_data_begin(s);
	smtp_set_state(s, SMTP_STATE_DATA);
	/* RFC 2034 applies to 2xx, 4xx and 5xx: no enhanced code on 354 */
	reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
}

/* data_finished - the end marker was read */
static void
data_finished(struct smtp_session *s)
{
	struct smtp_reply r;
	char esc[LOG_ESCAPE_BUFSIZE];

	if (smtp_data_result(s->data, &r) < 0) {
		log_info("smtp reject sid=%s peer=%s cmd=DATA qid=%s code=%d "
		    "from=<%s> reason=\"%s\"", s->sid, s->peer_addr, s->qid,
		    r.code, log_escape(esc, sizeof(esc), s->mail_from,
		    strlen(s->mail_from)), r.text);
		reply(s, r.code, r.enh, "%s", r.text);
		txn_reset(s);	/* calls data_abort */
		return;
	}
	if (s->sub != NULL && !auth_data_end(s))
		return;
	s->data_open = false;	/* the message now belongs to data_end */
	s->pending = SMTP_PENDING_DATA_END;
	s->ops->data_end(s->ctx, s);
}

static void
cmd_rset(struct smtp_session *s, struct span args)
{
	if (args.len > 0) {
		fail(s, 501, "5.5.4", "Syntax: RSET");
		return;
	}
	txn_reset(s);
	reply(s, 250, "2.0.0", "OK");
}

static void
cmd_noop(struct smtp_session *s, struct span args)
{
	(void)args;	/* RFC 5321 4.1.1.9: a parameter is allowed */
	reply(s, 250, "2.0.0", "OK");
}

static void
cmd_quit(struct smtp_session *s, struct span args)
{
	(void)args;
	reply(s, 221, "2.0.0", "%s closing connection", s->hostname);
	s->want_close = true;
	txn_reset(s);
	smtp_set_state(s, SMTP_STATE_QUIT);
}

static void
cmd_vrfy(struct smtp_session *s, struct span args)
{
	if (args.len == 0) {
		fail(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	if (!s->cfg.vrfy_enabled || s->ops->vrfy == NULL) {
		/* RFC 5321 3.5.3: 252 when we will not say */
		reply(s, 252, "2.1.5", "Cannot VRFY user, but will accept "
		    "message and attempt delivery");
		return;
	}
	s->pending = SMTP_PENDING_LINES;
	s->ops->vrfy(s->ctx, s, arena_strndup(s->cmd_arena, args.p,
	    args.len));
}

static void
cmd_expn(struct smtp_session *s, struct span args)
{
	if (args.len == 0) {
		fail(s, 501, "5.5.4", "Syntax: EXPN list");
		return;
	}
	if (!s->cfg.expn_enabled || s->ops->expn == NULL) {
		fail(s, 502, "5.5.1", "EXPN not available");
		return;
	}
	s->pending = SMTP_PENDING_LINES;
	s->ops->expn(s->ctx, s, arena_strndup(s->cmd_arena, args.p,
	    args.len));
}

static void
cmd_help(struct smtp_session *s, struct span args)
{
	(void)args;
	reply_line(s, 214, true, "2.0.0", "Commands: HELO EHLO MAIL RCPT "
	    "DATA RSET NOOP QUIT VRFY HELP");
	reply_line(s, 214, true, "2.0.0", "See RFC 5321");
	reply_line(s, 214, false, "2.0.0", "End of HELP info");
}

static void
cmd_starttls(struct smtp_session *s, struct span args)
{
	if (!s->cfg.tls_available) {
		fail(s, 502, "5.5.1", "Command not implemented");
		return;
	}
	if (args.len > 0) {
		fail(s, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	if (s->flags & SMTP_SESSION_F_TLS) {
		/* RFC 3207 4.2: STARTTLS is not offered once TLS is on */
		fail(s, 503, "5.5.1", "TLS already active");
		return;
	}
	if (!s->cfg.tls_ready) {
		/* advertised, but no usable certificate (yet) */
		reply(s, 454, "4.7.0", "TLS not available now");
		return;
	}
	reply(s, 220, "2.0.0", "Ready to start TLS");
	/*
	 * Nothing more is read in plaintext: what the client pipelined
	 * behind STARTTLS is the I/O layer's to discard (CVE-2011-0411).
	 */
	s->pending = SMTP_PENDING_TLS;
}

static void
cmd_not_implemented(struct smtp_session *s, struct span args)
{
	(void)args;
	fail(s, 502, "5.5.1", "Command not implemented");
}

static const struct smtp_cmd smtp_cmds[] = {
	{ "HELO",	ST_CMD,			0, cmd_helo },
	{ "EHLO",	ST_CMD,			0, cmd_ehlo },
	{ "MAIL",	ST(READY),		0, cmd_mail },
	{ "RCPT",	ST(MAIL) | ST(RCPT),	0, cmd_rcpt },
	{ "DATA",	ST(MAIL) | ST(RCPT),	0, cmd_data },
	{ "RSET",	ST_CMD,			0, cmd_rset },
	{ "NOOP",	ST_CMD,			0, cmd_noop },
	{ "QUIT",	ST_CMD,			0, cmd_quit },
	{ "VRFY",	ST_CMD,			0, cmd_vrfy },
	{ "EXPN",	ST_CMD,			0, cmd_expn },
	{ "HELP",	ST_CMD,			0, cmd_help },
	/* not inside a transaction: the handshake would forget it */
	{ "STARTTLS",	ST(HELO) | ST(READY),	0, cmd_starttls },
	/* obsolete (RFC 5321 appendix F) or not offered */
	{ "SEND",	ST_CMD,			0, cmd_not_implemented },
	{ "SOML",	ST_CMD,			0, cmd_not_implemented },
	{ "SAML",	ST_CMD,			0, cmd_not_implemented },
	{ "TURN",	ST_CMD,			0, cmd_not_implemented },
	{ "BDAT",	ST_CMD,			0, cmd_not_implemented },
	/* RFC 4954 4: after EHLO, not in a transaction */
	{ "AUTH",	ST(READY),		0, cmd_auth },
};

static const struct smtp_cmd *
cmd_lookup(struct span verb)
{
	size_t i;

	for (i = 0; i < sizeof(smtp_cmds) / sizeof(smtp_cmds[0]); i++)
		if (span_eq_str_ci(verb, smtp_cmds[i].verb))
			return &smtp_cmds[i];
	return NULL;
}

/* --- input --------------------------------------------------------- */

/* run_line - one complete command line, CRLF included */
static void
run_line(struct smtp_session *s, struct span line)
{
	const struct smtp_cmd *cmd;
	struct span verb, args, body;
	char esc[LOG_ESCAPE_BUFSIZE];

	s->cur = NULL;
	arena_reset(s->cmd_arena);
	if (line.len < 2 || line.p[line.len - 2] != '\r') {
		fail(s, 500, "5.5.2", "Line must end with CRLF");
		return;
	}
	body = span_make(line.p, line.len - 2);
	if (span_has_nul(body)) {
		fail(s, 500, "5.5.2", "NUL byte in command");
		return;
	}
	if (span_find(body, '\r') >= 0) {
		fail(s, 500, "5.5.2", "Bare CR in command");
		return;
	}
	if (smtp_parse_command(body, &verb, &args) < 0 ||
	    (cmd = cmd_lookup(verb)) == NULL) {
		log_info("smtp unknown-command sid=%s peer=%s line=\"%s\"",
		    s->sid, s->peer_addr, log_escape(esc, sizeof(esc),
		    body.p, body.len));
		fail(s, 500, "5.5.2", "Command unrecognized");
		return;
	}
	s->cur = cmd;
	if (!(cmd->allowed & (1u << s->state))) {
		/* the one place that answers out-of-sequence commands */
		fail(s, 503, "5.5.1", "Bad sequence of commands");
		return;
	}
	cmd->run(s, args);
}

/*
 * line_limit - max_cmd_line, but 12288 octets for an AUTH command and the
 * responses of an AUTH exchange (RFC 4954 section 4).  p/n are the bytes
 * of the line being added to s->line.
 */
static size_t
line_limit(const struct smtp_session *s, const uint8_t *p, size_t n)
{
	uint8_t head[5];
	size_t i, k = 0;

	if (s->sasl != NULL)
		return SASL_MAX_RESPONSE;
	if (!auth_wired(s) || s->cfg.max_cmd_line >= SASL_MAX_RESPONSE)
		return s->cfg.max_cmd_line;
	for (i = 0; i < s->line.len && k < sizeof(head); i++)
		head[k++] = s->line.data[i];
	for (i = 0; i < n && k < sizeof(head); i++)
		head[k++] = p[i];
	if (k == sizeof(head) && span_starts_ci(span_make(head, k), "AUTH "))
		return SASL_MAX_RESPONSE;
	return s->cfg.max_cmd_line;
}

/* feed_line - frames command lines; returns the bytes it used */
static size_t
feed_line(struct smtp_session *s, const uint8_t *p, size_t n)
{
	const uint8_t *lf = memchr(p, '\n', n);
	size_t k = lf != NULL ? (size_t)(lf - p) + 1 : n;
	size_t limit = line_limit(s, p, k);

	if (s->skipping) {
		if (lf != NULL)
			s->skipping = false;
		return k;
	}
	/* limit first: the line with its LF may not exceed the limit */
	if (s->line.len + k > limit ||
	    (lf == NULL && s->line.len + k == limit)) {
		if (s->sasl != NULL)
			auth_end(s, true, false);	/* 500 ends AUTH */
		explicit_wipe(s->line.data, s->line.len);
		buf_reset(&s->line);
		s->cur = NULL;
		log_info("smtp reject sid=%s peer=%s code=500 "
		    "reason=\"line too long\"", s->sid, s->peer_addr);
		reply(s, 500, "5.5.6", "Line too long");
		count_error(s);
		s->skipping = lf == NULL;
		return k;
	}
	if (buf_append(&s->line, p, k) < 0)
		panic("smtp: line buffer past its checked limit");
	if (lf != NULL) {
		if (s->sasl != NULL) {
			auth_line(s, buf_span(&s->line));
			/* it may have held a password */
			explicit_wipe(s->line.data, s->line.len);
		} else {
			run_line(s, buf_span(&s->line));
		}
		buf_reset(&s->line);
	}
	return k;
}

static size_t
feed_data(struct smtp_session *s, const uint8_t *p, size_t n)
{
	size_t used = 0;

	if (smtp_data_input(s->data, p, n, &used) == 1)
		data_finished(s);
	return used;
}

static bool
can_read(const struct smtp_session *s)
{
	return !s->want_close && s->pending == SMTP_PENDING_NONE &&
	    s->state != SMTP_STATE_QUIT;
}

size_t
smtp_session_input(struct smtp_session *s, const uint8_t *p, size_t n)
{
	size_t used = 0;

	ASSERT(s->state != SMTP_STATE_GREETING);
	while (used < n && can_read(s)) {
		if (s->state == SMTP_STATE_DATA)
			used += feed_data(s, p + used, n - used);
		else
			used += feed_line(s, p + used, n - used);
	}
	return used;
}

/* --- completions --------------------------------------------------- */

void
smtp_session_rcpt_done(struct smtp_session *s, int code, const char *enh,
    const char *text)
{
	char esc[LOG_ESCAPE_BUFSIZE];

	ASSERT(s->pending == SMTP_PENDING_RCPT);
	s->pending = SMTP_PENDING_NONE;
	if (s->want_close)
		return;
	if (enh == NULL)
		enh = default_enh(code);
	if (code == 250 || code == 251) {
		if (s->nrcpts == s->rcpts_cap) {
			s->rcpts_cap = s->rcpts_cap == 0 ? 8 :
			    s->rcpts_cap * 2;
			s->rcpts = xreallocarray(s->rcpts, s->rcpts_cap,
			    sizeof(*s->rcpts));
		}
		s->rcpts[s->nrcpts++] = arena_strdup(s->txn, s->rcpt_wait);
		smtp_set_state(s, SMTP_STATE_RCPT);
		reply(s, code, enh, "%s", text != NULL ? text : "OK");
		return;
	}
	log_info("smtp reject sid=%s peer=%s cmd=RCPT code=%d to=<%s>",
	    s->sid, s->peer_addr, code, log_escape(esc, sizeof(esc),
	    s->rcpt_wait, strlen(s->rcpt_wait)));
	reply(s, code, enh, "%s", text != NULL ? text : "Rejected");
	if (code >= 500)
		count_error(s);
}

void
smtp_session_data_done(struct smtp_session *s, int code, const char *enh,
    const char *text)
{
	char esc[LOG_ESCAPE_BUFSIZE];

	ASSERT(s->pending == SMTP_PENDING_DATA_END);
	s->pending = SMTP_PENDING_NONE;
	if (!s->want_close) {
		if (code >= 200 && code < 300)
			log_info("smtp accept sid=%s peer=%s qid=%s from=<%s> "
			    "nrcpt=%zu size=%llu", s->sid, s->peer_addr,
			    s->qid, log_escape(esc, sizeof(esc), s->mail_from,
			    strlen(s->mail_from)), s->nrcpts,
			    (unsigned long long)smtp_data_size(s->data));
		else
			log_info("smtp reject sid=%s peer=%s cmd=DATA qid=%s "
			    "code=%d", s->sid, s->peer_addr, s->qid, code);
		reply(s, code, enh != NULL ? enh : default_enh(code), "%s",
		    text != NULL ? text : "");
	}
	s->ntxn++;
	txn_reset(s);
}

void
smtp_session_lines_done(struct smtp_session *s, int code, const char *enh,
    const char *const *lines, size_t n)
{
	size_t i;

	ASSERT(s->pending == SMTP_PENDING_LINES);
	s->pending = SMTP_PENDING_NONE;
	if (s->want_close)
		return;
	if (enh == NULL)
		enh = default_enh(code);
	if (n == 0)
		reply_line(s, code, false, enh, "");
	for (i = 0; i < n; i++)
		reply_line(s, code, i + 1 < n, enh, lines[i]);
	if (code >= 500)
		count_error(s);
}

bool
smtp_session_want_tls(const struct smtp_session *s)
{
	return s->pending == SMTP_PENDING_TLS && !s->want_close;
}

void
smtp_session_tls_started(struct smtp_session *s, const char *tls_info)
{
	ASSERT(s->pending == SMTP_PENDING_TLS ||
	    s->state == SMTP_STATE_GREETING);
	s->flags |= SMTP_SESSION_F_TLS;
	free(s->tls_info);
	s->tls_info = tls_info != NULL ? xstrdup(tls_info) : NULL;
	if (s->state == SMTP_STATE_GREETING)
		return;		/* implicit TLS, before the greeting */
	s->pending = SMTP_PENDING_NONE;
	log_info("smtp starttls sid=%s peer=%s tls=\"%s\"", s->sid,
	    s->peer_addr, tls_info != NULL ? tls_info : "?");
	if (s->want_close)
		return;
	/* RFC 3207 4.2: back to the state right after the greeting */
	s->flags &= ~(SMTP_SESSION_F_EHLO | SMTP_SESSION_F_AUTH);
	free(s->helo);
	s->helo = NULL;
	buf_reset(&s->line);
	s->skipping = false;
	txn_reset(s);
	smtp_set_state(s, SMTP_STATE_HELO);
}

bool
smtp_session_is_tls(const struct smtp_session *s)
{
	return (s->flags & SMTP_SESSION_F_TLS) != 0;
}

/* --- life cycle ---------------------------------------------------- */

struct smtp_session *
smtp_session_new(const struct smtp_session_config *cfg,
    const struct smtp_session_ops *ops, void *ctx,
    const struct smtp_peer *peer)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));
	size_t txn_max;

	s->cfg = *cfg;
	if (s->cfg.max_message_size == 0)
		s->cfg.max_message_size = SMTP_MAX_MESSAGE;
	if (s->cfg.max_rcpts == 0)
		s->cfg.max_rcpts = SMTP_MAX_RCPTS;
	if (s->cfg.max_errors == 0)
		s->cfg.max_errors = SMTP_MAX_ERRORS;
	if (s->cfg.max_received == 0)
		s->cfg.max_received = SMTP_MAX_RECEIVED;
	if (s->cfg.max_cmd_line == 0)
		s->cfg.max_cmd_line = SMTP_MAX_CMD_LINE_EXT;
	if (s->cfg.max_text_line == 0)
		s->cfg.max_text_line = SMTP_MAX_TEXT_LINE;
	s->hostname = xstrdup(cfg->hostname != NULL ? cfg->hostname :
	    "localhost");
	s->cfg.hostname = s->hostname;
	s->ops = ops;
	s->ctx = ctx;
	s->sid = xstrdup(peer->session_id != NULL ? peer->session_id : "-");
	s->peer_addr = xstrdup(peer->addr != NULL ? peer->addr : "unknown");
	s->peer_host = peer->hostname != NULL ? xstrdup(peer->hostname) :
	    NULL;
	s->is_loopback = peer->is_loopback;
	s->state = SMTP_STATE_GREETING;
	buf_init(&s->out, SMTP_OUT_MAX);
	buf_init(&s->line, s->cfg.max_cmd_line > SASL_MAX_RESPONSE ?
	    s->cfg.max_cmd_line : SASL_MAX_RESPONSE);
	/* a command copies at most its line, a few times over */
	s->cmd_arena = arena_new("smtp-cmd", 4096,
	    4 * s->cfg.max_cmd_line + 64 * 1024);
	/*
	 * The transaction holds MAIL FROM and the accepted RCPTs, each at
	 * most SMTP_MAX_PATH; max_rcpts bounds their number, so this
	 * ceiling is never reached (reaching it would be our bug).
	 */
	txn_max = 64 * 1024 + 2 * ((size_t)s->cfg.max_rcpts + 1) *
	    (SMTP_MAX_PATH + 32);
	s->txn = arena_new("smtp-txn", 4096, txn_max);
	return s;
}

void
smtp_session_free(struct smtp_session **sp)
{
	struct smtp_session *s = *sp;

	if (s == NULL)
		return;
	if (s->data_open) {
		s->data_open = false;
		s->ops->data_abort(s->ctx);
	}
	log_info("smtp disconnect sid=%s peer=%s messages=%u errors=%u",
	    s->sid, s->peer_addr, s->ntxn, s->errors);
	sasl_free(&s->sasl);
	submission_free(&s->sub);
	free(s->auth_user);
	free(s->scram_account);
	smtp_data_free(&s->data);
	arena_free(&s->txn);
	arena_free(&s->cmd_arena);
	buf_fini(&s->out);
	buf_fini(&s->line);
	free(s->rcpts);
	free(s->helo);
	free(s->hostname);
	free(s->sid);
	free(s->peer_addr);
	free(s->peer_host);
	free(s->tls_info);
	free(s);
	*sp = NULL;
}

void
smtp_session_start(struct smtp_session *s)
{
	ASSERT(s->state == SMTP_STATE_GREETING);
	log_info("smtp connect sid=%s peer=%s host=%s", s->sid, s->peer_addr,
	    s->peer_host != NULL ? s->peer_host : "unknown");
	/* RFC 2034: the greeting needs no enhanced status code */
	reply(s, 220, NULL, "%s ESMTP postino", s->hostname);
	smtp_set_state(s, SMTP_STATE_HELO);
}

struct buf *
smtp_session_output(struct smtp_session *s)
{
	return &s->out;
}

bool
smtp_session_want_close(const struct smtp_session *s)
{
	return s->want_close;
}

bool
smtp_session_is_pending(const struct smtp_session *s)
{
	return s->pending != SMTP_PENDING_NONE;
}

void
smtp_session_timeout(struct smtp_session *s)
{
	log_info("smtp timeout sid=%s peer=%s state=%s", s->sid, s->peer_addr,
	    state_names[s->state]);
	close_with(s, "4.4.2", "Error: timeout exceeded");
}

void
smtp_session_shutdown(struct smtp_session *s)
{
	close_with(s, "4.3.2", "Service shutting down, closing connection");
}
