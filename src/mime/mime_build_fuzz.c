/*
 * mime_build_fuzz.c - libFuzzer round-trip property for the builder: any
 * subject, display name, file name, text and attachment bytes, once built
 * into a message and parsed back, come out the same, and the message is
 * 7-bit with lines of at most 998 octets.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/buf.h"
#include "mime/mime_build.h"
#include "mime/mime_header.h"
#include "mime/mime_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* take - the next NUL-free piece of the input (up to a 0 byte) */
static char *
take(const uint8_t **p, size_t *n)
{
	const uint8_t *z = memchr(*p, 0, *n);
	size_t len = z != NULL ? (size_t)(z - *p) : *n;
	char *s = malloc(len + 1);

	memcpy(s, *p, len);
	s[len] = '\0';
	*p += len + (z != NULL);
	*n -= len + (z != NULL);
	return s;
}

/*
 * expected_subject - what reading the Subject back must give: the text
 * itself when the builder encodes it (8-bit, controls, "=?", very long
 * words), else the words joined by single blanks (folding points).
 */
static const char *
expected_subject(char *s)
{
	static char buf[65536 + 1];
	size_t i, n = 0, run = 0, maxrun = 0;
	bool enc = strstr(s, "=?") != NULL;

	for (i = 0; s[i] != '\0'; i++) {
		uint8_t c = (uint8_t)s[i];

		if (c >= 0x80 || (c < 0x20 && c != '\t'))
			enc = true;
		run = (c == ' ' || c == '\t') ? 0 : run + 1;
		if (run > maxrun)
			maxrun = run;
	}
	if (enc || maxrun > 900)
		return s;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == ' ' || s[i] == '\t') {
			if (n > 0 && buf[n - 1] != ' ')
				buf[n++] = ' ';
		} else
			buf[n++] = s[i];
	}
	if (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
	return buf;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data;
	size_t n = size, i, col = 0;
	char *subject = take(&p, &n), *fname = take(&p, &n);
	char *text = take(&p, &n);
	struct mime_build_attachment att;
	struct mime_build_msg msg;
	struct mime_message *m;
	struct mime_part *c;
	struct arena *a = arena_new("fuzz", 4096, (size_t)-1 / 2);
	struct buf out, dec;
	struct span v;

	memset(&att, 0, sizeof(att));
	att.filename = fname;
	att.data = span_make(p, n);
	att.cte = size > 0 && data[0] & 1 ? MIME_CTE_QP : MIME_CTE_BASE64;
	memset(&msg, 0, sizeof(msg));
	msg.from = "Fuzz <fuzz@example.org>";
	msg.subject = subject;
	msg.text = text;
	msg.date = 1700000000;
	msg.att = &att;
	msg.natt = 1;
	buf_init(&out, 64u << 20);
	if (mime_build_message(&msg, &out) < 0)
		abort();
	for (i = 0; i < out.len; i++) {
		if (out.data[i] >= 0x80)
			abort();
		col = out.data[i] == '\n' ? 0 : col + 1;
		if (col > 999)
			abort();
	}
	m = mime_parse(out.data, out.len, NULL);
	if (m->root->nchildren != 2)
		abort();
	if (!mime_header_find(mime_part_header(m, m->root), "subject", &v))
		abort();
	if (strcmp(mime_header_decode_a(a, v), expected_subject(subject)) != 0)
		abort();
	c = m->root->children->next;
	buf_init(&dec, 64u << 20);
	if (mime_part_decode(m, c, &dec) < 0 || dec.len != n ||
	    (n > 0 && memcmp(dec.data, p, n) != 0))
		abort();
	/* names up to 255 bytes (what file systems keep) must survive;
	 * longer ones may need more continuations than readers accept */
	if (fname[0] != '\0' && strlen(fname) <= 255) {
		const char *got = mime_part_filename(m, c);

		if (got == NULL || strcmp(got, fname) != 0)
			abort();
	}
	buf_fini(&dec);
	buf_fini(&out);
	mime_message_free(&m);
	arena_free(&a);
	free(subject);
	free(fname);
	free(text);
	return 0;
}
