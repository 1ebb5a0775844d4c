/*
 * test.c - the unit-test harness runner.
 */
#include "test.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *current;
static int failures_in_case;

static void
fail_header(const char *file, int line)
{
	fprintf(stderr, "FAIL %s (%s:%d): ", current ? current : "?", file,
	    line);
	failures_in_case++;
}

bool
test_check(bool ok, const char *expr, const char *file, int line)
{
	if (!ok) {
		fail_header(file, line);
		fprintf(stderr, "%s\n", expr);
	}
	return ok;
}

bool
test_check_int(long long a, long long b, const char *ea, const char *eb,
    const char *file, int line)
{
	if (a != b) {
		fail_header(file, line);
		fprintf(stderr, "%s == %s: %lld != %lld\n", ea, eb, a, b);
		return false;
	}
	return true;
}

static void
print_escaped(const void *p, size_t len)
{
	const unsigned char *s = p;
	size_t i;

	fputc('"', stderr);
	for (i = 0; i < len && i < 2000; i++) {
		if (s[i] == '\n')
			fputs("\\n", stderr);
		else if (s[i] == '\r')
			fputs("\\r", stderr);
		else if (s[i] < 0x20 || s[i] >= 0x7f)
			fprintf(stderr, "\\x%02x", s[i]);
		else
			fputc(s[i], stderr);
	}
	if (i < len)
		fputs("...", stderr);
	fputc('"', stderr);
}

bool
test_check_str(const char *a, const char *b, const char *ea, const char *eb,
    const char *file, int line)
{
	if (a == NULL || b == NULL) {
		if (a == b)
			return true;
		fail_header(file, line);
		fprintf(stderr, "%s == %s: %s is NULL\n", ea, eb,
		    a == NULL ? ea : eb);
		return false;
	}
	return test_check_mem(a, strlen(a), b, strlen(b), ea, eb, file, line);
}

bool
test_check_mem(const void *a, size_t alen, const void *b, size_t blen,
    const char *ea, const char *eb, const char *file, int line)
{
	if (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0))
		return true;
	fail_header(file, line);
	fprintf(stderr, "%s == %s:\n  got      ", ea, eb);
	print_escaped(a, alen);
	fprintf(stderr, "\n  expected ");
	print_escaped(b, blen);
	fputc('\n', stderr);
	return false;
}

const char *
test_shared_data(void)
{
	const char *d = getenv("TESTDATA");

	return d != NULL ? d : "../shared/testdata";
}

int
test_run(const char *suite, const struct test_case *cases, size_t n)
{
	const char *only = getenv("TEST_ONLY");
	size_t i, passed = 0, failed = 0;

	for (i = 0; i < n; i++) {
		if (only != NULL && strcmp(only, cases[i].name) != 0)
			continue;
		current = cases[i].name;
		failures_in_case = 0;
		cases[i].fn();
		if (failures_in_case == 0)
			passed++;
		else
			failed++;
	}
	printf("%s: %zu passed, %zu failed\n", suite, passed, failed);
	return failed == 0 ? 0 : 1;
}
