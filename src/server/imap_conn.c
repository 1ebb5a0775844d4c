/*
 * imap_conn.c - IMAP connections: socket bytes <-> imap_session, on worker
 * threads; the imap (143, STARTTLS) and imaps (993, implicit TLS, RFC 8314)
 * listeners; COMPRESS=DEFLATE (RFC 4978); IDLE notifications (RFC 2177);
 * the autologout timer (RFC 9051 5.4).
 *
 * The session (src/imap/imap_session.h) is sans-I/O but runs its commands
 * against the mail store synchronously, so it never runs on the event
 * loop: each connection has at most one job out at a time, and a job hands
 * the session, the input read so far and an output buffer to one of a few
 * worker threads.  Each worker owns its accounts handle and a cache of open
 * mailstores (struct imap_env).  The result comes back to the loop with
 * event_base_once; the loop writes the output and acts on the status the
 * session returned: MORE (resume once the socket drained), AUTH (login
 * throttle and the argon2 check through auth_pool, then auth_done on a
 * worker), AUTH_GATE (the throttle's verdict on a SCRAM exchange, then
 * auth_gate on a worker; its outcome is counted after every job),
 * STARTTLS (handshake, then imap_session_tls_started), COMPRESS
 * (raw deflate both ways from the next byte on), IDLE (this connection
 * hears of changes to its account), CLOSE.  While a job is out the loop
 * touches neither the session nor its buffers; the socket keeps being read
 * into the bufferevent only up to IMAP_CONN_READ_HIGH.
 *
 * Memory: an idle connection (between commands or in IDLE) keeps no
 * buffer of its own: the input and output buffers are freed whenever the
 * connection has nothing to do, libevent frees drained buffer chains, and
 * OpenSSL releases its record buffers (SSL_MODE_RELEASE_BUFFERS, tls.c).
 * What stays is the session, the bufferevent (and SSL object), and with
 * COMPRESS the inflater (its 32 KiB window: the client may refer that far
 * back); the deflater is made per response burst (deflater_get).
 *
 * Notifications: every IDLE connection is filed under its account's user
 * id.  A change to an account (a delivery, another session's command)
 * marks every IDLE connection of that account, which then runs
 * imap_session_poll on a worker.  Changes made by another process (the
 * CLI) are caught by a slow poll of every IDLE connection.
 *
 * Untrusted input before authentication passes through here, but only to
 * the session; this file reads nothing of it except to inflate it.
 */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "auth/auth_throttle.h"
#include "conf/config.h"
#include "imap/imap_session.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "server/tls.h"
#include "store/accounts.h"
#include "store/mailstore.h"

#define IMAP_CONN_WORKERS	4
/* Input handed to the session in one job (after inflating). */
#define IMAP_CONN_CHUNK		(64 * 1024)
/* Socket input kept while a job is out: past it, stop reading. */
#define IMAP_CONN_READ_HIGH	(64 * 1024)
/* After IMAP_SESSION_MORE: resume once the output is below this. */
#define IMAP_CONN_SEND_LOW	(64 * 1024)
/*
 * Ceiling of one job's output.  The session pauses (MORE) past
 * IMAP_SESSION_OUT_HIGH, but one item (a whole message literal) may go
 * beyond it.
 */
#define IMAP_CONN_OUT_MAX	(IMAP_MAX_APPEND + 2u * IMAP_SESSION_OUT_HIGH)
/* RFC 9051 5.4: at least 30 minutes once logged in; short before. */
#define IMAP_CONN_AUTOLOGOUT	(30 * 60)
#define IMAP_CONN_PRELOGIN	120
/* Seconds between polls of every IDLE session (other processes' changes) */
#define IMAP_CONN_SLOW_POLL	30
/* Open mailstores cached per worker thread. */
#define IMAP_CONN_STORES	64
#define IMAP_CONN_BUCKETS	256
/*
 * Deflate window (2^n bytes) and memory level of our sending side: about
 * 40 KiB while a response goes out, nothing while idle.
 */
#define IMAP_CONN_ZWBITS	13
#define IMAP_CONN_ZMEMLEVEL	6
/* Change notifications remembered before "every account changed". */
#define IMAP_CONN_NOTIFY_MAX	1024

enum imap_job {
	IMAP_JOB_INPUT,
	IMAP_JOB_RESUME,
	IMAP_JOB_POLL,
	IMAP_JOB_AUTH,
	IMAP_JOB_GATE,		/* a SCRAM exchange may go on (or not) */
};

struct imap_conn {
	struct imap_server	*is;
	struct server		*srv;
	struct bufferevent	*bev;
	struct imap_session	*session;
	/* every connection; IDLE ones by account; the workers' queue */
	struct imap_conn	*prev, *next;
	struct imap_conn	*idle_prev, *idle_next;
	struct imap_conn	*job_next;
	char			 id[17];
	char			 addr[INET6_ADDRSTRLEN];
	bool			 implicit_tls;
	bool			 is_tls;
	/* socket gone: freed when the job or check out comes back */
	bool			 dead;
	bool			 closing;	/* flush, then release */
	bool			 tls_wait;	/* STARTTLS: OK going out */
	bool			 tls_handshake;
	bool			 busy;		/* a job is out */
	bool			 auth_out;	/* a password check is out */
	bool			 more;		/* resume once drained */
	bool			 idling;	/* the session is in IDLE */
	bool			 filed;		/* in the IDLE table */
	bool			 poll_wanted;	/* a change came */
	/* input is left that the session did not take: wait for more */
	bool			 in_stalled;
	bool			 logged_in;
	const char		*bye_wanted;	/* BYE reason, once free */
	int64_t			 user_id;	/* filed under this id */
	/* the job: owned by the worker while busy */
	enum imap_job		 job;
	enum imap_session_status st;
	enum imap_auth_result	 auth_r;
	bool			 gate_allowed;	/* IMAP_JOB_GATE */
	char			 account[ACCOUNTS_MAX_ADDRESS + 1];
	struct buf		 in;		/* to the session */
	struct buf		 out;		/* from the session */
	/* login throttle: the name tried, and how late to answer */
	char			*auth_user;
	uint64_t		 auth_start_ms;
	uint64_t		 auth_delay_ms;
	/* COMPRESS=DEFLATE */
	z_stream		*zin, *zout;
	uint64_t		 bytes_in, bytes_out;	/* on the wire */
};

struct imap_worker {
	struct imap_server	*is;
	pthread_t		 thread;
};

struct imap_server {
	struct server		*srv;
	struct imap_conn	*conns;
	struct imap_conn	*idle[IMAP_CONN_BUCKETS];
	struct imap_worker	 workers[IMAP_CONN_WORKERS];
	size_t			 nworkers;
	pthread_mutex_t		 mu;
	pthread_cond_t		 cv;
	struct imap_conn	*head, *tail;	/* jobs waiting */
	bool			 stop;
	struct auth_throttle	*throttle;	/* srv's, shared */
	struct imap_session_config cfg;
	struct event		*ev_poll;	/* slow poll of IDLE */
	struct event		*ev_notify;	/* from other threads */
	/* changed accounts, posted from any thread (notify_mu) */
	pthread_mutex_t		 notify_mu;
	int64_t			 notify_ids[IMAP_CONN_NOTIFY_MAX];
	size_t			 notify_n;
	bool			 notify_all;
};

static void conn_run(struct imap_conn *c);
static void conn_release(struct imap_conn *c);
static void conn_free(struct imap_conn *c);

/* ---- worker threads -------------------------------------------- */

static void
job_run(struct imap_conn *c, const struct imap_env *env)
{
	size_t used = 0;

	switch (c->job) {
	case IMAP_JOB_INPUT:
		c->st = imap_session_input(c->session, env, c->in.data,
		    c->in.len, &used, &c->out);
		if (used > c->in.len)
			panic("imap session ate more than it was given");
		c->in_stalled = used == 0;
		buf_consume(&c->in, used);
		break;
	case IMAP_JOB_RESUME:
		c->st = imap_session_resume(c->session, env, &c->out);
		break;
	case IMAP_JOB_POLL:
		c->st = imap_session_poll(c->session, env, &c->out);
		break;
	case IMAP_JOB_AUTH:
		c->st = imap_session_auth_done(c->session, env, c->auth_r,
		    c->auth_r == IMAP_AUTH_OK ? c->account : NULL, &c->out);
		break;
	case IMAP_JOB_GATE:
		c->st = imap_session_auth_gate(c->session, env,
		    c->gate_allowed, &c->out);
		break;
	}
}

static void job_done(evutil_socket_t fd, short what, void *arg);

static void *
worker_main(void *arg)
{
	struct imap_worker *w = arg;
	struct imap_server *is = w->is;
	const char *data_dir = is->srv->cfg->data_dir;
	struct accounts *a = NULL;
	struct imap_env env;

	memset(&env, 0, sizeof(env));
	env.stores = imap_store_cache_new(data_dir, IMAP_CONN_STORES);
	for (;;) {
		struct imap_conn *c;
		struct timeval now = { 0, 0 };

		pthread_mutex_lock(&is->mu);
		while (is->head == NULL && !is->stop)
			pthread_cond_wait(&is->cv, &is->mu);
		if (is->stop) {
			pthread_mutex_unlock(&is->mu);
			break;
		}
		c = is->head;
		is->head = c->job_next;
		if (is->head == NULL)
			is->tail = NULL;
		c->job_next = NULL;
		pthread_mutex_unlock(&is->mu);

		if (a == NULL) {
			const char *err = NULL;

			/* retried at the next job if it fails */
			a = accounts_open(data_dir, &err);
			if (a == NULL)
				log_error("imap worker cannot open accounts: "
				    "%s", err ? err : "?");
		}
		env.accounts = a;
		env.now_ms = monotonic_ms();
		job_run(c, &env);
		if (event_base_once(is->srv->base, -1, EV_TIMEOUT, job_done, c,
		    &now) < 0)
			log_error("imap cannot post a result to the loop");
	}
	imap_store_cache_free(&env.stores);
	accounts_close(&a);
	return NULL;
}

static void
job_submit(struct imap_conn *c, enum imap_job kind)
{
	struct imap_server *is = c->is;

	ASSERT(!c->busy && !c->dead);
	c->job = kind;
	c->busy = true;
	pthread_mutex_lock(&is->mu);
	if (is->tail != NULL)
		is->tail->job_next = c;
	else
		is->head = c;
	is->tail = c;
	pthread_cond_signal(&is->cv);
	pthread_mutex_unlock(&is->mu);
}

/* ---- IDLE: who hears of which account's changes ---------------- */

static size_t
bucket_of(int64_t user_id)
{
	return (size_t)((uint64_t)user_id % IMAP_CONN_BUCKETS);
}

static void
idle_file(struct imap_conn *c, bool want)
{
	struct imap_server *is = c->is;
	size_t b;

	if (want && c->filed && c->user_id != imap_session_user_id(c->session))
		idle_file(c, false);
	if (want == c->filed)
		return;
	if (want) {
		c->user_id = imap_session_user_id(c->session);
		b = bucket_of(c->user_id);
		c->idle_prev = NULL;
		c->idle_next = is->idle[b];
		if (c->idle_next != NULL)
			c->idle_next->idle_prev = c;
		is->idle[b] = c;
	} else {
		b = bucket_of(c->user_id);
		if (c->idle_prev != NULL)
			c->idle_prev->idle_next = c->idle_next;
		else
			is->idle[b] = c->idle_next;
		if (c->idle_next != NULL)
			c->idle_next->idle_prev = c->idle_prev;
		c->idle_prev = c->idle_next = NULL;
	}
	c->filed = want;
}

/* wake - a change may concern c's mailbox: poll it (now or after its job) */
static void
wake(struct imap_conn *c)
{
	c->poll_wanted = true;
	conn_run(c);
}

/* wake_user - every IDLE connection of user_id (0: of every account) */
static void
wake_user(struct imap_server *is, int64_t user_id)
{
	struct imap_conn *c, *next;
	size_t b, lo = 0, hi = IMAP_CONN_BUCKETS;

	if (user_id != 0) {
		lo = bucket_of(user_id);
		hi = lo + 1;
	}
	for (b = lo; b < hi; b++) {
		/* conn_run may unfile c (a job comes back at once only on
		 * the loop, so never inside this walk, but be safe) */
		for (c = is->idle[b]; c != NULL; c = next) {
			next = c->idle_next;
			if (user_id == 0 || c->user_id == user_id)
				wake(c);
		}
	}
}

static struct imap_server *notify_target;	/* the running server */
static pthread_mutex_t notify_target_mu = PTHREAD_MUTEX_INITIALIZER;

/*
 * on_store_change - the store's change hook (mailstore_set_change_hook):
 * an account's mail changed.  Runs on the committing thread (a local
 * delivery, an IMAP or POP3 worker); cheap: notes the id, wakes the loop.
 * The server is found through notify_target under its lock, so a commit
 * racing with imap_server_stop never sees a freed server.
 */
static void
on_store_change(void *ctx, int64_t user_id)
{
	struct imap_server *is;
	size_t i;

	(void)ctx;
	pthread_mutex_lock(&notify_target_mu);
	is = notify_target;
	if (is == NULL) {
		pthread_mutex_unlock(&notify_target_mu);
		return;
	}
	pthread_mutex_lock(&is->notify_mu);
	for (i = 0; i < is->notify_n; i++)
		if (is->notify_ids[i] == user_id)
			break;
	if (i == is->notify_n) {
		if (is->notify_n < IMAP_CONN_NOTIFY_MAX)
			is->notify_ids[is->notify_n++] = user_id;
		else
			is->notify_all = true;
	}
	pthread_mutex_unlock(&is->notify_mu);
	event_active(is->ev_notify, EV_READ, 0);
	pthread_mutex_unlock(&notify_target_mu);
}

static void
on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct imap_server *is = arg;
	int64_t ids[IMAP_CONN_NOTIFY_MAX];
	size_t i, n;
	bool all;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&is->notify_mu);
	n = is->notify_n;
	memcpy(ids, is->notify_ids, n * sizeof(ids[0]));
	all = is->notify_all;
	is->notify_n = 0;
	is->notify_all = false;
	pthread_mutex_unlock(&is->notify_mu);
	if (all) {
		wake_user(is, 0);
		return;
	}
	for (i = 0; i < n; i++)
		if (ids[i] != 0)
			wake_user(is, ids[i]);
}

static void
on_poll(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	wake_user(arg, 0);
}

/* ---- COMPRESS=DEFLATE (RFC 4978) ------------------------------- */

static void *
z_alloc(void *opaque, unsigned items, unsigned size)
{
	(void)opaque;
	return xcalloc(items, size);
}

static void
z_free(void *opaque, void *p)
{
	(void)opaque;
	free(p);
}

/* compress_start - raw deflate both ways from the next byte on */
static int
compress_start(struct imap_conn *c)
{
	z_stream *zi = xcalloc(1, sizeof(*zi));

	zi->zalloc = z_alloc;
	zi->zfree = z_free;
	/* the client may use any window: inflate must keep 32 KiB */
	if (inflateInit2(zi, -15) != Z_OK) {
		free(zi);
		return -1;
	}
	c->zin = zi;
	return 0;
}

/*
 * deflater_get - our sending side, made when there is something to send.
 *
 * Each response burst ends with Z_SYNC_FLUSH: every byte sent so far is
 * in complete, non-final blocks ending on a byte boundary.  A fresh
 * deflater's blocks may follow them in the same raw stream (they refer to
 * nothing before themselves), so the deflater is freed whenever the
 * connection goes idle (conn_shrink) and an idle connection keeps only
 * the inflater.  The cost is the history of earlier responses, which
 * matters little: the repetition in IMAP output is within a response.
 */
static z_stream *
deflater_get(struct imap_conn *c)
{
	z_stream *zo;

	if (c->zout != NULL)
		return c->zout;
	zo = xcalloc(1, sizeof(*zo));
	zo->zalloc = z_alloc;
	zo->zfree = z_free;
	if (deflateInit2(zo, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
	    -IMAP_CONN_ZWBITS, IMAP_CONN_ZMEMLEVEL, Z_DEFAULT_STRATEGY) !=
	    Z_OK)
		fatal("imap: deflateInit2 failed");
	c->zout = zo;
	return zo;
}

static void
deflater_drop(struct imap_conn *c)
{
	if (c->zout != NULL) {
		deflateEnd(c->zout);
		free(c->zout);
		c->zout = NULL;
	}
}

static void
compress_end(struct imap_conn *c)
{
	if (c->zin != NULL) {
		inflateEnd(c->zin);
		free(c->zin);
		c->zin = NULL;
	}
	deflater_drop(c);
}

/* ---- bytes in, bytes out --------------------------------------- */

/* conn_write - to the socket, deflated (one sync flush) under COMPRESS */
static void
conn_write(struct imap_conn *c, const uint8_t *p, size_t n)
{
	uint8_t tmp[16384];
	z_stream *z;

	if (n == 0)
		return;
	if (c->zin == NULL) {
		c->bytes_out += n;
		bufferevent_write(c->bev, p, n);
		return;
	}
	z = deflater_get(c);
	/* avail_in is an unsigned int: feed huge outputs in slices */
	do {
		size_t slice = n > (1u << 30) ? (1u << 30) : n;

		z->next_in = (uint8_t *)(uintptr_t)p;
		z->avail_in = (unsigned)slice;
		p += slice;
		n -= slice;
		do {
			z->next_out = tmp;
			z->avail_out = sizeof(tmp);
			if (deflate(z, Z_SYNC_FLUSH) == Z_STREAM_ERROR)
				panic("imap deflate state broken");
			bufferevent_write(c->bev, tmp,
			    sizeof(tmp) - z->avail_out);
			c->bytes_out += sizeof(tmp) - z->avail_out;
		} while (z->avail_out == 0);
	} while (n > 0);
}

/* conn_output - send the session's output, then let the buffer go */
static void
conn_output(struct imap_conn *c)
{
	conn_write(c, c->out.data, c->out.len);
	buf_reset(&c->out);
}

/*
 * conn_take_input - move socket bytes into c->in (inflating them under
 * COMPRESS), up to IMAP_CONN_CHUNK.  Returns the bytes added, or -1 if
 * the compressed stream is broken.
 */
static ssize_t
conn_take_input(struct imap_conn *c)
{
	struct evbuffer *ib = bufferevent_get_input(c->bev);
	size_t room, added = 0;
	uint8_t *dst;

	if (c->in.len >= IMAP_CONN_CHUNK)
		return 0;
	room = IMAP_CONN_CHUNK - c->in.len;
	if (c->zin == NULL) {
		size_t n = evbuffer_get_length(ib);

		if (n > room)
			n = room;
		if (n == 0)
			return 0;
		dst = buf_reserve(&c->in, n);
		if (dst == NULL)
			panic("imap input buffer below its chunk");
		if (evbuffer_remove(ib, dst, n) != (int)n)
			panic("imap evbuffer_remove short");
		c->in.len += n;
		c->bytes_in += n;
		return (ssize_t)n;
	}
	dst = buf_reserve(&c->in, room);
	if (dst == NULL)
		panic("imap input buffer below its chunk");
	for (;;) {
		struct evbuffer_iovec v;
		size_t have;
		int r;

		have = evbuffer_peek(ib, -1, NULL, &v, 1) == 1 ? v.iov_len : 0;
		c->zin->next_in = have > 0 ? v.iov_base : NULL;
		c->zin->avail_in = (unsigned)have;
		c->zin->next_out = dst + added;
		c->zin->avail_out = (unsigned)(room - added);
		r = inflate(c->zin, Z_SYNC_FLUSH);
		if (r != Z_OK && r != Z_BUF_ERROR) {
			/* Z_STREAM_END too: RFC 4978 has no way back */
			log_info("imap compressed input broken sid=%s peer=%s "
			    "zlib=%d", c->id, c->addr, r);
			return -1;
		}
		evbuffer_drain(ib, have - c->zin->avail_in);
		c->bytes_in += have - c->zin->avail_in;
		added = room - c->zin->avail_out;
		/* stop when out of room, or when nothing moved */
		if (added == room || (have == c->zin->avail_in && r ==
		    Z_BUF_ERROR) || have == 0)
			break;
		if (c->zin->avail_in > 0)
			break;	/* output space ran out mid-segment */
	}
	c->in.len += added;
	c->in.data[c->in.len] = '\0';
	return (ssize_t)added;
}

/* conn_shrink - nothing to do: keep no buffer while waiting */
static void
conn_shrink(struct imap_conn *c)
{
	if (c->in.len == 0 && c->in.data != NULL)
		buf_fini(&c->in);
	if (c->out.len == 0 && c->out.data != NULL)
		buf_fini(&c->out);
	deflater_drop(c);
}

static void
conn_set_timeouts(struct imap_conn *c)
{
	struct timeval tv;

	tv.tv_sec = c->logged_in ? IMAP_CONN_AUTOLOGOUT : IMAP_CONN_PRELOGIN;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

/* conn_bye - BYE with a reason (timeout, shutdown), then close */
static void
conn_bye(struct imap_conn *c, const char *reason)
{
	struct timeval wt = { 10, 0 };

	c->bye_wanted = NULL;
	imap_session_bye(c->session, reason, &c->out);
	conn_output(c);
	c->closing = true;
	c->more = false;
	idle_file(c, false);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_set_timeouts(c->bev, NULL, &wt);
}

/* conn_run - hand the next piece of work to a worker, if any */
static void
conn_run(struct imap_conn *c)
{
	ssize_t n;

	if (c->dead || c->busy || c->auth_out || c->tls_wait ||
	    c->tls_handshake)
		return;
	if (c->closing) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_release(c);
		return;
	}
	if (c->bye_wanted != NULL) {
		conn_bye(c, c->bye_wanted);
		return;
	}
	if (c->more) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
		    IMAP_CONN_SEND_LOW)
			return;	/* on_write comes back */
		c->more = false;
		job_submit(c, IMAP_JOB_RESUME);
		return;
	}
	if (c->poll_wanted) {
		c->poll_wanted = false;
		if (c->idling) {
			job_submit(c, IMAP_JOB_POLL);
			return;
		}
	}
	n = conn_take_input(c);
	if (n < 0) {
		conn_release(c);
		return;
	}
	if (n > 0)
		c->in_stalled = false;
	if (c->in.len > 0 && !c->in_stalled) {
		job_submit(c, IMAP_JOB_INPUT);
		return;
	}
	conn_shrink(c);
}

/* ---- logins ---------------------------------------------------- */

static void
auth_answer(struct imap_conn *c, enum imap_auth_result r,
    const char *account)
{
	c->auth_r = r;
	if (account == NULL)
		c->account[0] = '\0';
	else if (account != c->account)
		snprintf(c->account, sizeof(c->account), "%s", account);
	free(c->auth_user);
	c->auth_user = NULL;
	job_submit(c, IMAP_JOB_AUTH);
}

static void
auth_delayed(evutil_socket_t fd, short what, void *arg)
{
	struct imap_conn *c = arg;

	(void)fd;
	(void)what;
	c->auth_out = false;
	if (c->dead) {
		conn_free(c);
		return;
	}
	auth_answer(c, c->auth_r, c->account[0] != '\0' ? c->account : NULL);
}

/* auth_checked - auth_pool's answer, on the loop */
static void
auth_checked(void *arg, int result, const char *account)
{
	struct imap_conn *c = arg;
	struct imap_server *is = c->is;
	enum imap_auth_result r;
	uint64_t now = monotonic_ms(), waited;

	if (c->dead) {
		c->auth_out = false;
		conn_free(c);
		return;
	}
	if (result == 1) {
		r = IMAP_AUTH_OK;
		auth_throttle_success(is->throttle, c->addr, c->auth_user,
		    now);
	} else if (result == 0) {
		r = IMAP_AUTH_BAD;
		if (auth_throttle_failure(is->throttle, c->addr, c->auth_user,
		    now))
			log_warn("imap auth throttled sid=%s peer=%s", c->id,
			    c->addr);
		/* the session logs the failure */
	} else {
		r = IMAP_AUTH_TEMP;
	}
	waited = now - c->auth_start_ms;
	if (c->auth_delay_ms > waited) {
		/* the throttle's delay: answer no earlier than it says */
		struct timeval tv;
		uint64_t left = c->auth_delay_ms - waited;

		tv.tv_sec = (time_t)(left / 1000);
		tv.tv_usec = (suseconds_t)(left % 1000) * 1000;
		c->auth_r = r;
		c->account[0] = '\0';
		if (account != NULL)
			snprintf(c->account, sizeof(c->account), "%s",
			    account);
		if (event_base_once(c->srv->base, -1, EV_TIMEOUT,
		    auth_delayed, c, &tv) == 0)
			return;
	}
	c->auth_out = false;
	auth_answer(c, r, account);
	conn_run(c);
}

/* auth_start - the session wants a password checked */
static void
auth_start(struct imap_conn *c)
{
	struct imap_server *is = c->is;
	const char *user = NULL, *password = NULL;
	uint64_t delay = 0;

	imap_session_auth_request(c->session, &user, &password);
	if (user == NULL || password == NULL) {
		auth_answer(c, IMAP_AUTH_TEMP, NULL);
		return;
	}
	switch (auth_throttle_check(is->throttle, c->addr, user,
	    monotonic_ms(), &delay)) {
	case AUTH_THROTTLE_BLOCK:
		log_warn("imap auth refused sid=%s peer=%s reason=throttled",
		    c->id, c->addr);
		auth_answer(c, IMAP_AUTH_THROTTLED, NULL);
		return;
	case AUTH_THROTTLE_DELAY:
	case AUTH_THROTTLE_ALLOW:
		break;
	}
	free(c->auth_user);
	c->auth_user = xstrdup(user);
	c->auth_start_ms = monotonic_ms();
	c->auth_delay_ms = delay;
	c->auth_out = true;
	auth_pool_verify(c->srv->auth_pool, user, password, auth_checked, c);
}

/*
 * SCRAM: the session checks the proof itself, but the throttle decides
 * whether the exchange may start (gate_start, on IMAP_SESSION_AUTH_GATE:
 * refused when blocked, held back by the delay) and counts how it ended
 * (auth_outcome, after every job), as for LOGIN.
 */
static void
gate_submit(struct imap_conn *c, bool allowed)
{
	c->gate_allowed = allowed;
	job_submit(c, IMAP_JOB_GATE);
}

static void
gate_delayed(evutil_socket_t fd, short what, void *arg)
{
	struct imap_conn *c = arg;

	(void)fd;
	(void)what;
	c->auth_out = false;
	if (c->dead) {
		conn_free(c);
		return;
	}
	gate_submit(c, true);
}

static void
gate_start(struct imap_conn *c)
{
	struct imap_server *is = c->is;
	const char *user = NULL, *password = NULL;
	uint64_t delay = 0;
	struct timeval tv;

	imap_session_auth_request(c->session, &user, &password);
	switch (auth_throttle_check(is->throttle, c->addr, user,
	    monotonic_ms(), &delay)) {
	case AUTH_THROTTLE_BLOCK:
		log_warn("imap auth refused sid=%s peer=%s mech=SCRAM-SHA-256 "
		    "reason=throttled", c->id, c->addr);
		gate_submit(c, false);
		return;
	case AUTH_THROTTLE_DELAY:
		if (delay == 0)
			break;
		tv.tv_sec = (time_t)(delay / 1000);
		tv.tv_usec = (suseconds_t)(delay % 1000) * 1000;
		c->auth_out = true;
		if (event_base_once(c->srv->base, -1, EV_TIMEOUT,
		    gate_delayed, c, &tv) == 0)
			return;
		c->auth_out = false;
		break;
	case AUTH_THROTTLE_ALLOW:
		break;
	}
	gate_submit(c, true);
}

/* auth_outcome - a SCRAM result the session reported, to the throttle */
static void
auth_outcome(struct imap_conn *c)
{
	struct imap_server *is = c->is;
	const char *user = NULL;
	uint64_t now = monotonic_ms();

	switch (imap_session_auth_outcome(c->session, &user)) {
	case IMAP_AUTH_OK:
		auth_throttle_success(is->throttle, c->addr, user, now);
		break;
	case IMAP_AUTH_BAD:
		if (auth_throttle_failure(is->throttle, c->addr, user, now))
			log_warn("imap auth throttled sid=%s peer=%s", c->id,
			    c->addr);
		break;
	case IMAP_AUTH_THROTTLED:
	case IMAP_AUTH_TEMP:
		break;
	}
}

/* ---- the event loop side --------------------------------------- */

static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);

static void
conn_setup(struct imap_conn *c, unsigned timeout)
{
	struct timeval tv;

	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, IMAP_CONN_READ_HIGH);
	bufferevent_setwatermark(c->bev, EV_WRITE, IMAP_CONN_SEND_LOW, 0);
	tv.tv_sec = (time_t)timeout;
	tv.tv_usec = 0;
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* conn_release - drop the socket; free now unless a job or check is out */
static void
conn_release(struct imap_conn *c)
{
	if (c->dead)
		return;
	c->dead = true;
	idle_file(c, false);
	if (c->bev != NULL) {
		if (c->is_tls)
			tls_close_notify(c->bev);
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	conn_limit_leave(c->srv->limits, c->addr);
	log_debug("imap disconnect sid=%s peer=%s in=%llu out=%llu%s", c->id,
	    c->addr, (unsigned long long)c->bytes_in,
	    (unsigned long long)c->bytes_out,
	    c->zin != NULL ? " compress=deflate" : "");
	if (!c->busy && !c->auth_out)
		conn_free(c);
}

static void
conn_free(struct imap_conn *c)
{
	struct imap_server *is = c->is;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		is->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	imap_session_free(&c->session);
	compress_end(c);
	buf_fini(&c->in);
	buf_fini(&c->out);
	free(c->auth_user);
	free(c);
}

/* conn_starttls - the OK is out: switch the socket to TLS */
static void
conn_starttls(struct imap_conn *c)
{
	size_t discarded = 0;

	/* not one plaintext byte read after STARTTLS runs (CVE-2011-0411) */
	c->tls_wait = false;
	c->bev = tls_starttls(c->srv, c->bev, &discarded);
	discarded += c->in.len;
	buf_reset(&c->in);
	if (discarded > 0)
		log_warn("imap starttls-pipelined sid=%s peer=%s bytes=%zu "
		    "(discarded, not executed)", c->id, c->addr, discarded);
	if (c->bev == NULL) {
		conn_release(c);
		return;
	}
	c->tls_handshake = true;
	conn_setup(c, tls_handshake_timeout(c->srv));
}

static void
conn_tls_done(struct imap_conn *c)
{
	char info[128];

	c->tls_handshake = false;
	c->is_tls = true;
	conn_set_timeouts(c);
	tls_describe(c->bev, info, sizeof(info));
	log_debug("tls established sid=%s peer=%s tls=\"%s\"", c->id, c->addr,
	    info);
	if (c->implicit_tls && c->bytes_out == 0) {
		imap_session_greeting(c->session, &c->out);
		conn_output(c);
	} else {
		imap_session_tls_started(c->session);
	}
	conn_run(c);
}

static void
on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	conn_run(arg);
}

static void
on_write(struct bufferevent *bev, void *arg)
{
	struct imap_conn *c = arg;

	if (c->tls_wait) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_starttls(c);
		return;
	}
	conn_run(c);
}

static void
on_event(struct bufferevent *bev, short what, void *arg)
{
	struct imap_conn *c = arg;

	if (c->tls_handshake) {
		if (what & BEV_EVENT_CONNECTED) {
			conn_tls_done(c);
			return;
		}
		tls_log_failure(c->bev, what, "imap", c->id, c->addr);
		conn_release(c);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    !c->closing) {
		/* a command at work or a response going out is no idleness */
		if (c->busy || c->auth_out || c->more ||
		    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
			bufferevent_enable(bev, EV_READ);
			return;
		}
		log_info("imap autologout sid=%s peer=%s", c->id, c->addr);
		conn_bye(c, "Autologout; idle for too long");
		return;
	}
	/* EOF, error, or a write stalled past the timeout */
	conn_release(c);
}

/* job_done - a worker's result, back on the loop */
static void
job_done(evutil_socket_t fd, short what, void *arg)
{
	struct imap_conn *c = arg;
	enum imap_session_status st = c->st;
	bool was_idling = c->idling;

	(void)fd;
	(void)what;
	c->busy = false;
	/* counted even when the client has gone meanwhile */
	auth_outcome(c);
	if (c->dead) {
		conn_free(c);
		return;
	}
	/* the session's state moved: left input may go in now */
	if (c->job != IMAP_JOB_INPUT)
		c->in_stalled = false;
	conn_output(c);
	if (!c->logged_in && imap_session_user_id(c->session) != 0) {
		c->logged_in = true;
		conn_set_timeouts(c);
	}
	switch (st) {
	case IMAP_SESSION_OK:
		/* a poll leaves the session as it was (in IDLE) */
		if (c->job != IMAP_JOB_POLL)
			c->idling = false;
		break;
	case IMAP_SESSION_IDLE:
		c->idling = true;
		break;
	case IMAP_SESSION_MORE:
		c->more = true;
		break;
	case IMAP_SESSION_AUTH:
		c->idling = false;
		auth_start(c);
		break;
	case IMAP_SESSION_AUTH_GATE:
		c->idling = false;
		gate_start(c);
		break;
	case IMAP_SESSION_STARTTLS:
		c->idling = false;
		c->tls_wait = true;
		bufferevent_disable(c->bev, EV_READ);
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			conn_starttls(c);
		return;
	case IMAP_SESSION_COMPRESS:
		c->idling = false;
		if (c->zin != NULL || compress_start(c) < 0) {
			log_error("imap cannot start COMPRESS sid=%s", c->id);
			conn_release(c);
			return;
		}
		/*
		 * Bytes read past the COMPRESS command are already deflated
		 * (a client must wait for our OK, but may not): put them
		 * back in front of the socket input, to be inflated.
		 */
		if (c->in.len > 0) {
			evbuffer_prepend(bufferevent_get_input(c->bev),
			    c->in.data, c->in.len);
			buf_reset(&c->in);
		}
		log_debug("imap compress sid=%s peer=%s", c->id, c->addr);
		break;
	case IMAP_SESSION_CLOSE: {
		struct timeval wt = { 10, 0 };

		c->idling = false;
		c->closing = true;
		c->more = false;
		bufferevent_disable(c->bev, EV_READ);
		/* the last words get 10 s to go out, not the autologout */
		bufferevent_set_timeouts(c->bev, NULL, &wt);
		break;
	}
	}
	idle_file(c, c->idling && !c->closing);
	/*
	 * A change committed while the IDLE command was at work reached
	 * nobody: look once more now that this connection is filed
	 */
	if (c->idling && !was_idling)
		c->poll_wanted = true;
	conn_run(c);
}

/* ---- accepting ------------------------------------------------- */

void
imap_conn_accept(struct server *srv, bool implicit_tls, int fd,
    const struct sockaddr *sa, int salen)
{
	struct imap_server *is = srv->imap;
	struct imap_conn *c;
	struct imap_peer peer;
	bool loopback = false;
	struct server_peer sp;
	struct bufferevent *bev;

	(void)salen;
	if ((bev = server_accept_open(srv, fd, sa, implicit_tls, "imap",
	    "* BYE [UNAVAILABLE] Too many connections, try later\r\n",
	    &sp)) == NULL)
		return;
	loopback = sp.is_loopback;
	c = xcalloc(1, sizeof(*c));
	c->is = is;
	c->srv = srv;
	c->implicit_tls = implicit_tls;
	c->bev = bev;
	memcpy(c->addr, sp.addr, sizeof(c->addr));
	memcpy(c->id, sp.id, sizeof(c->id));
	buf_init(&c->in, IMAP_CONN_CHUNK);
	buf_init(&c->out, IMAP_CONN_OUT_MAX);
	memset(&peer, 0, sizeof(peer));
	peer.session_id = c->id;
	peer.addr = c->addr;
	peer.is_loopback = loopback;
	peer.is_tls = implicit_tls;
	c->session = imap_session_new(&is->cfg, &peer);
	c->next = is->conns;
	if (c->next != NULL)
		c->next->prev = c;
	is->conns = c;
	log_debug("imap connect sid=%s peer=%s tls=%d", c->id, c->addr,
	    (int)implicit_tls);
	if (implicit_tls) {
		c->tls_handshake = true;
		conn_setup(c, tls_handshake_timeout(srv));
		return;
	}
	conn_setup(c, IMAP_CONN_PRELOGIN);
	imap_session_greeting(c->session, &c->out);
	conn_output(c);
	conn_run(c);
}

/* ---- the server's part ----------------------------------------- */

int
imap_server_start(struct server *srv)
{
	struct imap_server *is;
	struct auth_throttle_config tc;
	struct timeval tv = { IMAP_CONN_SLOW_POLL, 0 };
	size_t i;

	is = xcalloc(1, sizeof(*is));
	is->srv = srv;
	pthread_mutex_init(&is->mu, NULL);
	pthread_cond_init(&is->cv, NULL);
	pthread_mutex_init(&is->notify_mu, NULL);
	/*
	 * One failure counter and one pool of password checkers for every
	 * protocol (a guesser gains nothing by switching from IMAP to SMTP
	 * AUTH or POP3); server_run frees both.
	 */
	if (srv->smtp_throttle == NULL) {
		auth_throttle_defaults(&tc);
		srv->smtp_throttle = auth_throttle_new(&tc);
	}
	is->throttle = srv->smtp_throttle;
	if (srv->auth_pool == NULL)
		srv->auth_pool = auth_pool_new(srv->base, srv->cfg->data_dir);
	is->cfg.hostname = srv->cfg->hostname;
	is->cfg.data_dir = srv->cfg->data_dir;
	is->cfg.tls_available = tls_enabled(srv);
	is->cfg.plaintext_loopback = srv->cfg->plaintext_auth_loopback;
	is->cfg.append_limit = srv->cfg->max_message_size;
	/* RFC 9208: the same default limit as local delivery applies */
	is->cfg.quota_default = srv->cfg->store_quota;
	/* the same fake SCRAM salts as SMTP AUTH and POP3 */
	is->cfg.sasl_secret = srv->auth_secret;
	is->cfg.sasl_secret_len = sizeof(srv->auth_secret);
	is->ev_notify = event_new(srv->base, -1, 0, on_notify, is);
	is->ev_poll = event_new(srv->base, -1, EV_PERSIST, on_poll, is);
	event_add(is->ev_poll, &tv);
	srv->imap = is;
	pthread_mutex_lock(&notify_target_mu);
	notify_target = is;
	pthread_mutex_unlock(&notify_target_mu);
	mailstore_set_change_hook(on_store_change, NULL);
	for (i = 0; i < IMAP_CONN_WORKERS; i++) {
		is->workers[i].is = is;
		if (pthread_create(&is->workers[i].thread, NULL, worker_main,
		    &is->workers[i]) != 0) {
			log_error("imap: cannot start a worker thread");
			return -1;
		}
		is->nworkers++;
	}
	return 0;
}

void
imap_server_shutdown(struct server *srv)
{
	struct imap_conn *c, *next;

	if (srv->imap == NULL)
		return;
	for (c = srv->imap->conns; c != NULL; c = next) {
		next = c->next;
		if (c->dead || c->closing)
			continue;
		if (c->tls_handshake || c->tls_wait) {
			conn_release(c);
			continue;
		}
		/* a command at work finishes first */
		c->bye_wanted = "Server shutting down";
		conn_run(c);
	}
}

bool
imap_server_idle(const struct server *srv)
{
	return srv->imap == NULL || srv->imap->conns == NULL;
}

void
imap_server_stop(struct server *srv)
{
	struct imap_server *is = srv->imap;
	size_t i;

	if (is == NULL)
		return;
	mailstore_set_change_hook(NULL, NULL);
	pthread_mutex_lock(&notify_target_mu);
	notify_target = NULL;
	pthread_mutex_unlock(&notify_target_mu);
	pthread_mutex_lock(&is->mu);
	is->stop = true;
	pthread_cond_broadcast(&is->cv);
	pthread_mutex_unlock(&is->mu);
	for (i = 0; i < is->nworkers; i++)
		pthread_join(is->workers[i].thread, NULL);
	/*
	 * No worker runs now, and no result or password check will reach
	 * the loop again: every connection can go
	 */
	is->head = is->tail = NULL;
	while (is->conns != NULL) {
		struct imap_conn *c = is->conns;

		c->busy = false;
		c->auth_out = false;
		if (c->dead)
			conn_free(c);
		else
			conn_release(c);
	}
	event_free(is->ev_poll);
	event_free(is->ev_notify);
	pthread_mutex_destroy(&is->notify_mu);
	pthread_mutex_destroy(&is->mu);
	pthread_cond_destroy(&is->cv);
	free(is);
	srv->imap = NULL;
}
