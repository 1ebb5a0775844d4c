/*
 * cli_mailbox.c - `postino mailbox list|cat|export`: look into a store.
 *
 *   list ADDRESS                 "NAME COUNT [SPECIAL-USE]" per mailbox
 *   cat ADDRESS MAILBOX UID      the message's bytes on stdout
 *   export ADDRESS MAILBOX DIR   each message as DIR/<uid>.eml
 *   show ADDRESS MAILBOX UID     the IMAP view cached at delivery:
 *                                ENVELOPE, BODYSTRUCTURE and BODY
 */
#include "cli/cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/fsutil.h"
#include "lib/strnum.h"
#include "lib/xmalloc.h"
#include "store/accounts.h"
#include "store/mailstore.h"

static void
print_mailbox(void *ctx, const struct mailstore_mailbox *mb)
{
	const char *special = mailstore_special_name(mb->special);

	(void)ctx;
	printf("%s %u%s%s\n", mb->name, mb->messages, special ? " " : "",
	    special ? special : "");
}

struct export_ctx {
	const char	*dir;
	unsigned	 count;
	int		 failed;
};

static void
export_one(void *vctx, const struct mailstore_message *m)
{
	struct export_ctx *ctx = vctx;
	struct buf b;
	char *path;
	int fd;
	bool ok = false;

	/* a message is (file, offset, size): packed files hold several */
	buf_init(&b, m->size + 1);
	path = xasprintf("%s/%u.eml", ctx->dir, m->uid);
	fd = open(m->path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		uint8_t *w = buf_reserve(&b, m->size);
		ssize_t n = w != NULL ? pread(fd, w, m->size,
		    (off_t)m->offset) : -1;

		if (n >= 0 && (uint64_t)n == m->size) {
			b.len = m->size;
			ok = true;
		} else if (n >= 0) {
			errno = EIO;	/* short: the file is not as indexed */
		}
		close(fd);
	}
	if (!ok || write_file_atomic(path, b.data, b.len, 0600) < 0) {
		fprintf(stderr, "postino: %s: %s\n", path, strerror(errno));
		ctx->failed = 1;
	} else {
		ctx->count++;
	}
	free(path);
	buf_fini(&b);
}

int
cli_mailbox(int argc, char **argv)
{
	const char *err = NULL, *cmd = argc > 1 ? argv[1] : "";
	struct accounts *a = NULL;
	struct mailstore *ms = NULL;
	struct accounts_user u;
	struct config *cfg;
	char **pos;
	int npos, r = 1, found;

	if ((strcmp(cmd, "list") && strcmp(cmd, "cat") &&
	    strcmp(cmd, "export") && strcmp(cmd, "show"))) {
		fprintf(stderr, "usage: postino mailbox list|cat|show|export -c FILE "
		    "ADDRESS [MAILBOX [UID|DIR]]\n");
		return 2;
	}
	cfg = cli_load_config(argc, argv, 2, &npos, &pos);
	if (cfg == NULL)
		return 1;
	if (npos != (!strcmp(cmd, "list") ? 1 : 3)) {
		fprintf(stderr, "usage: postino mailbox %s -c FILE ADDRESS%s\n",
		    cmd, !strcmp(cmd, "list") ? "" : strcmp(cmd, "export") ?
		    " MAILBOX UID" : " MAILBOX DIR");
		config_free(&cfg);
		return 2;
	}
	a = accounts_open(cfg->data_dir, &err);
	if (a == NULL)
		goto fail;
	found = accounts_user_lookup(a, pos[0], &u, &err);
	if (found <= 0) {
		if (found == 0)
			err = "no such user";
		goto fail;
	}
	ms = mailstore_open(cfg->data_dir, u.id, &err);
	if (ms == NULL)
		goto fail;
	if (!strcmp(cmd, "list")) {
		if (mailstore_mailbox_list(ms, print_mailbox, NULL, &err) < 0)
			goto fail;
	} else if (!strcmp(cmd, "show")) {
		char *env = NULL, *bs = NULL, *body = NULL;
		uint64_t uid;
		int got;

		if (strnum_u64_str(pos[2], UINT32_MAX, &uid) < 0) {
			err = "bad UID";
			goto fail;
		}
		got = mailstore_message_cache_get(ms, pos[1], (uint32_t)uid,
		    &env, &bs, &body, &err);
		if (got <= 0) {
			if (got == 0)
				err = "no such message";
			goto fail;
		}
		printf("ENVELOPE %s\nBODYSTRUCTURE %s\nBODY %s\n",
		    env ? env : "(not cached)", bs ? bs : "(not cached)",
		    body ? body : "(not cached)");
		free(env);
		free(bs);
		free(body);
	} else if (!strcmp(cmd, "cat")) {
		uint64_t uid;
		struct buf b;
		int got;

		if (strnum_u64_str(pos[2], UINT32_MAX, &uid) < 0) {
			err = "bad UID";
			goto fail;
		}
		buf_init(&b, (size_t)cfg->max_message_size + 65536);
		got = mailstore_message_read(ms, pos[1], (uint32_t)uid, &b,
		    &err);
		if (got <= 0) {
			buf_fini(&b);
			if (got == 0)
				err = "no such message";
			goto fail;
		}
		if (write_all(STDOUT_FILENO, b.data, b.len) < 0) {
			buf_fini(&b);
			err = strerror(errno);
			goto fail;
		}
		buf_fini(&b);
	} else {
		struct export_ctx ec = { pos[2], 0, 0 };

		if (mkdir_p(pos[2], 0700) < 0) {
			err = strerror(errno);
			goto fail;
		}
		if (mailstore_message_list(ms, pos[1], export_one, &ec,
		    &err) < 0 || ec.failed)
			goto fail;
		printf("exported %u messages\n", ec.count);
	}
	r = 0;
	goto out;
fail:
	fprintf(stderr, "postino: mailbox %s: %s\n", cmd, err ? err : "failed");
out:
	mailstore_close(&ms);
	accounts_close(&a);
	config_free(&cfg);
	return r;
}
