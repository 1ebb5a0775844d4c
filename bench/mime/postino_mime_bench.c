/*
 * postino_mime_bench.c - time postino's MIME parser over a corpus.
 *
 *   postino_mime_bench structure|full|bodystructure DIR [PASSES]
 *
 * structure: mime_parse() of every message (tree, offsets, line counts,
 * Content-Type parameters), then free.  full: the same, plus the transfer
 * decoding of every leaf part (base64, quoted-printable, ...) into a
 * buffer.  bodystructure: structure plus the ENVELOPE and BODYSTRUCTURE
 * strings the store caches.  Prints "postino MODE BYTES MB/s" with the
 * median of PASSES passes (default 5).
 */
#include "bench_common.h"

#include "lib/buf.h"
#include "mime/mime_imap.h"
#include "mime/mime_parse.h"

static size_t sink;

static void
decode_all(const struct mime_message *m, const struct mime_part *p,
    struct buf *b)
{
	const struct mime_part *c;

	if (p->flags & (MIME_PART_F_MULTIPART | MIME_PART_F_MESSAGE)) {
		for (c = p->children; c != NULL; c = c->next)
			decode_all(m, c, b);
		return;
	}
	buf_reset(b);
	if (mime_part_decode(m, p, b) == 0)
		sink += b->len;
}

int
main(int argc, char **argv)
{
	struct corpus c;
	struct buf b;
	double secs[64];
	int passes = argc > 3 ? atoi(argv[3]) : 5, pass;
	const char *mode;
	size_t i;

	if (argc < 3 || passes < 1 || passes > 64) {
		fprintf(stderr, "usage: %s structure|full|bodystructure DIR "
		    "[PASSES]\n", argv[0]);
		return 2;
	}
	mode = argv[1];
	corpus_load(argv[2], &c);
	buf_init(&b, (size_t)1 << 30);
	for (pass = 0; pass < passes; pass++) {
		double t0 = now_s();

		for (i = 0; i < c.n; i++) {
			struct mime_message *m = mime_parse(c.msg[i],
			    c.len[i], NULL);

			if (strcmp(mode, "full") == 0)
				decode_all(m, m->root, &b);
			else if (strcmp(mode, "bodystructure") == 0) {
				buf_reset(&b);
				if (mime_imap_envelope(m, m->root, &b) < 0 ||
				    mime_imap_bodystructure(m, m->root, true,
				    &b) < 0)
					return 1;
				sink += b.len;
			}
			sink += m->nparts;
			mime_message_free(&m);
		}
		secs[pass] = now_s() - t0;
	}
	report("postino", mode, &c, secs, passes);
	buf_fini(&b);
	return sink == 0;
}
