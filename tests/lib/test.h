/*
 * test.h - the unit-test harness.
 *
 * A test file defines static void functions, lists them in a
 * `static const struct test_case cases[]` table and ends with
 * TEST_MAIN(cases).  CHECK* macros record a failure and go on, so one run
 * reports every broken expectation.  The binary prints one line per failure
 * and a closing "NAME: N passed, N failed" line; exit status 1 on failure.
 */
#ifndef POSTINO_TESTS_LIB_TEST_H
#define POSTINO_TESTS_LIB_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct test_case {
	const char	*name;
	void		(*fn)(void);
};

#define TEST(fn) { #fn, fn }

bool test_check(bool ok, const char *expr, const char *file, int line);
bool test_check_int(long long a, long long b, const char *ea,
    const char *eb, const char *file, int line);
bool test_check_str(const char *a, const char *b, const char *ea,
    const char *eb, const char *file, int line);
bool test_check_mem(const void *a, size_t alen, const void *b, size_t blen,
    const char *ea, const char *eb, const char *file, int line);
int test_run(const char *suite, const struct test_case *cases, size_t n);
/* Directory holding shared test data (../shared/testdata or $TESTDATA). */
const char *test_shared_data(void);

#define CHECK(c) test_check((c), #c, __FILE__, __LINE__)
#define CHECK_INT(a, b) \
	test_check_int((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_STR(a, b) test_check_str((a), (b), #a, #b, __FILE__, __LINE__)
#define CHECK_MEM(a, alen, b, blen) \
	test_check_mem((a), (alen), (b), (blen), #a, #b, __FILE__, __LINE__)

#define TEST_MAIN(cases) \
	int main(void) \
	{ \
		return test_run(__FILE__, cases, \
		    sizeof(cases) / sizeof(cases[0])); \
	}

#endif
