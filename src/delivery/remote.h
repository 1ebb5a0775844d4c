/*
 * remote.h - remote delivery: queue recipients to other mail servers.
 *
 * Runs on the event loop.  Recipients are grouped by destination domain;
 * each destination gets up to max_per_domain connections (in all at most
 * max_connections), found through DNS MX records (preference order,
 * random among equals; no MX: the domain's own A/AAAA, RFC 5321 5.1; a
 * null MX, RFC 7505: permanent failure 5.1.10).  One connection carries
 * message after message for its destination.  STARTTLS is used when the
 * server offers it (opportunistic: certificates are not verified yet).
 *
 * Each recipient gets its own outcome in its queue_job_rcpt: DELIVERED
 * (2xx), DEFERRED (4xx, connection or DNS trouble) or FAILED (5xx,
 * NXDOMAIN, null MX).  Error texts have the form
 *   "host mx.example[192.0.2.1] said: 550 5.1.1 no such user"
 * or, when no server answered, "451 4.4.1 ...: connection refused"; the
 * bounce builder takes Remote-MTA and the diagnostic from them.
 */
#ifndef POSTINO_DELIVERY_REMOTE_H
#define POSTINO_DELIVERY_REMOTE_H

#include <stddef.h>

struct event_base;
struct dns;
struct config;
struct queue_job;
struct remote_delivery;

struct remote_settings {
	const char	*helo_name;	/* our hostname */
	unsigned	 port;		/* [delivery] smtp_port */
	unsigned	 max_connections;
	unsigned	 max_per_domain;
	unsigned	 connect_timeout_ms;
};

struct remote_delivery *remote_delivery_new(struct event_base *base,
    struct dns *dns, const struct remote_settings *set);
/* Fails nothing: outstanding jobs are deferred ("shutting down"). */
void remote_delivery_free(struct remote_delivery **rd);

/* Called once every recipient named in submit has a status. */
typedef void remote_done_fn(void *arg, struct queue_job *job);

/*
 * Delivers recipients idx[0..n) of job (the others are left alone).  The
 * job, its fd and its strings must stay valid until done is called.
 * done may be called from inside this call only if n is 0.
 */
void remote_delivery_submit(struct remote_delivery *rd, struct queue_job *job,
    const size_t *idx, size_t n, remote_done_fn *done, void *arg);

/* Connections open now (for tests and logs). */
unsigned remote_delivery_connections(const struct remote_delivery *rd);

#endif
