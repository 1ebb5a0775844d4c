/*
 * dns_parse_fuzz.c - libFuzzer target for the DNS answer parser: any
 * bytes as a response.  The first input byte picks the query type; the
 * query name is taken from the packet's own question when it is a valid
 * name (so the fuzzer gets past the question check), "ex.fake" otherwise.
 * Checks invariants besides memory safety: status and result agree, the
 * limits hold, returned names are host-name characters only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dns_parse.h"
#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/postino_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint16_t types[] = { DNS_TYPE_A, DNS_TYPE_AAAA, DNS_TYPE_MX,
	DNS_TYPE_TXT, DNS_TYPE_PTR, DNS_TYPE_TLSA };

/* question_name - the question's name as text, uncompressed only */
static bool
question_name(const uint8_t *p, size_t len, char *out)
{
	char text[DNS_NAME_BUFSIZE + 64];
	size_t off = 12, o = 0;
	const char *why;

	while (off < len && p[off] != 0) {
		size_t l = p[off++];

		if (l > 63 || off + l > len || o + l + 1 >= sizeof(text))
			return false;
		if (o > 0)
			text[o++] = '.';
		memcpy(text + o, p + off, l);
		o += l;
		off += l;
	}
	text[o] = '\0';
	if (memchr(text, '\0', o) != NULL)
		return false;
	return dns_parse_check_name(text, out, &why) == 0;
}

static void
check_host(const char *s)
{
	for (; *s != '\0'; s++)
		if (!ascii_isalnum((uint8_t)*s) && *s != '-' && *s != '_' &&
		    *s != '.')
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	struct dns_parse_result r;
	char qname[DNS_NAME_BUFSIZE];
	uint16_t qtype;
	size_t i, txt = 0;
	int ret;

	if (size < 1)
		return 0;
	if (a == NULL) {
		log_set_level(LOG_LEVEL_ERROR);
		a = arena_new("fuzz", 4096, DNS_PARSE_ARENA_MAX);
	}
	arena_reset(a);
	qtype = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	data++;
	size--;
	if (!question_name(data, size, qname))
		memcpy(qname, "ex.fake", sizeof("ex.fake"));
	ret = dns_parse_answer(data, size, qname, qtype, a, &r);
	if (ret < 0 && (r.status != DNS_PERMFAIL || r.error == NULL))
		abort();
	if ((r.status == DNS_OK) != (r.n > 0) || r.n > DNS_MAX_RECORDS)
		abort();
	for (i = 0; i < r.n; i++) {
		const struct dns_rr *rr = &r.rr[i];

		if (rr->type != qtype)
			abort();
		switch (qtype) {
		case DNS_TYPE_MX:
			check_host(rr->u.mx.host);
			break;
		case DNS_TYPE_PTR:
			check_host(rr->u.ptr);
			if (rr->u.ptr[0] == '\0')
				abort();
			break;
		case DNS_TYPE_TXT:
			if (strlen(rr->u.txt.data) != rr->u.txt.len)
				abort();
			txt += rr->u.txt.len;
			break;
		}
	}
	if (txt > DNS_MAX_TXT_TOTAL)
		abort();
	return 0;
}
