/*
 * imap_parse_test.c - unit tests for the IMAP command reader and parser:
 * framing with literals fed whole, byte by byte and split at every offset,
 * every limit at -1/=/+1, LITERAL+/LITERAL- behaviour, streamed APPEND,
 * each command form and its errors, mUTF-7 conversion, nesting limits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap/imap_parse.h"
#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "../../tests/lib/test.h"

/* ---- a canonical dump of a parsed command ---- */

/* the dump buffers are large: a failed append is a test failure */
#define OK(x) CHECK((x) == 0)

static void
out_span(struct buf *o, struct span s)
{
	size_t i;

	for (i = 0; i < s.len; i++) {
		uint8_t c = s.p[i];

		if (c < 0x20 || c >= 0x7f || c == '|')
			OK(buf_printf(o, "\\x%02x", c));
		else
			OK(buf_append_byte(o, c));
	}
}

static void
out_str(struct buf *o, const char *label, struct span s)
{
	OK(buf_printf(o, " %s=", label));
	out_span(o, s);
}

static void
out_mbox(struct buf *o, const char *label, const struct imap_mailbox *m)
{
	out_str(o, label, span_make(m->name, m->len));
}

static void
out_set(struct buf *o, const char *label, const struct imap_seqset *s)
{
	unsigned i;

	OK(buf_printf(o, " %s=", label));
	if (s->is_saved)
		OK(buf_append_str(o, "$"));
	for (i = 0; i < s->count; i++) {
		if (i > 0)
			OK(buf_append_str(o, ","));
		if (s->ranges[i].lo == s->ranges[i].hi)
			OK(buf_printf(o, "%u", s->ranges[i].lo));
		else
			OK(buf_printf(o, "%u:%u", s->ranges[i].lo,
			    s->ranges[i].hi));
	}
}

static void
out_flags(struct buf *o, const char *label, const struct imap_flags *f)
{
	unsigned i;

	OK(buf_printf(o, " %s=(", label));
	for (i = 0; i < f->count; i++) {
		if (i > 0)
			OK(buf_append_str(o, " "));
		out_span(o, f->v[i]);
	}
	OK(buf_append_str(o, ")"));
}

static const char *const search_names[] = {
	[IMAP_SEARCH_AND] = "AND", [IMAP_SEARCH_OR] = "OR",
	[IMAP_SEARCH_NOT] = "NOT", [IMAP_SEARCH_SEQSET] = "SET",
	[IMAP_SEARCH_UID] = "UID", [IMAP_SEARCH_ALL] = "ALL",
	[IMAP_SEARCH_ANSWERED] = "ANSWERED", [IMAP_SEARCH_DELETED] = "DELETED",
	[IMAP_SEARCH_DRAFT] = "DRAFT", [IMAP_SEARCH_FLAGGED] = "FLAGGED",
	[IMAP_SEARCH_SEEN] = "SEEN", [IMAP_SEARCH_RECENT] = "RECENT",
	[IMAP_SEARCH_NEW] = "NEW", [IMAP_SEARCH_OLD] = "OLD",
	[IMAP_SEARCH_UNANSWERED] = "UNANSWERED",
	[IMAP_SEARCH_UNDELETED] = "UNDELETED",
	[IMAP_SEARCH_UNDRAFT] = "UNDRAFT",
	[IMAP_SEARCH_UNFLAGGED] = "UNFLAGGED", [IMAP_SEARCH_UNSEEN] = "UNSEEN",
	[IMAP_SEARCH_KEYWORD] = "KEYWORD",
	[IMAP_SEARCH_UNKEYWORD] = "UNKEYWORD",
	[IMAP_SEARCH_BCC] = "BCC", [IMAP_SEARCH_BODY] = "BODY",
	[IMAP_SEARCH_CC] = "CC", [IMAP_SEARCH_FROM] = "FROM",
	[IMAP_SEARCH_SUBJECT] = "SUBJECT", [IMAP_SEARCH_TEXT] = "TEXT",
	[IMAP_SEARCH_TO] = "TO", [IMAP_SEARCH_HEADER] = "HEADER",
	[IMAP_SEARCH_BEFORE] = "BEFORE", [IMAP_SEARCH_ON] = "ON",
	[IMAP_SEARCH_SINCE] = "SINCE", [IMAP_SEARCH_SENTBEFORE] = "SENTBEFORE",
	[IMAP_SEARCH_SENTON] = "SENTON", [IMAP_SEARCH_SENTSINCE] = "SENTSINCE",
	[IMAP_SEARCH_LARGER] = "LARGER", [IMAP_SEARCH_SMALLER] = "SMALLER",
	[IMAP_SEARCH_MODSEQ] = "MODSEQ",
};

static void
out_key(struct buf *o, const struct imap_search_key *k)
{
	const struct imap_search_key *c;

	OK(buf_printf(o, "%s", search_names[k->op]));
	if (k->str.len > 0 || k->op == IMAP_SEARCH_HEADER) {
		OK(buf_append_str(o, ":"));
		if (k->field.len > 0) {
			out_span(o, k->field);
			OK(buf_append_str(o, "/"));
		}
		out_span(o, k->str);
	} else if (k->field.len > 0) {
		OK(buf_append_str(o, ":"));
		out_span(o, k->field);
	}
	if (k->date.year != 0)
		OK(buf_printf(o, ":%04u-%02u-%02u", k->date.year,
		    k->date.month, k->date.day));
	if (k->num != 0)
		OK(buf_printf(o, ":%llu", (unsigned long long)k->num));
	if (k->op == IMAP_SEARCH_SEQSET || k->op == IMAP_SEARCH_UID) {
		struct buf t;

		buf_init(&t, 4096);
		out_set(&t, "", &k->set);
		OK(buf_printf(o, "%s", buf_cstr(&t) + 2));
		buf_fini(&t);
	}
	if (k->child != NULL) {
		OK(buf_append_str(o, "("));
		for (c = k->child; c != NULL; c = c->next) {
			out_key(o, c);
			if (c->next != NULL)
				OK(buf_append_str(o, " "));
		}
		OK(buf_append_str(o, ")"));
	}
}

static const char *const fetch_names[] = {
	[IMAP_FETCH_FLAGS] = "FLAGS",
	[IMAP_FETCH_INTERNALDATE] = "INTERNALDATE",
	[IMAP_FETCH_RFC822_SIZE] = "RFC822.SIZE",
	[IMAP_FETCH_ENVELOPE] = "ENVELOPE", [IMAP_FETCH_BODY] = "BODY",
	[IMAP_FETCH_BODYSTRUCTURE] = "BODYSTRUCTURE",
	[IMAP_FETCH_BODY_SECTION] = "BODY[]", [IMAP_FETCH_BINARY] = "BINARY[]",
	[IMAP_FETCH_BINARY_SIZE] = "BINARY.SIZE[]", [IMAP_FETCH_UID] = "UID",
	[IMAP_FETCH_MODSEQ] = "MODSEQ", [IMAP_FETCH_RFC822] = "RFC822",
	[IMAP_FETCH_RFC822_HEADER] = "RFC822.HEADER",
	[IMAP_FETCH_RFC822_TEXT] = "RFC822.TEXT",
};

static const char *const section_names[] = {
	"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME",
};

static void
out_att(struct buf *o, const struct imap_fetch_att *a)
{
	unsigned i;

	OK(buf_printf(o, " %s%s", fetch_names[a->type],
	    a->is_peek ? ".PEEK" : ""));
	if (a->type == IMAP_FETCH_BODY_SECTION ||
	    a->type == IMAP_FETCH_BINARY || a->type == IMAP_FETCH_BINARY_SIZE) {
		OK(buf_append_str(o, "{"));
		for (i = 0; i < a->section.nparts; i++)
			OK(buf_printf(o, "%s%u", i > 0 ? "." : "",
			    a->section.parts[i]));
		OK(buf_printf(o, "|%s", section_names[a->section.text]));
		for (i = 0; i < a->section.nfields; i++) {
			OK(buf_append_str(o, i == 0 ? ":" : ","));
			out_span(o, a->section.fields[i]);
		}
		OK(buf_append_str(o, "}"));
	}
	if (a->has_partial)
		OK(buf_printf(o, "<%llu.%llu>",
		    (unsigned long long)a->partial_offset,
		    (unsigned long long)a->partial_len));
}

static void
dump(struct buf *o, const struct imap_command *c)
{
	unsigned i;
	const struct imap_append_msg *m;

	out_span(o, c->tag);
	OK(buf_printf(o, " %d%s", c->name, c->is_uid ? " uid" : ""));
	switch (c->name) {
	case IMAP_CMD_AUTHENTICATE:
		out_str(o, "mech", c->u.authenticate.mech);
		if (c->u.authenticate.has_ir)
			out_str(o, "ir", c->u.authenticate.ir);
		break;
	case IMAP_CMD_LOGIN:
		out_str(o, "user", c->u.login.user);
		out_str(o, "pass", c->u.login.pass);
		break;
	case IMAP_CMD_ENABLE:
		for (i = 0; i < c->u.enable.count; i++)
			out_str(o, "cap", c->u.enable.caps[i]);
		break;
	case IMAP_CMD_SELECT:
	case IMAP_CMD_EXAMINE:
		out_mbox(o, "mbox", &c->u.select.mbox);
		if (c->u.select.condstore)
			OK(buf_append_str(o, " condstore"));
		if (c->u.select.qresync) {
			OK(buf_printf(o, " qresync=%u/%llu",
			    c->u.select.uidvalidity,
			    (unsigned long long)c->u.select.modseq));
			out_set(o, "known", &c->u.select.known_uids);
			out_set(o, "seq", &c->u.select.seq_match);
			out_set(o, "uids", &c->u.select.uid_match);
		}
		break;
	case IMAP_CMD_CREATE:
		out_mbox(o, "mbox", &c->u.create.mbox);
		if (c->u.create.use.count > 0)
			out_flags(o, "use", &c->u.create.use);
		break;
	case IMAP_CMD_DELETE:
	case IMAP_CMD_SUBSCRIBE:
	case IMAP_CMD_UNSUBSCRIBE:
	case IMAP_CMD_GETQUOTAROOT:
		out_mbox(o, "mbox", &c->u.mbox);
		break;
	case IMAP_CMD_RENAME:
		out_mbox(o, "from", &c->u.rename.from);
		out_mbox(o, "to", &c->u.rename.to);
		break;
	case IMAP_CMD_LIST:
	case IMAP_CMD_LSUB:
		OK(buf_printf(o, " ext=%d sel=%x ret=%x status=%x",
		    c->u.list.is_extended, c->u.list.sel_flags,
		    c->u.list.ret_flags, c->u.list.status_items));
		out_mbox(o, "ref", &c->u.list.ref);
		for (i = 0; i < c->u.list.npatterns; i++)
			out_mbox(o, "pat", &c->u.list.patterns[i]);
		break;
	case IMAP_CMD_STATUS:
		out_mbox(o, "mbox", &c->u.status.mbox);
		OK(buf_printf(o, " items=%x", c->u.status.items));
		break;
	case IMAP_CMD_APPEND:
		out_mbox(o, "mbox", &c->u.append.mbox);
		OK(buf_printf(o, " n=%u", c->u.append.count));
		for (m = c->u.append.msgs; m != NULL; m = m->next) {
			out_flags(o, "flags", &m->flags);
			if (m->has_date)
				OK(buf_printf(o,
				    " date=%04u-%02u-%02uT%02u:%02u:%02u%+d",
				    m->date.date.year, m->date.date.month,
				    m->date.date.day, m->date.hour,
				    m->date.min, m->date.sec, m->date.zone));
			OK(buf_printf(o, " lit%u%s%s size=%llu",
			    m->literal_index, m->is_binary ? " bin" : "",
			    m->is_streamed ? " streamed" : "",
			    (unsigned long long)m->size));
			if (!m->is_streamed)
				out_str(o, "data", m->data);
		}
		break;
	case IMAP_CMD_EXPUNGE:
		if (c->is_uid)
			out_set(o, "set", &c->u.expunge.set);
		break;
	case IMAP_CMD_SEARCH:
	case IMAP_CMD_SORT:
	case IMAP_CMD_THREAD:
		if (c->u.search.has_return)
			OK(buf_printf(o, " return=%x",
			    c->u.search.ret_flags));
		for (i = 0; i < c->u.search.ncrit; i++)
			OK(buf_printf(o, " sort=%s%d",
			    c->u.search.crit[i].is_reverse ? "-" : "",
			    c->u.search.crit[i].key));
		if (c->u.search.algorithm.len > 0)
			out_str(o, "alg", c->u.search.algorithm);
		if (c->u.search.charset.len > 0)
			out_str(o, "charset", c->u.search.charset);
		OK(buf_append_str(o, " "));
		out_key(o, c->u.search.key);
		break;
	case IMAP_CMD_FETCH:
		out_set(o, "set", &c->u.fetch.set);
		for (i = 0; i < c->u.fetch.count; i++)
			out_att(o, &c->u.fetch.atts[i]);
		if (c->u.fetch.has_changedsince)
			OK(buf_printf(o, " changedsince=%llu",
			    (unsigned long long)c->u.fetch.changedsince));
		if (c->u.fetch.vanished)
			OK(buf_append_str(o, " vanished"));
		break;
	case IMAP_CMD_STORE:
		out_set(o, "set", &c->u.store.set);
		if (c->u.store.has_unchangedsince)
			OK(buf_printf(o, " unchangedsince=%llu",
			    (unsigned long long)c->u.store.unchangedsince));
		OK(buf_printf(o, " mode=%d%s", c->u.store.mode,
		    c->u.store.silent ? " silent" : ""));
		out_flags(o, "flags", &c->u.store.flags);
		break;
	case IMAP_CMD_COPY:
	case IMAP_CMD_MOVE:
		out_set(o, "set", &c->u.copy.set);
		out_mbox(o, "mbox", &c->u.copy.mbox);
		break;
	case IMAP_CMD_ID:
		if (c->u.id.is_nil)
			OK(buf_append_str(o, " nil"));
		for (i = 0; i < c->u.id.count; i++) {
			out_str(o, "k", c->u.id.params[i].key);
			if (c->u.id.params[i].value.is_nil)
				OK(buf_append_str(o, " v=NIL"));
			else
				out_str(o, "v", c->u.id.params[i].value.s);
		}
		break;
	case IMAP_CMD_COMPRESS:
		out_str(o, "mech", c->u.compress);
		break;
	case IMAP_CMD_GETQUOTA:
	case IMAP_CMD_SETQUOTA:
		out_str(o, "root", c->u.quota.root);
		for (i = 0; i < c->u.quota.count; i++) {
			out_str(o, "res", c->u.quota.res[i].name);
			OK(buf_printf(o, "=%llu",
			    (unsigned long long)c->u.quota.res[i].limit));
		}
		break;
	default:
		break;
	}
}

static struct arena *test_arena;
static char result[65536];
static struct imap_parse_options popt;

/* parse - parse text (all literals inline) into result: dump or ERR:why */
static const char *
parse_text(const void *p, size_t n)
{
	struct imap_command_text in = { span_make(p, n), NULL, 0 };
	struct imap_command *cmd;
	const char *err = NULL;
	struct span tag;
	struct buf o;

	if (test_arena == NULL)
		test_arena = arena_new("test", 65536, 64u * 1024 * 1024);
	arena_reset(test_arena);
	buf_init(&o, sizeof(result) - 1);
	if (imap_parse_command(test_arena, &in, &popt, &cmd, &tag,
	    &err) != 0) {
		OK(buf_printf(&o, "ERR:%s", err));
	} else {
		dump(&o, cmd);
	}
	memcpy(result, buf_cstr(&o), o.len + 1);
	buf_fini(&o);
	return result;
}

static const char *
parse(const char *s)
{
	return parse_text(s, strlen(s));
}

#define P(in, want) CHECK_STR(parse(in), want)
/* with NUL bytes */
#define PN(in, want) CHECK_STR(parse_text(in, sizeof(in) - 1), want)

/* ---- parser tests ---- */

static void
test_simple_commands(void)
{
	P("a1 CAPABILITY\r\n", "a1 1");
	P("a2 noop\r\n", "a2 2");
	P("a3 LOGOUT\r\n", "a3 3");
	P("a STARTTLS\r\n", "a 4");
	P("a IDLE\r\n", "a 20");
	P("a CHECK\r\n", "a 21");
	P("a CLOSE\r\n", "a 22");
	P("a UNSELECT\r\n", "a 23");
	P("a EXPUNGE\r\n", "a 24");
	P("a NAMESPACE\r\n", "a 17");
	P("a NOOP x\r\n", "ERR:unexpected arguments");
	P("a NOOPS\r\n", "ERR:unknown command");
	P("a FOO\r\n", "ERR:unknown command");
	P("a UID NOOP\r\n", "ERR:command cannot follow UID");
	P("a NOOP\n", "ERR:command must end with CRLF");
	P("a NOOP \r\n", "ERR:unexpected arguments");
	P(" NOOP\r\n", "ERR:invalid tag");
	P("a+b NOOP\r\n", "ERR:invalid tag");
	P("a*b NOOP\r\n", "ERR:invalid tag");
	P("\r\n", "ERR:invalid tag");
	P("", "ERR:invalid tag");
	P("a\r\n", "ERR:invalid tag");
	P("a \r\n", "ERR:unknown command");
	P("a.b]c NOOP\r\n", "a.b]c 2");
}

static void
test_login_auth(void)
{
	P("a LOGIN joe secret\r\n", "a 6 user=joe pass=secret");
	P("a LOGIN \"j\\\"o\\\\e\" \"\"\r\n", "a 6 user=j\"o\\e pass=");
	P("a LOGIN {3}\r\njoe {6+}\r\nsecret\r\n",
	    "a 6 user=joe pass=secret");
	P("a LOGIN joe\r\n", "ERR:expected a space");
	P("a LOGIN joe \"sec\r\n", "ERR:invalid character in quoted string");
	P("a LOGIN joe \"a\\b\"\r\n", "ERR:invalid quoted escape");
	P("a LOGIN joe {9}\r\nsecret\r\n",
	    "ERR:literal longer than the command");
	PN("a LOGIN joe {2}\r\na\0\r\n", "ERR:NUL in a literal (use literal8)");
	P("a LOGIN joe ~{2}\r\nab\r\n",
	    "ERR:unexpected characters after the command");
	P("a APPEND INBOX (~{2}\r\nab) {1}\r\nx\r\n",
	    "ERR:expected a space");
	P("a SEARCH SUBJECT ~{1}\r\nx\r\n", "ERR:expected a space");
	P("a LOGIN joe {2} x\r\n", "ERR:literal must end its line");
	P("a LOGIN joe {99999999999}\r\n", "ERR:number out of range");
	P("a AUTHENTICATE PLAIN\r\n", "a 5 mech=PLAIN");
	P("a AUTHENTICATE PLAIN AGpvZQBzZWNyZXQ=\r\n",
	    "a 5 mech=PLAIN ir=AGpvZQBzZWNyZXQ=");
	P("a AUTHENTICATE PLAIN =\r\n", "a 5 mech=PLAIN ir==");
	P("a AUTHENTICATE PLAIN AGpv*Q==\r\n", "ERR:invalid initial response");
	P("a AUTHENTICATE PLAIN abc\r\n", "ERR:invalid initial response");
	P("a AUTHENTICATE PLAIN a===\r\n", "ERR:invalid initial response");
	P("a AUTHENTICATE\r\n", "ERR:expected a space");
}

static void
test_mailbox_commands(void)
{
	P("a SELECT inbox\r\n", "a 8 mbox=INBOX");
	P("a EXAMINE \"InBoX\"\r\n", "a 9 mbox=INBOX");
	P("a SELECT INBOX.sub\r\n", "a 8 mbox=INBOX.sub");
	P("a SELECT INBOX (CONDSTORE)\r\n", "a 8 mbox=INBOX condstore");
	P("a SELECT INBOX (QRESYNC (67890007 20050715194045000 "
	    "41,43:211,214:541))\r\n",
	    "a 8 mbox=INBOX qresync=67890007/20050715194045000 "
	    "known=41,43:211,214:541 seq= uids=");
	P("a SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 "
	    "(5000,7500,9000,9990:9999 15000,22500,27000,29970,29973)))\r\n",
	    "a 8 mbox=INBOX qresync=67890007/90060115194045000 "
	    "known=1:29997 seq=5000,7500,9000,9990:9999 "
	    "uids=15000,22500,27000,29970,29973");
	P("a SELECT INBOX (QRESYNC (1 2 (1 2)))\r\n",
	    "a 8 mbox=INBOX qresync=1/2 known= seq=1 uids=2");
	P("a SELECT INBOX (QRESYNC (0 2))\r\n",
	    "ERR:zero is not allowed here");
	P("a SELECT INBOX (FOO)\r\n", "ERR:unknown select parameter");
	P("a SELECT INBOX ()\r\n", "ERR:unknown select parameter");
	P("a SELECT\r\n", "ERR:expected a space");
	P("a CREATE Drafts2 (USE (\\Drafts))\r\n",
	    "a 10 mbox=Drafts2 use=(\\Drafts)");
	P("a CREATE x (FOO (\\Drafts))\r\n", "ERR:unknown create parameter");
	P("a DELETE foo\r\n", "a 11 mbox=foo");
	P("a RENAME a b\r\n", "a 12 from=a to=b");
	P("a SUBSCRIBE a\r\n", "a 13 mbox=a");
	P("a UNSUBSCRIBE a\r\n", "a 14 mbox=a");
	P("a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE "
	    "RECENT HIGHESTMODSEQ APPENDLIMIT)\r\n",
	    "a 18 mbox=INBOX items=1ff");
	P("a STATUS INBOX (messages)\r\n", "a 18 mbox=INBOX items=1");
	P("a STATUS INBOX ()\r\n", "ERR:unknown status item");
	P("a STATUS INBOX (FOO)\r\n", "ERR:unknown status item");
	P("a STATUS INBOX MESSAGES\r\n", "ERR:expected status items");
	P("a GETQUOTAROOT INBOX\r\n", "a 35 mbox=INBOX");
	P("a GETQUOTA \"\"\r\n", "a 34 root=");
	P("a SETQUOTA \"\" (STORAGE 512 MESSAGE 1000)\r\n",
	    "a 36 root= res=STORAGE=512 res=MESSAGE=1000");
	P("a SETQUOTA \"\" ()\r\n", "a 36 root=");
	P("a SETQUOTA \"\" (STORAGE)\r\n", "ERR:expected a space");
	/* mUTF-7 names become UTF-8; UTF-8 mode takes them as they are */
	P("a CREATE &ZeVnLIqe-\r\n", "a 10 mbox=\\xe6\\x97\\xa5\\xe6\\x9c"
	    "\\xac\\xe8\\xaa\\x9e");
	P("a CREATE &-x\r\n", "a 10 mbox=&x");
	P("a CREATE &ZeVnLIqe\r\n", "ERR:mailbox name is not valid mUTF-7");
	P("a CREATE \"\xe6\x97\xa5\"\r\n",
	    "ERR:mailbox name is not valid mUTF-7");
	popt.utf8 = true;
	P("a CREATE \"\xe6\x97\xa5\"\r\n", "a 10 mbox=\\xe6\\x97\\xa5");
	P("a CREATE \"\xe6\x97\"\r\n", "ERR:mailbox name is not UTF-8");
	P("a CREATE &ZeVnLIqe-\r\n", "a 10 mbox=&ZeVnLIqe-");
	popt.utf8 = false;
	P("a CREATE {3}\r\na\tb\r\n", "ERR:control character in mailbox name");
}

static void
test_list(void)
{
	P("a LIST \"\" *\r\n",
	    "a 15 ext=0 sel=0 ret=0 status=0 ref= pat=*");
	P("a LIST \"\" %\r\n",
	    "a 15 ext=0 sel=0 ret=0 status=0 ref= pat=%");
	P("a LIST foo/ \"b%r\"\r\n",
	    "a 15 ext=0 sel=0 ret=0 status=0 ref=foo/ pat=b%r");
	P("a LSUB \"\" INBOX*\r\n",
	    "a 16 ext=0 sel=0 ret=0 status=0 ref= pat=INBOX*");
	P("a LIST (SUBSCRIBED REMOTE) \"\" (INBOX Sent%)\r\n",
	    "a 15 ext=1 sel=3 ret=0 status=0 ref= pat=INBOX pat=Sent%");
	P("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n",
	    "a 15 ext=1 sel=5 ret=0 status=0 ref= pat=%");
	P("a LIST (RECURSIVEMATCH) \"\" %\r\n",
	    "ERR:RECURSIVEMATCH needs another option");
	P("a LIST (FOO) \"\" %\r\n", "ERR:unknown list selection option");
	P("a LIST () \"\" %\r\n", "a 15 ext=1 sel=0 ret=0 status=0 ref= pat=%");
	P("a LIST \"\" % RETURN (CHILDREN SPECIAL-USE SUBSCRIBED STATUS "
	    "(MESSAGES UNSEEN))\r\n",
	    "a 15 ext=1 sel=0 ret=f status=9 ref= pat=%");
	P("a LIST (SPECIAL-USE) \"\" * RETURN ()\r\n",
	    "a 15 ext=1 sel=8 ret=0 status=0 ref= pat=*");
	P("a LIST \"\" % RETURN (FOO)\r\n", "ERR:unknown list return option");
	P("a LIST \"\" % FOO\r\n", "ERR:expected RETURN");
	P("a LSUB (SUBSCRIBED) \"\" %\r\n", "ERR:expected a string");
	P("a LIST \"\" (a b\r\n", "ERR:expected a space");
	P("a LIST \"\" &Jjo-\r\n",
	    "a 15 ext=0 sel=0 ret=0 status=0 ref= pat=\\xe2\\x98\\xba");
}

static void
test_append(void)
{
	P("a APPEND INBOX {5}\r\nhello\r\n",
	    "a 19 mbox=INBOX n=1 flags=() lit0 size=5 data=hello");
	P("a APPEND INBOX (\\Seen $Junk) \" 7-Feb-1994 21:52:25 -0800\" "
	    "{3+}\r\nabc\r\n",
	    "a 19 mbox=INBOX n=1 flags=(\\Seen $Junk) "
	    "date=1994-02-07T21:52:25-480 lit0 size=3 data=abc");
	PN("a APPEND INBOX \"29-Feb-2024 00:00:00 +0130\" ~{3}\r\na\0c\r\n",
	    "a 19 mbox=INBOX n=1 flags=() date=2024-02-29T00:00:00+90 "
	    "lit0 bin size=3 data=a\\x00c");
	/* MULTIAPPEND (RFC 3502) */
	P("a APPEND Sent (\\Seen) {1}\r\nx (\\Draft) {2}\r\nyz {0}\r\n\r\n",
	    "a 19 mbox=Sent n=3 flags=(\\Seen) lit0 size=1 data=x "
	    "flags=(\\Draft) lit1 size=2 data=yz flags=() lit2 size=0 data=");
	/* UTF8 (RFC 6855) */
	P("a APPEND INBOX UTF8 (~{2}\r\nhi)\r\n",
	    "a 19 mbox=INBOX n=1 flags=() lit0 bin size=2 data=hi");
	P("a APPEND INBOX\r\n", "ERR:expected a space");
	P("a APPEND INBOX (\\Seen)\r\n", "ERR:expected a space");
	P("a APPEND INBOX hello\r\n", "ERR:expected a literal");
	P("a APPEND INBOX \"30-Feb-2024 00:00:00 +0000\" {1}\r\nx\r\n",
	    "ERR:invalid date-time");
	P("a APPEND INBOX \"01-Feb-2024 24:00:00 +0000\" {1}\r\nx\r\n",
	    "ERR:invalid date-time");
	P("a APPEND INBOX \"01-Foo-2024 00:00:00 +0000\" {1}\r\nx\r\n",
	    "ERR:invalid month");
	P("a APPEND INBOX \"1-Feb-2024 00:00:00 +0000\" {1}\r\nx\r\n",
	    "ERR:invalid date");
	P("a APPEND INBOX \"01-Feb-2024 00:00:00 0000\" {1}\r\nx\r\n",
	    "ERR:invalid date-time zone");
	P("a APPEND INBOX (\\*) {1}\r\nx\r\n", "ERR:\\* is not a flag");
	P("a APPEND INBOX {1}\r\nx junk\r\n", "ERR:expected a literal");
}

static void
test_fetch(void)
{
	P("a FETCH 1:* ALL\r\n", "a 26 set=1:0 FLAGS INTERNALDATE "
	    "RFC822.SIZE ENVELOPE");
	P("a FETCH 1 FAST\r\n", "a 26 set=1 FLAGS INTERNALDATE RFC822.SIZE");
	P("a FETCH 1 full\r\n", "a 26 set=1 FLAGS INTERNALDATE RFC822.SIZE "
	    "ENVELOPE BODY");
	P("a FETCH 5:2,7,*:3 FLAGS\r\n", "a 26 set=2:5,7,0:3 FLAGS");
	P("a FETCH $ UID\r\n", "a 26 set=$ UID");
	P("a UID FETCH 1:* (FLAGS UID MODSEQ BODYSTRUCTURE ENVELOPE "
	    "INTERNALDATE RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE "
	    "BODY)\r\n",
	    "a 26 uid set=1:0 FLAGS UID MODSEQ BODYSTRUCTURE ENVELOPE "
	    "INTERNALDATE RFC822 RFC822.HEADER RFC822.TEXT RFC822.SIZE BODY");
	P("a FETCH 1 (BODY[] BODY.PEEK[1.2.3] BODY[HEADER] BODY[TEXT]<0.100>"
	    " BODY[1.MIME] BODY[2.HEADER.FIELDS (From \"To\")] "
	    "BODY.PEEK[HEADER.FIELDS.NOT (Received)])\r\n",
	    "a 26 set=1 BODY[]{|} BODY[].PEEK{1.2.3|} BODY[]{|HEADER} "
	    "BODY[]{|TEXT}<0.100> BODY[]{1|MIME} "
	    "BODY[]{2|HEADER.FIELDS:From,To} "
	    "BODY[].PEEK{|HEADER.FIELDS.NOT:Received}");
	P("a FETCH 1 (BINARY[1] BINARY.PEEK[]<5.10> BINARY.SIZE[2.1])\r\n",
	    "a 26 set=1 BINARY[]{1|} BINARY[].PEEK{|}<5.10> "
	    "BINARY.SIZE[]{2.1|}");
	P("a UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n",
	    "a 26 uid set=1:0 FLAGS changedsince=12345 vanished");
	P("a FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n",
	    "a 26 set=1:0 FLAGS changedsince=12345");
	P("a FETCH 1 (FLAGS) (VANISHED)\r\n",
	    "ERR:VANISHED needs UID FETCH and CHANGEDSINCE");
	P("a UID FETCH 1 FLAGS (VANISHED)\r\n",
	    "ERR:VANISHED needs UID FETCH and CHANGEDSINCE");
	P("a FETCH 1 FLAGS (FOO 1)\r\n", "ERR:unknown fetch modifier");
	P("a FETCH 1 BODY[MIME]\r\n", "ERR:invalid section");
	P("a FETCH 1 BODY[1.]\r\n", "ERR:invalid section");
	P("a FETCH 1 BODY[0]\r\n", "ERR:zero is not allowed here");
	P("a FETCH 1 BODY[1.TEXT\r\n", "ERR:invalid section");
	P("a FETCH 1 BODY[HEADER.FIELDS ()]\r\n", "ERR:expected a string");
	P("a FETCH 1 BODY[HEADER.FIELDS]\r\n", "ERR:expected a space");
	P("a FETCH 1 BODY.PEEK\r\n", "ERR:BODY.PEEK needs a section");
	P("a FETCH 1 BINARY[TEXT]\r\n", "ERR:invalid section");
	P("a FETCH 1 BINARY.SIZE[1]<0.1>\r\n", "ERR:expected a space");
	P("a FETCH 1 BODY[]<0.0>\r\n", "ERR:zero is not allowed here");
	P("a FETCH 1 BODY[]<1>\r\n", "ERR:invalid partial");
	P("a FETCH 1 BODY[]<4294967296.9223372036854775807>\r\n",
	    "a 26 set=1 BODY[]{|}<4294967296.9223372036854775807>");
	P("a FETCH 1 BODY[]<0.9223372036854775808>\r\n",
	    "ERR:number out of range");
	P("a SEARCH LARGER 9223372036854775807\r\n",
	    "a 25 AND(LARGER:9223372036854775807)");
	P("a SEARCH LARGER 9223372036854775808\r\n",
	    "ERR:number out of range");
	P("a FETCH 1 FOO\r\n", "ERR:unknown fetch attribute");
	P("a FETCH 1 (FLAGS\r\n", "ERR:expected a space");
	P("a FETCH 1 ()\r\n", "ERR:unknown fetch attribute");
	P("a FETCH 0 FLAGS\r\n", "ERR:zero is not allowed here");
	P("a FETCH 1, FLAGS\r\n", "ERR:expected a number");
	P("a FETCH 4294967296 FLAGS\r\n", "ERR:number out of range");
	P("a FETCH 4294967295 FLAGS\r\n", "a 26 set=4294967295 FLAGS");
	P("a FETCH 1:2:3 FLAGS\r\n", "ERR:expected a space");
}

static void
test_store_copy(void)
{
	P("a STORE 1:3 +FLAGS (\\Deleted)\r\n",
	    "a 27 set=1:3 mode=2 flags=(\\Deleted)");
	P("a STORE 1 -FLAGS.SILENT (\\Seen $Foo)\r\n",
	    "a 27 set=1 mode=3 silent flags=(\\Seen $Foo)");
	P("a STORE 1 FLAGS ()\r\n", "a 27 set=1 mode=1 flags=()");
	P("a STORE 1 +FLAGS \\Seen \\Flagged\r\n",
	    "a 27 set=1 mode=2 flags=(\\Seen \\Flagged)");
	P("a UID STORE 1 (UNCHANGEDSINCE 320162338) +FLAGS.SILENT "
	    "(\\Deleted)\r\n",
	    "a 27 uid set=1 unchangedsince=320162338 mode=2 silent "
	    "flags=(\\Deleted)");
	P("a STORE 1 (UNCHANGEDSINCE 9223372036854775808) FLAGS ()\r\n",
	    "ERR:number out of range");
	P("a STORE 1 (FOO 1) FLAGS ()\r\n", "ERR:unknown store modifier");
	P("a STORE 1 +LABELS (x)\r\n", "ERR:expected FLAGS");
	P("a STORE 1 +FLAGS (\\Seen\r\n", "ERR:expected a space");
	P("a STORE 1 +FLAGS (\\*)\r\n", "ERR:\\* is not a flag");
	P("a STORE 1 +FLAGS (a(b)\r\n", "ERR:expected a space");
	P("a COPY 1:2 Trash\r\n", "a 28 set=1:2 mbox=Trash");
	P("a UID MOVE 3,5 \"Sent Items\"\r\n",
	    "a 29 uid set=3,5 mbox=Sent Items");
	P("a UID EXPUNGE 3:5\r\n", "a 24 uid set=3:5");
	P("a UID EXPUNGE\r\n", "ERR:expected a space");
	P("a EXPUNGE 1\r\n", "ERR:unexpected characters after the command");
}

static void
test_search(void)
{
	P("a SEARCH ALL\r\n", "a 25 AND(ALL)");
	P("a UID SEARCH 1:* UNSEEN\r\n", "a 25 uid AND(SET1:0 UNSEEN)");
	P("a SEARCH CHARSET UTF-8 SUBJECT \"caf\xc3\xa9\"\r\n",
	    "a 25 charset=UTF-8 AND(SUBJECT:caf\\xc3\\xa9)");
	P("a SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n",
	    "a 25 AND(FLAGGED SINCE:1994-02-01 NOT(FROM:Smith))");
	P("a SEARCH OR (SEEN DELETED) OR ANSWERED DRAFT\r\n",
	    "a 25 AND(OR(AND(SEEN DELETED) OR(ANSWERED DRAFT)))");
	P("a SEARCH HEADER Message-ID \"<x@y>\" LARGER 100 SMALLER 2000\r\n",
	    "a 25 AND(HEADER:Message-ID/<x@y> LARGER:100 SMALLER:2000)");
	P("a SEARCH BEFORE \"01-Jan-2000\" ON 2-Mar-2001 SENTBEFORE 1-Jan-2000 "
	    "SENTON 1-Jan-2000 SENTSINCE 1-Jan-2000\r\n",
	    "a 25 AND(BEFORE:2000-01-01 ON:2001-03-02 SENTBEFORE:2000-01-01 "
	    "SENTON:2000-01-01 SENTSINCE:2000-01-01)");
	P("a SEARCH BCC a BODY b CC c TEXT d TO e KEYWORD $Junk "
	    "UNKEYWORD foo\r\n",
	    "a 25 AND(BCC:a BODY:b CC:c TEXT:d TO:e KEYWORD:$Junk "
	    "UNKEYWORD:foo)");
	P("a SEARCH ANSWERED DELETED DRAFT FLAGGED SEEN RECENT NEW OLD "
	    "UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN\r\n",
	    "a 25 AND(ANSWERED DELETED DRAFT FLAGGED SEEN RECENT NEW OLD "
	    "UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNSEEN)");
	P("a SEARCH UID 1:100 $\r\n", "a 25 AND(UID1:100 SET$)");
	P("a SEARCH KEYWORD \\Seen\r\n", "ERR:expected an atom");
	P("a SEARCH MODSEQ 620162338\r\n", "a 25 AND(MODSEQ:620162338)");
	P("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n",
	    "a 25 AND(MODSEQ:/flags/\\draft/all:620162338)");
	P("a SEARCH MODSEQ \"/flags/x\" mine 1\r\n",
	    "ERR:invalid MODSEQ entry type");
	P("a SEARCH RETURN (MIN MAX COUNT ALL SAVE) UNSEEN\r\n",
	    "a 25 return=1f AND(UNSEEN)");
	P("a SEARCH RETURN () UNSEEN\r\n", "a 25 return=0 AND(UNSEEN)");
	P("a SEARCH RETURN (FOO) UNSEEN\r\n",
	    "ERR:unknown search return option");
	P("a SEARCH SUBJECT {3}\r\nabc SEEN\r\n", "a 25 AND(SUBJECT:abc SEEN)");
	P("a SEARCH\r\n", "ERR:expected a space");
	P("a SEARCH \r\n", "ERR:expected a search key");
	P("a SEARCH FOO\r\n", "ERR:unknown search key");
	P("a SEARCH SINCE 32-Jan-2000\r\n", "ERR:invalid date");
	P("a SEARCH SINCE 29-Feb-2023\r\n", "ERR:invalid date");
	P("a SEARCH SINCE 29-Feb-2000\r\n", "a 25 AND(SINCE:2000-02-29)");
	P("a SEARCH OR SEEN\r\n", "ERR:expected a space");
	P("a SEARCH (SEEN\r\n", "ERR:expected a space");
	P("a SEARCH ()\r\n", "ERR:expected a search key");
	P("a SEARCH SEEN)\r\n", "ERR:expected a space");
	P("a SEARCH LARGER x\r\n", "ERR:expected a number");
	P("a SORT (REVERSE DATE SUBJECT) UTF-8 ALL\r\n",
	    "a 30 sort=-3 sort=6 charset=UTF-8 AND(ALL)");
	P("a UID SORT (ARRIVAL CC FROM SIZE TO DISPLAYFROM DISPLAYTO) "
	    "US-ASCII SEEN\r\n",
	    "a 30 uid sort=1 sort=2 sort=4 sort=5 sort=7 sort=8 sort=9 "
	    "charset=US-ASCII AND(SEEN)");
	P("a SORT (FOO) UTF-8 ALL\r\n", "ERR:unknown sort criterion");
	P("a SORT (DATE) ALL\r\n", "ERR:expected a space");
	P("a THREAD REFERENCES UTF-8 ALL\r\n",
	    "a 31 alg=REFERENCES charset=UTF-8 AND(ALL)");
	P("a UID THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000\r\n",
	    "a 31 uid alg=ORDEREDSUBJECT charset=UTF-8 AND(SINCE:2000-03-05)");
}

static void
test_misc_commands(void)
{
	P("a ENABLE CONDSTORE QRESYNC UTF8=ACCEPT\r\n",
	    "a 7 cap=CONDSTORE cap=QRESYNC cap=UTF8=ACCEPT");
	P("a ENABLE\r\n", "ERR:expected a space");
	P("a ID NIL\r\n", "a 32 nil");
	P("a ID (\"name\" \"mutt\" \"version\" NIL)\r\n",
	    "a 32 k=name v=mutt k=version v=NIL");
	P("a ID ()\r\n", "a 32");
	P("a ID (\"name\")\r\n", "ERR:expected a space");
	P("a ID foo\r\n", "ERR:expected a string");
	P("a ID \"x\"\r\n", "ERR:expected ( or NIL");
	P("a COMPRESS DEFLATE\r\n", "a 33 mech=DEFLATE");
	P("a COMPRESS\r\n", "ERR:expected a space");
}

/* every limit on counts and depth, at -1, = and +1 */
static void
test_nesting_and_items(void)
{
	char line[8192];
	size_t n;
	unsigned i;

	/* depth: NOT nests one level per key; the top key counts too */
	for (unsigned depth = IMAP_MAX_NESTING - 1;
	    depth <= IMAP_MAX_NESTING + 1; depth++) {
		n = (size_t)snprintf(line, sizeof(line), "a SEARCH ");
		for (i = 1; i < depth; i++)
			n += (size_t)snprintf(line + n, sizeof(line) - n,
			    "NOT ");
		n += (size_t)snprintf(line + n, sizeof(line) - n, "SEEN\r\n");
		if (depth <= IMAP_MAX_NESTING)
			CHECK(strncmp(parse(line), "a 25 AND(NOT", 12) == 0);
		else
			CHECK_STR(parse(line), "ERR:nesting too deep");
	}
	/* parentheses */
	n = (size_t)snprintf(line, sizeof(line), "a SEARCH ");
	for (i = 0; i < 100; i++)
		line[n++] = '(';
	n += (size_t)snprintf(line + n, sizeof(line) - n, "SEEN");
	for (i = 0; i < 100; i++)
		line[n++] = ')';
	memcpy(line + n, "\r\n", 3);
	CHECK_STR(parse(line), "ERR:nesting too deep");
	/* OR chains */
	n = (size_t)snprintf(line, sizeof(line), "a SEARCH ");
	for (i = 0; i < 1000; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "OR ");
	n += (size_t)snprintf(line + n, sizeof(line) - n, "\r\n");
	CHECK_STR(parse(line), "ERR:nesting too deep");

	/* items: a sequence set of max_items ranges and one more */
	popt.max_items = 10;
	for (unsigned count = 9; count <= 11; count++) {
		n = (size_t)snprintf(line, sizeof(line), "a FETCH ");
		for (i = 0; i < count; i++)
			n += (size_t)snprintf(line + n, sizeof(line) - n,
			    "%s%u", i > 0 ? "," : "", i + 1);
		n += (size_t)snprintf(line + n, sizeof(line) - n,
		    " FLAGS\r\n");
		if (count <= 10)
			CHECK(strncmp(parse(line), "a 26 set=1,2", 12) == 0);
		else
			CHECK_STR(parse(line), "ERR:too many items");
	}
	/* search keys: 9 keys + the root AND = 10 */
	CHECK_STR(parse("a SEARCH 1 2 3 4 5 6 7 8 9\r\n"),
	    "a 25 AND(SET1 SET2 SET3 SET4 SET5 SET6 SET7 SET8 SET9)");
	CHECK_STR(parse("a SEARCH 1 2 3 4 5 6 7 8 9 10\r\n"),
	    "ERR:too many search keys");
	CHECK_STR(parse("a STORE 1 FLAGS (a b c d e f g h i j)\r\n"),
	    "a 27 set=1 mode=1 flags=(a b c d e f g h i j)");
	CHECK_STR(parse("a STORE 1 FLAGS (a b c d e f g h i j k)\r\n"),
	    "ERR:too many items");
	popt.max_items = 0;
	/* memory: a tiny budget turns into an error, not an abort */
	popt.max_memory = 256;
	CHECK_STR(parse("a SEARCH SUBJECT \"0123456789012345678901234567890"
	    "1234567890123456789012345678901234567890123456789012345678901234"
	    "5678901234567890123456789012345678901234567890123456789\"\r\n"),
	    "ERR:command too complex");
	popt.max_memory = 0;
	/* ID: 30 pairs */
	n = (size_t)snprintf(line, sizeof(line), "a ID (");
	for (i = 0; i < 31; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n,
		    "%s\"k%u\" NIL", i > 0 ? " " : "", i);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ")\r\n");
	CHECK_STR(parse(line), "ERR:too many ID fields");
	/* mailbox name: STORE_MAX_MAILBOX_NAME bytes and one more */
	for (unsigned len = STORE_MAX_MAILBOX_NAME;
	    len <= STORE_MAX_MAILBOX_NAME + 1; len++) {
		n = (size_t)snprintf(line, sizeof(line), "a CREATE ");
		memset(line + n, 'x', len);
		memcpy(line + n + len, "\r\n", 3);
		if (len <= STORE_MAX_MAILBOX_NAME)
			CHECK(strncmp(parse(line), "a 10 mbox=xxx", 13) == 0);
		else
			CHECK_STR(parse(line), "ERR:mailbox name too long");
	}
}

/* ---- mUTF-7 ---- */

static const char *
m2u(const char *in)
{
	struct buf b;

	buf_init(&b, 4096);
	if (imap_mutf7_to_utf8(span_from_str(in), &b) != 0)
		snprintf(result, sizeof(result), "ERR");
	else
		snprintf(result, sizeof(result), "%s", buf_cstr(&b));
	buf_fini(&b);
	return result;
}

static const char *
u2m(const char *in)
{
	struct buf b;

	buf_init(&b, 4096);
	if (imap_utf8_to_mutf7(span_from_str(in), &b) != 0)
		snprintf(result, sizeof(result), "ERR");
	else
		snprintf(result, sizeof(result), "%s", buf_cstr(&b));
	buf_fini(&b);
	return result;
}

static void
test_mutf7(void)
{
	static const struct {
		const char	*utf8, *mutf7;
	} rt[] = {
		{ "", "" },
		{ "INBOX", "INBOX" },
		{ "a&b", "a&-b" },
		{ "&", "&-" },
		{ "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "&ZeVnLIqe-" },
		{ "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
		  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		  "~peter/mail/&U,BTFw-/&ZeVnLIqe-" },
		{ "Entw\xc3\xbcrfe", "Entw&APw-rfe" },
		{ "\xc3\xa9", "&AOk-" },
		{ "\xc3\xa9\xc3\xa9", "&AOkA6Q-" },
		{ "\xc3\xa9\xc3\xa9\xc3\xa9", "&AOkA6QDp-" },
		{ "\xf0\x9f\x98\x80", "&2D3eAA-" },		/* U+1F600 */
		{ "x\xf0\x9f\x98\x80y\xe2\x98\xba", "x&2D3eAA-y&Jjo-" },
		{ "\x01", "&AAE-" },
		{ "\x7f", "&AH8-" },
	};
	static const char *const bad7[] = {
		"&", "&ZeVnLIqe", "&Zm9v", "&AGE-", /* 'a' encoded */
		"&AOk-&AOk-", /* two adjacent shifts */
		"&2D0-", /* lone high surrogate */
		"&3gA-", /* lone low surrogate */
		"&AO-", /* 12 bits left: not whole */
		"&AOl-", /* non-zero padding bits */
		"&A/k-", /* '/' is not modified base64 */
		"\x80", "a\tb", "&AOk=-",
	};
	static const char *const bad8[] = {
		"\x80", "\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
		"\xe0\x80\xaf", "\xff",
	};
	size_t i;

	for (i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
		CHECK_STR(u2m(rt[i].utf8), rt[i].mutf7);
		CHECK_STR(m2u(rt[i].mutf7), rt[i].utf8);
	}
	for (i = 0; i < sizeof(bad7) / sizeof(bad7[0]); i++)
		if (!CHECK_STR(m2u(bad7[i]), "ERR"))
			fprintf(stderr, "  bad7[%zu]\n", i);
	for (i = 0; i < sizeof(bad8) / sizeof(bad8[0]); i++) {
		CHECK_STR(u2m(bad8[i]), "ERR");
		CHECK(!imap_utf8_valid(span_from_str(bad8[i])));
	}
	CHECK(imap_utf8_valid(span_from_str("\xf4\x8f\xbf\xbf")));
	/* a full output buffer is an error, not a truncation */
	{
		struct buf b;

		buf_init(&b, 4);
		CHECK_INT(imap_utf8_to_mutf7(span_from_str("\xc3\xa9\xc3\xa9"),
		    &b), -1);
		buf_fini(&b);
	}
}

/* ---- reader ---- */

/* run - feed input in pieces; record events as text in out */
enum split_mode { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_AT };

static void
record(struct buf *o, const struct imap_reader_event *ev, bool *in_data)
{
	struct imap_command *cmd;
	const char *err;
	struct span tag;

	if (ev->type != IMAP_READER_LITERAL_DATA && *in_data) {
		OK(buf_append_str(o, "]"));
		*in_data = false;
	}
	switch (ev->type) {
	case IMAP_READER_COMMAND:
		OK(buf_append_str(o, "CMD<"));
		out_span(o, ev->cmd.text);
		OK(buf_printf(o, ">%u", ev->cmd.nlits));
		arena_reset(test_arena);
		if (imap_parse_command(test_arena, &ev->cmd, &popt, &cmd, &tag,
		    &err) == 0) {
			OK(buf_append_str(o, "="));
			dump(o, cmd);
		} else {
			OK(buf_printf(o, "=ERR:%s", err));
		}
		OK(buf_append_str(o, "\n"));
		break;
	case IMAP_READER_CONTINUE:
		OK(buf_printf(o, "+%llu\n", (unsigned long long)ev->size));
		break;
	case IMAP_READER_LITERAL_BEGIN:
		OK(buf_printf(o, "BEGIN%u:%llu<", ev->literal_index,
		    (unsigned long long)ev->size));
		out_span(o, ev->cmd.text);
		OK(buf_append_str(o, ">\n"));
		break;
	case IMAP_READER_LITERAL_DATA:
		if (!*in_data)
			OK(buf_append_str(o, "DATA["));
		*in_data = true;
		out_span(o, ev->data);
		break;
	case IMAP_READER_LITERAL_END:
		OK(buf_printf(o, "END%u\n", ev->literal_index));
		break;
	case IMAP_READER_ERROR:
		OK(buf_printf(o, "ERR%d:", ev->reply));
		out_span(o, ev->tag);
		OK(buf_printf(o, ":%s\n", ev->reason));
		break;
	}
}

static char *
run(const struct imap_reader_limits *l, const void *input, size_t len,
    enum split_mode mode, size_t at)
{
	struct imap_reader *r = imap_reader_new(l);
	struct imap_reader_event ev;
	const uint8_t *p = input;
	size_t off = 0, used, piece_end;
	bool in_data = false;
	struct buf o;
	char *s;

	if (test_arena == NULL)
		test_arena = arena_new("test", 65536, 64u * 1024 * 1024);
	buf_init(&o, 1u << 24);
	while (off < len) {
		if (mode == SPLIT_WHOLE)
			piece_end = len;
		else if (mode == SPLIT_BYTES)
			piece_end = off + 1;
		else
			piece_end = off < at ? at : len;
		while (off < piece_end) {
			int ret = imap_reader_input(r, p + off,
			    piece_end - off, &used, &ev);

			CHECK(used <= piece_end - off);
			off += used;
			if (ret == 1)
				record(&o, &ev, &in_data);
			else
				CHECK(off == piece_end);
		}
	}
	/* pending events without more input */
	while (imap_reader_input(r, p, 0, &used, &ev) == 1)
		record(&o, &ev, &in_data);
	if (in_data)
		OK(buf_append_str(&o, "]"));
	imap_reader_free(&r);
	CHECK(r == NULL);
	s = strdup(buf_cstr(&o));
	buf_fini(&o);
	return s;
}

/* check_reader - every way of splitting input gives want */
static void
check_reader(const struct imap_reader_limits *l, const void *input,
    size_t len, const char *want)
{
	char *got;
	size_t at;

	got = run(l, input, len, SPLIT_WHOLE, 0);
	CHECK_STR(got, want);
	free(got);
	got = run(l, input, len, SPLIT_BYTES, 0);
	CHECK_STR(got, want);
	free(got);
	for (at = 1; at < len; at++) {
		got = run(l, input, len, SPLIT_AT, at);
		if (!CHECK_STR(got, want))
			fprintf(stderr, "  split at %zu\n", at);
		free(got);
	}
}

#define R(l, in, want) check_reader(l, in, sizeof(in) - 1, want)

static struct imap_reader_limits lim;

static void
small_limits(void)
{
	imap_reader_limits_default(&lim, false, false);
	lim.line_max = 40;
	lim.literal_max = 10;
	lim.append_max = 30;
	lim.command_max = 60;
	lim.discard_max = 50;
	lim.literals_max = 3;
}

static void
test_reader_lines(void)
{
	small_limits();
	R(&lim, "a NOOP\r\nb LOGOUT\r\n",
	    "CMD<a NOOP\\x0d\\x0a>0=a 2\n"
	    "CMD<b LOGOUT\\x0d\\x0a>0=b 3\n");
	/* bare LF: BAD, and the next line is read normally */
	R(&lim, "a NOOP\nb NOOP\r\n",
	    "ERR1:a:line must end with CRLF\n"
	    "CMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* a CR alone inside a line stays in it, the parser refuses it */
	R(&lim, "a NO\rOP\r\n",
	    "CMD<a NO\\x0dOP\\x0d\\x0a>0=ERR:unknown command\n");
	/* line_max counts the CRLF: 39 and 40 are fine, 41 is not */
	R(&lim, "a LOGIN aaaaaaaaaaaaaaaa bbbbbbbbbbbb\r\n",
	    "CMD<a LOGIN aaaaaaaaaaaaaaaa bbbbbbbbbbbb\\x0d\\x0a>0=a 6 "
	    "user=aaaaaaaaaaaaaaaa pass=bbbbbbbbbbbb\n");
	R(&lim, "a LOGIN aaaaaaaaaaaaaaaa bbbbbbbbbbbbb\r\nb NOOP\r\n",
	    "CMD<a LOGIN aaaaaaaaaaaaaaaa bbbbbbbbbbbbb\\x0d\\x0a>0=a 6 "
	    "user=aaaaaaaaaaaaaaaa pass=bbbbbbbbbbbbb\n"
	    "CMD<b NOOP\\x0d\\x0a>0=b 2\n");
	R(&lim, "a LOGIN aaaaaaaaaaaaaaaa bbbbbbbbbbbbbb\r\nb NOOP\r\n",
	    "ERR1:a:line too long\n"
	    "CMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* no tag to answer: untagged */
	R(&lim, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"
	    "b NOOP\r\n",
	    "ERR1::line too long\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* a too long line that ends in {n+}: its data is dropped too */
	R(&lim, "a LOGIN aaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbb {5+}\r\n"
	    "x\r\ny\r\nb NOOP\r\n",
	    "ERR1:a:line too long\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* ... but a {n} line waits for "+", which never comes */
	R(&lim, "a LOGIN aaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbb {5}\r\n"
	    "b NOOP\r\n",
	    "ERR1:a:line too long\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* raw lines: a literal header is text */
	{
		struct imap_reader *r = imap_reader_new(&lim);
		struct imap_reader_event ev;
		size_t used;
		const char *in = "abc{5}\r\n";

		imap_reader_expect_raw_line(r);
		CHECK_INT(imap_reader_input(r, (const uint8_t *)in,
		    strlen(in), &used, &ev), 1);
		CHECK_INT(ev.type, IMAP_READER_COMMAND);
		CHECK_INT(ev.cmd.nlits, 0);
		CHECK_INT(used, strlen(in));
		CHECK_INT(imap_reader_input(r, (const uint8_t *)in,
		    strlen(in), &used, &ev), 1);
		CHECK_INT(ev.type, IMAP_READER_CONTINUE);
		CHECK_INT(ev.size, 5);
		imap_reader_free(&r);

		/* IDLE, then DONE read as a raw line, then a command */
		r = imap_reader_new(&lim);
		in = "a IDLE\r\nDONE\r\nb NOOP\r\n";
		CHECK_INT(imap_reader_input(r, (const uint8_t *)in,
		    strlen(in), &used, &ev), 1);
		CHECK_INT(ev.type, IMAP_READER_COMMAND);
		CHECK_MEM(ev.tag.p, ev.tag.len, "a", 1);
		in += used;
		imap_reader_expect_raw_line(r);
		CHECK_INT(imap_reader_input(r, (const uint8_t *)in,
		    strlen(in), &used, &ev), 1);
		CHECK_INT(ev.type, IMAP_READER_COMMAND);
		CHECK_MEM(ev.cmd.text.p, ev.cmd.text.len, "DONE\r\n", 6);
		in += used;
		CHECK_INT(imap_reader_input(r, (const uint8_t *)in,
		    strlen(in), &used, &ev), 1);
		CHECK_INT(ev.type, IMAP_READER_COMMAND);
		CHECK_MEM(ev.cmd.text.p, ev.cmd.text.len, "b NOOP\r\n", 8);
		CHECK_INT(used, strlen(in));
		CHECK_INT(imap_reader_input(r, (const uint8_t *)in + used, 0,
		    &used, &ev), 0);
		imap_reader_free(&r);
	}
}

static void
test_reader_literals(void)
{
	small_limits();
	/* synchronizing: "+" after the header, then the data */
	R(&lim, "a LOGIN {3}\r\njoe {2}\r\npw\r\n",
	    "+3\n+2\n"
	    "CMD<a LOGIN {3}\\x0d\\x0ajoe {2}\\x0d\\x0apw\\x0d\\x0a>2=a 6 "
	    "user=joe pass=pw\n");
	/* non-synchronizing: no "+" */
	R(&lim, "a LOGIN {3+}\r\njoe {0+}\r\n\r\n",
	    "CMD<a LOGIN {3+}\\x0d\\x0ajoe {0+}\\x0d\\x0a\\x0d\\x0a>2=a 6 "
	    "user=joe pass=\n");
	/* CRLF and braces inside literal data are data */
	R(&lim, "a LOGIN {5}\r\n{1}\r\n x\r\n",
	    "+5\nCMD<a LOGIN {5}\\x0d\\x0a{1}\\x0d\\x0a x\\x0d\\x0a>1=a 6 "
	    "user={1}\\x0d\\x0a pass=x\n");
	/* literal_max 10: 10 is fine, 11 refused before reading */
	R(&lim, "a LOGIN {10}\r\n0123456789 x\r\n",
	    "+10\nCMD<a LOGIN {10}\\x0d\\x0a0123456789 x\\x0d\\x0a>1=a 6 "
	    "user=0123456789 pass=x\n");
	R(&lim, "a LOGIN {11}\r\nb NOOP\r\n",
	    "ERR1:a:literal too big\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* a refused {n+} is read and dropped with the rest of its line */
	R(&lim, "a LOGIN {11+}\r\n0123456789a x {2+}\r\nzz\r\nb NOOP\r\n",
	    "ERR1:a:literal too big\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* literals_max 3 */
	R(&lim, "a ID ({1}\r\na {1}\r\nb {1}\r\nc NIL)\r\n",
	    "+1\n+1\n+1\nCMD<a ID ({1}\\x0d\\x0aa {1}\\x0d\\x0ab "
	    "{1}\\x0d\\x0ac NIL)\\x0d\\x0a>3=a 32 k=a v=b k=c v=NIL\n");
	R(&lim, "a ID ({1}\r\na {1}\r\nb {1}\r\nc {1}\r\nb NOOP\r\n",
	    "+1\n+1\n+1\nERR1:a:too many literals\n"
	    "CMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* invalid sizes */
	R(&lim, "a LOGIN {4294967296}\r\nb NOOP\r\n",
	    "ERR1:a:invalid literal size\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	R(&lim, "a LOGIN {99999999999+}\r\nb NOOP\r\n",
	    "ERR3:a:invalid literal size\n");
	/* "{}" is no size: BAD for {n}, BYE for {n+} (how much follows?) */
	R(&lim, "a LOGIN {}\r\nb NOOP\r\n",
	    "ERR1:a:invalid literal size\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	R(&lim, "a LOGIN {+}\r\nb NOOP\r\n",
	    "ERR3:a:invalid literal size\n");
	/* "{x}" is not a literal header: the parser refuses the line */
	R(&lim, "a LOGIN {x}\r\n",
	    "CMD<a LOGIN {x}\\x0d\\x0a>0=ERR:expected a number\n");
	/* a literal in a too long line's tail split over the limit */
	R(&lim, "a LOGIN aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa {10+}\r\n"
	    "0123456789 x\r\nb NOOP\r\n",
	    "ERR1:a:line too long\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* text of all lines counts against line_max */
	R(&lim, "a LOGIN {1}\r\nx aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nb NOOP\r\n",
	    "+1\nERR1:a:line too long\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* command_max 60: text + literal data */
	lim.literal_max = 50;
	R(&lim, "a LOGIN {47}\r\nb NOOP\r\n",
	    "ERR1:a:command too big\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	R(&lim, "a LOGIN {47+}\r\n0123456789012345678901234567890123456789"
	    "0123456\r\nb NOOP\r\n",
	    "ERR1:a:command too big\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	R(&lim, "a LOGIN {46}\r\n0123456789012345678901234567890123456789"
	    "012345 x\r\nb NOOP\r\n",
	    "+46\nERR1:a:command too big\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	R(&lim, "a LOGIN {42}\r\n0123456789012345678901234567890123456789"
	    "01 x\r\n",
	    "+42\nCMD<a LOGIN {42}\\x0d\\x0a0123456789012345678901234567890"
	    "12345678901 x\\x0d\\x0a>1=a 6 user=012345678901234567890123456"
	    "789012345678901 pass=x\n");
}

static void
test_reader_literal_minus(void)
{
	char *in, *want, *got;
	size_t n, size;

	/* LITERAL-: {n+} up to 4096 */
	imap_reader_limits_default(&lim, false, true);
	for (size = IMAP_MAX_LITERAL_MINUS - 1;
	    size <= IMAP_MAX_LITERAL_MINUS + 1; size++) {
		in = malloc(size + 100);
		n = (size_t)sprintf(in, "a LOGIN x {%zu+}\r\n", size);
		memset(in + n, 'p', size);
		n += size;
		n += (size_t)sprintf(in + n, "\r\nb NOOP\r\n");
		got = run(&lim, in, n, SPLIT_WHOLE, 0);
		if (size <= IMAP_MAX_LITERAL_MINUS) {
			CHECK(strncmp(got, "CMD<a LOGIN x {", 15) == 0);
			CHECK(strstr(got, "=a 6 user=x pass=ppp") != NULL);
		} else {
			CHECK_STR(got, "ERR1:a:non-synchronizing literal too "
			    "big (LITERAL-)\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
		}
		free(got);
		free(in);
	}
	/* the same size synchronizing is fine */
	imap_reader_limits_default(&lim, false, true);
	in = malloc(5000);
	n = (size_t)sprintf(in, "a LOGIN x {4097}\r\n");
	memset(in + n, 'p', 4097);
	n += 4097;
	n += (size_t)sprintf(in + n, "\r\n");
	got = run(&lim, in, n, SPLIT_BYTES, 0);
	CHECK(strncmp(got, "+4097\nCMD<", 10) == 0);
	free(got);
	/* LITERAL+: the normal literal limit applies */
	imap_reader_limits_default(&lim, false, false);
	n = (size_t)sprintf(in, "a LOGIN x {4097+}\r\n");
	memset(in + n, 'p', 4097);
	n += 4097;
	n += (size_t)sprintf(in + n, "\r\n");
	got = run(&lim, in, n, SPLIT_WHOLE, 0);
	CHECK(strncmp(got, "CMD<", 4) == 0);
	free(got);
	free(in);
	/* before login the line is shorter */
	imap_reader_limits_default(&lim, true, true);
	CHECK_INT(lim.line_max, IMAP_MAX_LINE_PRELOGIN);
	CHECK_INT(lim.nonsync_max, IMAP_MAX_LITERAL_MINUS);
	CHECK_INT(lim.append_max, 0);
	/* before login an APPEND literal is never streamed */
	R(&lim, "a APPEND INBOX {9000}\r\nb NOOP\r\n",
	    "ERR2:a:message too big\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* and a big refused {n+} closes the connection */
	R(&lim, "a LOGIN {70000+}\r\nb NOOP\r\n",
	    "ERR3:a:literal too big\n");
	R(&lim, "a LOGIN {4097+}\r\nb NOOP\r\n",
	    "ERR1:a:non-synchronizing literal too big (LITERAL-)\n");
	/* 8 KiB line: = and +1 */
	in = malloc(IMAP_MAX_LINE_PRELOGIN + 100);
	for (size = IMAP_MAX_LINE_PRELOGIN; size <= IMAP_MAX_LINE_PRELOGIN + 1;
	    size++) {
		n = (size_t)sprintf(in, "a LOGIN x ");
		memset(in + n, 'p', size - n - 2);
		memcpy(in + size - 2, "\r\n", 2);
		got = run(&lim, in, size, SPLIT_WHOLE, 0);
		if (size == IMAP_MAX_LINE_PRELOGIN)
			CHECK(strncmp(got, "CMD<a LOGIN x ppp", 17) == 0);
		else
			CHECK_STR(got, "ERR1:a:line too long\n");
		free(got);
	}
	free(in);
	want = NULL;
	(void)want;
}

static void
test_reader_append_stream(void)
{
	small_limits();
	/* over literal_max in APPEND: streamed, not buffered */
	R(&lim, "a APPEND INBOX (\\Seen) {12}\r\nHello world!\r\nb NOOP\r\n",
	    "+12\nBEGIN0:12<a APPEND INBOX (\\Seen) {12}\\x0d\\x0a>\n"
	    "DATA[Hello world!]END0\n"
	    "CMD<a APPEND INBOX (\\Seen) {12}\\x0d\\x0a\\x0d\\x0a>1=a 19 "
	    "mbox=INBOX n=1 flags=(\\Seen) lit0 streamed size=12\n"
	    "CMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* non-synchronizing, literal8, MULTIAPPEND with a small one */
	R(&lim, "a append INBOX ~{12+}\r\nbin\0ary data {2}\r\nhi\r\n",
	    "BEGIN0:12<a append INBOX ~{12+}\\x0d\\x0a>\n"
	    "DATA[bin\\x00ary data]END0\n+2\n"
	    "CMD<a append INBOX ~{12+}\\x0d\\x0a {2}\\x0d\\x0ahi\\x0d\\x0a>2="
	    "a 19 mbox=INBOX n=2 flags=() lit0 bin streamed size=12 "
	    "flags=() lit1 size=2 data=hi\n");
	/* append_max 30: 30 streams, 31 is refused with TOOBIG */
	R(&lim, "a APPEND INBOX {30}\r\n012345678901234567890123456789\r\n",
	    "+30\nBEGIN0:30<a APPEND INBOX {30}\\x0d\\x0a>\n"
	    "DATA[012345678901234567890123456789]END0\n"
	    "CMD<a APPEND INBOX {30}\\x0d\\x0a\\x0d\\x0a>1=a 19 mbox=INBOX "
	    "n=1 flags=() lit0 streamed size=30\n");
	R(&lim, "a APPEND INBOX {31}\r\nb NOOP\r\n",
	    "ERR2:a:message too big\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* {n+} too big but under discard_max: dropped, then NO [TOOBIG] */
	R(&lim, "a APPEND INBOX {31+}\r\n0123456789012345678901234567890\r\n"
	    "b NOOP\r\n",
	    "ERR2:a:message too big\nCMD<b NOOP\\x0d\\x0a>0=b 2\n");
	/* over discard_max: BYE, nothing more is read */
	R(&lim, "a APPEND INBOX {51+}\r\nb NOOP\r\n",
	    "ERR3:a:literal too big\n");
	/* other commands never stream */
	R(&lim, "a LOGIN {12}\r\n", "ERR1:a:literal too big\n");
}

static void
test_reader_set_limits(void)
{
	struct imap_reader *r;
	struct imap_reader_event ev;
	struct imap_reader_limits big;
	size_t used;
	char line[100];

	small_limits();
	r = imap_reader_new(&lim);
	memset(line, 'x', sizeof(line));
	memcpy(line, "a ", 2);
	memcpy(line + 48, "\r\n", 2);
	CHECK_INT(imap_reader_input(r, (const uint8_t *)line, 50, &used, &ev),
	    1);
	CHECK_INT(ev.type, IMAP_READER_ERROR);
	CHECK_STR(ev.reason, "line too long");
	big = lim;
	big.line_max = 100;
	big.command_max = 200;
	imap_reader_set_limits(r, &big);
	/* the rest of the discarded line, then a new long one */
	CHECK_INT(imap_reader_input(r, (const uint8_t *)line + used,
	    50 - used, &used, &ev), 0);
	CHECK_INT(imap_reader_input(r, (const uint8_t *)line, 50, &used, &ev),
	    1);
	CHECK_INT(ev.type, IMAP_READER_COMMAND);
	CHECK_INT(ev.cmd.text.len, 50);
	imap_reader_free(&r);
	imap_reader_free(&r);
}

static const struct test_case cases[] = {
	TEST(test_simple_commands),
	TEST(test_login_auth),
	TEST(test_mailbox_commands),
	TEST(test_list),
	TEST(test_append),
	TEST(test_fetch),
	TEST(test_store_copy),
	TEST(test_search),
	TEST(test_misc_commands),
	TEST(test_nesting_and_items),
	TEST(test_mutf7),
	TEST(test_reader_lines),
	TEST(test_reader_literals),
	TEST(test_reader_literal_minus),
	TEST(test_reader_append_stream),
	TEST(test_reader_set_limits),
};

TEST_MAIN(cases)
