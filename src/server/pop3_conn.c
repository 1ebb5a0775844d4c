/*
 * pop3_conn.c - POP3 connections: socket bytes <-> pop3_session, and the
 * session's requests against the account database and the mail store.
 *
 * Listeners: [listen] pop3 (110, STLS when [tls] is set) and pop3s (995,
 * implicit TLS).  The slow work (argon2id password checks, listing and
 * expunging INBOX in SQLite) runs on a few worker threads, each with its
 * own accounts handle; results come back to the loop with
 * event_base_once.  Message bytes are read on the loop with pread, a
 * chunk at a time, only as fast as the socket drains (no whole message
 * and no whole mailbox is ever buffered), and byte-stuffed on the way out
 * (pop3_stuffer).
 *
 * Locking (RFC 1939 8): one POP3 session per account at a time in this
 * process; a second gets -ERR [IN-USE].  IMAP and other deliveries go on
 * meanwhile: the session's message list is the snapshot taken at login.
 * Failed logins go through auth_throttle (per client address and account),
 * the SMTP AUTH instance when submission listeners run.
 *
 * Untrusted input before authentication (through the session).
 */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth_throttle.h"
#include "auth/sasl.h"
#include "conf/config.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "pop3/pop3_session.h"
#include "server/tls.h"
#include "store/accounts.h"
#include "store/mailstore.h"

/* Input kept while the session is busy: past it, stop reading. */
#define POP3_CONN_READ_HIGH	(64 * 1024)
/* Stream a message while less than this is waiting in the socket buffer. */
#define POP3_CONN_SEND_HIGH	(256 * 1024)
/* Bytes of a message file read per step. */
#define POP3_CONN_CHUNK		(64 * 1024)
/* RFC 1939 3: an autologout timer of at least 10 minutes. */
#define POP3_CONN_IDLE		600
#define POP3_WORKERS		4

/* Where each listed message lives (paths shared by packed messages). */
struct pop3_loc {
	const char	*path;		/* points into the conn's paths[] */
	uint64_t	 offset;
	uint64_t	 size;
};

struct pop3_conn {
	struct server		*srv;
	struct bufferevent	*bev;
	struct pop3_session	*session;
	struct pop3_conn	*prev, *next;
	char			 id[17];
	char			 addr[INET6_ADDRSTRLEN];
	bool			 implicit_tls;
	bool			 is_tls;
	bool			 started;
	bool			 dead;		/* socket and session gone */
	bool			 closing;	/* flush, then free */
	bool			 tls_wait;	/* STLS: +OK flushing */
	bool			 tls_handshake;
	unsigned		 jobs;		/* worker jobs out */
	/* the account, once logged in */
	bool			 locked;
	int64_t			 user_id;
	char			*user;
	struct pop3_loc		*locs;
	size_t			 nlocs;
	char			**paths;
	size_t			 npaths;
	/* RETR/TOP in progress */
	bool			 sending;
	int			 send_fd;
	uint64_t		 send_off;
	uint64_t		 send_left;
	struct pop3_stuffer	 st;
	struct buf		 sendbuf;
};

enum pop3_job_kind { JOB_LOGIN, JOB_SCRAM, JOB_UPDATE };

struct pop3_job {
	enum pop3_job_kind	 kind;
	struct pop3_conn	*c;
	struct pop3_job		*next;		/* the workers' queue */
	struct pop3_job		*out_prev, *out_next;	/* all jobs out */
	char			*user;
	char			*password;	/* NULL: SASL already proved */
	uint32_t		*uids;
	size_t			 nuids;
	int64_t			 user_id;
	uint64_t		 delay_ms;	/* throttle: answer this late */
	/* results */
	enum pop3_login_result	 result;
	struct accounts_user	 u;
	uint32_t		 uidvalidity;
	struct pop3_message	*msgs;
	struct pop3_loc		*locs;
	size_t			 n, cap;
	char			**paths;
	size_t			 npaths;
	bool			 have_keys;
	struct sasl_scram_keys	 keys;
	bool			 ok;
};

struct pop3_server {
	struct server		*srv;
	struct pop3_conn	*conns;
	pthread_t		 threads[POP3_WORKERS];
	size_t			 nthreads;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct pop3_job		*head, *tail;
	bool			 stop;
	struct pop3_job		*out;		/* loop thread only */
	struct auth_throttle	*throttle;	/* in use */
	struct auth_throttle	*own_throttle;	/* NULL when shared */
	struct pop3_session_config cfg;
};

static void conn_run(struct pop3_conn *c);
static void conn_free(struct pop3_conn *c);

/* ---- worker threads -------------------------------------------- */

static void
job_free(struct pop3_job *j)
{
	size_t i;

	if (j->password != NULL) {
		explicit_wipe(j->password, strlen(j->password));
		free(j->password);
	}
	free(j->user);
	free(j->uids);
	free(j->msgs);
	free(j->locs);
	for (i = 0; i < j->npaths; i++)
		free(j->paths[i]);
	free(j->paths);
	explicit_wipe(&j->keys, sizeof(j->keys));
	free(j);
}

static void
list_cb(void *ctx, const struct mailstore_message *m)
{
	struct pop3_job *j = ctx;

	if (j->n == j->cap) {
		j->cap = j->cap ? j->cap * 2 : 64;
		j->msgs = xreallocarray(j->msgs, j->cap, sizeof(*j->msgs));
		j->locs = xreallocarray(j->locs, j->cap, sizeof(*j->locs));
		j->paths = xreallocarray(j->paths, j->cap, sizeof(*j->paths));
	}
	j->msgs[j->n].uid = m->uid;
	j->msgs[j->n].size = m->size;
	/* packed messages share a file: keep each path once */
	if (j->npaths == 0 || strcmp(j->paths[j->npaths - 1], m->path) != 0)
		j->paths[j->npaths++] = xstrdup(m->path);
	j->locs[j->n].path = j->paths[j->npaths - 1];
	j->locs[j->n].offset = m->offset;
	j->locs[j->n].size = m->size;
	j->n++;
}

/* job_login - verify (unless SASL did), then list INBOX */
static void
job_login(struct pop3_job *j, struct accounts *a, const char *data_dir)
{
	struct mailstore *ms;
	struct mailstore_mailbox mb;
	const char *err = NULL;
	int r;

	if (j->password != NULL)
		r = accounts_user_verify(a, j->user, j->password, &j->u, &err);
	else
		r = accounts_user_lookup(a, j->user, &j->u, &err);
	if (r <= 0) {
		if (r < 0)
			log_error("pop3 account lookup failed error=\"%s\"",
			    err ? err : "?");
		j->result = r == 0 ? POP3_LOGIN_BAD : POP3_LOGIN_TEMP;
		return;
	}
	j->result = POP3_LOGIN_TEMP;
	ms = mailstore_open(data_dir, j->u.id, &err);
	if (ms == NULL) {
		log_error("pop3 cannot open store user_id=%lld error=\"%s\"",
		    (long long)j->u.id, err ? err : "?");
		return;
	}
	if (mailstore_mailbox_get(ms, "INBOX", &mb, &err) != 1 ||
	    mailstore_message_list(ms, "INBOX", list_cb, j, &err) < 0) {
		log_error("pop3 cannot list INBOX user_id=%lld error=\"%s\"",
		    (long long)j->u.id, err ? err : "?");
		mailstore_close(&ms);
		return;
	}
	j->uidvalidity = mb.uidvalidity;
	mailstore_close(&ms);
	j->result = POP3_LOGIN_OK;
}

static void
job_scram(struct pop3_job *j, struct accounts *a)
{
	struct accounts_scram ks;
	const char *err = NULL;
	int r = accounts_user_scram(a, j->user, &ks, &err);

	if (r < 0)
		log_error("pop3 scram lookup failed error=\"%s\"",
		    err ? err : "?");
	if (r == 1 && ks.salt_len <= sizeof(j->keys.salt)) {
		memcpy(j->keys.salt, ks.salt, ks.salt_len);
		j->keys.salt_len = ks.salt_len;
		j->keys.iterations = ks.iterations;
		memcpy(j->keys.stored_key, ks.stored_key,
		    sizeof(j->keys.stored_key));
		memcpy(j->keys.server_key, ks.server_key,
		    sizeof(j->keys.server_key));
		j->have_keys = true;
	}
	explicit_wipe(&ks, sizeof(ks));
}

static void
job_update(struct pop3_job *j, const char *data_dir)
{
	struct mailstore *ms;
	const char *err = NULL;
	size_t n = 0;

	ms = mailstore_open(data_dir, j->user_id, &err);
	if (ms == NULL ||
	    mailstore_expunge(ms, "INBOX", j->uids, j->nuids, false, NULL,
	    &n, &err) < 0) {
		log_error("pop3 update failed user_id=%lld error=\"%s\"",
		    (long long)j->user_id, err ? err : "?");
		j->ok = false;
	} else {
		j->ok = true;
	}
	mailstore_close(&ms);
}

static void job_done(evutil_socket_t fd, short what, void *arg);

static void *
worker_main(void *arg)
{
	struct pop3_server *ps = arg;
	const char *data_dir = ps->srv->cfg->data_dir;
	struct accounts *a = NULL;

	for (;;) {
		struct pop3_job *j;
		struct timeval now = { 0, 0 };

		pthread_mutex_lock(&ps->mu);
		while (ps->head == NULL && !ps->stop)
			pthread_cond_wait(&ps->cv, &ps->mu);
		if (ps->stop) {
			pthread_mutex_unlock(&ps->mu);
			break;
		}
		j = ps->head;
		ps->head = j->next;
		if (ps->head == NULL)
			ps->tail = NULL;
		pthread_mutex_unlock(&ps->mu);

		if (a == NULL && j->kind != JOB_UPDATE) {
			const char *err = NULL;

			a = accounts_open(data_dir, &err);
			if (a == NULL)
				log_error("pop3 worker cannot open accounts: "
				    "%s", err ? err : "?");
		}
		switch (j->kind) {
		case JOB_LOGIN:
			if (a == NULL)
				j->result = POP3_LOGIN_TEMP;
			else
				job_login(j, a, data_dir);
			break;
		case JOB_SCRAM:
			if (a != NULL)
				job_scram(j, a);
			break;
		case JOB_UPDATE:
			job_update(j, data_dir);
			break;
		}
		if (j->password != NULL) {
			explicit_wipe(j->password, strlen(j->password));
			free(j->password);
			j->password = NULL;
		}
		now.tv_sec = (time_t)(j->delay_ms / 1000);
		now.tv_usec = (suseconds_t)(j->delay_ms % 1000) * 1000;
		if (event_base_once(ps->srv->base, -1, EV_TIMEOUT, job_done, j,
		    &now) < 0)
			log_error("pop3 cannot post a result to the loop");
	}
	accounts_close(&a);
	return NULL;
}

static void
job_submit(struct pop3_conn *c, struct pop3_job *j)
{
	struct pop3_server *ps = c->srv->pop3;

	j->c = c;
	c->jobs++;
	/* every job is on this list until its result runs on the loop, so
	 * that pop3_server_stop can free those whose result never will */
	j->out_next = ps->out;
	if (ps->out != NULL)
		ps->out->out_prev = j;
	ps->out = j;
	pthread_mutex_lock(&ps->mu);
	if (ps->tail != NULL)
		ps->tail->next = j;
	else
		ps->head = j;
	ps->tail = j;
	pthread_cond_signal(&ps->cv);
	pthread_mutex_unlock(&ps->mu);
}

/* ---- connection lifetime --------------------------------------- */

static void
send_stop(struct pop3_conn *c)
{
	struct timeval tv = { POP3_CONN_IDLE, 0 };

	/* the autologout timer counts again (see op_send) */
	if (c->sending && c->bev != NULL)
		bufferevent_set_timeouts(c->bev, &tv, &tv);
	if (c->send_fd >= 0)
		close(c->send_fd);
	c->send_fd = -1;
	c->sending = false;
	buf_reset(&c->sendbuf);
}

static void
drop_maildrop(struct pop3_conn *c)
{
	size_t i;

	for (i = 0; i < c->npaths; i++)
		free(c->paths[i]);
	free(c->paths);
	free(c->locs);
	c->paths = NULL;
	c->locs = NULL;
	c->npaths = c->nlocs = 0;
	c->locked = false;
}

/* conn_release - drop socket, session, lock; free unless a job is out */
static void
conn_release(struct pop3_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	send_stop(c);
	if (c->bev != NULL && c->is_tls)
		tls_close_notify(c->bev);
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	c->bev = NULL;
	/* a dropped connection deletes nothing: no UPDATE was asked */
	pop3_session_free(&c->session);
	drop_maildrop(c);
	conn_limit_leave(c->srv->limits, c->addr);
	log_debug("pop3 disconnect sid=%s peer=%s", c->id, c->addr);
	if (c->jobs == 0)
		conn_free(c);
}

static void
conn_free(struct pop3_conn *c)
{
	struct pop3_server *ps = c->srv->pop3;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ps->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	buf_fini(&c->sendbuf);
	free(c->user);
	free(c);
}

/* ---- streaming a message --------------------------------------- */

/*
 * send_pump - move message bytes to the socket while its buffer is below
 * POP3_CONN_SEND_HIGH; ends the stream (final ".") when the file part is
 * read or TOP has its lines.
 */
static void
send_pump(struct pop3_conn *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	uint8_t chunk[POP3_CONN_CHUNK];

	while (c->sending &&
	    evbuffer_get_length(out) < POP3_CONN_SEND_HIGH) {
		size_t want = c->send_left < sizeof(chunk) ?
		    (size_t)c->send_left : sizeof(chunk);
		ssize_t n = 0;
		int r = 0;

		if (want > 0) {
			n = pread(c->send_fd, chunk, want, (off_t)c->send_off);
			if (n <= 0) {
				log_error("pop3 read failed sid=%s error=\"%s\"",
				    c->id, n < 0 ? strerror(errno) :
				    "file shorter than indexed");
				send_stop(c);
				pop3_session_send_done(c->session, false);
				return;
			}
			c->send_off += (uint64_t)n;
			c->send_left -= (uint64_t)n;
			r = pop3_stuffer_feed(&c->st, chunk, (size_t)n,
			    &c->sendbuf);
			if (r < 0)
				panic("pop3 send buffer smaller than a chunk");
		}
		if (r == 1 || c->send_left == 0) {
			if (pop3_stuffer_finish(&c->st, &c->sendbuf) < 0)
				panic("pop3 send buffer full at the end");
			bufferevent_write(c->bev, c->sendbuf.data,
			    c->sendbuf.len);
			send_stop(c);
			pop3_session_send_done(c->session, true);
			return;
		}
		bufferevent_write(c->bev, c->sendbuf.data, c->sendbuf.len);
		buf_reset(&c->sendbuf);
	}
}

/* ---- the event loop side --------------------------------------- */

static void
conn_flush_output(struct pop3_conn *c)
{
	struct buf *o = pop3_session_output(c->session);

	if (o->len > 0) {
		bufferevent_write(c->bev, o->data, o->len);
		buf_reset(o);
	}
}

/* conn_run - feed input, send replies and messages, until we must wait */
static void
conn_run(struct pop3_conn *c)
{
	struct evbuffer *in;

	for (;;) {
		if (c->dead)
			return;
		in = bufferevent_get_input(c->bev);
		while (!c->closing && !c->tls_wait && !c->sending &&
		    !pop3_session_is_pending(c->session) &&
		    !pop3_session_want_close(c->session)) {
			struct evbuffer_iovec v;
			size_t taken;

			if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 ||
			    v.iov_len == 0)
				break;
			taken = pop3_session_input(c->session, v.iov_base,
			    v.iov_len);
			evbuffer_drain(in, taken);
			conn_flush_output(c);
			if (taken < v.iov_len || c->sending)
				break;
		}
		conn_flush_output(c);
		if (c->sending) {
			send_pump(c);
			if (c->sending)
				break;	/* on_write continues */
			conn_flush_output(c);
			continue;	/* done: more commands may wait */
		}
		break;
	}
	if (pop3_session_want_close(c->session) && !c->closing) {
		c->closing = true;
		bufferevent_disable(c->bev, EV_READ);
	}
	if (c->closing &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_release(c);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_run(arg);
}

static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static void
conn_setup(struct pop3_conn *c, unsigned timeout)
{
	struct timeval tv;

	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, POP3_CONN_READ_HIGH);
	bufferevent_setwatermark(c->bev, EV_WRITE, POP3_CONN_SEND_HIGH / 2,
	    0);
	tv.tv_sec = (time_t)timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* conn_starttls - the +OK is out: switch the socket to TLS */
static void
conn_starttls(struct pop3_conn *c)
{
	size_t discarded = 0;

	c->tls_wait = false;
	c->bev = tls_starttls(c->srv, c->bev, &discarded);
	if (discarded > 0)
		log_warn("pop3 stls-pipelined sid=%s peer=%s bytes=%zu "
		    "(discarded, not executed)", c->id, c->addr, discarded);
	if (c->bev == NULL) {
		conn_release(c);
		return;
	}
	c->tls_handshake = true;
	conn_setup(c, TLS_HANDSHAKE_TIMEOUT);
}

static void
conn_tls_done(struct pop3_conn *c)
{
	char info[128];
	struct timeval tv = { POP3_CONN_IDLE, 0 };

	c->tls_handshake = false;
	c->is_tls = true;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	tls_describe(c->bev, info, sizeof(info));
	log_debug("tls established sid=%s peer=%s tls=\"%s\"", c->id, c->addr,
	    info);
	if (!c->started) {
		c->started = true;
		pop3_session_start(c->session);
	} else {
		pop3_session_tls_started(c->session);
	}
	conn_run(c);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct pop3_conn *c = arg;
	size_t left = evbuffer_get_length(bufferevent_get_output(bev));

	if (c->closing) {
		if (left == 0)
			conn_release(c);
	} else if (c->tls_wait) {
		if (left == 0)
			conn_starttls(c);
	} else if (c->sending) {
		conn_run(c);
	}
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pop3_conn *c = arg;

	(void)bev;
	if (c->tls_handshake) {
		if (what & BEV_EVENT_CONNECTED) {
			conn_tls_done(c);
			return;
		}
		tls_log_failure(c->bev, what, "pop3", c->id, c->addr);
		conn_release(c);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && !c->closing) {
		struct timeval wt = { 10, 0 };

		log_info("pop3 timeout sid=%s peer=%s", c->id, c->addr);
		send_stop(c);
		bufferevent_set_timeouts(c->bev, NULL, &wt);
		pop3_session_timeout(c->session);
		conn_run(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_release(c);
}

/* ---- the session's requests ------------------------------------ */

/* holder_of - the live connection holding user_id's lock, if any */
static struct pop3_conn *
holder_of(struct pop3_server *ps, int64_t user_id)
{
	struct pop3_conn *o;

	for (o = ps->conns; o != NULL; o = o->next)
		if (!o->dead && o->locked && o->user_id == user_id)
			return o;
	return NULL;
}

static void
login_result(struct pop3_conn *c, struct pop3_job *j)
{
	struct pop3_server *ps = c->srv->pop3;
	enum pop3_login_result r = j->result;

	if (r == POP3_LOGIN_BAD) {
		if (auth_throttle_failure(ps->throttle, c->addr, j->user,
		    monotonic_ms()))
			log_warn("pop3 auth throttled sid=%s peer=%s", c->id,
			    c->addr);
		log_info("pop3 auth failed sid=%s peer=%s", c->id, c->addr);
	}
	if (r == POP3_LOGIN_OK && holder_of(ps, j->u.id) != NULL)
		r = POP3_LOGIN_IN_USE;
	if (r == POP3_LOGIN_OK) {
		auth_throttle_success(ps->throttle, c->addr, j->user,
		    monotonic_ms());
		c->locked = true;
		c->user_id = j->u.id;
		free(c->user);
		c->user = xstrdup(j->u.address);
		c->locs = j->locs;
		c->nlocs = j->n;
		c->paths = j->paths;
		c->npaths = j->npaths;
		j->locs = NULL;
		j->paths = NULL;
		j->npaths = 0;
		log_info("pop3 login sid=%s peer=%s user=%s messages=%zu",
		    c->id, c->addr, c->user, c->nlocs);
	}
	pop3_session_login_done(c->session, r, j->u.address, j->uidvalidity,
	    j->msgs, r == POP3_LOGIN_OK ? j->n : 0);
	if (c->locked && !pop3_session_is_authenticated(c->session))
		drop_maildrop(c);	/* the session closed meanwhile */
}

/* job_done - a worker's result, back on the loop */
static void
job_done(evutil_socket_t fd, short what, void *arg)
{
	struct pop3_job *j = arg;
	struct pop3_conn *c = j->c;
	struct pop3_server *ps = c->srv->pop3;

	(void)fd;
	(void)what;
	if (j->out_prev != NULL)
		j->out_prev->out_next = j->out_next;
	else
		ps->out = j->out_next;
	if (j->out_next != NULL)
		j->out_next->out_prev = j->out_prev;
	c->jobs--;
	if (c->dead) {
		if (c->jobs == 0)
			conn_free(c);
		job_free(j);
		return;
	}
	switch (j->kind) {
	case JOB_LOGIN:
		login_result(c, j);
		break;
	case JOB_SCRAM:
		pop3_session_scram_done(c->session,
		    j->have_keys ? &j->keys : NULL);
		break;
	case JOB_UPDATE:
		log_info("pop3 update sid=%s user=%s deleted=%zu ok=%d", c->id,
		    c->user ? c->user : "?", j->nuids, (int)j->ok);
		pop3_session_update_done(c->session, j->ok);
		drop_maildrop(c);
		break;
	}
	job_free(j);
	conn_run(c);
}

static void
op_login(void *ctx, struct pop3_session *s, const char *user,
    const char *password)
{
	struct pop3_conn *c = ctx;
	struct pop3_server *ps = c->srv->pop3;
	struct pop3_job *j;
	uint64_t delay = 0;

	switch (auth_throttle_check(ps->throttle, c->addr, user,
	    monotonic_ms(), &delay)) {
	case AUTH_THROTTLE_BLOCK:
		log_warn("pop3 auth refused sid=%s peer=%s reason=throttled",
		    c->id, c->addr);
		pop3_session_login_done(s, POP3_LOGIN_THROTTLED, NULL, 0,
		    NULL, 0);
		return;
	case AUTH_THROTTLE_DELAY:
	case AUTH_THROTTLE_ALLOW:
		break;
	}
	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_LOGIN;
	j->user = xstrdup(user);
	j->password = password != NULL ? xstrdup(password) : NULL;
	j->delay_ms = delay;
	job_submit(c, j);
}

static void
op_scram_lookup(void *ctx, struct pop3_session *s, const char *user)
{
	struct pop3_conn *c = ctx;
	struct pop3_server *ps = c->srv->pop3;
	struct pop3_job *j;

	if (auth_throttle_check(ps->throttle, c->addr, user, monotonic_ms(),
	    NULL) == AUTH_THROTTLE_BLOCK) {
		/* an unknown user's answer: the proof will fail */
		pop3_session_scram_done(s, NULL);
		return;
	}
	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_SCRAM;
	j->user = xstrdup(user);
	job_submit(c, j);
}

static void
op_auth_failed(void *ctx, struct pop3_session *s, const char *user)
{
	struct pop3_conn *c = ctx;

	(void)s;
	if (auth_throttle_failure(c->srv->pop3->throttle, c->addr, user,
	    monotonic_ms()))
		log_warn("pop3 auth throttled sid=%s peer=%s", c->id, c->addr);
	log_info("pop3 auth failed sid=%s peer=%s mech=SCRAM-SHA-256", c->id,
	    c->addr);
}

static int
op_send(void *ctx, struct pop3_session *s, size_t idx, uint32_t uid,
    int64_t lines)
{
	struct pop3_conn *c = ctx;
	const struct pop3_loc *l;

	(void)s;
	(void)uid;
	if (idx >= c->nlocs)
		return -1;
	l = &c->locs[idx];
	c->send_fd = open(l->path, O_RDONLY | O_CLOEXEC);
	if (c->send_fd < 0) {
		log_info("pop3 message gone sid=%s uid=%lu error=\"%s\"",
		    c->id, (unsigned long)uid, strerror(errno));
		return -1;
	}
	c->send_off = l->offset;
	c->send_left = l->size;
	c->sending = true;
	{
		/* a long download is not idleness: only a stalled write
		 * counts while the message goes out */
		struct timeval tv = { POP3_CONN_IDLE, 0 };

		bufferevent_set_timeouts(c->bev, NULL, &tv);
	}
	pop3_stuffer_init(&c->st, lines);
	return 0;
}

static void
op_update(void *ctx, struct pop3_session *s, const uint32_t *uids, size_t n)
{
	struct pop3_conn *c = ctx;
	struct pop3_job *j;

	(void)s;
	j = xcalloc(1, sizeof(*j));
	j->kind = JOB_UPDATE;
	j->user_id = c->user_id;
	j->uids = xcalloc(n, sizeof(*uids));
	memcpy(j->uids, uids, n * sizeof(*uids));
	j->nuids = n;
	job_submit(c, j);
}

static void
op_start_tls(void *ctx, struct pop3_session *s)
{
	struct pop3_conn *c = ctx;

	(void)s;
	/* not one more plaintext byte is read; on_write goes on */
	c->tls_wait = true;
	bufferevent_disable(c->bev, EV_READ);
}

static const struct pop3_session_ops pop3_ops = {
	.login = op_login,
	.scram_lookup = op_scram_lookup,
	.auth_failed = op_auth_failed,
	.send = op_send,
	.update = op_update,
	.start_tls = op_start_tls,
};

/* ---- accepting ------------------------------------------------- */

void
pop3_conn_accept(struct server *srv, bool implicit_tls, int fd,
    const struct sockaddr *sa, int salen)
{
	struct pop3_server *ps = srv->pop3;
	struct pop3_session_config scfg;
	struct pop3_conn *c;
	struct pop3_peer peer;
	bool loopback;
	struct server_peer sp;
	struct bufferevent *bev;

	(void)salen;
	if ((bev = server_accept_open(srv, fd, sa, implicit_tls, "pop3",
	    "-ERR [SYS/TEMP] Too many connections, try again later\r\n",
	    &sp)) == NULL)
		return;
	loopback = sp.is_loopback;
	c = xcalloc(1, sizeof(*c));
	c->srv = srv;
	c->send_fd = -1;
	c->implicit_tls = implicit_tls;
	c->bev = bev;
	memcpy(c->addr, sp.addr, sizeof(c->addr));
	memcpy(c->id, sp.id, sizeof(c->id));
	buf_init(&c->sendbuf, 2 * POP3_CONN_CHUNK + 16);
	memset(&peer, 0, sizeof(peer));
	peer.session_id = c->id;
	peer.addr = c->addr;
	peer.is_loopback = loopback;
	peer.is_tls = implicit_tls;
	scfg = ps->cfg;
	c->session = pop3_session_new(&scfg, &pop3_ops, c, &peer);
	c->next = ps->conns;
	if (c->next != NULL)
		c->next->prev = c;
	ps->conns = c;
	log_debug("pop3 connect sid=%s peer=%s tls=%d", c->id, c->addr,
	    (int)implicit_tls);
	if (implicit_tls) {
		c->tls_handshake = true;
		conn_setup(c, TLS_HANDSHAKE_TIMEOUT);
		return;
	}
	conn_setup(c, POP3_CONN_IDLE);
	c->started = true;
	pop3_session_start(c->session);
	conn_run(c);
}

/* ---- the server's part ----------------------------------------- */

int
pop3_server_start(struct server *srv)
{
	struct pop3_server *ps;
	struct auth_throttle_config tc;
	size_t i;

	ps = xcalloc(1, sizeof(*ps));
	ps->srv = srv;
	pthread_mutex_init(&ps->mu, NULL);
	pthread_cond_init(&ps->cv, NULL);
	/*
	 * One counter for SMTP AUTH and POP3 when both run, so a guesser
	 * gains nothing by switching protocols
	 */
	if (srv->smtp_throttle != NULL) {
		ps->throttle = srv->smtp_throttle;
	} else {
		auth_throttle_defaults(&tc);
		ps->own_throttle = auth_throttle_new(&tc);
		ps->throttle = ps->own_throttle;
	}
	ps->cfg.hostname = srv->cfg->hostname;
	ps->cfg.tls_available = tls_enabled(srv);
	/* DESIGN: plaintext passwords over TLS, or from loopback if allowed */
	ps->cfg.plaintext_loopback = srv->cfg->plaintext_auth_loopback;
	ps->cfg.scram_available = true;
	/*
	 * SMTP AUTH's secret: an unknown user's fake SCRAM salt must be the
	 * same on both protocols, or comparing them would tell
	 */
	ps->cfg.sasl_secret = srv->auth_secret;
	ps->cfg.sasl_secret_len = sizeof(srv->auth_secret);
	srv->pop3 = ps;
	for (i = 0; i < POP3_WORKERS; i++) {
		if (pthread_create(&ps->threads[i], NULL, worker_main,
		    ps) != 0) {
			log_error("pop3: cannot start a worker thread");
			return -1;
		}
		ps->nthreads++;
	}
	return 0;
}

void
pop3_server_shutdown(struct server *srv)
{
	struct pop3_conn *c, *next;

	if (srv->pop3 == NULL)
		return;
	for (c = srv->pop3->conns; c != NULL; c = next) {
		next = c->next;
		if (c->dead || c->closing || c->tls_handshake || c->tls_wait ||
		    c->sending || pop3_session_is_pending(c->session))
			continue;
		pop3_session_shutdown(c->session);
		conn_run(c);
	}
}

bool
pop3_server_idle(const struct server *srv)
{
	return srv->pop3 == NULL || srv->pop3->conns == NULL;
}

void
pop3_server_stop(struct server *srv)
{
	struct pop3_server *ps = srv->pop3;
	struct pop3_job *j;
	size_t i;

	if (ps == NULL)
		return;
	pthread_mutex_lock(&ps->mu);
	ps->stop = true;
	pthread_cond_broadcast(&ps->cv);
	pthread_mutex_unlock(&ps->mu);
	for (i = 0; i < ps->nthreads; i++)
		pthread_join(ps->threads[i], NULL);
	/* jobs never run, or whose result never reached the loop */
	while ((j = ps->out) != NULL) {
		ps->out = j->out_next;
		job_free(j);
	}
	ps->head = ps->tail = NULL;
	while (ps->conns != NULL) {
		struct pop3_conn *c = ps->conns;

		conn_release(c);
		if (ps->conns == c)
			conn_free(c);
	}
	auth_throttle_free(&ps->own_throttle);
	pthread_mutex_destroy(&ps->mu);
	pthread_cond_destroy(&ps->cv);
	free(ps);
	srv->pop3 = NULL;
}
