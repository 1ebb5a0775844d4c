/*
 * dmarc_fuzz.c - libFuzzer target for policy/dmarc: the record parser
 * and a whole check (From: field, DNS answers, alignment, A-R text).
 *
 * Input: the first line is a TXT record; the first byte of the second
 * line is the DNS status given to every query (mod 5) and its second
 * byte picks the SPF and DKIM results; the rest of the input is the
 * message header block.  Checks invariants besides memory safety: a
 * parsed record has pct <= 100 and is a DMARC record, a check asks at
 * most two queries, a pass has an aligned identifier, a disposition
 * other than none only comes with a fail.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "policy/dmarc.h"
#include "policy/psl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char list[] = "com\nuk\nco.uk\n*.ck\n!www.ck\nexample\n";

static uint32_t
fixed(void *ctx)
{
	return *(const uint32_t *)ctx;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span in = span_make(data, size), rec, rest, hdr;
	struct dmarc_record r;
	struct dmarc_outcome o;
	struct dmarc_check *c;
	const char *err = NULL, *name, *txt[2];
	struct psl *psl;
	struct buf b;
	uint8_t st = 0, mode = 0;
	uint32_t rnd;
	unsigned nq = 0;
	char *rtext;
	long nl = span_find(in, '\n');

	if (nl < 0) {
		rec = in;
		rest = span_make(data + size, 0);
	} else {
		rec = span_make(data, (size_t)nl);
		rest = span_make(data + nl + 1, size - (size_t)nl - 1);
	}
	if (dmarc_record_parse(rec, &r, &err) == 0) {
		if (r.pct > 100 || !dmarc_record_is_dmarc(rec))
			abort();
	} else if (err == NULL)
		abort();
	if (rest.len < 2)
		return 0;
	st = rest.p[0] % 5;
	mode = rest.p[1];
	hdr = span_make(rest.p + 2, rest.len - 2);
	rnd = mode * 7u;

	psl = psl_parse(span_make(list, sizeof(list) - 1), 0, &err);
	rtext = xstrndup((const char *)rec.p, rec.len);
	txt[0] = rtext;
	txt[1] = "v=DMARC1; p=reject";
	c = dmarc_check_new(psl, hdr);
	while ((name = dmarc_check_query(c)) != NULL) {
		if (++nq > 2 || strncmp(name, "_dmarc.", 7) != 0 ||
		    strlen(name) > 7 + 253)
			abort();
		dmarc_check_answer(c, (enum dns_status)st, txt,
		    (mode & 0x80) ? 2 : 1);
	}
	dmarc_check_set_spf(c, (enum spf_result)(mode % 7),
	    (mode & 0x8) ? "mail.example.com" : "x.co.uk");
	if (mode & 0x10)
		dmarc_check_add_dkim(c, DKIM_PASS, "example.com");
	if (mode & 0x20)
		dmarc_check_add_dkim(c, DKIM_PASS, "www.ck");
	dmarc_check_set_random(c, fixed, &rnd);
	dmarc_check_finish(c, &o);
	if (o.result == DMARC_RESULT_PASS && !o.spf_aligned &&
	    !o.dkim_aligned)
		abort();
	if (o.disposition != DMARC_POLICY_NONE &&
	    o.result != DMARC_RESULT_FAIL)
		abort();
	buf_init(&b, 4096);
	if (dmarc_outcome_ar(&o, &b) < 0)
		abort();
	buf_fini(&b);
	dmarc_check_free(&c);
	free(rtext);
	psl_free(&psl);
	return 0;
}
