/*
 * cli_sendmail.c - `postino sendmail`: sendmail-compatible local
 * submission.
 *
 * Reads a message on standard input the way sendmail(8) does (a line
 * holding only "." ends it unless -i or -oi is given; no dot-stuffing),
 * makes line ends CRLF, takes recipients from the arguments and, with -t,
 * from the To:, Cc: and Bcc: fields (Bcc: fields are always removed),
 * completes the header as a submission server would (RFC 6409 section 8:
 * From:, Date:, Message-ID: when missing), adds a Received: field (RFC
 * 5321 section 4.4), writes the message into the spool durably with
 * queue_inject() and tells a running server (SIGUSR1 to the pid in
 * DATA_DIR/postino.pid) to pick it up.  Mail from a domain with a DKIM
 * key ([dkim] sign) is signed first (policy/dkim_signer.h).  Exit status
 * per sysexits.h.
 *
 * Input comes from a local user (trusted to submit mail, not to break the
 * spool): addresses are checked as SMTP would check them, lines are
 * limited to SENDMAIL_MAX_LINE octets, the message to [smtp]
 * max_message_size, recipients to SENDMAIL_MAX_RCPTS.  docs/bounces.md
 * and docs/configuration.md describe the command.
 */
#include "cli/cli.h"

#include <errno.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/strnum.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "mime/mime_address.h"
#include "mime/mime_build.h"
#include "mime/mime_header.h"
#include "policy/dkim_signer.h"
#include "queue/queue.h"
#include "smtp/smtp_parse.h"

struct sendmail {
	const char	*config_path;
	const char	*sender;	/* -f, or NULL */
	const char	*full_name;	/* -F, or NULL */
	bool		 from_header;	/* -t */
	bool		 ignore_dots;	/* -i, -oi */
	char		**args;		/* recipient arguments */
	size_t		 nargs;

	struct config	*cfg;
	struct arena	*arena;
	char		**rcpts;	/* checked addresses, in the arena */
	size_t		 nrcpts;
	struct buf	 in;		/* the message as read, CRLF */
	struct buf	 out;		/* the message as queued */
};

static int
fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "postino sendmail: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return code;
}

static int
usage(void)
{
	fprintf(stderr, "usage: postino sendmail [-c FILE] [-f SENDER] "
	    "[-F NAME] [-t] [-i] [-oi] [-odq|-odb|-odi] [RCPT...]\n");
	return EX_USAGE;
}

/* option_arg - the value of -xVALUE or -x VALUE */
static const char *
option_arg(int argc, char **argv, int *i)
{
	if (argv[*i][2] != '\0')
		return argv[*i] + 2;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

/* parse_args - options as sendmail and Postfix take them; returns 0 or
 * an exit status */
static int
parse_args(struct sendmail *sm, int argc, char **argv)
{
	int i;

	sm->config_path = getenv("POSTINO_CONFIG");
	if (sm->config_path == NULL)
		sm->config_path = "/etc/postino/postino.conf";
	sm->args = xcalloc((size_t)argc + 1, sizeof(*sm->args));
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (a[0] != '-' || a[1] == '\0') {
			sm->args[sm->nargs++] = argv[i];
			continue;
		}
		if (!strcmp(a, "--")) {
			while (++i < argc)
				sm->args[sm->nargs++] = argv[i];
			break;
		}
		if (!strcmp(a, "--config")) {
			if (i + 1 >= argc)
				return usage();
			sm->config_path = argv[++i];
		} else if (a[1] == 'c') {
			if ((sm->config_path = option_arg(argc, argv, &i)) ==
			    NULL)
				return usage();
		} else if (a[1] == 'f' || a[1] == 'r') {
			/* -r is the old name of -f */
			if ((sm->sender = option_arg(argc, argv, &i)) == NULL)
				return usage();
		} else if (a[1] == 'F') {
			if ((sm->full_name = option_arg(argc, argv, &i)) ==
			    NULL)
				return usage();
		} else if (!strcmp(a, "-t")) {
			sm->from_header = true;
		} else if (!strcmp(a, "-i") || !strcmp(a, "-oi")) {
			sm->ignore_dots = true;
		} else if (!strcmp(a, "-ti") || !strcmp(a, "-it")) {
			sm->from_header = true;
			sm->ignore_dots = true;
		} else if (!strcmp(a, "-odq") || !strcmp(a, "-odb") ||
		    !strcmp(a, "-odi") || !strcmp(a, "-bm") ||
		    !strcmp(a, "-v") || !strcmp(a, "-oem") ||
		    !strcmp(a, "-oee") || !strcmp(a, "-U")) {
			/* delivery mode, error mode, verbosity: the queue
			 * always takes the message and delivers it itself */
		} else if (a[1] == 'N' || a[1] == 'B' || a[1] == 'R' ||
		    a[1] == 'V') {
			/* DSN options and body type: accepted, not used */
			if (option_arg(argc, argv, &i) == NULL)
				return usage();
		} else {
			fprintf(stderr, "postino sendmail: unknown option "
			    "'%s'\n", a);
			return usage();
		}
	}
	return 0;
}

/* read_input - stdin into sm->in: CRLF line ends, sendmail's "." rule,
 * line and size limits checked before anything is kept */
static int
read_input(struct sendmail *sm)
{
	uint8_t chunk[65536];
	struct buf line;
	uint64_t lineno = 1;
	bool done = false, eof = false;
	int rc = 0;

	buf_init(&sm->in, (size_t)sm->cfg->max_message_size);
	buf_init(&line, SENDMAIL_MAX_LINE + 2);
	while (!done && rc == 0) {
		ssize_t n = eof ? 0 : read(STDIN_FILENO, chunk, sizeof(chunk));
		size_t i;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = fail(EX_NOINPUT, "cannot read the message: %s",
			    strerror(errno));
			break;
		}
		if (n == 0) {
			eof = true;
			if (line.len == 0)
				break;
			/* a last line without its line end */
			chunk[0] = '\n';
			n = 1;
			done = true;
		}
		for (i = 0; i < (size_t)n && rc == 0; i++) {
			uint8_t c = chunk[i];

			if (c != '\n') {
				if (buf_append_byte(&line, c) < 0)
					rc = fail(EX_DATAERR, "line %llu is "
					    "longer than %u octets; lines "
					    "that long cannot be sent by "
					    "SMTP (RFC 5321 section "
					    "4.5.3.1.6)", (unsigned long long)
					    lineno, SENDMAIL_MAX_LINE);
				continue;
			}
			if (line.len > 0 && line.data[line.len - 1] == '\r')
				line.len--;
			if (line.len > SENDMAIL_MAX_LINE) {
				rc = fail(EX_DATAERR, "line %llu is longer "
				    "than %u octets; lines that long cannot "
				    "be sent by SMTP (RFC 5321 section "
				    "4.5.3.1.6)", (unsigned long long)lineno,
				    SENDMAIL_MAX_LINE);
				break;
			}
			if (!sm->ignore_dots && line.len == 1 &&
			    line.data[0] == '.') {
				done = true;
				line.len = 0;
				break;
			}
			if (buf_append(&sm->in, line.data, line.len) < 0 ||
			    buf_append_str(&sm->in, "\r\n") < 0)
				rc = fail(EX_DATAERR, "message larger than "
				    "the limit of %llu octets ([smtp] "
				    "max_message_size)", (unsigned long long)
				    sm->cfg->max_message_size);
			buf_reset(&line);
			lineno++;
		}
	}
	buf_fini(&line);
	return rc;
}

static bool
is_atext(uint8_t c)
{
	return ascii_isalnum(c) || c >= 0x80 ||
	    strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* local_part - as SMTP writes it: a dot-atom, else a quoted string */
static void
local_part(struct buf *b, const char *lp)
{
	const uint8_t *p = (const uint8_t *)lp;
	bool dot_atom = lp[0] != '\0' && lp[0] != '.';
	size_t i, n = strlen(lp);
	int rc = 0;

	for (i = 0; i < n && dot_atom; i++) {
		if (p[i] == '.' ? (i + 1 == n || p[i + 1] == '.') :
		    !is_atext(p[i]))
			dot_atom = false;
	}
	if (dot_atom) {
		rc |= buf_append(b, lp, n);
	} else {
		rc |= buf_append_byte(b, '"');
		for (i = 0; i < n; i++) {
			if (p[i] == '"' || p[i] == '\\')
				rc |= buf_append_byte(b, '\\');
			rc |= buf_append_byte(b, p[i]);
		}
		rc |= buf_append_byte(b, '"');
	}
	(void)rc;	/* over-long: smtp_parse_path refuses it */
}

/*
 * check_addr - an address as SMTP's RCPT TO (or MAIL FROM) would take it
 * (RFC 5321 section 4.1.2, UTF-8 allowed as with SMTPUTF8).  Returns the
 * mailbox in the arena, or NULL.
 */
static const char *
check_addr(struct sendmail *sm, const char *addr, bool allow_null)
{
	struct smtp_reply err;
	struct span mbox;
	struct buf b;
	size_t used;
	const char *r = NULL;

	buf_init(&b, SMTP_MAX_PATH * 2 + 8);
	if (buf_printf(&b, "<%s>", addr) == 0 &&
	    smtp_parse_path(buf_span(&b), true, allow_null, !allow_null,
	    &used, &mbox, &err) == 0 && used == b.len &&
	    smtp_parse_utf8_ok(mbox))
		r = arena_strndup(sm->arena, (const char *)mbox.p, mbox.len);
	buf_fini(&b);
	return r;
}

static int add_checked(struct sendmail *sm, const char *addr,
    const char *as_written);

/* add_rcpt - one recipient, checked and without duplicates; 0 or exit */
static int
add_rcpt(struct sendmail *sm, const char *local, const char *domain,
    const char *as_written)
{
	const char *addr;
	struct buf b;

	if (domain == NULL || domain[0] == '\0' || local == NULL)
		return fail(EX_DATAERR, "bad recipient address '%s': it "
		    "needs a domain (user@example.org)", as_written);
	buf_init(&b, 4096);
	local_part(&b, local);
	if (buf_printf(&b, "@%s", domain) < 0)
		b.len = 0;
	addr = check_addr(sm, buf_cstr(&b), false);
	buf_fini(&b);
	return add_checked(sm, addr, as_written);
}

/* add_checked - a checked address (NULL: it was bad), once */
static int
add_checked(struct sendmail *sm, const char *addr, const char *as_written)
{
	size_t i;

	if (addr == NULL)
		return fail(EX_DATAERR, "bad recipient address '%s'",
		    as_written);
	for (i = 0; i < sm->nrcpts; i++) {
		if (!strcmp(sm->rcpts[i], addr))
			return 0;
	}
	if (sm->nrcpts >= SENDMAIL_MAX_RCPTS)
		return fail(EX_DATAERR, "too many recipients (at most %u)",
		    SENDMAIL_MAX_RCPTS);
	sm->rcpts[sm->nrcpts++] = (char *)addr;
	return 0;
}

/* add_list - every address of an RFC 5322 address list */
static int
add_list(struct sendmail *sm, struct span list, const char *as_written)
{
	struct mime_address *a;
	int rc;

	for (a = mime_address_parse(list, sm->arena, SENDMAIL_MAX_RCPTS + 1);
	    a != NULL; a = a->next) {
		if (a->group_start || a->group_end)
			continue;
		rc = add_rcpt(sm, a->mailbox, a->domain,
		    as_written != NULL ? as_written : a->mailbox != NULL ?
		    a->mailbox : "");
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* header_end - where the header section of in starts (*skip_r) and ends
 * (*hdr_r, its fields only), and where the body starts (after the empty
 * line, if there is one) */
static void
header_end(const struct buf *in, size_t *skip_r, size_t *hdr_r,
    size_t *body_r)
{
	const uint8_t *p = in->data;
	size_t i = 0, n = in->len;
	bool in_field = false;

	/* an mbox "From " separator line first: dropped, as sendmail and
	 * Postfix do */
	if (n >= 5 && memcmp(p, "From ", 5) == 0) {
		const uint8_t *e = memchr(p, '\n', n);

		i = e != NULL ? (size_t)(e - p) + 1 : n;
		*skip_r = i;
	}

	while (i < n) {
		const uint8_t *e = memchr(p + i, '\n', n - i);
		size_t len = e != NULL ? (size_t)(e - (p + i)) + 1 : n - i;
		size_t k;

		if (len == 2) {		/* "\r\n": the empty line */
			*hdr_r = i;
			*body_r = i + 2;
			return;
		}
		if ((p[i] == ' ' || p[i] == '\t') && in_field) {
			i += len;
			continue;
		}
		for (k = 0; k < len && p[i + k] > ' ' && p[i + k] < 0x7f &&
		    p[i + k] != ':'; k++)
			;
		if (k == 0 || k >= len || p[i + k] != ':')
			break;	/* not a field: the body starts here */
		in_field = true;
		i += len;
	}
	*hdr_r = i;
	*body_r = i;
}

/* first_name - the user's name from the GECOS field (up to a comma) */
static char *
first_name(const struct passwd *pw)
{
	size_t n;

	if (pw == NULL || pw->pw_gecos == NULL)
		return NULL;
	n = strcspn(pw->pw_gecos, ",");
	if (n == 0)
		return NULL;
	return xstrndup(pw->pw_gecos, n);
}

/* from_field - From: NAME <sender> (RFC 6409 section 8.1) */
static int
from_field(struct sendmail *sm, const char *sender, const char *name)
{
	struct buf list;
	const char *c;
	int rc = 0;

	buf_init(&list, 8192);
	if (name != NULL && name[0] != '\0') {
		rc |= buf_append_byte(&list, '"');
		for (c = name; *c != '\0'; c++) {
			if (*c == '\r' || *c == '\n')
				continue;
			if (*c == '"' || *c == '\\')
				rc |= buf_append_byte(&list, '\\');
			rc |= buf_append_byte(&list, (uint8_t)*c);
		}
		rc |= buf_printf(&list, "\" <%s>", sender);
	} else
		rc |= buf_append_str(&list, sender);
	if (rc == 0)
		rc = mime_build_address_header(&sm->out, "From",
		    buf_cstr(&list));
	buf_fini(&list);
	return rc;
}

static bool
has_8bit(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] >= 0x80)
			return true;
	}
	return false;
}

/* build - the message as queued; 0 or an exit status */
static int
build(struct sendmail *sm, const char *sender, const struct passwd *pw)
{
	bool has_from = false, has_date = false, has_msgid = false;
	size_t skip = 0, hdr, body, pos = 0;
	uint64_t received = 0, max_received = sm->cfg->max_received != 0 ?
	    sm->cfg->max_received : SMTP_MAX_RECEIVED;
	struct mime_field f;
	struct span h;
	char date[64], id[33];
	int rc = 0;

	header_end(&sm->in, &skip, &hdr, &body);
	h = span_make(sm->in.data + skip, hdr - skip);
	/* -t: recipients from the header, added to the arguments' (as
	 * Postfix does) */
	while (mime_header_next(h, &pos, &f)) {
		/* the loop check smtpd makes (RFC 5321 section 6.3) */
		if (span_eq_str_ci(f.name, "Received") &&
		    ++received >= max_received)
			return fail(EX_DATAERR, "too many Received: fields "
			    "(%llu), mail loop?", (unsigned long long)
			    received);
		if (span_eq_str_ci(f.name, "From"))
			has_from = true;
		else if (span_eq_str_ci(f.name, "Date"))
			has_date = true;
		else if (span_eq_str_ci(f.name, "Message-ID"))
			has_msgid = true;
		else if (sm->from_header && (span_eq_str_ci(f.name, "To") ||
		    span_eq_str_ci(f.name, "Cc") ||
		    span_eq_str_ci(f.name, "Bcc"))) {
			rc = add_list(sm, f.value, NULL);
			if (rc != 0)
				return rc;
		}
	}
	if (sm->nrcpts == 0)
		return fail(sm->from_header ? EX_DATAERR : EX_USAGE,
		    sm->from_header ? "no recipient addresses found in the "
		    "message header" : "no recipients given");

	buf_init(&sm->out, (size_t)sm->cfg->max_message_size + 64 * 1024);
	rfc5322_date(date, sizeof(date), time(NULL));
	random_hex(id, 8);
	/* RFC 5321 section 4.4: a trace field, first.  "for" only with one
	 * recipient, so that Bcc recipients are not shown to the others */
	rc |= buf_printf(&sm->out, "Received: by %s (postino, from userid "
	    "%lu)\r\n\twith local id %s", sm->cfg->hostname,
	    (unsigned long)getuid(), id);
	if (sm->nrcpts == 1)
		rc |= buf_printf(&sm->out, "\r\n\tfor <%s>", sm->rcpts[0]);
	rc |= buf_printf(&sm->out, ";\r\n\t%s\r\n", date);
	pos = 0;
	while (mime_header_next(h, &pos, &f)) {
		if (span_eq_str_ci(f.name, "Bcc"))
			continue;	/* never shown to anyone */
		rc |= buf_append(&sm->out, f.raw.p, f.raw.len);
	}
	if (!has_from) {
		/* the user's own name only for the user's own address */
		char *name = sm->full_name != NULL ? xstrdup(sm->full_name) :
		    sm->sender == NULL ? first_name(pw) : NULL;
		char *mdaemon = sender[0] == '\0' ? xasprintf(
		    "MAILER-DAEMON@%s", sm->cfg->hostname) : NULL;

		rc |= from_field(sm, mdaemon != NULL ? mdaemon : sender, name);
		free(name);
		free(mdaemon);
	}
	if (!has_date)
		rc |= buf_printf(&sm->out, "Date: %s\r\n", date);
	if (!has_msgid) {
		random_hex(id, 16);
		rc |= buf_printf(&sm->out, "Message-ID: <%s@%s>\r\n", id,
		    sm->cfg->hostname);
	}
	rc |= buf_append_str(&sm->out, "\r\n");
	if (body < sm->in.len)
		rc |= buf_append(&sm->out, sm->in.data + body,
		    sm->in.len - body);
	if (rc != 0 || sm->out.len > sm->cfg->max_message_size)
		return fail(EX_DATAERR, "message larger than the limit of "
		    "%llu octets ([smtp] max_message_size)",
		    (unsigned long long)sm->cfg->max_message_size);
	return 0;
}

/* signal_server - SIGUSR1 to a running server so it scans the spool */
/*
 * sign - DKIM-signs the message with its From: domain's key (docs/dkim.md);
 * a domain without a key, or a key this user may not read, leaves it
 * unsigned (with a warning for the latter).
 */
static void
sign(struct sendmail *sm)
{
	struct buf sig;
	const char *why = NULL;
	int rc;

	buf_init(&sig, (size_t)sm->cfg->max_message_size + 128 * 1024);
	rc = dkim_signer_sign(sm->cfg->data_dir, sm->cfg->dkim_selector,
	    sm->out.data, sm->out.len, time(NULL), &sig, NULL, NULL, &why);
	if (rc < 0)
		fprintf(stderr, "postino sendmail: warning: not DKIM-signed: "
		    "%s\n", why != NULL ? why : "?");
	if (rc == 1 && buf_append(&sig, sm->out.data, sm->out.len) == 0) {
		buf_fini(&sm->out);
		sm->out = sig;
		return;
	}
	buf_fini(&sig);
}

static void
signal_server(const struct config *cfg)
{
	char *path = config_data_path(cfg, "postino.pid");
	struct buf b;
	uint64_t pid;

	buf_init(&b, 64);
	if (read_file(path, &b) == 0) {
		struct span s = buf_span(&b);

		while (s.len > 0 && (s.p[s.len - 1] == '\n' ||
		    s.p[s.len - 1] == '\r'))
			s.len--;
		if (strnum_u64(s, 4194304, &pid) == 0 && pid > 1)
			(void)kill((pid_t)pid, SIGUSR1);
	}
	buf_fini(&b);
	free(path);
}

/* run - everything after the options; 0 or an exit status */
static int
run(struct sendmail *sm)
{
	struct queue_envelope env;
	const struct passwd *pw;
	const char *sender, *err = NULL;
	char qid[64], *qdir, *owned = NULL;
	bool utf8 = false;
	size_t i;
	int rc;

	sm->rcpts = arena_alloc(sm->arena, sizeof(*sm->rcpts) *
	    (SENDMAIL_MAX_RCPTS + 1));
	for (i = 0; i < sm->nargs; i++) {
		const char *a = sm->args[i];

		/* a bare address is checked as it is; "Name <addr>" and
		 * "a@x, b@y" are read as an address list (as Postfix) */
		if (strpbrk(a, "<,") == NULL) {
			if (strchr(a, '@') == NULL)
				return fail(EX_DATAERR, "bad recipient "
				    "address '%s': it needs a domain "
				    "(user@example.org)", a);
			rc = add_checked(sm, check_addr(sm, a, false), a);
		} else if (mime_address_parse(span_from_str(a), sm->arena,
		    1) == NULL)
			rc = fail(EX_DATAERR, "bad recipient address '%s'", a);
		else
			rc = add_list(sm, span_from_str(a), a);
		if (rc != 0)
			return rc;
	}
	if (sm->nrcpts == 0 && !sm->from_header)
		return fail(EX_USAGE, "no recipients given (name them or use "
		    "-t)");
	pw = getpwuid(getuid());
	if (sm->sender != NULL) {
		size_t n = strlen(sm->sender);

		/* "-f <addr>" as some programs pass it */
		if (n >= 2 && sm->sender[0] == '<' &&
		    sm->sender[n - 1] == '>') {
			owned = xstrndup(sm->sender + 1, n - 2);
			sender = check_addr(sm, owned, true);
			free(owned);
			owned = NULL;
		} else
			sender = check_addr(sm, sm->sender, true);
		if (sender == NULL)
			return fail(EX_DATAERR, "bad sender address '%s'",
			    sm->sender);
	} else {
		if (pw == NULL || pw->pw_name == NULL)
			return fail(EX_SOFTWARE, "cannot find the name of "
			    "user %lu", (unsigned long)getuid());
		owned = xasprintf("%s@%s", pw->pw_name, sm->cfg->hostname);
		sender = check_addr(sm, owned, false);
		if (sender == NULL) {
			rc = fail(EX_DATAERR, "'%s' is not a usable sender "
			    "address; give one with -f", owned);
			free(owned);
			return rc;
		}
		free(owned);
	}
	rc = read_input(sm);
	if (rc != 0)
		return rc;
	rc = build(sm, sender, pw);
	if (rc != 0)
		return rc;
	if (sm->cfg->dkim_sign)
		sign(sm);

	utf8 = has_8bit((const uint8_t *)sender, strlen(sender));
	for (i = 0; i < sm->nrcpts; i++) {
		if (has_8bit((const uint8_t *)sm->rcpts[i],
		    strlen(sm->rcpts[i])))
			utf8 = true;
	}
	memset(&env, 0, sizeof(env));
	env.sender = sender;
	env.rcpts = (const char *const *)sm->rcpts;
	env.nrcpts = sm->nrcpts;
	env.client_addr = NULL;
	env.helo = NULL;
	env.body_8bit = has_8bit(sm->out.data, sm->out.len);
	env.smtputf8 = utf8;
	qdir = config_data_path(sm->cfg, "queue");
	errno = 0;
	if (queue_inject(qdir, &env, sm->out.data, sm->out.len, qid,
	    &err) < 0) {
		rc = fail(EX_TEMPFAIL, "cannot put the message into the "
		    "queue %s: %s%s%s", qdir, err != NULL ? err : "failed",
		    errno != 0 ? ": " : "", errno != 0 ? strerror(errno) :
		    "");
		free(qdir);
		return rc;
	}
	free(qdir);
	signal_server(sm->cfg);
	return 0;
}

int
cli_sendmail(int argc, char **argv)
{
	struct sendmail sm;
	char *err = NULL;
	int rc;

	memset(&sm, 0, sizeof(sm));
	/* like sendmail: quiet unless something goes wrong */
	log_set_level(LOG_LEVEL_WARN);
	rc = parse_args(&sm, argc, argv);
	if (rc != 0) {
		free(sm.args);
		return rc;
	}
	sm.cfg = config_load(sm.config_path, &err);
	if (sm.cfg == NULL) {
		rc = fail(EX_TEMPFAIL, "%s", err);
		free(err);
		free(sm.args);
		return rc;
	}
	sm.arena = arena_new("sendmail", 64 * 1024, 64u * 1024 * 1024);
	rc = run(&sm);
	buf_fini(&sm.in);
	buf_fini(&sm.out);
	arena_free(&sm.arena);
	config_free(&sm.cfg);
	free(sm.args);
	return rc;
}
