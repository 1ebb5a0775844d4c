/*
 * server_int.h - what the parts of src/server/ share.
 */
#ifndef POSTINO_SERVER_SERVER_INT_H
#define POSTINO_SERVER_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "smtp/smtp_session.h"

struct event_base;
struct bufferevent;
struct evconnlistener;
struct config;
struct queue;
struct accounts;
struct smtp_conn;
struct pop3_server;
struct imap_server;

enum listener_kind {
	LISTENER_SMTP,		/* 25: MX, STARTTLS offered */
	LISTENER_SUBMISSION,	/* 587: STARTTLS, AUTH before MAIL */
	LISTENER_SUBMISSIONS,	/* 465: implicit TLS, AUTH before MAIL */
	LISTENER_POP3,		/* 110: STLS offered (pop3_conn.c) */
	LISTENER_POP3S,		/* 995: implicit TLS (pop3_conn.c) */
	LISTENER_IMAP,		/* 143: STARTTLS offered (imap_conn.c) */
	LISTENER_IMAPS,		/* 993: implicit TLS (imap_conn.c) */
};

/* What an accepting socket serves (the listener callback's argument). */
struct listen_ctx {
	struct server		*srv;
	enum listener_kind	 kind;
};

struct conn_limit;
struct ssl_ctx_st;
struct auth_pool;
struct auth_throttle;

struct server {
	struct config		*cfg;
	struct event_base	*base;
	struct queue		*queue;
	struct accounts		*accounts;	/* loop thread's handle */
	struct local_delivery	*delivery;
	struct dns		*dns;
	struct remote_delivery	*remote;
	struct event		*ev_queue;
	struct event		*ev_signals[5];
	struct evconnlistener	*listeners[64];
	struct listen_ctx	 listen_ctx[64];	/* one per listener */
	size_t			 nlisteners;
	struct ssl_ctx_st	*tls_ctx;	/* NULL: TLS off; tls.h */
	struct conn_limit	*limits;
	struct smtp_session_config smtp_cfg;
	struct smtp_session_config submission_cfg;	/* 587 and 465 */
	struct auth_pool	*auth_pool;	/* SMTP AUTH password checks */
	struct auth_throttle	*smtp_throttle;	/* SMTP AUTH failures */
	uint8_t			 auth_secret[32];	/* fake SCRAM salts */
	struct smtp_conn	*smtp_conns;	/* list of live connections */
	struct pop3_server	*pop3;		/* pop3_conn.c; NULL: off */
	struct imap_server	*imap;		/* imap_conn.c; NULL: off */
	struct policy_settings	*policy;	/* inbound SPF/DKIM/DMARC
						 * ([policy]; smtp_conn.c) */
	struct psl		*psl;		/* public suffixes (DMARC);
						 * NULL: empty list */
	bool			 stopping;
	struct event		*ev_stop;	/* while stopping: ends the loop
						   once no connection is left */
	unsigned		 stop_ticks;
};

/*
 * smtp_conn.c: accept a connection on an SMTP listener (kind: smtp,
 * submission or submissions).
 */
void smtp_conn_accept(struct server *srv, enum listener_kind kind, int fd,
    const struct sockaddr *sa, int salen);
/* Closes and frees a connection at once (server shutdown). */
void smtp_conn_force_close(struct smtp_conn *c);
/* Asks every SMTP connection to finish (421) and close. */
void smtp_conn_shutdown_all(struct server *srv);
/*
 * The inbound policy (docs/policy.md): smtp_conn_policy_init reads the
 * [policy] settings and the public suffix list (0, or -1 logged);
 * smtp_conn_policy_fini cancels every check under way (before the
 * resolver is freed) and frees them.
 */
int smtp_conn_policy_init(struct server *srv);
void smtp_conn_policy_fini(struct server *srv);

/*
 * pop3_conn.c: the POP3 service.  pop3_server_start starts its worker
 * threads (0 or -1); pop3_conn_accept takes a connection from a pop3
 * (implicit_tls false) or pop3s listener; pop3_server_shutdown asks every
 * session to close; pop3_server_stop (after the loop) joins the workers
 * and frees everything.
 */
int pop3_server_start(struct server *srv);
void pop3_conn_accept(struct server *srv, bool implicit_tls, int fd,
    const struct sockaddr *sa, int salen);
void pop3_server_shutdown(struct server *srv);
/* True when no POP3 connection is left (or POP3 is off). */
bool pop3_server_idle(const struct server *srv);
void pop3_server_stop(struct server *srv);

/*
 * imap_conn.c: the IMAP service, the same way.  imap_server_start also
 * makes srv->auth_pool and srv->smtp_throttle if SMTP AUTH did not (they
 * are shared by every protocol) and sets the store's change hook.
 */
int imap_server_start(struct server *srv);
void imap_conn_accept(struct server *srv, bool implicit_tls, int fd,
    const struct sockaddr *sa, int salen);
void imap_server_shutdown(struct server *srv);
/* True when no IMAP connection is left (or IMAP is off). */
bool imap_server_idle(const struct server *srv);
void imap_server_stop(struct server *srv);

/*
 * smtp_auth.c: password checks (argon2) on worker threads.  done runs on
 * the loop thread with result 1 (account = canonical address), 0 (wrong
 * or unknown) or -1 (database error).  auth_pool_free joins the workers
 * and drops unanswered checks without calling done.
 */
typedef void auth_pool_done_fn(void *arg, int result, const char *account);
struct auth_pool *auth_pool_new(struct event_base *base,
    const char *data_dir);
void auth_pool_free(struct auth_pool **p);
void auth_pool_verify(struct auth_pool *p, const char *user,
    const char *password, auth_pool_done_fn *done, void *arg);

/*
 * peer.c: writes the client address as text into out and tells whether
 * it is a loopback address (IPv4, IPv6, or IPv4-mapped IPv6).
 */
void server_peer_addr(const struct sockaddr *sa, char *out, size_t outsize,
    bool *loopback_r);

/* What server_accept_open finds out about a new connection. */
struct server_peer {
	char	addr[INET6_ADDRSTRLEN];	/* client address as text */
	char	id[17];			/* session id for the logs */
	bool	is_loopback;
};
/*
 * The start every protocol shares for an accepted socket: the client's
 * address, a session id, the connection limits, TCP_NODELAY and the
 * bufferevent (implicit TLS or plain).  A connection over a limit (or
 * during shutdown) is sent reject, a complete line (not with implicit
 * TLS), logged under proto, and closed.  Returns the bufferevent with
 * the connection counted (conn_limit_leave when it ends), or NULL with
 * fd closed and nothing counted.
 */
struct bufferevent *server_accept_open(struct server *srv, int fd,
    const struct sockaddr *sa, bool implicit_tls, const char *proto,
    const char *reject, struct server_peer *p);

/* connlimit.c: counts connections in total and per client address. */
struct conn_limit *conn_limit_new(unsigned max_total, unsigned max_per_ip);
void conn_limit_free(struct conn_limit **cl);
/* Returns true and counts the connection, or false if a limit is reached. */
bool conn_limit_enter(struct conn_limit *cl, const char *addr);
void conn_limit_leave(struct conn_limit *cl, const char *addr);

/*
 * recipients.c: the RCPT TO decision: local domains only for an
 * unauthenticated client (no open relay), any domain after AUTH.  Fills a
 * complete reply.
 */
void server_rcpt_decide(struct server *srv, const char *addr,
    bool authenticated, int *code_r, const char **enh_r, char *text,
    size_t textsize);

#endif
