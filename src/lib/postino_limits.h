/*
 * postino_limits.h - default limits for everything a peer can grow.
 *
 * Each limit is a starting default; the configuration may change most of
 * them (see docs/limits.md).  Names follow <COMPONENT>_MAX_<WHAT>.
 */
#ifndef POSTINO_LIB_POSTINO_LIMITS_H
#define POSTINO_LIB_POSTINO_LIMITS_H

/* SMTP (RFC 5321 section 4.5.3.1 gives the minimums we must accept) */
#define SMTP_MAX_CMD_LINE	512		/* command line incl. CRLF */
#define SMTP_MAX_CMD_LINE_EXT	2048		/* with ESMTP parameters */
#define SMTP_MAX_TEXT_LINE	1000		/* DATA line incl. CRLF */
#define SMTP_MAX_MESSAGE	(50u * 1024 * 1024)
#define SMTP_MAX_RCPTS		100
#define SMTP_MAX_ERRORS		20		/* then 421 and close */
#define SMTP_MAX_LOCAL_PART	64
#define SMTP_MAX_DOMAIN		255
#define SMTP_MAX_PATH		256
#define SMTP_MAX_HELO		255
#define SMTP_MAX_RECEIVED	50		/* loop detection */
#define SMTP_MAX_CONNECTIONS	1000
#define SMTP_MAX_CONN_PER_IP	50
#define SMTP_IDLE_TIMEOUT	300		/* seconds */

/* SMTP client: what a remote server may send us */
#define SMTP_CLIENT_MAX_REPLY_LINE	4096		/* one line incl. CRLF */
#define SMTP_CLIENT_MAX_REPLY_LINES	100		/* lines in one reply */
#define SMTP_CLIENT_MAX_REPLY	(64u * 1024)	/* one reply (EHLO) */
#define SMTP_CLIENT_MAX_RCPTS	1000		/* per transaction */

/* MIME */
#define MIME_MAX_DEPTH		100
#define MIME_MAX_PARTS		10000
#define MIME_MAX_HEADER		(64u * 1024)
#define MIME_MAX_HEADERS_TOTAL	(1024u * 1024)
#define MIME_MAX_HEADER_FIELDS	10000		/* per header block */
#define MIME_MAX_PARAMS		64		/* per Content-Type etc. */
#define MIME_MAX_BOUNDARY	200		/* RFC 2046 says 70 */
#define MIME_TEXT_MAX_HEADER	(256u * 1024)	/* searchable header text */
#define MIME_TEXT_MAX_BODY	(4u * 1024 * 1024) /* searchable body text */

/* aliases */
#define ALIAS_MAX_DEPTH		10
#define ALIAS_MAX_EXPANSION	1000

/* mail store */
#define STORE_MAX_MAILBOX_NAME	1024		/* bytes of a full name */
#define STORE_MAX_DELIVERY_BATCH 4096		/* messages per deliver call */
#define STORE_MAX_KEYWORDS	1024		/* bytes of one message's keywords */

/* DNS resolver (src/dns, docs/dns.md) */
#define DNS_MAX_NAME		253		/* text form, no trailing dot */
#define DNS_MAX_RECORDS		64		/* kept per answer */
#define DNS_MAX_TXT_TOTAL	(64u * 1024)	/* TXT bytes kept per answer */
#define DNS_MAX_CNAME_CHAIN	8		/* hops followed in an answer */
#define DNS_MAX_CNAMES		16		/* CNAME records per answer */
#define DNS_CACHE_MAX_ENTRIES	10000
#define DNS_CACHE_MAX_BYTES	(16u * 1024 * 1024)
#define DNS_CACHE_MAX_TTL	86400		/* seconds, positive answers */
#define DNS_CACHE_MAX_NEG_TTL	3600		/* seconds, NXDOMAIN/NODATA */
#define DNS_MAX_INFLIGHT	4096		/* distinct queries in flight */

/* bounces (src/delivery/dsn.c, docs/bounces.md) */
#define DSN_MAX_RCPTS		1000		/* recipients in one report */
#define DSN_MAX_HEADERS		(64u * 1024)	/* original header returned */
#define DSN_MAX_DIAGNOSTIC	512		/* bytes of a diagnostic kept */
#define DSN_MAX_RETURN_FULL	(10u * 1024 * 1024) /* else header only */

/* postino sendmail (src/cli/cli_sendmail.c) */
#define SENDMAIL_MAX_RCPTS	1000
#define SENDMAIL_MAX_LINE	998		/* octets, without CRLF */

/* POP3 server (src/pop3, docs/pop3.md) */
#define POP3_MAX_LINE		512		/* command line incl. CRLF */
#define POP3_MAX_AUTH_LINE	12288		/* SASL response line */
#define POP3_MAX_ERRORS		10		/* bad commands, then close */
#define POP3_MAX_AUTH_FAILURES	3		/* failed logins, then close */
#define POP3_MAX_PREAUTH_COMMANDS 50		/* commands before login */
#define POP3_MAX_MESSAGES	100000		/* maildrop size in messages */

/* DKIM (src/policy/dkim.c, docs/dkim.md) */
#define DKIM_MAX_SIGNATURES	10		/* DKIM-Signature fields checked */
#define DKIM_MAX_TAGS		64		/* tags in a signature or key */
#define DKIM_MAX_SIGNED_FIELDS	1000		/* names in one h= list */
#define DKIM_MAX_B64_SIG	2048		/* b= chars (RSA-8192 is 1366) */
#define DKIM_MIN_RSA_BITS	1024		/* RFC 8301 3.2 */
#define DKIM_MAX_RSA_BITS	8192		/* bounds verification work */

/* SPF (src/policy/spf.c, docs/spf.md; RFC 7208 section 4.6.4) */
#define SPF_MAX_LOOKUPS		10		/* DNS-querying terms per check */
#define SPF_MAX_VOID_LOOKUPS	2		/* NXDOMAIN / no-answer terms */
#define SPF_MAX_MX_NAMES	10		/* MX records of one mx term */
#define SPF_MAX_PTR_NAMES	10		/* PTR names checked (ptr, %{p}) */
#define SPF_MAX_RECORD		4096		/* bytes of one SPF record */
#define SPF_MAX_IDENTITY	512		/* sender, HELO, receiver */
#define SPF_MAX_EXPANSION	8192		/* one macro-string expanded */
#define SPF_TIMEOUT_MS		20000		/* whole check (section 4.6.4) */

/* IMAP command reader and parser (src/imap/imap_parse.c, docs/imap.md) */
#define IMAP_MAX_LINE		(64u * 1024)	/* command text, no literal data */
#define IMAP_MAX_LINE_PRELOGIN	(8u * 1024)	/* the same before login */
#define IMAP_MAX_LITERAL	(64u * 1024)	/* one buffered literal */
#define IMAP_MAX_LITERAL_MINUS	4096		/* {n+} with LITERAL- (RFC 7888) */
#define IMAP_MAX_APPEND		(50u * 1024 * 1024) /* one streamed message */
#define IMAP_MAX_LITERALS	1000		/* literals in one command */
#define IMAP_MAX_COMMAND	(1024u * 1024)	/* text + buffered literals */
#define IMAP_MAX_DISCARD	(64u * 1024 * 1024) /* refused {n+}: else BYE */
#define IMAP_MAX_NESTING	32		/* parentheses, NOT/OR depth */
#define IMAP_MAX_ITEMS		10000		/* list elements, ranges, keys */
/* IMAP session (src/imap/imap_session.c, docs/imap.md) */
#define IMAP_MAX_MAILBOX_LEVELS	16		/* hierarchy levels of a new name */
#define IMAP_MAX_BAD_COMMANDS	10		/* consecutive BADs: then BYE */
#define IMAP_MAX_AUTH_FAILURES	3		/* failed logins: then BYE */
#define IMAP_MAX_PRELOGIN_COMMANDS 50		/* commands before login: then BYE */

/* DMARC and the Public Suffix List (src/policy/dmarc.c, psl.c,
 * docs/dmarc.md) */
#define PSL_MAX_FILE		(4u * 1024 * 1024) /* list file bytes */
#define PSL_MAX_RULES		50000		/* rules kept (2023 list: ~9500) */
#define DMARC_MAX_RECORD	4096		/* bytes of one DMARC record */
#define DMARC_MAX_TAGS		32		/* tags read from one record */
#define DMARC_MAX_FROM		8		/* From: addresses looked at */
#define DMARC_MAX_DKIM		16		/* DKIM results considered */
#define POLICY_MAX_EXEMPT	256		/* exempt networks */
#define POLICY_MAX_AR_HEADER	4096		/* Authentication-Results text */
#define POLICY_MAX_AR_FIELD	(64 * 1024)	/* one header field held by the
						 * A-R filter (ar_filter.h) */
#define MSG_HOLD_CHUNK		(64 * 1024)	/* spill file write size
						 * (policy/msg_hold.h) */

#endif
