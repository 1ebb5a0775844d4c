/*
 * spf_dns.c - the glue between the sans-I/O SPF evaluator (policy/spf.c)
 * and the asynchronous resolver (dns/dns.h): each query the evaluator
 * asks for becomes one dns_* lookup, each answer is handed back, until
 * there is a result.  RFC 7208 section 4.6.4's overall time limit is a
 * timer here.
 *
 * Untrusted input passes through (DNS answers); it is judged and bounded
 * by policy/spf.c and dns/dns_parse.c, not here.
 */
#include "policy/spf_dns.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"

struct spf_req {
	struct spf_check	*c;
	struct dns		*d;
	struct dns_req		*dreq;
	struct event		*done_ev;	/* zero-delay completion */
	struct event		*timer;		/* overall deadline */
	struct sockaddr_storage	 client;
	spf_done_fn		*cb;
	void			*ctx;
	bool			 timed_out;
};

static void spf_req_advance(struct spf_req *);

static void
spf_req_free(struct spf_req *r)
{
	dns_cancel(&r->dreq);
	if (r->done_ev != NULL)
		event_free(r->done_ev);
	if (r->timer != NULL)
		event_free(r->timer);
	spf_check_free(&r->c);
	free(r);
}

/* spf_req_finish - calls back with the result and frees the request */
static void
spf_req_finish(struct spf_req *r)
{
	enum spf_result res;
	const char *exp = NULL, *mech = NULL, *problem;

	if (r->timed_out) {
		res = SPF_TEMPERROR;
		problem = "SPF check timed out";
	} else {
		res = spf_check_result(r->c, &exp, &mech);
		problem = spf_check_problem(r->c);
	}
	dns_cancel(&r->dreq);
	r->cb(r->ctx, res, exp, mech, problem);
	spf_req_free(r);
}

static void
on_txt(void *ctx, enum dns_status st, const char *const *txt, size_t n)
{
	struct spf_req *r = ctx;
	struct span spans[DNS_MAX_RECORDS];
	size_t i;

	r->dreq = NULL;
	if (n > DNS_MAX_RECORDS)
		n = DNS_MAX_RECORDS;
	for (i = 0; i < n; i++)
		spans[i] = span_from_str(txt[i]);
	spf_check_answer_txt(r->c, st, spans, n);
	spf_req_advance(r);
}

static void
on_addr(void *ctx, enum dns_status st, const struct sockaddr_storage *a,
    size_t n)
{
	struct spf_req *r = ctx;

	r->dreq = NULL;
	spf_check_answer_addr(r->c, st, a, n);
	spf_req_advance(r);
}

static void
on_mx(void *ctx, enum dns_status st, const struct dns_mx *mx, size_t n,
    bool null_mx)
{
	struct spf_req *r = ctx;
	const char *names[DNS_MAX_RECORDS];
	size_t i;

	r->dreq = NULL;
	if (null_mx || n > DNS_MAX_RECORDS)
		n = null_mx ? 0 : DNS_MAX_RECORDS;
	for (i = 0; i < n; i++)
		names[i] = mx[i].host;
	spf_check_answer_names(r->c, st, names, n);
	spf_req_advance(r);
}

static void
on_ptr(void *ctx, enum dns_status st, const char *const *names, size_t n)
{
	struct spf_req *r = ctx;

	r->dreq = NULL;
	spf_check_answer_names(r->c, st, names, n);
	spf_req_advance(r);
}

/* spf_req_advance - steps the check; asks DNS or finishes */
static void
spf_req_advance(struct spf_req *r)
{
	enum spf_qtype qt;
	const char *name;
	int s = spf_check_step(r->c);

	if (s != 0) {
		spf_req_finish(r);
		return;
	}
	spf_check_query(r->c, &qt, &name);
	log_debug("spf query type=%s name=%s", spf_qtype_name(qt), name);
	switch (qt) {
	case SPF_Q_TXT:
		r->dreq = dns_txt(r->d, name, on_txt, r);
		break;
	case SPF_Q_A:
	case SPF_Q_AAAA:
		/* only the type asked: a client's family decides it */
		r->dreq = dns_addr_family(r->d, name, qt == SPF_Q_A ?
		    AF_INET : AF_INET6, on_addr, r);
		break;
	case SPF_Q_MX:
		r->dreq = dns_mx(r->d, name, on_mx, r);
		break;
	case SPF_Q_PTR:
		r->dreq = dns_ptr(r->d, (const struct sockaddr *)&r->client,
		    on_ptr, r);
		break;
	}
}

static void
on_done_ev(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	spf_req_advance(arg);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct spf_req *r = arg;

	(void)fd;
	(void)what;
	r->timed_out = true;
	spf_req_finish(r);
}

struct spf_req *
spf_check_async(struct event_base *base, struct dns *d,
    const struct sockaddr *client_ip, const char *domain, const char *sender,
    const char *helo, const char *receiver, unsigned timeout_ms,
    spf_done_fn *cb, void *ctx)
{
	struct spf_req *r = xcalloc(1, sizeof(*r));
	struct timeval zero = { 0, 0 }, tv;

	r->d = d;
	r->cb = cb;
	r->ctx = ctx;
	if (client_ip != NULL && client_ip->sa_family == AF_INET)
		memcpy(&r->client, client_ip, sizeof(struct sockaddr_in));
	else if (client_ip != NULL && client_ip->sa_family == AF_INET6)
		memcpy(&r->client, client_ip, sizeof(struct sockaddr_in6));
	r->c = spf_check_new(client_ip, domain, sender, helo, receiver);
	if (timeout_ms == 0)
		timeout_ms = SPF_TIMEOUT_MS;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	r->timer = evtimer_new(base, on_timer, r);
	r->done_ev = evtimer_new(base, on_done_ev, r);
	if (r->timer == NULL || r->done_ev == NULL)
		fatal("spf: cannot create events");
	evtimer_add(r->timer, &tv);
	/* the first step runs from the loop, so cb never runs in here */
	evtimer_add(r->done_ev, &zero);
	return r;
}

void
spf_cancel(struct spf_req **rp)
{
	if (*rp == NULL)
		return;
	spf_req_free(*rp);
	*rp = NULL;
}
