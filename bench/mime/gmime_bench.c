/*
 * gmime_bench.c - time GMime 3 over the same corpus, the reference for
 * postino's parser.  Bench-only; needs libgmime-3.0-dev.
 *
 *   gmime_bench structure|full DIR [PASSES]
 *
 * structure: g_mime_parser_construct_message() over an in-memory stream
 * that references the preloaded message (no copy), then unref.  full: the
 * same, plus writing every leaf part's content through GMime's decoder
 * into a null stream (transfer decoding, as postino's "full").  Prints
 * "gmime MODE BYTES MB/s" with the median of PASSES passes.
 */
#include <gmime/gmime.h>

#include "bench_common.h"

static void
decode_part(GMimeObject *parent, GMimeObject *part, gpointer data)
{
	GMimeDataWrapper *w;
	GMimeStream *null;
	gint64 *sink = data;

	(void)parent;
	if (!GMIME_IS_PART(part))
		return;
	w = g_mime_part_get_content(GMIME_PART(part));
	if (w == NULL)
		return;
	null = g_mime_stream_null_new();
	*sink += g_mime_data_wrapper_write_to_stream(w, null);
	g_object_unref(null);
}

int
main(int argc, char **argv)
{
	struct corpus c;
	double secs[64];
	int passes = argc > 3 ? atoi(argv[3]) : 5, pass;
	const char *mode;
	gint64 sink = 0;
	GByteArray **arr;
	size_t i;

	if (argc < 3 || passes < 1 || passes > 64) {
		fprintf(stderr, "usage: %s structure|full DIR [PASSES]\n",
		    argv[0]);
		return 2;
	}
	mode = argv[1];
	g_mime_init();
	corpus_load(argv[2], &c);
	arr = calloc(c.n, sizeof(*arr));
	for (i = 0; i < c.n; i++) {
		arr[i] = g_byte_array_new_take(c.msg[i], c.len[i]);
		c.msg[i] = NULL;
	}
	for (pass = 0; pass < passes; pass++) {
		double t0 = now_s();

		for (i = 0; i < c.n; i++) {
			GMimeStream *st = g_mime_stream_mem_new_with_byte_array(
			    arr[i]);
			GMimeParser *parser;
			GMimeMessage *msg;

			g_mime_stream_mem_set_owner(GMIME_STREAM_MEM(st),
			    FALSE);
			parser = g_mime_parser_new_with_stream(st);
			msg = g_mime_parser_construct_message(parser, NULL);
			if (msg != NULL && strcmp(mode, "full") == 0)
				g_mime_message_foreach(msg, decode_part, &sink);
			if (msg != NULL) {
				sink++;
				g_object_unref(msg);
			}
			g_object_unref(parser);
			g_object_unref(st);
		}
		secs[pass] = now_s() - t0;
	}
	report("gmime", mode, &c, secs, passes);
	g_mime_shutdown();
	return sink == 0;
}
