/*
 * dkim.c - DKIM verification and signing.
 *
 * RFC 6376 sections 3 (tags, canonicalization, key records), 5 (signing)
 * and 6 (verification); RFC 8463 (ed25519-sha256: the signature is made
 * over the SHA-256 hash of the canonicalized data); RFC 8301 (rsa-sha1
 * is not verified, RSA keys under 1024 bits are not valid).
 * Untrusted input: every message received (before any authentication)
 * and the key records from DNS.  Sans-I/O: the caller does the DNS.
 */
#include "policy/dkim.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/strnum.h"
#include "lib/xmalloc.h"
#include "mime/mime_header.h"

enum dkim_alg {
	DKIM_ALG_RSA_SHA256,
	DKIM_ALG_ED25519_SHA256,
};

struct dkim_key {
	char		*name;		/* sel._domainkey.dom, lowercase */
	bool		 answered;
	enum dns_status	 status;
	char		*txt;		/* first record, or NULL */
	size_t		 ntxt;		/* records in the answer */
};

struct dkim_sig {
	struct dkim_result res;
	bool		 done;		/* result already decided */
	size_t		 field;		/* index of its header field */
	enum dkim_alg	 alg;
	bool		 hdr_relaxed, body_relaxed;
	bool		 has_l;
	uint64_t	 l;
	struct span	 h;		/* h= value */
	struct span	 b_raw;		/* the b= value as written */
	uint8_t		 bh[32];
	uint8_t		*b;		/* decoded signature (arena) */
	size_t		 blen;
	size_t		 key;		/* index into keys[] */
	bool		 body_done;	/* body_hash/body_total computed */
	uint8_t		 body_hash[32];
	uint64_t	 body_total;
	struct span	 auid_domain;	/* domain part of i= (arena) */
};

struct dkim_field {
	struct span	name;
	struct span	raw;		/* without the final CRLF */
};

struct dkim_verify {
	struct arena	*a;
	uint8_t		*msg;		/* the normalized copy, or NULL
					 * (borrowed, already CRLF) */
	size_t		 len;
	struct span	 header, body;
	struct dkim_field *fields;
	size_t		 nfields;
	time_t		 now;
	struct dkim_sig	 sigs[DKIM_MAX_SIGNATURES];
	size_t		 nsigs;
	struct dkim_key	 keys[DKIM_MAX_SIGNATURES];
	size_t		 nkeys;
	bool		 finished;
};

const char *const DKIM_SIGN_HEADERS_DEFAULT[] = {
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
	"In-Reply-To", "References", "MIME-Version", "Content-Type",
	"Content-Transfer-Encoding", NULL
};

const char *
dkim_status_name(enum dkim_status s)
{
	switch (s) {
	case DKIM_PASS:		return "pass";
	case DKIM_FAIL:		return "fail";
	case DKIM_NEUTRAL:	return "neutral";
	case DKIM_TEMPERROR:	return "temperror";
	case DKIM_PERMERROR:	return "permerror";
	case DKIM_POLICY:	return "policy";
	}
	return "permerror";
}

static bool
is_wsp(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static bool
is_fws(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* --- tag lists (RFC 6376 3.2) ------------------------------------------ */

int
dkim_tags_parse(struct span s, struct dkim_tag *tags, size_t max,
    const char **error_r)
{
	size_t pos = 0, n = 0, i, j;

	while (pos < s.len) {
		size_t ns, ne, vs, ve, rs;

		while (pos < s.len && is_fws(s.p[pos]))
			pos++;
		if (pos == s.len)
			break;		/* trailing ';' and FWS */
		ns = pos;
		if (!ascii_isalpha(s.p[pos])) {
			*error_r = "bad tag name";
			return -1;
		}
		while (pos < s.len && (ascii_isalnum(s.p[pos]) ||
		    s.p[pos] == '_'))
			pos++;
		ne = pos;
		while (pos < s.len && is_fws(s.p[pos]))
			pos++;
		if (pos == s.len || s.p[pos] != '=') {
			*error_r = "tag without '='";
			return -1;
		}
		pos++;
		rs = pos;
		while (pos < s.len && s.p[pos] != ';') {
			uint8_t c = s.p[pos];

			if (!is_fws(c) && (c < 0x21 || c > 0x7e)) {
				*error_r = "bad byte in tag value";
				return -1;
			}
			pos++;
		}
		vs = rs;
		ve = pos;
		while (vs < ve && is_fws(s.p[vs]))
			vs++;
		while (ve > vs && is_fws(s.p[ve - 1]))
			ve--;
		if (n == max) {
			*error_r = "too many tags";
			return -1;
		}
		tags[n].name = span_make(s.p + ns, ne - ns);
		tags[n].value = span_make(s.p + vs, ve - vs);
		tags[n].raw_value = span_make(s.p + rs, pos - rs);
		n++;
		if (pos < s.len)
			pos++;		/* the ';' */
	}
	/* tag names are case-sensitive (RFC 6376 3.2); no duplicates */
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (span_eq(tags[i].name, tags[j].name)) {
				*error_r = "duplicate tag";
				return -1;
			}
	return (int)n;
}

static const struct dkim_tag *
tag_find(const struct dkim_tag *tags, int n, const char *name)
{
	int i;

	for (i = 0; i < n; i++)
		if (span_eq(tags[i].name, span_from_str(name)))
			return &tags[i];
	return NULL;
}

/* list_has - is word in a ':'-separated list (FWS around items)? */
static bool
list_has(struct span list, const char *word, bool ci)
{
	struct span head, rest = list;
	bool more = true;

	while (more) {
		more = span_split(rest, ':', &head, &rest);
		if (!more)
			head = rest;
		head = span_trim(head);
		while (head.len > 0 && is_fws(head.p[0]))
			head = span_make(head.p + 1, head.len - 1);
		while (head.len > 0 && is_fws(head.p[head.len - 1]))
			head.len--;
		if (ci ? span_eq_str_ci(head, word) :
		    span_eq(head, span_from_str(word)))
			return true;
	}
	return false;
}

/* --- base64 ------------------------------------------------------------- */

static int
b64_val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* b64_decode - strict base64, FWS ignored; out holds s.len * 3 / 4. */
static int
b64_decode(struct span s, uint8_t *out, size_t *len_r)
{
	uint32_t acc = 0;
	size_t i, n = 0, bits = 0, pad = 0;

	for (i = 0; i < s.len; i++) {
		uint8_t c = s.p[i];
		int v;

		if (is_fws(c))
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		if (pad > 0)
			return -1;	/* data after padding */
		if ((v = b64_val(c)) < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* a lone sixth bit group or wrong padding is an error; leftover
	 * bits need not be zero (some signers leave junk in them) */
	if (bits >= 6 || pad > 2 || (bits == 0 && pad != 0) ||
	    (bits == 4 && pad != 2 && pad != 0) ||
	    (bits == 2 && pad != 1 && pad != 0))
		return -1;
	*len_r = n;
	return 0;
}

static int
b64_append(struct buf *out, const uint8_t *p, size_t n)
{
	uint8_t *w;
	int m;

	if (n > SIZE_MAX / 2)
		return -1;
	w = buf_reserve(out, (n + 2) / 3 * 4 + 1);
	if (w == NULL)
		return -1;
	m = EVP_EncodeBlock(w, p, (int)n);
	out->len += (size_t)m;
	out->data[out->len] = '\0';
	return 0;
}

/* --- canonicalization (RFC 6376 3.4) ------------------------------------ */

/* Canonical data goes to a hash and/or a buffer, up to a byte limit. */
struct sink {
	EVP_MD_CTX	*md;
	struct buf	*out;
	uint64_t	 limit;
	uint64_t	 total;		/* canonical bytes, past limit too */
	bool		 failed;
};

static void
sink_put(struct sink *k, const void *p, size_t n)
{
	uint64_t room = k->total < k->limit ? k->limit - k->total : 0;
	size_t take = (uint64_t)n < room ? n : (size_t)room;

	if (take > 0) {
		if (k->md != NULL && EVP_DigestUpdate(k->md, p, take) != 1)
			k->failed = true;
		if (k->out != NULL && buf_append(k->out, p, take) < 0)
			k->failed = true;
	}
	k->total += n;
}

static void
canon_header_sink(struct span raw, bool relaxed, struct sink *k)
{
	size_t i, colon, ns, ne;
	bool sp = false, any = false;

	if (!relaxed) {
		sink_put(k, raw.p, raw.len);
		sink_put(k, "\r\n", 2);
		return;
	}
	for (colon = 0; colon < raw.len && raw.p[colon] != ':'; colon++)
		;
	ns = 0;
	ne = colon;
	while (ns < ne && is_fws(raw.p[ns]))
		ns++;
	while (ne > ns && is_fws(raw.p[ne - 1]))
		ne--;
	for (i = ns; i < ne; i++) {
		uint8_t c = (uint8_t)ascii_tolower(raw.p[i]);

		sink_put(k, &c, 1);
	}
	sink_put(k, ":", 1);
	for (i = colon + 1; i < raw.len; i++) {
		size_t s;

		if (is_fws(raw.p[i])) {
			sp = true;	/* unfolded, runs -> one SP */
			continue;
		}
		if (sp && any)
			sink_put(k, " ", 1);
		sp = false;
		any = true;
		for (s = i; i < raw.len && !is_fws(raw.p[i]); i++)
			;
		sink_put(k, raw.p + s, i - s);
		i--;
	}
	sink_put(k, "\r\n", 2);
}

static void
canon_body_sink(struct span body, bool relaxed, struct sink *k)
{
	size_t pos = 0;
	uint64_t blank = 0;
	bool any = false;

	while (pos < body.len) {
		const uint8_t *lf = memchr(body.p + pos, '\n', body.len - pos);
		size_t end, next, i, s;
		bool sp = false, started = false;

		if (lf != NULL) {
			end = (size_t)(lf - body.p);
			next = end + 1;
			if (end > pos && body.p[end - 1] == '\r')
				end--;
		} else {
			end = next = body.len;
		}
		if (!relaxed) {
			if (end == pos) {
				blank++;
			} else {
				for (; blank > 0; blank--)
					sink_put(k, "\r\n", 2);
				sink_put(k, body.p + pos, end - pos);
				sink_put(k, "\r\n", 2);
				any = true;
			}
			pos = next;
			continue;
		}
		for (i = pos; i < end; i++) {
			if (is_wsp(body.p[i])) {
				sp = true;
				continue;
			}
			if (!started) {
				for (; blank > 0; blank--)
					sink_put(k, "\r\n", 2);
				started = true;
			}
			if (sp)		/* a WSP run (leading too) -> one SP */
				sink_put(k, " ", 1);
			sp = false;
			for (s = i; i < end && !is_wsp(body.p[i]); i++)
				;
			sink_put(k, body.p + s, i - s);
			i--;
		}
		if (started) {
			sink_put(k, "\r\n", 2);
			any = true;
		} else {
			blank++;
		}
		pos = next;
	}
	if (!relaxed && !any)
		sink_put(k, "\r\n", 2);	/* an empty body is one CRLF */
}

int
dkim_canon_header(struct span raw, bool relaxed, struct buf *out)
{
	struct sink k = { .out = out, .limit = UINT64_MAX };

	canon_header_sink(raw, relaxed, &k);
	return k.failed ? -1 : 0;
}

int
dkim_canon_body(struct span body, bool relaxed, struct buf *out)
{
	struct sink k = { .out = out, .limit = UINT64_MAX };

	canon_body_sink(body, relaxed, &k);
	return k.failed ? -1 : 0;
}

/* --- messages ------------------------------------------------------------ */

/* normalize - copy msg with every bare LF made CRLF (as dkimpy does). */
static uint8_t *
normalize(const void *msg, size_t len, size_t *len_r)
{
	const uint8_t *p = msg;
	size_t i, n = 0, extra = 0;
	uint8_t *o;

	for (i = 0; i < len; i++)
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			extra++;
	o = xmalloc(len + extra + 1);
	for (i = 0; i < len; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			o[n++] = '\r';
		o[n++] = p[i];
	}
	o[n] = '\0';
	*len_r = n;
	return o;
}

/* prepare - msg itself when it has no bare LF (nothing to copy: a 50 MB
 * message is not duplicated), else a normalized copy left in *owned_r
 * for the caller to free */
static const uint8_t *
prepare(const void *msg, size_t len, size_t *len_r, uint8_t **owned_r)
{
	const uint8_t *p = msg, *lf;
	size_t pos = 0;

	*owned_r = NULL;
	while (pos < len && (lf = memchr(p + pos, '\n', len - pos)) != NULL) {
		size_t i = (size_t)(lf - p);

		if (i == 0 || p[i - 1] != '\r') {
			*owned_r = normalize(msg, len, len_r);
			return *owned_r;
		}
		pos = i + 1;
	}
	*len_r = len;
	return p;
}

/* split_message - header (incl. its last CRLF) and body */
static void
split_message(const uint8_t *m, size_t len, struct span *hdr,
    struct span *body)
{
	size_t i;

	if (len >= 2 && m[0] == '\r' && m[1] == '\n') {
		*hdr = span_make(m, 0);
		*body = span_make(m + 2, len - 2);
		return;
	}
	for (i = 0; i + 3 < len; i++)
		if (m[i] == '\r' && m[i + 1] == '\n' && m[i + 2] == '\r' &&
		    m[i + 3] == '\n') {
			*hdr = span_make(m, i + 2);
			*body = span_make(m + i + 4, len - i - 4);
			return;
		}
	*hdr = span_make(m, len);
	*body = span_make(m + len, 0);
}

/* read_fields - header fields with a colon, at most MIME_MAX_HEADER_FIELDS */
static struct dkim_field *
read_fields(struct span hdr, size_t *n_r)
{
	struct dkim_field *f = NULL;
	struct mime_field mf;
	size_t pos = 0, n = 0, cap = 0;

	while (n < MIME_MAX_HEADER_FIELDS && mime_header_next(hdr, &pos, &mf)) {
		struct span raw = mf.raw;

		if (span_find(raw, ':') < 0)
			continue;
		if (raw.len > 0 && raw.p[raw.len - 1] == '\n')
			raw.len--;
		if (raw.len > 0 && raw.p[raw.len - 1] == '\r')
			raw.len--;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			f = xreallocarray(f, cap, sizeof(*f));
		}
		f[n].name = mf.name;
		f[n].raw = raw;
		n++;
	}
	*n_r = n;
	return f;
}

/* body_hash - canonical body hash with an l= limit; total length out */
static int
body_hash(struct span body, bool relaxed, bool has_l, uint64_t l,
    uint8_t out[32], uint64_t *total_r)
{
	struct sink k = { .limit = has_l ? l : UINT64_MAX };
	unsigned int mdlen = 0;
	int r = -1;

	k.md = EVP_MD_CTX_new();
	if (k.md == NULL)
		return -1;
	if (EVP_DigestInit_ex(k.md, EVP_sha256(), NULL) != 1)
		goto out;
	canon_body_sink(body, relaxed, &k);
	if (k.failed || EVP_DigestFinal_ex(k.md, out, &mdlen) != 1 ||
	    mdlen != 32)
		goto out;
	*total_r = k.total;
	r = 0;
out:
	EVP_MD_CTX_free(k.md);
	return r;
}

/*
 * header_data - the canonical header fields named in h= (each name takes
 * the last unused instance, RFC 6376 5.4.2), then the signature field
 * itself with its b= value removed and without the final CRLF.
 */
static int
header_data(const struct dkim_field *fields, size_t nfields, size_t self,
    struct span h, bool relaxed, struct span sig_raw, struct span b_raw,
    struct buf *out)
{
	struct sink k = { .out = out, .limit = UINT64_MAX };
	struct span head, rest = h;
	bool *used, more = true;
	size_t names = 0, off;
	struct buf tmp;
	int r = -1;

	used = xcalloc(nfields + 1, sizeof(*used));
	if (self < nfields)
		used[self] = true;
	while (more) {
		size_t i;

		more = span_split(rest, ':', &head, &rest);
		if (!more)
			head = rest;
		while (head.len > 0 && is_fws(head.p[0]))
			head = span_make(head.p + 1, head.len - 1);
		while (head.len > 0 && is_fws(head.p[head.len - 1]))
			head.len--;
		if (head.len == 0 || ++names > DKIM_MAX_SIGNED_FIELDS)
			goto out;
		for (i = nfields; i-- > 0;) {
			if (used[i] || !span_eq_ci(fields[i].name, head))
				continue;
			used[i] = true;
			canon_header_sink(fields[i].raw, relaxed, &k);
			break;
		}
	}
	/* the signature field, b= value (and its FWS) taken out */
	buf_init(&tmp, sig_raw.len + 1);
	off = (size_t)(b_raw.p - sig_raw.p);
	if (buf_append(&tmp, sig_raw.p, off) < 0 ||
	    buf_append(&tmp, b_raw.p + b_raw.len,
	    sig_raw.len - off - b_raw.len) < 0) {
		buf_fini(&tmp);
		goto out;
	}
	canon_header_sink(buf_span(&tmp), relaxed, &k);
	buf_fini(&tmp);
	if (k.failed || out->len < 2)
		goto out;
	out->len -= 2;			/* no CRLF after the signature field */
	r = 0;
out:
	free(used);
	return r;
}

/* sig_verify - check a signature over the canonical header data */
static int
sig_verify(EVP_PKEY *pkey, enum dkim_alg alg, const struct buf *data,
    const uint8_t *sig, size_t siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t hash[32];
	unsigned int hlen = 0;
	int r = -1;

	if (ctx == NULL)
		return -1;
	if (alg == DKIM_ALG_RSA_SHA256) {
		if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL,
		    pkey) == 1 && EVP_DigestVerify(ctx, sig, siglen,
		    data->data, data->len) == 1)
			r = 0;
	} else {
		/* RFC 8463 3: Ed25519 over the SHA-256 hash of the data */
		if (EVP_Digest(data->data, data->len, hash, &hlen,
		    EVP_sha256(), NULL) == 1 &&
		    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
		    EVP_DigestVerify(ctx, sig, siglen, hash, hlen) == 1)
			r = 0;
	}
	EVP_MD_CTX_free(ctx);
	return r;
}

/* sig_make - sign the canonical header data */
static int
sig_make(EVP_PKEY *pkey, enum dkim_alg alg, const struct buf *data,
    struct buf *sig_r)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	const uint8_t *tbs = data->data;
	uint8_t hash[32], *w;
	unsigned int hlen = 0;
	size_t tbslen = data->len, siglen = 0;
	const EVP_MD *md = EVP_sha256();
	int r = -1;

	if (ctx == NULL)
		return -1;
	if (alg == DKIM_ALG_ED25519_SHA256) {
		if (EVP_Digest(data->data, data->len, hash, &hlen,
		    EVP_sha256(), NULL) != 1)
			goto out;
		tbs = hash;
		tbslen = hlen;
		md = NULL;
	}
	if (EVP_DigestSignInit(ctx, NULL, md, NULL, pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, tbs, tbslen) != 1)
		goto out;
	if ((w = buf_reserve(sig_r, siglen)) == NULL ||
	    EVP_DigestSign(ctx, w, &siglen, tbs, tbslen) != 1)
		goto out;
	sig_r->len += siglen;
	r = 0;
out:
	EVP_MD_CTX_free(ctx);
	return r;
}

/* --- verification -------------------------------------------------------- */

static bool
valid_domain(struct span d)
{
	size_t i, label = 0;

	if (d.len == 0 || d.len > DNS_MAX_NAME)
		return false;
	for (i = 0; i < d.len; i++) {
		uint8_t c = d.p[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!ascii_isalnum(c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

static char *
lower_dup(struct arena *a, struct span s)
{
	char *p = arena_strndup(a, s.p, s.len);

	return ascii_strlower(p);
}

/* qp_decode - dkim-quoted-printable (RFC 6376 2.11), FWS dropped */
static int
qp_decode(struct arena *a, struct span s, char **out_r)
{
	char *o = arena_alloc(a, s.len + 1);
	size_t i, n = 0;

	for (i = 0; i < s.len; i++) {
		uint8_t c = s.p[i];

		if (is_fws(c))
			continue;
		if (c == '=') {
			int hi, lo;

			if (i + 2 >= s.len || !ascii_isxdigit(s.p[i + 1]) ||
			    !ascii_isxdigit(s.p[i + 2]))
				return -1;
			hi = ascii_isdigit(s.p[i + 1]) ? s.p[i + 1] - '0' :
			    ascii_tolower(s.p[i + 1]) - 'a' + 10;
			lo = ascii_isdigit(s.p[i + 2]) ? s.p[i + 2] - '0' :
			    ascii_tolower(s.p[i + 2]) - 'a' + 10;
			c = (uint8_t)(hi * 16 + lo);
			if (c == 0)
				return -1;
			i += 2;
		}
		o[n++] = (char)c;
	}
	o[n] = '\0';
	*out_r = o;
	return 0;
}

static int
sig_fail(struct dkim_sig *s, enum dkim_status st, const char *reason)
{
	s->res.result = st;
	s->res.reason = reason;
	s->done = true;
	return -1;
}

static size_t
key_index(struct dkim_verify *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->nkeys; i++)
		if (strcmp(v->keys[i].name, name) == 0)
			return i;
	v->keys[v->nkeys].name = arena_strdup(v->a, name);
	return v->nkeys++;
}

/* parse_sig - read one DKIM-Signature field's tags (RFC 6376 3.5, 6.1.1) */
static int
parse_sig(struct dkim_verify *v, struct dkim_sig *s, size_t fi)
{
	struct dkim_tag tags[DKIM_MAX_TAGS];
	const struct dkim_tag *t;
	const char *err = NULL;
	struct span value;
	size_t bl;
	long colon;
	int n;
	char *name;

	s->field = fi;
	s->res.reason = "";
	s->res.b_prefix = "";
	colon = span_find(v->fields[fi].raw, ':');
	value = span_make(v->fields[fi].raw.p + colon + 1,
	    v->fields[fi].raw.len - (size_t)colon - 1);
	if ((n = dkim_tags_parse(value, tags, DKIM_MAX_TAGS, &err)) < 0) {
		return sig_fail(s, DKIM_PERMERROR, err);
	}
	/* what the result should show even if something else is wrong */
	if ((t = tag_find(tags, n, "d")) != NULL && valid_domain(t->value))
		s->res.domain = lower_dup(v->a, t->value);
	if ((t = tag_find(tags, n, "s")) != NULL && valid_domain(t->value))
		s->res.selector = lower_dup(v->a, t->value);
	if ((t = tag_find(tags, n, "a")) != NULL && t->value.len <= 64)
		s->res.algo = lower_dup(v->a, t->value);
	if ((t = tag_find(tags, n, "b")) != NULL) {
		char pre[9];
		size_t i, k = 0;

		for (i = 0; i < t->value.len && k < 8; i++)
			if (!is_fws(t->value.p[i]))
				pre[k++] = (char)t->value.p[i];
		pre[k] = '\0';
		s->res.b_prefix = arena_strdup(v->a, pre);
	}

	if ((t = tag_find(tags, n, "v")) == NULL)
		return sig_fail(s, DKIM_PERMERROR, "no v= tag");
	if (!span_eq(t->value, SPAN_LIT("1")))
		return sig_fail(s, DKIM_PERMERROR, "unsupported version");
	if ((t = tag_find(tags, n, "a")) == NULL)
		return sig_fail(s, DKIM_PERMERROR, "no a= tag");
	if (span_eq_str_ci(t->value, "rsa-sha256"))
		s->alg = DKIM_ALG_RSA_SHA256;
	else if (span_eq_str_ci(t->value, "ed25519-sha256"))
		s->alg = DKIM_ALG_ED25519_SHA256;
	else if (span_eq_str_ci(t->value, "rsa-sha1"))
		return sig_fail(s, DKIM_PERMERROR,
		    "rsa-sha1 is not accepted (RFC 8301)");
	else
		return sig_fail(s, DKIM_PERMERROR, "unsupported algorithm");
	if (tag_find(tags, n, "b") == NULL)
		return sig_fail(s, DKIM_PERMERROR, "no b= tag");
	if (tag_find(tags, n, "bh") == NULL)
		return sig_fail(s, DKIM_PERMERROR, "no bh= tag");
	if (tag_find(tags, n, "d") == NULL)
		return sig_fail(s, DKIM_PERMERROR, "no d= tag");
	if (s->res.domain == NULL)
		return sig_fail(s, DKIM_PERMERROR, "bad d= domain");
	if ((t = tag_find(tags, n, "h")) == NULL)
		return sig_fail(s, DKIM_PERMERROR, "no h= tag");
	s->h = t->value;
	if (!list_has(s->h, "from", true))
		return sig_fail(s, DKIM_PERMERROR, "From is not signed");
	if (tag_find(tags, n, "s") == NULL)
		return sig_fail(s, DKIM_PERMERROR, "no s= tag");
	if (s->res.selector == NULL)
		return sig_fail(s, DKIM_PERMERROR, "bad s= selector");

	s->hdr_relaxed = s->body_relaxed = false;
	if ((t = tag_find(tags, n, "c")) != NULL) {
		struct span hc, bc;

		if (!span_split(t->value, '/', &hc, &bc))
			bc = SPAN_LIT("simple"), hc = t->value;
		if (span_eq(hc, SPAN_LIT("relaxed")))
			s->hdr_relaxed = true;
		else if (!span_eq(hc, SPAN_LIT("simple")))
			return sig_fail(s, DKIM_PERMERROR,
			    "unsupported canonicalization");
		if (span_eq(bc, SPAN_LIT("relaxed")))
			s->body_relaxed = true;
		else if (!span_eq(bc, SPAN_LIT("simple")))
			return sig_fail(s, DKIM_PERMERROR,
			    "unsupported canonicalization");
	}
	if ((t = tag_find(tags, n, "q")) != NULL &&
	    !list_has(t->value, "dns/txt", false))
		return sig_fail(s, DKIM_PERMERROR, "unsupported query method");

	/* i=: within d= (RFC 6376 3.5); default "@" d= */
	if ((t = tag_find(tags, n, "i")) != NULL) {
		char *auid, *at, *dom;
		size_t dl, dd = strlen(s->res.domain);

		if (t->value.len > 512 || qp_decode(v->a, t->value, &auid) < 0)
			return sig_fail(s, DKIM_PERMERROR, "bad i= tag");
		if ((at = strrchr(auid, '@')) == NULL)
			return sig_fail(s, DKIM_PERMERROR, "bad i= tag");
		s->res.auid = auid;
		dom = at + 1;
		dl = strlen(dom);
		if (!(dl == dd && ascii_strcasecmp(dom, s->res.domain) == 0) &&
		    !(dl > dd && dom[dl - dd - 1] == '.' &&
		    ascii_strcasecmp(dom + dl - dd, s->res.domain) == 0))
			return sig_fail(s, DKIM_PERMERROR,
			    "i= domain is not within d=");
		s->auid_domain = span_from_str(dom);
	} else {
		s->res.auid = arena_printf(v->a, "@%s", s->res.domain);
		s->auid_domain = span_from_str(s->res.auid + 1);
	}

	if ((t = tag_find(tags, n, "l")) != NULL) {
		if (t->value.len > 76 || strnum_u64(t->value, UINT64_MAX,
		    &s->l) < 0)
			return sig_fail(s, DKIM_PERMERROR, "bad l= tag");
		s->has_l = true;
	}
	{
		uint64_t ts = 0, xs = 0;
		bool has_t = false;

		if ((t = tag_find(tags, n, "t")) != NULL) {
			if (strnum_u64(t->value, UINT64_MAX, &ts) < 0)
				return sig_fail(s, DKIM_PERMERROR,
				    "bad t= tag");
			has_t = true;
		}
		if ((t = tag_find(tags, n, "x")) != NULL) {
			if (strnum_u64(t->value, UINT64_MAX, &xs) < 0)
				return sig_fail(s, DKIM_PERMERROR,
				    "bad x= tag");
			if (has_t && xs < ts)
				return sig_fail(s, DKIM_PERMERROR,
				    "x= is before t=");
			if (v->now >= 0 && xs < (uint64_t)v->now)
				return sig_fail(s, DKIM_PERMERROR,
				    "signature expired");
		}
	}

	t = tag_find(tags, n, "bh");
	{
		/* 128 base64 characters decode to at most 96 bytes: decode
		 * into room for that, then insist on a SHA-256 length */
		uint8_t bh[96];

		if (t->value.len > 128 || b64_decode(t->value, bh, &bl) < 0 ||
		    bl != 32)
			return sig_fail(s, DKIM_PERMERROR, "bad bh= tag");
		memcpy(s->bh, bh, 32);
	}
	t = tag_find(tags, n, "b");
	s->b_raw = t->raw_value;
	if (t->value.len > DKIM_MAX_B64_SIG)
		return sig_fail(s, DKIM_PERMERROR, "bad b= tag");
	s->b = arena_alloc(v->a, t->value.len + 1);
	if (b64_decode(t->value, s->b, &s->blen) < 0 || s->blen == 0)
		return sig_fail(s, DKIM_PERMERROR, "bad b= tag");

	name = arena_printf(v->a, "%s._domainkey.%s", s->res.selector,
	    s->res.domain);
	if (strlen(name) > DNS_MAX_NAME)
		return sig_fail(s, DKIM_PERMERROR, "key name too long");
	s->key = key_index(v, name);
	return 0;
}

static struct dkim_verify *
verify_new(const void *msg, size_t len, time_t now, bool borrow)
{
	struct dkim_verify *v = xcalloc(1, sizeof(*v));
	const uint8_t *data;
	size_t i;

	v->a = arena_new("dkim", 4096, 4u * 1024 * 1024);
	v->now = now;
	if (borrow) {
		data = prepare(msg, len, &v->len, &v->msg);
	} else {
		v->msg = normalize(msg, len, &v->len);
		data = v->msg;
	}
	split_message(data, v->len, &v->header, &v->body);
	v->fields = read_fields(v->header, &v->nfields);
	for (i = 0; i < v->nfields && v->nsigs < DKIM_MAX_SIGNATURES; i++) {
		if (!span_eq_str_ci(v->fields[i].name, "DKIM-Signature"))
			continue;
		(void)parse_sig(v, &v->sigs[v->nsigs++], i);
	}
	return v;
}

struct dkim_verify *
dkim_verify_new(const void *msg, size_t len, time_t now)
{
	return verify_new(msg, len, now, false);
}

struct dkim_verify *
dkim_verify_new_ref(const void *msg, size_t len, time_t now)
{
	return verify_new(msg, len, now, true);
}

size_t
dkim_verify_nkeys(const struct dkim_verify *v)
{
	return v->nkeys;
}

const char *
dkim_verify_key_name(const struct dkim_verify *v, size_t i)
{
	return i < v->nkeys ? v->keys[i].name : NULL;
}

void
dkim_verify_key_answer(struct dkim_verify *v, size_t i,
    enum dns_status status, const char *const *txt, size_t n)
{
	struct dkim_key *k;

	if (i >= v->nkeys)
		return;
	k = &v->keys[i];
	free(k->txt);
	k->txt = NULL;
	k->answered = true;
	k->status = status;
	k->ntxt = status == DNS_OK ? n : 0;
	if (status == DNS_OK && n > 0 && txt[0] != NULL)
		k->txt = xstrndup(txt[0], strnlen(txt[0],
		    DNS_MAX_TXT_TOTAL + 1));
}

/* key_load - check the key record against the signature (RFC 6376 3.6.1,
 * 6.1.2) and decode its public key. */
static EVP_PKEY *
key_load(struct dkim_verify *v, struct dkim_sig *s, const struct dkim_key *k)
{
	struct dkim_tag tags[DKIM_MAX_TAGS];
	const struct dkim_tag *t;
	const char *err;
	struct span rec, kt;
	EVP_PKEY *pkey = NULL;
	uint8_t *der;
	size_t dlen;
	int n;

	if (!k->answered) {
		sig_fail(s, DKIM_TEMPERROR, "key not looked up");
		return NULL;
	}
	switch (k->status) {
	case DNS_OK:
		break;
	case DNS_TEMPFAIL:
		sig_fail(s, DKIM_TEMPERROR, "key lookup failed");
		return NULL;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		sig_fail(s, DKIM_PERMERROR, "no key record");
		return NULL;
	default:
		sig_fail(s, DKIM_PERMERROR, "key lookup failed");
		return NULL;
	}
	if (k->txt == NULL) {
		sig_fail(s, DKIM_PERMERROR, "no key record");
		return NULL;
	}
	rec = span_from_str(k->txt);
	if (rec.len > DNS_MAX_TXT_TOTAL) {
		sig_fail(s, DKIM_PERMERROR, "key record too long");
		return NULL;
	}
	if ((n = dkim_tags_parse(rec, tags, DKIM_MAX_TAGS, &err)) < 0) {
		sig_fail(s, DKIM_PERMERROR, "key record syntax error");
		return NULL;
	}
	if (n == 0) {
		sig_fail(s, DKIM_PERMERROR, "empty key record");
		return NULL;
	}
	/* v=, if present, must be first and DKIM1 */
	if ((t = tag_find(tags, n, "v")) != NULL &&
	    (t != &tags[0] || !span_eq(t->value, SPAN_LIT("DKIM1")))) {
		sig_fail(s, DKIM_PERMERROR, "bad key record version");
		return NULL;
	}
	if ((t = tag_find(tags, n, "h")) != NULL &&
	    !list_has(t->value, "sha256", false)) {
		sig_fail(s, DKIM_PERMERROR, "key does not allow sha256");
		return NULL;
	}
	if ((t = tag_find(tags, n, "s")) != NULL &&
	    !list_has(t->value, "*", false) &&
	    !list_has(t->value, "email", false)) {
		sig_fail(s, DKIM_PERMERROR, "key is not for email");
		return NULL;
	}
	if ((t = tag_find(tags, n, "t")) != NULL && list_has(t->value, "s",
	    false) && !span_eq_str_ci(s->auid_domain, s->res.domain)) {
		sig_fail(s, DKIM_PERMERROR, "key t=s forbids i= subdomain");
		return NULL;
	}
	kt = (t = tag_find(tags, n, "k")) != NULL ? t->value :
	    SPAN_LIT("rsa");		/* k= defaults to rsa */
	if (!span_eq(kt, SPAN_LIT("rsa")) &&
	    !span_eq(kt, SPAN_LIT("ed25519"))) {
		sig_fail(s, DKIM_PERMERROR, "unknown key type");
		return NULL;
	}
	if ((s->alg == DKIM_ALG_RSA_SHA256) != span_eq(kt, SPAN_LIT("rsa"))) {
		sig_fail(s, DKIM_PERMERROR, "key type does not match a=");
		return NULL;
	}
	if ((t = tag_find(tags, n, "p")) == NULL) {
		sig_fail(s, DKIM_PERMERROR, "key record has no p=");
		return NULL;
	}
	if (t->value.len == 0) {
		sig_fail(s, DKIM_PERMERROR, "key revoked");
		return NULL;
	}
	der = arena_alloc(v->a, t->value.len + 1);
	if (b64_decode(t->value, der, &dlen) < 0) {
		sig_fail(s, DKIM_PERMERROR, "bad key data");
		return NULL;
	}
	if (s->alg == DKIM_ALG_ED25519_SHA256) {
		/* RFC 8463 4.2: the raw 32-byte public key */
		if (dlen == 32)
			pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519,
			    NULL, der, dlen);
		if (pkey == NULL) {
			sig_fail(s, DKIM_PERMERROR, "bad key data");
			return NULL;
		}
		s->res.key_bits = 256;
		return pkey;
	}
	{
		const uint8_t *p = der;

		pkey = d2i_PUBKEY(NULL, &p, (long)dlen);
		if (pkey == NULL) {
			/* some publish a bare RSAPublicKey (PKCS#1) */
			p = der;
			pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p,
			    (long)dlen);
		}
	}
	if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
		EVP_PKEY_free(pkey);
		sig_fail(s, DKIM_PERMERROR, "bad key data");
		return NULL;
	}
	s->res.key_bits = (unsigned)EVP_PKEY_get_bits(pkey);
	if (s->res.key_bits < DKIM_MIN_RSA_BITS) {
		EVP_PKEY_free(pkey);
		sig_fail(s, DKIM_PERMERROR,
		    "RSA key shorter than 1024 bits (RFC 8301)");
		return NULL;
	}
	if (s->res.key_bits > DKIM_MAX_RSA_BITS) {
		EVP_PKEY_free(pkey);
		sig_fail(s, DKIM_PERMERROR, "RSA key too large");
		return NULL;
	}
	return pkey;
}

static void
verify_one(struct dkim_verify *v, struct dkim_sig *s)
{
	EVP_PKEY *pkey;
	uint8_t bh[32];
	uint64_t total = 0;
	struct buf data;
	size_t i;

	if ((pkey = key_load(v, s, &v->keys[s->key])) == NULL)
		return;
	/* signatures hashing the body the same way share the work: ten
	 * signatures must not mean ten passes over a 50 MB body */
	for (i = 0; i < v->nsigs && !s->body_done; i++) {
		const struct dkim_sig *o = &v->sigs[i];

		if (o != s && o->body_done &&
		    o->body_relaxed == s->body_relaxed &&
		    o->has_l == s->has_l && o->l == s->l) {
			memcpy(s->body_hash, o->body_hash, 32);
			s->body_total = o->body_total;
			s->body_done = true;
		}
	}
	if (!s->body_done) {
		if (body_hash(v->body, s->body_relaxed, s->has_l, s->l,
		    s->body_hash, &s->body_total) < 0) {
			sig_fail(s, DKIM_TEMPERROR, "hash failed");
			goto out;
		}
		s->body_done = true;
	}
	memcpy(bh, s->body_hash, 32);
	total = s->body_total;
	if (s->has_l && s->l > total) {
		/* RFC 6376 6.1.3: l= beyond the body is invalid */
		sig_fail(s, DKIM_PERMERROR, "l= is longer than the body");
		goto out;
	}
	s->res.body_length_limited = s->has_l && s->l < total;
	if (memcmp(bh, s->bh, 32) != 0) {
		sig_fail(s, DKIM_FAIL, "body hash mismatch");
		goto out;
	}
	buf_init(&data, v->header.len * 2 + 1024);
	if (header_data(v->fields, v->nfields, s->field, s->h,
	    s->hdr_relaxed, v->fields[s->field].raw, s->b_raw, &data) < 0) {
		buf_fini(&data);
		sig_fail(s, DKIM_PERMERROR, "bad h= tag");
		goto out;
	}
	if (sig_verify(pkey, s->alg, &data, s->b, s->blen) < 0)
		sig_fail(s, DKIM_FAIL, "signature did not verify");
	else
		sig_fail(s, DKIM_PASS, s->res.body_length_limited ?
		    "good signature, body partly signed (l=)" :
		    "good signature");
	buf_fini(&data);
out:
	EVP_PKEY_free(pkey);
}

void
dkim_verify_finish(struct dkim_verify *v)
{
	size_t i;

	if (v->finished)
		return;
	v->finished = true;
	for (i = 0; i < v->nsigs; i++)
		if (!v->sigs[i].done)
			verify_one(v, &v->sigs[i]);
}

size_t
dkim_verify_nresults(const struct dkim_verify *v)
{
	return v->finished ? v->nsigs : 0;
}

const struct dkim_result *
dkim_verify_result(const struct dkim_verify *v, size_t i)
{
	return v->finished && i < v->nsigs ? &v->sigs[i].res : NULL;
}

bool
dkim_verify_any_pass(const struct dkim_verify *v)
{
	size_t i;

	for (i = 0; i < dkim_verify_nresults(v); i++)
		if (v->sigs[i].res.result == DKIM_PASS)
			return true;
	return false;
}

/* ar_value - a pvalue: a token as is, else a quoted-string; control and
 * 8-bit bytes make it unusable (false) */
static int
ar_value(struct buf *out, const char *name, const char *val)
{
	const char *p;
	bool plain = val[0] != '\0';

	for (p = val; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;

		if (c < 0x20 || c > 0x7e)
			return 0;	/* left out */
		/* RFC 2045 token (no '/' or '='), or local@domain */
		if (!ascii_isalnum(c) && strchr("@.-_+", c) == NULL)
			plain = false;
	}
	if (buf_printf(out, " %s=", name) < 0)
		return -1;
	if (plain)
		return buf_append_str(out, val);
	if (buf_append_byte(out, '"') < 0)
		return -1;
	for (p = val; *p != '\0'; p++)
		if (((*p == '"' || *p == '\\') &&
		    buf_append_byte(out, '\\') < 0) ||
		    buf_append_byte(out, (uint8_t)*p) < 0)
			return -1;
	return buf_append_byte(out, '"');
}

int
dkim_verify_ar(const struct dkim_verify *v, struct buf *out)
{
	size_t i;

	if (dkim_verify_nresults(v) == 0)
		return buf_append_str(out, "dkim=none");
	for (i = 0; i < v->nsigs; i++) {
		const struct dkim_result *r = &v->sigs[i].res;

		if ((i > 0 && buf_append_str(out, "; ") < 0) ||
		    buf_printf(out, "dkim=%s", dkim_status_name(r->result)) < 0)
			return -1;
		if (r->key_bits != 0 &&
		    buf_printf(out, " (%u-bit key)", r->key_bits) < 0)
			return -1;
		if (r->result != DKIM_PASS &&
		    ar_value(out, "reason", r->reason) < 0)
			return -1;
		if ((r->domain != NULL &&
		    ar_value(out, "header.d", r->domain) < 0) ||
		    (r->auid != NULL &&
		    ar_value(out, "header.i", r->auid) < 0) ||
		    (r->selector != NULL &&
		    ar_value(out, "header.s", r->selector) < 0) ||
		    (r->algo != NULL &&
		    ar_value(out, "header.a", r->algo) < 0) ||
		    (r->b_prefix[0] != '\0' &&
		    ar_value(out, "header.b", r->b_prefix) < 0))
			return -1;
	}
	return 0;
}

void
dkim_verify_free(struct dkim_verify **vp)
{
	struct dkim_verify *v = *vp;
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < v->nkeys; i++)
		free(v->keys[i].txt);
	free(v->fields);
	free(v->msg);
	arena_free(&v->a);
	free(v);
	*vp = NULL;
}

/* --- signing ------------------------------------------------------------- */

static int
key_alg(EVP_PKEY *key, enum dkim_alg *alg_r, const char **error_r)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(key) < DKIM_MIN_RSA_BITS) {
			*error_r = "RSA key shorter than 1024 bits";
			return -1;
		}
		*alg_r = DKIM_ALG_RSA_SHA256;
		return 0;
	case EVP_PKEY_ED25519:
		*alg_r = DKIM_ALG_ED25519_SHA256;
		return 0;
	}
	*error_r = "key is neither RSA nor Ed25519";
	return -1;
}

/* sign_fields - the signing core; fold_b folds the b= value */
static int
sign_fields(const void *msg, size_t len, const char *tags, EVP_PKEY *key,
    bool fold_b, struct buf *out, const char **error_r)
{
	struct dkim_tag tv[DKIM_MAX_TAGS];
	const struct dkim_tag *t;
	struct dkim_field *fields = NULL;
	struct span hdr, body, h, b_raw;
	struct buf field, data, sig, b64;
	enum dkim_alg alg;
	bool hrel = false, brel = false, has_l = false;
	uint64_t l = 0, total;
	uint8_t *owned, bh[32];
	const uint8_t *m;
	size_t mlen, nfields, i, from = 0;
	int n, r = -1;
	const char *err;

	if (key_alg(key, &alg, error_r) < 0)
		return -1;
	if (len > 0 && is_wsp(*(const uint8_t *)msg)) {
		/* it would continue the field we put on top */
		*error_r = "message starts with a continuation line";
		return -1;
	}
	if ((n = dkim_tags_parse(span_from_str(tags), tv, DKIM_MAX_TAGS,
	    &err)) < 0) {
		*error_r = err;
		return -1;
	}
	if ((t = tag_find(tv, n, "a")) == NULL ||
	    !span_eq_str_ci(t->value, alg == DKIM_ALG_RSA_SHA256 ?
	    "rsa-sha256" : "ed25519-sha256")) {
		*error_r = "a= does not match the key";
		return -1;
	}
	if ((t = tag_find(tv, n, "h")) == NULL || !list_has(t->value,
	    "from", true)) {
		*error_r = "h= must list From";
		return -1;
	}
	h = t->value;
	if ((t = tag_find(tv, n, "c")) != NULL) {
		struct span hc, bc;

		if (!span_split(t->value, '/', &hc, &bc))
			hc = t->value, bc = SPAN_LIT("simple");
		hrel = span_eq(hc, SPAN_LIT("relaxed"));
		brel = span_eq(bc, SPAN_LIT("relaxed"));
	}
	if ((t = tag_find(tv, n, "l")) != NULL) {
		if (strnum_u64(t->value, UINT64_MAX, &l) < 0) {
			*error_r = "bad l=";
			return -1;
		}
		has_l = true;
	}
	if (tag_find(tv, n, "b") != NULL || tag_find(tv, n, "bh") != NULL) {
		*error_r = "tags must not hold b= or bh=";
		return -1;
	}

	m = prepare(msg, len, &mlen, &owned);
	split_message(m, mlen, &hdr, &body);
	fields = read_fields(hdr, &nfields);
	for (i = 0; i < nfields; i++)
		if (span_eq_str_ci(fields[i].name, "From"))
			from++;
	buf_init(&field, 64 * 1024);
	buf_init(&data, hdr.len * 2 + 64 * 1024);
	buf_init(&sig, 8192);
	buf_init(&b64, 16384);
	if (from == 0) {
		*error_r = "message has no From field";
		goto out;
	}
	if (body_hash(body, brel, has_l, l, bh, &total) < 0) {
		*error_r = "hash failed";
		goto out;
	}
	if (has_l && l > total) {
		*error_r = "l= is longer than the body";
		goto out;
	}
	if (buf_append_str(&field, "DKIM-Signature: ") < 0 ||
	    buf_append_str(&field, tags) < 0 ||
	    buf_append_str(&field, fold_b ? ";\r\n\tbh=" : "; bh=") < 0 ||
	    b64_append(&field, bh, 32) < 0 ||
	    buf_append_str(&field, fold_b ? ";\r\n\tb=" : "; b=") < 0) {
		*error_r = "signature field too long";
		goto out;
	}
	b_raw = span_make(field.data + field.len, 0);
	if (header_data(fields, nfields, nfields, h, hrel, buf_span(&field),
	    b_raw, &data) < 0) {
		*error_r = "bad h= list";
		goto out;
	}
	if (sig_make(key, alg, &data, &sig) < 0) {
		*error_r = "signing failed";
		goto out;
	}
	if (b64_append(&b64, sig.data, sig.len) < 0) {
		*error_r = "signature too long";
		goto out;
	}
	for (i = 0; i < b64.len; i += 64) {
		size_t k = b64.len - i < 64 ? b64.len - i : 64;

		if ((fold_b && i > 0 && buf_append_str(&field, "\r\n\t") < 0) ||
		    buf_append(&field, b64.data + i, k) < 0) {
			*error_r = "signature field too long";
			goto out;
		}
	}
	if (buf_append_str(&field, "\r\n") < 0 ||
	    buf_append(out, field.data, field.len) < 0) {
		*error_r = "output buffer full";
		goto out;
	}
	r = 0;
out:
	buf_fini(&field);
	buf_fini(&data);
	buf_fini(&sig);
	buf_fini(&b64);
	free(fields);
	free(owned);
	return r;
}

int
dkim_sign_tags(const void *msg, size_t len, const char *tags, EVP_PKEY *key,
    struct buf *out_header, const char **error_r)
{
	return sign_fields(msg, len, tags, key, false, out_header, error_r);
}

int
dkim_sign(const void *msg, size_t len, const char *domain,
    const char *selector, EVP_PKEY *key, const char *const *headers,
    time_t now, struct buf *out_header, const char **error_r)
{
	struct dkim_field *fields;
	struct span hdr, body;
	struct buf tags;
	enum dkim_alg alg;
	size_t i, j, nfields, linelen, mlen;
	uint8_t *owned;
	const uint8_t *m;
	int r = -1;

	if (key_alg(key, &alg, error_r) < 0)
		return -1;
	if (!valid_domain(span_from_str(domain)) ||
	    !valid_domain(span_from_str(selector))) {
		*error_r = "bad domain or selector";
		return -1;
	}
	if (headers == NULL)
		headers = DKIM_SIGN_HEADERS_DEFAULT;
	m = prepare(msg, len, &mlen, &owned);
	split_message(m, mlen, &hdr, &body);
	fields = read_fields(hdr, &nfields);
	buf_init(&tags, 64 * 1024);
	if (buf_printf(&tags, "v=1; a=%s; c=relaxed/relaxed; d=%s; s=%s;"
	    "\r\n\tt=%lld; h=", alg == DKIM_ALG_RSA_SHA256 ? "rsa-sha256" :
	    "ed25519-sha256", domain, selector, (long long)now) < 0)
		goto full;
	linelen = 30;
	for (i = 0; headers[i] != NULL; i++) {
		size_t count = 1, c;
		char *lower = ascii_strlower(xstrdup(headers[i]));

		/* over-sign: one more entry than instances present */
		for (j = 0; j < nfields; j++)
			if (span_eq_str_ci(fields[j].name, headers[i]))
				count++;
		for (c = 0; c < count; c++) {
			bool first = i == 0 && c == 0;

			if (!first && buf_append_byte(&tags, ':') < 0) {
				free(lower);
				goto full;
			}
			if (!first && linelen + strlen(lower) > 70) {
				if (buf_append_str(&tags, "\r\n\t") < 0) {
					free(lower);
					goto full;
				}
				linelen = 1;
			}
			if (buf_append_str(&tags, lower) < 0) {
				free(lower);
				goto full;
			}
			linelen += strlen(lower) + 1;
		}
		free(lower);
	}
	r = sign_fields(msg, len, buf_cstr(&tags), key, true, out_header,
	    error_r);
	goto out;
full:
	*error_r = "header list too long";
out:
	buf_fini(&tags);
	free(fields);
	free(owned);
	return r;
}

int
dkim_key_record(EVP_PKEY *key, struct buf *out, const char **error_r)
{
	uint8_t *der = NULL, raw[32];
	size_t rawlen = sizeof(raw);
	int n;

	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
		if ((n = i2d_PUBKEY(key, &der)) <= 0) {
			*error_r = "cannot encode the public key";
			return -1;
		}
		if (buf_append_str(out, "v=DKIM1; k=rsa; p=") < 0 ||
		    b64_append(out, der, (size_t)n) < 0) {
			OPENSSL_free(der);
			*error_r = "output buffer full";
			return -1;
		}
		OPENSSL_free(der);
		return 0;
	case EVP_PKEY_ED25519:
		if (EVP_PKEY_get_raw_public_key(key, raw, &rawlen) != 1 ||
		    rawlen != 32) {
			*error_r = "cannot encode the public key";
			return -1;
		}
		if (buf_append_str(out, "v=DKIM1; k=ed25519; p=") < 0 ||
		    b64_append(out, raw, rawlen) < 0) {
			*error_r = "output buffer full";
			return -1;
		}
		return 0;
	}
	*error_r = "key is neither RSA nor Ed25519";
	return -1;
}
