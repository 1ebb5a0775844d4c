/*
 * recipients.c - the RCPT TO decision on the smtp listener.
 *
 * Unauthenticated clients may only send to our own domains: anything else
 * is relaying and gets 554 5.7.1 (no open relay, RFC 5321 section 3.6.2).
 * The address is resolved exactly as given: '%', '!', quoted local parts
 * and source routes are never reinterpreted (see store/resolve.h).  An
 * address whose accounts are all at their storage quota gets 452 4.2.2
 * (RFC 3463 "mailbox full"; RFC 9208 quota).
 */
#include "server/server_int.h"

#include <stdio.h>
#include <string.h>

#include "conf/config.h"
#include "lib/log.h"
#include "store/quota.h"
#include "store/resolve.h"

/*
 * all_full - true if every account the address leads to is at its storage
 * quota and nothing goes elsewhere (then no copy could be stored: 452
 * 4.2.2, RFC 3463).  One full member of a list does not refuse the list;
 * its copy waits in the queue.  Costs nothing without a limit; otherwise
 * one indexed read per account (quota.c keeps the stores open).
 */
static bool
all_full(struct server *srv, const struct resolve_result *r)
{
	const char *err = NULL;
	size_t i;

	if (r->nlocal == 0 || r->nremote > 0)
		return false;
	for (i = 0; i < r->nlocal; i++) {
		uint64_t limit = quota_limit(r->local[i].quota_bytes,
		    srv->cfg->store_quota);

		if (limit == 0)
			return false;
		switch (quota_account_full(srv->cfg->data_dir,
		    r->local[i].user_id, limit, &err)) {
		case 1:
			break;
		case 0:
			return false;
		default:
			log_warn("rcpt quota check user=%lld: %s",
			    (long long)r->local[i].user_id, err ? err : "?");
			return false;
		}
	}
	return true;
}

void
server_rcpt_decide(struct server *srv, const char *addr, bool authenticated,
    int *code_r, const char **enh_r, char *text, size_t textsize)
{
	char esc[LOG_ESCAPE_BUFSIZE];
	struct resolve_result r;
	const char *err;
	enum resolve_status st;

	/* the expansion costs what resolve_check costs (it expands too)
	 * and names the accounts, for the quota check */
	st = resolve_expand(srv->accounts, addr, &r);
	err = r.error;
	switch (st) {
	case RESOLVE_OK:
		if (all_full(srv, &r)) {
			*code_r = 452;
			*enh_r = "4.2.2";
			snprintf(text, textsize, "Mailbox full");
			log_info("smtp reject cmd=RCPT code=452 addr=\"%s\""
			    " reason=over-quota", log_escape(esc, sizeof(esc),
			    addr, strlen(addr)));
			resolve_result_fini(&r);
			return;
		}
		*code_r = 250;
		*enh_r = "2.1.5";
		snprintf(text, textsize, "Ok");
		resolve_result_fini(&r);
		return;
	case RESOLVE_UNKNOWN_USER:
		*code_r = 550;
		*enh_r = "5.1.1";
		snprintf(text, textsize, "Recipient address rejected: "
		    "user unknown");
		break;
	case RESOLVE_NOT_LOCAL:
		if (authenticated) {
			/* RFC 6409: a submission client may send anywhere */
			*code_r = 250;
			*enh_r = "2.1.5";
			snprintf(text, textsize, "Ok");
			resolve_result_fini(&r);
			return;
		}
		*code_r = 554;
		*enh_r = "5.7.1";
		snprintf(text, textsize, "Relay access denied");
		break;
	case RESOLVE_ALIAS_ERROR:
	case RESOLVE_TEMPFAIL:
		*code_r = 451;
		*enh_r = "4.3.0";
		snprintf(text, textsize, "Temporary lookup failure, try "
		    "again later");
		log_warn("rcpt lookup failed addr=\"%s\" error=\"%s\"",
		    log_escape(esc, sizeof(esc), addr, strlen(addr)),
		    err ? err : "?");
		resolve_result_fini(&r);
		return;
	}
	log_info("smtp reject cmd=RCPT code=%d addr=\"%s\" reason=%s",
	    *code_r, log_escape(esc, sizeof(esc), addr, strlen(addr)),
	    resolve_status_name(st));
	resolve_result_fini(&r);
}
