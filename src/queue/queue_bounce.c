/*
 * queue_bounce.c - the notices the queue sends about a message: bounces
 * (some recipients failed for good) and delay warnings (still deferred
 * after delay_warning), as RFC 3464 delivery status notifications built
 * by dsn_build (src/delivery/dsn.h) and injected into the spool with the
 * null sender (RFC 5321 section 4.5.5, so that they are never bounced in
 * turn).  When and how often they are sent is decided in queue.c and
 * described in docs/bounces.md.
 *
 * Error texts come from remote servers ("host mx.example[192.0.2.1]
 * said: 550 5.1.1 no such user"); they are split here and cleaned and
 * cut by dsn_build.  Spool contents are ours.
 */
#include "queue/queue_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "delivery/dsn.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"

/* Largest notice we build (the original's header, or whole with
 * return_full, plus our text). */
#define QUEUE_NOTICE_MAX	(DSN_MAX_RETURN_FULL + 1024u * 1024)

int
queue_notice_target(const struct queue_msg *m, const char **rcpt_r,
    unsigned *flags_r)
{
	if ((m->flags & QUEUE_ENV_F_DOUBLE_BOUNCE) != 0)
		return 0;	/* never a loop: logged and dropped */
	if (dsn_should_bounce(m->sender)) {
		*rcpt_r = m->sender;
		*flags_r = QUEUE_ENV_F_BOUNCE;
		return 1;
	}
	if ((m->flags & QUEUE_ENV_F_BOUNCE) != 0) {
		/* bare: the resolver maps it to the first local domain's
		 * postmaster (RFC 5321 section 4.5.1) */
		*rcpt_r = "postmaster";
		*flags_r = QUEUE_ENV_F_DOUBLE_BOUNCE;
		return 1;
	}
	return 0;
}

/* A reply "DDD ..." from an SMTP server. */
static bool
is_reply(const char *s)
{
	return s[0] >= '2' && s[0] <= '5' && s[1] >= '0' && s[1] <= '9' &&
	    s[2] >= '0' && s[2] <= '9' && (s[3] == ' ' || s[3] == '-' ||
	    s[3] == '\0');
}

/*
 * split_error - takes "host NAME[IP] said: REPLY" apart: the host name
 * into host (empty if not of that form) and a pointer to REPLY (or to
 * the whole text) in *diag_r.  A "lifetime expired: " prefix is skipped
 * (*expired_r set).
 */
static void
split_error(const char *err, char *host, size_t hostsize,
    const char **diag_r, bool *expired_r)
{
	static const char expired[] = "lifetime expired: ";
	const char *p, *br, *said;
	size_t n;

	host[0] = '\0';
	*expired_r = false;
	if (strncmp(err, expired, sizeof(expired) - 1) == 0) {
		err += sizeof(expired) - 1;
		*expired_r = true;
	}
	*diag_r = err;
	if (strncmp(err, "host ", 5) != 0)
		return;
	p = err + 5;
	said = strstr(p, " said: ");
	if (said == NULL)
		return;
	br = memchr(p, '[', (size_t)(said - p));
	n = (size_t)((br != NULL ? br : said) - p);
	if (n == 0 || n >= hostsize || memchr(p, ' ', n) != NULL)
		return;
	memcpy(host, p, n);
	host[n] = '\0';
	*diag_r = said + 7;
}

/* enh_status - the enhanced code "C.S.D" that follows a reply code in
 * diag, into out; false if there is none. */
static bool
enh_status(const char *diag, char *out, size_t outsize)
{
	const char *s;
	size_t n, i;

	if (!is_reply(diag) || diag[3] == '\0')
		return false;
	s = diag + 4;
	n = strcspn(s, " ");
	if (n < 5 || n >= outsize || s[0] != diag[0])
		return false;
	for (i = 0; i < n; i++) {
		if (!(s[i] == '.' || (s[i] >= '0' && s[i] <= '9')))
			return false;
	}
	memcpy(out, s, n);
	out[n] = '\0';
	return true;
}

int
queue_notice_write(int dirfd, const struct queue_config *cfg,
    const struct queue_msg *m, int fd, const size_t *idx, size_t n,
    bool delayed, int64_t now_ms, char dsn_r[QUEUE_ID_LEN + 1],
    struct queue_msg **bm_r, const char **error_r)
{
	struct dsn_rcpt *dr;
	char (*hosts)[QUEUE_MAX_ADDR + 1];
	char (*status)[16];
	struct dsn_info info;
	struct queue_envelope env;
	const char *to, *rcpts[1];
	unsigned flags;
	bool smtputf8, eightbit;
	struct buf out;
	uint8_t *orig = NULL;
	size_t i, olen = 0;
	ssize_t got;
	int rc;

	if (queue_notice_target(m, &to, &flags) == 0) {
		*error_r = "nobody to notify";
		return -1;
	}
	if (n == 0 || n > DSN_MAX_RCPTS) {
		*error_r = "bad recipient count for a notice";
		return -1;
	}
	/* the original's header: dsn_build cuts it at DSN_MAX_HEADERS */
	if (fd >= 0 && m->size > 0) {
		olen = m->size < DSN_MAX_HEADERS + 2 ? (size_t)m->size :
		    DSN_MAX_HEADERS + 2;
		orig = xmalloc(olen);
		got = pread(fd, orig, olen, (off_t)m->body_offset);
		olen = got > 0 ? (size_t)got : 0;
	}
	dr = xcalloc(n, sizeof(*dr));
	hosts = xcalloc(n, sizeof(*hosts));
	status = xcalloc(n, sizeof(*status));
	for (i = 0; i < n; i++) {
		const struct queue_rcpt *r = &m->rcpts[idx[i]];
		const char *diag = NULL;
		bool expired = false;

		dr[i].addr = r->addr;
		dr[i].action = delayed ? DSN_ACTION_DELAYED :
		    DSN_ACTION_FAILED;
		if (r->last_error != NULL) {
			split_error(r->last_error, hosts[i], sizeof(hosts[i]),
			    &diag, &expired);
			if (hosts[i][0] != '\0')
				dr[i].remote_mta = hosts[i];
			/* our own words keep the "lifetime expired" */
			dr[i].diagnostic = is_reply(diag) ? diag :
			    r->last_error;
		}
		if (diag != NULL && enh_status(diag, status[i],
		    sizeof(status[i]))) {
			/* as the server said it; after a lifetime expiry a
			 * 4.X.X with action failed (as Postfix reports) */
			dr[i].status = status[i];
		} else if (expired) {
			dr[i].status = "5.4.7";	/* delivery time expired */
		} else {
			dr[i].status = delayed ? "4.0.0" : "5.0.0";
		}
		dr[i].last_attempt = (time_t)(now_ms / 1000);
		if (delayed)
			dr[i].will_retry_until = (time_t)(m->arrival_ms / 1000
			    + (int64_t)cfg->lifetime);
	}
	memset(&info, 0, sizeof(info));
	info.reporting_mta = cfg->hostname != NULL && cfg->hostname[0] !=
	    '\0' ? cfg->hostname : "localhost";
	info.sender = to;
	info.qid = m->qid;
	info.arrival = (time_t)(m->arrival_ms / 1000);
	info.rcpts = dr;
	info.nrcpts = n;
	info.orig = orig;
	info.orig_len = olen;
	buf_init(&out, QUEUE_NOTICE_MAX);
	rc = dsn_build(&info, &out, error_r);
	if (rc == 0) {
		dsn_transport_needs(&info, &smtputf8, &eightbit);
		rcpts[0] = to;
		memset(&env, 0, sizeof(env));
		env.sender = "";
		env.rcpts = rcpts;
		env.nrcpts = 1;
		env.body_8bit = eightbit;
		env.smtputf8 = smtputf8;
		env.flags = flags;
		rc = queue_inject_write(dirfd, &env, out.data, out.len, dsn_r,
		    bm_r, error_r);
	}
	buf_fini(&out);
	free(status);
	free(hosts);
	free(dr);
	free(orig);
	return rc;
}
