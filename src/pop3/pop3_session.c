/*
 * pop3_session.c - the POP3 server session state machine (sans-I/O).
 *
 * RFC 1939 (states AUTHORIZATION, TRANSACTION, UPDATE; commands; byte
 * stuffing, section 3), RFC 2449 (CAPA, response codes, PIPELINING: replies
 * in order, we stop reading while a request is out), RFC 3206 ([SYS/TEMP],
 * [SYS/PERM], [AUTH]), RFC 5034 (AUTH with SASL, through src/auth/sasl.h),
 * RFC 2595 (STLS).
 *
 * Untrusted input before authentication.  Input is framed into CRLF lines
 * in a buffer capped at max_line (POP3_MAX_AUTH_LINE for a SASL response);
 * a longer line is answered with -ERR and skipped to its end.  Each command
 * is looked up in one table that says in which states it is allowed; a
 * wrong-state command gets its -ERR in one place (run_line).  Only
 * pop3_set_state() changes the state.  Requests to the server (login,
 * scram_lookup, send, update, start_tls) make the session pending; the
 * done functions write the reply and move the state, never read input.
 *
 * Message numbers are fixed at login: mail arriving later is not seen
 * until the next session, and a message removed meanwhile by IMAP keeps
 * its number (RETR then answers -ERR).  DELE only marks; the marked UIDs
 * go to ops->update after QUIT, so a dropped connection deletes nothing.
 */
#include "pop3/pop3_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/sasl.h"
#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/span.h"
#include "lib/strnum.h"
#include "lib/xmalloc.h"

/* Unsent replies past this (a client pipelining without reading): close. */
#define POP3_OUT_MAX		(4u * 1024 * 1024)
/* Longest user name taken by USER (an address, with room). */
#define POP3_MAX_USER		320

enum pop3_state {
	POP3_STATE_GREETING,	/* created, no greeting yet */
	POP3_STATE_AUTH,	/* AUTHORIZATION */
	POP3_STATE_TRANS,	/* TRANSACTION */
	POP3_STATE_UPDATE,	/* QUIT given, removing messages */
	POP3_STATE_CLOSED,	/* nothing more is read */
};

static const char *const state_names[] = {
	"GREETING", "AUTHORIZATION", "TRANSACTION", "UPDATE", "CLOSED",
};

#define ST(x)		(1u << POP3_STATE_##x)

enum pop3_pending {
	POP3_PENDING_NONE,
	POP3_PENDING_LOGIN,
	POP3_PENDING_SCRAM,
	POP3_PENDING_SEND,
	POP3_PENDING_UPDATE,
	POP3_PENDING_TLS,
};

/* Sticky facts of the connection. */
#define POP3_F_TLS		0x01u	/* STLS done or implicit TLS */
#define POP3_F_SKIP		0x02u	/* discarding the rest of a long line */
#define POP3_F_SASL		0x04u	/* waiting for a SASL response */
#define POP3_F_SASL_ACK		0x08u	/* waiting for the empty response
					 * after SCRAM's server-final */
#define POP3_F_CLOSE		0x10u	/* flush, then close */
#define POP3_F_STLS_CUT		0x20u	/* STLS ran: stop eating input */

struct pop3_session {
	struct pop3_session_config	 cfg;
	const struct pop3_session_ops	*ops;
	void				*ctx;
	char				*hostname;
	char				*sid;
	char				*addr;
	bool				 is_loopback;
	enum pop3_state			 state;
	enum pop3_pending		 pending;
	unsigned			 flags;
	unsigned			 errors;
	unsigned			 auth_failures;
	unsigned			 preauth_cmds;	/* lines before login */
	struct buf			 in;
	struct buf			 out;
	char				*user_arg;	/* from USER */
	char				*user;		/* logged in */
	struct sasl			*sasl;
	struct sasl_config		 sasl_cfg;
	/* the maildrop as listed at login */
	struct pop3_message		*msgs;
	bool				*deleted;
	size_t				 nmsgs;
	uint32_t			 uidvalidity;
};

struct pop3_cmd {
	const char	*verb;
	unsigned	 allowed;	/* bit per enum pop3_state */
	void		(*run)(struct pop3_session *, struct span args);
};

/* ---- output ---------------------------------------------------- */

static void reply(struct pop3_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
reply(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
	if (r < 0 || buf_append(&s->out, "\r\n", 2) < 0) {
		log_info("pop3 output overflow sid=%s peer=%s", s->sid,
		    s->addr);
		s->flags |= POP3_F_CLOSE;
	}
}

static void
pop3_set_state(struct pop3_session *s, enum pop3_state st)
{
	if (s->state != st)
		log_debug("pop3 state sid=%s %s -> %s", s->sid,
		    state_names[s->state], state_names[st]);
	s->state = st;
}

static void
close_session(struct pop3_session *s)
{
	pop3_set_state(s, POP3_STATE_CLOSED);
	s->flags |= POP3_F_CLOSE;
}

/* bad_command - count a protocol error; close after too many */
static void
bad_command(struct pop3_session *s, const char *text)
{
	s->errors++;
	if (s->errors >= s->cfg.max_errors) {
		log_info("pop3 too many errors sid=%s peer=%s", s->sid,
		    s->addr);
		reply(s, "-ERR %s; too many errors, closing", text);
		close_session(s);
		return;
	}
	reply(s, "-ERR %s", text);
}

static bool
plaintext_ok(const struct pop3_session *s)
{
	return (s->flags & POP3_F_TLS) ||
	    (s->is_loopback && s->cfg.plaintext_loopback);
}

static bool
stls_offered(const struct pop3_session *s)
{
	return s->cfg.tls_available && !(s->flags & POP3_F_TLS) &&
	    s->state == POP3_STATE_AUTH;
}

static void
forget_user(struct pop3_session *s)
{
	if (s->user_arg != NULL) {
		explicit_wipe(s->user_arg, strlen(s->user_arg));
		free(s->user_arg);
		s->user_arg = NULL;
	}
	sasl_free(&s->sasl);
	s->flags &= ~(POP3_F_SASL | POP3_F_SASL_ACK);
}

/* ---- maildrop helpers ------------------------------------------ */

static void
maildrop_totals(const struct pop3_session *s, size_t *count_r,
    uint64_t *octets_r)
{
	size_t i, n = 0;
	uint64_t o = 0;

	for (i = 0; i < s->nmsgs; i++) {
		if (s->deleted[i])
			continue;
		n++;
		o += s->msgs[i].size;
	}
	*count_r = n;
	*octets_r = o;
}

/*
 * msg_arg - parse a message number: 1 with its 0-based index, or 0 after
 * answering -ERR.
 */
static int
msg_arg(struct pop3_session *s, struct span a, size_t *idx_r)
{
	uint64_t v;

	if (a.len == 0 || strnum_u64(a, UINT32_MAX, &v) < 0 || v == 0) {
		bad_command(s, "invalid message number");
		return 0;
	}
	if (v > s->nmsgs) {
		reply(s, "-ERR no such message");
		return 0;
	}
	if (s->deleted[v - 1]) {
		reply(s, "-ERR message %llu already deleted",
		    (unsigned long long)v);
		return 0;
	}
	*idx_r = (size_t)(v - 1);
	return 1;
}

/* split1 - first word of args in *w, the rest (after one SP) in *rest */
static void
split1(struct span args, struct span *w, struct span *rest)
{
	/* "TOP" alone has no arguments at all: p may be NULL */
	const uint8_t *sp = args.len > 0 ? memchr(args.p, ' ', args.len) :
	    NULL;

	if (sp == NULL) {
		*w = args;
		*rest = span_make(NULL, 0);
		return;
	}
	*w = span_make(args.p, (size_t)(sp - args.p));
	*rest = span_make(sp + 1, args.len - (size_t)(sp - args.p) - 1);
}

/* ---- AUTHORIZATION --------------------------------------------- */

static void
cmd_capa(struct pop3_session *s, struct span args)
{
	if (args.len > 0) {
		bad_command(s, "CAPA takes no argument");
		return;
	}
	reply(s, "+OK Capability list follows");
	reply(s, "TOP");
	reply(s, "UIDL");
	reply(s, "RESP-CODES");
	reply(s, "AUTH-RESP-CODE");
	reply(s, "PIPELINING");
	if (s->state == POP3_STATE_AUTH) {
		bool pt = plaintext_ok(s);

		if (pt)
			reply(s, "USER");
		if (pt && s->cfg.scram_available)
			reply(s, "SASL PLAIN SCRAM-SHA-256");
		else if (pt)
			reply(s, "SASL PLAIN");
		else if (s->cfg.scram_available)
			reply(s, "SASL SCRAM-SHA-256");
		if (stls_offered(s))
			reply(s, "STLS");
	}
	reply(s, "IMPLEMENTATION postino");
	reply(s, ".");
}

static void
cmd_stls(struct pop3_session *s, struct span args)
{
	if (args.len > 0) {
		bad_command(s, "STLS takes no argument");
		return;
	}
	if (!stls_offered(s)) {
		bad_command(s, (s->flags & POP3_F_TLS) ?
		    "TLS is already active" : "STLS not available");
		return;
	}
	forget_user(s);
	reply(s, "+OK Begin TLS negotiation");
	s->pending = POP3_PENDING_TLS;
	s->flags |= POP3_F_STLS_CUT;
	s->ops->start_tls(s->ctx, s);
}

static void
cmd_user(struct pop3_session *s, struct span args)
{
	if (!plaintext_ok(s)) {
		reply(s, "-ERR [AUTH] Plaintext authentication is disallowed "
		    "without TLS; use STLS first");
		return;
	}
	if (args.len == 0 || args.len > POP3_MAX_USER ||
	    memchr(args.p, ' ', args.len) != NULL) {
		forget_user(s);
		bad_command(s, "USER needs one user name");
		return;
	}
	forget_user(s);
	s->user_arg = xstrndup((const char *)args.p, args.len);
	reply(s, "+OK Send your password");
}

static void
cmd_pass(struct pop3_session *s, struct span args)
{
	char *pw;

	if (s->user_arg == NULL) {
		bad_command(s, "USER first");
		return;
	}
	if (args.len == 0 || args.len > SASL_MAX_PASSWORD) {
		forget_user(s);
		bad_command(s, "PASS needs a password");
		return;
	}
	/* RFC 1939: the password is the rest of the line, spaces included */
	pw = xstrndup((const char *)args.p, args.len);
	s->pending = POP3_PENDING_LOGIN;
	s->ops->login(s->ctx, s, s->user_arg, pw);
	explicit_wipe(pw, args.len);
	free(pw);
}

static void
cmd_apop(struct pop3_session *s, struct span args)
{
	(void)args;
	/* APOP needs the plaintext password on the server: we keep hashes */
	reply(s, "-ERR [AUTH] APOP is not supported; use USER/PASS or AUTH");
}

static void sasl_advance(struct pop3_session *s, enum sasl_status st);

/* sasl_mech_allowed - PLAIN only where plaintext is; SCRAM if configured */
static bool
sasl_mech_allowed(const struct pop3_session *s, enum sasl_mech m)
{
	switch (m) {
	case SASL_MECH_PLAIN:
		return plaintext_ok(s);
	case SASL_MECH_SCRAM_SHA_256:
		return s->cfg.scram_available;
	default:
		return false;
	}
}

static void
cmd_auth(struct pop3_session *s, struct span args)
{
	struct span name, ir;
	enum sasl_mech m;
	struct buf resp, out;
	enum sasl_status st;

	if (args.len == 0) {
		/* the RFC 1734 form: list the mechanisms */
		reply(s, "+OK Mechanisms follow");
		if (plaintext_ok(s))
			reply(s, "PLAIN");
		if (s->cfg.scram_available)
			reply(s, "SCRAM-SHA-256");
		reply(s, ".");
		return;
	}
	split1(args, &name, &ir);
	if (!sasl_mech_lookup(name, false, &m) || !sasl_mech_allowed(s, m)) {
		if (sasl_mech_lookup(name, false, &m) &&
		    m == SASL_MECH_PLAIN) {
			reply(s, "-ERR [AUTH] Plaintext authentication is "
			    "disallowed without TLS; use STLS first");
			return;
		}
		bad_command(s, "unsupported authentication mechanism");
		return;
	}
	forget_user(s);
	s->sasl = sasl_new(m, &s->sasl_cfg);
	buf_init(&resp, SASL_MAX_RESPONSE);
	buf_init(&out, SASL_MAX_RESPONSE);
	if (ir.p == NULL) {
		st = sasl_step(s->sasl, NULL, &out);
	} else if (ir.len == 1 && ir.p[0] == '=') {
		struct span empty = span_make((const uint8_t *)"", 0);

		st = sasl_step(s->sasl, &empty, &out);
	} else if (sasl_base64_decode(ir, &resp) < 0) {
		sasl_free(&s->sasl);
		bad_command(s, "invalid base64 in the initial response");
		buf_fini_wipe(&resp);
		buf_fini_wipe(&out);
		return;
	} else {
		struct span r = span_make(resp.data, resp.len);

		st = sasl_step(s->sasl, &r, &out);
	}
	buf_fini_wipe(&resp);
	if (st == SASL_CONTINUE || st == SASL_OK) {
		/* a challenge or SCRAM's server-final goes out as "+ " */
		struct buf enc;

		buf_init(&enc, 2 * SASL_MAX_RESPONSE);
		if (sasl_base64_encode(span_make(out.data, out.len), &enc) < 0)
			st = SASL_BAD;
		else if (st == SASL_CONTINUE || out.len > 0)
			reply(s, "+ %.*s", (int)enc.len, (const char *)enc.data);
		buf_fini(&enc);
		if (st == SASL_OK && out.len > 0) {
			s->flags |= POP3_F_SASL_ACK;
			buf_fini_wipe(&out);
			return;
		}
	}
	buf_fini_wipe(&out);
	sasl_advance(s, st);
}

/*
 * sasl_advance - act on a SASL step's outcome (the challenge, if any, has
 * been sent)
 */
static void
sasl_advance(struct pop3_session *s, enum sasl_status st)
{
	const char *user;

	switch (st) {
	case SASL_CONTINUE:
		s->flags |= POP3_F_SASL;
		return;
	case SASL_VERIFY:
		s->pending = POP3_PENDING_LOGIN;
		s->ops->login(s->ctx, s, sasl_user(s->sasl),
		    sasl_password(s->sasl));
		return;
	case SASL_LOOKUP:
		s->pending = POP3_PENDING_SCRAM;
		s->ops->scram_lookup(s->ctx, s, sasl_user(s->sasl));
		return;
	case SASL_OK:
		s->pending = POP3_PENDING_LOGIN;
		s->ops->login(s->ctx, s, sasl_user(s->sasl), NULL);
		return;
	case SASL_FAIL:
		user = s->sasl != NULL ? sasl_user(s->sasl) : NULL;
		if (s->ops->auth_failed != NULL)
			s->ops->auth_failed(s->ctx, s, user);
		forget_user(s);
		s->auth_failures++;
		reply(s, "-ERR [AUTH] Authentication failed");
		if (s->auth_failures >= s->cfg.max_auth_failures)
			close_session(s);
		return;
	case SASL_BAD:
		forget_user(s);
		bad_command(s, "malformed SASL response");
		return;
	}
}

/* sasl_line - a client response line while an AUTH exchange is on */
static void
sasl_line(struct pop3_session *s, struct span line)
{
	struct buf resp, out;
	enum sasl_status st;

	if (s->flags & POP3_F_SASL_ACK) {
		/* RFC 5034 4: the answer to additional data is empty */
		s->flags &= ~POP3_F_SASL_ACK;
		if (line.len == 1 && line.p[0] == '*') {
			forget_user(s);
			reply(s, "-ERR Authentication cancelled");
			return;
		}
		if (line.len != 0) {
			forget_user(s);
			bad_command(s, "expected an empty response");
			return;
		}
		sasl_advance(s, SASL_OK);
		return;
	}
	s->flags &= ~POP3_F_SASL;
	if (line.len == 1 && line.p[0] == '*') {
		forget_user(s);
		reply(s, "-ERR Authentication cancelled");
		return;
	}
	buf_init(&resp, SASL_MAX_RESPONSE);
	buf_init(&out, SASL_MAX_RESPONSE);
	if (sasl_base64_decode(line, &resp) < 0) {
		forget_user(s);
		bad_command(s, "invalid base64 in the SASL response");
		buf_fini_wipe(&resp);
		buf_fini_wipe(&out);
		return;
	}
	{
		struct span r = span_make(resp.data, resp.len);

		st = sasl_step(s->sasl, &r, &out);
	}
	buf_fini_wipe(&resp);
	if ((st == SASL_CONTINUE || st == SASL_OK) &&
	    (st == SASL_CONTINUE || out.len > 0)) {
		struct buf enc;

		buf_init(&enc, 2 * SASL_MAX_RESPONSE);
		if (sasl_base64_encode(span_make(out.data, out.len),
		    &enc) < 0) {
			st = SASL_BAD;
		} else {
			reply(s, "+ %.*s", (int)enc.len,
			    (const char *)enc.data);
			if (st == SASL_OK)
				s->flags |= POP3_F_SASL_ACK;
		}
		buf_fini(&enc);
		if (s->flags & POP3_F_SASL_ACK) {
			buf_fini_wipe(&out);
			return;
		}
	}
	buf_fini_wipe(&out);
	sasl_advance(s, st);
}

/* ---- TRANSACTION ----------------------------------------------- */

static void
cmd_stat(struct pop3_session *s, struct span args)
{
	size_t n;
	uint64_t o;

	if (args.len > 0) {
		bad_command(s, "STAT takes no argument");
		return;
	}
	maildrop_totals(s, &n, &o);
	reply(s, "+OK %zu %llu", n, (unsigned long long)o);
}

static void
cmd_list(struct pop3_session *s, struct span args)
{
	size_t i, n;
	uint64_t o;

	if (args.len > 0) {
		if (msg_arg(s, args, &i))
			reply(s, "+OK %zu %llu", i + 1,
			    (unsigned long long)s->msgs[i].size);
		return;
	}
	maildrop_totals(s, &n, &o);
	reply(s, "+OK %zu messages (%llu octets)", n, (unsigned long long)o);
	for (i = 0; i < s->nmsgs && !(s->flags & POP3_F_CLOSE); i++)
		if (!s->deleted[i])
			reply(s, "%zu %llu", i + 1,
			    (unsigned long long)s->msgs[i].size);
	reply(s, ".");
}

static void
cmd_uidl(struct pop3_session *s, struct span args)
{
	char u[24];
	size_t i;

	if (args.len > 0) {
		if (msg_arg(s, args, &i)) {
			pop3_uidl_format(u, sizeof(u), s->uidvalidity,
			    s->msgs[i].uid);
			reply(s, "+OK %zu %s", i + 1, u);
		}
		return;
	}
	reply(s, "+OK Unique-ID listing follows");
	for (i = 0; i < s->nmsgs && !(s->flags & POP3_F_CLOSE); i++) {
		if (s->deleted[i])
			continue;
		pop3_uidl_format(u, sizeof(u), s->uidvalidity, s->msgs[i].uid);
		reply(s, "%zu %s", i + 1, u);
	}
	reply(s, ".");
}

/* start_send - RETR and TOP: +OK, then the server streams the message */
static void
start_send(struct pop3_session *s, size_t idx, int64_t lines)
{
	size_t mark = s->out.len;

	if (lines < 0)
		reply(s, "+OK %llu octets",
		    (unsigned long long)s->msgs[idx].size);
	else
		reply(s, "+OK top of message follows");
	s->pending = POP3_PENDING_SEND;
	if (s->ops->send(s->ctx, s, idx, s->msgs[idx].uid, lines) < 0) {
		/* take the +OK back: nothing was sent yet */
		s->out.len = mark;
		if (s->out.data != NULL)
			s->out.data[mark] = '\0';
		s->pending = POP3_PENDING_NONE;
		reply(s, "-ERR [SYS/TEMP] message %zu is no longer available",
		    idx + 1);
	}
}

static void
cmd_retr(struct pop3_session *s, struct span args)
{
	size_t i;

	if (msg_arg(s, args, &i))
		start_send(s, i, -1);
}

static void
cmd_top(struct pop3_session *s, struct span args)
{
	struct span n, k;
	uint64_t lines;
	size_t i;

	split1(args, &n, &k);
	if (k.len == 0 || strnum_u64(k, INT32_MAX, &lines) < 0) {
		bad_command(s, "TOP needs a message number and a line count");
		return;
	}
	if (msg_arg(s, n, &i))
		start_send(s, i, (int64_t)lines);
}

static void
cmd_dele(struct pop3_session *s, struct span args)
{
	size_t i;

	if (msg_arg(s, args, &i)) {
		s->deleted[i] = true;
		reply(s, "+OK message %zu deleted", i + 1);
	}
}

static void
cmd_noop(struct pop3_session *s, struct span args)
{
	if (args.len > 0) {
		bad_command(s, "NOOP takes no argument");
		return;
	}
	reply(s, "+OK");
}

static void
cmd_rset(struct pop3_session *s, struct span args)
{
	size_t n;
	uint64_t o;

	if (args.len > 0) {
		bad_command(s, "RSET takes no argument");
		return;
	}
	memset(s->deleted, 0, s->nmsgs * sizeof(*s->deleted));
	maildrop_totals(s, &n, &o);
	reply(s, "+OK maildrop has %zu messages (%llu octets)", n,
	    (unsigned long long)o);
}

static void
cmd_quit(struct pop3_session *s, struct span args)
{
	uint32_t *uids;
	size_t i, n = 0;

	(void)args;
	if (s->state == POP3_STATE_AUTH) {
		reply(s, "+OK %s POP3 server signing off", s->hostname);
		close_session(s);
		return;
	}
	pop3_set_state(s, POP3_STATE_UPDATE);
	uids = xcalloc(s->nmsgs + 1, sizeof(*uids));
	for (i = 0; i < s->nmsgs; i++)
		if (s->deleted[i])
			uids[n++] = s->msgs[i].uid;
	if (n == 0) {
		free(uids);
		pop3_session_update_done(s, true);
		return;
	}
	s->pending = POP3_PENDING_UPDATE;
	s->ops->update(s->ctx, s, uids, n);
	free(uids);
}

/* ---- dispatch -------------------------------------------------- */

#define ST_ANY		(ST(AUTH) | ST(TRANS))

static const struct pop3_cmd cmds[] = {
	{ "CAPA", ST_ANY, cmd_capa },
	{ "QUIT", ST_ANY, cmd_quit },
	{ "STLS", ST(AUTH), cmd_stls },
	{ "USER", ST(AUTH), cmd_user },
	{ "PASS", ST(AUTH), cmd_pass },
	{ "APOP", ST(AUTH), cmd_apop },
	{ "AUTH", ST(AUTH), cmd_auth },
	{ "STAT", ST(TRANS), cmd_stat },
	{ "LIST", ST(TRANS), cmd_list },
	{ "RETR", ST(TRANS), cmd_retr },
	{ "DELE", ST(TRANS), cmd_dele },
	{ "NOOP", ST(TRANS), cmd_noop },
	{ "RSET", ST(TRANS), cmd_rset },
	{ "TOP", ST(TRANS), cmd_top },
	{ "UIDL", ST(TRANS), cmd_uidl },
};

/* run_line - one complete line without its CRLF */
static void
run_line(struct pop3_session *s, struct span line)
{
	struct span verb, args;
	size_t i;

	if (s->state == POP3_STATE_AUTH &&
	    ++s->preauth_cmds > POP3_MAX_PREAUTH_COMMANDS) {
		/* a client that never logs in does not keep a slot forever */
		log_info("pop3 too many commands before login sid=%s peer=%s",
		    s->sid, s->addr);
		reply(s, "-ERR Too many commands without logging in");
		close_session(s);
		return;
	}
	if (s->flags & (POP3_F_SASL | POP3_F_SASL_ACK)) {
		sasl_line(s, line);
		return;
	}
	split1(line, &verb, &args);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (!span_eq_ci(verb, span_make((const uint8_t *)cmds[i].verb,
		    strlen(cmds[i].verb))))
			continue;
		if (!(cmds[i].allowed & (1u << s->state))) {
			bad_command(s, s->state == POP3_STATE_AUTH ?
			    "not logged in" : "command not valid in this state");
			return;
		}
		cmds[i].run(s, args);
		return;
	}
	{
		char esc[LOG_ESCAPE_BUFSIZE];

		log_debug("pop3 unknown command sid=%s cmd=\"%s\"", s->sid,
		    log_escape(esc, sizeof(esc), verb.p, verb.len));
	}
	bad_command(s, "unknown command");
}

/* line_complete - check framing of the buffered line and run it */
static void
line_complete(struct pop3_session *s)
{
	struct span line = span_make(s->in.data, s->in.len);

	if (line.len < 2 || line.p[line.len - 2] != '\r') {
		bad_command(s, "lines must end with CRLF");
		return;
	}
	line.len -= 2;
	if (memchr(line.p, '\r', line.len) != NULL ||
	    memchr(line.p, '\0', line.len) != NULL) {
		bad_command(s, "invalid characters in the command line");
		return;
	}
	run_line(s, line);
}

size_t
pop3_session_input(struct pop3_session *s, const uint8_t *p, size_t n)
{
	size_t used = 0;

	while (used < n && s->pending == POP3_PENDING_NONE &&
	    !(s->flags & POP3_F_CLOSE)) {
		const uint8_t *lf = memchr(p + used, '\n', n - used);
		size_t take = lf != NULL ? (size_t)(lf - (p + used)) + 1 :
		    n - used;
		size_t limit = (s->flags & (POP3_F_SASL | POP3_F_SASL_ACK)) ?
		    POP3_MAX_AUTH_LINE : s->cfg.max_line;

		if (s->flags & POP3_F_SKIP) {
			used += take;
			if (lf != NULL)
				s->flags &= ~POP3_F_SKIP;
			continue;
		}
		if (take > limit - s->in.len) {
			/* check the limit before buffering */
			explicit_wipe(s->in.data, s->in.len);
			buf_reset(&s->in);
			used += take;
			if (lf == NULL)
				s->flags |= POP3_F_SKIP;
			if (s->flags & (POP3_F_SASL | POP3_F_SASL_ACK))
				forget_user(s);
			bad_command(s, "line too long");
			continue;
		}
		if (buf_append(&s->in, p + used, take) < 0)
			panic("pop3 input buffer smaller than its limit");
		used += take;
		if (lf == NULL)
			break;
		line_complete(s);
		/* the line may hold a password */
		explicit_wipe(s->in.data, s->in.len);
		buf_reset(&s->in);
		if (s->flags & POP3_F_STLS_CUT) {
			/*
			 * RFC 2595 4 / CVE-2011-0411: what follows STLS in
			 * the same read is plaintext the caller throws away
			 */
			s->flags &= ~POP3_F_STLS_CUT;
			break;
		}
	}
	return used;
}

/* ---- completions ----------------------------------------------- */

void
pop3_session_login_done(struct pop3_session *s, enum pop3_login_result r,
    const char *user, uint32_t uidvalidity, const struct pop3_message *msgs,
    size_t n)
{
	size_t cnt;
	uint64_t o;

	ASSERT(s->pending == POP3_PENDING_LOGIN);
	s->pending = POP3_PENDING_NONE;
	if (s->state != POP3_STATE_AUTH) {
		forget_user(s);
		return;	/* timed out or shut down meanwhile */
	}
	/* user may point at our own USER argument: copy it first */
	if (r == POP3_LOGIN_OK)
		s->user = xstrdup(user != NULL ? user : "");
	forget_user(s);
	switch (r) {
	case POP3_LOGIN_OK:
		if (n > POP3_MAX_MESSAGES) {
			reply(s, "-ERR [SYS/PERM] maildrop too large for POP3");
			close_session(s);
			return;
		}
		s->msgs = xcalloc(n + 1, sizeof(*s->msgs));
		s->deleted = xcalloc(n + 1, sizeof(*s->deleted));
		if (n > 0)
			memcpy(s->msgs, msgs, n * sizeof(*msgs));
		s->nmsgs = n;
		s->uidvalidity = uidvalidity;
		pop3_set_state(s, POP3_STATE_TRANS);
		maildrop_totals(s, &cnt, &o);
		reply(s, "+OK maildrop locked and ready, %zu messages "
		    "(%llu octets)", cnt, (unsigned long long)o);
		return;
	case POP3_LOGIN_BAD:
		s->auth_failures++;
		reply(s, "-ERR [AUTH] Authentication failed");
		if (s->auth_failures >= s->cfg.max_auth_failures)
			close_session(s);
		return;
	case POP3_LOGIN_IN_USE:
		reply(s, "-ERR [IN-USE] Mailbox is locked by another POP3 "
		    "session");
		return;
	case POP3_LOGIN_THROTTLED:
		reply(s, "-ERR [LOGIN-DELAY] Too many failed logins, try "
		    "again later");
		close_session(s);
		return;
	case POP3_LOGIN_TEMP:
		reply(s, "-ERR [SYS/TEMP] Temporary failure, try again later");
		return;
	}
}

void
pop3_session_scram_done(struct pop3_session *s,
    const struct sasl_scram_keys *keys)
{
	struct buf out, enc;
	enum sasl_status st;

	ASSERT(s->pending == POP3_PENDING_SCRAM);
	s->pending = POP3_PENDING_NONE;
	if (s->state != POP3_STATE_AUTH || s->sasl == NULL)
		return;
	buf_init(&out, SASL_MAX_RESPONSE);
	buf_init(&enc, 2 * SASL_MAX_RESPONSE);
	st = sasl_scram_done(s->sasl, keys, &out);
	if (st == SASL_CONTINUE) {
		if (sasl_base64_encode(span_make(out.data, out.len),
		    &enc) < 0)
			st = SASL_BAD;
		else
			reply(s, "+ %.*s", (int)enc.len,
			    (const char *)enc.data);
	}
	buf_fini(&enc);
	buf_fini_wipe(&out);
	sasl_advance(s, st);
}

void
pop3_session_send_done(struct pop3_session *s, bool ok)
{
	ASSERT(s->pending == POP3_PENDING_SEND);
	s->pending = POP3_PENDING_NONE;
	if (!ok)
		close_session(s);
}

void
pop3_session_update_done(struct pop3_session *s, bool ok)
{
	size_t n;
	uint64_t o;

	s->pending = POP3_PENDING_NONE;
	if (s->state != POP3_STATE_UPDATE)
		return;
	if (ok) {
		/* what is left: the messages not marked */
		maildrop_totals(s, &n, &o);
		reply(s, "+OK %s POP3 server signing off (%zu messages left)",
		    s->hostname, n);
	} else {
		reply(s, "-ERR [SYS/TEMP] Some deleted messages were not "
		    "removed");
	}
	close_session(s);
}

void
pop3_session_tls_started(struct pop3_session *s)
{
	ASSERT(s->pending == POP3_PENDING_TLS);
	s->pending = POP3_PENDING_NONE;
	s->flags |= POP3_F_TLS;
	forget_user(s);
	explicit_wipe(s->in.data, s->in.len);
	buf_reset(&s->in);
	s->flags &= ~POP3_F_SKIP;
}

/* ---- lifetime and accessors ------------------------------------ */

struct pop3_session *
pop3_session_new(const struct pop3_session_config *cfg,
    const struct pop3_session_ops *ops, void *ctx,
    const struct pop3_peer *peer)
{
	struct pop3_session *s = xcalloc(1, sizeof(*s));

	s->cfg = *cfg;
	if (s->cfg.max_line == 0 || s->cfg.max_line > POP3_MAX_AUTH_LINE)
		s->cfg.max_line = POP3_MAX_LINE;
	if (s->cfg.max_line < 16)
		s->cfg.max_line = 16;
	if (s->cfg.max_errors == 0)
		s->cfg.max_errors = POP3_MAX_ERRORS;
	if (s->cfg.max_auth_failures == 0)
		s->cfg.max_auth_failures = POP3_MAX_AUTH_FAILURES;
	s->ops = ops;
	s->ctx = ctx;
	s->hostname = xstrdup(cfg->hostname != NULL ? cfg->hostname :
	    "localhost");
	s->cfg.hostname = s->hostname;
	s->sid = xstrdup(peer->session_id != NULL ? peer->session_id : "-");
	s->addr = xstrdup(peer->addr != NULL ? peer->addr : "-");
	s->is_loopback = peer->is_loopback;
	if (peer->is_tls)
		s->flags |= POP3_F_TLS;
	s->sasl_cfg.secret = cfg->sasl_secret;
	s->sasl_cfg.secret_len = cfg->sasl_secret_len;
	buf_init(&s->in, POP3_MAX_AUTH_LINE);
	buf_init(&s->out, POP3_OUT_MAX);
	return s;
}

void
pop3_session_free(struct pop3_session **sp)
{
	struct pop3_session *s = *sp;

	if (s == NULL)
		return;
	*sp = NULL;
	forget_user(s);
	buf_fini_wipe(&s->in);
	buf_fini(&s->out);
	free(s->user);
	free(s->msgs);
	free(s->deleted);
	free(s->hostname);
	free(s->sid);
	free(s->addr);
	free(s);
}

void
pop3_session_start(struct pop3_session *s)
{
	ASSERT(s->state == POP3_STATE_GREETING);
	pop3_set_state(s, POP3_STATE_AUTH);
	reply(s, "+OK %s POP3 server ready", s->hostname);
}

struct buf *
pop3_session_output(struct pop3_session *s)
{
	return &s->out;
}

bool
pop3_session_want_close(const struct pop3_session *s)
{
	return (s->flags & POP3_F_CLOSE) != 0;
}

bool
pop3_session_is_pending(const struct pop3_session *s)
{
	return s->pending != POP3_PENDING_NONE;
}

bool
pop3_session_is_authenticated(const struct pop3_session *s)
{
	return s->state == POP3_STATE_TRANS || s->state == POP3_STATE_UPDATE;
}

const char *
pop3_session_user(const struct pop3_session *s)
{
	return s->user;
}

void
pop3_session_timeout(struct pop3_session *s)
{
	if (s->flags & POP3_F_CLOSE)
		return;
	/* RFC 1939 3: an autologout does not enter UPDATE */
	reply(s, "-ERR Autologout: idle for too long");
	close_session(s);
}

void
pop3_session_shutdown(struct pop3_session *s)
{
	if (s->flags & POP3_F_CLOSE)
		return;
	reply(s, "-ERR [SYS/TEMP] Server shutting down, try again later");
	close_session(s);
}

/* ---- stuffing -------------------------------------------------- */

void
pop3_stuffer_init(struct pop3_stuffer *st, int64_t lines)
{
	memset(st, 0, sizeof(*st));
	st->lines = lines;
	st->bol = true;
	st->line_empty = true;
}

/* end_line - bookkeeping at each LF: header end, TOP's line count */
static void
end_line(struct pop3_stuffer *st)
{
	st->bol = true;
	if (!st->in_body) {
		if (st->line_empty) {
			st->in_body = true;
			if (st->lines == 0)
				st->done = true;
		}
		st->line_empty = true;
		return;
	}
	if (st->lines > 0 && --st->lines == 0)
		st->done = true;
}

int
pop3_stuffer_feed(struct pop3_stuffer *st, const uint8_t *p, size_t n,
    struct buf *out)
{
	size_t i = 0;

	while (i < n && !st->done) {
		const uint8_t *lf;
		size_t seg;

		if (st->bol && p[i] == '.' && buf_append_byte(out, '.') < 0)
			return -1;
		lf = memchr(p + i, '\n', n - i);
		seg = lf != NULL ? (size_t)(lf - (p + i)) : n - i;
		if (seg > 0) {
			/* "\r" alone before the LF does not make a header
			 * line non-empty */
			if (seg > 1 || p[i] != '\r')
				st->line_empty = false;
			if (buf_append(out, p + i, seg) < 0)
				return -1;
			st->prev_cr = p[i + seg - 1] == '\r';
			st->bol = false;
			i += seg;
		}
		if (lf == NULL)
			break;
		/* at the LF: add the CR a bare LF lacks */
		if (!st->prev_cr && buf_append_byte(out, '\r') < 0)
			return -1;
		if (buf_append_byte(out, '\n') < 0)
			return -1;
		st->prev_cr = false;
		i++;
		end_line(st);
	}
	return st->done ? 1 : 0;
}

int
pop3_stuffer_finish(struct pop3_stuffer *st, struct buf *out)
{
	if (!st->bol) {
		if (!st->prev_cr && buf_append_byte(out, '\r') < 0)
			return -1;
		if (buf_append_byte(out, '\n') < 0)
			return -1;
		st->bol = true;
	}
	return buf_append(out, ".\r\n", 3);
}

void
pop3_uidl_format(char *out, size_t outsize, uint32_t uidvalidity,
    uint32_t uid)
{
	snprintf(out, outsize, "%lu.%lu", (unsigned long)uidvalidity,
	    (unsigned long)uid);
}
