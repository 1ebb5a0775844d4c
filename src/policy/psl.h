/*
 * psl.h - the Public Suffix List (https://publicsuffix.org/list/) and
 * the Organizational Domain of RFC 7489 section 3.2 (DMARC).
 *
 * The list is read from a file (Debian's `publicsuffix` package installs
 * it as PSL_DEFAULT_PATH) or from memory: normal rules, wildcard rules
 * ("*.ck"), exception rules ("!www.ck"), in both the ICANN and the
 * PRIVATE section.  Rules written in UTF-8 are turned into A-labels
 * (punycode, RFC 3492) when loaded, so lookups take lowercase ASCII
 * names (A-labels for IDNs).  The file is trusted configuration, but
 * it is still bounded (PSL_MAX_FILE bytes, PSL_MAX_RULES rules); the
 * names looked up come from untrusted mail (From: domains) and are
 * checked here.
 */
#ifndef POSTINO_POLICY_PSL_H
#define POSTINO_POLICY_PSL_H

#include <stdbool.h>
#include <stddef.h>

#include "lib/span.h"

#define PSL_DEFAULT_PATH "/usr/share/publicsuffix/public_suffix_list.dat"

/* psl_parse()/psl_load() flags */
#define PSL_F_ICANN_ONLY	0x1	/* skip the PRIVATE DOMAINS section */

struct psl;

/*
 * Parses a list held in memory.  Lines are rules, "//" comments or
 * blank; a rule is the first word of its line.  Rules that are no usable
 * domain name (empty labels, over 253 bytes, bytes other than letters,
 * digits, '-', '_' or UTF-8) are skipped.  Returns the list (never NULL)
 * or NULL with a static reason in error_r when text is over
 * PSL_MAX_FILE bytes or holds more than PSL_MAX_RULES rules.
 */
struct psl *psl_parse(struct span text, unsigned flags,
    const char **error_r);
/* Reads and parses a file (NULL path: PSL_DEFAULT_PATH).  NULL with a
 * static reason in error_r if it cannot be read or is too large. */
struct psl *psl_load(const char *path, unsigned flags, const char **error_r);
/* Frees the list and sets *p to NULL; NULL is a no-op. */
void psl_free(struct psl **p);
/* Number of rules kept (for logs and tests). */
size_t psl_count(const struct psl *p);

/*
 * The public suffix of domain per the list's algorithm (the prevailing
 * rule; "*" when no rule matches; p NULL stands for an empty list):
 * writes it lowercase and NUL-terminated into out (outsize at least
 * 254).  domain may have one trailing dot and any case.  Returns the
 * number of labels of the suffix, or -1 if domain is no usable name
 * (empty, empty label, label over 63 bytes, over 253 bytes, bytes other
 * than letters, digits, '-' and '_').
 */
int psl_public_suffix(const struct psl *p, const char *domain, char *out,
    size_t outsize);

/*
 * The Organizational Domain (RFC 7489 section 3.2): the public suffix
 * plus one more label of domain, lowercase, written NUL-terminated into
 * out (outsize at least 254).  A domain that is itself a public suffix
 * is its own organizational domain.  Returns 0, or -1 as
 * psl_public_suffix().
 */
int psl_org_domain(const struct psl *p, const char *domain, char *out,
    size_t outsize);

/*
 * Punycode (RFC 3492) for one label: appends "xn--" and the encoding of
 * the UTF-8 label in (or the label lowercased if it is all ASCII) to out
 * (NUL-terminated, outsize bytes).  Returns 0, or -1 on invalid UTF-8 or
 * when the result does not fit in out or in 63 bytes.
 */
int psl_punycode_label(struct span in, char *out, size_t outsize);

#endif
