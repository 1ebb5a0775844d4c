/*
 * remote.c - remote delivery over SMTP (RFC 5321 section 5, RFC 7505).
 *
 * Objects, all on the event loop thread:
 *   rjob   one queue job handed over by the queue, with a count of its
 *          items still open;
 *   item   the recipients of one job in one destination domain;
 *   dest   a destination domain: a FIFO of items and its connections;
 *   rconn  one connection attempt / session: MX walk, socket, TLS, the
 *          sans-I/O client engine, and the item it is sending.
 *
 * A connection resolves the domain's MX hosts, tries each host's
 * addresses in turn until one greets, then takes items from its dest
 * until none is left and says QUIT.  If every host fails, the items still
 * waiting are deferred when no other connection of the dest is alive.
 *
 * Talks to untrusted servers: all their bytes go through the client
 * engine's limits; DNS answers through the resolver's.
 */
#include "delivery/remote.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dns/dns.h"
#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "queue/queue.h"
#include "smtp/smtp_client.h"

#define REMOTE_MAX_HOSTS	16	/* MX hosts tried per attempt */
#define REMOTE_ERROR_LEN	512
#define REMOTE_BEV_WRITE_LOW	(16u * 1024)

struct rjob {
	struct queue_job	*job;
	size_t			 open_items;
	remote_done_fn		*done;
	void			*arg;
	bool			 is_8bit;
};

struct item {
	struct item		*next;
	struct rjob		*rj;
	size_t			*idx;	/* recipient indices in rj->job */
	size_t			 n;
};

struct dest {
	struct dest		*next;
	char			*domain;
	struct item		*head, **tail;
	size_t			 nitems;
	unsigned		 nconns;
	char			 last_error[REMOTE_ERROR_LEN];
	bool			 last_permanent;
};

enum rconn_phase {
	RCONN_MX,		/* waiting for the MX answer */
	RCONN_ADDR,		/* waiting for a host's addresses */
	RCONN_CONNECT,		/* TCP connect under way */
	RCONN_SESSION,		/* talking SMTP */
	RCONN_DONE,
};

struct mx_host {
	char	*name;
};

struct rconn {
	struct remote_delivery	*rd;
	struct dest		*d;
	struct rconn		*prev, *next;
	enum rconn_phase	 phase;
	struct dns_req		*req;
	struct mx_host		 hosts[REMOTE_MAX_HOSTS];
	size_t			 nhosts, host_i;
	struct sockaddr_storage	*addrs;
	size_t			 naddrs, addr_i;
	struct bufferevent	*bev;
	struct smtp_client	*c;
	struct event		*timer;
	struct item		*cur;
	uint64_t		 body_pos;
	bool			 no_tls;	/* TLS failed here: plain */
	bool			 tls_started;	/* STARTTLS handshake begun */
	bool			 want_tls;	/* wrap once the 220 is drained */
	unsigned		 in_engine;	/* nesting of calls into c */
	bool			 dead;		/* free when the call returns */
	bool			 retry;		/* try the next address after
						 * the call returns */
	bool			 ever_greeted;
	unsigned		 messages;	/* completed on this session */
	bool			 failed;	/* the session failed (not QUIT) */
	char			 sid[17];
	char			 peer[320];
};

struct remote_delivery {
	struct event_base	*base;
	struct dns		*dns;
	struct remote_settings	 set;
	char			*helo_name;
	SSL_CTX			*tls;
	struct dest		*dests;
	struct rconn		*conns;
	unsigned		 nconns;
};

static void rconn_next_address(struct rconn *rc);
static void rconn_free(struct rconn *rc);
static bool tls_wrap(struct rconn *rc);
static void dest_kick(struct remote_delivery *rd, struct dest *d);

/* ---- outcomes ------------------------------------------------------ */

static void
rcpt_set(struct queue_job_rcpt *r, enum queue_rcpt_status st,
    const char *error)
{
	r->status = st;
	free(r->error);
	r->error = error != NULL ? xstrdup(error) : NULL;
}

static void
item_finish(struct remote_delivery *rd, struct item *it)
{
	struct rjob *rj = it->rj;

	(void)rd;
	free(it->idx);
	free(it);
	if (--rj->open_items == 0) {
		rj->done(rj->arg, rj->job);
		free(rj);
	}
}

/* item_settle - the same outcome for every recipient of an item */
static void
item_settle(struct remote_delivery *rd, struct item *it,
    enum queue_rcpt_status st, const char *error)
{
	size_t i;

	for (i = 0; i < it->n; i++)
		rcpt_set(&it->rj->job->rcpts[it->idx[i]], st, error);
	item_finish(rd, it);
}

static struct item *
dest_pop(struct dest *d)
{
	struct item *it = d->head;

	if (it == NULL)
		return NULL;
	d->head = it->next;
	if (d->head == NULL)
		d->tail = &d->head;
	d->nitems--;
	it->next = NULL;
	return it;
}

/* dest_settle_all - no connection could reach the destination */
static void
dest_settle_all(struct remote_delivery *rd, struct dest *d,
    enum queue_rcpt_status st, const char *error)
{
	struct item *it;

	while ((it = dest_pop(d)) != NULL)
		item_settle(rd, it, st, error);
}

static void
dest_release(struct remote_delivery *rd, struct dest *d)
{
	struct dest **pp;

	if (d->nconns > 0 || d->head != NULL)
		return;
	for (pp = &rd->dests; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			break;
		}
	}
	free(d->domain);
	free(d);
}

static struct dest *
dest_get(struct remote_delivery *rd, const char *domain)
{
	struct dest *d;

	for (d = rd->dests; d != NULL; d = d->next)
		if (ascii_strcasecmp(d->domain, domain) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->domain = ascii_strlower(xstrdup(domain));
	d->tail = &d->head;
	d->next = rd->dests;
	rd->dests = d;
	return d;
}

/* ---- the connection ------------------------------------------------ */

static void
rconn_error(struct rconn *rc, bool permanent, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
rconn_error(struct rconn *rc, bool permanent, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rc->d->last_error, sizeof(rc->d->last_error), fmt, ap);
	va_end(ap);
	rc->d->last_permanent = permanent;
}

/*
 * rconn_end - this connection is over.  Items it did not take stay with
 * the dest for other connections; if none is left, they are settled with
 * the last error seen (deferred, or failed for a permanent DNS answer).
 */
static void
rconn_end(struct rconn *rc)
{
	struct remote_delivery *rd = rc->rd;
	struct dest *d = rc->d;

	if (rc->phase == RCONN_DONE)
		return;
	rc->phase = RCONN_DONE;
	if (rc->cur != NULL) {
		/* the engine gave no outcome (never reached MAIL): defer */
		item_settle(rd, rc->cur, QUEUE_RCPT_DEFERRED,
		    d->last_error[0] ? d->last_error :
		    "451 4.4.1 connection lost");
		rc->cur = NULL;
	}
	d->nconns--;
	rd->nconns--;
	if (d->nconns == 0 && d->head != NULL) {
		/*
		 * Items arrived after this connection last looked.  Reconnect
		 * when it ended well (QUIT) or made progress; a connection that
		 * never got through, or a server that greets and then fails
		 * every transaction, settles them instead of looping.
		 */
		if (d->last_permanent || !rc->ever_greeted ||
		    (rc->failed && rc->messages == 0)) {
			dest_settle_all(rd, d, d->last_permanent ?
			    QUEUE_RCPT_FAILED : QUEUE_RCPT_DEFERRED,
			    d->last_error[0] ? d->last_error :
			    "451 4.4.1 no mail server reachable");
		} else {
			dest_kick(rd, d);	/* more work: reconnect */
		}
	}
	if (rc->in_engine)
		rc->dead = true;
	else
		rconn_free(rc);
	dest_release(rd, d);
}

static void
rconn_free(struct rconn *rc)
{
	struct remote_delivery *rd = rc->rd;
	size_t i;

	dns_cancel(&rc->req);
	if (rc->bev != NULL)
		bufferevent_free(rc->bev);
	smtp_client_free(&rc->c);
	if (rc->timer != NULL)
		event_free(rc->timer);
	for (i = 0; i < rc->nhosts; i++)
		free(rc->hosts[i].name);
	free(rc->addrs);
	if (rc->prev != NULL)
		rc->prev->next = rc->next;
	else
		rd->conns = rc->next;
	if (rc->next != NULL)
		rc->next->prev = rc->prev;
	free(rc);
}

/* rconn_flush - send what the engine wrote, re-arm its timer, maybe close */
static void
rconn_flush(struct rconn *rc)
{
	struct buf *out;
	unsigned ms;

	if (rc->phase != RCONN_SESSION || rc->c == NULL)
		return;
	out = smtp_client_output(rc->c);
	if (out->len > 0) {
		bufferevent_write(rc->bev, out->data, out->len);
		buf_reset(out);
	}
	ms = smtp_client_timeout_ms(rc->c);
	if (ms > 0) {
		struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

		evtimer_add(rc->timer, &tv);
	} else {
		evtimer_del(rc->timer);
	}
	if (smtp_client_want_close(rc->c) &&
	    evbuffer_get_length(bufferevent_get_output(rc->bev)) == 0) {
		log_debug("remote close sid=%s peer=%s", rc->sid, rc->peer);
		rconn_end(rc);
	}
}

/*
 * rconn_after - what a callback asked for, done once the engine call has
 * returned (callbacks never free or replace the engine under it)
 */
static void
rconn_after(struct rconn *rc)
{
	/* only the outermost call acts: TLS callbacks can nest */
	if (--rc->in_engine > 0)
		return;
	if (rc->dead) {
		rconn_free(rc);
		return;
	}
	if (rc->retry) {
		rc->retry = false;
		if (rc->cur != NULL) {
			/* cannot happen before a greeting; be safe */
			item_settle(rc->rd, rc->cur, QUEUE_RCPT_DEFERRED,
			    rc->d->last_error);
			rc->cur = NULL;
		}
		evtimer_del(rc->timer);
		if (rc->bev != NULL)
			bufferevent_free(rc->bev);
		rc->bev = NULL;
		smtp_client_free(&rc->c);
		rc->tls_started = false;
		rc->failed = false;
		rconn_next_address(rc);
		return;
	}
	if (rc->want_tls) {
		rc->want_tls = false;
		if (!tls_wrap(rc)) {
			rc->in_engine++;
			smtp_client_tls_done(rc->c, false);
			rconn_after(rc);
			return;
		}
	}
	rconn_flush(rc);
}

#define ENGINE(rc, call) do { \
	(rc)->in_engine++; \
	call; \
	rconn_after(rc); \
} while (0)

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rconn *rc = arg;

	(void)fd;
	(void)what;
	log_info("remote timeout sid=%s peer=%s", rc->sid, rc->peer);
	ENGINE(rc, smtp_client_timeout(rc->c));
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	struct rconn *rc = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v;

	rc->in_engine++;
	while (!rc->dead && !rc->want_tls &&
	    evbuffer_peek(in, -1, NULL, &v, 1) == 1 &&
	    v.iov_len > 0) {
		smtp_client_input(rc->c, v.iov_base, v.iov_len);
		if (rc->dead)
			break;
		evbuffer_drain(in, v.iov_len);
	}
	rconn_after(rc);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct rconn *rc = arg;

	(void)bev;
	if (rc->c == NULL)
		return;
	ENGINE(rc, smtp_client_output_drained(rc->c));
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct rconn *rc = arg;

	(void)bev;
	if (rc->phase == RCONN_CONNECT) {
		if (what & BEV_EVENT_CONNECTED) {
			rc->phase = RCONN_SESSION;
			bufferevent_set_timeouts(rc->bev, NULL, NULL);
			log_debug("remote connected sid=%s peer=%s", rc->sid,
			    rc->peer);
			rconn_flush(rc);
			return;
		}
		rconn_error(rc, false, "451 4.4.1 connect to %s: %s",
		    rc->peer, (what & BEV_EVENT_TIMEOUT) ? "timed out" :
		    evutil_socket_error_to_string(
		    EVUTIL_SOCKET_ERROR()));
		log_info("remote connect-failed sid=%s peer=%s", rc->sid,
		    rc->peer);
		bufferevent_free(rc->bev);
		rc->bev = NULL;
		smtp_client_free(&rc->c);
		rconn_next_address(rc);
		return;
	}
	if (what & BEV_EVENT_CONNECTED) {
		/* the TLS handshake finished */
		log_info("remote tls sid=%s peer=%s", rc->sid, rc->peer);
		ENGINE(rc, smtp_client_tls_done(rc->c, true));
		return;
	}
	if ((what & BEV_EVENT_ERROR) && rc->c != NULL && rc->tls_started &&
	    !smtp_client_is_tls(rc->c)) {
		unsigned long e = bufferevent_get_openssl_error(bev);
		char why[256] = "closed";

		if (e != 0)
			ERR_error_string_n(e, why, sizeof(why));
		log_info("remote tls-failed sid=%s peer=%s what=0x%x reason=\"%s\"",
		    rc->sid, rc->peer, (unsigned)what, why);
		ENGINE(rc, smtp_client_tls_done(rc->c, false));
		return;
	}
	ENGINE(rc, smtp_client_closed(rc->c));
}

/* ---- engine callbacks ---------------------------------------------- */

/*
 * op_start_tls - the server said 220 to STARTTLS.  The socket is wrapped
 * only after the engine call returns and its input (that 220) has been
 * drained: OpenSSL must read nothing but the server's TLS records.
 */
static void
op_start_tls(void *ctx)
{
	struct rconn *rc = ctx;

	rc->want_tls = true;
}

/* tls_wrap - put an OpenSSL filter over the socket; false on failure */
static bool
tls_wrap(struct rconn *rc)
{
	struct bufferevent *tls;
	SSL *ssl;

	rc->tls_started = true;
	ssl = SSL_new(rc->rd->tls);
	if (ssl == NULL)
		return false;
	SSL_set_tlsext_host_name(ssl, rc->hosts[rc->host_i].name);
	tls = bufferevent_openssl_filter_new(rc->rd->base, rc->bev, ssl,
	    BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (tls == NULL) {
		SSL_free(ssl);
		return false;
	}
	rc->bev = tls;
	bufferevent_setcb(tls, on_read, on_write, on_event, rc);
	bufferevent_setwatermark(tls, EV_WRITE, REMOTE_BEV_WRITE_LOW, 0);
	bufferevent_enable(tls, EV_READ | EV_WRITE);
	return true;
}

static void
send_next(struct rconn *rc)
{
	struct item *it;
	const struct queue_job *job;
	struct smtp_client_msg m;
	const char **rcpts;
	size_t i;

	it = dest_pop(rc->d);
	if (it == NULL) {
		smtp_client_quit(rc->c);
		return;
	}
	job = it->rj->job;
	rc->cur = it;
	rc->body_pos = 0;
	rcpts = xcalloc(it->n, sizeof(*rcpts));
	for (i = 0; i < it->n; i++)
		rcpts[i] = job->rcpts[it->idx[i]].addr;
	memset(&m, 0, sizeof(m));
	m.mail_from = job->sender;
	m.rcpts = rcpts;
	m.nrcpts = it->n;
	m.size = job->size;
	m.is_8bit = it->rj->is_8bit;
	for (i = 0; i < it->n && !m.smtputf8; i++) {
		const char *p;

		for (p = rcpts[i]; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				m.smtputf8 = true;
	}
	for (const char *p = job->sender; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			m.smtputf8 = true;
	log_debug("remote send sid=%s peer=%s qid=%s nrcpt=%zu", rc->sid,
	    rc->peer, job->qid, it->n);
	smtp_client_send(rc->c, &m);
	free(rcpts);
}

static void
op_ready(void *ctx)
{
	struct rconn *rc = ctx;

	rc->ever_greeted = true;
	send_next(rc);
}

static void
op_rcpt_result(void *ctx, size_t i, const struct smtp_client_result *r)
{
	struct rconn *rc = ctx;
	struct queue_job_rcpt *qr;
	char err[REMOTE_ERROR_LEN];
	enum queue_rcpt_status st;

	if (rc->cur == NULL || i >= rc->cur->n)
		panic("remote: result for unknown recipient %zu", i);
	qr = &rc->cur->rj->job->rcpts[rc->cur->idx[i]];
	if (r->code >= 200 && r->code < 300) {
		st = QUEUE_RCPT_DELIVERED;
		snprintf(err, sizeof(err), "host %s said: %d %s %s", rc->peer,
		    r->code, r->enh, r->text);
	} else {
		st = r->code >= 500 ? QUEUE_RCPT_FAILED : QUEUE_RCPT_DEFERRED;
		if (r->is_remote)
			snprintf(err, sizeof(err), "host %s said: %d %s %s",
			    rc->peer, r->code, r->enh, r->text);
		else
			snprintf(err, sizeof(err), "%d %s %s (%s)", r->code,
			    r->enh, r->text, rc->peer);
	}
	log_info("remote %s sid=%s qid=%s rcpt=<%s> peer=%s reply=\"%d %s\"",
	    st == QUEUE_RCPT_DELIVERED ? "delivered" : st ==
	    QUEUE_RCPT_FAILED ? "failed" : "deferred", rc->sid,
	    rc->cur->rj->job->qid, qr->addr, rc->peer, r->code, r->enh);
	rcpt_set(qr, st, st == QUEUE_RCPT_DELIVERED ? NULL : err);
}

static void
op_message_done(void *ctx, const struct smtp_client_result *r)
{
	struct rconn *rc = ctx;
	struct item *it = rc->cur;

	(void)r;
	rc->cur = NULL;
	rc->messages++;
	if (it != NULL)
		item_finish(rc->rd, it);
}

static void
op_failed(void *ctx, enum smtp_client_fail why,
    const struct smtp_client_result *r)
{
	struct rconn *rc = ctx;

	rc->failed = true;
	rconn_error(rc, false, "%s%s said: %d %s %s",
	    r != NULL && r->is_remote ? "host " : "", rc->peer,
	    r != NULL ? r->code : 451, r != NULL ? r->enh : "4.4.2",
	    r != NULL && r->text != NULL ? r->text : "connection failed");
	log_info("remote failed sid=%s peer=%s why=%d", rc->sid, rc->peer,
	    (int)why);
	if (why == SMTP_CLIENT_FAIL_TLS && !rc->no_tls) {
		/* opportunistic TLS: the same address again, in plaintext */
		rc->no_tls = true;
		if (rc->addr_i > 0)
			rc->addr_i--;
		rc->retry = true;
	} else if (!rc->ever_greeted) {
		/* greeting or EHLO refused: the next address or MX host */
		rc->retry = true;
	}
	/* otherwise the engine has queued QUIT: flush, then close */
}

static ssize_t
op_read_body(void *ctx, void *buf, size_t max)
{
	struct rconn *rc = ctx;
	const struct queue_job *job;
	uint64_t left;
	ssize_t n;

	if (rc->cur == NULL)
		return -1;
	job = rc->cur->rj->job;
	left = job->size - rc->body_pos;
	if (left == 0)
		return 0;
	if (max > left)
		max = (size_t)left;
	do {
		n = pread(job->fd, buf, max,
		    (off_t)(job->offset + rc->body_pos));
	} while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	rc->body_pos += (uint64_t)n;
	return n;
}

static const struct smtp_client_ops client_ops = {
	.start_tls = op_start_tls,
	.ready = op_ready,
	.rcpt_result = op_rcpt_result,
	.message_done = op_message_done,
	.failed = op_failed,
	.read_body = op_read_body,
};

/* ---- connecting ---------------------------------------------------- */

static void
rconn_connect(struct rconn *rc)
{
	struct remote_delivery *rd = rc->rd;
	const struct sockaddr_storage *ss = &rc->addrs[rc->addr_i];
	struct smtp_client_config cc;
	struct timeval tv;
	char ip[INET6_ADDRSTRLEN] = "?";
	struct sockaddr_storage sa = *ss;
	socklen_t salen;
	int one = 1;

	if (sa.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&sa;

		in->sin_port = htons((uint16_t)rd->set.port);
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip));
		salen = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;

		in6->sin6_port = htons((uint16_t)rd->set.port);
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip));
		salen = sizeof(*in6);
	}
	snprintf(rc->peer, sizeof(rc->peer), "%s[%s]",
	    rc->hosts[rc->host_i].name, ip);
	memset(&cc, 0, sizeof(cc));
	cc.helo_name = rd->helo_name;
	cc.peer_name = rc->peer;
	cc.session_id = rc->sid;
	cc.tls_available = rd->tls != NULL && !rc->no_tls;
	rc->c = smtp_client_new(&cc, &client_ops, rc);
	rc->bev = bufferevent_socket_new(rd->base, -1, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(rc->bev, on_read, on_write, on_event, rc);
	bufferevent_setwatermark(rc->bev, EV_WRITE, REMOTE_BEV_WRITE_LOW, 0);
	tv.tv_sec = rd->set.connect_timeout_ms / 1000;
	tv.tv_usec = (rd->set.connect_timeout_ms % 1000) * 1000;
	bufferevent_set_timeouts(rc->bev, NULL, &tv);
	bufferevent_enable(rc->bev, EV_READ | EV_WRITE);
	rc->phase = RCONN_CONNECT;
	log_debug("remote connect sid=%s peer=%s port=%u", rc->sid, rc->peer,
	    rd->set.port);
	if (bufferevent_socket_connect(rc->bev, (struct sockaddr *)&sa,
	    (int)salen) < 0) {
		rconn_error(rc, false, "451 4.4.1 connect to %s: %s", rc->peer,
		    strerror(errno));
		bufferevent_free(rc->bev);
		rc->bev = NULL;
		smtp_client_free(&rc->c);
		rc->addr_i++;
		rconn_next_address(rc);
		return;
	}
	setsockopt(bufferevent_getfd(rc->bev), IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	rc->addr_i++;
}

static void on_addr(void *ctx, enum dns_status st,
    const struct sockaddr_storage *a, size_t n);

/* rconn_next_address - the next address of this host, or the next host */
static void
rconn_next_address(struct rconn *rc)
{
	if (rc->addr_i < rc->naddrs) {
		rconn_connect(rc);
		return;
	}
	free(rc->addrs);
	rc->addrs = NULL;
	rc->naddrs = rc->addr_i = 0;
	rc->host_i++;
	if (rc->host_i >= rc->nhosts) {
		rconn_end(rc);
		return;
	}
	rc->phase = RCONN_ADDR;
	rc->req = dns_addr(rc->rd->dns, rc->hosts[rc->host_i].name, on_addr,
	    rc);
}

static void
on_addr(void *ctx, enum dns_status st, const struct sockaddr_storage *a,
    size_t n)
{
	struct rconn *rc = ctx;

	rc->req = NULL;
	if (st != DNS_OK || n == 0) {
		rconn_error(rc, false, "451 4.4.3 cannot find the address of "
		    "%s (%s)", rc->hosts[rc->host_i].name,
		    dns_status_name(st));
		/* implicit MX of a domain that does not exist: permanent */
		if (rc->nhosts == 1 && st == DNS_NXDOMAIN &&
		    ascii_strcasecmp(rc->hosts[0].name, rc->d->domain) == 0)
			rconn_error(rc, true, "550 5.1.2 domain %s does not "
			    "exist", rc->d->domain);
		if (rc->nhosts == 1 && st == DNS_NODATA &&
		    ascii_strcasecmp(rc->hosts[0].name, rc->d->domain) == 0)
			rconn_error(rc, true, "550 5.1.2 domain %s has no mail "
			    "server (no MX, A or AAAA record)", rc->d->domain);
		rc->host_i++;
		if (rc->host_i >= rc->nhosts) {
			rconn_end(rc);
			return;
		}
		rc->req = dns_addr(rc->rd->dns, rc->hosts[rc->host_i].name,
		    on_addr, rc);
		return;
	}
	rc->addrs = xreallocarray(NULL, n, sizeof(*rc->addrs));
	memcpy(rc->addrs, a, n * sizeof(*a));
	rc->naddrs = n;
	rc->addr_i = 0;
	rconn_connect(rc);
}

static void
on_mx(void *ctx, enum dns_status st, const struct dns_mx *mx, size_t n,
    bool null_mx)
{
	struct rconn *rc = ctx;
	size_t i;

	rc->req = NULL;
	if (st == DNS_OK && null_mx) {
		rconn_error(rc, true, "556 5.1.10 domain %s accepts no mail "
		    "(null MX)", rc->d->domain);
		rconn_end(rc);
		return;
	}
	if (st == DNS_NXDOMAIN) {
		rconn_error(rc, true, "550 5.1.2 domain %s does not exist",
		    rc->d->domain);
		rconn_end(rc);
		return;
	}
	if (st == DNS_TEMPFAIL || st == DNS_PERMFAIL) {
		rconn_error(rc, false, "451 4.4.3 MX lookup for %s failed (%s)",
		    rc->d->domain, dns_status_name(st));
		rconn_end(rc);
		return;
	}
	if (st == DNS_NODATA || n == 0) {
		/* no MX: the domain itself is the host (RFC 5321 5.1) */
		rc->hosts[0].name = xstrdup(rc->d->domain);
		rc->nhosts = 1;
	} else {
		for (i = 0; i < n && rc->nhosts < REMOTE_MAX_HOSTS; i++)
			rc->hosts[rc->nhosts++].name = xstrdup(mx[i].host);
	}
	rc->host_i = 0;
	rc->phase = RCONN_ADDR;
	rc->req = dns_addr(rc->rd->dns, rc->hosts[0].name, on_addr, rc);
}

static void
rconn_start(struct remote_delivery *rd, struct dest *d)
{
	struct rconn *rc = xcalloc(1, sizeof(*rc));

	rc->rd = rd;
	rc->d = d;
	random_hex(rc->sid, 8);
	rc->timer = evtimer_new(rd->base, on_timer, rc);
	rc->next = rd->conns;
	if (rc->next != NULL)
		rc->next->prev = rc;
	rd->conns = rc;
	d->nconns++;
	rd->nconns++;
	d->last_error[0] = '\0';
	d->last_permanent = false;
	rc->phase = RCONN_MX;
	rc->req = dns_mx(rd->dns, d->domain, on_mx, rc);
}

/* dest_kick - open connections while there is work and room */
static void
dest_kick(struct remote_delivery *rd, struct dest *d)
{
	while (d->head != NULL && d->nconns < rd->set.max_per_domain &&
	    d->nconns < d->nitems && rd->nconns < rd->set.max_connections)
		rconn_start(rd, d);
}

/* ---- the public side ----------------------------------------------- */

struct remote_delivery *
remote_delivery_new(struct event_base *base, struct dns *dns,
    const struct remote_settings *set)
{
	struct remote_delivery *rd = xcalloc(1, sizeof(*rd));

	rd->base = base;
	rd->dns = dns;
	rd->set = *set;
	rd->helo_name = xstrdup(set->helo_name);
	rd->set.helo_name = rd->helo_name;
	if (rd->set.max_connections == 0)
		rd->set.max_connections = 100;
	if (rd->set.max_per_domain == 0)
		rd->set.max_per_domain = 10;
	if (rd->set.connect_timeout_ms == 0)
		rd->set.connect_timeout_ms = 30000;
	/* opportunistic TLS (RFC 7435): encrypt, do not authenticate yet */
	rd->tls = SSL_CTX_new(TLS_client_method());
	if (rd->tls != NULL) {
		SSL_CTX_set_min_proto_version(rd->tls, TLS1_2_VERSION);
		SSL_CTX_set_verify(rd->tls, SSL_VERIFY_NONE, NULL);
	} else {
		log_warn("remote: no TLS client context; sending in plaintext");
	}
	return rd;
}

void
remote_delivery_free(struct remote_delivery **rdp)
{
	struct remote_delivery *rd = *rdp;
	struct dest *d;

	if (rd == NULL)
		return;
	while (rd->conns != NULL) {
		struct rconn *rc = rd->conns;

		rconn_error(rc, false, "451 4.3.2 delivery interrupted by "
		    "shutdown");
		if (rc->cur != NULL) {
			item_settle(rd, rc->cur, QUEUE_RCPT_DEFERRED,
			    rc->d->last_error);
			rc->cur = NULL;
		}
		rc->d->nconns--;
		rd->nconns--;
		rconn_free(rc);
	}
	while ((d = rd->dests) != NULL) {
		dest_settle_all(rd, d, QUEUE_RCPT_DEFERRED,
		    "451 4.3.2 delivery interrupted by shutdown");
		rd->dests = d->next;
		free(d->domain);
		free(d);
	}
	if (rd->tls != NULL)
		SSL_CTX_free(rd->tls);
	free(rd->helo_name);
	free(rd);
	*rdp = NULL;
}

unsigned
remote_delivery_connections(const struct remote_delivery *rd)
{
	return rd->nconns;
}

/* job_is_8bit - does the message text have octets > 127? (BODY=8BITMIME) */
static bool
job_is_8bit(const struct queue_job *job)
{
	long pagesize = sysconf(_SC_PAGESIZE);
	uint64_t start = job->offset - job->offset % (uint64_t)pagesize;
	size_t maplen = (size_t)(job->offset - start + job->size), i;
	const unsigned char *p;
	bool eight = false;
	void *map;

	if (job->size == 0)
		return false;
	map = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE, job->fd,
	    (off_t)start);
	if (map == MAP_FAILED)
		return true;	/* unknown: claim 8-bit, the safe side */
	p = (const unsigned char *)map + (job->offset - start);
	for (i = 0; i < job->size; i++) {
		if (p[i] >= 0x80) {
			eight = true;
			break;
		}
	}
	munmap(map, maplen);
	return eight;
}

void
remote_delivery_submit(struct remote_delivery *rd, struct queue_job *job,
    const size_t *idx, size_t n, remote_done_fn *done, void *arg)
{
	struct rjob *rj;
	size_t i, j;
	bool *taken;

	if (n == 0) {
		done(arg, job);
		return;
	}
	rj = xcalloc(1, sizeof(*rj));
	rj->job = job;
	rj->done = done;
	rj->arg = arg;
	rj->is_8bit = job_is_8bit(job);
	taken = xcalloc(n, sizeof(*taken));
	/* count the items first: done must not run before all are queued */
	for (i = 0; i < n; i++) {
		const char *di;

		if (taken[i])
			continue;
		di = strrchr(job->rcpts[idx[i]].addr, '@');
		rj->open_items++;
		for (j = i + 1; j < n; j++) {
			const char *dj = strrchr(job->rcpts[idx[j]].addr, '@');

			if (!taken[j] && di != NULL && dj != NULL &&
			    ascii_strcasecmp(di, dj) == 0)
				taken[j] = true;
		}
	}
	memset(taken, 0, n * sizeof(*taken));
	rj->open_items++;	/* held until every item is queued */
	for (i = 0; i < n; i++) {
		struct item *it;
		struct dest *d;
		const char *di;

		if (taken[i])
			continue;
		di = strrchr(job->rcpts[idx[i]].addr, '@');
		it = xcalloc(1, sizeof(*it));
		it->rj = rj;
		it->idx = xreallocarray(NULL, n, sizeof(*it->idx));
		it->idx[it->n++] = idx[i];
		for (j = i + 1; j < n; j++) {
			const char *dj = strrchr(job->rcpts[idx[j]].addr, '@');

			if (!taken[j] && di != NULL && dj != NULL &&
			    ascii_strcasecmp(di, dj) == 0) {
				taken[j] = true;
				it->idx[it->n++] = idx[j];
			}
		}
		if (di == NULL || di[1] == '\0' ||
		    strlen(di + 1) > SMTP_MAX_DOMAIN) {
			item_settle(rd, it, QUEUE_RCPT_FAILED,
			    "553 5.1.3 recipient address has no valid domain");
			continue;
		}
		d = dest_get(rd, di + 1);
		*d->tail = it;
		d->tail = &it->next;
		d->nitems++;
		dest_kick(rd, d);
	}
	free(taken);
	if (--rj->open_items == 0) {
		rj->done(rj->arg, rj->job);
		free(rj);
	}
}
