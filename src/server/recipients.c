/*
 * recipients.c - the RCPT TO decision on the smtp listener.
 *
 * Unauthenticated clients may only send to our own domains: anything else
 * is relaying and gets 554 5.7.1 (no open relay, RFC 5321 section 3.6.2).
 * The address is resolved exactly as given: '%', '!', quoted local parts
 * and source routes are never reinterpreted (see store/resolve.h).
 */
#include "server/server_int.h"

#include <stdio.h>
#include <string.h>

#include "lib/log.h"
#include "store/resolve.h"

void
server_rcpt_decide(struct server *srv, const char *addr, bool authenticated,
    int *code_r, const char **enh_r, char *text, size_t textsize)
{
	char esc[LOG_ESCAPE_BUFSIZE];
	const char *err = NULL;
	enum resolve_status st;

	st = resolve_check(srv->accounts, addr, &err);
	switch (st) {
	case RESOLVE_OK:
		*code_r = 250;
		*enh_r = "2.1.5";
		snprintf(text, textsize, "Ok");
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
		return;
	}
	log_info("smtp reject cmd=RCPT code=%d addr=\"%s\" reason=%s",
	    *code_r, log_escape(esc, sizeof(esc), addr, strlen(addr)),
	    resolve_status_name(st));
}
