/*
 * inbound.c - runs SPF, DKIM and DMARC for one received message on the
 * event loop and hands the decision and trace fields to the caller (see
 * inbound.h).  RFC 7208, RFC 6376, RFC 7489, RFC 8601.
 *
 * Untrusted input (the message, the client's identity, DNS answers)
 * passes through to the sans-I/O checks, which bound it.
 *
 * Lookups run in parallel: SPF's own chain (spf_dns.c) from the start,
 * then one TXT query per DKIM key and DMARC's (at most two, one after
 * the other).  Completion is noticed by check_done(), which defers the
 * caller's callback to a zero-delay event, so that it always runs from
 * the loop and nothing here is touched after it.
 */
#include "policy/inbound.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"
#include "policy/dkim.h"
#include "policy/dmarc.h"
#include "policy/spf.h"
#include "policy/spf_dns.h"

/* Ceiling of the trace fields prepended to one message. */
#define INBOUND_MAX_HEADERS	(64 * 1024)

struct key_req {
	struct policy_inbound	*pi;
	size_t			 idx;
	struct dns_req		*req;
};

struct policy_inbound {
	struct policy_inbound_config cfg;
	struct event_base	*base;
	struct dns		*dns;
	struct sockaddr_storage	 client;
	char			*helo;
	char			*mail_from;
	char			*spf_domain;

	/* SPF */
	struct spf_req		*spf_req;
	bool			 spf_done;
	enum spf_result		 spf;
	char			*spf_exp, *spf_mech, *spf_problem;

	/* the message: DKIM and DMARC */
	bool			 have_msg;
	struct dkim_verify	*dkim;
	struct key_req		 keys[DKIM_MAX_SIGNATURES];
	size_t			 nkeys;
	size_t			 keys_pending;
	struct dmarc_check	*dmarc;
	struct dns_req		*dmarc_req;

	struct event		*done_ev;
	bool			 finishing;
	policy_inbound_fn	*cb;
	void			*ctx;
};

static void check_done(struct policy_inbound *pi);

static char *
dup_or_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

static void
on_spf(void *ctx, enum spf_result result, const char *explanation,
    const char *mechanism, const char *problem)
{
	struct policy_inbound *pi = ctx;

	pi->spf_req = NULL;	/* freed by spf_dns when we return */
	pi->spf_done = true;
	pi->spf = result;
	pi->spf_exp = dup_or_null(explanation);
	pi->spf_mech = dup_or_null(mechanism);
	pi->spf_problem = dup_or_null(problem);
	log_debug("policy spf result=%s domain=%s", spf_result_name(result),
	    pi->spf_domain != NULL ? pi->spf_domain : "");
	check_done(pi);
}

/* spf_domain_of - the domain SPF checks: MAIL FROM's, or the HELO name */
static char *
spf_domain_of(const char *mail_from, const char *helo)
{
	const char *at;

	if (mail_from != NULL && mail_from[0] != '\0') {
		at = strrchr(mail_from, '@');
		return xstrdup(at != NULL ? at + 1 : mail_from);
	}
	return xstrdup(helo != NULL ? helo : "");
}

struct policy_inbound *
policy_inbound_start(struct event_base *base, struct dns *d,
    const struct policy_inbound_config *cfg, const struct sockaddr *client,
    const char *helo, const char *mail_from)
{
	struct policy_inbound *pi = xcalloc(1, sizeof(*pi));

	pi->cfg = *cfg;
	pi->base = base;
	pi->dns = d;
	if (client != NULL && client->sa_family == AF_INET)
		memcpy(&pi->client, client, sizeof(struct sockaddr_in));
	else if (client != NULL && client->sa_family == AF_INET6)
		memcpy(&pi->client, client, sizeof(struct sockaddr_in6));
	pi->helo = xstrdup(helo != NULL ? helo : "");
	pi->mail_from = xstrdup(mail_from != NULL ? mail_from : "");
	pi->spf_domain = spf_domain_of(pi->mail_from, pi->helo);
	if (cfg->spf)
		pi->spf_req = spf_check_async(base, d,
		    (const struct sockaddr *)&pi->client, NULL, pi->mail_from,
		    pi->helo, cfg->settings->hostname, cfg->spf_timeout_ms,
		    on_spf, pi);
	else
		pi->spf_done = true;
	return pi;
}

static void
on_key(void *ctx, enum dns_status st, const char *const *txt, size_t n)
{
	struct key_req *k = ctx;
	struct policy_inbound *pi = k->pi;

	k->req = NULL;
	dkim_verify_key_answer(pi->dkim, k->idx, st, txt, n);
	pi->keys_pending--;
	check_done(pi);
}

static void dmarc_next(struct policy_inbound *pi);

static void
on_dmarc(void *ctx, enum dns_status st, const char *const *txt, size_t n)
{
	struct policy_inbound *pi = ctx;

	pi->dmarc_req = NULL;
	dmarc_check_answer(pi->dmarc, st, txt, n);
	dmarc_next(pi);
	check_done(pi);
}

/* dmarc_next - asks DMARC's next question, if it has one */
static void
dmarc_next(struct policy_inbound *pi)
{
	const char *name;

	if (pi->dmarc == NULL || pi->dmarc_req != NULL)
		return;
	name = dmarc_check_query(pi->dmarc);
	if (name != NULL)
		pi->dmarc_req = dns_txt(pi->dns, name, on_dmarc, pi);
}

static void
message(struct policy_inbound *pi, const void *msg, size_t len, bool borrow,
    policy_inbound_fn *cb, void *ctx)
{
	size_t i;

	ASSERT(!pi->have_msg);
	pi->have_msg = true;
	pi->cb = cb;
	pi->ctx = ctx;
	if (pi->cfg.dkim) {
		pi->dkim = borrow ? dkim_verify_new_ref(msg, len, time(NULL)) :
		    dkim_verify_new(msg, len, time(NULL));
		pi->nkeys = dkim_verify_nkeys(pi->dkim);
		if (pi->nkeys > DKIM_MAX_SIGNATURES)
			pi->nkeys = DKIM_MAX_SIGNATURES;
		pi->keys_pending = pi->nkeys;
		for (i = 0; i < pi->nkeys; i++) {
			pi->keys[i].pi = pi;
			pi->keys[i].idx = i;
			pi->keys[i].req = dns_txt(pi->dns,
			    dkim_verify_key_name(pi->dkim, i), on_key,
			    &pi->keys[i]);
		}
	}
	if (pi->cfg.dmarc) {
		pi->dmarc = dmarc_check_new(pi->cfg.psl,
		    span_make(msg, len));
		dmarc_next(pi);
	}
	check_done(pi);
}

void
policy_inbound_message(struct policy_inbound *pi, const void *msg,
    size_t len, policy_inbound_fn *cb, void *ctx)
{
	message(pi, msg, len, false, cb, ctx);
}

void
policy_inbound_message_ref(struct policy_inbound *pi, const void *msg,
    size_t len, policy_inbound_fn *cb, void *ctx)
{
	message(pi, msg, len, true, cb, ctx);
}

static const char *
first_dkim(const struct policy_inbound *pi)
{
	if (!pi->cfg.dkim)
		return "off";
	if (dkim_verify_nresults(pi->dkim) == 0)
		return "none";
	return dkim_status_name(dkim_verify_result(pi->dkim, 0)->result);
}

/* finish - every answer is in: decide, write the fields, call back */
static void
on_finish(evutil_socket_t fd, short what, void *arg)
{
	struct policy_inbound *pi = arg;
	struct dkim_result res[DKIM_MAX_SIGNATURES];
	struct dmarc_outcome o;
	struct policy_input in;
	struct policy_decision d;
	struct policy_inbound_result r;
	struct buf hdr;
	size_t n = 0, i;

	(void)fd;
	(void)what;
	if (pi->dkim != NULL) {
		dkim_verify_finish(pi->dkim);
		n = dkim_verify_nresults(pi->dkim);
		if (n > DKIM_MAX_SIGNATURES)
			n = DKIM_MAX_SIGNATURES;
		for (i = 0; i < n; i++)
			res[i] = *dkim_verify_result(pi->dkim, i);
	}
	memset(&o, 0, sizeof(o));
	if (pi->dmarc != NULL) {
		if (pi->cfg.spf)
			dmarc_check_set_spf(pi->dmarc, pi->spf,
			    pi->spf_domain);
		if (pi->dkim != NULL)
			dmarc_check_add_dkim_verify(pi->dmarc, pi->dkim);
		dmarc_check_finish(pi->dmarc, &o);
	}
	memset(&in, 0, sizeof(in));
	in.client_ip = (const struct sockaddr *)&pi->client;
	in.helo = pi->helo;
	in.mail_from = pi->mail_from;
	in.spf = pi->spf;
	in.spf_domain = pi->spf_domain;
	in.spf_explanation = pi->spf_exp;
	in.spf_mechanism = pi->spf_mech;
	in.spf_problem = pi->spf_problem;
	in.spf_off = !pi->cfg.spf;
	in.dkim = res;
	in.ndkim = n;
	in.dkim_off = !pi->cfg.dkim;
	in.dmarc = pi->dmarc != NULL ? &o : NULL;
	policy_decide(pi->cfg.settings, &in, &d);
	buf_init(&hdr, INBOUND_MAX_HEADERS);
	if (policy_headers(pi->cfg.settings, &in, &hdr) < 0) {
		log_warn("policy: trace fields too long, left out");
		buf_reset(&hdr);
	}
	memset(&r, 0, sizeof(r));
	r.decision = &d;
	r.headers = &hdr;
	r.spf = pi->cfg.spf ? spf_result_name(pi->spf) : "off";
	r.dkim = first_dkim(pi);
	r.dmarc = pi->dmarc != NULL ? dmarc_result_name(o.result) : "off";
	/* the callback may free pi: nothing of it is used afterwards */
	pi->cb(pi->ctx, &r);
	buf_fini(&hdr);
}

static void
check_done(struct policy_inbound *pi)
{
	struct timeval zero = { 0, 0 };

	if (!pi->have_msg || !pi->spf_done || pi->keys_pending > 0 ||
	    pi->dmarc_req != NULL || pi->finishing)
		return;
	pi->finishing = true;
	pi->done_ev = evtimer_new(pi->base, on_finish, pi);
	if (pi->done_ev == NULL)
		fatal("policy: cannot create an event");
	evtimer_add(pi->done_ev, &zero);
}

void
policy_inbound_free(struct policy_inbound **pip)
{
	struct policy_inbound *pi = *pip;
	size_t i;

	if (pi == NULL)
		return;
	*pip = NULL;
	spf_cancel(&pi->spf_req);
	for (i = 0; i < pi->nkeys; i++)
		dns_cancel(&pi->keys[i].req);
	dns_cancel(&pi->dmarc_req);
	if (pi->done_ev != NULL)
		event_free(pi->done_ev);
	dkim_verify_free(&pi->dkim);
	dmarc_check_free(&pi->dmarc);
	free(pi->helo);
	free(pi->mail_from);
	free(pi->spf_domain);
	free(pi->spf_exp);
	free(pi->spf_mech);
	free(pi->spf_problem);
	free(pi);
}
