/*
 * cli.h - the `postino` subcommands.
 *
 * Each takes argc/argv starting at its own name and returns the exit
 * status: 0 success, 1 failure (with a message on stderr), 2 usage error.
 */
#ifndef POSTINO_CLI_CLI_H
#define POSTINO_CLI_CLI_H

#include <stdio.h>

struct config;

int cli_init(int argc, char **argv);
int cli_serve(int argc, char **argv);
int cli_user(int argc, char **argv);
int cli_alias(int argc, char **argv);
int cli_domain(int argc, char **argv);
int cli_queue(int argc, char **argv);
int cli_mailbox(int argc, char **argv);
int cli_sendmail(int argc, char **argv);	/* exits per sysexits.h */
int cli_dkim(int argc, char **argv);

/*
 * Shared option handling: parses "-c FILE" (default $POSTINO_CONFIG, then
 * /etc/postino/postino.conf) among argv[from..]; the remaining positional
 * arguments are compacted into argv and counted in *npos_r.  Returns the
 * loaded config or NULL after printing the error.
 */
struct config *cli_load_config(int argc, char **argv, int from, int *npos_r,
    char ***pos_r);
/* Reads one line (a password) from stdin without the newline; heap string. */
char *cli_read_password(void);
/* Writes a self-signed ECDSA P-256 certificate for hostname. 0 or -1. */
int cli_make_selfsigned(const char *hostname, const char *cert_path,
    const char *key_path);

#endif
