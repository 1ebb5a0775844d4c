/*
 * dmarc.h - DMARC (RFC 7489): policy records, policy discovery at the
 * From: domain and its Organizational Domain, identifier alignment of
 * the SPF and DKIM results, and the requested disposition (p/sp/pct).
 *
 * Sans-I/O like spf.h and dkim.h: the check lists the TXT names it
 * needs one at a time, is given the answers (as dns_txt() delivers
 * them), is told the SPF and DKIM results, and computes the outcome.
 * Reports (rua/ruf) are parsed but not sent.
 *
 * Everything here is untrusted: the From: field comes from the message,
 * the records from any domain's DNS.  Both are bounded (DMARC_MAX_* in
 * lib/postino_limits.h).
 *
 * Typical use, after DATA:
 *	c = dmarc_check_new(psl, header_block);
 *	while ((name = dmarc_check_query(c)) != NULL)
 *		... dns_txt(name) ... -> dmarc_check_answer(c, st, txt, n);
 *	dmarc_check_set_spf(c, spf_result, spf_check_domain(spf));
 *	for each DKIM result: dmarc_check_add_dkim(c, r->result, r->domain);
 *	dmarc_check_finish(c, &out);
 *	... out.result, out.disposition, out.header_from ...
 *	dmarc_check_free(&c);
 */
#ifndef POSTINO_POLICY_DMARC_H
#define POSTINO_POLICY_DMARC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/dns.h"
#include "lib/buf.h"
#include "lib/span.h"
#include "policy/dkim.h"
#include "policy/psl.h"
#include "policy/spf.h"

/* RFC 7489 section 11.2 (Authentication-Results "dmarc=" values). */
enum dmarc_result {
	DMARC_RESULT_NONE,	/* no usable policy record */
	DMARC_RESULT_PASS,
	DMARC_RESULT_FAIL,
	DMARC_RESULT_TEMPERROR,	/* a DNS lookup failed temporarily */
	DMARC_RESULT_PERMERROR,	/* no single usable From: domain */
};

/* A requested policy (p=, sp=) and a disposition alike. */
enum dmarc_policy {
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};

/* "none", "pass", "fail", "temperror", "permerror" (static). */
const char *dmarc_result_name(enum dmarc_result r);
/* "none", "quarantine", "reject" (static). */
const char *dmarc_policy_name(enum dmarc_policy p);

/* fo= failure reporting options (section 6.3) */
#define DMARC_FO_0	0x1	/* all mechanisms failed (the default) */
#define DMARC_FO_1	0x2	/* any mechanism failed */
#define DMARC_FO_D	0x4	/* DKIM failed */
#define DMARC_FO_S	0x8	/* SPF failed */

struct dmarc_record {
	enum dmarc_policy p;
	enum dmarc_policy sp;		/* = p when sp= is absent */
	bool		 p_from_rua;	/* no valid p= (or bad sp=) but a
					 * valid rua=: acting as p=none
					 * (section 6.6.3 step 6) */
	bool		 has_sp;
	bool		 adkim_strict;	/* adkim=s (default r) */
	bool		 aspf_strict;	/* aspf=s (default r) */
	unsigned	 pct;		/* 0..100, default 100 */
	unsigned	 fo;		/* DMARC_FO_*, default DMARC_FO_0 */
	bool		 rf_afrf;	/* rf= lists afrf (the default) */
	uint32_t	 ri;		/* seconds, default 86400 */
	struct span	 rua;		/* raw value or empty; not acted on */
	struct span	 ruf;
};

/*
 * True if txt is a DMARC record at all: it starts with the v=DMARC1
 * tag (section 6.4: "v" and the "=" may have blanks around them, the
 * value is case-sensitive), followed by ";" or the end.
 */
bool dmarc_record_is_dmarc(struct span txt);

/*
 * Parses a DMARC record (section 6.3, 6.4).  Unknown tags are ignored;
 * tags with an invalid value take their default (pct, adkim, aspf, fo,
 * rf, ri), the first of duplicate tags counts.  A record with no valid
 * p= or an invalid sp= is usable only with a valid rua= (then p_from_rua
 * is set and p, sp are none).  Returns 0, or -1 with a static reason in
 * error_r (not a DMARC record, not usable, more than DMARC_MAX_RECORD
 * bytes or DMARC_MAX_TAGS tags).  rua and ruf point into txt.
 */
int dmarc_record_parse(struct span txt, struct dmarc_record *r,
    const char **error_r);

/* Random source for pct= sampling: any uint32_t, uniform. */
typedef uint32_t dmarc_random_fn(void *ctx);

struct dmarc_outcome {
	enum dmarc_result result;
	enum dmarc_policy disposition;	/* what the domain asks for this
					 * message: none unless fail */
	enum dmarc_policy policy;	/* p= or sp= that applied (before
					 * pct); none if no record */
	const char	*header_from;	/* the From: domain, lowercase (for
					 * "header.from="), or NULL */
	const char	*policy_domain;	/* where the record was found */
	const char	*problem;	/* why none/temperror/permerror, or
					 * NULL; static */
	bool		 spf_aligned;	/* SPF passed and is aligned */
	bool		 dkim_aligned;	/* some DKIM pass is aligned (with
					 * no record: relaxed alignment,
					 * still computed when the From:
					 * domain is known) */
	const char	*dkim_domain;	/* the first aligned passing d= */
	bool		 sampled_out;	/* pct= spared the message: the
					 * disposition is one step lower */
	const struct dmarc_record *record; /* NULL if none was used */
};

struct dmarc_check;

/*
 * Starts a check for a message whose header block (the fields, with or
 * without the empty line and body after them) is header.  The From:
 * domain is read here (section 6.6.1): exactly one From: field with
 * exactly one address with a domain, else the result is permerror with
 * no DNS query.  psl (may be NULL: an empty list) must outlive the
 * check.  Never returns NULL.  Nothing of header is kept.
 */
struct dmarc_check *dmarc_check_new(const struct psl *psl,
    struct span header);
/* Same, for a From: domain already extracted (NULL or invalid: the
 * result is permerror). */
struct dmarc_check *dmarc_check_new_domain(const struct psl *psl,
    const char *from_domain);
/* Frees the check and sets *c to NULL; NULL is a no-op. */
void dmarc_check_free(struct dmarc_check **c);

/*
 * The TXT name to look up next ("_dmarc.<from domain>", then maybe
 * "_dmarc.<organizational domain>"), or NULL when no more answers are
 * needed.  Lives until the answer is given.
 */
const char *dmarc_check_query(const struct dmarc_check *c);
/*
 * The answer to the query of dmarc_check_query(), shaped as dns_txt()
 * gives it: DNS_TEMPFAIL gives temperror; NXDOMAIN, NODATA and PERMFAIL
 * an empty set.  Nothing passed is kept.  Ignored if no query is
 * pending.
 */
void dmarc_check_answer(struct dmarc_check *c, enum dns_status status,
    const char *const *txt, size_t n);

/*
 * The SPF result and the domain it was checked for (the MAIL FROM
 * domain, or the HELO name for a null reverse-path; RFC 7489 section
 * 3.1.2, spf_check_domain()).  Copied.  Unset: SPF none.
 */
void dmarc_check_set_spf(struct dmarc_check *c, enum spf_result r,
    const char *domain);
/* One DKIM result and its d= domain (copied; at most DMARC_MAX_DKIM). */
void dmarc_check_add_dkim(struct dmarc_check *c, enum dkim_status r,
    const char *domain);
/* All results of a finished verifier at once. */
void dmarc_check_add_dkim_verify(struct dmarc_check *c,
    const struct dkim_verify *v);
/* Sets the random source for pct= (default: random_bytes()). */
void dmarc_check_set_random(struct dmarc_check *c, dmarc_random_fn *fn,
    void *ctx);

/*
 * Computes the outcome (section 6.6.2 to 6.6.4) into out.  Queries never
 * answered count as temperror.  Strings in out live as long as c.
 * Calling it again gives the same outcome (the pct draw is kept).
 */
void dmarc_check_finish(struct dmarc_check *c, struct dmarc_outcome *out);

/*
 * Appends the Authentication-Results resinfo (RFC 7489 11.2, RFC 8601):
 * "dmarc=fail (p=reject dis=reject) header.from=example.com".  The
 * comment is left out when no record was used; header.from when there
 * is no From: domain.  0 or -1 (buffer ceiling).
 */
int dmarc_outcome_ar(const struct dmarc_outcome *o, struct buf *out)
	__attribute__((warn_unused_result));

/*
 * Identifier alignment (section 3.1): strict means equal names, relaxed
 * equal Organizational Domains.  Case and one trailing dot are ignored.
 */
bool dmarc_aligned(const struct psl *psl, const char *a, const char *b,
    bool strict);

#endif
