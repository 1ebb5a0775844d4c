/*
 * dmarc_psl_fuzz.c - libFuzzer target for policy/psl: the Public Suffix
 * List parser (rules, wildcards, exceptions, UTF-8 rules to punycode)
 * and Organizational Domain lookups, as DMARC uses them.
 *
 * Input: the part before the first NUL byte is a list; each
 * newline-separated piece of the rest is a name looked up in that list
 * and in a fixed one.  Checks invariants besides memory safety: a
 * looked-up name's organizational domain is a suffix of it (lowercase)
 * with at most one label more than its public suffix.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ascii.h"
#include "policy/psl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fixed_list[] = "com\nuk\nco.uk\njp\n*.kawasaki.jp\n"
    "!city.kawasaki.jp\n*.ck\n!www.ck\n\xe5\x85\xac\xe5\x8f\xb8.cn\n";

static void
lookup(const struct psl *p, const char *name)
{
	char org[256], suf[256], low[256];
	size_t nlen = strlen(name), olen, i;
	int k;

	k = psl_public_suffix(p, name, suf, sizeof(suf));
	if (psl_org_domain(p, name, org, sizeof(org)) < 0) {
		if (k >= 0)
			abort();
		return;
	}
	if (k < 1)
		abort();
	if (nlen > 0 && name[nlen - 1] == '.')
		nlen--;
	olen = strlen(org);
	if (olen > nlen || nlen > 253)
		abort();
	for (i = 0; i < nlen; i++)
		low[i] = (char)ascii_tolower((unsigned char)name[i]);
	low[nlen] = '\0';
	if (strcmp(low + nlen - olen, org) != 0)
		abort();
	if (olen < nlen && low[nlen - olen - 1] != '.')
		abort();
	/* the public suffix is a suffix of the org domain */
	if (strlen(suf) > olen ||
	    strcmp(org + olen - strlen(suf), suf) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *z = memchr(data, 0, size);
	size_t llen = z != NULL ? (size_t)(z - data) : size;
	const char *err = NULL;
	struct psl *p, *f;
	size_t pos = llen + 1;
	char name[300], out[64];

	p = psl_parse(span_make(data, llen), 0, &err);
	if (p == NULL)
		return 0;
	f = psl_parse(span_make(fixed_list, sizeof(fixed_list) - 1),
	    PSL_F_ICANN_ONLY, &err);
	while (pos < size) {
		size_t e = pos;

		while (e < size && data[e] != '\n')
			e++;
		if (e - pos < sizeof(name) && memchr(data + pos, 0,
		    e - pos) == NULL) {
			memcpy(name, data + pos, e - pos);
			name[e - pos] = '\0';
			lookup(p, name);
			lookup(f, name);
			lookup(NULL, name);
			(void)psl_punycode_label(span_make(data + pos,
			    e - pos), out, sizeof(out));
		}
		pos = e + 1;
	}
	psl_free(&f);
	psl_free(&p);
	return 0;
}
