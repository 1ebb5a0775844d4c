/*
 * ini.h - a small strict INI reader.
 *
 * Syntax: "[section]" lines, "key = value" lines, blank lines, and comments
 * starting with ';' or '#' at the start of a line or after whitespace.
 * Values are trimmed; a value may be empty.  Keys outside any section,
 * malformed lines and over-long lines (INI_MAX_LINE) are errors naming the
 * file and line.  The file is trusted (written by the administrator) but
 * still parsed with limits.
 */
#ifndef POSTINO_CONF_INI_H
#define POSTINO_CONF_INI_H

#include <stddef.h>

#define INI_MAX_LINE 4096

/*
 * Called for every key; returns 0, or -1 with a message in *error_r (a
 * static or long-lived string) which ini_parse reports with file and line.
 */
typedef int ini_key_fn(void *ctx, const char *section, const char *key,
    const char *value, const char **error_r);

/*
 * Parses text (len bytes) named `file` for messages.  Returns 0, or -1
 * with a heap-allocated "FILE:LINE: ..." message in *error_r (caller
 * frees).
 */
int ini_parse(const char *file, const char *text, size_t len,
    ini_key_fn *fn, void *ctx, char **error_r);

#endif
