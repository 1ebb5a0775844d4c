/*
 * mime_text_fuzz.c - libFuzzer target: extract the searchable text of any
 * bytes, with small and large ceilings, and check what the contract
 * promises: no error, output within the ceiling, no NUL byte, and the
 * same text with a larger ceiling starting with the cut one (the search
 * check and the full-text index must agree).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/log.h"
#include "mime/mime_text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf h, b, hs, bs;
	size_t cut = size > 0 ? data[0] : 0;

	log_set_level(LOG_LEVEL_ERROR);
	buf_init(&h, 1u << 20);
	buf_init(&b, 4u << 20);
	buf_init(&hs, cut);
	buf_init(&bs, cut);
	if (mime_text_extract(data, size, &h, &b) < 0 ||
	    mime_text_extract(data, size, &hs, &bs) < 0)
		abort();
	if (hs.len > cut || bs.len > cut)
		abort();
	if ((h.len > 0 && memchr(h.data, 0, h.len) != NULL) ||
	    (b.len > 0 && memchr(b.data, 0, b.len) != NULL))
		abort();
	/* a cut header is a prefix of the whole one; a cut body may end
	 * earlier (a part is decoded only as far as the room left) but
	 * never holds other text */
	if (hs.len > h.len || (hs.len > 0 && memcmp(hs.data, h.data,
	    hs.len) != 0))
		abort();
	if (bs.len > b.len)
		abort();
	buf_fini(&h);
	buf_fini(&b);
	buf_fini(&hs);
	buf_fini(&bs);
	return 0;
}
