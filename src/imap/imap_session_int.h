/*
 * imap_session_int.h - what the files of the IMAP session share
 * (imap_session.c: states, reader loop, authentication; imap_mailbox.c:
 * mailbox-level commands; imap_append.c: APPEND).  Private to src/imap/.
 */
#ifndef POSTINO_IMAP_IMAP_SESSION_INT_H
#define POSTINO_IMAP_IMAP_SESSION_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/sasl.h"
#include "imap/imap_parse.h"
#include "imap/imap_session.h"
#include "imap/imap_view.h"
#include "lib/buf.h"

enum imap_state {
	IMAP_STATE_NOTAUTH,
	IMAP_STATE_AUTH,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};

/* Sticky facts of the session. */
#define IMAP_F_TLS		0x001u	/* STARTTLS done or implicit TLS */
#define IMAP_F_CLOSE		0x002u	/* flush, then close */
#define IMAP_F_IDLE		0x004u	/* in IDLE, waiting for DONE */
#define IMAP_F_SASL		0x008u	/* waiting for a SASL response */
#define IMAP_F_SASL_ACK		0x010u	/* waiting for the empty response
					 * after SCRAM's server-final */
#define IMAP_F_AUTH_PENDING	0x020u	/* IMAP_SESSION_AUTH returned */
#define IMAP_F_COMPRESS		0x040u	/* COMPRESS DEFLATE done */
#define IMAP_F_PAUSED		0x080u	/* IMAP_SESSION_MORE returned */
#define IMAP_F_TMPDIR		0x100u	/* DATA_DIR/tmp exists */
#define IMAP_F_ID_LOGGED	0x200u	/* the client's ID is logged once */
#define IMAP_F_AUTH_GATE	0x400u	/* IMAP_SESSION_AUTH_GATE returned */

/*
 * One streamed APPEND literal kept in an unlinked temporary file, its
 * bare LFs written as CRLF (so written >= size).
 */
struct imap_tmp_literal {
	int		fd;	/* -1: could not be stored */
	uint64_t	size;	/* as announced */
	uint64_t	written;	/* bytes in the file */
	bool		last_cr;	/* the last byte written was CR */
};

struct imap_session {
	/* configuration (strings owned) */
	char			*hostname;
	char			*data_dir;
	bool			 tls_available;
	bool			 plaintext_loopback;
	uint64_t		 append_limit;
	uint64_t		 quota_default;	/* [store] quota */
	uint64_t		 quota;		/* the account's, after login */
	uint8_t			*sasl_secret;
	size_t			 sasl_secret_len;
	/* peer */
	char			*sid;
	char			*addr;
	bool			 is_loopback;

	enum imap_state		 state;
	unsigned		 flags;
	unsigned		 bad_commands;	/* consecutive */
	unsigned		 auth_failures;
	unsigned		 prelogin_commands;
	struct imap_reader	*reader;
	struct arena		*arena;		/* one command */

	/* the tag of a command spanning calls (AUTH, IDLE, MORE) */
	char			*tag;
	struct imap_command	*paused;	/* MORE: in arena */

	/* login */
	char			*login_user;	/* LOGIN arguments (heap) */
	char			*login_pass;
	struct sasl		*sasl;
	struct sasl_config	 sasl_cfg;
	char			*user;		/* canonical address */
	int64_t			 user_id;
	/* a SCRAM outcome not yet taken by imap_session_auth_outcome */
	enum imap_auth_result	 outcome;	/* TEMP: none */
	char			*outcome_user;	/* heap */

	struct imap_view_opts	 opts;		/* what ENABLE turned on */
	struct imap_view	*view;		/* selected mailbox */

	/* streamed APPEND literals of the command being read */
	struct imap_tmp_literal	*lits;
	unsigned		 nlits;
};

/* A command being run: what its handler gets. */
struct imap_call {
	struct imap_session	*s;
	const struct imap_env	*env;
	struct imap_command	*cmd;
	struct buf		*out;
	struct imap_result	 res;
	bool			 no_sync;	/* no untagged updates after */
};

/* Appends one response line (CRLF added); on overflow the session is
 * marked for closing. */
void imap_out(struct imap_session *s, struct buf *out, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Appends raw bytes (no CRLF). */
void imap_out_raw(struct imap_session *s, struct buf *out, const void *p,
    size_t n);
/* Sets the tagged result of a call: status, response code ("" for none)
 * and text. */
void imap_result(struct imap_call *c, enum imap_result_status st,
    const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The account's store for this thread, or NULL after setting
 * NO [UNAVAILABLE] on the call. */
struct mailstore *imap_call_store(struct imap_call *c);

/*
 * Appends a mailbox name (UTF-8 from the store) as an IMAP quoted string,
 * converted to modified UTF-7 unless UTF-8 is on.  Returns 0, or -1 (the
 * name cannot be encoded; nothing appended).
 */
int imap_put_mailbox(struct imap_session *s, struct buf *out,
    const char *name);
/* Appends a quoted string with '"' and '\' escaped (no CR, LF, NUL). */
void imap_put_quoted(struct imap_session *s, struct buf *out, const char *p,
    size_t len);

/*
 * Checks a mailbox name that is about to be created (CREATE, RENAME's
 * target): no ".." , no wildcards, no control characters, no empty
 * level, no leading "/", at most IMAP_MAX_MAILBOX_LEVELS levels and
 * STORE_MAX_MAILBOX_NAME bytes.  true, or false with a static reason.
 */
bool imap_mailbox_name_ok(const char *name, size_t len, const char **why_r);
/*
 * LIST pattern matching (RFC 9051 section 6.3.9): "*" matches anything,
 * "%" anything but the delimiter "/".  A name under INBOX also matches
 * a pattern that spells INBOX in another case.
 */
bool imap_list_match(const char *pattern, size_t plen, const char *name);

/*
 * The selected mailbox's pending updates, expunges allowed (before a
 * command that renames it).  0, or -1 when the session is closing (BYE
 * written).
 */
int imap_selected_sync(struct imap_call *c);
/*
 * The selected mailbox was renamed to name by this session: the view is
 * opened again under the new name (same UIDs; its SELECT responses are
 * not sent), or, if that fails, the session says BYE.
 */
void imap_selected_renamed(struct imap_call *c, struct mailstore *ms,
    const char *name);

/* Mailbox-level commands (imap_mailbox.c). */
enum imap_session_status imap_cmd_create(struct imap_call *c);
enum imap_session_status imap_cmd_delete(struct imap_call *c);
enum imap_session_status imap_cmd_rename(struct imap_call *c);
enum imap_session_status imap_cmd_subscribe(struct imap_call *c);
enum imap_session_status imap_cmd_list(struct imap_call *c);
enum imap_session_status imap_cmd_namespace(struct imap_call *c);
enum imap_session_status imap_cmd_status(struct imap_call *c);
enum imap_session_status imap_cmd_getquota(struct imap_call *c);
enum imap_session_status imap_cmd_setquota(struct imap_call *c);

/* APPEND (imap_append.c) and its streamed literals. */
enum imap_session_status imap_cmd_append(struct imap_call *c);
/* LITERAL_BEGIN / LITERAL_DATA of a streamed APPEND literal. */
void imap_append_literal_begin(struct imap_session *s, unsigned index,
    uint64_t size);
void imap_append_literal_data(struct imap_session *s, unsigned index,
    struct span data);
/*
 * Copies len bytes of a message to out (room for 2 * len) with every bare
 * LF written as CRLF; *last_cr says whether the byte before in was CR
 * (false at the start) and is updated for the next piece.  Returns the
 * bytes written.
 */
size_t imap_append_crlf(const uint8_t *in, size_t len, bool *last_cr,
    uint8_t *out);
/* Closes every temporary literal (end of a command). */
void imap_append_literals_drop(struct imap_session *s);

#endif
