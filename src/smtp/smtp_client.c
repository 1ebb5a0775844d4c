/*
 * smtp_client.c - the SMTP client protocol engine (sans-I/O).
 *
 * RFC 5321 (greeting 3.1, EHLO/HELO fallback 3.2 and 4.1.1.1, the
 * transaction 3.3, dot-stuffing 4.5.2, reply syntax 4.2, timeouts
 * 4.5.3.2), RFC 2920 PIPELINING, RFC 1870 SIZE, RFC 6152 8BITMIME,
 * RFC 6531 SMTPUTF8, RFC 3207 STARTTLS, RFC 2034/3463 enhanced codes.
 *
 * Untrusted input: the remote server's replies.  They are framed into
 * lines of at most max_reply_line bytes, a reply into at most
 * max_reply_lines lines and max_reply bytes; a line that breaks the reply
 * syntax (three digits, then SP, '-' or the end; the same code on every
 * line) fails the connection, as does a reply nobody asked for.  Text is
 * made printable before anyone sees it.
 *
 * Replies are matched to commands in order.  In a transaction the
 * commands are numbered: [RSET] MAIL RCPT... DATA; with PIPELINING they
 * are all written at once (RSET and MAIL may open a group, DATA ends it,
 * RFC 2920 3.1), without it one at a time.  Only set_state() changes the
 * state.
 */
#include "smtp/smtp_client.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/strnum.h"
#include "lib/xmalloc.h"

/*
 * Ceiling of unsent output.  A pipelined transaction of
 * SMTP_CLIENT_MAX_RCPTS recipients is under 300 KiB and the text is made
 * one block at a time, so only an owner that never sends reaches it.
 */
#define SMTP_CLIENT_OUT_MAX	(4u * 1024 * 1024)
/* Bytes asked from read_body at a time. */
#define SMTP_CLIENT_READ_CHUNK	(16u * 1024)

enum smtp_client_state {
	SMTP_CLIENT_STATE_GREETING,	/* connected, waiting for 220 */
	SMTP_CLIENT_STATE_EHLO,		/* EHLO sent */
	SMTP_CLIENT_STATE_HELO,		/* EHLO refused, HELO sent */
	SMTP_CLIENT_STATE_STARTTLS,	/* STARTTLS sent */
	SMTP_CLIENT_STATE_TLS,		/* the owner runs the handshake */
	SMTP_CLIENT_STATE_READY,	/* idle, the owner decides */
	SMTP_CLIENT_STATE_TXN,		/* MAIL/RCPT/DATA replies due */
	SMTP_CLIENT_STATE_BODY,		/* sending the message text */
	SMTP_CLIENT_STATE_DOT,		/* waiting for the final reply */
	SMTP_CLIENT_STATE_QUIT,		/* QUIT sent */
	SMTP_CLIENT_STATE_DONE,		/* finished; input discarded */
};

static const char *const state_names[] = {
	"GREETING", "EHLO", "HELO", "STARTTLS", "TLS", "READY", "TXN",
	"BODY", "DOT", "QUIT", "DONE",
};

enum smtp_client_cmd {
	SMTP_CLIENT_CMD_RSET,
	SMTP_CLIENT_CMD_MAIL,
	SMTP_CLIENT_CMD_RCPT,
	SMTP_CLIENT_CMD_DATA,
};

static const char *const cmd_names[] = { "RSET", "MAIL", "RCPT", "DATA" };

/* The state of one recipient in a transaction. */
enum smtp_client_rs {
	SMTP_CLIENT_RS_PENDING,
	SMTP_CLIENT_RS_ACCEPTED,	/* 2xx to RCPT, waiting for the end */
	SMTP_CLIENT_RS_DONE,		/* rcpt_result made */
};

/* A result kept across replies; text lives in the transaction arena. */
struct smtp_client_saved {
	bool				 set;
	struct smtp_client_result	 r;
};

/* The message being sent: smtp_client_send() to message_done. */
struct smtp_client_txn {
	char		*from;
	char		**rcpts;
	size_t		 nrcpts;
	uint8_t		*rs;		/* smtp_client_rs each */
	size_t		*sendidx;	/* rcpts to send, in order */
	size_t		 nsend;
	size_t		 ncmds;		/* RSET? MAIL RCPT* DATA */
	size_t		 nsent;
	size_t		 nanswered;
	size_t		 naccepted;
	uint64_t	 size;
	bool		 has_rset;
	bool		 pipelined;
	bool		 body8;
	bool		 utf8;
	bool		 mail_failed;
	bool		 dummy_dot;	/* "." after an unwanted 354 */
	struct smtp_client_saved	 decided;	/* MAIL refusal */
	struct smtp_client_saved	 first_deferred;
	struct smtp_client_saved	 first_failed;
};

/* The reply being read. */
struct smtp_client_reply {
	struct buf	 line;		/* partial line */
	struct buf	 text;		/* the lines' text, joined */
	int		 code;		/* 0: no reply under way */
	unsigned	 nlines;
	size_t		 total;
	char		 enh[16];
	/* EHLO keywords seen in this reply, committed on 2xx */
	unsigned	 caps;
	uint64_t	 size;
};

struct smtp_client {
	struct smtp_client_config	 cfg;
	const struct smtp_client_ops	*ops;
	void				*ctx;
	char				*helo_name;
	char				*peer;
	char				*sid;

	enum smtp_client_state		 state;
	bool				 want_close;
	bool				 is_tls;
	bool				 need_rset;
	bool				 tls_cut;	/* drop the rest */
	unsigned			 caps;
	uint64_t			 peer_size;

	struct buf			 out;
	struct smtp_client_reply	 rp;

	struct arena			*txn_arena;
	struct smtp_client_txn		 txn;
	bool				 in_txn;

	/* dot-stuffing across read_body chunks */
	bool				 body_bol;	/* line start */
	bool				 body_cr;	/* CR, no LF yet */
	uint64_t			 body_bytes;
	bool				 body_8bit;	/* octet > 127 */
	uint8_t				*chunk;	/* READ_CHUNK */
};

static void conn_fail(struct smtp_client *c, enum smtp_client_fail why,
    int code, const char *enh, const char *text, bool is_remote,
    bool quit);

/* --- small helpers ------------------------------------------------- */

static void
set_state(struct smtp_client *c, enum smtp_client_state st)
{
	if (c->state == st)
		return;
	log_debug("smtp-client state sid=%s peer=%s %s -> %s", c->sid,
	    c->peer, state_names[c->state], state_names[st]);
	c->state = st;
}

static void
result_set(struct smtp_client_result *r, int code, const char *enh,
    const char *text, bool is_remote)
{
	r->code = code;
	if (enh != NULL && enh[0] != '\0')
		snprintf(r->enh, sizeof(r->enh), "%s", enh);
	else
		snprintf(r->enh, sizeof(r->enh), "%d.0.0", code / 100);
	r->text = text != NULL ? text : "";
	r->is_remote = is_remote;
}

/* out_printf - queues a command; on overflow the connection fails */
static bool
out_printf(struct smtp_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static bool
out_printf(struct smtp_client *c, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = buf_vprintf(&c->out, fmt, ap);
	va_end(ap);
	if (rc == 0)
		return true;
	conn_fail(c, SMTP_CLIENT_FAIL_LOCAL, 451, "4.3.0",
	    "output buffer overflow (output not sent)", false, false);
	return false;
}

static void
save_result(struct smtp_client *c, struct smtp_client_saved *s,
    const struct smtp_client_result *r)
{
	if (s->set)
		return;
	s->set = true;
	s->r = *r;
	s->r.text = arena_strdup(c->txn_arena, r->text);
}

/* --- transactions -------------------------------------------------- */

/* rcpt_finish - the final outcome of recipient i */
static void
rcpt_finish(struct smtp_client *c, size_t i,
    const struct smtp_client_result *r)
{
	struct smtp_client_txn *t = &c->txn;

	if (t->rs[i] == SMTP_CLIENT_RS_DONE)
		return;
	t->rs[i] = SMTP_CLIENT_RS_DONE;
	if (r->code >= 400 && r->code < 500)
		save_result(c, &t->first_deferred, r);
	else if (r->code >= 500)
		save_result(c, &t->first_failed, r);
	log_debug("smtp-client rcpt sid=%s peer=%s rcpt=%zu code=%d "
	    "enh=%s", c->sid, c->peer, i, r->code, r->enh);
	c->ops->rcpt_result(c->ctx, i, r);
}

/* rcpt_finish_all - every recipient in state `which` gets r */
static void
rcpt_finish_all(struct smtp_client *c, enum smtp_client_rs which,
    const struct smtp_client_result *r)
{
	size_t i;

	for (i = 0; i < c->txn.nrcpts; i++)
		if (c->txn.rs[i] == which)
			rcpt_finish(c, i, r);
}

/*
 * txn_end - the message is over: message_done with r, or with the
 * summary when r is NULL; then the engine is ready again (unless
 * `ready` is false: the caller decides what follows).
 */
static void
txn_end(struct smtp_client *c, const struct smtp_client_result *r,
    bool ready)
{
	struct smtp_client_txn *t = &c->txn;
	struct smtp_client_result sum;

	if (r == NULL) {
		if (t->decided.set)
			r = &t->decided.r;
		else if (t->first_deferred.set)
			r = &t->first_deferred.r;
		else if (t->first_failed.set)
			r = &t->first_failed.r;
		else {
			result_set(&sum, 451, "4.0.0", "no recipient "
			    "accepted", false);
			r = &sum;
		}
	}
	log_info("smtp-client message sid=%s peer=%s code=%d enh=%s "
	    "rcpts=%zu accepted=%zu", c->sid, c->peer, r->code, r->enh,
	    t->nrcpts, t->naccepted);
	c->ops->message_done(c->ctx, r);
	c->in_txn = false;
	memset(t, 0, sizeof(*t));
	arena_reset(c->txn_arena);
	if (!ready)
		return;
	set_state(c, SMTP_CLIENT_STATE_READY);
	c->ops->ready(c->ctx);
}

static enum smtp_client_cmd
cmd_kind(const struct smtp_client_txn *t, size_t k, size_t *rcpt_r)
{
	if (t->has_rset) {
		if (k == 0)
			return SMTP_CLIENT_CMD_RSET;
		k--;
	}
	if (k == 0)
		return SMTP_CLIENT_CMD_MAIL;
	if (k <= t->nsend) {
		*rcpt_r = t->sendidx[k - 1];
		return SMTP_CLIENT_CMD_RCPT;
	}
	return SMTP_CLIENT_CMD_DATA;
}

/* write_cmd - writes command k of the transaction */
static bool
write_cmd(struct smtp_client *c, size_t k)
{
	struct smtp_client_txn *t = &c->txn;
	size_t i = 0;
	char size[40] = "";

	switch (cmd_kind(t, k, &i)) {
	case SMTP_CLIENT_CMD_RSET:
		return out_printf(c, "RSET\r\n");
	case SMTP_CLIENT_CMD_MAIL:
		if (c->caps & SMTP_CLIENT_CAP_SIZE)
			snprintf(size, sizeof(size), " SIZE=%llu",
			    (unsigned long long)t->size);
		return out_printf(c, "MAIL FROM:<%s>%s%s%s\r\n", t->from,
		    size, t->body8 ? " BODY=8BITMIME" : "",
		    t->utf8 ? " SMTPUTF8" : "");
	case SMTP_CLIENT_CMD_RCPT:
		return out_printf(c, "RCPT TO:<%s>\r\n", t->rcpts[i]);
	case SMTP_CLIENT_CMD_DATA:
		return out_printf(c, "DATA\r\n");
	}
	return false;
}

/*
 * addr_sendable - an address we may put between angle brackets: no
 * control characters (a CR or LF would inject a command), no brackets,
 * within the path limit.  Sets *utf8 when it has octets > 127.
 */
static bool
addr_sendable(const char *a, bool *utf8)
{
	size_t n, i;

	if (a == NULL)
		return false;
	n = strlen(a);
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)a[i];

		if (ch < 0x20 || ch == 0x7f || ch == '<' || ch == '>')
			return false;
		if (ch >= 0x80)
			*utf8 = true;
	}
	return true;
}

/* addr_copy - an address into the transaction; NULL if too long */
static char *
addr_copy(struct smtp_client *c, const char *a)
{
	/* the path with its brackets is at most SMTP_MAX_PATH octets */
	if (a == NULL || strnlen(a, SMTP_MAX_PATH - 1) > SMTP_MAX_PATH - 2)
		return NULL;
	return arena_strdup(c->txn_arena, a);
}

/* --- the message text ---------------------------------------------- */

/*
 * body_stuff - appends n bytes of text, dot-stuffed (RFC 5321 4.5.2).
 * Line ends become CRLF whatever they were: a bare LF or CR is sent as
 * CRLF, so that the peer can never see a line end we did not stuff
 * behind (the "SMTP smuggling" confusion).  Each input byte makes at
 * most two output bytes, plus two for a CR left from the last chunk.
 */
static bool
body_stuff(struct smtp_client *c, const uint8_t *p, size_t n)
{
	uint8_t *w = buf_reserve(&c->out, 2 * n + 2);
	size_t i, o = 0;

	if (w == NULL)
		return false;
	for (i = 0; i < n; i++) {
		uint8_t b = p[i];

		if (c->body_cr) {
			c->body_cr = false;
			w[o++] = '\r';
			w[o++] = '\n';
			c->body_bol = true;
			if (b == '\n')
				continue;
		}
		if (b == '\r') {
			c->body_cr = true;
			continue;
		}
		if (b == '\n') {
			w[o++] = '\r';
			w[o++] = '\n';
			c->body_bol = true;
			continue;
		}
		if (c->body_bol && b == '.')
			w[o++] = '.';
		if (b >= 0x80)
			c->body_8bit = true;
		w[o++] = b;
		c->body_bol = false;
	}
	c->out.len += o;
	c->out.data[c->out.len] = '\0';
	return true;
}

/* body_end - the last line end if missing, then the final dot */
static bool
body_end(struct smtp_client *c)
{
	bool crlf = c->body_cr || !c->body_bol;

	c->body_cr = false;
	c->body_bol = true;
	if (buf_printf(&c->out, "%s.\r\n", crlf ? "\r\n" : "") < 0)
		return false;
	log_debug("smtp-client text-sent sid=%s peer=%s bytes=%llu", c->sid,
	    c->peer, (unsigned long long)c->body_bytes);
	/* XXX: the owner said 7 bit; we cannot take it back any more */
	if (c->body_8bit && !c->txn.body8)
		log_warn("smtp-client undeclared-8bit sid=%s peer=%s", c->sid,
		    c->peer);
	set_state(c, SMTP_CLIENT_STATE_DOT);
	return true;
}

/* body_fill - produces text until a block is queued or the text ends */
static void
body_fill(struct smtp_client *c)
{
	ssize_t n;

	while (c->state == SMTP_CLIENT_STATE_BODY &&
	    c->out.len < SMTP_CLIENT_BODY_BLOCK) {
		n = c->ops->read_body(c->ctx, c->chunk,
		    SMTP_CLIENT_READ_CHUNK);
		if (n < 0 || (size_t)n > SMTP_CLIENT_READ_CHUNK) {
			conn_fail(c, SMTP_CLIENT_FAIL_LOCAL, 451, "4.3.0",
			    "local error reading the message", false, false);
			return;
		}
		if (n == 0) {
			if (!body_end(c))
				break;
			return;
		}
		c->body_bytes += (uint64_t)n;
		if (!body_stuff(c, c->chunk, (size_t)n))
			break;
	}
	if (c->state == SMTP_CLIENT_STATE_BODY &&
	    c->out.len >= SMTP_CLIENT_BODY_BLOCK)
		return;
	if (c->state == SMTP_CLIENT_STATE_BODY ||
	    c->state == SMTP_CLIENT_STATE_DOT)
		conn_fail(c, SMTP_CLIENT_FAIL_LOCAL, 451, "4.3.0",
		    "output buffer overflow (output not sent)", false, false);
}

/* --- failure ------------------------------------------------------- */

/*
 * conn_fail - the connection is unusable: whatever is not final is
 * deferred (a 5xx that ends a connection, like a refused RSET, defers
 * with its class changed to 4), then ops->failed.  quit: the server
 * still listens, say goodbye.
 */
static void
conn_fail(struct smtp_client *c, enum smtp_client_fail why, int code,
    const char *enh, const char *text, bool is_remote, bool quit)
{
	struct smtp_client_result r, d;
	char denh[16];
	char esc[LOG_ESCAPE_BUFSIZE];
	enum smtp_client_state old = c->state;
	size_t i;

	if (c->state == SMTP_CLIENT_STATE_DONE)
		return;
	result_set(&r, code, enh, text, is_remote);
	set_state(c, SMTP_CLIENT_STATE_DONE);
	c->want_close = true;
	log_info("smtp-client failed sid=%s peer=%s state=%s code=%d enh=%s "
	    "reason=\"%s\"", c->sid, c->peer, state_names[old], r.code,
	    r.enh, log_escape(esc, sizeof(esc), r.text, strlen(r.text)));
	if (c->in_txn) {
		d = r;
		if (d.code < 400 || d.code >= 500) {
			memcpy(denh, r.enh, sizeof(denh));
			denh[0] = '4';
			result_set(&d, 451, denh, r.text, is_remote);
		}
		for (i = 0; i < c->txn.nrcpts; i++)
			rcpt_finish(c, i, &d);
		txn_end(c, &d, false);
	}
	if (quit && buf_append_str(&c->out, "QUIT\r\n") < 0)
		log_debug("smtp-client no-room-for-quit sid=%s", c->sid);
	c->ops->failed(c->ctx, why, &r);
}

static void
protocol_error(struct smtp_client *c, const char *what)
{
	char text[160];

	snprintf(text, sizeof(text), "protocol error: %s", what);
	conn_fail(c, SMTP_CLIENT_FAIL_PROTOCOL, 451, "4.5.0", text, false,
	    false);
}

/* --- after the greeting -------------------------------------------- */

/* greeted - EHLO/HELO accepted: STARTTLS, or ready */
static void
greeted(struct smtp_client *c)
{
	if (!c->is_tls && (c->caps & SMTP_CLIENT_CAP_STARTTLS) &&
	    c->cfg.tls_available) {
		if (out_printf(c, "STARTTLS\r\n"))
			set_state(c, SMTP_CLIENT_STATE_STARTTLS);
		return;
	}
	if (!c->is_tls && c->cfg.tls_required) {
		conn_fail(c, SMTP_CLIENT_FAIL_TLS_REQUIRED, 451, "4.7.5",
		    c->cfg.tls_available ? "TLS required but STARTTLS not "
		    "offered by the server" : "TLS required but not "
		    "available", false, true);
		return;
	}
	log_info("smtp-client ready sid=%s peer=%s esmtp=%s tls=%s "
	    "caps=0x%x size=%llu", c->sid, c->peer,
	    (c->caps & SMTP_CLIENT_CAP_ESMTP) ? "yes" : "no",
	    c->is_tls ? "yes" : "no", c->caps,
	    (unsigned long long)c->peer_size);
	set_state(c, SMTP_CLIENT_STATE_READY);
	c->ops->ready(c->ctx);
}

static bool
send_ehlo(struct smtp_client *c)
{
	c->caps = 0;
	c->peer_size = 0;
	if (!out_printf(c, "EHLO %s\r\n", c->helo_name))
		return false;
	set_state(c, SMTP_CLIENT_STATE_EHLO);
	return true;
}

/* --- replies ------------------------------------------------------- */

/* txn_reply - a reply to command nanswered of the transaction */
static void
txn_reply(struct smtp_client *c, const struct smtp_client_result *r)
{
	struct smtp_client_txn *t = &c->txn;
	size_t k = t->nanswered++, i = 0, j;
	enum smtp_client_cmd kind = cmd_kind(t, k, &i);
	int cls = r->code / 100;

	if (k >= t->nsent) {
		protocol_error(c, "reply before the command");
		return;
	}
	log_debug("smtp-client txn-reply sid=%s peer=%s cmd=%s code=%d",
	    c->sid, c->peer, cmd_names[kind], r->code);
	switch (kind) {
	case SMTP_CLIENT_CMD_RSET:
		if (cls != 2) {
			conn_fail(c, SMTP_CLIENT_FAIL_RSET, r->code, r->enh,
			    r->text, true, true);
			return;
		}
		break;
	case SMTP_CLIENT_CMD_MAIL:
		if (cls == 2)
			break;
		if (cls != 4 && cls != 5) {
			protocol_error(c, "unexpected reply to MAIL");
			return;
		}
		t->mail_failed = true;
		save_result(c, &t->decided, r);
		rcpt_finish_all(c, SMTP_CLIENT_RS_PENDING, r);
		if (!t->pipelined) {
			c->need_rset = true;
			txn_end(c, r, true);
			return;
		}
		return;
	case SMTP_CLIENT_CMD_RCPT:
		if (t->mail_failed)
			return;
		if (cls == 2) {
			t->rs[i] = SMTP_CLIENT_RS_ACCEPTED;
			t->naccepted++;
		} else if (cls == 4 || cls == 5) {
			rcpt_finish(c, i, r);
		} else {
			protocol_error(c, "unexpected reply to RCPT");
			return;
		}
		if (t->pipelined)
			return;
		if (k + 1 == t->ncmds - 1 && t->naccepted == 0) {
			/* lock-step: nobody accepted, no DATA */
			c->need_rset = true;
			txn_end(c, NULL, true);
			return;
		}
		break;
	case SMTP_CLIENT_CMD_DATA:
		if (r->code == 354) {
			if (t->naccepted == 0 || t->mail_failed) {
				/* RFC 2920 3.1: end the unwanted text */
				t->dummy_dot = true;
				if (out_printf(c, ".\r\n"))
					set_state(c, SMTP_CLIENT_STATE_DOT);
				return;
			}
			c->body_bol = true;
			c->body_cr = false;
			c->body_bytes = 0;
			c->body_8bit = false;
			set_state(c, SMTP_CLIENT_STATE_BODY);
			body_fill(c);
			return;
		}
		if (cls != 4 && cls != 5) {
			protocol_error(c, "unexpected reply to DATA");
			return;
		}
		c->need_rset = true;
		if (t->naccepted == 0 || t->mail_failed) {
			txn_end(c, NULL, true);
			return;
		}
		for (j = 0; j < t->nrcpts; j++)
			if (t->rs[j] == SMTP_CLIENT_RS_ACCEPTED)
				rcpt_finish(c, j, r);
		txn_end(c, r, true);
		return;
	}
	if (!t->pipelined && t->nsent < t->ncmds && write_cmd(c, t->nsent))
		t->nsent++;
}

/* dot_reply - the reply to the final dot */
static void
dot_reply(struct smtp_client *c, const struct smtp_client_result *r)
{
	int cls = r->code / 100;

	if (cls != 2 && cls != 4 && cls != 5) {
		protocol_error(c, "unexpected reply to the final dot");
		return;
	}
	if (c->txn.dummy_dot) {
		c->need_rset = true;
		txn_end(c, NULL, true);
		return;
	}
	c->need_rset = false;
	rcpt_finish_all(c, SMTP_CLIENT_RS_ACCEPTED, r);
	txn_end(c, r, true);
}

/* reply - a complete reply from the server */
static void
reply(struct smtp_client *c, int code, const char *enh, const char *text)
{
	struct smtp_client_result r;
	int cls = code / 100;
	char esc[LOG_ESCAPE_BUFSIZE];

	result_set(&r, code, enh, text, true);
	log_debug("smtp-client reply sid=%s peer=%s state=%s code=%d",
	    c->sid, c->peer, state_names[c->state], code);
	if (c->state == SMTP_CLIENT_STATE_QUIT) {
		set_state(c, SMTP_CLIENT_STATE_DONE);
		c->want_close = true;
		return;
	}
	/* RFC 5321 3.8: 421 may come at any time; the server is closing */
	if (code == 421) {
		conn_fail(c, SMTP_CLIENT_FAIL_SHUTDOWN, code, r.enh, text,
		    true, false);
		return;
	}
	switch (c->state) {
	case SMTP_CLIENT_STATE_GREETING:
		if (code == 220)
			send_ehlo(c);
		else if (cls == 4 || cls == 5)
			conn_fail(c, SMTP_CLIENT_FAIL_GREETING, code, r.enh,
			    text, true, true);
		else
			protocol_error(c, "bad greeting");
		return;
	case SMTP_CLIENT_STATE_EHLO:
		if (cls == 2) {
			c->caps = c->rp.caps | SMTP_CLIENT_CAP_ESMTP;
			c->peer_size = c->rp.size;
			greeted(c);
		} else if (cls == 5) {
			/* RFC 5321 3.2: an old server; try HELO */
			log_info("smtp-client ehlo-refused sid=%s peer=%s "
			    "code=%d reason=\"%s\"", c->sid, c->peer, code,
			    log_escape(esc, sizeof(esc), text,
			    strlen(text)));
			if (out_printf(c, "HELO %s\r\n", c->helo_name))
				set_state(c, SMTP_CLIENT_STATE_HELO);
		} else if (cls == 4) {
			conn_fail(c, SMTP_CLIENT_FAIL_HELO, code, r.enh, text,
			    true, true);
		} else {
			protocol_error(c, "unexpected reply to EHLO");
		}
		return;
	case SMTP_CLIENT_STATE_HELO:
		if (cls == 2) {
			c->caps = 0;
			c->peer_size = 0;
			greeted(c);
		} else if (cls == 4 || cls == 5) {
			conn_fail(c, SMTP_CLIENT_FAIL_HELO, code, r.enh, text,
			    true, true);
		} else {
			protocol_error(c, "unexpected reply to HELO");
		}
		return;
	case SMTP_CLIENT_STATE_STARTTLS:
		if (code == 220) {
			/*
			 * RFC 3207 4.2: whatever followed the 220 in
			 * plaintext was not sent by the TLS peer; cut it
			 * off even if the handshake ends inside start_tls.
			 */
			c->tls_cut = true;
			set_state(c, SMTP_CLIENT_STATE_TLS);
			c->ops->start_tls(c->ctx);
		} else if ((cls == 4 || cls == 5) && c->cfg.tls_required) {
			conn_fail(c, SMTP_CLIENT_FAIL_TLS_REQUIRED, code,
			    r.enh, text, true, true);
		} else if (cls == 4 || cls == 5) {
			log_info("smtp-client starttls-refused sid=%s peer=%s "
			    "code=%d", c->sid, c->peer, code);
			/* continue in plaintext (opportunistic TLS) */
			c->cfg.tls_available = false;
			greeted(c);
		} else {
			protocol_error(c, "unexpected reply to STARTTLS");
		}
		return;
	case SMTP_CLIENT_STATE_TXN:
		txn_reply(c, &r);
		return;
	case SMTP_CLIENT_STATE_DOT:
		dot_reply(c, &r);
		return;
	case SMTP_CLIENT_STATE_TLS:
	case SMTP_CLIENT_STATE_READY:
	case SMTP_CLIENT_STATE_BODY:
		protocol_error(c, "reply without a command");
		return;
	case SMTP_CLIENT_STATE_QUIT:
	case SMTP_CLIENT_STATE_DONE:
		return;
	}
}

/*
 * parse_enh - an enhanced status code at the start of s (RFC 3463:
 * class "." 1*3digit "." 1*3digit), whose class matches the reply's;
 * returns its length (0: none), which includes a following SP.
 */
static size_t
parse_enh(struct span s, int code, char enh[16])
{
	size_t i = 0, part, n;

	if (s.len < 5 || s.p[0] - '0' != code / 100 || s.p[1] != '.')
		return 0;
	i = 2;
	for (part = 0; part < 2; part++) {
		n = 0;
		while (i < s.len && ascii_isdigit(s.p[i]) && n < 4) {
			i++;
			n++;
		}
		if (n == 0 || n > 3)
			return 0;
		if (part == 0) {
			if (i >= s.len || s.p[i] != '.')
				return 0;
			i++;
		}
	}
	if (i < s.len && s.p[i] != ' ')
		return 0;
	memcpy(enh, s.p, i);
	enh[i] = '\0';
	return i < s.len ? i + 1 : i;
}

/* ehlo_keyword - notes one EHLO line (RFC 5321 4.1.1.1) */
static void
ehlo_keyword(struct smtp_client_reply *rp, struct span text)
{
	static const struct {
		const char	*kw;
		unsigned	 cap;
	} kws[] = {
		{ "PIPELINING", SMTP_CLIENT_CAP_PIPELINING },
		{ "SIZE", SMTP_CLIENT_CAP_SIZE },
		{ "8BITMIME", SMTP_CLIENT_CAP_8BITMIME },
		{ "SMTPUTF8", SMTP_CLIENT_CAP_SMTPUTF8 },
		{ "STARTTLS", SMTP_CLIENT_CAP_STARTTLS },
		{ "ENHANCEDSTATUSCODES", SMTP_CLIENT_CAP_ENHANCED },
		{ "CHUNKING", SMTP_CLIENT_CAP_CHUNKING },
		{ "DSN", SMTP_CLIENT_CAP_DSN },
	};
	struct span kw, params;
	uint64_t v;
	size_t i;

	if (!span_split(text, ' ', &kw, &params)) {
		kw = text;
		params = span_make(NULL, 0);
	}
	for (i = 0; i < sizeof(kws) / sizeof(kws[0]); i++) {
		if (!span_eq_str_ci(kw, kws[i].kw))
			continue;
		rp->caps |= kws[i].cap;
		if (kws[i].cap != SMTP_CLIENT_CAP_SIZE)
			return;
		/* RFC 1870: "SIZE" alone or "SIZE 0" means no fixed limit */
		params = span_trim(params);
		if (params.len > 0 && strnum_u64(params, UINT64_MAX, &v) == 0)
			rp->size = v;
		return;
	}
}

/*
 * reply_line - one line of a reply, without its line end.  Returns false
 * when the connection failed on it.
 */
static bool
reply_line(struct smtp_client *c, struct span l)
{
	struct smtp_client_reply *rp = &c->rp;
	struct span text;
	bool last;
	int code;
	size_t skip, i;
	char enh[16];

	if (l.len < 3 || l.p[0] < '2' || l.p[0] > '5' || l.p[1] < '0' ||
	    l.p[1] > '5' || !ascii_isdigit(l.p[2])) {
		protocol_error(c, "malformed reply (no reply code)");
		return false;
	}
	if (l.len > 3 && l.p[3] != ' ' && l.p[3] != '-') {
		protocol_error(c, "malformed reply (bad separator)");
		return false;
	}
	code = (l.p[0] - '0') * 100 + (l.p[1] - '0') * 10 + (l.p[2] - '0');
	last = l.len == 3 || l.p[3] == ' ';
	if (rp->code != 0 && code != rp->code) {
		protocol_error(c, "malformed reply (code changed within a "
		    "multi-line reply)");
		return false;
	}
	if (rp->code == 0) {
		rp->code = code;
		rp->nlines = 0;
		rp->total = 0;
		rp->enh[0] = '\0';
		rp->caps = 0;
		rp->size = 0;
		buf_reset(&rp->text);
	}
	if (++rp->nlines > c->cfg.max_reply_lines) {
		protocol_error(c, "reply has too many lines");
		return false;
	}
	rp->total += l.len + 2;
	if (rp->total > c->cfg.max_reply) {
		protocol_error(c, "reply too long");
		return false;
	}
	text = l.len > 4 ? span_make(l.p + 4, l.len - 4) : span_make(NULL, 0);
	if (c->state == SMTP_CLIENT_STATE_EHLO && rp->nlines > 1)
		ehlo_keyword(rp, text);
	/* EHLO lines carry keywords, not enhanced codes (RFC 2034) */
	if ((c->state != SMTP_CLIENT_STATE_EHLO || code / 100 != 2) &&
	    (skip = parse_enh(text, code, enh)) > 0) {
		if (rp->enh[0] == '\0')
			memcpy(rp->enh, enh, sizeof(enh));
		text.p += skip;
		text.len -= skip;
	}
	if (text.len > 0) {
		if (rp->text.len > 0 && buf_append_byte(&rp->text, ' ') < 0)
			goto overflow;
		for (i = 0; i < text.len; i++)
			if (buf_append_byte(&rp->text,
			    ascii_isprint(text.p[i]) ? text.p[i] : '?') < 0)
				goto overflow;
	}
	if (!last)
		return true;
	rp->code = 0;
	reply(c, code, rp->enh, buf_cstr(&rp->text));
	return true;
overflow:
	protocol_error(c, "reply too long");
	return false;
}

/* --- public -------------------------------------------------------- */

struct smtp_client *
smtp_client_new(const struct smtp_client_config *cfg,
    const struct smtp_client_ops *ops, void *ctx)
{
	struct smtp_client *c;
	const char *helo = cfg->helo_name;
	size_t i;

	ASSERT(ops->ready != NULL && ops->rcpt_result != NULL &&
	    ops->message_done != NULL && ops->failed != NULL &&
	    ops->read_body != NULL);
	ASSERT(ops->start_tls != NULL || !cfg->tls_available);
	/* our own name goes into a command line: no blanks or controls */
	for (i = 0; helo != NULL && helo[i] != '\0'; i++)
		if ((unsigned char)helo[i] <= 0x20 ||
		    (unsigned char)helo[i] >= 0x7f || i >= SMTP_MAX_HELO) {
			log_warn("smtp-client bad-helo-name peer=%s, using "
			    "localhost", cfg->peer_name != NULL ?
			    cfg->peer_name : "-");
			helo = NULL;
			break;
		}
	c = xcalloc(1, sizeof(*c));
	c->cfg = *cfg;
	if (c->cfg.max_reply_line == 0)
		c->cfg.max_reply_line = SMTP_CLIENT_MAX_REPLY_LINE;
	if (c->cfg.max_reply_lines == 0)
		c->cfg.max_reply_lines = SMTP_CLIENT_MAX_REPLY_LINES;
	if (c->cfg.max_reply == 0)
		c->cfg.max_reply = SMTP_CLIENT_MAX_REPLY;
	if (c->cfg.max_reply_line < 6)
		c->cfg.max_reply_line = 6;
	c->helo_name = xstrdup(helo != NULL && helo[0] != '\0' ? helo :
	    "localhost");
	c->peer = xstrdup(cfg->peer_name != NULL ? cfg->peer_name : "-");
	c->sid = xstrdup(cfg->session_id != NULL ? cfg->session_id : "-");
	c->cfg.helo_name = c->helo_name;
	c->cfg.peer_name = c->peer;
	c->cfg.session_id = c->sid;
	c->ops = ops;
	c->ctx = ctx;
	c->state = SMTP_CLIENT_STATE_GREETING;
	buf_init(&c->out, SMTP_CLIENT_OUT_MAX);
	buf_init(&c->rp.line, c->cfg.max_reply_line);
	buf_init(&c->rp.text, c->cfg.max_reply);
	c->txn_arena = arena_new("smtp-client-txn", 16 * 1024,
	    16u * 1024 * 1024);
	c->chunk = xmalloc(SMTP_CLIENT_READ_CHUNK);
	return c;
}

void
smtp_client_free(struct smtp_client **cp)
{
	struct smtp_client *c = *cp;

	if (c == NULL)
		return;
	*cp = NULL;
	buf_fini(&c->out);
	buf_fini(&c->rp.line);
	buf_fini(&c->rp.text);
	arena_free(&c->txn_arena);
	free(c->chunk);
	free(c->helo_name);
	free(c->peer);
	free(c->sid);
	free(c);
}

/* discards - true in the states where input is thrown away */
static bool
discards(const struct smtp_client *c)
{
	return c->state == SMTP_CLIENT_STATE_DONE ||
	    c->state == SMTP_CLIENT_STATE_TLS;
}

size_t
smtp_client_input(struct smtp_client *c, const uint8_t *p, size_t n)
{
	struct buf *line = &c->rp.line;
	size_t i = 0, k, max = c->cfg.max_reply_line;
	const uint8_t *lf;
	struct span l;

	c->tls_cut = false;
	while (i < n && !discards(c) && !c->tls_cut) {
		lf = memchr(p + i, '\n', n - i);
		k = lf != NULL ? (size_t)(lf - (p + i)) : n - i;
		/* the limit counts the line end: check before buffering */
		if (line->len + k + 1 > max) {
			protocol_error(c, "reply line too long");
			break;
		}
		if (buf_append(line, p + i, k) < 0) {
			protocol_error(c, "reply line too long");
			break;
		}
		i += k;
		if (lf == NULL)
			break;
		i++;
		l = buf_span(line);
		if (l.len > 0 && l.p[l.len - 1] == '\r')
			l.len--;
		if (!reply_line(c, l)) {
			buf_reset(line);
			break;
		}
		buf_reset(line);
		if (c->tls_cut && i < n) {
			/* RFC 3207 4.2: nothing sent before TLS counts */
			log_info("smtp-client starttls-injection sid=%s "
			    "peer=%s bytes=%zu", c->sid, c->peer, n - i);
		}
	}
	if (discards(c))
		buf_reset(line);
	c->tls_cut = false;
	return n;
}

struct buf *
smtp_client_output(struct smtp_client *c)
{
	return &c->out;
}

void
smtp_client_output_drained(struct smtp_client *c)
{
	if (c->state == SMTP_CLIENT_STATE_BODY)
		body_fill(c);
}

int
smtp_client_send(struct smtp_client *c, const struct smtp_client_msg *m)
{
	struct smtp_client_txn *t = &c->txn;
	struct smtp_client_result r;
	char text[160];
	bool utf8 = m->smtputf8, ok = true;
	size_t i;

	ASSERT(c->state == SMTP_CLIENT_STATE_READY && !c->in_txn);
	ASSERT(m->nrcpts > 0 && m->nrcpts <= SMTP_CLIENT_MAX_RCPTS &&
	    m->mail_from != NULL);
	memset(t, 0, sizeof(*t));
	arena_reset(c->txn_arena);
	c->in_txn = true;
	t->from = addr_copy(c, m->mail_from);
	t->nrcpts = m->nrcpts;
	t->rcpts = arena_alloc(c->txn_arena, m->nrcpts * sizeof(char *));
	t->rs = arena_alloc(c->txn_arena, m->nrcpts);
	t->sendidx = arena_alloc(c->txn_arena, m->nrcpts * sizeof(size_t));
	for (i = 0; i < m->nrcpts; i++)
		t->rcpts[i] = addr_copy(c, m->rcpts[i]);
	t->size = m->size;
	t->pipelined = (c->caps & SMTP_CLIENT_CAP_PIPELINING) != 0;

	/* message-level checks, before a word is sent */
	if (!addr_sendable(t->from, &utf8)) {
		result_set(&r, 553, "5.1.7", "sender address cannot be sent "
		    "(control characters or too long)", false);
		ok = false;
	} else {
		for (i = 0; i < t->nrcpts; i++)
			(void)addr_sendable(t->rcpts[i], &utf8);
	}
	if (ok && utf8 && !(c->caps & SMTP_CLIENT_CAP_SMTPUTF8)) {
		/* RFC 6531 3.2: no downgrade; the message fails */
		result_set(&r, 553, "5.6.7", "SMTPUTF8 required but not "
		    "supported by the remote server", false);
		ok = false;
	}
	if (ok && m->is_8bit && !(c->caps & SMTP_CLIENT_CAP_8BITMIME)) {
		/* RFC 6152 3: we do not convert to 7 bit */
		result_set(&r, 554, "5.6.3", "conversion required but not "
		    "supported (8-bit message, remote lacks 8BITMIME)",
		    false);
		ok = false;
	}
	if (ok && (c->caps & SMTP_CLIENT_CAP_SIZE) && c->peer_size > 0 &&
	    m->size > c->peer_size) {
		snprintf(text, sizeof(text), "message too big for remote "
		    "(%llu bytes, limit %llu)", (unsigned long long)m->size,
		    (unsigned long long)c->peer_size);
		result_set(&r, 552, "5.3.4", text, false);
		ok = false;
	}
	if (!ok) {
		rcpt_finish_all(c, SMTP_CLIENT_RS_PENDING, &r);
		txn_end(c, &r, false);
		return 1;
	}
	t->utf8 = utf8;
	t->body8 = m->is_8bit;

	/* recipient-level checks */
	for (i = 0; i < t->nrcpts; i++) {
		bool dummy = false;

		if (!addr_sendable(t->rcpts[i], &dummy)) {
			result_set(&r, 553, "5.1.3", "recipient address cannot "
			    "be sent (control characters or too long)",
			    false);
			rcpt_finish(c, i, &r);
		} else {
			t->sendidx[t->nsend++] = i;
		}
	}
	if (t->nsend == 0) {
		txn_end(c, NULL, false);
		return 1;
	}
	t->has_rset = c->need_rset;
	c->need_rset = false;
	t->ncmds = (t->has_rset ? 1 : 0) + 1 + t->nsend + 1;
	set_state(c, SMTP_CLIENT_STATE_TXN);
	log_debug("smtp-client send sid=%s peer=%s rcpts=%zu size=%llu "
	    "pipelined=%d", c->sid, c->peer, t->nsend,
	    (unsigned long long)t->size, t->pipelined);
	do {
		if (!write_cmd(c, t->nsent))
			return 0;	/* failed; outcomes are out */
		t->nsent++;
	} while (t->pipelined && t->nsent < t->ncmds);
	return 0;
}

void
smtp_client_quit(struct smtp_client *c)
{
	ASSERT(c->state == SMTP_CLIENT_STATE_READY && !c->in_txn);
	if (out_printf(c, "QUIT\r\n"))
		set_state(c, SMTP_CLIENT_STATE_QUIT);
}

void
smtp_client_tls_done(struct smtp_client *c, bool ok)
{
	if (c->state != SMTP_CLIENT_STATE_TLS)
		return;
	if (!ok) {
		conn_fail(c, SMTP_CLIENT_FAIL_TLS, 451, "4.7.5",
		    "TLS handshake failed", false, false);
		return;
	}
	c->is_tls = true;
	buf_reset(&c->rp.line);
	c->rp.code = 0;
	/* RFC 3207 4.2: forget what the server said in plaintext */
	send_ehlo(c);
}

void
smtp_client_closed(struct smtp_client *c)
{
	char text[96];

	if (c->state == SMTP_CLIENT_STATE_QUIT ||
	    c->state == SMTP_CLIENT_STATE_DONE) {
		set_state(c, SMTP_CLIENT_STATE_DONE);
		c->want_close = true;
		return;
	}
	snprintf(text, sizeof(text), "connection closed by the server "
	    "(state %s)", state_names[c->state]);
	conn_fail(c, SMTP_CLIENT_FAIL_CLOSED, 421, "4.4.2", text, false,
	    false);
}

void
smtp_client_timeout(struct smtp_client *c)
{
	char text[96];

	if (c->state == SMTP_CLIENT_STATE_QUIT) {
		set_state(c, SMTP_CLIENT_STATE_DONE);
		c->want_close = true;
		return;
	}
	if (smtp_client_timeout_ms(c) == 0)
		return;		/* nothing of ours is waiting */
	snprintf(text, sizeof(text), "timeout (state %s)",
	    state_names[c->state]);
	conn_fail(c, SMTP_CLIENT_FAIL_TIMEOUT, 451, "4.4.2", text, false,
	    false);
}

unsigned
smtp_client_timeout_ms(const struct smtp_client *c)
{
	size_t i = 0;

	switch (c->state) {
	case SMTP_CLIENT_STATE_GREETING:
		return SMTP_CLIENT_TIMEOUT_GREETING;
	case SMTP_CLIENT_STATE_EHLO:
	case SMTP_CLIENT_STATE_HELO:
	case SMTP_CLIENT_STATE_STARTTLS:
	case SMTP_CLIENT_STATE_QUIT:
		return SMTP_CLIENT_TIMEOUT_MAIL;
	case SMTP_CLIENT_STATE_TXN:
		switch (cmd_kind(&c->txn, c->txn.nanswered, &i)) {
		case SMTP_CLIENT_CMD_RSET:
		case SMTP_CLIENT_CMD_MAIL:
			return SMTP_CLIENT_TIMEOUT_MAIL;
		case SMTP_CLIENT_CMD_RCPT:
			return SMTP_CLIENT_TIMEOUT_RCPT;
		case SMTP_CLIENT_CMD_DATA:
			return SMTP_CLIENT_TIMEOUT_DATA;
		}
		return SMTP_CLIENT_TIMEOUT_MAIL;
	case SMTP_CLIENT_STATE_BODY:
		return SMTP_CLIENT_TIMEOUT_BLOCK;
	case SMTP_CLIENT_STATE_DOT:
		return SMTP_CLIENT_TIMEOUT_DOT;
	case SMTP_CLIENT_STATE_TLS:
	case SMTP_CLIENT_STATE_READY:
	case SMTP_CLIENT_STATE_DONE:
		return 0;
	}
	return 0;
}

bool
smtp_client_want_close(const struct smtp_client *c)
{
	return c->want_close;
}

bool
smtp_client_is_ready(const struct smtp_client *c)
{
	return c->state == SMTP_CLIENT_STATE_READY && !c->in_txn;
}

unsigned
smtp_client_caps(const struct smtp_client *c)
{
	return c->caps;
}

uint64_t
smtp_client_peer_size(const struct smtp_client *c)
{
	return c->peer_size;
}

bool
smtp_client_is_tls(const struct smtp_client *c)
{
	return c->is_tls;
}
