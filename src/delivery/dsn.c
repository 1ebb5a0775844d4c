/*
 * dsn.c - delivery status notifications (bounces and delay warnings).
 *
 * RFC 3464 (the message/delivery-status fields, sections 2.2 and 2.3),
 * RFC 6522 (multipart/report), RFC 3463 (enhanced status codes), RFC 6533
 * (the "utf-8" address type in its ASCII xtext form, message/global-
 * headers and message/global), RFC 3834 (Auto-Submitted), RFC 5322
 * section 2.1.1 (lines of at most 998, folded to 78 where possible).
 *
 * Input: the queue's own records, plus diagnostics, which are replies a
 * remote server chose.  Those may hold anything (control characters, line
 * breaks, 8-bit bytes, an encoded boundary): they are reduced to one line
 * of printable text, cut at DSN_MAX_DIAGNOSTIC, and every boundary is
 * checked against all the content before use.
 */
#include "delivery/dsn.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/postino_limits.h"
#include "lib/util.h"
#include "mime/mime_build.h"

#define FOLD_AT		78

const char *
dsn_action_name(enum dsn_action a)
{
	switch (a) {
	case DSN_ACTION_FAILED:
		return "failed";
	case DSN_ACTION_DELAYED:
		return "delayed";
	case DSN_ACTION_DELIVERED:
		return "delivered";
	case DSN_ACTION_RELAYED:
		return "relayed";
	case DSN_ACTION_EXPANDED:
		return "expanded";
	}
	return "failed";
}

bool
dsn_should_bounce(const char *sender)
{
	if (sender == NULL || sender[0] == '\0')
		return false;
	return strcmp(sender, "<>") != 0;
}

/* utf8_len - length of the valid UTF-8 sequence at p (at most n), or 0;
 * the code point in *cp_r.  No overlongs, surrogates or > U+10FFFF. */
static size_t
utf8_len(const uint8_t *p, size_t n, uint32_t *cp_r)
{
	uint32_t cp;
	size_t len, i;

	if (n == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp_r = p[0];
		return 1;
	}
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	*cp_r = cp;
	return len;
}

static bool
is_ascii(const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] >= 0x80)
			return false;
	}
	return true;
}

/* addr_ok - an envelope address: printable, valid UTF-8, bounded. */
static bool
addr_ok(const char *a)
{
	const uint8_t *p = (const uint8_t *)a;
	size_t n, i, l;
	uint32_t cp;

	if (a == NULL || a[0] == '\0')
		return false;
	n = strlen(a);
	if (n > SMTP_MAX_PATH)
		return false;
	for (i = 0; i < n; i += l) {
		l = utf8_len(p + i, n - i, &cp);
		if (l == 0 || cp < 0x20 || cp == 0x7f)
			return false;
	}
	return true;
}

/* host_ok - a host name for Reporting-MTA / Remote-MTA: printable ASCII
 * without blanks. */
static bool
host_ok(const char *h)
{
	size_t i, n;

	if (h == NULL || h[0] == '\0')
		return false;
	n = strlen(h);
	if (n > SMTP_MAX_DOMAIN + 2)	/* "[" literal "]" */
		return false;
	for (i = 0; i < n; i++) {
		if (h[i] <= 0x20 || h[i] >= 0x7f || h[i] == ';')
			return false;
	}
	return true;
}

/* status_ok - "class.subject.detail", RFC 3463 section 2. */
static bool
status_ok(const char *s, size_t n)
{
	size_t i = 0, part, digits;

	if (n < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') ||
	    s[1] != '.')
		return false;
	i = 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
		if (digits < 1 || digits > 3)
			return false;
		if (part == 0) {
			if (i >= n || s[i] != '.')
				return false;
			i++;
		}
	}
	return i == n;
}

/*
 * derive_status - the enhanced status of a reply "550 5.1.1 text": the
 * code given if it agrees with the reply's class, else "C.0.0" from the
 * reply code, else from the action.
 */
static void
derive_status(const struct dsn_rcpt *r, char *out, size_t outsize)
{
	const char *d = r->diagnostic;
	char cls;

	if (d != NULL) {
		while (*d == ' ' || *d == '\t')
			d++;
		if ((d[0] == '2' || d[0] == '4' || d[0] == '5') &&
		    d[1] >= '0' && d[1] <= '9' && d[2] >= '0' && d[2] <= '9' &&
		    (d[3] == '\0' || d[3] == ' ' || d[3] == '-')) {
			const char *s = d[3] != '\0' ? d + 4 : d + 3;
			size_t n = strcspn(s, " \t\r\n");

			cls = d[0];
			if (n < outsize && status_ok(s, n) && s[0] == cls) {
				memcpy(out, s, n);
				out[n] = '\0';
				return;
			}
			snprintf(out, outsize, "%c.0.0", cls);
			return;
		}
	}
	switch (r->action) {
	case DSN_ACTION_FAILED:
		cls = '5';
		break;
	case DSN_ACTION_DELAYED:
		cls = '4';
		break;
	default:
		cls = '2';
		break;
	}
	snprintf(out, outsize, "%c.0.0", cls);
}

/*
 * clean_text - untrusted text as one line: control characters and line
 * breaks become one blank, runs of blanks one blank, 8-bit bytes kept
 * only as valid UTF-8 when utf8 is set (else '?'), cut at max bytes on a
 * character boundary with "..." added.
 */
static int
clean_text(const char *in, size_t max, bool utf8, struct buf *out)
{
	const uint8_t *p = (const uint8_t *)in;
	size_t n = strlen(in), i = 0, l, start = out->len;
	bool blank = true;	/* drops leading blanks */
	uint32_t cp;
	int rc = 0;

	while (i < n) {
		const void *emit = p + i;
		size_t elen;

		l = utf8_len(p + i, n - i, &cp);
		if (l == 0) {
			l = 1;
			emit = "?";
		} else if (cp < 0x20 || cp == 0x7f ||
		    (cp >= 0x80 && cp < 0xa0)) {
			if (!blank)
				rc |= buf_append_byte(out, ' ');
			blank = true;
			i += l;
			continue;
		} else if (cp == ' ') {
			if (!blank)
				rc |= buf_append_byte(out, ' ');
			blank = true;
			i += l;
			continue;
		} else if (l > 1 && !utf8)
			emit = "?";
		elen = emit == p + i ? l : 1;
		if (out->len - start + elen > max) {
			rc |= buf_append_str(out, "...");
			break;
		}
		rc |= buf_append(out, emit, elen);
		blank = false;
		i += l;
	}
	while (out->len > start && out->data[out->len - 1] == ' ')
		out->len--;
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return rc == 0 ? 0 : -1;
}

/*
 * fold_field - "Name: value" CRLF, value split at single blanks and
 * folded before a word that would pass column 78.  The caller keeps words
 * short (addresses, cleaned diagnostics), so no line reaches 998.
 */
static int
fold_field(struct buf *out, const char *name, const char *value)
{
	size_t col = strlen(name) + 1;
	const char *s = value;
	bool first = true;
	int rc = 0;

	rc |= buf_printf(out, "%s:", name);
	while (*s != '\0') {
		const char *e;
		size_t n;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		e = strchr(s, ' ');
		n = e != NULL ? (size_t)(e - s) : strlen(s);
		if (!first && col + 1 + n > FOLD_AT) {
			rc |= buf_append_str(out, "\r\n ");
			col = 1;
		} else {
			rc |= buf_append_byte(out, ' ');
			col++;
		}
		rc |= buf_append(out, s, n);
		col += n;
		first = false;
		s += n;
	}
	rc |= buf_append_str(out, "\r\n");
	return rc == 0 ? 0 : -1;
}

/*
 * addr_field - "Name: rfc822; addr", or for a non-ASCII address the
 * RFC 6533 section 3 "utf-8; " form in its 7-bit xtext spelling, where
 * every character outside QCHAR (printable ASCII but '+', '=', '\\') is
 * written "\x{HEX}".  Folded after the ';' if long.  XXX: an address
 * made of the longest labels of 2-byte characters could still spell out
 * past 998 octets; no real address comes near.
 */
static int
addr_field(struct buf *out, const char *name, const char *addr)
{
	const uint8_t *p = (const uint8_t *)addr;
	size_t n = strlen(addr), i, l;
	struct buf v;
	uint32_t cp;
	int rc = 0;

	buf_init(&v, 16 * SMTP_MAX_PATH);
	if (is_ascii(addr, n) && strchr(addr, ' ') == NULL)
		rc |= buf_printf(&v, "rfc822; %s", addr);
	else {
		rc |= buf_append_str(&v, "utf-8; ");
		for (i = 0; i < n && rc == 0; i += l) {
			l = utf8_len(p + i, n - i, &cp);
			if (l == 0) {
				rc = -1;	/* addr_ok() checked it */
				break;
			}
			if (cp > 0x20 && cp < 0x7f && cp != '+' &&
			    cp != '=' && cp != '\\')
				rc |= buf_append_byte(&v, (uint8_t)cp);
			else
				rc |= buf_printf(&v, "\\x{%02X}",
				    (unsigned)cp);
		}
	}
	if (rc == 0)
		rc = fold_field(out, name, buf_cstr(&v));
	buf_fini(&v);
	return rc == 0 ? 0 : -1;
}

/* date_field - "Name: <RFC 5322 date>" CRLF */
static int
date_field(struct buf *out, const char *name, time_t t)
{
	char date[64];

	rfc5322_date(date, sizeof(date), t);
	return buf_printf(out, "%s: %s\r\n", name, date);
}

/* wrap_text - text wrapped at 76 columns, each line starting with
 * indent; words are short (cleaned text) or left whole. */
static int
wrap_text(struct buf *out, const char *indent, const char *text)
{
	size_t ind = strlen(indent), col = 0;
	const char *s = text;
	int rc = 0;

	while (*s != '\0') {
		const char *e;
		size_t n;

		while (*s == ' ')
			s++;
		if (*s == '\0')
			break;
		e = strchr(s, ' ');
		n = e != NULL ? (size_t)(e - s) : strlen(s);
		if (col == 0) {
			rc |= buf_append_str(out, indent);
			col = ind;
		} else if (col + 1 + n > 76) {
			rc |= buf_printf(out, "\r\n%s", indent);
			col = ind;
		} else {
			rc |= buf_append_byte(out, ' ');
			col++;
		}
		rc |= buf_append(out, s, n);
		col += n;
		s += n;
	}
	if (col > 0)
		rc |= buf_append_str(out, "\r\n");
	return rc == 0 ? 0 : -1;
}

/* header_len - bytes of the original's header section, without the
 * empty line that ends it (the whole message if there is none). */
static size_t
header_len(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		if (p[i] == '\n')
			return i;
		if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
			return i;
		while (i < n && p[i] != '\n')
			i++;
		if (i < n)
			i++;
	}
	return n;
}

/* copy_lines - bytes copied, bare CR or LF made CRLF, a CRLF added at
 * the end if missing. */
static int
copy_lines(struct buf *out, const uint8_t *p, size_t n)
{
	size_t i, run = 0;
	int rc = 0;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n') {
			i++;
			continue;	/* CRLF: stays in the run */
		}
		if (p[i] == '\r' || p[i] == '\n') {
			rc |= buf_append(out, p + run, i - run);
			rc |= buf_append_str(out, "\r\n");
			run = i + 1;
		}
	}
	rc |= buf_append(out, p + run, n - run);
	if (out->len > 0 && out->data[out->len - 1] != '\n')
		rc |= buf_append_str(out, "\r\n");
	return rc == 0 ? 0 : -1;
}

/* body_cte - 7bit, 8bit or binary for the returned original. */
static const char *
body_cte(const uint8_t *p, size_t n)
{
	size_t i, line = 0;
	bool high = false;

	for (i = 0; i < n; i++) {
		if (p[i] == '\n' || p[i] == '\r') {
			line = 0;
			continue;
		}
		if (p[i] == 0 || ++line > 998)
			return "binary";
		if (p[i] >= 0x80)
			high = true;
	}
	return high ? "8bit" : "7bit";
}

/* returned - what part 3 holds: the cut header (hdr_len) or everything */
struct returned {
	size_t	 hdr_len;	/* bytes of header returned */
	bool	 full;		/* whole message returned */
	bool	 cut;		/* header cut at DSN_MAX_HEADERS */
	bool	 full_refused;	/* return_full asked, too large */
	bool	 hdr_8bit;
};

static void
plan_returned(const struct dsn_info *info, struct returned *r)
{
	const uint8_t *p = info->orig;
	size_t n = p != NULL ? info->orig_len : 0, h = header_len(p, n);

	memset(r, 0, sizeof(*r));
	if (info->return_full && n > DSN_MAX_RETURN_FULL)
		r->full_refused = true;
	else if (info->return_full)
		r->full = true;
	if (h > DSN_MAX_HEADERS) {
		/* cut after the last line end within the limit (nothing if
		 * the first line alone is longer) */
		size_t i = DSN_MAX_HEADERS;

		while (i > 0 && p[i - 1] != '\n')
			i--;
		h = i;
		r->cut = true;
	}
	r->hdr_len = h;
	r->hdr_8bit = !is_ascii(p, h);
	if (r->full) {
		r->cut = false;
		r->hdr_8bit = !is_ascii(p, header_len(p, n));
	}
}

void
dsn_transport_needs(const struct dsn_info *info, bool *smtputf8_r,
    bool *eightbit_r)
{
	struct returned ret;
	bool utf8 = false;
	size_t i;

	plan_returned(info, &ret);
	if (info->sender != NULL && !is_ascii(info->sender,
	    strlen(info->sender)))
		utf8 = true;
	for (i = 0; i < info->nrcpts; i++) {
		const struct dsn_rcpt *r = &info->rcpts[i];

		if ((r->addr != NULL && !is_ascii(r->addr, strlen(r->addr))) ||
		    (r->orig_addr != NULL && !is_ascii(r->orig_addr,
		    strlen(r->orig_addr))))
			utf8 = true;
	}
	if (ret.hdr_8bit)
		utf8 = true;
	*smtputf8_r = utf8;
	*eightbit_r = utf8 || (ret.full && info->orig_len > 0 &&
	    !is_ascii(info->orig, info->orig_len));
}

static int
check_info(const struct dsn_info *info, const char **error_r)
{
	size_t i;

	if (!dsn_should_bounce(info->sender)) {
		*error_r = "null sender: a notification is never bounced";
		return -1;
	}
	if (!addr_ok(info->sender)) {
		*error_r = "malformed sender address";
		return -1;
	}
	if (!host_ok(info->reporting_mta)) {
		*error_r = "malformed reporting host name";
		return -1;
	}
	if (info->qid != NULL && (!host_ok(info->qid) ||
	    strlen(info->qid) > 64)) {
		*error_r = "malformed queue id";
		return -1;
	}
	if (info->nrcpts == 0 || info->rcpts == NULL) {
		*error_r = "no recipients to report";
		return -1;
	}
	if (info->nrcpts > DSN_MAX_RCPTS) {
		*error_r = "too many recipients for one report";
		return -1;
	}
	if (info->orig == NULL && info->orig_len > 0) {
		*error_r = "no original message";
		return -1;
	}
	for (i = 0; i < info->nrcpts; i++) {
		const struct dsn_rcpt *r = &info->rcpts[i];

		if (!addr_ok(r->addr) || (r->orig_addr != NULL &&
		    !addr_ok(r->orig_addr))) {
			*error_r = "malformed recipient address";
			return -1;
		}
		if ((unsigned)r->action > DSN_ACTION_EXPANDED) {
			*error_r = "unknown action";
			return -1;
		}
	}
	return 0;
}

/* text_rcpt - one recipient in the human-readable part */
static int
text_rcpt(struct buf *t, const struct dsn_info *info,
    const struct dsn_rcpt *r)
{
	struct buf tmp;
	int rc = 0;

	(void)info;
	rc |= buf_printf(t, "<%s>", r->addr);
	if (r->orig_addr != NULL && strcmp(r->orig_addr, r->addr) != 0)
		rc |= buf_printf(t, " (addressed as <%s>)", r->orig_addr);
	rc |= buf_printf(t, ": %s\r\n", dsn_action_name(r->action));
	buf_init(&tmp, DSN_MAX_DIAGNOSTIC * 4 + 64);
	if (r->remote_mta != NULL) {
		rc |= clean_text(r->remote_mta, SMTP_MAX_DOMAIN, false, &tmp);
		rc |= buf_printf(t, "    Remote server: %s\r\n",
		    buf_cstr(&tmp));
		buf_reset(&tmp);
	}
	if (r->diagnostic != NULL) {
		rc |= buf_append_str(&tmp, "Reason: ");
		rc |= clean_text(r->diagnostic, DSN_MAX_DIAGNOSTIC, true,
		    &tmp);
		rc |= wrap_text(t, "    ", buf_cstr(&tmp));
	}
	buf_fini(&tmp);
	if (r->action == DSN_ACTION_DELAYED && r->will_retry_until != 0) {
		char date[64];

		rfc5322_date(date, sizeof(date), r->will_retry_until);
		rc |= buf_printf(t, "    Retried until: %s\r\n", date);
	}
	rc |= buf_append_str(t, "\r\n");
	return rc == 0 ? 0 : -1;
}

/* human_part - the text of part 1 */
static int
human_part(struct buf *t, const struct dsn_info *info,
    const struct returned *ret)
{
	bool any[DSN_ACTION_EXPANDED + 1] = { false };
	size_t i;
	int rc = 0;

	for (i = 0; i < info->nrcpts; i++)
		any[info->rcpts[i].action] = true;
	rc |= buf_printf(t, "This is the mail delivery system at %s.\r\n\r\n",
	    info->reporting_mta);
	if (any[DSN_ACTION_FAILED])
		rc |= buf_append_str(t,
		    "Your message could not be delivered to one or more of "
		    "its recipients.\r\nThis is a permanent failure: delivery "
		    "to them will not be tried again.\r\n\r\n");
	if (any[DSN_ACTION_DELAYED])
		rc |= buf_append_str(t,
		    "Your message has not been delivered yet to one or more "
		    "of its recipients.\r\nDelivery is still being tried; "
		    "you do not need to send the message again.\r\nYou will "
		    "be told if it finally fails.\r\n\r\n");
	if (any[DSN_ACTION_DELIVERED] || any[DSN_ACTION_RELAYED] ||
	    any[DSN_ACTION_EXPANDED])
		rc |= buf_append_str(t,
		    "Your message was delivered, or passed on, to some of "
		    "its recipients,\r\nas requested.\r\n\r\n");
	for (i = 0; i < info->nrcpts; i++)
		rc |= text_rcpt(t, info, &info->rcpts[i]);
	if (info->qid != NULL)
		rc |= buf_printf(t, "Queue id of your message: %s\r\n",
		    info->qid);
	if (info->arrival != 0) {
		char date[64];

		rfc5322_date(date, sizeof(date), info->arrival);
		rc |= buf_printf(t, "Received by us: %s\r\n", date);
	}
	if (ret->full)
		rc |= buf_append_str(t, "Your message is attached.\r\n");
	else if (ret->hdr_len > 0)
		rc |= buf_printf(t, "The header of your message is "
		    "attached%s.\r\n", ret->cut ? " (cut short: it was too "
		    "long)" : "");
	if (ret->full_refused)
		rc |= buf_append_str(t, "Your message was too large to be "
		    "returned whole.\r\n");
	rc |= buf_printf(t, "\r\nIf you need help, write to the postmaster "
	    "of %s\r\nand include this report.\r\n", info->reporting_mta);
	return rc == 0 ? 0 : -1;
}

/* status_part - the body of part 2, RFC 3464 sections 2.2 and 2.3 */
static int
status_part(struct buf *s, const struct dsn_info *info)
{
	struct buf tmp;
	size_t i;
	int rc = 0;

	rc |= buf_printf(s, "Reporting-MTA: dns; %s\r\n", info->reporting_mta);
	if (info->qid != NULL)
		rc |= buf_printf(s, "X-Postino-Queue-ID: %s\r\n", info->qid);
	rc |= addr_field(s, "X-Postino-Sender", info->sender);
	if (info->arrival != 0)
		rc |= date_field(s, "Arrival-Date", info->arrival);
	buf_init(&tmp, DSN_MAX_DIAGNOSTIC + 64);
	for (i = 0; i < info->nrcpts; i++) {
		const struct dsn_rcpt *r = &info->rcpts[i];
		char status[16];
		const char *d;

		rc |= buf_append_str(s, "\r\n");
		if (r->orig_addr != NULL)
			rc |= addr_field(s, "Original-Recipient", r->orig_addr);
		rc |= addr_field(s, "Final-Recipient", r->addr);
		rc |= buf_printf(s, "Action: %s\r\n",
		    dsn_action_name(r->action));
		/* a status that is not "class.subject.detail" (a remote
		 * server's odd text) is replaced, never fatal: losing the
		 * bounce would be worse */
		if (r->status != NULL && status_ok(r->status,
		    strlen(r->status)))
			snprintf(status, sizeof(status), "%s", r->status);
		else
			derive_status(r, status, sizeof(status));
		rc |= buf_printf(s, "Status: %s\r\n", status);
		if (r->remote_mta != NULL) {
			buf_reset(&tmp);
			rc |= clean_text(r->remote_mta, SMTP_MAX_DOMAIN + 2,
			    false, &tmp);
			if (tmp.len > 0 && host_ok(buf_cstr(&tmp)))
				rc |= buf_printf(s, "Remote-MTA: dns; %s\r\n",
				    buf_cstr(&tmp));
		}
		if (r->diagnostic != NULL) {
			buf_reset(&tmp);
			d = r->diagnostic;
			while (*d == ' ' || *d == '\t')
				d++;
			/* an SMTP reply starts with its code (RFC 3464
			 * section 2.3.6); anything else is our own text */
			rc |= buf_append_str(&tmp, d[0] >= '2' && d[0] <= '5'
			    && d[1] >= '0' && d[1] <= '9' && d[2] >= '0' &&
			    d[2] <= '9' && (d[3] == ' ' || d[3] == '-' ||
			    d[3] == '\0') ? "smtp; " : "X-Postino; ");
			rc |= clean_text(d, DSN_MAX_DIAGNOSTIC, false, &tmp);
			rc |= fold_field(s, "Diagnostic-Code", buf_cstr(&tmp));
		}
		if (r->last_attempt != 0)
			rc |= date_field(s, "Last-Attempt-Date",
			    r->last_attempt);
		if (r->action == DSN_ACTION_DELAYED &&
		    r->will_retry_until != 0)
			rc |= date_field(s, "Will-Retry-Until",
			    r->will_retry_until);
	}
	buf_fini(&tmp);
	return rc == 0 ? 0 : -1;
}

/* returned_part - part 3 with its MIME header */
static int
returned_part(struct buf *o, const struct dsn_info *info,
    const struct returned *ret)
{
	const uint8_t *p = info->orig;
	int rc = 0;

	if (ret->full) {
		rc |= buf_printf(o, "Content-Type: %s\r\n"
		    "Content-Description: Your message\r\n"
		    "Content-Transfer-Encoding: %s\r\n\r\n",
		    ret->hdr_8bit ? "message/global" : "message/rfc822",
		    body_cte(p, info->orig_len));
		if (info->orig_len > 0)
			rc |= copy_lines(o, p, info->orig_len);
		return rc == 0 ? 0 : -1;
	}
	rc |= buf_printf(o, "Content-Type: %s\r\n"
	    "Content-Description: The header of your message\r\n"
	    "Content-Transfer-Encoding: %s\r\n\r\n",
	    ret->hdr_8bit ? "message/global-headers" : "text/rfc822-headers",
	    ret->hdr_8bit ? "8bit" : "7bit");
	if (ret->hdr_len > 0)
		rc |= copy_lines(o, p, ret->hdr_len);
	return rc == 0 ? 0 : -1;
}

static bool
contains(const struct buf *b, const char *s)
{
	return b->len > 0 && memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* top_header - the notification's own header fields */
static int
top_header(struct buf *out, const struct dsn_info *info,
    const char *boundary)
{
	bool any_failed = false, any_delayed = false;
	const char *subject;
	char id[33], date[64];
	struct buf to;
	size_t i;
	int rc = 0;

	for (i = 0; i < info->nrcpts; i++) {
		if (info->rcpts[i].action == DSN_ACTION_FAILED)
			any_failed = true;
		if (info->rcpts[i].action == DSN_ACTION_DELAYED)
			any_delayed = true;
	}
	subject = any_failed ? "Undelivered Mail Returned to Sender" :
	    any_delayed ? "Delayed Mail (still being retried)" :
	    "Successful Mail Delivery Report";
	buf_init(&to, SMTP_MAX_DOMAIN + 64);
	rc |= buf_printf(&to, "Mail Delivery System <MAILER-DAEMON@%s>",
	    info->reporting_mta);
	rc |= fold_field(out, "From", buf_cstr(&to));
	buf_fini(&to);
	/* the sender as written in the envelope: UTF-8 here only for an
	 * SMTPUTF8 sender (RFC 6532 section 3.2) */
	buf_init(&to, SMTP_MAX_PATH + 8);
	rc |= buf_printf(&to, "<%s>", info->sender);
	rc |= fold_field(out, "To", buf_cstr(&to));
	buf_fini(&to);
	rc |= fold_field(out, "Subject", subject);
	rfc5322_date(date, sizeof(date), time(NULL));
	rc |= buf_printf(out, "Date: %s\r\n", date);
	random_hex(id, 16);
	rc |= buf_printf(out, "Message-ID: <%s@%s>\r\n", id,
	    info->reporting_mta);
	rc |= buf_append_str(out, "Auto-Submitted: auto-replied\r\n");
	rc |= buf_append_str(out, "MIME-Version: 1.0\r\n");
	rc |= buf_printf(out, "Content-Type: multipart/report; "
	    "report-type=delivery-status;\r\n boundary=\"%s\"\r\n", boundary);
	rc |= buf_append_str(out, "\r\n");
	return rc == 0 ? 0 : -1;
}

int
dsn_build(const struct dsn_info *info, struct buf *out, const char **error_r)
{
	struct buf text, status, orig;
	char boundary[MIME_BUILD_BOUNDARY_LEN + 1];
	struct returned ret;
	size_t start = out->len;
	int rc = 0;

	if (check_info(info, error_r) < 0)
		return -1;
	plan_returned(info, &ret);
	buf_init(&text, out->max);
	buf_init(&status, out->max);
	buf_init(&orig, out->max);
	rc |= human_part(&text, info, &ret);
	rc |= status_part(&status, info);
	rc |= returned_part(&orig, info, &ret);
	if (rc != 0)
		goto fail;
	/* the text part goes out as 7bit or quoted-printable: only its raw
	 * form can hold a boundary, and the encoded one cannot add "=_" */
	do {
		mime_build_boundary(boundary);
	} while (contains(&text, boundary) || contains(&status, boundary) ||
	    contains(&orig, boundary));
	rc |= top_header(out, info, boundary);
	rc |= buf_printf(out, "This is a MIME-encapsulated delivery status "
	    "notification.\r\n\r\n--%s\r\n", boundary);
	rc |= mime_build_part(out, "text/plain; charset=utf-8",
	    mime_build_choose_cte(buf_span(&text), true), NULL, NULL, NULL,
	    buf_span(&text));
	rc |= buf_printf(out, "\r\n--%s\r\n", boundary);
	rc |= buf_append_str(out, "Content-Type: message/delivery-status\r\n"
	    "Content-Description: Delivery report\r\n\r\n");
	rc |= buf_append(out, status.data, status.len);
	rc |= buf_printf(out, "\r\n--%s\r\n", boundary);
	rc |= buf_append(out, orig.data, orig.len);
	rc |= buf_printf(out, "\r\n--%s--\r\n", boundary);
	if (rc != 0)
		goto fail;
	buf_fini(&text);
	buf_fini(&status);
	buf_fini(&orig);
	return 0;
fail:
	buf_fini(&text);
	buf_fini(&status);
	buf_fini(&orig);
	out->len = start;
	if (out->data != NULL)
		out->data[out->len] = '\0';
	*error_r = "notification larger than the buffer's ceiling";
	return -1;
}
