/*
 * resolve.h - recipient resolution: is an address ours, and who gets it.
 *
 * Order of lookup for "local@domain" in a local domain:
 *   1. a user with exactly that address;
 *   2. an alias with exactly that address (expanded recursively);
 *   3. sub-addressing: "user+tag@domain" as "user@domain" (user, then alias);
 *   4. "postmaster@domain" (RFC 5321 section 4.5.1) always exists: without
 *      an explicit user or alias it goes to the first user created;
 *   5. the domain's catch-all alias "@domain";
 *   6. otherwise unknown.
 * A bare "postmaster" (no domain) is postmaster of the first local domain.
 * Local parts holding '"', '%', '!', '@', a source route ("@a,@b:x@y"),
 * whitespace or control characters are never reinterpreted and match
 * nothing (not even the catch-all), so relay tricks such as
 * "user%remote@local" fail as unknown users.
 *
 * Alias expansion is depth-first over the alias table: one-to-many lists,
 * nested aliases (depth at most ALIAS_MAX_DEPTH), at most
 * ALIAS_MAX_EXPANSION targets in all; a loop or a limit gives
 * RESOLVE_ALIAS_ERROR (a configuration error: callers should answer with a
 * temporary failure so that the administrator can fix it).  The same user or
 * remote address reached twice is delivered once.  A target in a local
 * domain that resolves to nobody is skipped with a warning in the log.
 *
 * Sees untrusted input (RCPT TO addresses, before authentication): every
 * address is length- and syntax-checked before any query.  Uses the handle
 * of the calling thread; the RCPT check costs one or two indexed queries
 * for a plain user.
 */
#ifndef POSTINO_STORE_RESOLVE_H
#define POSTINO_STORE_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "store/accounts.h"

enum resolve_status {
	RESOLVE_OK,		/* deliverable (local user(s) and/or remote) */
	RESOLVE_UNKNOWN_USER,	/* local domain, nobody: 550 5.1.1 */
	RESOLVE_NOT_LOCAL,	/* not one of our domains */
	RESOLVE_ALIAS_ERROR,	/* alias loop or limit: 451 4.3.0 suggested */
	RESOLVE_TEMPFAIL,	/* database error: 451 4.3.0 */
};

/* A short name for logs: "ok", "unknown-user", ... */
const char *resolve_status_name(enum resolve_status st);

/*
 * The RCPT-time check: decides without building the recipient lists (but
 * does expand aliases, to find loops).  error_r gets a reason for
 * RESOLVE_ALIAS_ERROR and RESOLVE_TEMPFAIL.
 */
enum resolve_status resolve_check(struct accounts *a, const char *address,
    const char **error_r);

/* One local delivery: the user, by id and canonical address. */
struct resolve_local {
	int64_t	 user_id;
	char	*address;	/* the user's canonical address (Delivered-To) */
	char	*detail;	/* "tag" of user+tag@domain, or NULL */
	uint64_t quota_bytes;	/* the user's storage limit; 0: the
				 * default (accounts_user.quota_bytes) */
};

struct resolve_result {
	enum resolve_status	 status;
	struct resolve_local	*local;		/* distinct users */
	size_t			 nlocal;
	char			**remote;	/* distinct remote addresses */
	size_t			 nremote;
	char			*error;		/* reason when not RESOLVE_OK */
};

/*
 * The delivery-time expansion.  Fills *r (everything heap-owned; release
 * with resolve_result_fini) and returns r->status.  With RESOLVE_OK at least
 * one of nlocal and nremote is non-zero.
 */
enum resolve_status resolve_expand(struct accounts *a, const char *address,
    struct resolve_result *r);
void resolve_result_fini(struct resolve_result *r);

/*
 * EXPN (RFC 5321 section 3.5.2): if address is an alias (exact, or through
 * sub-addressing; not the catch-all), expands it fully into *r like
 * resolve_expand and returns RESOLVE_OK; an address that is a user but not
 * an alias, or unknown, gives RESOLVE_UNKNOWN_USER with r empty.
 */
enum resolve_status resolve_expn(struct accounts *a, const char *address,
    struct resolve_result *r);

#endif
