/*
 * ini.c - strict INI parsing with file:line error messages.
 */
#include "conf/ini.h"

#include <string.h>

#include "lib/ascii.h"
#include "lib/xmalloc.h"

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

/* strip_comment - cut at ';' or '#' that starts the line or follows a blank */
static void
strip_comment(char *s)
{
	char *p;

	for (p = s; *p != '\0'; p++) {
		if ((*p == ';' || *p == '#') &&
		    (p == s || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

static int
valid_name(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!ascii_isalnum((unsigned char)*s) && *s != '_' &&
		    *s != '-' && *s != '.')
			return 0;
	return 1;
}

int
ini_parse(const char *file, const char *text, size_t len, ini_key_fn *fn,
    void *ctx, char **error_r)
{
	char line[INI_MAX_LINE + 1];
	char section[128] = "";
	size_t pos = 0;
	unsigned lineno = 0;

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;
		char *s, *eq, *key, *value;
		const char *err = NULL;

		lineno++;
		if (n > INI_MAX_LINE) {
			*error_r = xasprintf("%s:%u: line too long (max %d)",
			    file, lineno, INI_MAX_LINE);
			return -1;
		}
		memcpy(line, text + pos, n);
		line[n] = '\0';
		pos += n + (nl ? 1 : 0);
		if (memchr(line, '\0', n) != NULL) {
			*error_r = xasprintf("%s:%u: NUL byte", file, lineno);
			return -1;
		}
		strip_comment(line);
		s = trim(line);
		if (*s == '\0')
			continue;
		if (*s == '[') {
			char *end = strchr(s, ']');

			if (end == NULL || end[1] != '\0') {
				*error_r = xasprintf("%s:%u: malformed section "
				    "header", file, lineno);
				return -1;
			}
			*end = '\0';
			s = trim(s + 1);
			if (!valid_name(s) || strlen(s) >= sizeof(section)) {
				*error_r = xasprintf("%s:%u: invalid section "
				    "name '%s'", file, lineno, s);
				return -1;
			}
			strcpy(section, s);
			continue;
		}
		eq = strchr(s, '=');
		if (eq == NULL) {
			*error_r = xasprintf("%s:%u: expected 'key = value'",
			    file, lineno);
			return -1;
		}
		*eq = '\0';
		key = trim(s);
		value = trim(eq + 1);
		if (!valid_name(key)) {
			*error_r = xasprintf("%s:%u: invalid key name '%s'",
			    file, lineno, key);
			return -1;
		}
		if (section[0] == '\0') {
			*error_r = xasprintf("%s:%u: key '%s' outside of any "
			    "section", file, lineno, key);
			return -1;
		}
		if (fn(ctx, section, key, value, &err) < 0) {
			*error_r = xasprintf("%s:%u: [%s] %s: %s", file,
			    lineno, section, key, err ? err : "invalid");
			return -1;
		}
	}
	return 0;
}
