/*
 * cli_queue.c - `postino queue list|flush|delete`.
 *
 * list reads the spool directly (no server needed); flush and delete tell
 * a running server through SIGUSR1 to the pid in DATA_DIR/postino.pid.
 */
#include "cli/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "conf/config.h"
#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/strnum.h"
#include "lib/xmalloc.h"
#include "queue/queue.h"

static void
fmt_time(time_t t, char *out, size_t outsize)
{
	struct tm tm;

	if (t == 0) {
		snprintf(out, outsize, "-");
		return;
	}
	localtime_r(&t, &tm);
	strftime(out, outsize, "%Y-%m-%d %H:%M:%S", &tm);
}

static void
print_message(void *ctx, const struct queue_info *info)
{
	char when[64];
	size_t i;

	(*(unsigned *)ctx)++;
	fmt_time(info->arrival, when, sizeof(when));
	printf("%s %8llu  %s  <%s>\n", info->qid,
	    (unsigned long long)info->size, when, info->sender);
	for (i = 0; i < info->nrcpts; i++) {
		const struct queue_info_rcpt *r = &info->rcpts[i];

		printf("    <%s> %s", r->addr, queue_rcpt_status_name(r->status));
		if (r->attempts > 0)
			printf(" attempts=%u", r->attempts);
		if (r->status == QUEUE_RCPT_DEFERRED ||
		    r->status == QUEUE_RCPT_PENDING) {
			fmt_time(r->next_attempt, when, sizeof(when));
			printf(" next=\"%s\"", when);
		}
		if (r->last_error != NULL && r->last_error[0] != '\0')
			printf(" error=\"%s\"", r->last_error);
		printf("\n");
	}
}

/* signal_server - SIGUSR1 to the running server; 1 sent, 0 none, -1 error */
static int
signal_server(const struct config *cfg)
{
	char *path = config_data_path(cfg, "postino.pid");
	struct buf b;
	uint64_t pid;
	int r = 0;

	buf_init(&b, 64);
	if (read_file(path, &b) == 0) {
		struct span s = buf_span(&b);

		while (s.len > 0 && (s.p[s.len - 1] == '\n'))
			s.len--;
		if (strnum_u64(s, 4194304, &pid) == 0 && pid > 1) {
			if (kill((pid_t)pid, SIGUSR1) == 0)
				r = 1;
			else if (errno != ESRCH)
				r = -1;
		}
	}
	buf_fini(&b);
	free(path);
	return r;
}

int
cli_queue(int argc, char **argv)
{
	const char *err = NULL, *cmd = argc > 1 ? argv[1] : "";
	struct config *cfg;
	unsigned count = 0;
	char **pos, *qdir;
	int npos, r = 0, i;

	if (strcmp(cmd, "list") && strcmp(cmd, "flush") &&
	    strcmp(cmd, "delete")) {
		fprintf(stderr, "usage: postino queue list|flush|delete -c FILE "
		    "[ID...]\n");
		return 2;
	}
	cfg = cli_load_config(argc, argv, 2, &npos, &pos);
	if (cfg == NULL)
		return 1;
	qdir = config_data_path(cfg, "queue");
	if (!strcmp(cmd, "list")) {
		struct stat st;

		if (stat(qdir, &st) < 0 && errno == ENOENT)
			printf("queue is empty\n");	/* never started */
		else if (queue_list(qdir, print_message, &count, &err) < 0) {
			fprintf(stderr, "postino: queue list: %s\n",
			    err ? err : "failed");
			r = 1;
		} else if (count == 0) {
			printf("queue is empty\n");
		}
	} else if (!strcmp(cmd, "delete")) {
		if (npos < 1) {
			fprintf(stderr, "usage: postino queue delete -c FILE "
			    "ID...\n");
			r = 2;
		}
		for (i = 0; i < npos && r == 0; i++) {
			if (queue_delete(qdir, pos[i], &err) < 0) {
				fprintf(stderr, "postino: %s: %s\n", pos[i],
				    err ? err : "no such message");
				r = 1;
			}
		}
		if (r == 0)
			signal_server(cfg);
	} else {
		switch (signal_server(cfg)) {
		case 1:
			printf("flush requested\n");
			break;
		case 0:
			printf("no running server: the queue is retried when "
			    "it starts\n");
			break;
		default:
			fprintf(stderr, "postino: cannot signal the server: "
			    "%s\n", strerror(errno));
			r = 1;
		}
	}
	free(qdir);
	config_free(&cfg);
	return r;
}
