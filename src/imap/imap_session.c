/*
 * imap_session.c - the IMAP server session: states, the command loop,
 * capabilities, authentication, ENABLE, ID, IDLE, COMPRESS, and the
 * hand-off to the selected-mailbox view (imap_view.h).
 *
 * RFC 9051 (IMAP4rev2) and RFC 3501 (IMAP4rev1): states (section 3),
 * command/response (section 7), STARTTLS and LOGINDISABLED (6.2.1, 6.2.3),
 * AUTHENTICATE (6.2.2) with SASL-IR (RFC 4959) through src/auth/sasl.h,
 * ENABLE (RFC 5161), ID (RFC 2971), IDLE (RFC 2177), COMPRESS (RFC 4978),
 * UNSELECT (RFC 3691), the CLOSED response code (RFC 7162 3.2.11),
 * LITERAL+/LITERAL- (RFC 7888), UTF8=ACCEPT (RFC 6855).
 *
 * Untrusted input before authentication.  The command reader frames the
 * input and enforces the size limits (tighter before login); the parser
 * types each command; here every command is checked against the state it
 * is allowed in (one table, one place for the BAD), then run.  Passwords
 * go back to the connection (IMAP_SESSION_AUTH) to be checked on the loop
 * behind the brute-force throttle; SCRAM keys are looked up and proofs
 * checked here, but the same throttle first lets the exchange go on
 * (IMAP_SESSION_AUTH_GATE) and then hears how it ended
 * (imap_session_auth_outcome).  After
 * IMAP_MAX_AUTH_FAILURES failed logins or IMAP_MAX_BAD_COMMANDS BADs in a
 * row: BYE.
 */
#include "imap/imap_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/sasl.h"
#include "imap/imap_parse.h"
#include "imap/imap_session_int.h"
#include "imap/imap_view.h"
#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"
#include "store/accounts.h"
#include "store/mailstore.h"

#define IMAP_SERVER_NAME	"postino"
#define IMAP_SERVER_VERSION	"0.1"

/* Arena of one command: twice the parser's ceiling (imap_parse.h); small
 * chunks, as an idle session keeps one. */
#define IMAP_ARENA_CHUNK	(4u * 1024)
#define IMAP_ARENA_MAX		(2 * IMAP_MAX_PARSE_MEMORY + 64u * 1024)

static const char *const state_names[] = {
	"NOTAUTH", "AUTH", "SELECTED", "LOGOUT",
};

#define ST(x)		(1u << IMAP_STATE_##x)
#define ST_ANY		(ST(NOTAUTH) | ST(AUTH) | ST(SELECTED))
#define ST_LOGGED_IN	(ST(AUTH) | ST(SELECTED))

/* ---- output ---------------------------------------------------- */

static void
out_overflow(struct imap_session *s)
{
	if (!(s->flags & IMAP_F_CLOSE))
		log_info("imap output overflow sid=%s peer=%s", s->sid,
		    s->addr);
	s->flags |= IMAP_F_CLOSE;
}

void
imap_out(struct imap_session *s, struct buf *out, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = buf_vprintf(out, fmt, ap);
	va_end(ap);
	if (r < 0 || buf_append(out, "\r\n", 2) < 0)
		out_overflow(s);
}

void
imap_out_raw(struct imap_session *s, struct buf *out, const void *p,
    size_t n)
{
	if (buf_append(out, p, n) < 0)
		out_overflow(s);
}

void
imap_result(struct imap_call *c, enum imap_result_status st,
    const char *code, const char *fmt, ...)
{
	va_list ap;

	c->res.status = st;
	snprintf(c->res.code, sizeof(c->res.code), "%s", code);
	c->res.code_long = NULL;
	va_start(ap, fmt);
	vsnprintf(c->res.text, sizeof(c->res.text), fmt, ap);
	va_end(ap);
}

void
imap_put_quoted(struct imap_session *s, struct buf *out, const char *p,
    size_t len)
{
	size_t i, start = 0;

	imap_out_raw(s, out, "\"", 1);
	for (i = 0; i < len; i++) {
		if (p[i] != '"' && p[i] != '\\')
			continue;
		imap_out_raw(s, out, p + start, i - start);
		imap_out_raw(s, out, "\\", 1);
		start = i;
	}
	imap_out_raw(s, out, p + start, len - start);
	imap_out_raw(s, out, "\"", 1);
}

int
imap_put_mailbox(struct imap_session *s, struct buf *out, const char *name)
{
	struct buf enc;

	if (s->opts.utf8) {
		imap_put_quoted(s, out, name, strlen(name));
		return 0;
	}
	buf_init(&enc, 8 * STORE_MAX_MAILBOX_NAME);
	if (imap_utf8_to_mutf7(span_from_str(name), &enc) < 0) {
		buf_fini(&enc);
		return -1;
	}
	imap_put_quoted(s, out, buf_cstr(&enc), enc.len);
	buf_fini(&enc);
	return 0;
}

/* tagged - "tag STATUS [code] text", or "* ..." without a tag */
static void
tagged(struct imap_session *s, struct buf *out, struct span tag,
    enum imap_result_status st, const char *code, const char *text)
{
	static const char *const names[] = { "OK", "NO", "BAD" };

	if (tag.len == 0)
		tag = SPAN_LIT("*");
	imap_out(s, out, "%.*s %s %s%s%s%s", (int)tag.len,
	    (const char *)tag.p, names[st], code[0] != '\0' ? "[" : "",
	    code, code[0] != '\0' ? "] " : "", text);
	if (st == IMAP_RESULT_BAD) {
		s->bad_commands++;
		if (s->bad_commands >= IMAP_MAX_BAD_COMMANDS &&
		    !(s->flags & IMAP_F_CLOSE)) {
			log_info("imap too many bad commands sid=%s peer=%s",
			    s->sid, s->addr);
			imap_out(s, out, "* BYE Too many invalid commands");
			s->state = IMAP_STATE_LOGOUT;
			s->flags |= IMAP_F_CLOSE;
		}
	} else {
		s->bad_commands = 0;
	}
}

static void
set_state(struct imap_session *s, enum imap_state st)
{
	if (s->state != st)
		log_debug("imap state sid=%s %s -> %s", s->sid,
		    state_names[s->state], state_names[st]);
	s->state = st;
}

static void
save_tag(struct imap_session *s, struct span tag)
{
	free(s->tag);
	s->tag = xstrndup((const char *)tag.p, tag.len);
}

static struct span
saved_tag(const struct imap_session *s)
{
	return s->tag != NULL ? span_from_str(s->tag) : SPAN_LIT("*");
}

/* ---- capabilities ---------------------------------------------- */

static bool
plaintext_ok(const struct imap_session *s)
{
	return (s->flags & IMAP_F_TLS) ||
	    (s->is_loopback && s->plaintext_loopback);
}

/*
 * Extensions (the same in every state).  COMPRESS is done by the
 * connection (imap_conn.c), SORT and THREAD by the view.
 */
static const char caps_common[] =
    "IMAP4rev1 IMAP4rev2 SASL-IR ID ENABLE IDLE NAMESPACE UNSELECT "
    "UIDPLUS MOVE CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE "
    "CREATE-SPECIAL-USE STATUS=SIZE MULTIAPPEND BINARY ESEARCH SEARCHRES "
    "CONDSTORE QRESYNC COMPRESS=DEFLATE UTF8=ACCEPT SORT SORT=DISPLAY "
    "THREAD=ORDEREDSUBJECT THREAD=REFERENCES QUOTA QUOTA=RES-STORAGE";

static void
cap_list(const struct imap_session *s, char *out, size_t outsize)
{
	int n;

	n = snprintf(out, outsize, "%s APPENDLIMIT=%llu %s", caps_common,
	    (unsigned long long)s->append_limit,
	    s->state == IMAP_STATE_NOTAUTH ? "LITERAL-" : "LITERAL+");
	if (s->state != IMAP_STATE_NOTAUTH || n < 0 || (size_t)n >= outsize)
		return;
	if (s->tls_available && !(s->flags & IMAP_F_TLS))
		n += snprintf(out + n, outsize - (size_t)n, " STARTTLS");
	if (plaintext_ok(s))
		snprintf(out + n, outsize - (size_t)n,
		    " AUTH=PLAIN AUTH=SCRAM-SHA-256");
	else
		snprintf(out + n, outsize - (size_t)n,
		    " AUTH=SCRAM-SHA-256 LOGINDISABLED");
}

/* ---- life cycle ------------------------------------------------ */

static void
set_reader_limits(struct imap_session *s)
{
	struct imap_reader_limits l;

	if (s->state == IMAP_STATE_NOTAUTH) {
		imap_reader_limits_default(&l, true, true);
	} else {
		imap_reader_limits_default(&l, false, false);
		l.append_max = (size_t)s->append_limit;
	}
	if (s->reader == NULL)
		s->reader = imap_reader_new(&l);
	else
		imap_reader_set_limits(s->reader, &l);
}

struct imap_session *
imap_session_new(const struct imap_session_config *cfg,
    const struct imap_peer *peer)
{
	struct imap_session *s = xcalloc(1, sizeof(*s));

	s->hostname = xstrdup(cfg->hostname != NULL ? cfg->hostname :
	    "localhost");
	s->data_dir = xstrdup(cfg->data_dir != NULL ? cfg->data_dir : ".");
	s->tls_available = cfg->tls_available;
	s->plaintext_loopback = cfg->plaintext_loopback;
	s->append_limit = cfg->append_limit != 0 ? cfg->append_limit :
	    IMAP_MAX_APPEND;
	s->quota_default = cfg->quota_default;
	if (cfg->sasl_secret != NULL && cfg->sasl_secret_len > 0) {
		s->sasl_secret = xmalloc(cfg->sasl_secret_len);
		memcpy(s->sasl_secret, cfg->sasl_secret,
		    cfg->sasl_secret_len);
		s->sasl_secret_len = cfg->sasl_secret_len;
		s->sasl_cfg.secret = s->sasl_secret;
		s->sasl_cfg.secret_len = s->sasl_secret_len;
	}
	s->sid = xstrdup(peer->session_id != NULL ? peer->session_id : "-");
	s->addr = xstrdup(peer->addr != NULL ? peer->addr : "-");
	s->is_loopback = peer->is_loopback;
	if (peer->is_tls)
		s->flags |= IMAP_F_TLS;
	s->state = IMAP_STATE_NOTAUTH;
	s->outcome = IMAP_AUTH_TEMP;	/* nothing to report */
	s->arena = arena_new("imap-command", IMAP_ARENA_CHUNK,
	    IMAP_ARENA_MAX);
	set_reader_limits(s);
	return s;
}

static void
wipe_str(char **p)
{
	if (*p == NULL)
		return;
	explicit_wipe(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

static void
forget_credentials(struct imap_session *s)
{
	wipe_str(&s->login_user);
	wipe_str(&s->login_pass);
	sasl_free(&s->sasl);
	s->flags &= ~(IMAP_F_SASL | IMAP_F_SASL_ACK | IMAP_F_AUTH_PENDING |
	    IMAP_F_AUTH_GATE);
}

static enum imap_session_status current(const struct imap_session *s);

/* set_outcome - a SCRAM result for the throttle (auth_outcome) */
static void
set_outcome(struct imap_session *s, enum imap_auth_result r,
    const char *user)
{
	free(s->outcome_user);
	s->outcome_user = user != NULL && user[0] != '\0' ? xstrdup(user) :
	    NULL;
	s->outcome = r;
}

enum imap_auth_result
imap_session_auth_outcome(struct imap_session *s, const char **user_r)
{
	enum imap_auth_result r = s->outcome;

	*user_r = s->outcome_user;
	s->outcome = IMAP_AUTH_TEMP;
	return r;
}

void
imap_session_free(struct imap_session **sp)
{
	struct imap_session *s = *sp;

	if (s == NULL)
		return;
	forget_credentials(s);
	free(s->outcome_user);
	imap_append_literals_drop(s);
	free(s->lits);
	if (s->view != NULL)
		imap_view_free(&s->view);
	imap_reader_free(&s->reader);
	arena_free(&s->arena);
	free(s->tag);
	free(s->user);
	if (s->sasl_secret != NULL) {
		explicit_wipe(s->sasl_secret, s->sasl_secret_len);
		free(s->sasl_secret);
	}
	free(s->sid);
	free(s->addr);
	free(s->hostname);
	free(s->data_dir);
	free(s);
	*sp = NULL;
}

void
imap_session_greeting(struct imap_session *s, struct buf *out)
{
	char caps[1024];

	cap_list(s, caps, sizeof(caps));
	imap_out(s, out, "* OK [CAPABILITY %s] %s IMAP4rev2 server ready",
	    caps, s->hostname);
}

int64_t
imap_session_user_id(const struct imap_session *s)
{
	return s->state == IMAP_STATE_AUTH || s->state == IMAP_STATE_SELECTED ?
	    s->user_id : 0;
}

void
imap_session_bye(struct imap_session *s, const char *reason,
    struct buf *out)
{
	imap_out(s, out, "* BYE %s", reason);
	set_state(s, IMAP_STATE_LOGOUT);
	s->flags |= IMAP_F_CLOSE;
}

void
imap_session_tls_started(struct imap_session *s)
{
	s->flags |= IMAP_F_TLS;
	log_debug("imap tls sid=%s", s->sid);
}

/*
 * session_store - the account's store handle on this worker, with the
 * account's quota (the handle is shared by the account's sessions on this
 * thread, and all of them carry the same limit)
 */
static struct mailstore *
session_store(struct imap_session *s, const struct imap_env *env,
    const char **error_r)
{
	struct mailstore *ms;

	*error_r = "no store cache";
	if (env == NULL || env->stores == NULL)
		return NULL;
	ms = imap_store_cache_get(env->stores, s->user_id, error_r);
	if (ms != NULL)
		mailstore_set_quota(ms, s->quota);
	return ms;
}

struct mailstore *
imap_call_store(struct imap_call *c)
{
	const char *err = NULL;
	struct mailstore *ms = session_store(c->s, c->env, &err);

	if (ms == NULL) {
		log_warn("imap store unavailable sid=%s user=%s error=\"%s\"",
		    c->s->sid, c->s->user != NULL ? c->s->user : "-", err);
		imap_result(c, IMAP_RESULT_NO, "UNAVAILABLE",
		    "Mailbox store unavailable, try again later");
	}
	return ms;
}

/* ---- commands of any state ------------------------------------- */

static enum imap_session_status
cmd_capability(struct imap_call *c)
{
	char caps[1024];

	cap_list(c->s, caps, sizeof(caps));
	imap_out(c->s, c->out, "* CAPABILITY %s", caps);
	imap_result(c, IMAP_RESULT_OK, "", "CAPABILITY completed");
	return IMAP_SESSION_OK;
}

static enum imap_session_status
cmd_noop(struct imap_call *c)
{
	imap_result(c, IMAP_RESULT_OK, "", "NOOP completed");
	return IMAP_SESSION_OK;
}

static enum imap_session_status
cmd_logout(struct imap_call *c)
{
	imap_out(c->s, c->out, "* BYE Logging out");
	imap_result(c, IMAP_RESULT_OK, "", "LOGOUT completed");
	c->no_sync = true;
	set_state(c->s, IMAP_STATE_LOGOUT);
	c->s->flags |= IMAP_F_CLOSE;
	return IMAP_SESSION_CLOSE;
}

static enum imap_session_status
cmd_id(struct imap_call *c)
{
	struct imap_session *s = c->s;
	unsigned i;

	if (!c->cmd->u.id.is_nil && !(s->flags & IMAP_F_ID_LOGGED) &&
	    log_enabled(LOG_LEVEL_INFO)) {
		char line[1024];
		size_t n = 0;

		line[0] = '\0';
		for (i = 0; i < c->cmd->u.id.count && n < sizeof(line) / 2;
		    i++) {
			const struct imap_id_param *p = &c->cmd->u.id.params[i];
			char k[LOG_ESCAPE_BUFSIZE], v[LOG_ESCAPE_BUFSIZE];
			int w;

			log_escape(k, sizeof(k), p->key.p, p->key.len);
			if (p->value.is_nil || p->value.s.p == NULL)
				snprintf(v, sizeof(v), "NIL");
			else
				log_escape(v, sizeof(v), p->value.s.p,
				    p->value.s.len);
			w = snprintf(line + n, sizeof(line) - n, "%s%s=\"%s\"",
			    n > 0 ? " " : "", k, v);
			if (w < 0 || (size_t)w >= sizeof(line) - n)
				break;
			n += (size_t)w;
		}
		log_info("imap id sid=%s peer=%s %s", s->sid, s->addr, line);
		s->flags |= IMAP_F_ID_LOGGED;	/* once: no log flood */
	}
	imap_out(s, c->out, "* ID (\"name\" \"" IMAP_SERVER_NAME
	    "\" \"version\" \"" IMAP_SERVER_VERSION "\")");
	imap_result(c, IMAP_RESULT_OK, "", "ID completed");
	return IMAP_SESSION_OK;
}

/* ---- not authenticated ----------------------------------------- */

static enum imap_session_status
cmd_starttls(struct imap_call *c)
{
	struct imap_session *s = c->s;

	if (!s->tls_available) {
		imap_result(c, IMAP_RESULT_BAD, "", "STARTTLS not available");
		return IMAP_SESSION_OK;
	}
	if (s->flags & IMAP_F_TLS) {
		imap_result(c, IMAP_RESULT_BAD, "", "TLS is already active");
		return IMAP_SESSION_OK;
	}
	forget_credentials(s);
	imap_result(c, IMAP_RESULT_OK, "", "Begin TLS negotiation now");
	/* nothing after this command is read as plaintext (RFC 9051 6.2.1,
	 * the command-injection attack of RFC 2595 section 3.1) */
	return IMAP_SESSION_STARTTLS;
}

/* auth_failed - a wrong password or SCRAM proof */
static enum imap_session_status
auth_failed(struct imap_session *s, const char *user, struct buf *out)
{
	char esc[LOG_ESCAPE_BUFSIZE];

	s->auth_failures++;
	log_info("imap auth failed sid=%s peer=%s user=\"%s\" failures=%u",
	    s->sid, s->addr, user != NULL ? log_escape(esc, sizeof(esc), user,
	    strlen(user)) : "", s->auth_failures);
	tagged(s, out, saved_tag(s), IMAP_RESULT_NO, "AUTHENTICATIONFAILED",
	    "Authentication failed");
	if (s->auth_failures >= IMAP_MAX_AUTH_FAILURES) {
		imap_session_bye(s, "Too many authentication failures", out);
		return IMAP_SESSION_CLOSE;
	}
	return IMAP_SESSION_OK;
}

static enum imap_session_status
cmd_login(struct imap_call *c)
{
	struct imap_session *s = c->s;
	struct span u = c->cmd->u.login.user, p = c->cmd->u.login.pass;
	enum imap_session_status st = IMAP_SESSION_OK;

	if (!plaintext_ok(s)) {
		imap_result(c, IMAP_RESULT_NO, "PRIVACYREQUIRED",
		    "Plaintext login is disallowed without TLS");
	} else if (u.len == 0 || u.len > SASL_MAX_USER || p.len == 0 ||
	    p.len > SASL_MAX_PASSWORD || span_has_nul(u) || span_has_nul(p)) {
		/* cannot be right: a failure without asking the loop */
		save_tag(s, c->cmd->tag);
		st = auth_failed(s, NULL, c->out);
		c->res.text[0] = '\0';		/* written already */
		c->no_sync = true;
	} else {
		forget_credentials(s);
		s->login_user = xstrndup((const char *)u.p, u.len);
		s->login_pass = xstrndup((const char *)p.p, p.len);
		save_tag(s, c->cmd->tag);
		s->flags |= IMAP_F_AUTH_PENDING;
		st = IMAP_SESSION_AUTH;
	}
	/* the arena copies are not needed any more */
	explicit_wipe((void *)(uintptr_t)u.p, u.len);
	explicit_wipe((void *)(uintptr_t)p.p, p.len);
	return st;
}

/* finish_login - the account is known to be right: enter AUTH */
static enum imap_session_status
finish_login(struct imap_session *s, const struct imap_env *env,
    const char *account, struct buf *out)
{
	struct accounts_user u;
	const char *err = "no accounts handle";
	struct mailstore *ms = NULL;
	char caps[1024];
	int r = -1;

	if (env != NULL && env->accounts != NULL)
		r = accounts_user_lookup(env->accounts, account, &u, &err);
	if (r == 1 && env->stores != NULL)
		ms = imap_store_cache_get(env->stores, u.id, &err);
	if (r != 1 || ms == NULL) {
		log_warn("imap login failed sid=%s peer=%s error=\"%s\"",
		    s->sid, s->addr, r == 0 ? "no such account" : err);
		tagged(s, out, saved_tag(s), IMAP_RESULT_NO, "UNAVAILABLE",
		    "Account temporarily unavailable");
		return IMAP_SESSION_OK;
	}
	free(s->user);
	s->user = xstrdup(u.address);
	s->user_id = u.id;
	/* XXX: read at login; a change by the CLI counts from the next one */
	s->quota = u.quota_bytes != 0 ? u.quota_bytes : s->quota_default;
	mailstore_set_quota(ms, s->quota);
	set_state(s, IMAP_STATE_AUTH);
	set_reader_limits(s);
	log_info("imap login sid=%s peer=%s user=%s", s->sid, s->addr,
	    s->user);
	cap_list(s, caps, sizeof(caps));
	{
		char code[1100];

		snprintf(code, sizeof(code), "CAPABILITY %s", caps);
		tagged(s, out, saved_tag(s), IMAP_RESULT_OK, code,
		    "Logged in");
	}
	return IMAP_SESSION_OK;
}

void
imap_session_auth_request(const struct imap_session *s,
    const char **user_r, const char **password_r)
{
	if (s->sasl != NULL) {
		*user_r = sasl_user(s->sasl);
		*password_r = sasl_password(s->sasl);
	} else {
		*user_r = s->login_user;
		*password_r = s->login_pass;
	}
	if (*user_r == NULL)
		*user_r = "";
	if (*password_r == NULL)
		*password_r = "";
}

enum imap_session_status
imap_session_auth_done(struct imap_session *s, const struct imap_env *env,
    enum imap_auth_result r, const char *account, struct buf *out)
{
	enum imap_session_status st = IMAP_SESSION_OK;
	char *user;

	if (!(s->flags & IMAP_F_AUTH_PENDING))
		return (s->flags & IMAP_F_CLOSE) ? IMAP_SESSION_CLOSE :
		    IMAP_SESSION_OK;
	user = xstrdup(s->sasl != NULL && sasl_user(s->sasl) != NULL ?
	    sasl_user(s->sasl) : s->login_user != NULL ? s->login_user : "");
	if (s->sasl != NULL)
		(void)sasl_verify_done(s->sasl, r == IMAP_AUTH_OK);
	forget_credentials(s);
	switch (r) {
	case IMAP_AUTH_OK:
		st = finish_login(s, env, account != NULL ? account : user,
		    out);
		break;
	case IMAP_AUTH_BAD:
		st = auth_failed(s, user, out);
		break;
	case IMAP_AUTH_THROTTLED:
		tagged(s, out, saved_tag(s), IMAP_RESULT_NO, "UNAVAILABLE",
		    "Too many failed logins, try again later");
		break;
	case IMAP_AUTH_TEMP:
	default:
		tagged(s, out, saved_tag(s), IMAP_RESULT_NO, "UNAVAILABLE",
		    "Authentication temporarily unavailable");
		break;
	}
	wipe_str(&user);
	if (s->flags & IMAP_F_CLOSE)
		st = IMAP_SESSION_CLOSE;
	return st;
}

/* send_challenge - "+ base64" of a SASL challenge; -1 if too long */
static int
send_challenge(struct imap_session *s, const struct buf *chal,
    struct buf *out)
{
	struct buf enc;

	buf_init(&enc, 2 * SASL_MAX_RESPONSE);
	if (sasl_base64_encode(span_make(chal->data, chal->len), &enc) < 0) {
		buf_fini(&enc);
		return -1;
	}
	imap_out(s, out, "+ %s", buf_cstr(&enc));
	buf_fini(&enc);
	imap_reader_expect_raw_line(s->reader);
	return 0;
}

/*
 * sasl_advance - act on the outcome of a SASL step whose output is in
 * chal (not yet sent)
 */
static enum imap_session_status
sasl_advance(struct imap_session *s, const struct imap_env *env,
    enum sasl_status st, struct buf *chal, struct buf *out)
{
	for (;;) {
		switch (st) {
		case SASL_CONTINUE:
			if (send_challenge(s, chal, out) < 0)
				break;
			s->flags |= IMAP_F_SASL;
			return IMAP_SESSION_OK;
		case SASL_OK:
			if (chal->len > 0) {
				/* RFC 9051 6.2.2: server-final data goes
				 * out as a challenge, answered empty */
				if (send_challenge(s, chal, out) < 0)
					break;
				s->flags |= IMAP_F_SASL_ACK;
				return IMAP_SESSION_OK;
			}
			{
				char *user = xstrdup(sasl_user(s->sasl));
				enum imap_session_status r;

				/* SCRAM (checked here): the throttle clears
				 * the account; PLAIN went through the loop */
				if (sasl_mech(s->sasl) ==
				    SASL_MECH_SCRAM_SHA_256)
					set_outcome(s, IMAP_AUTH_OK, user);
				forget_credentials(s);
				r = finish_login(s, env, user, out);
				free(user);
				return r;
			}
		case SASL_VERIFY:
			s->flags |= IMAP_F_AUTH_PENDING;
			return IMAP_SESSION_AUTH;
		case SASL_LOOKUP:
			/* the throttle decides on the loop first */
			s->flags |= IMAP_F_AUTH_GATE;
			return IMAP_SESSION_AUTH_GATE;
		case SASL_FAIL: {
			char *user = xstrdup(s->sasl != NULL &&
			    sasl_user(s->sasl) != NULL ? sasl_user(s->sasl) :
			    "");
			enum imap_session_status r;

			/* PLAIN/LOGIN failures reach the throttle through
			 * the loop; this one is ours to report */
			set_outcome(s, IMAP_AUTH_BAD, user);
			forget_credentials(s);
			r = auth_failed(s, user, out);
			free(user);
			return r;
		}
		case SASL_BAD:
			break;
		}
		break;
	}
	forget_credentials(s);
	tagged(s, out, saved_tag(s), IMAP_RESULT_BAD, "",
	    "Malformed SASL response");
	return IMAP_SESSION_OK;
}

/*
 * scram_keys - the SCRAM step after SASL_LOOKUP: the user's keys (or none,
 * for an unknown user) into the exchange, server-first appended to chal.
 * Returns the SASL status, or -1 when the accounts cannot be read.
 */
static int
scram_keys(struct imap_session *s, const struct imap_env *env,
    struct buf *chal, enum sasl_status *st_r)
{
	struct accounts_scram k;
	struct sasl_scram_keys keys;
	const char *err = "no accounts handle";
	int r = -1;

	if (env != NULL && env->accounts != NULL)
		r = accounts_user_scram(env->accounts, sasl_user(s->sasl), &k,
		    &err);
	if (r < 0) {
		log_warn("imap scram lookup failed sid=%s error=\"%s\"",
		    s->sid, err);
		return -1;
	}
	memset(&keys, 0, sizeof(keys));
	if (r == 1) {
		memcpy(keys.salt, k.salt, k.salt_len);
		keys.salt_len = k.salt_len;
		keys.iterations = k.iterations;
		memcpy(keys.stored_key, k.stored_key,
		    sizeof(keys.stored_key));
		memcpy(keys.server_key, k.server_key,
		    sizeof(keys.server_key));
	}
	buf_reset(chal);
	*st_r = sasl_scram_done(s->sasl, r == 1 ? &keys : NULL, chal);
	explicit_wipe(&k, sizeof(k));
	explicit_wipe(&keys, sizeof(keys));
	return 0;
}

enum imap_session_status
imap_session_auth_gate(struct imap_session *s, const struct imap_env *env,
    bool allowed, struct buf *out)
{
	enum imap_session_status r;
	enum sasl_status st;
	struct buf chal;

	if (!(s->flags & IMAP_F_AUTH_GATE) || s->sasl == NULL)
		return current(s);
	s->flags &= ~IMAP_F_AUTH_GATE;
	if (!allowed) {
		log_info("imap auth refused sid=%s peer=%s mech=SCRAM-SHA-256 "
		    "reason=throttled", s->sid, s->addr);
		forget_credentials(s);
		tagged(s, out, saved_tag(s), IMAP_RESULT_NO, "UNAVAILABLE",
		    "Too many failed logins, try again later");
		return current(s);
	}
	buf_init(&chal, SASL_MAX_RESPONSE);
	if (scram_keys(s, env, &chal, &st) < 0) {
		buf_fini_wipe(&chal);
		forget_credentials(s);
		tagged(s, out, saved_tag(s), IMAP_RESULT_NO, "UNAVAILABLE",
		    "Authentication temporarily unavailable");
		return current(s);
	}
	r = sasl_advance(s, env, st, &chal, out);
	buf_fini_wipe(&chal);
	return r;
}

static enum imap_session_status
cmd_authenticate(struct imap_call *c)
{
	struct imap_session *s = c->s;
	struct imap_command *cmd = c->cmd;
	enum sasl_mech m;
	enum sasl_status st;
	struct buf resp, chal;
	enum imap_session_status r;

	if (!sasl_mech_lookup(cmd->u.authenticate.mech, false, &m) ||
	    m == SASL_MECH_SCRAM_SHA_256_PLUS) {
		imap_result(c, IMAP_RESULT_NO, "CANNOT",
		    "Unsupported authentication mechanism");
		return IMAP_SESSION_OK;
	}
	if ((m == SASL_MECH_PLAIN || m == SASL_MECH_LOGIN) &&
	    !plaintext_ok(s)) {
		imap_result(c, IMAP_RESULT_NO, "PRIVACYREQUIRED",
		    "Plaintext authentication is disallowed without TLS");
		return IMAP_SESSION_OK;
	}
	forget_credentials(s);
	save_tag(s, cmd->tag);
	s->sasl = sasl_new(m, &s->sasl_cfg);
	buf_init(&resp, SASL_MAX_RESPONSE);
	buf_init(&chal, SASL_MAX_RESPONSE);
	if (!cmd->u.authenticate.has_ir) {
		st = sasl_step(s->sasl, NULL, &chal);
	} else if (cmd->u.authenticate.ir.len == 1 &&
	    cmd->u.authenticate.ir.p[0] == '=') {
		struct span empty = span_make((const uint8_t *)"", 0);

		st = sasl_step(s->sasl, &empty, &chal);
	} else if (sasl_base64_decode(cmd->u.authenticate.ir, &resp) < 0) {
		st = SASL_BAD;
	} else {
		struct span rs = span_make(resp.data, resp.len);

		st = sasl_step(s->sasl, &rs, &chal);
	}
	buf_fini_wipe(&resp);
	r = sasl_advance(s, c->env, st, &chal, c->out);
	buf_fini_wipe(&chal);
	/* the tagged response (if any) is out already */
	c->res.status = IMAP_RESULT_OK;
	c->res.text[0] = '\0';
	c->no_sync = true;
	return r;
}

/* sasl_line - a client response during AUTHENTICATE (raw line) */
static enum imap_session_status
sasl_line(struct imap_session *s, const struct imap_env *env,
    struct span line, struct buf *out)
{
	struct buf resp, chal;
	enum sasl_status st;
	enum imap_session_status r;

	if (line.len >= 2 && line.p[line.len - 2] == '\r')
		line.len -= 2;
	else if (line.len >= 1)
		line.len -= 1;
	if (line.len == 1 && line.p[0] == '*') {
		forget_credentials(s);
		tagged(s, out, saved_tag(s), IMAP_RESULT_BAD, "",
		    "Authentication cancelled");
		return IMAP_SESSION_OK;
	}
	if (s->flags & IMAP_F_SASL_ACK) {
		s->flags &= ~IMAP_F_SASL_ACK;
		if (line.len != 0) {
			forget_credentials(s);
			tagged(s, out, saved_tag(s), IMAP_RESULT_BAD, "",
			    "Expected an empty response");
			return IMAP_SESSION_OK;
		}
		buf_init(&chal, 16);
		r = sasl_advance(s, env, SASL_OK, &chal, out);
		buf_fini(&chal);
		return r;
	}
	s->flags &= ~IMAP_F_SASL;
	buf_init(&resp, SASL_MAX_RESPONSE);
	buf_init(&chal, SASL_MAX_RESPONSE);
	if (sasl_base64_decode(line, &resp) < 0) {
		st = SASL_BAD;
	} else {
		struct span rs = span_make(resp.data, resp.len);

		st = sasl_step(s->sasl, &rs, &chal);
	}
	buf_fini_wipe(&resp);
	r = sasl_advance(s, env, st, &chal, out);
	buf_fini_wipe(&chal);
	return r;
}

/* ---- authenticated --------------------------------------------- */

static enum imap_session_status
cmd_enable(struct imap_call *c)
{
	struct imap_session *s = c->s;
	char enabled[128];
	size_t n = 0;
	unsigned i;

	enabled[0] = '\0';
	for (i = 0; i < c->cmd->u.enable.count; i++) {
		struct span cap = c->cmd->u.enable.caps[i];
		const char *name = NULL;

		if (span_eq_str_ci(cap, "IMAP4rev2")) {
			if (!s->opts.rev2)
				name = "IMAP4rev2";
			s->opts.rev2 = true;
			s->opts.utf8 = true;
		} else if (span_eq_str_ci(cap, "CONDSTORE")) {
			if (!s->opts.condstore)
				name = "CONDSTORE";
			s->opts.condstore = true;
		} else if (span_eq_str_ci(cap, "QRESYNC")) {
			if (!s->opts.qresync)
				name = "QRESYNC";
			s->opts.qresync = true;
			s->opts.condstore = true;
		} else if (span_eq_str_ci(cap, "UTF8=ACCEPT")) {
			if (!s->opts.utf8)
				name = "UTF8=ACCEPT";
			s->opts.utf8 = true;
		}
		/* RFC 5161: unknown extensions are ignored */
		if (name != NULL && n + strlen(name) + 2 < sizeof(enabled))
			n += (size_t)snprintf(enabled + n, sizeof(enabled) - n,
			    " %s", name);
	}
	imap_out(s, c->out, "* ENABLED%s", enabled);
	imap_result(c, IMAP_RESULT_OK, "", "ENABLE completed");
	return IMAP_SESSION_OK;
}

/* close_view - leave the selected state */
static void
close_view(struct imap_session *s)
{
	if (s->view != NULL)
		imap_view_free(&s->view);
	if (s->state == IMAP_STATE_SELECTED)
		set_state(s, IMAP_STATE_AUTH);
}

/*
 * sync_view - the untagged updates of the selected mailbox.  When the
 * mailbox went away under the view (deleted or renamed by another
 * session or the CLI), there is nothing sensible to number any more:
 * BYE, as Dovecot does.  0, or -1 when the session is closing.
 */
static int
sync_view(struct imap_session *s, const struct imap_env *env,
    bool expunge_ok, struct buf *out)
{
	struct mailstore *ms;
	const char *err = NULL;

	if (s->view == NULL)
		return 0;
	if ((ms = session_store(s, env, &err)) == NULL)
		return 0;	/* the command itself said so */
	if (imap_view_sync(s->view, ms, &s->opts, expunge_ok, out) == 0)
		return 0;
	if (mailstore_mailbox_state(ms, imap_view_mailbox(s->view), NULL,
	    NULL, NULL, &err) != 0)
		return 0;	/* a passing store error: next time */
	log_info("imap selected mailbox gone sid=%s user=%s", s->sid,
	    s->user != NULL ? s->user : "-");
	close_view(s);
	imap_session_bye(s, "Selected mailbox was deleted, have to "
	    "disconnect", out);
	return -1;
}

int
imap_selected_sync(struct imap_call *c)
{
	return sync_view(c->s, c->env, true, c->out);
}

void
imap_selected_renamed(struct imap_call *c, struct mailstore *ms,
    const char *name)
{
	struct imap_session *s = c->s;
	struct imap_command sel;
	struct imap_result r;
	struct imap_view *v;
	struct buf scratch;
	bool ro;

	if (s->view == NULL)
		return;
	ro = imap_view_readonly(s->view);
	memset(&sel, 0, sizeof(sel));
	sel.tag = c->cmd->tag;
	sel.name = ro ? IMAP_CMD_EXAMINE : IMAP_CMD_SELECT;
	sel.u.select.mbox.name = name;
	sel.u.select.mbox.len = strlen(name);
	/* the client was told everything just before the rename (the same
	 * messages, the same UIDs): what SELECT would say is old news */
	buf_init(&scratch, 4u * 1024 * 1024);
	memset(&r, 0, sizeof(r));
	v = imap_view_open(ms, &sel, ro, &s->opts, &scratch, &r);
	buf_fini(&scratch);
	if (v != NULL)
		imap_view_take_recent(v, s->view);
	close_view(s);
	if (v == NULL) {
		log_warn("imap reselect after rename failed sid=%s", s->sid);
		imap_session_bye(s, "Selected mailbox was renamed, have to "
		    "disconnect", c->out);
		return;
	}
	s->view = v;
	set_state(s, IMAP_STATE_SELECTED);
}

static enum imap_session_status
cmd_select(struct imap_call *c)
{
	struct imap_session *s = c->s;
	struct imap_command *cmd = c->cmd;
	struct mailstore *ms;
	struct imap_view *v;

	c->no_sync = true;
	if (s->view != NULL) {
		/* RFC 9051 6.3.2, RFC 7162 3.2.11 */
		close_view(s);
		imap_out(s, c->out,
		    "* OK [CLOSED] Previous mailbox is now closed");
	}
	if (cmd->u.select.qresync && !s->opts.qresync) {
		imap_result(c, IMAP_RESULT_BAD, "CLIENTBUG",
		    "QRESYNC parameter without ENABLE QRESYNC");
		return IMAP_SESSION_OK;
	}
	if (cmd->u.select.condstore)
		s->opts.condstore = true;
	if ((ms = imap_call_store(c)) == NULL)
		return IMAP_SESSION_OK;
	v = imap_view_open(ms, cmd, cmd->name == IMAP_CMD_EXAMINE, &s->opts,
	    c->out, &c->res);
	if (v == NULL)
		return IMAP_SESSION_OK;
	s->view = v;
	set_state(s, IMAP_STATE_SELECTED);
	return IMAP_SESSION_OK;
}

static enum imap_session_status
cmd_close(struct imap_call *c)
{
	struct imap_session *s = c->s;
	struct mailstore *ms;

	c->no_sync = true;
	if (c->cmd->name == IMAP_CMD_CLOSE && !imap_view_readonly(s->view)) {
		if ((ms = imap_call_store(c)) == NULL)
			return IMAP_SESSION_OK;
		if (imap_view_close_expunge(s->view, ms) < 0) {
			imap_result(c, IMAP_RESULT_NO, "SERVERBUG",
			    "Expunge failed");
			return IMAP_SESSION_OK;
		}
	}
	close_view(s);
	imap_result(c, IMAP_RESULT_OK, "", "%s completed",
	    c->cmd->name == IMAP_CMD_CLOSE ? "CLOSE" : "UNSELECT");
	return IMAP_SESSION_OK;
}

static enum imap_session_status
cmd_idle(struct imap_call *c)
{
	struct imap_session *s = c->s;

	if (s->view != NULL) {
		if (imap_call_store(c) == NULL)
			return IMAP_SESSION_OK;
		if (sync_view(s, c->env, true, c->out) < 0) {
			c->no_sync = true;
			c->res.text[0] = '\0';
			return IMAP_SESSION_CLOSE;
		}
	}
	imap_out(s, c->out, "+ idling");
	save_tag(s, c->cmd->tag);
	s->flags |= IMAP_F_IDLE;
	imap_reader_expect_raw_line(s->reader);
	c->res.text[0] = '\0';	/* the tagged OK follows DONE */
	c->no_sync = true;
	return IMAP_SESSION_IDLE;
}

static enum imap_session_status
cmd_compress(struct imap_call *c)
{
	struct imap_session *s = c->s;

	if (!span_eq_str_ci(c->cmd->u.compress, "DEFLATE")) {
		imap_result(c, IMAP_RESULT_NO, "CANNOT",
		    "Unknown compression mechanism");
		return IMAP_SESSION_OK;
	}
	if (s->flags & IMAP_F_COMPRESS) {
		imap_result(c, IMAP_RESULT_NO, "COMPRESSIONACTIVE",
		    "DEFLATE active already");
		return IMAP_SESSION_OK;
	}
	s->flags |= IMAP_F_COMPRESS;
	imap_result(c, IMAP_RESULT_OK, "", "DEFLATE active");
	c->no_sync = true;
	return IMAP_SESSION_COMPRESS;
}

/* ---- selected -------------------------------------------------- */

/* uses_condstore - RFC 7162 3.1: CONDSTORE-enabling commands */
static bool
search_uses_modseq(const struct imap_search_key *k, unsigned depth)
{
	for (; k != NULL; k = k->next) {
		if (k->op == IMAP_SEARCH_MODSEQ)
			return true;
		if (depth < IMAP_MAX_NESTING + 2 && k->child != NULL &&
		    search_uses_modseq(k->child, depth + 1))
			return true;
	}
	return false;
}

static bool
uses_condstore(const struct imap_command *cmd)
{
	unsigned i;

	switch (cmd->name) {
	case IMAP_CMD_FETCH:
		if (cmd->u.fetch.has_changedsince)
			return true;
		for (i = 0; i < cmd->u.fetch.count; i++)
			if (cmd->u.fetch.atts[i].type == IMAP_FETCH_MODSEQ)
				return true;
		return false;
	case IMAP_CMD_STORE:
		return cmd->u.store.has_unchangedsince;
	case IMAP_CMD_SEARCH:
	case IMAP_CMD_SORT:
	case IMAP_CMD_THREAD:
		return search_uses_modseq(cmd->u.search.key, 0);
	default:
		return false;
	}
}

static enum imap_session_status
cmd_view(struct imap_call *c)
{
	struct imap_session *s = c->s;
	struct mailstore *ms;
	int r;

	if (uses_condstore(c->cmd))
		s->opts.condstore = true;
	if ((ms = imap_call_store(c)) == NULL)
		return IMAP_SESSION_OK;
	r = imap_view_command(s->view, ms, c->cmd, &s->opts, c->out, &c->res);
	if (r == 1) {
		save_tag(s, c->cmd->tag);
		s->paused = c->cmd;
		s->flags |= IMAP_F_PAUSED;
		return IMAP_SESSION_MORE;
	}
	return IMAP_SESSION_OK;
}

/* ---- dispatch -------------------------------------------------- */

struct imap_cmd_def {
	enum imap_cmd_name	 name;
	const char		*verb;
	unsigned		 states;
	enum imap_session_status (*run)(struct imap_call *);
};

static const struct imap_cmd_def cmd_defs[] = {
	{ IMAP_CMD_CAPABILITY, "CAPABILITY", ST_ANY, cmd_capability },
	{ IMAP_CMD_NOOP, "NOOP", ST_ANY, cmd_noop },
	{ IMAP_CMD_LOGOUT, "LOGOUT", ST_ANY, cmd_logout },
	{ IMAP_CMD_ID, "ID", ST_ANY, cmd_id },
	{ IMAP_CMD_STARTTLS, "STARTTLS", ST(NOTAUTH), cmd_starttls },
	{ IMAP_CMD_AUTHENTICATE, "AUTHENTICATE", ST(NOTAUTH),
	    cmd_authenticate },
	{ IMAP_CMD_LOGIN, "LOGIN", ST(NOTAUTH), cmd_login },
	{ IMAP_CMD_ENABLE, "ENABLE", ST(AUTH), cmd_enable },
	{ IMAP_CMD_SELECT, "SELECT", ST_LOGGED_IN, cmd_select },
	{ IMAP_CMD_EXAMINE, "EXAMINE", ST_LOGGED_IN, cmd_select },
	{ IMAP_CMD_CREATE, "CREATE", ST_LOGGED_IN, imap_cmd_create },
	{ IMAP_CMD_DELETE, "DELETE", ST_LOGGED_IN, imap_cmd_delete },
	{ IMAP_CMD_RENAME, "RENAME", ST_LOGGED_IN, imap_cmd_rename },
	{ IMAP_CMD_SUBSCRIBE, "SUBSCRIBE", ST_LOGGED_IN, imap_cmd_subscribe },
	{ IMAP_CMD_UNSUBSCRIBE, "UNSUBSCRIBE", ST_LOGGED_IN,
	    imap_cmd_subscribe },
	{ IMAP_CMD_LIST, "LIST", ST_LOGGED_IN, imap_cmd_list },
	{ IMAP_CMD_LSUB, "LSUB", ST_LOGGED_IN, imap_cmd_list },
	{ IMAP_CMD_NAMESPACE, "NAMESPACE", ST_LOGGED_IN, imap_cmd_namespace },
	{ IMAP_CMD_STATUS, "STATUS", ST_LOGGED_IN, imap_cmd_status },
	{ IMAP_CMD_APPEND, "APPEND", ST_LOGGED_IN, imap_cmd_append },
	{ IMAP_CMD_IDLE, "IDLE", ST_LOGGED_IN, cmd_idle },
	{ IMAP_CMD_COMPRESS, "COMPRESS", ST_LOGGED_IN, cmd_compress },
	{ IMAP_CMD_GETQUOTA, "GETQUOTA", ST_LOGGED_IN, imap_cmd_getquota },
	{ IMAP_CMD_GETQUOTAROOT, "GETQUOTAROOT", ST_LOGGED_IN,
	    imap_cmd_getquota },
	{ IMAP_CMD_SETQUOTA, "SETQUOTA", ST_LOGGED_IN, imap_cmd_setquota },
	{ IMAP_CMD_CLOSE, "CLOSE", ST(SELECTED), cmd_close },
	{ IMAP_CMD_UNSELECT, "UNSELECT", ST(SELECTED), cmd_close },
	{ IMAP_CMD_CHECK, "CHECK", ST(SELECTED), cmd_view },
	{ IMAP_CMD_EXPUNGE, "EXPUNGE", ST(SELECTED), cmd_view },
	{ IMAP_CMD_SEARCH, "SEARCH", ST(SELECTED), cmd_view },
	{ IMAP_CMD_FETCH, "FETCH", ST(SELECTED), cmd_view },
	{ IMAP_CMD_STORE, "STORE", ST(SELECTED), cmd_view },
	{ IMAP_CMD_COPY, "COPY", ST(SELECTED), cmd_view },
	{ IMAP_CMD_MOVE, "MOVE", ST(SELECTED), cmd_view },
	{ IMAP_CMD_SORT, "SORT", ST(SELECTED), cmd_view },
	{ IMAP_CMD_THREAD, "THREAD", ST(SELECTED), cmd_view },
};

static const struct imap_cmd_def *
find_def(enum imap_cmd_name name)
{
	size_t i;

	for (i = 0; i < sizeof(cmd_defs) / sizeof(cmd_defs[0]); i++)
		if (cmd_defs[i].name == name)
			return &cmd_defs[i];
	return NULL;
}

/*
 * allow_expunge - RFC 9051 7.5.1: no EXPUNGE while answering FETCH, STORE
 * or SEARCH (SORT and THREAD are searches too); the UID forms may have it.
 */
static bool
allow_expunge(const struct imap_command *cmd)
{
	switch (cmd->name) {
	case IMAP_CMD_FETCH:
	case IMAP_CMD_STORE:
	case IMAP_CMD_SEARCH:
	case IMAP_CMD_SORT:
	case IMAP_CMD_THREAD:
		return cmd->is_uid;
	default:
		return true;
	}
}

/* finish_call - untagged updates, then the tagged line */
static void
finish_call(struct imap_session *s, struct imap_call *c)
{
	if (!c->no_sync && s->view != NULL &&
	    sync_view(s, c->env, allow_expunge(c->cmd), c->out) < 0)
		return;		/* BYE said */
	if (c->res.text[0] != '\0' || imap_result_code(&c->res)[0] != '\0')
		tagged(s, c->out, c->cmd->tag, c->res.status,
		    imap_result_code(&c->res), c->res.text);
}

static const char *
wrong_state_reason(const struct imap_session *s, unsigned states)
{
	if (s->state == IMAP_STATE_NOTAUTH)
		return "Log in first";
	if (states == ST(SELECTED))
		return "No mailbox selected";
	if (states == ST(NOTAUTH))
		return "Already logged in";
	return "Command not allowed now";
}

static enum imap_session_status
run_command(struct imap_session *s, const struct imap_env *env,
    const struct imap_command_text *text, struct buf *out)
{
	struct imap_parse_options popt;
	struct imap_command *cmd;
	const struct imap_cmd_def *def;
	struct imap_call c;
	struct span tag = { NULL, 0 };
	const char *err = NULL;
	enum imap_session_status st;

	arena_reset(s->arena);
	if (s->state == IMAP_STATE_NOTAUTH &&
	    ++s->prelogin_commands > IMAP_MAX_PRELOGIN_COMMANDS) {
		/* a client that logs in needs a handful */
		log_info("imap too many commands before login sid=%s peer=%s",
		    s->sid, s->addr);
		imap_append_literals_drop(s);
		imap_session_bye(s, "Too many commands without logging in",
		    out);
		return IMAP_SESSION_CLOSE;
	}
	memset(&popt, 0, sizeof(popt));
	popt.utf8 = s->opts.utf8;
	if (imap_parse_command(s->arena, text, &popt, &cmd, &tag, &err) < 0) {
		imap_append_literals_drop(s);
		tagged(s, out, tag, IMAP_RESULT_BAD, "",
		    err != NULL ? err : "Syntax error");
		return IMAP_SESSION_OK;
	}
	def = find_def(cmd->name);
	if (def == NULL || !(def->states & (1u << s->state))) {
		imap_append_literals_drop(s);
		tagged(s, out, cmd->tag, IMAP_RESULT_BAD, "",
		    def == NULL ? "Unknown command" :
		    wrong_state_reason(s, def->states));
		return IMAP_SESSION_OK;
	}
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.env = env;
	c.cmd = cmd;
	c.out = out;
	c.no_sync = s->view == NULL;
	st = def->run(&c);
	imap_append_literals_drop(s);
	if (st == IMAP_SESSION_MORE || st == IMAP_SESSION_AUTH ||
	    st == IMAP_SESSION_AUTH_GATE)
		return st;
	finish_call(s, &c);
	if (cmd->name == IMAP_CMD_LOGIN || cmd->name == IMAP_CMD_AUTHENTICATE)
		arena_reset(s->arena);
	return st;
}

/* idle_line - the line that ends IDLE */
static enum imap_session_status
idle_line(struct imap_session *s, const struct imap_env *env,
    struct span line, struct buf *out)
{
	struct span word = line;

	s->flags &= ~IMAP_F_IDLE;
	if (word.len >= 2 && word.p[word.len - 2] == '\r')
		word.len -= 2;
	if (!span_eq_str_ci(word, "DONE")) {
		tagged(s, out, saved_tag(s), IMAP_RESULT_BAD, "",
		    "Expected DONE");
		return IMAP_SESSION_OK;
	}
	if (sync_view(s, env, true, out) < 0)
		return IMAP_SESSION_CLOSE;
	tagged(s, out, saved_tag(s), IMAP_RESULT_OK, "", "IDLE terminated");
	return IMAP_SESSION_OK;
}

static enum imap_session_status
reader_error(struct imap_session *s, const struct imap_reader_event *ev,
    struct buf *out)
{
	struct span tag = ev->tag;

	imap_append_literals_drop(s);
	if (s->flags & (IMAP_F_IDLE | IMAP_F_SASL | IMAP_F_SASL_ACK)) {
		/* the line belonged to IDLE or AUTHENTICATE */
		forget_credentials(s);
		s->flags &= ~IMAP_F_IDLE;
		tag = saved_tag(s);
	}
	switch (ev->reply) {
	case IMAP_READER_REPLY_TOOBIG:
		tagged(s, out, tag, IMAP_RESULT_NO, "TOOBIG", ev->reason);
		break;
	case IMAP_READER_REPLY_BYE:
		imap_session_bye(s, ev->reason, out);
		return IMAP_SESSION_CLOSE;
	case IMAP_READER_REPLY_BAD:
	default:
		tagged(s, out, tag, IMAP_RESULT_BAD, "", ev->reason);
		break;
	}
	return IMAP_SESSION_OK;
}

static enum imap_session_status
handle_event(struct imap_session *s, const struct imap_env *env,
    const struct imap_reader_event *ev, struct buf *out)
{
	switch (ev->type) {
	case IMAP_READER_COMMAND:
		if (s->flags & (IMAP_F_SASL | IMAP_F_SASL_ACK))
			return sasl_line(s, env, ev->cmd.text, out);
		if (s->flags & IMAP_F_IDLE)
			return idle_line(s, env, ev->cmd.text, out);
		return run_command(s, env, &ev->cmd, out);
	case IMAP_READER_CONTINUE:
		imap_out(s, out, "+ Ready for literal data");
		return IMAP_SESSION_OK;
	case IMAP_READER_LITERAL_BEGIN:
		imap_append_literal_begin(s, ev->literal_index, ev->size);
		return IMAP_SESSION_OK;
	case IMAP_READER_LITERAL_DATA:
		imap_append_literal_data(s, ev->literal_index, ev->data);
		return IMAP_SESSION_OK;
	case IMAP_READER_LITERAL_END:
		return IMAP_SESSION_OK;
	case IMAP_READER_ERROR:
		return reader_error(s, ev, out);
	}
	return IMAP_SESSION_OK;
}

/* current - the status to report when nothing special happened */
static enum imap_session_status
current(const struct imap_session *s)
{
	if (s->flags & IMAP_F_CLOSE)
		return IMAP_SESSION_CLOSE;
	if (s->flags & IMAP_F_PAUSED)
		return IMAP_SESSION_MORE;
	if (s->flags & IMAP_F_AUTH_PENDING)
		return IMAP_SESSION_AUTH;
	if (s->flags & IMAP_F_AUTH_GATE)
		return IMAP_SESSION_AUTH_GATE;
	if (s->flags & IMAP_F_IDLE)
		return IMAP_SESSION_IDLE;
	return IMAP_SESSION_OK;
}

enum imap_session_status
imap_session_input(struct imap_session *s, const struct imap_env *env,
    const uint8_t *in, size_t len, size_t *used_r, struct buf *out)
{
	enum imap_session_status st = current(s);
	size_t off = 0;

	*used_r = 0;
	if (st != IMAP_SESSION_OK && st != IMAP_SESSION_IDLE)
		return st;
	for (;;) {
		struct imap_reader_event ev;
		size_t u = 0;
		int r;

		r = imap_reader_input(s->reader, in != NULL ? in + off : NULL,
		    len - off, &u, &ev);
		off += u;
		if (r == 0)
			break;
		st = handle_event(s, env, &ev, out);
		if (s->flags & IMAP_F_CLOSE) {
			st = IMAP_SESSION_CLOSE;
			break;
		}
		if (st != IMAP_SESSION_OK && st != IMAP_SESSION_IDLE)
			break;
		if (ev.type == IMAP_READER_COMMAND &&
		    out->len >= IMAP_SESSION_OUT_HIGH) {
			/* a client pipelining without reading: let the
			 * output drain before the next command */
			s->flags |= IMAP_F_PAUSED;
			st = IMAP_SESSION_MORE;
			break;
		}
	}
	*used_r = off;
	if (st == IMAP_SESSION_OK || st == IMAP_SESSION_IDLE)
		st = current(s);
	return st;
}

enum imap_session_status
imap_session_resume(struct imap_session *s, const struct imap_env *env,
    struct buf *out)
{
	struct imap_call c;
	struct mailstore *ms;
	int r;

	if ((s->flags & IMAP_F_PAUSED) && s->paused == NULL) {
		/* paused between pipelined commands: go on reading */
		s->flags &= ~IMAP_F_PAUSED;
		return current(s);
	}
	if (!(s->flags & IMAP_F_PAUSED) || s->view == NULL)
		return current(s);
	memset(&c, 0, sizeof(c));
	c.s = s;
	c.env = env;
	c.cmd = s->paused;
	c.out = out;
	if ((ms = imap_call_store(&c)) == NULL) {
		r = 0;
	} else {
		r = imap_view_resume(s->view, ms, &s->opts, out, &c.res);
		if (r == 1)
			return IMAP_SESSION_MORE;
	}
	s->flags &= ~IMAP_F_PAUSED;
	s->paused = NULL;
	/* the tagged line carries the saved tag; the arena still holds cmd */
	c.cmd->tag = span_from_str(s->tag);
	finish_call(s, &c);
	arena_reset(s->arena);
	return current(s);
}

enum imap_session_status
imap_session_poll(struct imap_session *s, const struct imap_env *env,
    struct buf *out)
{
	if (s->flags & IMAP_F_IDLE)
		(void)sync_view(s, env, true, out);
	return current(s);
}
