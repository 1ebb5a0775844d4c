/*
 * auth_sender.h - which addresses an authenticated account may send as
 * (envelope sender and From:, RFC 6409 section 4.3 "local policy").
 *
 * An account may use its own address and every alias that points
 * directly at it (accounts_alias_add ALIAS ACCOUNT); not a catch-all
 * ("@domain"), not an alias of an alias, not a list it is only one
 * member of among others (a list address belongs to no single user).
 * Comparisons are ASCII case-insensitive, as logins are.
 *
 * Runs one small indexed SQLite query per call: fine on the event loop
 * (as the RCPT check is), not inside a tight loop.  Sees the addresses a
 * client wrote (after authentication): invalid ones are simply refused.
 */
#ifndef POSTINO_AUTH_AUTH_SENDER_H
#define POSTINO_AUTH_AUTH_SENDER_H

struct accounts;

/*
 * Returns 1 if account may send as addr, 0 if not (or addr is not a
 * valid address), -1 on a database error (error_r set; refuse then).
 */
int auth_sender_allowed(struct accounts *a, const char *account,
    const char *addr, const char **error_r)
	__attribute__((warn_unused_result));

#endif
