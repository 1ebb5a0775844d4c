/*
 * smtp_conn.c - one SMTP connection: socket bytes <-> smtp_session.
 *
 * The session is sans-I/O; this file feeds it what the bufferevent read,
 * sends what it wrote, and implements its requests: the RCPT decision
 * (server_rcpt_decide) and the message spool (the durable queue, whose
 * group commit answers on the loop thread).
 *
 * TLS (tls.c): on 465 the handshake runs first and the session is
 * started (greeting) once it succeeds.  After STARTTLS the session is
 * pending: its 220 is flushed, then tls_starttls() discards whatever
 * plaintext the client sent behind the command (RFC 3207 section 6,
 * CVE-2011-0411) and the handshake runs on the same socket; success
 * resets the session (smtp_session_tls_started), failure closes.
 *
 * Inbound policy (docs/policy.md): on the smtp listener, for a client
 * that is neither authenticated nor in [policy] trusted_networks, SPF
 * starts at MAIL FROM (policy/inbound.h) and the message is held
 * from DATA on; at its end DKIM and DMARC run, then the decision:
 * reject or tempfail is the DATA reply and the message is dropped;
 * accept or junk writes Received-SPF and Authentication-Results, then
 * the message without forged Authentication-Results of ours, to the
 * queue (junk: envelope flag, delivered to \Junk).  On submission (after
 * AUTH) the message is held too, to be DKIM-signed with its From:
 * domain's key, and gets "Authentication-Results: HOST; auth=pass
 * smtp.auth=USER" (RFC 8601 2.7.6).  A held message stays in memory up
 * to [policy] hold_memory, then goes to an unlinked spill file that is
 * mapped for the checks (policy/msg_hold.h): the heap it costs is
 * bounded whatever its size.  Every other message (trusted clients,
 * checks off, submission without signing) streams to the queue through
 * policy/ar_filter.h, which drops forged Authentication-Results holding
 * one header field at a time: RFC 8601 section 5 holds for every
 * message that enters.
 *
 * Lifetime: a connection is freed when its output is flushed after the
 * session asked to close, or when the peer goes away.  If the peer goes
 * away while the queue is committing its message, the struct lives on,
 * marked dead, until the commit callback arrives.
 */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "auth/auth_sender.h"
#include "auth/auth_throttle.h"
#include "auth/sasl.h"
#include "lib/xmalloc.h"
#include "queue/queue.h"
#include "store/accounts.h"
#include "server/tls.h"
#include "store/resolve.h"
#include "policy/ar_filter.h"
#include "policy/dkim_signer.h"
#include "policy/inbound.h"
#include "policy/msg_hold.h"
#include "policy/policy.h"
#include "policy/psl.h"

/* Input kept while the session is busy: past it, stop reading. */
#define SMTP_CONN_READ_HIGH	(256 * 1024)

struct smtp_conn {
	struct server		*srv;
	struct bufferevent	*bev;
	struct smtp_session	*session;
	struct queue_incoming	*incoming;
	struct smtp_conn	*prev, *next;
	char			 id[17];
	char			 addr[INET6_ADDRSTRLEN];
	enum listener_kind	 kind;
	bool			 tls_wait;	/* STARTTLS: 220 flushing */
	bool			 tls_handshake;	/* handshake under way */
	bool			 is_tls;	/* handshake done */
	bool			 started;	/* greeting queued */
	bool			 commit_pending;
	bool			 auth_pending;	/* a password check is out */
	struct event		*auth_delay;	/* throttle: answer later */
	char			*auth_user;	/* during auth_delay */
	char			*auth_pass;	/* during auth_delay; wiped */
	bool			 dead;		/* socket and session gone */
	bool			 closing;	/* flush, then free */
	struct sockaddr_storage	 peer_sa;	/* for SPF */
	/* a message held until its checks or its signature: in memory,
	 * past [policy] hold_memory in a spill file (msg_hold.h) */
	bool			 hold;
	bool			 sign;		/* DKIM-sign at the end */
	struct msg_hold		*held;
	/* forged Authentication-Results removal on the streaming paths
	 * (trusted clients, submission): every message but a checked one,
	 * which is stripped at its end (write_held) */
	struct ar_filter	*arf;
	struct policy_inbound	*policy;	/* checks under way */
	char			*policy_helo;	/* identity they are for */
	char			*policy_from;
};

static void conn_feed(struct smtp_conn *c);
static void conn_free(struct smtp_conn *c);

/* conn_release - drop socket, session, counts; free unless a request is out */
static void
conn_release(struct smtp_conn *c)
{
	struct server *srv = c->srv;

	if (c->dead)
		return;
	c->dead = true;
	if (c->bev != NULL && c->is_tls)
		tls_close_notify(c->bev);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	c->bev = NULL;
	smtp_session_free(&c->session);
	queue_incoming_abort(&c->incoming);
	policy_inbound_free(&c->policy);
	msg_hold_free(&c->held);
	ar_filter_free(&c->arf);
	c->hold = false;
	conn_limit_leave(srv->limits, c->addr);
	log_debug("smtp disconnect sid=%s peer=%s", c->id, c->addr);
	if (!c->commit_pending && !c->auth_pending)
		conn_free(c);
}

static void
auth_delay_clear(struct smtp_conn *c)
{
	if (c->auth_delay != NULL)
		event_free(c->auth_delay);
	c->auth_delay = NULL;
	if (c->auth_pass != NULL) {
		explicit_wipe(c->auth_pass, strlen(c->auth_pass));
		free(c->auth_pass);
	}
	c->auth_pass = NULL;
	free(c->auth_user);
	c->auth_user = NULL;
}

static void
conn_free(struct smtp_conn *c)
{
	auth_delay_clear(c);
	policy_inbound_free(&c->policy);
	free(c->policy_helo);
	free(c->policy_from);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->srv->smtp_conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c);
}

void
smtp_conn_force_close(struct smtp_conn *c)
{
	if (!c->dead) {
		bool pending = c->commit_pending || c->auth_pending;

		conn_release(c);	/* frees c unless a commit is out */
		if (!pending)
			return;
	}
	/* a commit that will never answer: the queue is closed */
	conn_free(c);
}

/* conn_flush - move the session's replies to the socket */
static void
conn_flush(struct smtp_conn *c)
{
	struct buf *out = smtp_session_output(c->session);

	if (out->len > 0) {
		bufferevent_write(c->bev, out->data, out->len);
		buf_reset(out);
	}
	if (smtp_session_want_close(c->session) && !c->closing) {
		c->closing = true;
		bufferevent_disable(c->bev, EV_READ);
	}
	if (!c->closing && !c->tls_wait && smtp_session_want_tls(c->session)) {
		/* not one more plaintext byte is read; on_write goes on */
		c->tls_wait = true;
		bufferevent_disable(c->bev, EV_READ);
	}
	if (c->closing &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_release(c);
}

static void
conn_feed(struct smtp_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	while (!c->closing && !smtp_session_is_pending(c->session) &&
	    !smtp_session_want_close(c->session)) {
		struct evbuffer_iovec v;
		size_t taken;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		taken = smtp_session_input(c->session, v.iov_base, v.iov_len);
		evbuffer_drain(in, taken);
		if (taken < v.iov_len)
			break;
	}
	conn_flush(c);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_feed(arg);
}

static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

/* conn_setup - callbacks, watermark and timeouts of a (new) bufferevent */
static void
conn_setup(struct smtp_conn *c, unsigned timeout)
{
	struct timeval tv;

	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, SMTP_CONN_READ_HIGH);
	tv.tv_sec = (time_t)timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* conn_starttls - the 220 is out: switch the socket to TLS */
static void
conn_starttls(struct smtp_conn *c)
{
	size_t discarded = 0;

	c->tls_wait = false;
	c->bev = tls_starttls(c->srv, c->bev, &discarded);
	if (discarded > 0)
		log_warn("smtp starttls-pipelined sid=%s peer=%s bytes=%zu "
		    "(discarded, not executed)", c->id, c->addr, discarded);
	if (c->bev == NULL) {
		conn_release(c);
		return;
	}
	c->tls_handshake = true;
	conn_setup(c, tls_handshake_timeout(c->srv));
}

/* conn_tls_done - the handshake finished (BEV_EVENT_CONNECTED) */
static void
conn_tls_done(struct smtp_conn *c)
{
	char info[128];
	struct timeval tv;

	c->tls_handshake = false;
	c->is_tls = true;
	tv.tv_sec = (time_t)c->srv->cfg->idle_timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	tls_describe(c->bev, info, sizeof(info));
	log_debug("tls established sid=%s peer=%s tls=\"%s\"", c->id, c->addr,
	    info);
	smtp_session_tls_started(c->session, info[0] != '\0' ? info : NULL);
	{
		unsigned char cb[64];
		const char *type;
		size_t n = tls_channel_binding(c->bev, &type, cb, sizeof(cb));

		if (n > 0)
			smtp_session_set_channel_binding(c->session, type, cb,
			    n);
	}
	if (!c->started) {
		/* implicit TLS: the greeting comes after the handshake */
		c->started = true;
		smtp_session_start(c->session);
	}
	conn_feed(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct smtp_conn *c = arg;

	/*
	 * TLS bufferevents may deliver this callback late (deferred), after
	 * more output was queued: act only on an empty output buffer.
	 */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (c->closing)
		conn_release(c);
	else if (c->tls_wait)
		conn_starttls(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct smtp_conn *c = arg;

	(void)bev;
	if (c->tls_handshake) {
		if (what & BEV_EVENT_CONNECTED) {
			conn_tls_done(c);
			return;
		}
		tls_log_failure(c->bev, what, "smtp", c->id, c->addr);
		conn_release(c);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && !c->closing) {
		struct timeval wt = { 10, 0 };

		log_info("smtp timeout sid=%s peer=%s", c->id, c->addr);
		/* give the 421 ten seconds to leave, then drop the peer */
		bufferevent_set_timeouts(c->bev, NULL, &wt);
		smtp_session_timeout(c->session);
		conn_flush(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_release(c);
}

/* --- the session's requests --------------------------------------- */

static void
op_rcpt_check(void *ctx, struct smtp_session *s, const char *addr)
{
	struct smtp_conn *c = ctx;
	char text[512];
	const char *enh;
	int code;

	server_rcpt_decide(c->srv, addr, smtp_session_auth_user(s) != NULL,
	    &code, &enh, text, sizeof(text));
	smtp_session_rcpt_done(s, code, enh, text);
}

/* hold_end - the message leaves memory (checks done, or given up) */
static void
hold_end(struct smtp_conn *c)
{
	policy_inbound_free(&c->policy);
	msg_hold_free(&c->held);
	ar_filter_free(&c->arf);
	c->hold = false;
	c->sign = false;
}

/* policy_wanted - the smtp listener checks untrusted, unauthenticated
 * clients (when a check is on) */
static bool
policy_wanted(const struct smtp_conn *c)
{
	const struct server *srv = c->srv;
	const struct config *cfg = srv->cfg;

	return c->kind == LISTENER_SMTP && srv->policy != NULL &&
	    c->session != NULL && smtp_session_auth_user(c->session) == NULL &&
	    (cfg->policy_spf || cfg->policy_dkim || cfg->policy_dmarc) &&
	    !policy_is_exempt(srv->policy,
	    (const struct sockaddr *)&c->peer_sa);
}

/* policy_start - (re)starts the checks for this sender: SPF begins now */
static void
policy_start(struct smtp_conn *c, const char *helo, const char *from)
{
	struct server *srv = c->srv;
	const struct config *cfg = srv->cfg;
	struct policy_inbound_config pc;

	policy_inbound_free(&c->policy);
	free(c->policy_helo);
	free(c->policy_from);
	c->policy_helo = xstrdup(helo != NULL ? helo : "");
	c->policy_from = xstrdup(from != NULL ? from : "");
	memset(&pc, 0, sizeof(pc));
	pc.settings = srv->policy;
	pc.psl = srv->psl;
	pc.spf = cfg->policy_spf;
	pc.dkim = cfg->policy_dkim;
	pc.dmarc = cfg->policy_dmarc;
	c->policy = policy_inbound_start(srv->base, srv->dns, &pc,
	    (const struct sockaddr *)&c->peer_sa, c->policy_helo,
	    c->policy_from);
}

/* op_mail_accepted - MAIL FROM: SPF starts while RCPT and DATA go on */
static void
op_mail_accepted(void *ctx, struct smtp_session *s, const char *helo,
    const char *addr)
{
	struct smtp_conn *c = ctx;

	(void)s;
	if (policy_wanted(c))
		policy_start(c, helo, addr);
}

static int conn_sink(void *ctx, const void *p, size_t n);

/*
 * hold_begin - decides what a new message needs: inbound checks (smtp
 * listener, client neither authenticated nor trusted; the check started
 * at MAIL FROM is kept if it is for this sender) or a signature
 * (authenticated submission), both holding the message (msg_hold.h).
 * Every message but a checked one streams through the forged
 * Authentication-Results filter (RFC 8601 section 5); a checked one is
 * stripped at its end.
 */
static void
hold_begin(struct smtp_conn *c, const struct smtp_envelope *env)
{
	struct server *srv = c->srv;
	const struct config *cfg = srv->cfg;
	bool authenticated = smtp_session_auth_user(c->session) != NULL;
	const char *helo = env->helo != NULL ? env->helo : "";

	msg_hold_free(&c->held);
	ar_filter_free(&c->arf);
	c->hold = false;
	c->sign = false;
	if (authenticated) {
		policy_inbound_free(&c->policy);
		c->sign = cfg->dkim_sign;
	} else if (policy_wanted(c)) {
		if (c->policy == NULL || strcmp(c->policy_helo, helo) != 0 ||
		    strcmp(c->policy_from, env->mail_from) != 0)
			policy_start(c, helo, env->mail_from);
	} else {
		policy_inbound_free(&c->policy);
	}
	if (c->policy == NULL)
		c->arf = ar_filter_new(cfg->hostname, POLICY_MAX_AR_FIELD,
		    conn_sink, c);
	if (c->policy == NULL && !c->sign)
		return;
	c->hold = true;
	/* the message, our Received: and what submission adds */
	c->held = msg_hold_new(cfg->data_dir, (size_t)cfg->policy_hold_memory,
	    cfg->max_message_size + 64 * 1024);
}

/*
 * write_auth_results - RFC 8601 2.7.6: mail from an authenticated user
 * carries "Authentication-Results: HOST; auth=pass smtp.auth=USER" on
 * top.  Appended to out (the DKIM-Signature's buffer: the field is not
 * in the signed list, so it is added after signing) or, with out NULL,
 * written straight to the queue.  0 or -1.
 */
static int
write_auth_results(struct smtp_conn *c, struct buf *out)
{
	struct buf ar;
	int rc;

	buf_init(&ar, POLICY_MAX_AR_HEADER);
	rc = policy_auth_results(c->srv->cfg->hostname,
	    smtp_session_auth_user(c->session), &ar);
	if (rc == 0)
		rc = out != NULL ? buf_append(out, ar.data, ar.len) :
		    queue_incoming_write(c->incoming, ar.data, ar.len);
	buf_fini(&ar);
	return rc;
}

static int
op_data_begin(void *ctx, const struct smtp_envelope *env, char qid[64],
    int *code_r, const char **enh_r, const char **text_r)
{
	struct smtp_conn *c = ctx;
	struct queue_envelope qe;
	const char *err = NULL;

	memset(&qe, 0, sizeof(qe));
	qe.sender = env->mail_from;
	qe.rcpts = env->rcpts;
	qe.nrcpts = env->nrcpts;
	qe.client_addr = c->addr;
	qe.helo = env->helo;
	qe.body_8bit = env->body != SMTP_BODY_7BIT;
	qe.smtputf8 = env->smtputf8;
	c->incoming = queue_incoming_new(c->srv->queue, &qe, &err);
	if (c->incoming == NULL) {
		log_error("queue incoming failed sid=%s error=\"%s\"", c->id,
		    err ? err : "?");
		*code_r = 451;
		*enh_r = "4.3.0";
		*text_r = "Temporary failure writing to the queue, "
		    "try again later";
		return -1;
	}
	snprintf(qid, 64, "%s", queue_incoming_id(c->incoming));
	hold_begin(c, env);
	if (!c->sign && smtp_session_auth_user(c->session) != NULL &&
	    write_auth_results(c, NULL) < 0) {
		queue_incoming_abort(&c->incoming);
		hold_end(c);
		*code_r = 451;
		*enh_r = "4.3.0";
		*text_r = "Temporary failure writing to the queue, "
		    "try again later";
		return -1;
	}
	return 0;
}

/* conn_sink - message bytes (filtered, if so) to the hold or the queue */
static int
conn_sink(void *ctx, const void *p, size_t n)
{
	struct smtp_conn *c = ctx;
	const char *err = NULL;
	bool spilled;

	if (!c->hold)
		return queue_incoming_write(c->incoming, p, n);
	spilled = msg_hold_spilled(c->held);
	if (msg_hold_append(c->held, p, n, &err) < 0) {
		log_error("smtp hold failed sid=%s qid=%s error=\"%s\"", c->id,
		    queue_incoming_id(c->incoming), err);
		return -1;
	}
	if (!spilled && msg_hold_spilled(c->held))
		log_info("smtp hold-spilled sid=%s qid=%s bytes=%llu", c->id,
		    queue_incoming_id(c->incoming),
		    (unsigned long long)msg_hold_size(c->held));
	return 0;
}

static int
op_data_write(void *ctx, const void *p, size_t n)
{
	struct smtp_conn *c = ctx;

	if (c->incoming == NULL)
		return -1;
	if (c->arf != NULL)
		return ar_filter_input(c->arf, p, n);
	return conn_sink(c, p, n);
}

static void
on_commit(void *ctx, int status, const char *error)
{
	struct smtp_conn *c = ctx;

	c->commit_pending = false;
	if (c->dead) {
		conn_free(c);
		return;
	}
	if (status == 0) {
		smtp_session_data_done(c->session, 250, "2.0.0", "Ok: queued");
	} else {
		log_error("queue commit failed sid=%s error=\"%s\"", c->id,
		    error ? error : "?");
		smtp_session_data_done(c->session, 451, "4.3.0",
		    "Temporary failure storing the message, try again later");
	}
	conn_feed(c);
}

/* commit - hands the complete message to the queue */
static void
commit(struct smtp_conn *c)
{
	struct queue_incoming *in = c->incoming;

	c->incoming = NULL;
	c->commit_pending = true;
	queue_incoming_commit(in, on_commit, c);
}

static int
queue_sink(void *ctx, const void *p, size_t n)
{
	return queue_incoming_write(ctx, p, n);
}

/* write_held - trace fields, then the held message (minus our forged
 * Authentication-Results when strip is set); -1 on an error */
static int
write_held(struct smtp_conn *c, const struct buf *prepend, bool strip,
    unsigned *removed_r)
{
	struct span m;
	const char *err = NULL;
	int rc = 0;

	*removed_r = 0;
	if (msg_hold_view(c->held, &m, &err) < 0) {
		log_error("smtp hold failed sid=%s error=\"%s\"", c->id, err);
		return -1;
	}
	if (prepend != NULL && prepend->len > 0)
		rc |= queue_incoming_write(c->incoming, prepend->data,
		    prepend->len);
	if (strip) {
		/* the streaming filter, over the whole message at once:
		 * the same output as policy_strip_ar, without a copy */
		struct ar_filter *f = ar_filter_new(c->srv->cfg->hostname,
		    POLICY_MAX_AR_FIELD, queue_sink, c->incoming);

		rc |= ar_filter_input(f, m.p, m.len);
		rc |= ar_filter_finish(f);
		*removed_r = ar_filter_removed(f);
		ar_filter_free(&f);
	} else if (m.len > 0) {
		rc |= queue_incoming_write(c->incoming, m.p, m.len);
	}
	return rc < 0 ? -1 : 0;
}

static void
fail_queue(struct smtp_conn *c)
{
	queue_incoming_abort(&c->incoming);
	hold_end(c);
	smtp_session_data_done(c->session, 451, "4.3.0",
	    "Temporary failure writing to the queue, try again later");
	conn_feed(c);
}

/* on_policy - the inbound checks are done: act on the decision */
static void
on_policy(void *ctx, const struct policy_inbound_result *r)
{
	struct smtp_conn *c = ctx;
	const struct policy_decision *d = r->decision;
	const char *qid = c->incoming != NULL ?
	    queue_incoming_id(c->incoming) : "-";
	unsigned removed = 0;

	log_info("smtp policy sid=%s peer=%s qid=%s action=%s reason=%s "
	    "spf=%s dkim=%s dmarc=%s", c->id, c->addr, qid,
	    policy_action_name(d->action), d->reason != NULL ? d->reason :
	    "-", r->spf, r->dkim, r->dmarc);
	if (d->action == POLICY_REJECT || d->action == POLICY_TEMPFAIL) {
		char enh[16];

		queue_incoming_abort(&c->incoming);
		snprintf(enh, sizeof(enh), "%s", d->enhanced != NULL ?
		    d->enhanced : d->action == POLICY_REJECT ? "5.7.1" :
		    "4.7.1");
		hold_end(c);	/* d and r live on: not the check's */
		smtp_session_data_done(c->session, (int)d->code != 0 ?
		    (int)d->code : d->action == POLICY_REJECT ? 550 : 451,
		    enh, d->text);
		conn_feed(c);
		return;
	}
	if ((d->action == POLICY_JUNK && queue_incoming_set_flags(
	    c->incoming, QUEUE_ENV_F_JUNK) < 0) ||
	    write_held(c, r->headers, true, &removed) < 0) {
		fail_queue(c);
		return;
	}
	if (removed > 0)
		log_info("smtp policy sid=%s qid=%s removed=%u (forged "
		    "Authentication-Results)", c->id, qid, removed);
	hold_end(c);
	commit(c);
}

/* sign_and_commit - submission: DKIM-sign with the From: domain's key */
static void
sign_and_commit(struct smtp_conn *c)
{
	struct buf sig;
	char domain[254], sel[64];
	const char *why = NULL;
	unsigned removed;
	struct span m;
	int rc;

	if (msg_hold_view(c->held, &m, &why) < 0) {
		log_error("smtp hold failed sid=%s error=\"%s\"", c->id, why);
		fail_queue(c);
		return;
	}
	buf_init(&sig, 64 * 1024);
	rc = dkim_signer_sign(c->srv->cfg->data_dir,
	    c->srv->cfg->dkim_selector, m.p, m.len, time(NULL),
	    &sig, domain, sel, &why);
	if (rc == 1)
		log_info("smtp dkim-signed sid=%s qid=%s d=%s s=%s", c->id,
		    queue_incoming_id(c->incoming), domain, sel);
	else if (rc < 0)
		log_warn("smtp dkim-sign failed sid=%s qid=%s reason=\"%s\" "
		    "(sent unsigned)", c->id, queue_incoming_id(c->incoming),
		    why != NULL ? why : "?");
	else
		log_debug("smtp dkim-unsigned sid=%s reason=\"%s\"", c->id,
		    why != NULL ? why : "?");
	/* the signature on top, then our Authentication-Results (not
	 * signed: see write_auth_results) */
	rc = 0;
	if (smtp_session_auth_user(c->session) != NULL)
		rc = write_auth_results(c, &sig);
	if (rc == 0)
		rc = write_held(c, &sig, false, &removed);
	buf_fini(&sig);
	if (rc < 0) {
		fail_queue(c);
		return;
	}
	hold_end(c);
	commit(c);
}

static void
op_data_end(void *ctx, struct smtp_session *s)
{
	struct smtp_conn *c = ctx;

	(void)s;
	if (c->arf != NULL) {
		int rc = ar_filter_finish(c->arf);
		unsigned removed = ar_filter_removed(c->arf);

		ar_filter_free(&c->arf);
		if (removed > 0)
			log_info("smtp policy sid=%s qid=%s removed=%u (forged "
			    "Authentication-Results)", c->id,
			    queue_incoming_id(c->incoming), removed);
		if (rc < 0) {
			fail_queue(c);
			return;
		}
	}
	if (c->policy != NULL) {
		struct span m;
		const char *err = NULL;

		if (msg_hold_view(c->held, &m, &err) < 0) {
			log_error("smtp hold failed sid=%s error=\"%s\"", c->id,
			    err);
			fail_queue(c);
			return;
		}
		/* the view lives until hold_end, after on_policy */
		policy_inbound_message_ref(c->policy, m.p, m.len, on_policy, c);
		return;
	}
	if (c->hold && c->sign) {
		sign_and_commit(c);
		return;
	}
	if (c->hold) {
		unsigned removed;

		if (write_held(c, NULL, false, &removed) < 0) {
			fail_queue(c);
			return;
		}
		hold_end(c);
	}
	commit(c);
}

static void
op_data_abort(void *ctx)
{
	struct smtp_conn *c = ctx;

	queue_incoming_abort(&c->incoming);
	hold_end(c);
}

/* op_expn - list an alias's final members (RFC 5321 3.5.2) */
static void
op_expn(void *ctx, struct smtp_session *s, const char *arg)
{
	struct smtp_conn *c = ctx;
	struct resolve_result res;
	const char **lines;
	size_t i, n = 0;

	switch (resolve_expn(c->srv->accounts, arg, &res)) {
	case RESOLVE_OK:
		lines = xcalloc(res.nlocal + res.nremote, sizeof(*lines));
		for (i = 0; i < res.nlocal; i++)
			lines[n++] = xasprintf("<%s>", res.local[i].address);
		for (i = 0; i < res.nremote; i++)
			lines[n++] = xasprintf("<%s>", res.remote[i]);
		smtp_session_lines_done(s, 250, "2.1.5",
		    (const char *const *)lines, n);
		for (i = 0; i < n; i++)
			free((char *)lines[i]);
		free(lines);
		break;
	case RESOLVE_UNKNOWN_USER:
	case RESOLVE_NOT_LOCAL: {
		const char *line = "Not a mailing list";

		smtp_session_lines_done(s, 550, "5.1.1", &line, 1);
		break;
	}
	default: {
		const char *line = "Temporary lookup failure";

		smtp_session_lines_done(s, 451, "4.3.0", &line, 1);
		break;
	}
	}
	resolve_result_fini(&res);
}

/* op_vrfy - only when [smtp] vrfy = yes; otherwise the session says 252 */
static void
op_vrfy(void *ctx, struct smtp_session *s, const char *arg)
{
	struct smtp_conn *c = ctx;
	const char *err = NULL, *line;
	char *text = NULL;

	switch (resolve_check(c->srv->accounts, arg, &err)) {
	case RESOLVE_OK:
		text = xasprintf("<%s>", arg);
		line = text;
		smtp_session_lines_done(s, 250, "2.1.5", &line, 1);
		break;
	case RESOLVE_UNKNOWN_USER:
	case RESOLVE_NOT_LOCAL:
		line = "User unknown";
		smtp_session_lines_done(s, 550, "5.1.1", &line, 1);
		break;
	default:
		line = "Temporary lookup failure";
		smtp_session_lines_done(s, 451, "4.3.0", &line, 1);
		break;
	}
	free(text);
}

/* --- AUTH (smtp_auth.c does the password checks) ------------------ */

static void
on_auth_verified(void *arg, int result, const char *account)
{
	struct smtp_conn *c = arg;

	c->auth_pending = false;
	if (c->dead) {
		if (!c->commit_pending)
			conn_free(c);
		return;
	}
	smtp_session_auth_done(c->session, result == 1 ? SMTP_AUTH_OK :
	    result == 0 ? SMTP_AUTH_FAIL : SMTP_AUTH_TEMPFAIL, account);
	conn_feed(c);
}

/* on_auth_delay - the throttle's delay is over: check the password now */
static void
on_auth_delay(evutil_socket_t fd, short what, void *arg)
{
	struct smtp_conn *c = arg;

	(void)fd;
	(void)what;
	if (c->dead || c->auth_pass == NULL)
		return;
	c->auth_pending = true;
	auth_pool_verify(c->srv->auth_pool, c->auth_user, c->auth_pass,
	    on_auth_verified, c);
	auth_delay_clear(c);
}

static void
op_auth_verify(void *ctx, struct smtp_session *s, const char *user,
    const char *password)
{
	struct smtp_conn *c = ctx;
	uint64_t delay = 0;

	switch (auth_throttle_check(c->srv->smtp_throttle, c->addr, user,
	    monotonic_ms(), &delay)) {
	case AUTH_THROTTLE_BLOCK:
		log_warn("smtp auth-blocked sid=%s peer=%s", c->id, c->addr);
		smtp_session_auth_done(s, SMTP_AUTH_BLOCKED, NULL);
		return;
	case AUTH_THROTTLE_DELAY: {
		struct timeval tv;

		c->auth_user = xstrdup(user);
		c->auth_pass = xstrdup(password);
		c->auth_delay = evtimer_new(c->srv->base, on_auth_delay, c);
		tv.tv_sec = (time_t)(delay / 1000);
		tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
		evtimer_add(c->auth_delay, &tv);
		return;
	}
	case AUTH_THROTTLE_ALLOW:
		break;
	}
	c->auth_pending = true;
	auth_pool_verify(c->srv->auth_pool, user, password, on_auth_verified,
	    c);
}

/* op_auth_scram - SCRAM keys are a plain lookup: done on the loop */
static void
op_auth_scram(void *ctx, struct smtp_session *s, const char *user)
{
	struct smtp_conn *c = ctx;
	struct accounts_scram r;
	struct sasl_scram_keys k;
	const char *err = NULL;
	int rc;

	rc = accounts_user_scram(c->srv->accounts, user, &r, &err);
	if (rc < 0) {
		log_error("smtp scram lookup failed sid=%s error=\"%s\"", c->id,
		    err ? err : "?");
		smtp_session_auth_scram_done(s, SMTP_AUTH_TEMPFAIL, NULL, NULL);
		return;
	}
	if (rc == 0) {
		/* unknown: the session fakes a salt, the proof fails */
		smtp_session_auth_scram_done(s, SMTP_AUTH_OK, NULL, NULL);
		return;
	}
	memset(&k, 0, sizeof(k));
	memcpy(k.salt, r.salt, r.salt_len);
	k.salt_len = r.salt_len;
	k.iterations = r.iterations;
	memcpy(k.stored_key, r.stored_key, sizeof(k.stored_key));
	memcpy(k.server_key, r.server_key, sizeof(k.server_key));
	smtp_session_auth_scram_done(s, SMTP_AUTH_OK, user, &k);
	explicit_wipe(&k, sizeof(k));
	explicit_wipe(&r, sizeof(r));
}

static void
op_auth_result(void *ctx, struct smtp_session *s, const char *user, bool ok)
{
	struct smtp_conn *c = ctx;

	(void)s;
	if (ok)
		auth_throttle_success(c->srv->smtp_throttle, c->addr, user,
		    monotonic_ms());
	else if (auth_throttle_failure(c->srv->smtp_throttle, c->addr, user,
	    monotonic_ms()))
		log_warn("smtp auth-throttle blocked sid=%s peer=%s", c->id,
		    c->addr);
}

/* op_sender_allowed - own address or a direct alias (auth_sender.h) */
static bool
op_sender_allowed(void *ctx, const char *account, const char *addr)
{
	struct smtp_conn *c = ctx;
	const char *err = NULL;
	int rc;

	rc = auth_sender_allowed(c->srv->accounts, account, addr, &err);
	if (rc < 0)
		log_error("smtp sender check failed sid=%s error=\"%s\"", c->id,
		    err ? err : "?");
	return rc == 1;
}

static const struct smtp_auth_ops smtp_auth_ops = {
	.auth_verify = op_auth_verify,
	.auth_scram = op_auth_scram,
	.auth_result = op_auth_result,
	.sender_allowed = op_sender_allowed,
};

static const struct smtp_session_ops smtp_ops = {
	.expn = op_expn,
	.vrfy = op_vrfy,
	.rcpt_check = op_rcpt_check,
	.data_begin = op_data_begin,
	.data_write = op_data_write,
	.data_end = op_data_end,
	.data_abort = op_data_abort,
	.mail_accepted = op_mail_accepted,
};

/* --- accepting --------------------------------------------------- */

void
smtp_conn_accept(struct server *srv, enum listener_kind kind, int fd,
    const struct sockaddr *sa, int salen)
{
	struct smtp_session_config scfg;
	struct smtp_conn *c;
	struct smtp_peer peer;
	bool loopback;
	struct server_peer sp;
	struct bufferevent *bev;
	char reject[300];

	snprintf(reject, sizeof(reject),
	    "421 4.7.0 %s Too many connections, try again later\r\n",
	    srv->cfg->hostname);
	if ((bev = server_accept_open(srv, fd, sa,
	    kind == LISTENER_SUBMISSIONS, "smtp", reject, &sp)) == NULL)
		return;
	loopback = sp.is_loopback;
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->kind = kind;
	c->bev = bev;
	if (sa != NULL && (size_t)salen <= sizeof(c->peer_sa))
		memcpy(&c->peer_sa, sa, (size_t)salen);
	memcpy(c->addr, sp.addr, sizeof(c->addr));
	memcpy(c->id, sp.id, sizeof(c->id));
	memset(&peer, 0, sizeof(peer));
	peer.session_id = c->id;
	peer.addr = c->addr;
	peer.hostname = NULL;
	peer.is_loopback = loopback;
	scfg = kind == LISTENER_SMTP ? srv->smtp_cfg : srv->submission_cfg;
	if (kind == LISTENER_SUBMISSIONS)
		scfg.tls_available = false;	/* TLS from the start */
	c->session = smtp_session_new(&scfg, &smtp_ops, c, &peer);
	if (scfg.auth_enabled && srv->auth_pool != NULL)
		smtp_session_set_auth_ops(c->session, &smtp_auth_ops, c);
	c->next = srv->smtp_conns;
	if (c->next != NULL)
		c->next->prev = c;
	srv->smtp_conns = c;
	log_debug("smtp connect sid=%s peer=%s kind=%d", c->id, c->addr,
	    (int)kind);
	if (kind == LISTENER_SUBMISSIONS) {
		/* the greeting waits for the handshake (conn_tls_done) */
		c->tls_handshake = true;
		conn_setup(c, tls_handshake_timeout(c->srv));
		return;
	}
	conn_setup(c, (unsigned)srv->cfg->idle_timeout);
	c->started = true;
	smtp_session_start(c->session);
	conn_flush(c);
}

void
smtp_conn_shutdown_all(struct server *srv)
{
	struct smtp_conn *c, *next;

	for (c = srv->smtp_conns; c != NULL; c = next) {
		next = c->next;
		/* a connection in its TLS handshake is closed at the end */
		if (c->dead || c->closing || c->tls_handshake || c->tls_wait ||
		    smtp_session_is_pending(c->session))
			continue;
		smtp_session_shutdown(c->session);
		conn_flush(c);
	}
}

/* --- inbound policy settings -------------------------------------- */

int
smtp_conn_policy_init(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	struct policy_settings *s = xcalloc(1, sizeof(*s));
	const char *err = NULL;

	policy_settings_default(s, cfg->hostname);
	s->spf_fail = (enum policy_action)cfg->policy_spf_fail;
	s->spf_softfail = (enum policy_action)cfg->policy_spf_softfail;
	s->spf_neutral = (enum policy_action)cfg->policy_spf_neutral;
	s->spf_none = (enum policy_action)cfg->policy_spf_none;
	s->spf_permerror = (enum policy_action)cfg->policy_spf_permerror;
	s->spf_temperror = (enum policy_action)cfg->policy_spf_temperror;
	s->dkim_overrides_spf = cfg->policy_dkim_overrides_spf;
	s->dmarc_reject = (enum policy_action)cfg->policy_dmarc_reject;
	s->dmarc_quarantine = (enum policy_action)cfg->policy_dmarc_quarantine;
	s->dmarc_temperror = (enum policy_action)cfg->policy_dmarc_temperror;
	if (policy_settings_add_exempt_list(s, cfg->policy_trusted_networks,
	    &err) < 0) {
		log_error("[policy] trusted_networks: %s", err);
		free(s);
		return -1;
	}
	srv->policy = s;
	if (cfg->policy_dmarc) {
		srv->psl = psl_load(NULL, 0, &err);
		if (srv->psl == NULL)
			log_warn("policy: no public suffix list (%s): DMARC "
			    "takes each domain as its own organizational "
			    "domain", err != NULL ? err : "?");
	}
	log_debug("policy spf=%d dkim=%d dmarc=%d trusted=%zu",
	    (int)cfg->policy_spf, (int)cfg->policy_dkim,
	    (int)cfg->policy_dmarc, s->nexempt);
	return 0;
}

void
smtp_conn_policy_fini(struct server *srv)
{
	struct smtp_conn *c;

	for (c = srv->smtp_conns; c != NULL; c = c->next) {
		if (c->policy != NULL) {
			/* no answer will come: the message is not taken */
			queue_incoming_abort(&c->incoming);
			hold_end(c);
		}
	}
	free(srv->policy);
	srv->policy = NULL;
	psl_free(&srv->psl);
}
