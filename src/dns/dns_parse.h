/*
 * dns_parse.h - DNS wire format for the resolver: checking query names,
 * building reverse names, and parsing a response message (RFC 1035
 * section 4) into the records a lookup needs, following the CNAME chain
 * inside the answer and reading the negative-caching TTL (RFC 2308).
 *
 * The response comes from the network: it is untrusted, and parsed with
 * bounds on every read, backward-only compression pointers, and the
 * limits of lib/postino_limits.h.  No I/O, no global state (fuzzed by
 * dns_parse_fuzz.c).
 */
#ifndef POSTINO_DNS_DNS_PARSE_H
#define POSTINO_DNS_DNS_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dns/dns.h"

struct arena;

#define DNS_TYPE_A	1
#define DNS_TYPE_CNAME	5
#define DNS_TYPE_SOA	6
#define DNS_TYPE_PTR	12
#define DNS_TYPE_MX	15
#define DNS_TYPE_TXT	16
#define DNS_TYPE_AAAA	28
#define DNS_TYPE_OPT	41
#define DNS_TYPE_TLSA	52

#define DNS_CLASS_IN	1

/* text form of a name, room for DNS_MAX_NAME plus a trailing dot, NUL */
#define DNS_NAME_BUFSIZE	(DNS_MAX_NAME + 3)
/* uncompressed wire form of a name (RFC 1035 section 2.3.4) */
#define DNS_WIRE_MAX		255

struct dns_rr {
	uint16_t	 type;
	uint32_t	 ttl;
	union {
		struct {
			uint16_t	 pref;
			char		*host;	/* "" for the root */
		} mx;
		uint8_t		 a[4];
		uint8_t		 aaaa[16];
		struct {
			char	*data;		/* NUL-terminated, no NUL in */
			size_t	 len;
		} txt;
		char		*ptr;
		struct {
			uint8_t		 usage;
			uint8_t		 selector;
			uint8_t		 mtype;
			uint8_t		*data;
			size_t		 len;
		} tlsa;
	} u;
};

struct dns_parse_result {
	enum dns_status	 status;
	unsigned	 rcode;
	bool		 truncated;	/* TC bit */
	bool		 authentic;	/* AD bit (DNSSEC, for later DANE) */
	struct dns_rr	*rr;		/* n records of the queried type */
	size_t		 n;
	size_t		 dropped;	/* over the limits or unusable */
	/*
	 * Seconds the answer may be cached: for DNS_OK the smallest TTL of
	 * the CNAME chain and the kept records; for DNS_NXDOMAIN/DNS_NODATA
	 * min(SOA TTL, SOA MINIMUM) when the authority section has an SOA;
	 * 0 (do not cache) otherwise.  Not capped here.
	 */
	uint32_t	 ttl;
	const char	*error;		/* static text when the answer is bad */
};

/*
 * Checks a query name and lowercases it into out (DNS_NAME_BUFSIZE bytes)
 * without a trailing dot.  Returns 0, or -1 with a static reason.
 */
int dns_parse_check_name(const char *name, char *out, const char **error_r)
	__attribute__((warn_unused_result));

/*
 * Writes the PTR query name of sa (in-addr.arpa or ip6.arpa; IPv4-mapped
 * IPv6 as IPv4) into out (DNS_NAME_BUFSIZE bytes).  Returns 0, or -1 for
 * another address family.
 */
int dns_parse_reverse_name(const struct sockaddr *sa, char *out)
	__attribute__((warn_unused_result));

/*
 * Writes a query for qname (checked by dns_parse_check_name) and qtype
 * with the given id into out (at least DNS_QUERY_MAX bytes): RD and AD set
 * (RFC 6840 section 5.7: a validating resolver then reports AD), and an
 * EDNS0 OPT record (RFC 6891) offering DNS_EDNS_SIZE bytes, last in the
 * message as c-ares expects when it retries without EDNS.  Returns the
 * length, or 0 if qname is not a valid name.
 */
#define DNS_QUERY_MAX	(12 + DNS_WIRE_MAX + 4 + 11)
#define DNS_EDNS_SIZE	1232	/* the DNS flag day 2020 value */
size_t dns_parse_build_query(const char *qname, uint16_t qtype, uint16_t id,
    uint8_t *out);

/*
 * Enough arena for any answer dns_parse_answer accepts (a message is at
 * most 64 KiB; the parser allocates about its size plus fixed arrays).
 */
#define DNS_PARSE_ARENA_MAX	(1024u * 1024)

/*
 * Parses the response pkt/len to a query of qtype for qname (as checked
 * by dns_parse_check_name).  Strings and the record array are allocated
 * from a.  Returns 0 with r filled (r->status is any of enum dns_status:
 * the server's failure codes map to DNS_TEMPFAIL), or -1 with
 * r->status = DNS_PERMFAIL and r->error set when the message is
 * malformed or does not answer the question.
 */
int dns_parse_answer(const uint8_t *pkt, size_t len, const char *qname,
    uint16_t qtype, struct arena *a, struct dns_parse_result *r);

#endif
