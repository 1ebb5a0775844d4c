/*
 * auth_throttle.h - counts failed logins per client address and per
 * account, and slows down, then refuses, whoever keeps failing.
 *
 * Sans-I/O: every call takes the current time in milliseconds (any
 * monotonic clock), so tests can move time by hand.  Memory is bounded:
 * at most max_entries counters are kept (least recently touched ones are
 * dropped first) and a counter is forgotten once its window has passed.
 * Not thread-safe: use it from the event loop only.
 *
 * Protocol-neutral (SMTP AUTH, POP3, IMAP share one instance).  Sees
 * untrusted input (client addresses, login names), used only as keys.
 *
 * Policy, for each key (address, account) separately:
 *   failures <  delay_after:  attempts go ahead at once;
 *   failures >= delay_after:  the answer to an attempt is delayed by
 *                             delay_ms, doubling per further failure up to
 *                             max_delay_ms;
 *   failures >= block_after:  attempts are refused until block_ms after
 *                             the last failure;
 *   failures older than window_ms (counted from the first of the run) are
 *   forgotten; a success clears the account's counter (not the address's,
 *   so one good login cannot hide guessing at other accounts).
 * The account thresholds should be higher than the address ones: a
 * blocked account also locks its real owner out.
 */
#ifndef POSTINO_AUTH_AUTH_THROTTLE_H
#define POSTINO_AUTH_AUTH_THROTTLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUTH_THROTTLE_MAX_ENTRIES	65536
#define AUTH_THROTTLE_MAX_KEY		300	/* bytes of an address/name */

struct auth_throttle_limits {
	unsigned	 delay_after;	/* 0: never delay */
	unsigned	 block_after;	/* 0: never block */
};

/* Zero fields take the defaults shown in auth_throttle_defaults(). */
struct auth_throttle_config {
	struct auth_throttle_limits	 addr;		/* per client address */
	struct auth_throttle_limits	 account;	/* per login name */
	uint64_t			 delay_ms;
	uint64_t			 max_delay_ms;
	uint64_t			 window_ms;
	uint64_t			 block_ms;
	size_t				 max_entries;
};

enum auth_throttle_verdict {
	AUTH_THROTTLE_ALLOW,	/* go ahead */
	AUTH_THROTTLE_DELAY,	/* go ahead, but answer after *delay_ms_r */
	AUTH_THROTTLE_BLOCK,	/* refuse (454 4.7.0 / close) */
};

struct auth_throttle;

/*
 * Defaults: address delay after 3, block after 10; account delay after 5,
 * block after 30; delay 1 s doubling to 8 s; window 15 min; block 15 min;
 * AUTH_THROTTLE_MAX_ENTRIES counters.
 */
void auth_throttle_defaults(struct auth_throttle_config *cfg_r);

struct auth_throttle *auth_throttle_new(const struct auth_throttle_config *cfg);
void auth_throttle_free(struct auth_throttle **t);

/*
 * Before an attempt: what to do with it.  addr or user may be NULL (not
 * known yet).  The stricter verdict of the two counters wins; *delay_ms_r
 * (may be NULL) gets the delay for AUTH_THROTTLE_DELAY, else 0.
 */
enum auth_throttle_verdict auth_throttle_check(struct auth_throttle *t,
    const char *addr, const char *user, uint64_t now_ms,
    uint64_t *delay_ms_r);
/*
 * After a failed attempt: counts it for both keys.  Returns true when this
 * failure made one of them blocked (to log it once).
 */
bool auth_throttle_failure(struct auth_throttle *t, const char *addr,
    const char *user, uint64_t now_ms);
/* After a successful login: clears the account's counter. */
void auth_throttle_success(struct auth_throttle *t, const char *addr,
    const char *user, uint64_t now_ms);
/* Counters currently kept (for tests and stats). */
size_t auth_throttle_count(const struct auth_throttle *t);

#endif
