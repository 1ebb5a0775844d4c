/*
 * dns_parse.c - DNS response parsing for the resolver (RFC 1035 section
 * 4, RFC 2181 section 8 for TTLs, RFC 2308 for negative caching, RFC
 * 7505 null MX left to the caller), query name checks and reverse names
 * (RFC 1035 section 3.5, RFC 3596 section 2.5).
 *
 * Sees untrusted input: every response byte comes from the network (or
 * from whoever can spoof it).  Why our own parser rather than c-ares'
 * ares_parse_*_reply helpers: they give no TTL for MX, TXT and PTR, nor
 * the SOA of a negative answer, which the cache needs; and we want the
 * limits of postino_limits.h applied while parsing, not after.
 *
 * Hardening: every read is bounds-checked; a compression pointer must
 * point strictly before the previous one (no loops, at most
 * NAME_MAX_HOPS hops); names are at most 255 wire bytes; at most
 * DNS_MAX_CNAMES CNAME records and DNS_MAX_CNAME_CHAIN hops; at most
 * DNS_MAX_RECORDS records and DNS_MAX_TXT_TOTAL TXT bytes are kept.
 */
#include "dns/dns_parse.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/postino_limits.h"

#define NAME_MAX_HOPS	64	/* compression pointers followed per name */

struct wire_name {
	uint8_t	 b[DNS_WIRE_MAX];
	size_t	 len;
};

struct rr_head {
	struct wire_name owner;
	uint16_t	 type;
	uint16_t	 class;
	uint32_t	 ttl;
	size_t		 rdoff;
	size_t		 rdlen;
};

struct cname {
	struct wire_name owner;
	struct wire_name target;
	uint32_t	 ttl;
};

static bool
label_char_ok(uint8_t c)
{
	return ascii_isalnum(c) || c == '-' || c == '_';
}

int
dns_parse_check_name(const char *name, char *out, const char **error_r)
{
	size_t len, i, label = 0;

	if (name == NULL) {
		*error_r = "no name";
		return -1;
	}
	len = strnlen(name, DNS_MAX_NAME + 2);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0) {
		*error_r = "empty name";
		return -1;
	}
	if (len > DNS_MAX_NAME) {
		*error_r = "name too long";
		return -1;
	}
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)name[i];

		if (c == '.') {
			if (label == 0) {
				*error_r = "empty label";
				return -1;
			}
			label = 0;
		} else if (!label_char_ok(c)) {
			*error_r = "invalid character in name";
			return -1;
		} else if (++label > 63) {
			*error_r = "label too long";
			return -1;
		}
		out[i] = (char)ascii_tolower(c);
	}
	if (label == 0) {
		*error_r = "empty label";
		return -1;
	}
	out[len] = '\0';
	return 0;
}

int
dns_parse_reverse_name(const struct sockaddr *sa, char *out)
{
	static const char hex[] = "0123456789abcdef";
	const uint8_t *b;
	size_t o = 0;
	int i;

	if (sa->sa_family == AF_INET) {
		b = (const uint8_t *)&((const struct sockaddr_in *)
		    (const void *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr;

		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			b = a6->s6_addr + 12;
		} else {
			for (i = 15; i >= 0; i--) {
				out[o++] = hex[a6->s6_addr[i] & 0xf];
				out[o++] = '.';
				out[o++] = hex[a6->s6_addr[i] >> 4];
				out[o++] = '.';
			}
			memcpy(out + o, "ip6.arpa", sizeof("ip6.arpa"));
			return 0;
		}
	} else {
		return -1;
	}
	snprintf(out, DNS_NAME_BUFSIZE, "%u.%u.%u.%u.in-addr.arpa",
	    b[3], b[2], b[1], b[0]);
	return 0;
}

/* text_to_wire - a checked, lowercase text name to wire form */
static int
text_to_wire(const char *name, struct wire_name *w)
{
	size_t o = 0, start;
	const char *p = name;

	while (*p != '\0') {
		start = o++;
		while (*p != '\0' && *p != '.') {
			if (o >= DNS_WIRE_MAX - 1)
				return -1;
			w->b[o++] = (uint8_t)*p++;
		}
		if (o - start - 1 == 0 || o - start - 1 > 63)
			return -1;
		w->b[start] = (uint8_t)(o - start - 1);
		if (*p == '.')
			p++;
	}
	w->b[o++] = 0;
	w->len = o;
	return 0;
}

size_t
dns_parse_build_query(const char *qname, uint16_t qtype, uint16_t id,
    uint8_t *out)
{
	struct wire_name w;
	size_t o;

	if (text_to_wire(qname, &w) < 0)
		return 0;
	memset(out, 0, 12);
	out[0] = (uint8_t)(id >> 8);
	out[1] = (uint8_t)id;
	out[2] = 0x01;			/* RD */
	out[3] = 0x20;			/* AD: tell us if it validated */
	out[5] = 1;			/* QDCOUNT */
	out[11] = 1;			/* ARCOUNT: the OPT record */
	memcpy(out + 12, w.b, w.len);
	o = 12 + w.len;
	out[o++] = (uint8_t)(qtype >> 8);
	out[o++] = (uint8_t)qtype;
	out[o++] = 0;
	out[o++] = DNS_CLASS_IN;
	/* OPT: root owner, type 41, class = UDP payload size, TTL 0 */
	out[o++] = 0;
	out[o++] = 0;
	out[o++] = DNS_TYPE_OPT;
	out[o++] = DNS_EDNS_SIZE >> 8;
	out[o++] = DNS_EDNS_SIZE & 0xff;
	memset(out + o, 0, 6);		/* TTL 0, RDLENGTH 0 */
	o += 6;
	return o;
}

/*
 * read_name - reads a possibly compressed name at *offp into w, in
 * lowercase; *offp moves past the name as it appears at that place.
 */
static int
read_name(const uint8_t *pkt, size_t len, size_t *offp, struct wire_name *w)
{
	size_t off = *offp, limit = *offp, end = 0, wl = 0, i;
	unsigned hops = 0;
	bool jumped = false;

	for (;;) {
		uint8_t c;

		if (off >= len)
			return -1;
		c = pkt[off];
		if ((c & 0xc0) == 0xc0) {
			size_t ptr;

			if (off + 1 >= len || ++hops > NAME_MAX_HOPS)
				return -1;
			ptr = ((size_t)(c & 0x3f) << 8) | pkt[off + 1];
			/* strictly backward: no loop can form */
			if (ptr >= limit)
				return -1;
			if (!jumped) {
				end = off + 2;
				jumped = true;
			}
			limit = ptr;
			off = ptr;
			continue;
		}
		if ((c & 0xc0) != 0)
			return -1;	/* extended label types (RFC 6891) */
		if (c == 0) {
			if (wl + 1 > DNS_WIRE_MAX)
				return -1;
			w->b[wl++] = 0;
			off++;
			break;
		}
		if (c > len - off - 1 || wl + 1 + c + 1 > DNS_WIRE_MAX)
			return -1;
		w->b[wl++] = c;
		for (i = 0; i < c; i++)
			w->b[wl++] = (uint8_t)ascii_tolower(pkt[off + 1 + i]);
		off += 1 + (size_t)c;
	}
	w->len = wl;
	*offp = jumped ? end : off;
	return 0;
}

static bool
wire_eq(const struct wire_name *a, const struct wire_name *b)
{
	return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/*
 * wire_to_text - a host name for callers: labels of letters, digits, '-'
 * and '_' joined by dots; "" for the root.  NULL if any other byte.
 */
static char *
wire_to_text(const struct wire_name *w, struct arena *a)
{
	char buf[DNS_WIRE_MAX + 1];
	size_t i = 0, o = 0, j;

	while (i < w->len && w->b[i] != 0) {
		size_t l = w->b[i++];

		if (o > 0)
			buf[o++] = '.';
		for (j = 0; j < l; j++) {
			if (!label_char_ok(w->b[i + j]))
				return NULL;
			buf[o++] = (char)w->b[i + j];
		}
		i += l;
	}
	buf[o] = '\0';
	return arena_strndup(a, buf, o);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}

/* read_rr - one resource record's header; *offp moves past its data */
static int
read_rr(const uint8_t *pkt, size_t len, size_t *offp, struct rr_head *h)
{
	size_t off = *offp;

	if (read_name(pkt, len, &off, &h->owner) < 0 || len - off < 10)
		return -1;
	h->type = get16(pkt + off);
	h->class = get16(pkt + off + 2);
	h->ttl = get32(pkt + off + 4);
	/* RFC 2181 section 8: a TTL with the top bit set means zero */
	if (h->ttl & 0x80000000u)
		h->ttl = 0;
	h->rdlen = get16(pkt + off + 8);
	off += 10;
	if (h->rdlen > len - off)
		return -1;
	h->rdoff = off;
	*offp = off + h->rdlen;
	return 0;
}

/* rdata_name - a name filling exactly the rest of the record's data */
static int
rdata_name(const uint8_t *pkt, size_t len, const struct rr_head *h,
    size_t off, struct wire_name *w)
{
	if (read_name(pkt, len, &off, w) < 0)
		return -1;
	return off == h->rdoff + h->rdlen ? 0 : -1;
}

static int
fail(struct dns_parse_result *r, const char *why)
{
	r->status = DNS_PERMFAIL;
	r->error = why;
	r->n = 0;
	r->ttl = 0;
	return -1;
}

static uint32_t
min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* negative_ttl - RFC 2308 section 5: min(SOA TTL, SOA MINIMUM) */
static int
negative_ttl(const uint8_t *pkt, size_t len, size_t off, unsigned ns,
    struct dns_parse_result *r)
{
	struct rr_head h;
	struct wire_name w;
	unsigned i;

	r->ttl = 0;
	for (i = 0; i < ns; i++) {
		size_t p;

		if (read_rr(pkt, len, &off, &h) < 0)
			return fail(r, "malformed authority record");
		if (h.type != DNS_TYPE_SOA || h.class != DNS_CLASS_IN)
			continue;
		p = h.rdoff;
		if (read_name(pkt, len, &p, &w) < 0 ||
		    read_name(pkt, len, &p, &w) < 0 ||
		    p + 20 != h.rdoff + h.rdlen)
			return fail(r, "malformed SOA record");
		r->ttl = min32(h.ttl, get32(pkt + p + 16));
		if (r->ttl & 0x80000000u)
			r->ttl = 0;
		return 0;
	}
	return 0;
}

/* keep_rr - decodes one record of the queried type into r */
static int
keep_rr(const uint8_t *pkt, size_t len, const struct rr_head *h,
    struct arena *a, size_t *txt_total, struct dns_parse_result *r)
{
	struct dns_rr *rr = &r->rr[r->n];
	struct wire_name w;
	const uint8_t *d = pkt + h->rdoff;
	size_t i, o;
	char *s;

	rr->type = h->type;
	rr->ttl = h->ttl;
	switch (h->type) {
	case DNS_TYPE_A:
		if (h->rdlen != 4)
			return fail(r, "bad A record");
		memcpy(rr->u.a, d, 4);
		break;
	case DNS_TYPE_AAAA:
		if (h->rdlen != 16)
			return fail(r, "bad AAAA record");
		memcpy(rr->u.aaaa, d, 16);
		break;
	case DNS_TYPE_MX:
		if (h->rdlen < 3 ||
		    rdata_name(pkt, len, h, h->rdoff + 2, &w) < 0)
			return fail(r, "bad MX record");
		rr->u.mx.pref = get16(d);
		if ((rr->u.mx.host = wire_to_text(&w, a)) == NULL) {
			r->dropped++;
			return 0;
		}
		break;
	case DNS_TYPE_PTR:
		if (rdata_name(pkt, len, h, h->rdoff, &w) < 0)
			return fail(r, "bad PTR record");
		if ((rr->u.ptr = wire_to_text(&w, a)) == NULL ||
		    rr->u.ptr[0] == '\0') {
			r->dropped++;
			return 0;
		}
		break;
	case DNS_TYPE_TXT:
		/* RFC 1035 3.3.14: one or more <character-string>s */
		if (h->rdlen == 0)
			return fail(r, "empty TXT record");
		s = arena_alloc(a, h->rdlen + 1);
		for (i = 0, o = 0; i < h->rdlen; i += 1 + (size_t)d[i]) {
			if (d[i] > h->rdlen - i - 1)
				return fail(r, "bad TXT record");
			memcpy(s + o, d + i + 1, d[i]);
			o += d[i];
		}
		s[o] = '\0';
		if (memchr(s, '\0', o) != NULL ||
		    o > DNS_MAX_TXT_TOTAL - *txt_total) {
			r->dropped++;
			return 0;
		}
		*txt_total += o;
		rr->u.txt.data = s;
		rr->u.txt.len = o;
		break;
	case DNS_TYPE_TLSA:
		/* RFC 6698 section 2.1: usage, selector, matching type, data */
		if (h->rdlen < 3)
			return fail(r, "bad TLSA record");
		rr->u.tlsa.usage = d[0];
		rr->u.tlsa.selector = d[1];
		rr->u.tlsa.mtype = d[2];
		rr->u.tlsa.len = h->rdlen - 3;
		rr->u.tlsa.data = arena_alloc(a, h->rdlen - 3 + 1);
		memcpy(rr->u.tlsa.data, d + 3, h->rdlen - 3);
		break;
	default:
		return fail(r, "unsupported record type");
	}
	r->n++;
	return 0;
}

int
dns_parse_answer(const uint8_t *pkt, size_t len, const char *qname,
    uint16_t qtype, struct arena *a, struct dns_parse_result *r)
{
	struct wire_name qw, w;
	const struct wire_name *cur;
	struct cname *cn = NULL;
	struct rr_head h;
	unsigned qd, an, ns, i, ncn = 0, hops, matched = 0;
	size_t off, ansoff, txt_total = 0;
	uint32_t ttl = UINT32_MAX;
	uint16_t flags;

	memset(r, 0, sizeof(*r));
	r->status = DNS_PERMFAIL;
	if (text_to_wire(qname, &qw) < 0)
		return fail(r, "bad query name");
	if (len < 12)
		return fail(r, "short header");
	flags = get16(pkt + 2);
	if (!(flags & 0x8000) || ((flags >> 11) & 0xf) != 0)
		return fail(r, "not a query response");
	r->truncated = (flags & 0x0200) != 0;
	r->authentic = (flags & 0x0020) != 0;
	r->rcode = flags & 0xf;
	qd = get16(pkt + 4);
	an = get16(pkt + 6);
	ns = get16(pkt + 8);
	off = 12;

	/* a server failing may omit the question (RFC 1035 gives no rule) */
	if (qd == 0 && r->rcode != 0 && r->rcode != 3) {
		r->status = DNS_TEMPFAIL;
		return 0;
	}
	if (qd != 1)
		return fail(r, "question count is not 1");
	if (read_name(pkt, len, &off, &w) < 0 || len - off < 4)
		return fail(r, "malformed question");
	if (!wire_eq(&w, &qw) || get16(pkt + off) != qtype ||
	    get16(pkt + off + 2) != DNS_CLASS_IN)
		return fail(r, "answer to another question");
	off += 4;

	switch (r->rcode) {
	case 0:		/* NOERROR */
	case 3:		/* NXDOMAIN */
		break;
	default:	/* FORMERR, SERVFAIL, NOTIMP, REFUSED, ... */
		r->status = DNS_TEMPFAIL;
		return 0;
	}

	/* pass 1: the CNAME records, to follow the chain from qname */
	ansoff = off;
	for (i = 0; i < an; i++) {
		if (read_rr(pkt, len, &off, &h) < 0)
			return fail(r, "malformed answer record");
		if (h.type != DNS_TYPE_CNAME || h.class != DNS_CLASS_IN)
			continue;
		if (ncn == DNS_MAX_CNAMES)
			return fail(r, "too many CNAME records");
		if (cn == NULL)
			cn = arena_alloc(a, DNS_MAX_CNAMES * sizeof(*cn));
		cn[ncn].owner = h.owner;
		cn[ncn].ttl = h.ttl;
		if (rdata_name(pkt, len, &h, h.rdoff, &cn[ncn].target) < 0)
			return fail(r, "bad CNAME record");
		ncn++;
	}
	cur = &qw;
	for (hops = 0;; hops++) {
		unsigned j;

		for (j = 0; j < ncn; j++)
			if (wire_eq(&cn[j].owner, cur))
				break;
		if (j == ncn)
			break;
		if (hops == DNS_MAX_CNAME_CHAIN)
			return fail(r, "CNAME chain too long");
		cur = &cn[j].target;
		ttl = min32(ttl, cn[j].ttl);
	}

	if (r->rcode == 3) {
		r->status = DNS_NXDOMAIN;
		return negative_ttl(pkt, len, off, ns, r);
	}

	/* pass 2: the records of the queried type owned by the chain's end */
	r->rr = arena_alloc(a, DNS_MAX_RECORDS * sizeof(*r->rr));
	off = ansoff;
	for (i = 0; i < an; i++) {
		if (read_rr(pkt, len, &off, &h) < 0)
			return fail(r, "malformed answer record");
		if (h.type != qtype || h.class != DNS_CLASS_IN ||
		    !wire_eq(&h.owner, cur))
			continue;
		matched++;
		if (r->n == DNS_MAX_RECORDS) {
			r->dropped++;
			continue;
		}
		if (keep_rr(pkt, len, &h, a, &txt_total, r) < 0)
			return -1;
		if (r->n > 0)
			ttl = min32(ttl, r->rr[r->n - 1].ttl);
	}
	if (r->n > 0) {
		r->status = DNS_OK;
		r->ttl = ttl;
		return 0;
	}
	if (matched > 0) {
		/* records exist but none is usable: not a NODATA */
		r->status = DNS_PERMFAIL;
		r->error = "no usable record";
		return 0;
	}
	r->status = DNS_NODATA;
	return negative_ttl(pkt, len, off, ns, r);
}
