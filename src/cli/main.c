/*
 * main.c - `postino`: dispatch to the subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const struct {
	const char	*name;
	int		(*run)(int, char **);
	const char	*usage;
} commands[] = {
	{ "init", cli_init,
	    "init --dir DIR --hostname HOST --domain DOMAIN [--port-offset N]" },
	{ "serve", cli_serve, "serve -c FILE" },
	{ "user", cli_user,
	    "user add|del|passwd|list|quota -c FILE [ADDRESS [SIZE]]" },
	{ "alias", cli_alias, "alias add|del|list -c FILE [ADDRESS [TARGET...]]" },
	{ "domain", cli_domain, "domain add|del|list -c FILE [DOMAIN]" },
	{ "queue", cli_queue, "queue list|flush|delete -c FILE [ID]" },
	{ "sendmail", cli_sendmail,
	    "sendmail -c FILE [-f SENDER] [-F NAME] [-t] [-i] [RCPT...]" },
	{ "dkim", cli_dkim, "dkim keygen|sign|verify [-c FILE] [DOMAIN]" },
	{ "mailbox", cli_mailbox,
	    "mailbox list|cat|show|export -c FILE ADDRESS [MAILBOX [UID|DIR]]" },
};

static int
usage(void)
{
	size_t i;

	fprintf(stderr, "usage:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(stderr, "  postino %s\n", commands[i].usage);
	return 2;
}

int
main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/');
	size_t i;

	/* installed as /usr/sbin/sendmail: behave like it (MUAs, cron) */
	name = name != NULL ? name + 1 : argv[0];
	if (strcmp(name, "sendmail") == 0)
		return cli_sendmail(argc, argv);
	if (argc < 2)
		return usage();
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage();
		return 0;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "postino: unknown command '%s'\n", argv[1]);
	return usage();
}
