/*
 * inbound.h - the inbound checks of one message, run on the event loop:
 * SPF (RFC 7208) as soon as the envelope is known, then, once the message
 * is in, the DKIM key lookups (RFC 6376) and the DMARC policy discovery
 * (RFC 7489), all through the asynchronous resolver (dns/dns.h), never
 * blocking the loop.  When every answer is in, the decision and the trace
 * header fields (policy.h: Authentication-Results, RFC 8601; Received-SPF)
 * are handed to a callback.
 *
 * Sees untrusted input: the client's identity, the message and any
 * domain's DNS data; the check modules (spf, dkim, dmarc) bound and judge
 * them, policy.c escapes what goes into replies and header fields.
 *
 * Use (the SMTP server, for an unauthenticated, non-exempt client):
 *	pi = policy_inbound_start(base, dns, &cfg, client, helo, mail_from);
 *	... the message arrives ...
 *	policy_inbound_message(pi, msg, len, done, ctx);
 *	done(ctx, &decision, headers)  -> reply, prepend headers, Junk
 *	policy_inbound_free(&pi);       (also cancels a check under way)
 */
#ifndef POSTINO_POLICY_INBOUND_H
#define POSTINO_POLICY_INBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "dns/dns.h"
#include "lib/buf.h"
#include "policy/policy.h"
#include "policy/psl.h"

struct event_base;
struct policy_inbound;

struct policy_inbound_config {
	const struct policy_settings *settings;	/* must outlive the check */
	const struct psl	*psl;		/* NULL: an empty list */
	bool			 spf;		/* run SPF */
	bool			 dkim;		/* verify DKIM signatures */
	bool			 dmarc;		/* run DMARC (it needs the
						 * DKIM results to see an
						 * aligned signature) */
	unsigned		 spf_timeout_ms; /* 0: SPF_TIMEOUT_MS */
};

/*
 * The outcome: d (reply code and text for reject/tempfail, d->reason for
 * the log) and the header fields to prepend (CRLF-ended, folded; empty
 * when the client was exempt).  spf_result / dkim / dmarc summarise the
 * results for a log line ("pass", "fail", ... or "off").  Everything
 * lives only during the call.
 */
struct policy_inbound_result {
	const struct policy_decision	*decision;
	const struct buf		*headers;
	const char			*spf;
	const char			*dkim;	/* first signature's result,
						 * "none" without one */
	const char			*dmarc;
};
typedef void policy_inbound_fn(void *ctx,
    const struct policy_inbound_result *r);

/*
 * Starts the checks of one transaction: SPF begins at once for the MAIL
 * FROM identity (the HELO identity when mail_from is NULL or "").  d must
 * be a resolver on base; cfg is copied (its pointers must outlive the
 * check).  Never returns NULL.
 */
struct policy_inbound *policy_inbound_start(struct event_base *base,
    struct dns *d, const struct policy_inbound_config *cfg,
    const struct sockaddr *client, const char *helo, const char *mail_from);
/*
 * The whole message (header, empty line, body; CRLF), copied.  Starts
 * the DKIM and DMARC lookups; cb runs exactly once, from the event loop
 * (never from inside this call), when every check is done.  cb may free
 * the check.  Call once.
 */
void policy_inbound_message(struct policy_inbound *pi, const void *msg,
    size_t len, policy_inbound_fn *cb, void *ctx);
/*
 * The same without copying (DKIM borrows the message when its line ends
 * are all CRLF, dkim_verify_new_ref): msg must stay valid and unchanged
 * until cb has run or the check is freed.  For a large message held in
 * a mapped spill file (msg_hold.h), which then costs no heap.
 */
void policy_inbound_message_ref(struct policy_inbound *pi, const void *msg,
    size_t len, policy_inbound_fn *cb, void *ctx);
/* Cancels whatever is under way (cb will not run) and frees; sets *pi to
 * NULL.  NULL is a no-op. */
void policy_inbound_free(struct policy_inbound **pi);

#endif
