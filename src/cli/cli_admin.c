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
#include "lib/xmalloc.h"
#include "server/server.h"
#include "store/accounts.h"

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

int
cli_user(int argc, char **argv)
{
	const char *err = NULL, *cmd = argc > 1 ? argv[1] : "";
	struct accounts *a;
	char **pos, *pw;
	int npos, r;

	if (strcmp(cmd, "add") && strcmp(cmd, "del") && strcmp(cmd, "passwd") &&
	    strcmp(cmd, "list")) {
		fprintf(stderr, "usage: postino user add|del|passwd|list -c "
		    "FILE [ADDRESS]\n");
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
	if (npos != 1) {
		accounts_close(&a);
		fprintf(stderr, "usage: postino user %s -c FILE ADDRESS\n", cmd);
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
