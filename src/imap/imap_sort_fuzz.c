/*
 * imap_sort_fuzz.c - libFuzzer target: the input is a list of message
 * headers separated by NUL bytes; two SORTs (keys and REVERSE picked
 * from the input's length) and both THREAD algorithms run over them.
 * Checks what the contract promises: SORT gives a permutation, and each
 * THREAD output is balanced and names every message exactly once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_search.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/xmalloc.h"

#define MAX_MSGS	64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_threads(const struct buf *b, size_t n)
{
	uint8_t *seen = xcalloc(n + 1, 1);
	long depth = 0;
	size_t i = 0;

	while (i < b->len) {
		uint8_t c = b->data[i];

		if (c == '(') {
			depth++;
			i++;
		} else if (c == ')') {
			if (--depth < 0)
				abort();
			i++;
		} else if (c == ' ') {
			i++;
		} else if (c >= '1' && c <= '9') {
			size_t v = 0;

			while (i < b->len && b->data[i] >= '0' &&
			    b->data[i] <= '9')
				v = v * 10 + (size_t)(b->data[i++] - '0');
			if (v > n || seen[v] || depth == 0)
				abort();
			seen[v] = 1;
		} else {
			abort();
		}
	}
	if (depth != 0)
		abort();
	for (i = 1; i <= n; i++) {
		if (!seen[i])
			abort();
	}
	free(seen);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_search_msg msgs[MAX_MSGS];
	struct imap_sort_crit crit[2];
	size_t order[MAX_MSGS], n = 0, start = 0, i, j;
	uint8_t *seen;
	struct buf out;
	unsigned k;

	log_set_level(LOG_LEVEL_ERROR);
	memset(msgs, 0, sizeof(msgs));
	for (i = 0; i <= size && n < MAX_MSGS; i++) {
		if (i < size && data[i] != 0)
			continue;
		msgs[n].seq = (uint32_t)n + 1;
		msgs[n].uid = (uint32_t)n * 3 + 1;
		/* few distinct dates and sizes: many ties */
		msgs[n].internal_date = (time_t)(n % 3) * 86400;
		msgs[n].size = n % 4;
		msgs[n].header = span_make(data + start, i - start);
		n++;
		start = i + 1;
	}
	/* two sorts of two keys each, picked by the input's length (every
	 * key over the corpus, at a quarter of the cost of all of them) */
	for (k = 0; k < 2; k++) {
		size_t pick = size / 7 + k * 5;

		crit[0].key = (enum imap_sort_key)(IMAP_SORT_ARRIVAL +
		    pick % 9);
		crit[0].is_reverse = (pick & 1) != 0;
		crit[1].key = (enum imap_sort_key)(IMAP_SORT_ARRIVAL +
		    (pick / 9) % 9);
		crit[1].is_reverse = (pick & 2) != 0;
		if (imap_sort(msgs, n, crit, 2, order) != 0)
			abort();
		seen = xcalloc(n, 1);
		for (j = 0; j < n; j++) {
			if (order[j] >= n || seen[order[j]])
				abort();
			seen[order[j]] = 1;
		}
		free(seen);
	}
	buf_init(&out, 1u << 20);
	if (imap_thread(msgs, n, SPAN_LIT("REFERENCES"), false, &out) != 0)
		abort();
	check_threads(&out, n);
	buf_reset(&out);
	if (imap_thread(msgs, n, SPAN_LIT("ORDEREDSUBJECT"), false, &out) != 0)
		abort();
	check_threads(&out, n);
	buf_fini(&out);
	return 0;
}
