/*
 * psl.c - the Public Suffix List and RFC 7489 section 3.2
 * Organizational Domains.
 *
 * Rules live in one open-addressing hash table keyed by the rule's
 * name without its "*." or "!" prefix; each key carries flags saying
 * which kinds of rule exist for it.  A lookup then walks the name's
 * suffixes from the right, one probe per suffix, so the cost is bounded
 * by the 127 labels a name can have, whatever the list holds.
 *
 * Looked-up names come from untrusted mail (the From: domain); the list
 * comes from a trusted file but is bounded all the same.
 */
#include "policy/psl.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"

#define PSL_R_NORMAL	0x1	/* "example.com" */
#define PSL_R_WILD	0x2	/* "*.example.com": key "example.com" */
#define PSL_R_EXCEPT	0x4	/* "!www.example.com" */

struct psl_slot {
	char		*name;		/* NULL: empty slot */
	unsigned	 flags;
};

struct psl {
	struct psl_slot	*slots;
	size_t		 nslots;	/* power of two */
	size_t		 count;
};

static uint32_t
psl_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 16777619u;
	}
	return h;
}

/* psl_find - the slot holding name[len], or the empty slot for it */
static struct psl_slot *
psl_find(const struct psl *p, const char *name, size_t len)
{
	size_t i = psl_hash(name, len) & (p->nslots - 1);

	for (;;) {
		struct psl_slot *s = &p->slots[i];

		if (s->name == NULL || (strlen(s->name) == len &&
		    memcmp(s->name, name, len) == 0))
			return s;
		i = (i + 1) & (p->nslots - 1);
	}
}

static void
psl_grow(struct psl *p)
{
	struct psl_slot *old = p->slots;
	size_t i, n = p->nslots;

	p->nslots = n == 0 ? 1024 : n * 2;
	p->slots = xcalloc(p->nslots, sizeof(*p->slots));
	for (i = 0; i < n; i++) {
		if (old[i].name != NULL)
			*psl_find(p, old[i].name, strlen(old[i].name)) = old[i];
	}
	free(old);
}

static void
psl_add(struct psl *p, const char *name, size_t len, unsigned flag)
{
	struct psl_slot *s;

	if ((p->count + 1) * 2 > p->nslots)
		psl_grow(p);
	s = psl_find(p, name, len);
	if (s->name == NULL) {
		s->name = xstrndup(name, len);
		p->count++;
	}
	s->flags |= flag;
}

static bool
psl_ldh(uint8_t c)
{
	return ascii_isalnum(c) || c == '-' || c == '_';
}

/* utf8_next - decodes one code point at *i; -1 if malformed */
static long
utf8_next(struct span in, size_t *i)
{
	uint8_t c = in.p[*i];
	size_t n, k;
	long cp;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 2;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 3;
		cp = c & 0x07;
	} else
		return -1;
	if (*i + n >= in.len)
		return -1;
	for (k = 1; k <= n; k++) {
		uint8_t d = in.p[*i + k];

		if ((d & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (d & 0x3f);
	}
	/* overlong forms, surrogates, past U+10FFFF */
	if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return -1;
	*i += n + 1;
	return cp;
}

static unsigned
puny_adapt(unsigned long delta, unsigned long npoints, bool first)
{
	unsigned k = 0;

	delta = first ? delta / 700 : delta / 2;
	delta += delta / npoints;
	while (delta > ((36 - 1) * 26) / 2) {
		delta /= 36 - 1;
		k += 36;
	}
	return k + (unsigned)((36 - 1 + 1) * delta / (delta + 38));
}

static char
puny_digit(unsigned long d)
{
	return d < 26 ? (char)('a' + d) : (char)('0' + d - 26);
}

int
psl_punycode_label(struct span in, char *out, size_t outsize)
{
	long cps[64];
	size_t ncp = 0, i = 0, o = 0, b = 0, h, j;
	unsigned long n = 128, delta = 0, bias = 72;
	bool ascii = true;

	while (i < in.len) {
		long cp = utf8_next(in, &i);

		if (cp < 0 || ncp == 63)
			return -1;
		if (cp >= 0x80)
			ascii = false;
		cps[ncp++] = cp;
	}
	if (outsize < 64)
		return -1;
	if (ascii) {
		if (ncp == 0)
			return -1;
		for (j = 0; j < ncp; j++)
			out[j] = (char)ascii_tolower((int)cps[j]);
		out[ncp] = '\0';
		return 0;
	}
	memcpy(out, "xn--", 4);
	o = 4;
	/* o stays at most 63 (a label's limit), out[63] is the NUL */
	for (j = 0; j < ncp; j++) {
		if (cps[j] < 0x80) {
			if (o >= 63)
				return -1;
			out[o++] = (char)ascii_tolower((int)cps[j]);
			b++;
		}
	}
	if (b > 0) {
		if (o >= 63)
			return -1;
		out[o++] = '-';
	}
	h = b;
	while (h < ncp) {
		unsigned long m = 0x110000;

		for (j = 0; j < ncp; j++)
			if ((unsigned long)cps[j] >= n &&
			    (unsigned long)cps[j] < m)
				m = (unsigned long)cps[j];
		/* at most 63 points below U+110000: no overflow */
		delta += (m - n) * (h + 1);
		n = m;
		for (j = 0; j < ncp; j++) {
			unsigned long c = (unsigned long)cps[j];
			unsigned long q, k, t;

			if (c < n)
				delta++;
			if (c != n)
				continue;
			q = delta;
			for (k = 36;; k += 36) {
				t = k <= bias ? 1 : k >= bias + 26 ? 26 :
				    k - bias;
				if (q < t)
					break;
				if (o >= 63)
					return -1;
				out[o++] = puny_digit(t + (q - t) % (36 - t));
				q = (q - t) / (36 - t);
			}
			if (o >= 63)
				return -1;
			out[o++] = puny_digit(q);
			bias = puny_adapt(delta, h + 1, h == b);
			delta = 0;
			h++;
		}
		delta++;
		n++;
	}
	out[o] = '\0';
	return 0;
}

/* psl_rule - normalises one rule (labels to A-labels, lowercase) into
 * out; -1 if unusable */
static int
psl_rule(struct span r, char *out, size_t outsize, size_t *len_r)
{
	size_t o = 0, i = 0;

	while (i <= r.len) {
		size_t e = i;
		char label[64];
		size_t l;

		while (e < r.len && r.p[e] != '.')
			e++;
		if (e == i)
			return -1;
		if (psl_punycode_label(span_make(r.p + i, e - i), label,
		    sizeof(label)) < 0)
			return -1;
		for (l = 0; label[l] != '\0'; l++)
			if (!psl_ldh((uint8_t)label[l]))
				return -1;
		if (o + l + 1 >= outsize || o + l + (o > 0) > 253)
			return -1;
		if (o > 0)
			out[o++] = '.';
		memcpy(out + o, label, l);
		o += l;
		i = e + 1;
	}
	out[o] = '\0';
	*len_r = o;
	return 0;
}

struct psl *
psl_parse(struct span text, unsigned flags, const char **error_r)
{
	struct psl *p;
	size_t pos = 0;
	bool private = false;

	if (text.len > PSL_MAX_FILE) {
		*error_r = "public suffix list too large";
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	psl_grow(p);
	while (pos < text.len) {
		size_t e = pos, w;
		struct span line, word;
		char norm[256];
		size_t nlen;
		unsigned kind = PSL_R_NORMAL;

		while (e < text.len && text.p[e] != '\n')
			e++;
		line = span_make(text.p + pos, e - pos);
		pos = e + 1;
		if (line.len > 0 && line.p[line.len - 1] == '\r')
			line.len--;
		if (span_starts_ci(line, "//")) {
			/* "// ===BEGIN PRIVATE DOMAINS===" and its END */
			if (memmem(line.p, line.len, "BEGIN PRIVATE DOMAINS",
			    21) != NULL)
				private = true;
			else if (memmem(line.p, line.len,
			    "END PRIVATE DOMAINS", 19) != NULL)
				private = false;
			continue;
		}
		for (w = 0; w < line.len && line.p[w] != ' ' &&
		    line.p[w] != '\t'; w++)
			;
		word = span_make(line.p, w);
		if (word.len == 0 || (private && (flags & PSL_F_ICANN_ONLY)))
			continue;
		if (word.p[0] == '!') {
			kind = PSL_R_EXCEPT;
			word = span_make(word.p + 1, word.len - 1);
		} else if (word.len >= 2 && word.p[0] == '*' &&
		    word.p[1] == '.') {
			kind = PSL_R_WILD;
			word = span_make(word.p + 2, word.len - 2);
		}
		if (psl_rule(word, norm, sizeof(norm), &nlen) < 0)
			continue;	/* "*" inside a rule, junk: skipped */
		if (p->count >= PSL_MAX_RULES) {
			psl_free(&p);
			*error_r = "public suffix list has too many rules";
			return NULL;
		}
		psl_add(p, norm, nlen, kind);
	}
	return p;
}

struct psl *
psl_load(const char *path, unsigned flags, const char **error_r)
{
	struct buf b;
	struct psl *p;

	if (path == NULL)
		path = PSL_DEFAULT_PATH;
	buf_init(&b, PSL_MAX_FILE);
	if (read_file(path, &b) < 0) {
		buf_fini(&b);
		*error_r = "cannot read the public suffix list";
		return NULL;
	}
	p = psl_parse(buf_span(&b), flags, error_r);
	buf_fini(&b);
	return p;
}

void
psl_free(struct psl **pp)
{
	struct psl *p = *pp;
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->nslots; i++)
		free(p->slots[i].name);
	free(p->slots);
	free(p);
	*pp = NULL;
}

size_t
psl_count(const struct psl *p)
{
	return p->count;
}

static unsigned
psl_flags(const struct psl *p, const char *name, size_t len)
{
	if (p == NULL)
		return 0;	/* no list: only the implicit "*" rule */
	return psl_find(p, name, len)->flags;
}

/* psl_norm - lowercase copy of a lookup name with label starts; the
 * number of labels, or -1 */
static int
psl_norm(const char *domain, char *out, size_t *len_r, size_t *starts,
    size_t maxlabels)
{
	size_t len = strlen(domain), i, n = 0, lab = 0;

	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return -1;
	for (i = 0; i < len; i++) {
		uint8_t c = (uint8_t)domain[i];

		if (c == '.') {
			if (lab == 0)
				return -1;
			lab = 0;
		} else {
			if (!psl_ldh(c) || ++lab > 63)
				return -1;
			if (lab == 1) {
				if (n == maxlabels)
					return -1;
				starts[n++] = i;
			}
		}
		out[i] = (char)ascii_tolower(c);
	}
	if (lab == 0)
		return -1;
	out[len] = '\0';
	*len_r = len;
	return (int)n;
}

/* psl_suffix_labels - labels of the public suffix of a normalised name */
static int
psl_suffix_labels(const struct psl *p, const char *name, size_t len,
    const size_t *starts, int n)
{
	int k, best = 1;

	/* k: number of labels in the candidate suffix, from the right */
	for (k = 1; k <= n; k++) {
		size_t s = starts[n - k];
		unsigned f = psl_flags(p, name + s, len - s);

		if (f & PSL_R_EXCEPT)
			return k - 1;	/* an exception always prevails */
		if (f & PSL_R_NORMAL)
			best = k;
		if (k >= 2) {
			size_t ps = starts[n - k + 1];

			if (psl_flags(p, name + ps, len - ps) & PSL_R_WILD)
				best = k;
		}
	}
	return best;
}

int
psl_public_suffix(const struct psl *p, const char *domain, char *out,
    size_t outsize)
{
	char name[256];
	size_t starts[128], len;
	int n, k;

	if (outsize < 254)
		return -1;
	n = psl_norm(domain, name, &len, starts, 128);
	if (n < 0)
		return -1;
	k = psl_suffix_labels(p, name, len, starts, n);
	if (k == 0)
		k = 1;	/* "!tld" would make the root a suffix */
	memcpy(out, name + starts[n - k], len - starts[n - k] + 1);
	return k;
}

int
psl_org_domain(const struct psl *p, const char *domain, char *out,
    size_t outsize)
{
	char name[256];
	size_t starts[128], len;
	int n, k;

	if (outsize < 254)
		return -1;
	n = psl_norm(domain, name, &len, starts, 128);
	if (n < 0)
		return -1;
	k = psl_suffix_labels(p, name, len, starts, n);
	/* RFC 7489 3.2: the matched suffix plus the next label to the left;
	 * a name that is a public suffix itself stays as it is */
	if (k < n)
		k++;
	if (k == 0)
		k = 1;
	memcpy(out, name + starts[n - k], len - starts[n - k] + 1);
	return 0;
}
