/*
 * spf_dns.h - runs an SPF check (policy/spf.h) on the event loop, with
 * the asynchronous resolver of dns/dns.h answering its queries.
 *
 * Sees untrusted input (the SMTP client's identity and any domain's DNS
 * data) through policy/spf, which bounds everything.
 */
#ifndef POSTINO_POLICY_SPF_DNS_H
#define POSTINO_POLICY_SPF_DNS_H

#include <sys/socket.h>

#include "dns/dns.h"
#include "policy/spf.h"

struct event_base;
struct spf_req;

/*
 * The outcome.  explanation (exp= text on fail), mechanism (the matched
 * top-level directive) and problem (why none/permerror/temperror) may be
 * NULL; all three live only for the call.
 */
typedef void spf_done_fn(void *ctx, enum spf_result result,
    const char *explanation, const char *mechanism, const char *problem);

/*
 * Starts check_host() for the identity given as to spf_check_new() (a
 * NULL or empty sender checks the HELO identity) and returns a handle.
 * cb runs exactly once, from the event loop of base (never from inside
 * this call), unless the request is cancelled first.  d must be a
 * resolver on the same base.  The whole check is bounded by timeout_ms
 * (0: SPF_TIMEOUT_MS, RFC 7208 section 4.6.4); past it the result is
 * temperror.  Never returns NULL.
 *
 * XXX: dns_addr() asks A and AAAA together; when the family we need fails
 * with a timeout while the other has records, the check sees "no
 * address" instead of a DNS error.
 */
struct spf_req *spf_check_async(struct event_base *base, struct dns *d,
    const struct sockaddr *client_ip, const char *domain, const char *sender,
    const char *helo, const char *receiver, unsigned timeout_ms,
    spf_done_fn *cb, void *ctx);
/*
 * Cancels a pending request: cb will not run.  Sets *req to NULL; NULL is
 * a no-op.  Not to be called once cb has started (the handle is freed
 * when cb returns).
 */
void spf_cancel(struct spf_req **req);

#endif
