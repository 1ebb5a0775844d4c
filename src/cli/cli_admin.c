/*
 * cli_admin.c - `postino serve`, `user`, `alias` and `domain`.
 *
 * The account commands write to the account database directly; a running
 * server reads it at every lookup, so changes apply at once.
 */
#include "cli/cli.h"

#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "server/server.h"
#include "store/accounts.h"
#include "store/mailstore.h"

int
cli_serve(int argc, char **argv)
{
	struct config *cfg;
	char **pos;
	int npos, r;

	cfg = cli_load_config(argc, argv, 1, &npos, &pos);
	if (cfg == NULL)
		return 1;
	if (npos != 0) {
		fprintf(stderr, "usage: postino serve -c FILE\n");
		config_free(&cfg);
		return 2;
	}
	r = server_run(cfg);
	config_free(&cfg);
	return r;
}

/* open_accounts - config + account handle for the admin commands */
static struct accounts *
open_accounts(int argc, char **argv, int *npos_r, char ***pos_r)
{
	struct config *cfg;
	struct accounts *a;
	const char *err = NULL;

	cfg = cli_load_config(argc, argv, 2, npos_r, pos_r);
	if (cfg == NULL)
		return NULL;
	a = accounts_open(cfg->data_dir, &err);
	if (a == NULL)
		fprintf(stderr, "postino: %s: %s\n", cfg->data_dir,
		    err ? err : "?");
	config_free(&cfg);
	return a;
}

static int
fail(struct accounts **a, const char *what, const char *err)
{
	fprintf(stderr, "postino: %s: %s\n", what, err ? err : "failed");
	accounts_close(a);
	return 1;
}

static void
print_user(void *ctx, const struct accounts_user *u)
{
	(void)ctx;
	printf("%s\n", u->address);
}

static void
print_name(void *ctx, const char *name)
{
	(void)ctx;
	printf("%s\n", name);
}

static void
print_alias(void *ctx, const char *address, const char *target)
{
	(void)ctx;
	printf("%s %s\n", address, target);
}

/*
 * user_quota - `user quota ADDRESS SIZE` sets the storage limit (0: the
 * [store] quota default); without SIZE prints "limit used messages" in
 * bytes (limit 0: the default applies).
 */
static int
user_quota(struct accounts *a, char **pos, int npos)
{
	struct accounts_user u;
	struct mailstore *ms;
	uint64_t bytes = 0, used = 0, msgs = 0;
	const char *err = NULL;

	if (npos == 2) {
		if (size_parse(pos[1], &bytes) < 0) {
			fprintf(stderr, "postino: bad size \"%s\" (e.g. 500M,"
			    " 2G, 0 for the default)\n", pos[1]);
			accounts_close(&a);
			return 2;
		}
		if (accounts_user_quota_set(a, pos[0], bytes, &err) < 0)
			return fail(&a, pos[0], err);
		accounts_close(&a);
		return 0;
	}
	if (accounts_user_lookup(a, pos[0], &u, &err) != 1)
		return fail(&a, pos[0], err != NULL ? err : "no such user");
	if ((ms = mailstore_open(accounts_data_dir(a), u.id, &err)) == NULL ||
	    mailstore_usage(ms, &used, &msgs, &err) < 0) {
		mailstore_close(&ms);
		return fail(&a, pos[0], err);
	}
	mailstore_close(&ms);
	printf("%llu %llu %llu\n", (unsigned long long)u.quota_bytes,
	    (unsigned long long)used, (unsigned long long)msgs);
	accounts_close(&a);
	return 0;
}

int
cli_user(int argc, char **argv)
{
	const char *err = NULL, *cmd = argc > 1 ? argv[1] : "";
	struct accounts *a;
	char **pos, *pw;
	int npos, r;

	if (strcmp(cmd, "add") && strcmp(cmd, "del") && strcmp(cmd, "passwd") &&
	    strcmp(cmd, "list") && strcmp(cmd, "quota")) {
		fprintf(stderr, "usage: postino user add|del|passwd|list -c "
		    "FILE [ADDRESS]\n"
		    "       postino user quota -c FILE ADDRESS [SIZE]\n");
		return 2;
	}
	a = open_accounts(argc, argv, &npos, &pos);
	if (a == NULL)
		return 1;
	if (!strcmp(cmd, "list")) {
		if (accounts_user_list(a, print_user, NULL, &err) < 0)
			return fail(&a, "user list", err);
		accounts_close(&a);
		return 0;
	}
	if (!strcmp(cmd, "quota") && (npos == 1 || npos == 2))
		return user_quota(a, pos, npos);
	if (npos != 1) {
		accounts_close(&a);
		fprintf(stderr, "usage: postino user %s -c FILE ADDRESS%s\n",
		    cmd, strcmp(cmd, "quota") == 0 ? " [SIZE]" : "");
		return 2;
	}
	if (!strcmp(cmd, "del")) {
		if (accounts_user_del(a, pos[0], &err) < 0)
			return fail(&a, pos[0], err);
		accounts_close(&a);
		return 0;
	}
	pw = cli_read_password();
	if (pw[0] == '\0') {
		free(pw);
		accounts_close(&a);
		fprintf(stderr, "postino: empty password (give it on stdin)\n");
		return 1;
	}
	if (!strcmp(cmd, "add"))
		r = accounts_user_add(a, pos[0], pw, NULL, &err);
	else
		r = accounts_user_passwd(a, pos[0], pw, &err);
	explicit_wipe(pw, strlen(pw));
	free(pw);
	if (r < 0)
		return fail(&a, pos[0], err);
	accounts_close(&a);
	return 0;
}

int
cli_alias(int argc, char **argv)
{
	const char *err = NULL, *cmd = argc > 1 ? argv[1] : "";
	struct accounts *a;
	char **pos;
	int npos, i;

	if (strcmp(cmd, "add") && strcmp(cmd, "del") && strcmp(cmd, "list")) {
		fprintf(stderr, "usage: postino alias add|del|list -c FILE "
		    "[ADDRESS [TARGET...]]\n");
		return 2;
	}
	a = open_accounts(argc, argv, &npos, &pos);
	if (a == NULL)
		return 1;
	if (!strcmp(cmd, "list")) {
		if (accounts_alias_list(a, npos > 0 ? pos[0] : NULL,
		    print_alias, NULL, &err) < 0)
			return fail(&a, "alias list", err);
		accounts_close(&a);
		return 0;
	}
	if (!strcmp(cmd, "add") && npos < 2) {
		accounts_close(&a);
		fprintf(stderr, "usage: postino alias add -c FILE ADDRESS "
		    "TARGET...\n");
		return 2;
	}
	if (npos < 1) {
		accounts_close(&a);
		fprintf(stderr, "usage: postino alias del -c FILE ADDRESS "
		    "[TARGET...]\n");
		return 2;
	}
	if (!strcmp(cmd, "del") && npos == 1) {
		if (accounts_alias_del(a, pos[0], NULL, &err) < 0)
			return fail(&a, pos[0], err);
	}
	for (i = 1; i < npos; i++) {
		int r = !strcmp(cmd, "add") ?
		    accounts_alias_add(a, pos[0], pos[i], &err) :
		    accounts_alias_del(a, pos[0], pos[i], &err);

		if (r < 0)
			return fail(&a, pos[i], err);
	}
	accounts_close(&a);
	return 0;
}

int
cli_domain(int argc, char **argv)
{
	const char *err = NULL, *cmd = argc > 1 ? argv[1] : "";
	struct accounts *a;
	char **pos;
	int npos, i;

	if (strcmp(cmd, "add") && strcmp(cmd, "del") && strcmp(cmd, "list")) {
		fprintf(stderr, "usage: postino domain add|del|list -c FILE "
		    "[DOMAIN...]\n");
		return 2;
	}
	a = open_accounts(argc, argv, &npos, &pos);
	if (a == NULL)
		return 1;
	if (!strcmp(cmd, "list")) {
		if (accounts_domain_list(a, print_name, NULL, &err) < 0)
			return fail(&a, "domain list", err);
		accounts_close(&a);
		return 0;
	}
	if (npos < 1) {
		accounts_close(&a);
		fprintf(stderr, "usage: postino domain %s -c FILE DOMAIN...\n",
		    cmd);
		return 2;
	}
	for (i = 0; i < npos; i++) {
		int r = !strcmp(cmd, "add") ?
		    accounts_domain_add(a, pos[i], &err) :
		    accounts_domain_del(a, pos[i], &err);

		if (r < 0)
			return fail(&a, pos[i], err);
	}
	accounts_close(&a);
	return 0;
}
