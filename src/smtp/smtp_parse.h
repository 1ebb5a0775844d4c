/*
 * smtp_parse.h - pure parsers for SMTP server commands (RFC 5321).
 *
 * Splits a command line into verb and arguments, parses the paths of
 * MAIL FROM and RCPT TO (RFC 5321 section 4.1.2, with RFC 6531 SMTPUTF8)
 * and their ESMTP parameters (SIZE, RFC 1870; BODY, RFC 6152 and 3030;
 * SMTPUTF8, RFC 6531), and checks HELO/EHLO arguments.
 *
 * Handles untrusted input before authentication.  Nothing here does I/O or
 * touches global state; results point into the input or into the arena
 * the caller passes.  Errors come back as a complete SMTP reply (code,
 * enhanced status code, text) in static storage.
 */
#ifndef POSTINO_SMTP_SMTP_PARSE_H
#define POSTINO_SMTP_SMTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "lib/span.h"
#include "smtp/smtp_session.h"

/* A reply chosen by a parser; all strings are static. */
struct smtp_reply {
	int		 code;
	const char	*enh;
	const char	*text;
};

/* Flags for smtp_parse_mail() and smtp_parse_rcpt(). */
#define SMTP_PARSE_F_ESMTP	0x01	/* EHLO was used: parameters allowed */
#define SMTP_PARSE_F_UTF8	0x02	/* SMTPUTF8 given: UTF-8 in paths */
#define SMTP_PARSE_F_UTF8_OK	0x04	/* SMTPUTF8 advertised (MAIL only) */

/* What MAIL FROM carried. */
struct smtp_mail_args {
	const char		*addr;		/* "" for <>; in the arena */
	uint64_t		 size;		/* SIZE=, 0 if absent */
	bool			 has_size;
	enum smtp_body_type	 body;		/* BODY=, 7BIT if absent */
	bool			 has_body;
	bool			 smtputf8;
};

/* What RCPT TO carried. */
struct smtp_rcpt_args {
	const char	*addr;		/* mailbox, in the arena */
	bool		 is_postmaster;	/* the bare <Postmaster> form */
};

/*
 * Splits a command line (without its CRLF) into the verb and its
 * arguments: the verb is everything up to the first SP, the arguments
 * everything after it with surrounding blanks removed.  Both point into
 * line.  Returns 0, or -1 if the verb is empty or not made of letters and
 * digits (at most 16 of them).
 */
int smtp_parse_command(struct span line, struct span *verb_r,
    struct span *args_r) __attribute__((warn_unused_result));

/*
 * Checks a domain name: dot-separated labels of letters, digits and
 * hyphens, no empty label, a label neither starts nor ends with a hyphen,
 * labels at most 63 and the whole at most SMTP_MAX_DOMAIN octets.  With
 * utf8 set, labels may also contain well-formed UTF-8 (RFC 6531 U-labels).
 * A single trailing dot is not accepted.
 */
bool smtp_parse_domain_ok(struct span d, bool utf8);

/*
 * Checks an address literal including its brackets: "[192.0.2.1]" or
 * "[IPv6:2001:db8::1]".  General (tagged) literals are refused.
 */
bool smtp_parse_addr_literal_ok(struct span lit);

/*
 * Parses a path starting at s.p[0] == '<' (RFC 5321 4.1.2): an optional
 * source route that is checked and dropped, then a mailbox.  allow_null
 * accepts "<>".  On success returns 0, sets *used_r to the bytes taken
 * (through the '>') and *mailbox_r to the mailbox inside the input
 * ("local@domain" as the client wrote it, quotes kept; empty for <>).
 * Returns -1 with *err_r set otherwise; is_rcpt picks 5.1.3 over 5.1.7.
 * Limits: local part SMTP_MAX_LOCAL_PART, domain SMTP_MAX_DOMAIN, the
 * path with its brackets SMTP_MAX_PATH octets.
 */
int smtp_parse_path(struct span s, bool utf8, bool allow_null, bool is_rcpt,
    size_t *used_r, struct span *mailbox_r, struct smtp_reply *err_r)
	__attribute__((warn_unused_result));

/*
 * Parses the arguments of MAIL ("FROM:<path> [params]").  Returns 0 with
 * *r filled (addr copied into the arena), or -1 with the reply in *err_r:
 * 501 5.5.4 for a malformed command, 501 5.1.7 for a bad path, 555 5.5.4
 * for an unknown or unadvertised parameter, 501 5.5.4 for a bad value.
 */
int smtp_parse_mail(struct span args, unsigned flags, struct arena *a,
    struct smtp_mail_args *r, struct smtp_reply *err_r)
	__attribute__((warn_unused_result));

/*
 * Parses the arguments of RCPT ("TO:<path> [params]"); as above, with
 * 501 5.1.3 for a bad path.  No RCPT parameters are supported yet.
 * "<Postmaster>" (any case) gives addr "postmaster" and is_postmaster.
 */
int smtp_parse_rcpt(struct span args, unsigned flags, struct arena *a,
    struct smtp_rcpt_args *r, struct smtp_reply *err_r)
	__attribute__((warn_unused_result));

/*
 * Checks the argument of HELO/EHLO: a domain (UTF-8 allowed, as some
 * clients send their U-label name) or an address literal.  Clients in the
 * wild also send bare names with underscores; we accept any run of
 * printable ASCII without blanks up to SMTP_MAX_HELO octets, and refuse
 * empty, multi-word, over-long or control-character arguments.
 */
bool smtp_parse_helo_ok(struct span arg);

/* True if s is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
bool smtp_parse_utf8_ok(struct span s);

#endif
