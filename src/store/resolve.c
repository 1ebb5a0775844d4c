/*
 * resolve.c - recipient resolution over the accounts database.
 *
 * RFCs: RFC 5321 section 4.5.1 (postmaster must exist, with or without a
 * domain), section 3.5.2 (EXPN), section 3.6.1 and appendix C (source
 * routes: never honoured), RFC 5233 (sub-addressing, "+" delimiter).
 *
 * Sees untrusted input before authentication: the RCPT TO address.  It is
 * checked for length and syntax (accounts_address_valid) before any query,
 * and only ever bound as an SQL parameter.  Recursion over aliases is
 * bounded by ALIAS_MAX_DEPTH and the total work by ALIAS_MAX_EXPANSION, so
 * a misconfigured alias table costs bounded time and memory.
 */
#include "store/resolve.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/store_int.h"

#define EX_NOT_LOCAL	2	/* expand_addr: domain not ours (top only) */

struct visit {
	char	*key;
	bool	 done;		/* fully expanded; false: on the DFS path */
};

struct ldomain {
	char	*name;
	bool	 is_local;
};

struct ex {
	struct accounts		*a;
	struct resolve_result	*r;
	struct visit		*v;
	size_t			 nv;
	struct ldomain		*ld;
	size_t			 nld;
	size_t			 count;		/* alias targets processed */
	bool			 expn;
};

static __thread char check_err[STORE_ERR_SIZE];

const char *
resolve_status_name(enum resolve_status st)
{
	switch (st) {
	case RESOLVE_OK:
		return "ok";
	case RESOLVE_UNKNOWN_USER:
		return "unknown-user";
	case RESOLVE_NOT_LOCAL:
		return "not-local";
	case RESOLVE_ALIAS_ERROR:
		return "alias-error";
	case RESOLVE_TEMPFAIL:
		return "tempfail";
	}
	return "?";
}

/* ex_fail - records the first error; returns -1 */
static int __attribute__((format(printf, 3, 4)))
ex_fail(struct ex *x, enum resolve_status st, const char *fmt, ...)
{
	va_list ap;
	char msg[STORE_ERR_SIZE];

	if (x->r->error == NULL) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		x->r->error = xstrdup(msg);
		x->r->status = st;
	}
	return -1;
}

static char *
lower_dup(const char *s, size_t n)
{
	char *d = xstrndup(s, n);

	return ascii_strlower(d);
}

/* domain_local - is the domain ours (cached for one expansion) */
static int
domain_local(struct ex *x, const char *domain)
{
	const char *err;
	size_t i;
	int rc;

	for (i = 0; i < x->nld; i++)
		if (ascii_strcasecmp(x->ld[i].name, domain) == 0)
			return x->ld[i].is_local;
	rc = accounts_domain_is_local(x->a, domain, &err);
	if (rc < 0)
		return ex_fail(x, RESOLVE_TEMPFAIL, "%s", err);
	x->ld = xreallocarray(x->ld, x->nld + 1, sizeof(*x->ld));
	x->ld[x->nld].name = xstrdup(domain);
	x->ld[x->nld].is_local = rc == 1;
	x->nld++;
	return rc;
}

static void
add_local(struct ex *x, const struct accounts_user *u, const char *detail,
    size_t detail_len)
{
	struct resolve_result *r = x->r;
	size_t i;

	for (i = 0; i < r->nlocal; i++)
		if (r->local[i].user_id == u->id)
			return;
	r->local = xreallocarray(r->local, r->nlocal + 1, sizeof(*r->local));
	r->local[r->nlocal].user_id = u->id;
	r->local[r->nlocal].quota_bytes = u->quota_bytes;
	r->local[r->nlocal].address = xstrdup(u->address);
	r->local[r->nlocal].detail = detail != NULL ?
	    xstrndup(detail, detail_len) : NULL;
	r->nlocal++;
}

static void
add_remote(struct ex *x, const char *addr)
{
	struct resolve_result *r = x->r;
	size_t i;

	for (i = 0; i < r->nremote; i++)
		if (ascii_strcasecmp(r->remote[i], addr) == 0)
			return;
	r->remote = xreallocarray(r->remote, r->nremote + 1,
	    sizeof(*r->remote));
	r->remote[r->nremote++] = xstrdup(addr);
}

static int expand_addr(struct ex *x, const char *addr, unsigned depth);

/*
 * expand_alias - expands the alias with this key.  Returns 1 if it is an
 * alias (even if no target led anywhere), 0 if not, -1 on error.
 */
static int
expand_alias(struct ex *x, const char *key, unsigned depth)
{
	char **t = NULL;
	size_t nt = 0, i, vi;
	const char *err;
	int rc, r = 1;

	rc = accounts_int_alias_targets(x->a, key, &t, &nt, &err);
	if (rc < 0)
		return ex_fail(x, RESOLVE_TEMPFAIL, "%s", err);
	if (rc == 0)
		return 0;
	for (vi = 0; vi < x->nv; vi++) {
		if (strcmp(x->v[vi].key, key) != 0)
			continue;
		if (!x->v[vi].done)
			r = ex_fail(x, RESOLVE_ALIAS_ERROR,
			    "alias loop at %s", key);
		goto out;	/* done: expanded already, reached twice */
	}
	if (depth >= ALIAS_MAX_DEPTH) {
		r = ex_fail(x, RESOLVE_ALIAS_ERROR,
		    "aliases nested deeper than %d at %s", ALIAS_MAX_DEPTH,
		    key);
		goto out;
	}
	x->v = xreallocarray(x->v, x->nv + 1, sizeof(*x->v));
	vi = x->nv++;
	x->v[vi].key = xstrdup(key);
	x->v[vi].done = false;
	for (i = 0; i < nt; i++) {
		if (++x->count > ALIAS_MAX_EXPANSION) {
			r = ex_fail(x, RESOLVE_ALIAS_ERROR,
			    "alias expansion of more than %d addresses",
			    ALIAS_MAX_EXPANSION);
			goto out;
		}
		rc = expand_addr(x, t[i], depth + 1);
		if (rc < 0) {
			r = -1;
			goto out;
		}
		if (rc == 0)
			log_warn("resolve alias=%s target=%s: no such user,"
			    " skipped", key, t[i]);
	}
	x->v[vi].done = true;
out:
	for (i = 0; i < nt; i++)
		free(t[i]);
	free(t);
	return r;
}

/*
 * expand_addr - resolves one address.  Returns 1 if it led somewhere, 0 if
 * nobody, EX_NOT_LOCAL (depth 0 only) if the domain is not ours, -1 on
 * error.  Deeper down, an address of another domain is a remote target.
 */
static int
expand_addr(struct ex *x, const char *addr, unsigned depth)
{
	struct accounts_user u;
	struct span l, d;
	char *domain = NULL, *key = NULL, *bkey = NULL;
	const char *err;
	long plus;
	int rc, r = 0;
	bool top = depth == 0;

	if (strnlen(addr, ACCOUNTS_MAX_ADDRESS + 1) > ACCOUNTS_MAX_ADDRESS ||
	    !accounts_address_split(addr, false, &l, &d))
		return 0;
	domain = lower_dup((const char *)d.p, d.len);
	rc = domain_local(x, domain);
	if (rc <= 0) {
		free(domain);
		if (rc < 0)
			return -1;
		if (top)
			return EX_NOT_LOCAL;
		add_remote(x, addr);
		return 1;
	}
	/* quoting, '%', '!', '@' or a route in the local part: no match */
	if (!accounts_address_valid(addr, false))
		goto out;
	key = lower_dup(addr, strlen(addr));

	/* 1. the user itself */
	rc = accounts_int_lookup_key(x->a, key, &u, &err);
	if (rc < 0) {
		r = ex_fail(x, RESOLVE_TEMPFAIL, "%s", err);
		goto out;
	}
	if (rc == 1) {
		if (!(x->expn && top)) {
			add_local(x, &u, NULL, 0);
			r = 1;
		}
		goto out;	/* EXPN of a plain user: not a list */
	}
	/* 2. an alias */
	if ((r = expand_alias(x, key, depth)) != 0)
		goto out;
	/* 3. sub-address user+tag -> user (RFC 5233) */
	plus = span_find(l, '+');
	if (plus > 0) {
		bkey = xasprintf("%.*s@%s", (int)plus, (const char *)l.p,
		    domain);
		ascii_strlower(bkey);
		rc = accounts_int_lookup_key(x->a, bkey, &u, &err);
		if (rc < 0) {
			r = ex_fail(x, RESOLVE_TEMPFAIL, "%s", err);
			goto out;
		}
		if (rc == 1) {
			if (!(x->expn && top)) {
				add_local(x, &u, (const char *)l.p + plus + 1,
				    l.len - (size_t)plus - 1);
				r = 1;
			}
			goto out;
		}
		if ((r = expand_alias(x, bkey, depth)) != 0)
			goto out;
	}
	if (x->expn && top)
		goto out;
	/* 4. postmaster without a configured destination: first user */
	if (span_eq_str_ci(l, "postmaster")) {
		rc = accounts_int_first_user(x->a, &u, &err);
		if (rc < 0) {
			r = ex_fail(x, RESOLVE_TEMPFAIL, "%s", err);
			goto out;
		}
		if (rc == 1) {
			add_local(x, &u, NULL, 0);
			r = 1;
			goto out;
		}
	}
	/* 5. the catch-all of the domain */
	free(bkey);
	bkey = xasprintf("@%s", domain);
	r = expand_alias(x, bkey, depth);
out:
	free(domain);
	free(key);
	free(bkey);
	return r;
}

static enum resolve_status
run(struct accounts *a, const char *address, struct resolve_result *r,
    bool expn)
{
	struct ex x;
	char *addr = NULL;
	char dom[SMTP_MAX_DOMAIN + 1];
	const char *err;
	size_t i;
	int rc;

	memset(r, 0, sizeof(*r));
	memset(&x, 0, sizeof(x));
	x.a = a;
	x.r = r;
	x.expn = expn;
	r->status = RESOLVE_UNKNOWN_USER;
	if (strnlen(address, ACCOUNTS_MAX_ADDRESS + 1) >
	    ACCOUNTS_MAX_ADDRESS) {
		r->error = xstrdup("address too long");
		return r->status;
	}
	if (strchr(address, '@') == NULL) {
		/* RFC 5321 4.5.1: "postmaster" alone must be accepted */
		if (ascii_strcasecmp(address, "postmaster") != 0) {
			r->error = xstrdup("address without a domain");
			return r->status;
		}
		rc = accounts_int_first_domain(a, dom, sizeof(dom), &err);
		if (rc <= 0) {
			r->status = rc < 0 ? RESOLVE_TEMPFAIL :
			    RESOLVE_UNKNOWN_USER;
			r->error = xstrdup(rc < 0 ? err : "no local domain");
			return r->status;
		}
		addr = xasprintf("%s@%s", address, dom);
		address = addr;
	}
	rc = expand_addr(&x, address, 0);
	if (rc == EX_NOT_LOCAL)
		r->status = RESOLVE_NOT_LOCAL;
	else if (rc == 1 && r->nlocal + r->nremote > 0)
		r->status = RESOLVE_OK;
	else if (rc >= 0)
		r->status = RESOLVE_UNKNOWN_USER;
	/* rc < 0: ex_fail set status and error */
	if (r->status != RESOLVE_OK) {
		/* never hand out a partial list */
		char *keep = r->error;
		enum resolve_status st = r->status;

		r->error = NULL;
		resolve_result_fini(r);
		r->status = st;
		r->error = keep;
		if (r->error == NULL)
			r->error = xstrdup(resolve_status_name(st));
	}
	for (i = 0; i < x.nv; i++)
		free(x.v[i].key);
	free(x.v);
	for (i = 0; i < x.nld; i++)
		free(x.ld[i].name);
	free(x.ld);
	free(addr);
	return r->status;
}

enum resolve_status
resolve_expand(struct accounts *a, const char *address,
    struct resolve_result *r)
{
	return run(a, address, r, false);
}

enum resolve_status
resolve_expn(struct accounts *a, const char *address,
    struct resolve_result *r)
{
	return run(a, address, r, true);
}

enum resolve_status
resolve_check(struct accounts *a, const char *address, const char **error_r)
{
	struct resolve_result r;
	enum resolve_status st;

	st = run(a, address, &r, false);
	if (error_r != NULL) {
		snprintf(check_err, sizeof(check_err), "%s",
		    r.error != NULL ? r.error : "");
		*error_r = check_err;
	}
	resolve_result_fini(&r);
	return st;
}

void
resolve_result_fini(struct resolve_result *r)
{
	size_t i;

	for (i = 0; i < r->nlocal; i++) {
		free(r->local[i].address);
		free(r->local[i].detail);
	}
	free(r->local);
	for (i = 0; i < r->nremote; i++)
		free(r->remote[i]);
	free(r->remote);
	free(r->error);
	memset(r, 0, sizeof(*r));
}
