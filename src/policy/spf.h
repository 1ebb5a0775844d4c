/*
 * spf.h - Sender Policy Framework (RFC 7208): check_host() as a sans-I/O
 * evaluator, plus the record parser and macro expander it is built on.
 *
 * The evaluator never does I/O.  spf_check_step() runs until it either
 * has a result or needs one DNS answer; the caller then reads the query
 * with spf_check_query(), resolves it however it likes (the server with
 * the async resolver of dns/dns.h through spf_dns.h, the unit test from
 * an in-memory zone), hands the answer back with the spf_check_answer_*
 * function matching the query type, and calls spf_check_step() again.
 *
 * Everything the evaluator reads from DNS is untrusted: records, names and
 * addresses are bounded and checked here (see the SPF_MAX_* limits in
 * lib/postino_limits.h and docs/spf.md).
 */
#ifndef POSTINO_POLICY_SPF_H
#define POSTINO_POLICY_SPF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#include "dns/dns.h"
#include "lib/buf.h"
#include "lib/span.h"

enum spf_result {
	SPF_NONE,
	SPF_NEUTRAL,
	SPF_PASS,
	SPF_FAIL,
	SPF_SOFTFAIL,
	SPF_TEMPERROR,
	SPF_PERMERROR,
};

/* "none", "neutral", "pass", ... as in Received-SPF and
 * Authentication-Results (static string). */
const char *spf_result_name(enum spf_result r);

enum spf_qtype {
	SPF_Q_TXT,
	SPF_Q_A,
	SPF_Q_AAAA,
	SPF_Q_MX,
	SPF_Q_PTR,
};

/* "TXT", "A", ... (static string). */
const char *spf_qtype_name(enum spf_qtype t);

struct spf_check;

/*
 * Starts one check_host() evaluation (RFC 7208 section 4) for the client
 * address client_ip (AF_INET or AF_INET6; an IPv4-mapped IPv6 address is
 * treated as IPv4, section 5).
 *
 * The identity: sender is the MAIL FROM address "local@domain".  A NULL
 * or empty sender means the null reverse-path: the HELO identity is
 * checked instead, with sender "postmaster@<helo>" (section 2.4).  A
 * sender without local-part uses "postmaster" (section 4.3).  domain is
 * the <domain> to check; NULL takes the sender's domain.  helo is the
 * HELO/EHLO argument (%{h}); receiver our own host name (%{r}; NULL gives
 * "unknown").  All strings are copied.  Never returns NULL; a malformed
 * identity gives a check whose result is already SPF_NONE.
 */
struct spf_check *spf_check_new(const struct sockaddr *client_ip,
    const char *domain, const char *sender, const char *helo,
    const char *receiver);
/* Sets the time used for %{t} (default: time(NULL) at creation). */
void spf_check_set_time(struct spf_check *c, time_t now);
/* Frees the check and sets *c to NULL; NULL is a no-op. */
void spf_check_free(struct spf_check **c);

/*
 * Drives the evaluation.  Returns 1 when done (see spf_check_result), 0
 * when a DNS answer is needed (see spf_check_query; answer it before
 * stepping again), -1 never (an internal inconsistency, logged).
 */
int spf_check_step(struct spf_check *c);
/*
 * The query the check waits for: its type and the name to ask (no
 * trailing dot; at most 253 bytes; for SPF_Q_PTR the in-addr.arpa or
 * ip6.arpa name of the client address).  The name lives until the answer
 * is given.
 */
void spf_check_query(const struct spf_check *c, enum spf_qtype *type_r,
    const char **name_r);
/*
 * The answers, one function per query type.  status is an enum
 * dns_status: DNS_OK with records, DNS_NODATA, DNS_NXDOMAIN, DNS_TEMPFAIL
 * (timeout, SERVFAIL: gives temperror where RFC 7208 says so) or
 * DNS_PERMFAIL (a name the resolver refuses to ask or a malformed answer:
 * treated as a name that does not exist).  DNS_OK with n == 0 counts as
 * DNS_NODATA.  Nothing passed is kept after the call.
 * - SPF_Q_TXT: one span per TXT record, its strings already concatenated
 *   (section 3.3); a record may contain any byte.
 * - SPF_Q_A, SPF_Q_AAAA: addresses as sockaddr_in / sockaddr_in6; those
 *   of the other family are ignored.
 * - SPF_Q_MX: exchange host names in preference order (a null MX is
 *   DNS_OK with n == 0); SPF_Q_PTR: the PTR names.  A trailing dot is
 *   allowed; "" and "." are skipped.
 */
void spf_check_answer_txt(struct spf_check *c, enum dns_status status,
    const struct span *txt, size_t n);
void spf_check_answer_addr(struct spf_check *c, enum dns_status status,
    const struct sockaddr_storage *addr, size_t n);
void spf_check_answer_names(struct spf_check *c, enum dns_status status,
    const char *const *names, size_t n);

/*
 * The result once spf_check_step() returned 1.  explanation_r (may be
 * NULL) gets the expanded exp= text on SPF_FAIL when the record has one
 * that could be fetched and expanded, else NULL.  mechanism_r (may be
 * NULL) gets the directive of the top-level record that matched (e.g.
 * "-all", "include:_spf.example.com"), else NULL.  Both live as long as
 * the check.
 */
enum spf_result spf_check_result(const struct spf_check *c,
    const char **explanation_r, const char **mechanism_r);
/* For permerror, temperror and none: a short reason, else NULL. */
const char *spf_check_problem(const struct spf_check *c);
/* The domain the check started with (after normalisation). */
const char *spf_check_domain(const struct spf_check *c);
/* Counters, for tests and logs: DNS-querying terms and void lookups. */
unsigned spf_check_lookups(const struct spf_check *c);
unsigned spf_check_void_lookups(const struct spf_check *c);

/*
 * Record parsing (section 4.5, 4.6, 12).  spf_record_is_spf() tells
 * whether a TXT record is an SPF record at all: "v=spf1" (any case)
 * followed by a space or its end.  spf_record_validate() checks the whole
 * record's syntax (every term, CIDR lengths, networks, domain-specs and
 * macros, duplicate redirect=/exp=) and the length limit.  Returns 0, or
 * -1 with a static reason in error_r.
 */
bool spf_record_is_spf(struct span txt);
int spf_record_validate(struct span rec, const char **error_r);

/*
 * Macro expansion (section 7).  The values a macro string may use; NULL
 * strings expand to "" (r to "unknown", p to "unknown").
 */
struct spf_macro_env {
	const char		*sender;	/* %{s} */
	const char		*local;		/* %{l} */
	const char		*sender_domain;	/* %{o} */
	const char		*domain;	/* %{d} */
	const char		*helo;		/* %{h} */
	const char		*receiver;	/* %{r} */
	const char		*validated;	/* %{p} */
	const struct sockaddr	*ip;		/* %{i} %{c} %{v}; NULL: "" */
	time_t			 now;		/* %{t} */
};
#define SPF_MACRO_F_EXP		0x1	/* explain-string: SP, %{c} %{r} %{t} */

/*
 * Expands the macro-string in (flags: SPF_MACRO_F_EXP for exp= TXT text,
 * else a domain-spec or modifier value) and appends the result to out.
 * With env == NULL the syntax is only checked and nothing is appended.
 * Returns 0, or -1 with a static reason in error_r (syntax error, or out
 * reached its maximum).  Domain-spec post-processing (trailing dot,
 * truncation to 253 bytes) is not done here: see spf_domain_finish().
 */
int spf_macro_expand(const struct spf_macro_env *env, struct span in,
    unsigned flags, struct buf *out, const char **error_r);
/* True if the macro-string uses %{p} (which needs DNS lookups first). */
bool spf_macro_uses_p(struct span in);
/*
 * Turns an expanded domain-spec into a name to query (section 7.3): drops
 * one trailing dot, then whole labels from the left until it fits in 253
 * bytes.  Writes it NUL-terminated into out (at least 254 bytes).  Returns
 * 0, or -1 if the result is no usable DNS name (empty, an empty label, a
 * label over 63 bytes, a NUL byte).
 */
int spf_domain_finish(struct span expanded, char *out, size_t outsize);

#endif
