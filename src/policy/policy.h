/*
 * policy.h - the inbound mail decision: what to do with a message given
 * its SPF, DKIM and DMARC results, and the trace header fields that
 * record them (Authentication-Results, RFC 8601; Received-SPF, RFC 7208
 * section 9.1).  Also removes forged Authentication-Results fields that
 * claim our own authserv-id (RFC 8601 section 5).
 *
 * Pure functions: no I/O, no global state.  The SMTP server calls them
 * at the end of DATA (SPF from MAIL FROM, DKIM and DMARC from the
 * message), then replies with the decision's code and text, files a
 * junk message into \Junk, and prepends the header lines.
 *
 * The inputs carry untrusted text (HELO name, MAIL FROM, DKIM fields,
 * SPF explanations from DNS): everything written into a reply or a
 * header field is escaped or dropped here.
 *
 * Typical use:
 *	policy_settings_default(&set, "mail.example.com");
 *	policy_decide(&set, &in, &d);       -> d.action, d.code, d.text
 *	policy_headers(&set, &in, &hdr);    -> lines to prepend
 *	policy_strip_ar(header, set.hostname, &out, &n);
 */
#ifndef POSTINO_POLICY_POLICY_H
#define POSTINO_POLICY_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "lib/span.h"
#include "policy/dkim.h"
#include "policy/dmarc.h"
#include "policy/spf.h"

/* In order of severity: the strictest action of all checks wins. */
enum policy_action {
	POLICY_ACCEPT,
	POLICY_JUNK,		/* deliver to the \Junk mailbox */
	POLICY_TEMPFAIL,	/* 4xx: try again later */
	POLICY_REJECT,		/* 5xx */
};

/* "accept", "junk", "tempfail", "reject" (static). */
const char *policy_action_name(enum policy_action a);
/* Parses one of those names (ASCII case-insensitive); 0 or -1. */
int policy_action_parse(const char *s, enum policy_action *a_r);

struct policy_net {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];	/* network, host bits cleared */
	unsigned	prefix;
};

struct policy_settings {
	const char	*hostname;	/* authserv-id and receiver; must be
					 * a plain domain name */
	/* SPF results (RFC 7208 section 8) */
	enum policy_action spf_fail;		/* default reject, 5.7.23 */
	enum policy_action spf_softfail;	/* default junk */
	enum policy_action spf_neutral;		/* default junk */
	enum policy_action spf_none;		/* no SPF record: junk
						 * (or reject, 5.7.1) */
	enum policy_action spf_permerror;	/* default junk */
	enum policy_action spf_temperror;	/* default tempfail,
						 * 4.7.24 (RFC 7372) */
	/* An aligned DKIM pass (the From: domain signed the message)
	 * cancels every SPF action above.  Default true. */
	bool		 dkim_overrides_spf;
	/* DMARC dispositions (RFC 7489 section 6.6.4, 10.3) */
	enum policy_action dmarc_reject;	/* default reject, 5.7.1 */
	enum policy_action dmarc_quarantine;	/* default junk */
	enum policy_action dmarc_temperror;	/* default tempfail */
	/* Clients in these networks skip every check (no headers). */
	struct policy_net exempt[POLICY_MAX_EXEMPT];
	size_t		 nexempt;
};

/* Fills s with the defaults above; hostname is kept as a pointer. */
void policy_settings_default(struct policy_settings *s,
    const char *hostname);
/*
 * Adds an exempt network: "192.0.2.0/24", "2001:db8::/32", or a bare
 * address (a /32 or /128).  Host bits past the prefix are ignored.
 * Returns 0, or -1 with a static reason in error_r (syntax, prefix too
 * long, more than POLICY_MAX_EXEMPT networks).
 */
int policy_settings_add_exempt(struct policy_settings *s, const char *cidr,
    const char **error_r);
/*
 * Adds every network of a list separated by blanks or commas (the
 * configuration's [policy] trusted_networks); "" and "none" add nothing.
 * 0, or -1 with a static reason in error_r (the first bad entry).
 */
int policy_settings_add_exempt_list(struct policy_settings *s,
    const char *list, const char **error_r);
/* True if the address (IPv4-mapped IPv6 counts as IPv4) is exempt. */
bool policy_is_exempt(const struct policy_settings *s,
    const struct sockaddr *sa);

struct policy_input {
	const struct sockaddr	*client_ip;	/* sockaddr_in or _in6 */
	const char		*helo;		/* HELO/EHLO argument */
	const char		*mail_from;	/* "local@domain"; NULL or ""
						 * for the null path */
	bool			 authenticated;	/* SMTP AUTH (submission):
						 * no checks, no headers */
	enum spf_result		 spf;
	const char		*spf_domain;	/* spf_check_domain() */
	const char		*spf_explanation; /* exp= text or NULL */
	const char		*spf_mechanism;	/* matched directive or NULL */
	const char		*spf_problem;	/* spf_check_problem() */
	const struct dkim_result *dkim;		/* one per signature, e.g.
						 * *dkim_verify_result(v,i) */
	size_t			 ndkim;
	const struct dmarc_outcome *dmarc;	/* NULL: DMARC not run */
	bool			 spf_off;	/* SPF not checked (turned
						 * off): no SPF action, no
						 * Received-SPF, no spf= */
	bool			 dkim_off;	/* DKIM not verified: no
						 * dkim= in A-R */
};

struct policy_decision {
	enum policy_action action;
	unsigned	 code;		/* 550 or 451 for reject/tempfail,
					 * else 0 */
	const char	*enhanced;	/* "5.7.23", ... (static) or NULL */
	char		 text[384];	/* reply text after the enhanced
					 * code: printable ASCII only,
					 * names cut to 100 bytes */
	const char	*reason;	/* short static tag for logs:
					 * "spf=fail", "dmarc=reject", ... */
	bool		 skipped;	/* authenticated or exempt */
};

/*
 * Decides.  Each check maps its result to an action through the
 * settings; the most severe action wins (SPF's on a tie).  An SPF
 * temperror turns a DMARC reject into a tempfail (SPF may pass on the
 * retry, and with it DMARC).  Never fails.
 */
void policy_decide(const struct policy_settings *s,
    const struct policy_input *in, struct policy_decision *d);

/*
 * Appends the header lines to prepend to the message, each folded
 * (lines under 80 bytes where the values allow; never 998) and ended
 * by CRLF:
 *	Received-SPF: pass (HOST: domain of SENDER designates IP as
 *		permitted sender) client-ip=IP; envelope-from="SENDER";
 *		helo=HELO; receiver=HOST; identity=mailfrom;
 *	Authentication-Results: HOST;
 *		spf=pass smtp.mailfrom=SENDER;
 *		dkim=pass (2048-bit key) header.d=D header.s=S header.b=B;
 *		dmarc=pass (p=reject dis=none) header.from=D
 * dkim= comes once per result ("dkim=none" without signatures); dmarc=
 * only when in->dmarc is set.  Nothing is appended for an
 * authenticated or exempt client.  Values with control bytes are left
 * out.  Returns 0, or -1 if out reached its ceiling.
 */
int policy_headers(const struct policy_settings *s,
    const struct policy_input *in, struct buf *out)
	__attribute__((warn_unused_result));

/*
 * Appends the Authentication-Results field of a message submitted after
 * SMTP AUTH (RFC 8601 section 2.7.6, RFC 4954):
 *	Authentication-Results: HOST;
 *		auth=pass smtp.auth=USER
 * USER is quoted when it is not a plain value, left out when it holds
 * control bytes or is too long.  0, or -1 if out reached its ceiling
 * (nothing appended then).
 */
int policy_auth_results(const char *hostname, const char *user,
    struct buf *out)
	__attribute__((warn_unused_result));

/*
 * True if an Authentication-Results field value (after the colon; folds
 * allowed) names authserv_id as its authserv-id: the first token or
 * quoted-string after any comments, compared ASCII case-insensitively
 * (one trailing dot ignored).  "mail.example.com.evil" is not
 * "mail.example.com".
 */
bool policy_ar_is_ours(struct span value, const char *authserv_id);

/*
 * Copies the header block header (fields, and anything after the empty
 * line that ends it) to out, leaving out every Authentication-Results
 * field (any case, folded or not) that is ours per policy_ar_is_ours().
 * removed_r (may be NULL) gets the number dropped.  Returns 0, or -1 if
 * out reached its ceiling.
 */
int policy_strip_ar(struct span header, const char *authserv_id,
    struct buf *out, unsigned *removed_r)
	__attribute__((warn_unused_result));

/*
 * The same as byte ranges to drop, for a caller that streams: fills at
 * most max [off, off+len) ranges of whole fields (with their line end)
 * in header order and returns how many there are in all (which may be
 * more than max).
 */
struct policy_range {
	size_t	off;
	size_t	len;
};
size_t policy_ar_ranges(struct span header, const char *authserv_id,
    struct policy_range *r, size_t max);

#endif
