/*
 * ar_filter.h - removes forged Authentication-Results fields (RFC 8601
 * section 5) from a message as it streams by.
 *
 * Every message that enters the server must lose any
 * Authentication-Results field claiming our own authserv-id before we add
 * ours, also on the paths that never hold the message (trusted networks,
 * submission).  The filter holds one header field at a time (at most
 * max_field bytes), decides it with policy_ar_is_ours() once the next
 * line shows that it ended, and passes everything after the empty line
 * that ends the header section straight through.  Memory is bounded by
 * max_field whatever the size of the header section or the body.
 *
 * For fields under max_field the output is byte for byte that of
 * policy_strip_ar() on the whole message, however the input is split.
 * A field longer than max_field is decided on its first max_field bytes:
 * if its name is Authentication-Results it is dropped whatever its
 * authserv-id (a comment that long could hide ours; no real one is that
 * long), any other field is passed through.
 *
 * Sees untrusted input (message bytes from any SMTP client).
 *
 * Use:
 *	f = ar_filter_new("mx.example.com", POLICY_MAX_AR_FIELD, out, ctx);
 *	ar_filter_input(f, p, n);  ... as the message arrives
 *	ar_filter_finish(f);       at its end
 *	ar_filter_removed(f)       fields dropped, for the log
 *	ar_filter_free(&f);
 */
#ifndef POSTINO_POLICY_AR_FILTER_H
#define POSTINO_POLICY_AR_FILTER_H

#include <stddef.h>

struct ar_filter;

/* Where the filtered bytes go: 0, or -1 to stop (the error sticks). */
typedef int ar_filter_out_fn(void *ctx, const void *p, size_t n);

/* authserv_id is copied; max_field is at least 64 (smaller is raised).
 * Never returns NULL. */
struct ar_filter *ar_filter_new(const char *authserv_id, size_t max_field,
    ar_filter_out_fn *out, void *ctx);
/*
 * Feeds message bytes (header, empty line, body; CRLF or bare LF line
 * ends), in pieces of any size.  Returns 0, or -1 once out has failed
 * (every later call fails too).
 */
int ar_filter_input(struct ar_filter *f, const void *p, size_t n)
	__attribute__((warn_unused_result));
/* The message is complete: decides and writes the field still held (a
 * header section with no empty line).  0 or -1 as above. */
int ar_filter_finish(struct ar_filter *f)
	__attribute__((warn_unused_result));
/* Fields dropped so far. */
unsigned ar_filter_removed(const struct ar_filter *f);
/* NULL is a no-op; sets *f to NULL. */
void ar_filter_free(struct ar_filter **f);

#endif
