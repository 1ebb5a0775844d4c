/*
 * imap_fetch_fuzz.c - libFuzzer target: any bytes as the message, a fixed
 * set of FETCH items rendered for it, and the promises checked: the
 * response is one well-formed "* 1 FETCH (...)\r\n" whose literals are
 * exactly as long as they say, BODY[] is as long as RFC822.SIZE counts,
 * BODY[HEADER] and BODY[TEXT] as long as the parse's virtual sizes, a
 * partial is the same piece of the whole, BINARY.SIZE is the length of
 * the BINARY literal, and a small ceiling fails cleanly.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_fetch.h"
#include "imap/imap_parse.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "mime/mime_imap.h"
#include "mime/mime_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* the items: one command each, parsed once */
static const char *const item_lists[] = {
	"FLAGS UID RFC822.SIZE ENVELOPE BODY BODYSTRUCTURE MODSEQ "
	    "INTERNALDATE",
	"BODY.PEEK[] BODY.PEEK[]<7.33> BODY.PEEK[HEADER] BODY.PEEK[TEXT]",
	"BODY.PEEK[1] BODY.PEEK[1.MIME] BODY.PEEK[2] BODY.PEEK[2.HEADER] "
	    "BODY.PEEK[2.TEXT] BODY.PEEK[1.2.3] BODY.PEEK[1.1]<1.5>",
	"BODY.PEEK[HEADER.FIELDS (FROM SUBJECT content-type)] "
	    "BODY.PEEK[HEADER.FIELDS.NOT (FROM)] "
	    "BODY.PEEK[2.HEADER.FIELDS (TO)]<2.9>",
	"BINARY.PEEK[1] BINARY.SIZE[1]",
	"BINARY.PEEK[2] BINARY.SIZE[2] BINARY.PEEK[2]<3.4>",
	"BINARY.PEEK[1.1] BINARY.SIZE[1.1] BINARY.PEEK[] BINARY.SIZE[]",
	"RFC822 RFC822.HEADER RFC822.TEXT",
};
#define NLISTS (sizeof(item_lists) / sizeof(item_lists[0]))

static struct imap_fetch_att *atts[NLISTS];
static unsigned natts[NLISTS];

static void
setup(void)
{
	static struct arena *a;
	struct imap_parse_options popt;
	struct imap_command_text in;
	struct imap_command *cmd;
	const char *err;
	struct span tag;
	char text[512];
	size_t i;
	int len;

	if (a != NULL)
		return;
	log_set_level(LOG_LEVEL_ERROR);
	a = arena_new("fuzz", 65536, 16u << 20);
	memset(&popt, 0, sizeof(popt));
	for (i = 0; i < NLISTS; i++) {
		len = snprintf(text, sizeof(text), "t FETCH 1 (%s)\r\n",
		    item_lists[i]);
		in = (struct imap_command_text){ span_make(text,
		    (size_t)len), NULL, 0 };
		if (imap_parse_command(a, &in, &popt, &cmd, &tag, &err) != 0)
			abort();
		/* the parsed items point into the arena, which stays */
		atts[i] = cmd->u.fetch.atts;
		natts[i] = cmd->u.fetch.count;
	}
}

#define MAX_ITEMS 8

struct item {
	struct span	name, value;	/* value: literal data or digits */
};

/*
 * walk - splits a response whose items are all literals or numbers
 * into its items; aborts if it is not exactly that.  A name runs to the
 * first blank outside brackets.
 */
static unsigned
walk(const struct buf *out, struct item *items)
{
	const uint8_t *p = out->data;
	size_t i = 11, end = out->len - 3;
	unsigned n = 0;

	while (i < end) {
		size_t start = i, len = 0;
		int depth = 0;

		if (n == MAX_ITEMS)
			abort();
		while (i < end && (p[i] != ' ' || depth > 0)) {
			if (p[i] == '[')
				depth++;
			else if (p[i] == ']')
				depth--;
			i++;
		}
		if (i >= end)
			abort();
		items[n].name = span_make(p + start, i - start);
		i++;
		if (p[i] == '~')
			i++;
		if (p[i] == '{') {
			for (i++; p[i] >= '0' && p[i] <= '9'; i++)
				len = len * 10 + (size_t)(p[i] - '0');
			if (p[i] != '}' || p[i + 1] != '\r' || p[i + 2] != '\n')
				abort();
			i += 3;
			if (len > end - i)
				abort();
			items[n].value = span_make(p + i, len);
			i += len;
		} else {
			start = i;
			while (i < end && p[i] >= '0' && p[i] <= '9')
				i++;
			if (i == start)
				abort();
			items[n].value = span_make(p + start, i - start);
		}
		n++;
		if (i < end && p[i++] != ' ')
			abort();
	}
	return n;
}

/* item_value - the value of the item called name */
static bool
item_value(const struct item *items, unsigned n, const char *name,
    struct span *v)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (span_eq(items[i].name, span_from_str(name))) {
			*v = items[i].value;
			return true;
		}
	}
	return false;
}

/* well_formed - the response frame, and every literal ends in ' ' or ')' */
static void
well_formed(const struct buf *out)
{
	const uint8_t *p = out->data;
	size_t i;

	if (out->len < 14 || memcmp(p, "* 1 FETCH (", 11) != 0 ||
	    memcmp(p + out->len - 3, ")\r\n", 3) != 0)
		abort();
	for (i = 11; i < out->len - 3; i++) {
		size_t n = 0, j;

		if (p[i] != '{' || (p[i - 1] != ' ' && p[i - 1] != '~'))
			continue;
		for (j = i + 1; j < out->len && p[j] >= '0' && p[j] <= '9';
		    j++)
			n = n * 10 + (size_t)(p[j] - '0');
		if (j == i + 1 || j + 2 >= out->len || p[j] != '}' ||
		    p[j + 1] != '\r' || p[j + 2] != '\n')
			continue;	/* inside a quoted string */
		if (j + 3 + n >= out->len)
			abort();
		if (p[j + 3 + n] != ' ' && p[j + 3 + n] != ')')
			abort();
		i = j + 2 + n;
	}
}

static size_t
num(struct span v)
{
	size_t n = 0, i;

	for (i = 0; i < v.len; i++)
		n = n * 10 + (size_t)(v.p[i] - '0');
	return n;
}

static void
check_binary(const struct item *it, unsigned n, const char *lit,
    const char *sz)
{
	struct span a, b;

	if (!item_value(it, n, lit, &a) || !item_value(it, n, sz, &b) ||
	    num(b) != a.len)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_fetch_msg m;
	struct imap_fetch_opts o;
	struct mime_message *mm;
	struct item it[MAX_ITEMS];
	unsigned nit;
	struct span v, whole;
	const char *err;
	struct buf out;
	size_t i;
	int rc;

	setup();
	mm = mime_parse(data, size, NULL);
	memset(&m, 0, sizeof(m));
	memset(&o, 0, sizeof(o));
	m.seq = 1;
	m.uid = 2;
	m.keywords = "$Label";
	m.size = mime_imap_size(mm);
	m.data = span_make(data != NULL ? data : (const uint8_t *)"", size);
	buf_init(&out, 64u << 20);
	for (i = 0; i < NLISTS; i++) {
		buf_reset(&out);
		err = NULL;
		rc = imap_fetch_render(&out, &m, atts[i], natts[i], &o, &err);
		if (rc == 1) {
			/* an unknown encoding: nothing written */
			if (out.len != 0 || err == NULL)
				abort();
			continue;
		}
		if (rc != 0)
			abort();
		well_formed(&out);
		nit = i == 0 ? 0 : walk(&out, it);
		switch (i) {
		case 1:
			if (!item_value(it, nit, "BODY[]", &whole) ||
			    whole.len != m.size)
				abort();
			if (!item_value(it, nit, "BODY[]<7>", &v))
				abort();
			if (whole.len > 7 && (v.len != (whole.len - 7 < 33 ?
			    whole.len - 7 : 33) ||
			    memcmp(v.p, whole.p + 7, v.len) != 0))
				abort();
			if (!item_value(it, nit, "BODY[HEADER]", &v) ||
			    v.len != mm->root->hdr_vsize)
				abort();
			if (!item_value(it, nit, "BODY[TEXT]", &v) ||
			    v.len != mm->root->body_vsize)
				abort();
			/* no NUL in a {n} literal */
			if (memchr(whole.p, 0, whole.len) != NULL)
				abort();
			break;
		case 4:
			check_binary(it, nit, "BINARY[1]", "BINARY.SIZE[1]");
			break;
		case 5:
			check_binary(it, nit, "BINARY[2]", "BINARY.SIZE[2]");
			break;
		case 6:
			check_binary(it, nit, "BINARY[1.1]", "BINARY.SIZE[1.1]");
			check_binary(it, nit, "BINARY[]", "BINARY.SIZE[]");
			break;
		default:
			break;
		}
	}
	buf_fini(&out);
	/* a ceiling too small: -1 and nothing left behind */
	buf_init(&out, 40);
	rc = imap_fetch_render(&out, &m, atts[1], natts[1], &o, &err);
	if (rc != -1 || out.len != 0)
		abort();
	buf_fini(&out);
	mime_message_free(&mm);
	return 0;
}
