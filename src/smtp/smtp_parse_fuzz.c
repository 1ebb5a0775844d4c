/*
 * smtp_parse_fuzz.c - libFuzzer target for the SMTP command, path and
 * parameter parsers.  The first byte picks the parser flags; the rest is
 * one command line.  Checks that what the parsers accept is sane.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "smtp/smtp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* check_addr - an accepted address: bounded, no controls, no brackets */
static void
check_addr(const char *addr, bool utf8)
{
	size_t i, n = strlen(addr);

	if (n > SMTP_MAX_PATH)
		abort();
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c < 0x20 || c == 0x7f || (!utf8 && c >= 0x80))
			abort();
	}
	if (n > 0 && addr[0] == '<')
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	struct smtp_mail_args m;
	struct smtp_rcpt_args r;
	struct smtp_reply err;
	struct span line, verb, args;
	unsigned flags;

	if (size < 1)
		return 0;
	if (a == NULL) {
		log_set_level(LOG_LEVEL_ERROR);
		a = arena_new("fuzz", 4096, 1 << 24);
	}
	flags = data[0] & 7;
	line = span_make(data + 1, size - 1);
	(void)smtp_parse_domain_ok(line, flags & 1);
	(void)smtp_parse_addr_literal_ok(line);
	(void)smtp_parse_helo_ok(line);
	(void)smtp_parse_utf8_ok(line);
	if (smtp_parse_command(line, &verb, &args) < 0)
		return 0;
	if (verb.len == 0 || verb.len > 16)
		abort();
	if (smtp_parse_mail(args, flags, a, &m, &err) == 0) {
		check_addr(m.addr, m.smtputf8);
		if (m.smtputf8 && !(flags & SMTP_PARSE_F_UTF8_OK))
			abort();
	} else if (err.code < 500 || err.code > 559 || err.enh == NULL)
		abort();
	if (smtp_parse_rcpt(args, flags, a, &r, &err) == 0) {
		check_addr(r.addr, flags & SMTP_PARSE_F_UTF8);
		if (r.addr[0] == '\0')
			abort();	/* no null path for RCPT */
	} else if (err.code < 500 || err.code > 559 || err.enh == NULL)
		abort();
	arena_reset(a);
	return 0;
}
