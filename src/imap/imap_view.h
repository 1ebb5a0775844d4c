/*
 * imap_view.h - the selected mailbox of an IMAP session: the session's
 * numbering of the messages (message sequence numbers <-> UIDs), what it
 * has told the client so far (EXISTS, flags, HIGHESTMODSEQ), and every
 * command of the selected state: FETCH, STORE, SEARCH, SORT, THREAD,
 * COPY, MOVE, EXPUNGE, UID EXPUNGE, CLOSE's silent expunge, and the
 * CONDSTORE/QRESYNC parts of SELECT (RFC 9051, RFC 3501, RFC 7162,
 * RFC 4315 UIDPLUS, RFC 6851 MOVE, RFC 4731 ESEARCH, RFC 5182 SEARCHRES,
 * RFC 5256 SORT/THREAD).
 *
 * Called by imap_session.c on a worker thread with that thread's handle
 * of the account's store.  The view keeps no handle between calls.
 *
 * Output conventions: a function appends untagged responses ("* ...")
 * to out and fills struct imap_result for the tagged line; the session
 * writes the tagged line.  Untagged updates of other sessions' changes
 * (EXISTS, EXPUNGE or VANISHED, FETCH FLAGS) are sent only where RFC 9051
 * section 7.5.1 allows them: imap_view_sync says whether expunges may go
 * out.
 *
 * Memory: the sequence map is kept compact (UID ranges), so an idle
 * session on a 10,000-message mailbox costs a few KiB, not one entry per
 * message.
 */
#ifndef POSTINO_IMAP_IMAP_VIEW_H
#define POSTINO_IMAP_IMAP_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap/imap_parse.h"
#include "lib/buf.h"

struct mailstore;
struct imap_view;

/* The tagged response the session writes: "tag OK [code] text". */
enum imap_result_status { IMAP_RESULT_OK, IMAP_RESULT_NO, IMAP_RESULT_BAD };
struct imap_result {
	enum imap_result_status	 status;
	char			 code[256];	/* "" or e.g.
						   "COPYUID 17 1:3 5:7" */
	char			 text[256];	/* "FETCH completed" */
	/*
	 * Not NULL: the code to write instead of code[], one longer than
	 * code[] holds (a COPYUID or MODIFIED set of scattered UIDs).
	 * Owned by the view; valid until its next imap_view_command or
	 * imap_view_free (imap_view_sync and imap_view_resume keep it).
	 */
	const char		*code_long;
};

/* The response code of res ("" for none), whichever field holds it. */
static inline const char *
imap_result_code(const struct imap_result *res)
{
	return res->code_long != NULL ? res->code_long : res->code;
}

/* What the client has enabled and how names go over the wire. */
struct imap_view_opts {
	bool	rev2;		/* ENABLE IMAP4rev2 */
	bool	utf8;		/* UTF8=ACCEPT or rev2: names as UTF-8 */
	bool	condstore;	/* CONDSTORE enabled (ENABLE or implied) */
	bool	qresync;	/* QRESYNC enabled */
};

/*
 * SELECT / EXAMINE: opens the view of mailbox (UTF-8 name) and appends
 * the untagged responses of a successful select (FLAGS, EXISTS, RECENT
 * for rev1, OK [UNSEEN n] for rev1, OK [UIDVALIDITY], OK [UIDNEXT],
 * OK [PERMANENTFLAGS], OK [HIGHESTMODSEQ] with CONDSTORE, and with
 * QRESYNC parameters the VANISHED (EARLIER) and FETCH responses).
 * Returns the view, or NULL with res filled (NO [NONEXISTENT], ...).
 */
struct imap_view *imap_view_open(struct mailstore *ms,
    const struct imap_command *cmd, bool readonly,
    const struct imap_view_opts *o, struct buf *out, struct imap_result *res);
void imap_view_free(struct imap_view **v);
const char *imap_view_mailbox(const struct imap_view *v);
bool imap_view_readonly(const struct imap_view *v);

/*
 * Brings the view up to date with the store: appends EXISTS for new
 * messages, FETCH (FLAGS ... [MODSEQ]) for changed ones, and, if
 * allow_expunge, EXPUNGE (or VANISHED with QRESYNC) for removed ones.
 * 0, or -1 on a store error.
 */
int imap_view_sync(struct imap_view *v, struct mailstore *ms,
    const struct imap_view_opts *o, bool allow_expunge, struct buf *out);

/*
 * Runs one selected-state command: FETCH, STORE, SEARCH, SORT, THREAD,
 * COPY, MOVE, EXPUNGE, CHECK, and their UID forms.  Returns 0 when done,
 * or 1 when a long response paused with out past IMAP_SESSION_OUT_HIGH:
 * call imap_view_resume until it returns 0 (cmd must stay alive until
 * then).  res is filled when done.
 */
int imap_view_command(struct imap_view *v, struct mailstore *ms,
    const struct imap_command *cmd, const struct imap_view_opts *o,
    struct buf *out, struct imap_result *res);
int imap_view_resume(struct imap_view *v, struct mailstore *ms,
    const struct imap_view_opts *o, struct buf *out, struct imap_result *res);

/*
 * The same mailbox opened again (renamed): to takes from's \Recent
 * messages (rev1), so the session keeps them.
 */
void imap_view_take_recent(struct imap_view *to, struct imap_view *from);

/*
 * CLOSE: removes the \Deleted messages silently (unless read-only).
 * The view is then freed by the caller.  0 or -1.
 */
int imap_view_close_expunge(struct imap_view *v, struct mailstore *ms);

#endif
