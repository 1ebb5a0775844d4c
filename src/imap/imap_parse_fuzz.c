/*
 * imap_parse_fuzz.c - libFuzzer target for the IMAP command reader and
 * parser.  The first byte picks the options (UTF-8 mode, LITERAL-, small
 * limits) and the second the size of the pieces the rest is fed in.  The
 * events must not depend on how the input was split; every command the
 * reader yields is parsed and the result checked; the input also goes
 * through the mUTF-7 converters, which must round-trip.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parse.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/postino_limits.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct arena *fuzz_arena;

/* check_mailbox - a parsed name is bounded UTF-8 without controls */
static void
check_mailbox(const struct imap_mailbox *m)
{
	size_t i;

	if (m->name == NULL || m->name[m->len] != '\0')
		abort();
	if (!imap_utf8_valid(span_make(m->name, m->len)))
		abort();
	for (i = 0; i < m->len; i++)
		if ((uint8_t)m->name[i] < 0x20 || m->name[i] == 0x7f)
			abort();
}

static void
check_set(const struct imap_seqset *s)
{
	unsigned i;

	if (s->count > IMAP_MAX_ITEMS)
		abort();
	for (i = 0; i < s->count; i++)
		if (s->ranges[i].lo != 0 && s->ranges[i].hi != 0 &&
		    s->ranges[i].lo > s->ranges[i].hi)
			abort();
}

static unsigned
check_key(const struct imap_search_key *k, unsigned depth)
{
	const struct imap_search_key *c;
	unsigned n = 1;

	if (depth > IMAP_MAX_NESTING)
		abort();
	if (k->op == IMAP_SEARCH_SEQSET || k->op == IMAP_SEARCH_UID)
		check_set(&k->set);
	if (k->op == IMAP_SEARCH_NOT && (k->child == NULL ||
	    k->child->next != NULL))
		abort();
	if (k->op == IMAP_SEARCH_OR && (k->child == NULL ||
	    k->child->next == NULL || k->child->next->next != NULL))
		abort();
	for (c = k->child; c != NULL; c = c->next)
		n += check_key(c, depth + 1);
	return n;
}

static void
check_command(const struct imap_command *c, const struct imap_command_text *in)
{
	const struct imap_append_msg *m;
	unsigned i, n = 0;

	if (c->tag.len == 0 || c->tag.len >= in->text.len)
		abort();
	switch (c->name) {
	case IMAP_CMD_SELECT:
	case IMAP_CMD_EXAMINE:
		check_mailbox(&c->u.select.mbox);
		check_set(&c->u.select.known_uids);
		break;
	case IMAP_CMD_CREATE:
		check_mailbox(&c->u.create.mbox);
		break;
	case IMAP_CMD_DELETE:
	case IMAP_CMD_SUBSCRIBE:
	case IMAP_CMD_UNSUBSCRIBE:
	case IMAP_CMD_GETQUOTAROOT:
		check_mailbox(&c->u.mbox);
		break;
	case IMAP_CMD_RENAME:
		check_mailbox(&c->u.rename.from);
		check_mailbox(&c->u.rename.to);
		break;
	case IMAP_CMD_LIST:
	case IMAP_CMD_LSUB:
		if (c->u.list.npatterns == 0)
			abort();
		for (i = 0; i < c->u.list.npatterns; i++)
			check_mailbox(&c->u.list.patterns[i]);
		break;
	case IMAP_CMD_APPEND:
		check_mailbox(&c->u.append.mbox);
		for (m = c->u.append.msgs; m != NULL; m = m->next) {
			n++;
			if (m->is_streamed) {
				if (in->nlits == 0 ||
				    m->literal_index >= in->nlits ||
				    !in->lits[m->literal_index].is_streamed)
					abort();
			} else if (m->data.len != m->size ||
			    m->data.p < in->text.p || m->data.p + m->data.len >
			    in->text.p + in->text.len) {
				abort();
			}
		}
		if (n != c->u.append.count || n == 0)
			abort();
		break;
	case IMAP_CMD_SEARCH:
	case IMAP_CMD_SORT:
	case IMAP_CMD_THREAD:
		if (c->u.search.key == NULL ||
		    c->u.search.key->op != IMAP_SEARCH_AND ||
		    check_key(c->u.search.key, 0) > IMAP_MAX_ITEMS)
			abort();
		break;
	case IMAP_CMD_FETCH:
		check_set(&c->u.fetch.set);
		if (c->u.fetch.count == 0)
			abort();
		for (i = 0; i < c->u.fetch.count; i++)
			if (c->u.fetch.atts[i].section.nparts >
			    IMAP_MAX_NESTING)
				abort();
		break;
	case IMAP_CMD_STORE:
		check_set(&c->u.store.set);
		break;
	case IMAP_CMD_COPY:
	case IMAP_CMD_MOVE:
		check_set(&c->u.copy.set);
		check_mailbox(&c->u.copy.mbox);
		break;
	default:
		break;
	}
}

/* feed - run the reader over data in pieces of step bytes (0: whole);
 * append a digest of the events to out */
static void
feed(const struct imap_reader_limits *l, const struct imap_parse_options *o,
    const uint8_t *data, size_t size, size_t step, struct buf *out)
{
	struct imap_reader *r = imap_reader_new(l);
	struct imap_reader_event ev;
	struct imap_command *cmd;
	struct span tag;
	const char *err;
	size_t off = 0, used, end;
	int ret;

	while (off <= size) {
		end = step == 0 || size - off < step ? size : off + step;
		ret = imap_reader_input(r, data + off, end - off, &used, &ev);
		if (used > end - off)
			abort();
		off += used;
		if (ret == 0) {
			if (off != end)
				abort();
			if (off == size)
				break;
			continue;
		}
		/* LITERAL_DATA chunks depend on the split: record bytes */
		if (ev.type == IMAP_READER_LITERAL_DATA) {
			if (ev.data.len == 0)
				abort();
			(void)!buf_append(out, ev.data.p, ev.data.len);
			continue;
		}
		(void)!buf_printf(out, "|%d:%zu:%llu:%u:%d:", ev.type,
		    ev.tag.len, (unsigned long long)ev.size,
		    ev.literal_index, ev.reply);
		if (ev.type == IMAP_READER_ERROR && ev.reason == NULL)
			abort();
		if (ev.type != IMAP_READER_COMMAND)
			continue;
		(void)!buf_append(out, ev.cmd.text.p, ev.cmd.text.len);
		arena_reset(fuzz_arena);
		if (imap_parse_command(fuzz_arena, &ev.cmd, o, &cmd, &tag,
		    &err) == 0)
			check_command(cmd, &ev.cmd);
		else if (err == NULL)
			abort();
	}
	imap_reader_free(&r);
}

static void
check_mutf7(const uint8_t *data, size_t size)
{
	struct buf a, b;

	buf_init(&a, size * 4 + 16);
	buf_init(&b, size * 4 + 16);
	if (imap_mutf7_to_utf8(span_make(data, size), &a) == 0) {
		if (!imap_utf8_valid(buf_span(&a)))
			abort();
		if (imap_utf8_to_mutf7(buf_span(&a), &b) != 0 ||
		    !span_eq(buf_span(&b), span_make(data, size)))
			abort();
	}
	buf_reset(&a);
	buf_reset(&b);
	if (imap_utf8_valid(span_make(data, size))) {
		if (imap_utf8_to_mutf7(span_make(data, size), &a) != 0 ||
		    imap_mutf7_to_utf8(buf_span(&a), &b) != 0 ||
		    !span_eq(buf_span(&b), span_make(data, size)))
			abort();
	} else if (imap_utf8_to_mutf7(span_make(data, size), &a) == 0) {
		abort();
	}
	buf_fini(&a);
	buf_fini(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_reader_limits l;
	struct imap_parse_options o;
	struct buf whole, split;
	uint8_t mode, step;

	if (fuzz_arena == NULL)
		fuzz_arena = arena_new("fuzz", 65536,
		    2 * IMAP_MAX_PARSE_MEMORY + 1024 * 1024);
	if (size < 2)
		return 0;
	mode = data[0];
	step = data[1];
	data += 2;
	size -= 2;

	imap_reader_limits_default(&l, (mode & 4) != 0, (mode & 2) != 0);
	if (mode & 8) {
		l.line_max = 200;
		l.literal_max = 50;
		l.append_max = 300;
		l.command_max = 400;
		l.discard_max = 500;
		l.literals_max = 4;
	}
	memset(&o, 0, sizeof(o));
	o.utf8 = (mode & 1) != 0;
	if (mode & 16) {
		o.max_nesting = 4;
		o.max_items = 8;
		o.max_memory = 4096;
	}
	buf_init(&whole, 1u << 26);
	buf_init(&split, 1u << 26);
	feed(&l, &o, data, size, 0, &whole);
	feed(&l, &o, data, size, step % 17 + 1, &split);
	if (!span_eq(buf_span(&whole), buf_span(&split)))
		abort();
	buf_fini(&whole);
	buf_fini(&split);
	if (size < 4096)
		check_mutf7(data, size);
	return 0;
}
