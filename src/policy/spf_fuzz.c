/*
 * spf_fuzz.c - libFuzzer target for policy/spf: the record parser, the
 * macro expander and the whole evaluator driven by fuzzed DNS answers.
 *
 * The first byte picks the mode:
 *   0: the rest is a TXT record: spf_record_is_spf, spf_record_validate.
 *   1: the rest is a macro-string, expanded as a domain-spec and as an
 *      explanation, then turned into a query name.
 *   2: the rest is lines: line 1 is the domain's TXT record, every other
 *      line answers the next query (first byte: status; then TXT records
 *      or names separated by '|', or raw address bytes).
 * Checks invariants besides memory safety: a validated record never makes
 * the evaluator report a syntax error, expansion output stays within its
 * buffer, query names are at most 253 bytes, checks end within a bounded
 * number of queries.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/log.h"
#include "lib/postino_limits.h"
#include "policy/spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_record(struct span in)
{
	const char *err = NULL;
	int r;

	(void)spf_record_is_spf(in);
	r = spf_record_validate(in, &err);
	if (r < 0 && err == NULL)
		abort();
	if (r == 0 && !spf_record_is_spf(in))
		abort();
}

static void
fuzz_macro(struct span in)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
	struct spf_macro_env env = {
		.sender = "strong-bad@email.example.com",
		.local = "strong-bad",
		.sender_domain = "email.example.com",
		.domain = "email.example.com",
		.helo = "mx.example.org",
		.receiver = NULL,
		.validated = "mail.example.com",
		.ip = (struct sockaddr *)&s6,
		.now = 1234567890,
	};
	char name[DNS_MAX_NAME + 1];
	const char *err;
	struct buf b;
	unsigned f;

	inet_pton(AF_INET6, "2001:db8::cb01", &s6.sin6_addr);
	buf_init(&b, SPF_MAX_EXPANSION);
	for (f = 0; f < 2; f++) {
		int syntax = spf_macro_expand(NULL, in, f, NULL, &err);

		buf_reset(&b);
		if (spf_macro_expand(&env, in, f, &b, &err) == 0) {
			if (syntax != 0 || b.len > SPF_MAX_EXPANSION)
				abort();
			if (spf_domain_finish(buf_span(&b), name,
			    sizeof(name)) == 0 && strlen(name) > DNS_MAX_NAME)
				abort();
		} else if (syntax == 0 && b.len < SPF_MAX_EXPANSION - 3 * 1024)
			abort();	/* valid syntax fails only when long */
	}
	(void)spf_macro_uses_p(in);
	buf_fini(&b);
}

/* next_line - the next '\n'-terminated piece of the input */
static bool
next_line(struct span *rest, struct span *line)
{
	long nl;

	if (rest->len == 0)
		return false;
	nl = span_find(*rest, '\n');
	if (nl < 0) {
		*line = *rest;
		rest->p += rest->len;
		rest->len = 0;
		return true;
	}
	*line = span_make(rest->p, (size_t)nl);
	rest->p += nl + 1;
	rest->len -= (size_t)nl + 1;
	return true;
}

static void
fuzz_eval(struct span in)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET };
	struct sockaddr_storage addrs[16];
	struct span txt[16], line, first;
	char names[16][300];
	const char *np[16];
	struct spf_check *c;
	enum spf_qtype qt;
	const char *qname;
	unsigned queries = 0;
	bool first_txt = true;
	int r;

	inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr);
	if (!next_line(&in, &first))
		return;
	c = spf_check_new((struct sockaddr *)&s4, NULL, "user@example.com",
	    "helo.example.org", "mx.example.net");
	while ((r = spf_check_step(c)) == 0) {
		enum dns_status st = DNS_NXDOMAIN;
		size_t n = 0;

		if (++queries > 500)
			abort();	/* must be bounded by the limits */
		spf_check_query(c, &qt, &qname);
		if (strlen(qname) > DNS_MAX_NAME)
			abort();
		if (first_txt) {
			first_txt = false;
			st = DNS_OK;
			txt[0] = first;
			n = 1;
		} else if (next_line(&in, &line) && line.len > 0) {
			st = (enum dns_status)(line.p[0] % 5);
			line.p++;
			line.len--;
			if (qt == SPF_Q_A || qt == SPF_Q_AAAA) {
				size_t step = qt == SPF_Q_A ? 4 : 16;

				while (n < 16 && line.len >= step) {
					memset(&addrs[n], 0, sizeof(addrs[n]));
					if (qt == SPF_Q_A) {
						struct sockaddr_in *a =
						    (struct sockaddr_in *)
						    &addrs[n];
						a->sin_family = AF_INET;
						memcpy(&a->sin_addr, line.p, 4);
					} else {
						struct sockaddr_in6 *a =
						    (struct sockaddr_in6 *)
						    &addrs[n];
						a->sin6_family = AF_INET6;
						memcpy(&a->sin6_addr, line.p,
						    16);
					}
					n++;
					line.p += step;
					line.len -= step;
				}
			} else {
				struct span piece;

				while (n < 16 && line.len > 0) {
					if (!span_split(line, '|', &piece,
					    &line)) {
						piece = line;
						line.len = 0;
					}
					if (qt == SPF_Q_TXT)
						txt[n] = piece;
					else {
						size_t l = piece.len < 299 ?
						    piece.len : 299;
						memcpy(names[n], piece.p, l);
						names[n][l] = '\0';
						np[n] = names[n];
					}
					n++;
				}
			}
		}
		switch (qt) {
		case SPF_Q_TXT:
			spf_check_answer_txt(c, st, txt, n);
			break;
		case SPF_Q_A:
		case SPF_Q_AAAA:
			spf_check_answer_addr(c, st, addrs, n);
			break;
		case SPF_Q_MX:
		case SPF_Q_PTR:
			spf_check_answer_names(c, st, np, n);
			break;
		}
	}
	if (r != 1)
		abort();
	(void)spf_check_result(c, NULL, NULL);
	if (spf_check_lookups(c) > SPF_MAX_LOOKUPS + 1 ||
	    spf_check_void_lookups(c) > SPF_MAX_VOID_LOOKUPS + 1)
		abort();
	spf_check_free(&c);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span in;

	if (size == 0)
		return 0;
	log_set_level(LOG_LEVEL_ERROR);
	in = span_make(data + 1, size - 1);
	switch (data[0] % 3) {
	case 0:
		fuzz_record(in);
		break;
	case 1:
		fuzz_macro(in);
		break;
	default:
		fuzz_eval(in);
		break;
	}
	return 0;
}
