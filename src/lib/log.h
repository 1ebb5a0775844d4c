/*
 * log.h - logging, fatal errors and assertions.
 *
 * Three kinds of error (STYLE.md section 9): a misbehaving peer is logged
 * at info/warn and answered; fatal() is for a broken environment (exit);
 * panic()/ASSERT() are for our own bugs (abort, core dump).
 * Lines go to stderr as "LEVEL event key=value ...".
 */
#ifndef POSTINO_LIB_LOG_H
#define POSTINO_LIB_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR };

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

/* Environment failure: log and exit(1).  Runs the fatal hook first. */
void fatal(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));
/* Our bug: log and abort(). */
void panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

#define ASSERT(cond) do { if (!(cond)) \
	panic("assertion failed: %s (%s:%d)", #cond, __FILE__, __LINE__); \
} while (0)

/*
 * Escapes untrusted bytes for a log line: printable ASCII except '"' and
 * '\\' is kept, everything else becomes \xNN; the result is cut to
 * LOG_ESCAPE_MAX input bytes with "..." appended.  Writes into out (size
 * outsize, at least 4) and returns out.
 */
#define LOG_ESCAPE_MAX 128
#define LOG_ESCAPE_BUFSIZE (LOG_ESCAPE_MAX * 4 + 8)
const char *log_escape(char *out, size_t outsize, const void *p, size_t len);

#endif
