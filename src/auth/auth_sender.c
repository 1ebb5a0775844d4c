/*
 * auth_sender.c - the account's own address and its direct aliases.
 *
 * See auth_sender.h for the rule.  A list alias (several targets) is
 * refused even when the account is one of its targets: anyone on the list
 * could otherwise speak for all of it.
 */
#include "auth/auth_sender.h"

#include <stdbool.h>
#include <stddef.h>

#include "lib/ascii.h"
#include "store/accounts.h"

struct alias_scan {
	const char	*account;
	unsigned	 rows;
	bool		 to_account;
};

static void
scan_row(void *ctx, const char *address, const char *target)
{
	struct alias_scan *sc = ctx;

	(void)address;
	sc->rows++;
	if (ascii_strcasecmp(target, sc->account) == 0)
		sc->to_account = true;
}

int
auth_sender_allowed(struct accounts *a, const char *account,
    const char *addr, const char **error_r)
{
	struct alias_scan sc = { account, 0, false };
	int n;

	if (account == NULL || addr == NULL || addr[0] == '\0' ||
	    addr[0] == '@')
		return 0;
	if (ascii_strcasecmp(addr, account) == 0)
		return 1;
	if (!accounts_address_valid(addr, false))
		return 0;
	n = accounts_alias_list(a, addr, scan_row, &sc, error_r);
	if (n < 0)
		return -1;
	return sc.rows == 1 && sc.to_account ? 1 : 0;
}
