/*
 * imap_search_fuzz.c - libFuzzer target: the input is a SEARCH command
 * line, a NUL byte, then a message.  The command goes through the real
 * parser; every key tree it accepts is evaluated against the message
 * (whole, and header only), and NOT of it must give the opposite answer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parse.h"
#include "imap/imap_search.h"
#include "imap/imap_search_int.h"
#include "lib/arena.h"
#include "lib/log.h"
#include "store/mailstore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	static const uint32_t saved[] = { 2, 7, 9 };
	const uint8_t *nul = memchr(data, 0, size);
	struct imap_command_text in;
	struct imap_parse_options opt;
	struct imap_command *cmd;
	struct imap_search_key not;
	struct imap_search_msg m;
	struct imap_search_ctx c;
	struct span tag, msg;
	const char *err;
	size_t cut;
	int r1, r2;

	log_set_level(LOG_LEVEL_ERROR);
	if (nul == NULL)
		return 0;
	cut = (size_t)(nul - data);
	if (a == NULL)
		a = arena_new("fuzz", 65536, 2 * IMAP_MAX_PARSE_MEMORY + 65536);
	arena_reset(a);
	in.text = span_make(data, cut);
	in.lits = NULL;
	in.nlits = 0;
	memset(&opt, 0, sizeof(opt));
	opt.utf8 = true;
	if (imap_parse_command(a, &in, &opt, &cmd, &tag, &err) != 0 ||
	    (cmd->name != IMAP_CMD_SEARCH && cmd->name != IMAP_CMD_SORT &&
	    cmd->name != IMAP_CMD_THREAD))
		return 0;
	msg = span_make(nul + 1, size - cut - 1);
	memset(&m, 0, sizeof(m));
	m.seq = 3;
	m.uid = 7;
	m.flags = size % 32;
	m.keywords = "$Junk work";
	m.recent = size % 2;
	m.internal_date = (time_t)(size * 86400);
	m.size = msg.len;
	m.modseq = 5;
	m.data = msg;
	memset(&c, 0, sizeof(c));
	c.exists = 4;
	c.max_uid = 9;
	c.saved_uids = saved;
	c.nsaved = 3;
	memset(&not, 0, sizeof(not));
	not.op = IMAP_SEARCH_NOT;
	not.child = cmd->u.search.key;
	r1 = imap_search_match(cmd->u.search.key, &m, &c);
	r2 = imap_search_match(&not, &m, &c);
	if (r1 < 0 || r2 < 0 || r1 == r2)
		abort();
	(void)imap_search_needs(cmd->u.search.key);
	{
		struct span terms[8];
		bool body_only[8];

		if (imap_search_fts_terms_kind(cmd->u.search.key, terms,
		    body_only, 8) > 8)
			abort();
	}
	/* header only: must not read past it */
	m.header = imap_search_header_of(msg);
	m.data = span_make(NULL, 0);
	if (imap_search_match(cmd->u.search.key, &m, &c) < 0)
		abort();
	return 0;
}
