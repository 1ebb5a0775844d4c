/*
 * quota.h - the cheap "is this account full?" check for SMTP RCPT TO
 * (RFC 9208 storage quota; the limits are described in mailstore.h and
 * accounts.h).
 *
 * Reads the account's usage counter (kept in its index, never summed per
 * call) through a small per-thread cache of open mail store handles, so a
 * check costs one indexed read.  Does not see untrusted input (a user id
 * from the accounts database).
 */
#ifndef POSTINO_STORE_QUOTA_H
#define POSTINO_STORE_QUOTA_H

#include <stdint.h>

/* Open stores kept per thread. */
#define QUOTA_CACHE_STORES	16

/*
 * The limit that applies: the user's own (accounts_user.quota_bytes), or
 * when that is 0 the configured default; 0 means none.
 */
uint64_t quota_limit(uint64_t user_quota, uint64_t default_quota);
/*
 * 1 if the account's stored bytes have reached limit (no message would
 * fit), 0 if not or limit is 0 (no store access then), -1 on error
 * (callers should not refuse mail for that).
 */
int quota_account_full(const char *data_dir, int64_t user_id,
    uint64_t limit, const char **error_r);
/* Closes this thread's cached stores. */
void quota_cache_clear(void);

#endif
