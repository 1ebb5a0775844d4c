/*
 * resolve_fuzz.c - libFuzzer target for recipient resolution: any RCPT TO
 * address against a small fixed accounts database (users, nested aliases,
 * a loop, a catch-all).  Checks invariants besides memory safety: an OK
 * answer has recipients, the RCPT check agrees with the full expansion,
 * and a local part with '%', '!' or '"' never resolves.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/xmalloc.h"
#include "store/accounts.h"
#include "store/resolve.h"
#include "store/store_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct accounts *acc;
static char top[64];

static void
cleanup(void)
{
	accounts_close(&acc);
	(void)store_rmtree(top);
}

static void
must(int r, const char *what, const char *err)
{
	if (r < 0) {
		fprintf(stderr, "resolve_fuzz setup %s: %s\n", what, err);
		abort();
	}
}

static void
setup(void)
{
	static const char *const aliases[][2] = {
		{ "team@example.org", "alice@example.org" },
		{ "team@example.org", "bob@example.org" },
		{ "team@example.org", "far@remote.test" },
		{ "all@example.org", "team@example.org" },
		{ "all@example.org", "carol@other.example" },
		{ "loop1@example.org", "loop2@example.org" },
		{ "loop2@example.org", "loop1@example.org" },
		{ "@other.example", "carol@other.example" },
		{ "postmaster@other.example", "bob@example.org" },
	};
	const char *err = "";
	char *dir;
	size_t i;

	log_set_level(LOG_LEVEL_ERROR);
	snprintf(top, sizeof(top), "/tmp/postino-resolve-fuzz-XXXXXX");
	if (mkdtemp(top) == NULL)
		abort();
	dir = xasprintf("%s/data", top);
	acc = accounts_open(dir, &err);
	free(dir);
	if (acc == NULL)
		must(-1, "open", err);
	atexit(cleanup);
	must(accounts_user_add(acc, "alice@example.org", NULL, NULL, &err),
	    "alice", err);
	must(accounts_user_add(acc, "bob@example.org", NULL, NULL, &err),
	    "bob", err);
	must(accounts_user_add(acc, "carol@other.example", NULL, NULL, &err),
	    "carol", err);
	for (i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
		must(accounts_alias_add(acc, aliases[i][0], aliases[i][1],
		    &err), aliases[i][0], err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct resolve_result r;
	enum resolve_status st;
	const char *at, *p;
	char *addr;
	bool tricky = false;

	if (acc == NULL)
		setup();
	if (size > 1024 || memchr(data, 0, size) != NULL)
		return 0;	/* a C string from the SMTP layer: no NUL */
	addr = xstrndup((const char *)data, size);
	st = resolve_expand(acc, addr, &r);
	if (st == RESOLVE_OK && r.nlocal + r.nremote == 0)
		abort();
	if (st != RESOLVE_OK && (r.nlocal != 0 || r.nremote != 0 ||
	    r.error == NULL))
		abort();
	resolve_result_fini(&r);
	if (resolve_check(acc, addr, NULL) != st)
		abort();
	at = strrchr(addr, '@');
	for (p = addr; at != NULL && p < at; p++)
		if (*p == '%' || *p == '!' || *p == '"')
			tricky = true;
	if (tricky && st == RESOLVE_OK)
		abort();
	(void)resolve_expn(acc, addr, &r);
	resolve_result_fini(&r);
	(void)accounts_address_valid(addr, true);
	free(addr);
	return 0;
}
