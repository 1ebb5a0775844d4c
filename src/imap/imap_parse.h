/*
 * imap_parse.h - IMAP command reader (framing) and command parser.
 *
 * Two sans-I/O layers.  The reader eats bytes and yields whole commands
 * (text plus literals), asks the owner to send continuations for
 * synchronizing literals, streams big APPEND literals in chunks and turns
 * every limit into a tagged BAD (or a BYE).  The parser turns one command
 * into a typed, arena-allocated struct imap_command.  Both see untrusted
 * input before authentication.  Details and limits: docs/imap.md.
 */
#ifndef POSTINO_IMAP_IMAP_PARSE_H
#define POSTINO_IMAP_IMAP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/span.h"

struct arena;

/* Arena bytes one parsed command may take (the other IMAP limits are in
 * lib/postino_limits.h). */
#define IMAP_MAX_PARSE_MEMORY	(4u * 1024 * 1024)

/* ---- reader ---- */

struct imap_reader_limits {
	size_t		line_max;	/* command text without literal data */
	size_t		literal_max;	/* one buffered literal */
	size_t		append_max;	/* one streamed APPEND literal */
	size_t		nonsync_max;	/* {n+}: IMAP_MAX_LITERAL_MINUS for
					   LITERAL-, SIZE_MAX for LITERAL+ */
	size_t		command_max;	/* text + buffered literal data */
	size_t		discard_max;	/* refused {n+} read and dropped, else
					   BYE */
	unsigned	literals_max;	/* literals in one command */
};

/* Defaults from postino_limits.h.  prelogin: 8 KiB of text, literals up to
 * 8 KiB, 16 of them, 32 KiB in all, no streaming, BYE for a refused {n+}
 * over 64 KiB.  literal_minus: {n+} only up to 4096 octets (RFC 7888). */
void imap_reader_limits_default(struct imap_reader_limits *l, bool prelogin,
    bool literal_minus);

/* One literal of a command, in order of appearance. */
struct imap_literal {
	size_t		offset;		/* of the data in the command text */
	uint64_t	size;
	bool		is_binary;	/* ~{n} literal8 */
	bool		is_nonsync;	/* {n+} */
	bool		is_streamed;	/* data went out in LITERAL_DATA
					   events, not in the text */
};

/* A complete command: the text holds every line with its CRLF and the
 * data of every buffered literal in place; a streamed literal keeps its
 * "{n}\r\n" header and has no data in the text. */
struct imap_command_text {
	struct span			 text;
	const struct imap_literal	*lits;
	unsigned			 nlits;	/* 0: all literals inline */
};

enum imap_reader_event_type {
	IMAP_READER_COMMAND = 1,	/* cmd is complete */
	IMAP_READER_CONTINUE,		/* send "+ ..." now */
	IMAP_READER_LITERAL_BEGIN,	/* a streamed literal starts */
	IMAP_READER_LITERAL_DATA,	/* data: a chunk of it */
	IMAP_READER_LITERAL_END,	/* it is complete */
	IMAP_READER_ERROR,		/* send reply (tag may be empty) */
};

enum imap_reader_reply {
	IMAP_READER_REPLY_BAD = 1,	/* tagged BAD reason (or * BAD) */
	IMAP_READER_REPLY_TOOBIG,	/* tagged NO [TOOBIG] reason */
	IMAP_READER_REPLY_BYE,		/* * BYE reason, then close */
};

struct imap_reader_event {
	enum imap_reader_event_type	 type;
	struct imap_command_text	 cmd;	/* COMMAND; LITERAL_BEGIN: the
						   text so far */
	struct span			 tag;	/* COMMAND, ERROR (may be
						   empty) */
	struct span			 data;	/* LITERAL_DATA */
	uint64_t			 size;	/* CONTINUE, LITERAL_BEGIN */
	unsigned			 literal_index;
	enum imap_reader_reply		 reply;	/* ERROR */
	const char			*reason; /* ERROR: static text */
};

struct imap_reader;

struct imap_reader *imap_reader_new(const struct imap_reader_limits *l);
void imap_reader_free(struct imap_reader **r);
/* Changes the limits from the next command on (e.g. after login). */
void imap_reader_set_limits(struct imap_reader *r,
    const struct imap_reader_limits *l);
/* The next line is raw (AUTHENTICATE response, DONE): no literal is
 * recognized at its end.  It comes out as a COMMAND with nlits 0. */
void imap_reader_expect_raw_line(struct imap_reader *r);

/*
 * Eats up to len bytes of in.  Returns 1 with an event in ev_r, or 0 when
 * all of in was used without an event; *used_r is set to the bytes eaten
 * either way.  Call again with the rest (also with len 0 after CONTINUE,
 * so that a pending LITERAL_BEGIN comes out).  Spans in the event point
 * into the reader (or into in, for LITERAL_DATA) and live until the next
 * call.  After ERROR with REPLY_BYE, stop feeding the reader.
 */
int imap_reader_input(struct imap_reader *r, const uint8_t *in, size_t len,
    size_t *used_r, struct imap_reader_event *ev_r);

/* ---- parser ---- */

enum imap_cmd_name {
	IMAP_CMD_CAPABILITY = 1, IMAP_CMD_NOOP, IMAP_CMD_LOGOUT,
	IMAP_CMD_STARTTLS, IMAP_CMD_AUTHENTICATE, IMAP_CMD_LOGIN,
	IMAP_CMD_ENABLE, IMAP_CMD_SELECT, IMAP_CMD_EXAMINE, IMAP_CMD_CREATE,
	IMAP_CMD_DELETE, IMAP_CMD_RENAME, IMAP_CMD_SUBSCRIBE,
	IMAP_CMD_UNSUBSCRIBE, IMAP_CMD_LIST, IMAP_CMD_LSUB,
	IMAP_CMD_NAMESPACE, IMAP_CMD_STATUS, IMAP_CMD_APPEND, IMAP_CMD_IDLE,
	IMAP_CMD_CHECK, IMAP_CMD_CLOSE, IMAP_CMD_UNSELECT, IMAP_CMD_EXPUNGE,
	IMAP_CMD_SEARCH, IMAP_CMD_FETCH, IMAP_CMD_STORE, IMAP_CMD_COPY,
	IMAP_CMD_MOVE, IMAP_CMD_SORT, IMAP_CMD_THREAD, IMAP_CMD_ID,
	IMAP_CMD_COMPRESS, IMAP_CMD_GETQUOTA, IMAP_CMD_GETQUOTAROOT,
	IMAP_CMD_SETQUOTA,
};

/* Strings are copied into the arena and NUL-terminated after len (a
 * literal8 may hold NUL, other strings never do). */
struct imap_nstring {
	struct span	s;
	bool		is_nil;
};

/* A mailbox name as UTF-8 (converted from modified UTF-7 unless the
 * parser runs in UTF-8 mode); any case of "INBOX" becomes "INBOX". */
struct imap_mailbox {
	const char	*name;
	size_t		 len;
};

/* A sequence set.  0 stands for "*"; numeric ranges come out ordered
 * (lo <= hi); a single number has lo == hi. */
struct imap_seq_range {
	uint32_t	lo, hi;
};

struct imap_seqset {
	struct imap_seq_range	*ranges;
	unsigned		 count;
	bool			 is_saved;	/* "$" (RFC 5182) */
};

struct imap_flags {
	struct span	*v;		/* "\Seen", "$Junk", ... */
	unsigned	 count;
};

struct imap_date {
	uint16_t	year;
	uint8_t		month, day;	/* 1-12, 1-31 */
};

struct imap_datetime {
	struct imap_date date;
	uint8_t		 hour, min, sec;
	int16_t		 zone;		/* minutes east of UTC */
};

enum imap_search_op {
	IMAP_SEARCH_AND = 1,	/* children: every key holds */
	IMAP_SEARCH_OR,		/* children: two keys */
	IMAP_SEARCH_NOT,	/* children: one key */
	IMAP_SEARCH_SEQSET, IMAP_SEARCH_UID,
	IMAP_SEARCH_ALL, IMAP_SEARCH_ANSWERED, IMAP_SEARCH_DELETED,
	IMAP_SEARCH_DRAFT, IMAP_SEARCH_FLAGGED, IMAP_SEARCH_SEEN,
	IMAP_SEARCH_RECENT, IMAP_SEARCH_NEW, IMAP_SEARCH_OLD,
	IMAP_SEARCH_UNANSWERED, IMAP_SEARCH_UNDELETED, IMAP_SEARCH_UNDRAFT,
	IMAP_SEARCH_UNFLAGGED, IMAP_SEARCH_UNSEEN,
	IMAP_SEARCH_KEYWORD, IMAP_SEARCH_UNKEYWORD,	/* str */
	IMAP_SEARCH_BCC, IMAP_SEARCH_BODY, IMAP_SEARCH_CC, IMAP_SEARCH_FROM,
	IMAP_SEARCH_SUBJECT, IMAP_SEARCH_TEXT, IMAP_SEARCH_TO,	/* str */
	IMAP_SEARCH_HEADER,				/* field, str */
	IMAP_SEARCH_BEFORE, IMAP_SEARCH_ON, IMAP_SEARCH_SINCE,	/* date */
	IMAP_SEARCH_SENTBEFORE, IMAP_SEARCH_SENTON, IMAP_SEARCH_SENTSINCE,
	IMAP_SEARCH_LARGER, IMAP_SEARCH_SMALLER,	/* num */
	IMAP_SEARCH_MODSEQ,		/* num; field, str: entry (7162) */
};

struct imap_search_key {
	enum imap_search_op	 op;
	struct imap_search_key	*child;		/* AND, OR, NOT */
	struct imap_search_key	*next;		/* sibling in the parent */
	struct span		 str;
	struct span		 field;
	uint64_t		 num;
	struct imap_date	 date;
	struct imap_seqset	 set;
};

enum imap_section_text {
	IMAP_SECTION_NONE = 0, IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS, IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT, IMAP_SECTION_MIME,
};

struct imap_section {
	uint32_t		*parts;		/* "1.2.3" */
	unsigned		 nparts;
	enum imap_section_text	 text;
	struct span		*fields;	/* HEADER.FIELDS[.NOT] */
	unsigned		 nfields;
};

enum imap_fetch_type {
	IMAP_FETCH_FLAGS = 1, IMAP_FETCH_INTERNALDATE, IMAP_FETCH_RFC822_SIZE,
	IMAP_FETCH_ENVELOPE, IMAP_FETCH_BODY, IMAP_FETCH_BODYSTRUCTURE,
	IMAP_FETCH_BODY_SECTION, IMAP_FETCH_BINARY, IMAP_FETCH_BINARY_SIZE,
	IMAP_FETCH_UID, IMAP_FETCH_MODSEQ, IMAP_FETCH_RFC822,
	IMAP_FETCH_RFC822_HEADER, IMAP_FETCH_RFC822_TEXT,
};

struct imap_fetch_att {
	enum imap_fetch_type	 type;
	bool			 is_peek;	/* BODY.PEEK, BINARY.PEEK */
	struct imap_section	 section;	/* BODY[], BINARY[] */
	bool			 has_partial;
	uint64_t		 partial_offset, partial_len;	/* number64 */
};

enum imap_store_mode {
	IMAP_STORE_REPLACE = 1, IMAP_STORE_ADD, IMAP_STORE_REMOVE,
};

#define IMAP_STATUS_F_MESSAGES		0x001u
#define IMAP_STATUS_F_UIDNEXT		0x002u
#define IMAP_STATUS_F_UIDVALIDITY	0x004u
#define IMAP_STATUS_F_UNSEEN		0x008u
#define IMAP_STATUS_F_DELETED		0x010u
#define IMAP_STATUS_F_SIZE		0x020u
#define IMAP_STATUS_F_RECENT		0x040u
#define IMAP_STATUS_F_HIGHESTMODSEQ	0x080u
#define IMAP_STATUS_F_APPENDLIMIT	0x100u

#define IMAP_LIST_SEL_F_SUBSCRIBED	0x01u
#define IMAP_LIST_SEL_F_REMOTE		0x02u
#define IMAP_LIST_SEL_F_RECURSIVEMATCH	0x04u
#define IMAP_LIST_SEL_F_SPECIAL_USE	0x08u
#define IMAP_LIST_RET_F_SUBSCRIBED	0x01u
#define IMAP_LIST_RET_F_CHILDREN	0x02u
#define IMAP_LIST_RET_F_SPECIAL_USE	0x04u
#define IMAP_LIST_RET_F_STATUS		0x08u

#define IMAP_SEARCH_RET_F_MIN		0x01u
#define IMAP_SEARCH_RET_F_MAX		0x02u
#define IMAP_SEARCH_RET_F_ALL		0x04u
#define IMAP_SEARCH_RET_F_COUNT		0x08u
#define IMAP_SEARCH_RET_F_SAVE		0x10u

enum imap_sort_key {
	IMAP_SORT_ARRIVAL = 1, IMAP_SORT_CC, IMAP_SORT_DATE, IMAP_SORT_FROM,
	IMAP_SORT_SIZE, IMAP_SORT_SUBJECT, IMAP_SORT_TO,
	IMAP_SORT_DISPLAYFROM, IMAP_SORT_DISPLAYTO,
};

struct imap_sort_crit {
	enum imap_sort_key	key;
	bool			is_reverse;
};

struct imap_append_msg {
	struct imap_flags	 flags;
	bool			 has_date;
	struct imap_datetime	 date;
	bool			 is_binary;	/* literal8 */
	bool			 is_streamed;	/* data came in LITERAL_DATA */
	unsigned		 literal_index;
	uint64_t		 size;
	struct span		 data;		/* into the command text */
	struct imap_append_msg	*next;		/* MULTIAPPEND */
};

struct imap_id_param {
	struct span		 key;
	struct imap_nstring	 value;
};

struct imap_quota_res {
	struct span	name;
	uint64_t	limit;
};

struct imap_command {
	struct span		 tag;
	enum imap_cmd_name	 name;
	bool			 is_uid;
	union {
		struct {
			struct span	 mech;
			bool		 has_ir;	/* SASL-IR */
			struct span	 ir;		/* "=" stays "=" */
		} authenticate;
		struct {
			struct span	 user, pass;	/* secrets */
		} login;
		struct {
			struct span	*caps;
			unsigned	 count;
		} enable;
		struct {
			struct imap_mailbox mbox;
			bool		 condstore;
			bool		 qresync;
			uint32_t	 uidvalidity;
			uint64_t	 modseq;
			struct imap_seqset known_uids;	/* count 0: none */
			struct imap_seqset seq_match, uid_match;
		} select;			/* SELECT, EXAMINE */
		struct {
			struct imap_mailbox mbox;
			struct imap_flags use;	/* CREATE ... (USE (...)) */
		} create;
		struct imap_mailbox	 mbox;	/* DELETE, (UN)SUBSCRIBE,
						   GETQUOTAROOT */
		struct {
			struct imap_mailbox from, to;
		} rename;
		struct {
			bool		 is_extended;
			unsigned	 sel_flags, ret_flags;
			unsigned	 status_items;
			struct imap_mailbox ref;
			struct imap_mailbox *patterns;
			unsigned	 npatterns;
		} list;				/* LIST, LSUB */
		struct {
			struct imap_mailbox mbox;
			unsigned	 items;
		} status;
		struct {
			struct imap_mailbox mbox;
			struct imap_append_msg *msgs;
			unsigned	 count;
		} append;
		struct {
			struct imap_seqset set;	/* UID EXPUNGE */
		} expunge;
		struct {
			bool		 has_return;	/* ESEARCH */
			unsigned	 ret_flags;
			struct span	 charset;
			struct imap_search_key *key;	/* AND of the keys */
			/* SORT */
			struct imap_sort_crit *crit;
			unsigned	 ncrit;
			/* THREAD */
			struct span	 algorithm;
		} search;			/* SEARCH, SORT, THREAD */
		struct {
			struct imap_seqset set;
			struct imap_fetch_att *atts;
			unsigned	 count;
			bool		 has_changedsince;
			uint64_t	 changedsince;
			bool		 vanished;
		} fetch;
		struct {
			struct imap_seqset set;
			bool		 has_unchangedsince;
			uint64_t	 unchangedsince;
			enum imap_store_mode mode;
			bool		 silent;
			struct imap_flags flags;
		} store;
		struct {
			struct imap_seqset set;
			struct imap_mailbox mbox;
		} copy;				/* COPY, MOVE */
		struct {
			bool		 is_nil;
			struct imap_id_param *params;
			unsigned	 count;
		} id;
		struct span		 compress;	/* mechanism */
		struct {
			struct span	 root;
			struct imap_quota_res *res;
			unsigned	 count;
		} quota;			/* GETQUOTA, SETQUOTA */
	} u;
};

struct imap_parse_options {
	bool		utf8;		/* UTF8=ACCEPT enabled or IMAP4rev2:
					   names are UTF-8, not mUTF-7 */
	unsigned	max_nesting;	/* 0: IMAP_MAX_NESTING */
	unsigned	max_items;	/* 0: IMAP_MAX_ITEMS */
	size_t		max_memory;	/* arena bytes one command may take;
					   0: IMAP_MAX_PARSE_MEMORY.  The
					   arena's own ceiling must be at
					   least twice this. */
};

/*
 * Parses one command.  Returns 0 with *cmd_r, or -1 with a reason in
 * *error_r (static text); on -1, tag_r (if not NULL) gets the tag when
 * one could be read, for the tagged BAD.  Everything in *cmd_r lives in
 * arena a, except append data, which points into in->text.
 */
int imap_parse_command(struct arena *a, const struct imap_command_text *in,
    const struct imap_parse_options *opt, struct imap_command **cmd_r,
    struct span *tag_r, const char **error_r)
	__attribute__((warn_unused_result));

/*
 * Modified UTF-7 (RFC 3501 5.1.3) <-> UTF-8.  Both validate strictly:
 * returns 0 with the converted text appended to out, or -1 (out may hold
 * part of it) on invalid input or when out is full.
 */
int imap_mutf7_to_utf8(struct span in, struct buf *out)
	__attribute__((warn_unused_result));
int imap_utf8_to_mutf7(struct span in, struct buf *out)
	__attribute__((warn_unused_result));
/* True if s is valid UTF-8 (no overlongs, surrogates or > U+10FFFF). */
bool imap_utf8_valid(struct span s);

#endif
