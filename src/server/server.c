/*
 * server.c - `postino serve`: listeners, signals, queue and delivery.
 */
#include "server/server.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"
#include "queue/queue.h"
#include "delivery/local.h"
#include "delivery/remote.h"
#include "dns/dns.h"
#include "server/server_int.h"
#include "server/tls.h"
#include "auth/auth_throttle.h"
#include "lib/util.h"
#include "store/accounts.h"

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listen_ctx *lc = arg;

	(void)l;
	switch (lc->kind) {
	case LISTENER_SMTP:
	case LISTENER_SUBMISSION:
	case LISTENER_SUBMISSIONS:
		smtp_conn_accept(lc->srv, lc->kind, fd, sa, salen);
		break;
	case LISTENER_POP3:
	case LISTENER_POP3S:
		pop3_conn_accept(lc->srv, lc->kind == LISTENER_POP3S, fd, sa,
		    salen);
		break;
	case LISTENER_IMAP:
	case LISTENER_IMAPS:
		imap_conn_accept(lc->srv, lc->kind == LISTENER_IMAPS, fd, sa,
		    salen);
		break;
	}
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	/* EMFILE and friends: log (the listener keeps going) */
	log_error("accept failed: %s", strerror(errno));
}

static int
listen_on(struct server *srv, const char *service, enum listener_kind kind,
    const struct config_listen *cl)
{
	size_t i;

	for (i = 0; i < cl->n; i++) {
		struct addrinfo hints, *res = NULL;
		struct evconnlistener *l;
		char port[8];
		int r;

		if (srv->nlisteners == sizeof(srv->listeners) /
		    sizeof(srv->listeners[0])) {
			log_error("too many listeners");
			return -1;
		}
		memset(&hints, 0, sizeof(hints));
		hints.ai_flags = AI_NUMERICHOST | AI_PASSIVE;
		hints.ai_socktype = SOCK_STREAM;
		snprintf(port, sizeof(port), "%u", cl->port[i]);
		r = getaddrinfo(cl->host[i], port, &hints, &res);
		if (r != 0) {
			log_error("listen %s: bad address %s: %s", service,
			    cl->host[i], gai_strerror(r));
			return -1;
		}
		srv->listen_ctx[srv->nlisteners].srv = srv;
		srv->listen_ctx[srv->nlisteners].kind = kind;
		l = evconnlistener_new_bind(srv->base, on_accept,
		    &srv->listen_ctx[srv->nlisteners],
		    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE |
		    LEV_OPT_CLOSE_ON_EXEC, 511, res->ai_addr,
		    (int)res->ai_addrlen);
		freeaddrinfo(res);
		if (l == NULL) {
			log_error("listen %s on %s port %u: %s", service,
			    cl->host[i], cl->port[i], strerror(errno));
			return -1;
		}
		evconnlistener_set_error_cb(l, on_accept_error);
		srv->listeners[srv->nlisteners++] = l;
		log_info("listening service=%s addr=%s port=%u", service,
		    cl->host[i], cl->port[i]);
	}
	return 0;
}

static void
on_queue_notify(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	queue_run_completions(srv->queue);
}

static void
on_remote_done(void *arg, struct queue_job *job)
{
	struct server *srv = arg;

	queue_remote_done(srv->queue, job);
}

/* on_remote_job - the queue hands over recipients for other servers */
static void
on_remote_job(void *ctx, struct queue_job *job, const size_t *idx, size_t n)
{
	struct server *srv = ctx;

	remote_delivery_submit(srv->remote, job, idx, n, on_remote_done, srv);
}

/* queue_notify - called from the queue's threads */
static void
queue_notify(void *arg)
{
	struct server *srv = arg;

	event_active(srv->ev_queue, EV_READ, 0);
}

/* Shutdown: at most this long for 421s, BYEs and pending commits. */
#define STOP_GRACE_MS	2000
#define STOP_TICK_MS	20

/* on_stop_tick - ends the loop once every connection is gone, or at the
 * end of the grace period */
static void
on_stop_tick(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	if (++srv->stop_ticks >= STOP_GRACE_MS / STOP_TICK_MS ||
	    (srv->smtp_conns == NULL && pop3_server_idle(srv) &&
	    imap_server_idle(srv)))
		event_base_loopbreak(srv->base);
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct timeval tick = { 0, STOP_TICK_MS * 1000 };

	(void)what;
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		if (srv->stopping) {
			event_base_loopbreak(srv->base);
			return;
		}
		log_info("shutting down signal=%d", (int)sig);
		srv->stopping = true;
		smtp_conn_shutdown_all(srv);
		pop3_server_shutdown(srv);
		imap_server_shutdown(srv);
		/* let 421s and pending commits finish, then stop */
		srv->ev_stop = event_new(srv->base, -1, EV_PERSIST,
		    on_stop_tick, srv);
		if (srv->ev_stop == NULL ||
		    event_add(srv->ev_stop, &tick) < 0) {
			struct timeval grace = { STOP_GRACE_MS / 1000, 0 };

			event_base_loopexit(srv->base, &grace);
		}
		break;
	case SIGUSR1:
		log_info("queue flush requested");
		queue_rescan(srv->queue);
		queue_flush(srv->queue);
		break;
	case SIGHUP:
		log_info("reload requested: the TLS certificate is reloaded; "
		    "other settings in postino.conf need a restart; accounts, "
		    "aliases and domains are always live");
		tls_reload(srv);
		break;
	}
}

/*
 * submission_config_init - 587 and 465 (RFC 6409, RFC 8314): the same
 * limits as port 25, AUTH before MAIL; STARTTLS wherever a certificate
 * is loaded (smtp_conn.c clears it for 465, where TLS is already on).
 */
static void
submission_config_init(struct server *srv)
{
	srv->smtp_cfg.tls_available = tls_enabled(srv);
	srv->smtp_cfg.tls_ready = tls_enabled(srv);
	srv->submission_cfg = srv->smtp_cfg;
	srv->submission_cfg.auth_required = true;
	/*
	 * AUTH (RFC 4954) on 587 and 465 only; passwords over TLS, or from
	 * a loopback client (docs/tls.md), as the design promises.
	 */
	srv->submission_cfg.auth_enabled = true;
	srv->submission_cfg.auth_plaintext_loopback =
	    srv->cfg->plaintext_auth_loopback;
	random_bytes(srv->auth_secret, sizeof(srv->auth_secret));
	srv->submission_cfg.auth_secret = srv->auth_secret;
	srv->submission_cfg.auth_secret_len = sizeof(srv->auth_secret);
}

/* listen_tls - the listeners that need TLS: 587 and 465 */
static int
listen_tls(struct server *srv)
{
	const struct config *cfg = srv->cfg;

	if (cfg->submissions.n > 0 && !tls_enabled(srv)) {
		log_error("[listen] submissions needs [tls] cert and key");
		return -1;
	}
	if (cfg->submission.n > 0 && !tls_enabled(srv))
		log_warn("[listen] submission without [tls] cert: clients "
		    "cannot use STARTTLS, passwords only from loopback");
	if (cfg->submission.n > 0 || cfg->submissions.n > 0) {
		struct auth_throttle_config tc;

		auth_throttle_defaults(&tc);
		srv->smtp_throttle = auth_throttle_new(&tc);
		srv->auth_pool = auth_pool_new(srv->base, cfg->data_dir);
	}
	if (listen_on(srv, "submission", LISTENER_SUBMISSION,
	    &cfg->submission) < 0 ||
	    listen_on(srv, "submissions", LISTENER_SUBMISSIONS,
	    &cfg->submissions) < 0)
		return -1;
	return 0;
}

static void
smtp_config_init(struct server *srv)
{
	struct smtp_session_config *sc = &srv->smtp_cfg;
	const struct config *cfg = srv->cfg;

	memset(sc, 0, sizeof(*sc));
	sc->hostname = cfg->hostname;
	sc->max_message_size = cfg->max_message_size;
	sc->max_rcpts = (unsigned)cfg->max_recipients;
	sc->max_errors = (unsigned)cfg->max_errors;
	sc->max_received = (unsigned)cfg->max_received;
	sc->max_cmd_line = (size_t)cfg->max_line_length;
	sc->max_text_line = (size_t)cfg->max_text_line;
	sc->vrfy_enabled = cfg->vrfy;
	sc->expn_enabled = cfg->expn;
	submission_config_init(srv);
}

/* listen_pop3 - [listen] pop3 (STLS if TLS is on) and pop3s (implicit) */
static int
listen_pop3(struct server *srv)
{
	const struct config *cfg = srv->cfg;

	if (cfg->pop3.n == 0 && cfg->pop3s.n == 0)
		return 0;
	if (cfg->pop3s.n > 0 && !tls_enabled(srv)) {
		log_error("[listen] pop3s needs [tls] cert and key");
		return -1;
	}
	if (pop3_server_start(srv) < 0 ||
	    listen_on(srv, "pop3", LISTENER_POP3, &cfg->pop3) < 0 ||
	    listen_on(srv, "pop3s", LISTENER_POP3S, &cfg->pop3s) < 0)
		return -1;
	return 0;
}

/* listen_imap - [listen] imap (STARTTLS if TLS is on) and imaps (implicit) */
static int
listen_imap(struct server *srv)
{
	const struct config *cfg = srv->cfg;

	if (cfg->imap.n == 0 && cfg->imaps.n == 0)
		return 0;
	if (cfg->imaps.n > 0 && !tls_enabled(srv)) {
		log_error("[listen] imaps needs [tls] cert and key");
		return -1;
	}
	if (imap_server_start(srv) < 0 ||
	    listen_on(srv, "imap", LISTENER_IMAP, &cfg->imap) < 0 ||
	    listen_on(srv, "imaps", LISTENER_IMAPS, &cfg->imaps) < 0)
		return -1;
	return 0;
}

static void
warn_unavailable(const char *name, const struct config_listen *l)
{
	if (l->n > 0)
		log_warn("listener %s is configured but this version does not "
		    "serve it yet; not started", name);
}

static int
drop_privileges(const char *user)
{
	struct passwd *pw;

	if (user[0] == '\0' || getuid() != 0)
		return 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		log_error("[server] user: no such user '%s'", user);
		return -1;
	}
	if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_error("cannot drop privileges to %s: %s", user,
		    strerror(errno));
		return -1;
	}
	log_info("running as user=%s uid=%ld", user, (long)pw->pw_uid);
	return 0;
}

int
server_run(struct config *cfg)
{
	static const int sigs[] = { SIGTERM, SIGINT, SIGUSR1, SIGHUP };
	struct server srv;
	struct queue_config qc;
	const char *err = NULL;
	char *qdir, *pidfile = NULL;
	size_t i;
	int status = 1;

	memset(&srv, 0, sizeof(srv));
	srv.cfg = cfg;
	if (!strcmp(cfg->log_level, "debug"))
		log_set_level(LOG_LEVEL_DEBUG);
	else if (!strcmp(cfg->log_level, "warn"))
		log_set_level(LOG_LEVEL_WARN);
	else if (!strcmp(cfg->log_level, "error"))
		log_set_level(LOG_LEVEL_ERROR);
	signal(SIGPIPE, SIG_IGN);
	if (evthread_use_pthreads() < 0)
		fatal("libevent without thread support");
	srv.base = event_base_new();
	if (srv.base == NULL)
		fatal("event_base_new failed");
	if (tls_init(&srv) < 0)
		goto out;
	smtp_config_init(&srv);
	srv.limits = conn_limit_new((unsigned)cfg->max_connections,
	    (unsigned)cfg->max_connections_per_ip);

	if (listen_on(&srv, "smtp", LISTENER_SMTP, &cfg->smtp) < 0)
		goto out;
	if (listen_tls(&srv) < 0)
		goto out;
	/* before POP3: it then shares the login throttle IMAP makes */
	if (listen_imap(&srv) < 0)
		goto out;
	if (listen_pop3(&srv) < 0)
		goto out;
	warn_unavailable("http", &cfg->http);
	if (drop_privileges(cfg->run_as) < 0)
		goto out;

	srv.accounts = accounts_open(cfg->data_dir, &err);
	if (srv.accounts == NULL) {
		log_error("cannot open the account database in %s: %s",
		    cfg->data_dir, err ? err : "?");
		goto out;
	}
	qdir = config_data_path(cfg, "queue");
	memset(&qc, 0, sizeof(qc));
	qc.dir = qdir;
	qc.retry_first = cfg->retry_first;
	qc.retry_max = cfg->retry_max;
	qc.lifetime = cfg->lifetime;
	qc.delay_warning = cfg->delay_warning;
	qc.batch_max = (unsigned)cfg->queue_batch;
	qc.hostname = cfg->hostname;
	srv.queue = queue_open(&qc, &err);
	free(qdir);
	if (srv.queue == NULL) {
		log_error("cannot open the queue: %s", err ? err : "?");
		goto out;
	}
	srv.ev_queue = event_new(srv.base, -1, 0, on_queue_notify, &srv);
	queue_set_notify(srv.queue, queue_notify, &srv);
	srv.dns = dns_new(srv.base, cfg->dns_servers, &err);
	if (srv.dns == NULL) {
		log_error("[dns] servers: %s", err ? err : "?");
		goto out;
	}
	{
		struct remote_settings rs;

		memset(&rs, 0, sizeof(rs));
		rs.helo_name = cfg->hostname;
		rs.port = (unsigned)cfg->smtp_port;
		rs.max_connections = (unsigned)cfg->delivery_max_connections;
		rs.max_per_domain = (unsigned)cfg->delivery_max_per_domain;
		rs.connect_timeout_ms = (unsigned)(cfg->connect_timeout * 1000);
		srv.remote = remote_delivery_new(srv.base, srv.dns, &rs);
	}
	if (smtp_conn_policy_init(&srv) < 0)
		goto out;
	queue_set_remote(srv.queue, on_remote_job, &srv);
	srv.delivery = local_delivery_new(cfg);
	queue_start(srv.queue, local_delivery_run, srv.delivery);

	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		srv.ev_signals[i] = evsignal_new(srv.base, sigs[i], on_signal,
		    &srv);
		event_add(srv.ev_signals[i], NULL);
	}
	pidfile = config_data_path(cfg, "postino.pid");
	{
		char pid[32];
		int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

		if (write_file_atomic(pidfile, pid, (size_t)n, 0644) < 0)
			log_warn("cannot write %s: %s", pidfile,
			    strerror(errno));
	}
	log_info("postino ready hostname=%s pid=%ld", cfg->hostname,
	    (long)getpid());
	event_base_dispatch(srv.base);
	status = 0;
	unlink(pidfile);
out:
	free(pidfile);
	for (i = 0; i < srv.nlisteners; i++)
		evconnlistener_free(srv.listeners[i]);
	srv.nlisteners = 0;
	/* outgoing sessions end first: their recipients go back deferred */
	remote_delivery_free(&srv.remote);
	/* finish what the queue is doing before the loop goes away */
	queue_close(&srv.queue);
	smtp_conn_policy_fini(&srv);	/* its lookups go before the resolver */
	dns_free(&srv.dns);
	/* no password check answers after this: then close connections */
	auth_pool_free(&srv.auth_pool);
	while (srv.smtp_conns != NULL)
		smtp_conn_force_close(srv.smtp_conns);
	auth_throttle_free(&srv.smtp_throttle);
	pop3_server_stop(&srv);
	imap_server_stop(&srv);
	local_delivery_free(&srv.delivery);
	tls_fini(&srv);
	for (i = 0; i < sizeof(srv.ev_signals) / sizeof(srv.ev_signals[0]);
	    i++)
		if (srv.ev_signals[i] != NULL)
			event_free(srv.ev_signals[i]);
	if (srv.ev_queue != NULL)
		event_free(srv.ev_queue);
	if (srv.ev_stop != NULL)
		event_free(srv.ev_stop);
	accounts_close(&srv.accounts);
	conn_limit_free(&srv.limits);
	event_base_free(srv.base);
	log_info("postino stopped");
	return status;
}
