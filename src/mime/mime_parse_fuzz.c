/*
 * mime_parse_fuzz.c - libFuzzer target: parse any bytes as a message,
 * render ENVELOPE, BODY and BODYSTRUCTURE, resolve sections, decode every
 * part, and check the offsets the tree promises.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "mime/mime_imap.h"
#include "mime/mime_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_part(const struct mime_message *m, const struct mime_part *p)
{
	const struct mime_part *c;

	if (p->hdr_off > p->body_off || p->body_off > p->end_off ||
	    p->end_off > m->len)
		abort();
	if (p->body_vsize < p->end_off - p->body_off)
		abort();
	for (c = p->children; c != NULL; c = c->next) {
		if (c->hdr_off < p->body_off || c->end_off > p->end_off)
			abort();
		check_part(m, c);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sections[] = { "", "1", "1.2", "2.1.MIME",
		"1.HEADER", "2.TEXT", "TEXT", "HEADER", "1.1.1" };
	struct mime_message *m;
	struct mime_section sec;
	struct mime_limits lim;
	struct buf out;
	size_t i;

	log_set_level(LOG_LEVEL_ERROR);
	mime_limits_default(&lim);
	lim.max_depth = 20;	/* keep deep inputs quick to render */
	m = mime_parse(data, size, size > 0 && data[0] == 'X' ? &lim : NULL);
	if (m->root->end_off != size)
		abort();
	check_part(m, m->root);
	buf_init(&out, 64u << 20);
	if (mime_imap_envelope(m, m->root, &out) < 0 ||
	    mime_imap_bodystructure(m, m->root, true, &out) < 0 ||
	    mime_imap_bodystructure(m, m->root, false, &out) < 0)
		abort();
	buf_reset(&out);
	if (mime_dump(m, true, &out) < 0)
		abort();
	for (i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		if (mime_section_find(m, sections[i], &sec) == 0 &&
		    sec.off + sec.len > size)
			abort();
	}
	buf_fini(&out);
	mime_message_free(&m);
	return 0;
}
