/*
 * dns.h - the asynchronous DNS resolver: MX, A/AAAA, TXT, PTR and TLSA
 * for delivery and policy, on c-ares driven by the libevent loop, with a
 * shared TTL-honouring cache (positive and negative, RFC 2308).
 *
 * Answers come from the network and are untrusted: they are parsed by our
 * own bounded parser (dns/dns_parse.h), never by c-ares' helpers.
 *
 * Rules common to every lookup:
 * - Every dns_* call is made from the thread running the event loop of
 *   the base given to dns_new (a worker thread posts to the loop first).
 * - The callback always runs from the event loop, never from inside the
 *   dns_* call that started the lookup (a cache hit or an invalid name is
 *   delivered through a zero-delay event), so callers need no re-entrancy
 *   care.  A callback may start new lookups, cancel other requests, or
 *   call dns_free().
 * - Data passed to a callback (arrays and strings) lives only for the call;
 *   copy what you keep.
 * - The struct dns_req handle is valid until its callback starts or until
 *   dns_cancel(); afterwards it is freed by the resolver.
 * - Names are at most DNS_MAX_NAME (253) bytes, labels 1..63 bytes of
 *   letters, digits, '-' and '_' (A-labels for IDN); one trailing dot is
 *   allowed.  Anything else is reported as DNS_PERMFAIL without a query.
 * - At most DNS_MAX_INFLIGHT distinct queries are in flight; past that a
 *   lookup that is neither cached nor already asked fails with
 *   DNS_TEMPFAIL at once (a flood of names must not grow memory).
 * - At most DNS_MAX_RECORDS records are kept per answer; TXT data at most
 *   DNS_MAX_TXT_TOTAL bytes per answer.  Names returned are lowercase,
 *   without a trailing dot.
 */
#ifndef POSTINO_DNS_DNS_H
#define POSTINO_DNS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct event_base;
struct dns;
struct dns_req;

enum dns_status {
	DNS_OK,		/* answer with at least one record */
	DNS_NODATA,	/* the name exists but has no record of that type */
	DNS_NXDOMAIN,	/* the name does not exist */
	DNS_TEMPFAIL,	/* SERVFAIL, REFUSED, timeout, network error */
	DNS_PERMFAIL,	/* malformed answer, invalid or too long name */
};

/* "ok", "nodata", "nxdomain", "tempfail", "permfail" (static string). */
const char *dns_status_name(enum dns_status st);

struct dns_settings {
	/*
	 * NULL or "": the servers of /etc/resolv.conf.  Otherwise one or
	 * more of "ADDR", "ADDR:PORT", "[V6ADDR]:PORT", separated by spaces
	 * or commas (port 53 when left out).
	 */
	const char	*servers;
	unsigned	 timeout_ms;	/* first try; 0: 2000 */
	unsigned	 tries;		/* per server; 0: 2 */
	size_t		 cache_entries;	/* 0: DNS_CACHE_MAX_ENTRIES */
	size_t		 cache_bytes;	/* 0: DNS_CACHE_MAX_BYTES */
	size_t		 max_inflight;	/* 0: DNS_MAX_INFLIGHT */
	bool		 no_cache;	/* disable the answer cache */
};

/*
 * Creates a resolver on base.  Returns NULL with a static or long-lived
 * message in error_r if the server list is invalid or c-ares fails.
 * dns_new() uses the defaults with the given servers.
 */
struct dns *dns_new(struct event_base *base, const char *servers,
    const char **error_r);
struct dns *dns_new_settings(struct event_base *base,
    const struct dns_settings *set, const char **error_r);
/*
 * Cancels every outstanding request (no callback runs afterwards), frees
 * the cache and sets *d to NULL.  NULL is a no-op.  May be called from a
 * callback.
 */
void dns_free(struct dns **d);
/* Drops every cached answer (for tests and on configuration reload). */
void dns_cache_flush(struct dns *d);
/* Number of answers currently cached. */
size_t dns_cache_count(const struct dns *d);

/*
 * Cancels a pending request: its callback will not run.  Sets *req to
 * NULL; NULL is a no-op.  Must not be called once the callback has
 * started, except from that request's own callback, where it only sets
 * *req to NULL (a handy way to clear the caller's handle).  The query
 * itself may go on and its answer still fill the cache.
 */
void dns_cancel(struct dns_req **req);

/*
 * MX (RFC 5321 section 5.1): records sorted by preference, in a fresh
 * random order among equal preferences on every delivery (cache hits
 * included).  A null MX (RFC 7505: the only record(s) have the root "."
 * as exchange) is reported as DNS_OK with null_mx true and n == 0; "."
 * records mixed with real ones are ignored.  No implicit MX here: on
 * DNS_NODATA the caller looks up the domain's addresses itself.
 */
struct dns_mx {
	unsigned	 pref;
	const char	*host;
};
typedef void dns_mx_fn(void *ctx, enum dns_status st,
    const struct dns_mx *mx, size_t n, bool null_mx);
struct dns_req *dns_mx(struct dns *d, const char *domain, dns_mx_fn *cb,
    void *ctx);

/*
 * A and AAAA of a host, queried in parallel: the A addresses first, then
 * the AAAA ones, each as a sockaddr_in / sockaddr_in6 in a
 * sockaddr_storage with port 0.  DNS_OK if either query has records
 * (the other may have failed); otherwise the worst of the two statuses in
 * the order TEMPFAIL, PERMFAIL, NXDOMAIN, NODATA.
 */
typedef void dns_addr_fn(void *ctx, enum dns_status st,
    const struct sockaddr_storage *a, size_t n);
struct dns_req *dns_addr(struct dns *d, const char *host, dns_addr_fn *cb,
    void *ctx);
/*
 * One family only: A for AF_INET, AAAA for AF_INET6 (any other family:
 * both, as dns_addr).  Its status is that one query's (DNS_NODATA when
 * the host has only addresses of the other family).  SPF asks this way
 * (RFC 7208 5.3, 5.4: the client's family decides the record type).
 */
struct dns_req *dns_addr_family(struct dns *d, const char *host, int family,
    dns_addr_fn *cb, void *ctx);

/*
 * TXT: each record's character-strings concatenated (RFC 7208 section
 * 3.3, RFC 6376 section 3.6.2.2), NUL-terminated.  A record containing a
 * NUL byte is dropped (no SPF/DKIM/DMARC record can hold one).
 */
typedef void dns_txt_fn(void *ctx, enum dns_status st,
    const char *const *txt, size_t n);
struct dns_req *dns_txt(struct dns *d, const char *name, dns_txt_fn *cb,
    void *ctx);

/*
 * PTR of an address: the in-addr.arpa or ip6.arpa name is built here (an
 * IPv4-mapped IPv6 address is looked up as IPv4).  Only names made of
 * letters, digits, '-' and '_' labels are returned; others are dropped.
 * An unsupported address family gives DNS_PERMFAIL.
 */
typedef void dns_ptr_fn(void *ctx, enum dns_status st,
    const char *const *names, size_t n);
struct dns_req *dns_ptr(struct dns *d, const struct sockaddr *sa,
    dns_ptr_fn *cb, void *ctx);

/*
 * TLSA of HOST for TCP port PORT (RFC 6698, queried at _PORT._tcp.HOST)
 * for DANE (RFC 7672).  data of each record is the certificate
 * association data (len bytes).  secure is the AD bit of the answer: the
 * recursive resolver validated it with DNSSEC.  It means something only
 * when the path to that resolver is trusted (a validating resolver on
 * loopback); on DNS_NODATA/DNS_NXDOMAIN it tells whether the denial was
 * validated.  Every query is sent with the AD bit set (RFC 6840 section
 * 5.7), so other answers carry it too, internally, for later use.
 */
struct dns_tlsa {
	unsigned	 usage;
	unsigned	 selector;
	unsigned	 mtype;
	const uint8_t	*data;
	size_t		 len;
};
typedef void dns_tlsa_fn(void *ctx, enum dns_status st,
    const struct dns_tlsa *t, size_t n, bool secure);
struct dns_req *dns_tlsa(struct dns *d, const char *host, unsigned port,
    dns_tlsa_fn *cb, void *ctx);

#endif
