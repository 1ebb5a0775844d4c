/*
 * lib_test.c - unit tests for buf, span, arena, strnum and durations.
 */
#include <stdint.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "lib/span.h"
#include "lib/strnum.h"
#include "lib/util.h"
#include "../../tests/lib/test.h"

static void
test_buf_limit(void)
{
	struct buf b;

	buf_init(&b, 8);
	CHECK_INT(buf_append(&b, "1234567", 7), 0);
	CHECK_INT(buf_append(&b, "8", 1), 0);	/* limit exactly */
	CHECK_INT(buf_append(&b, "9", 1), -1);	/* limit + 1 */
	CHECK_INT(b.len, 8);
	CHECK_STR(buf_cstr(&b), "12345678");
	buf_consume(&b, 3);
	CHECK_STR(buf_cstr(&b), "45678");
	CHECK_INT(buf_printf(&b, "%d", 123), 0);
	CHECK_INT(buf_printf(&b, "%d", 1), -1);
	CHECK_STR(buf_cstr(&b), "45678123");
	buf_fini(&b);
}

static void
test_strnum(void)
{
	uint64_t v = 0;

	CHECK_INT(strnum_u64_str("0", 10, &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(strnum_u64_str("10", 10, &v), 0);
	CHECK_INT(v, 10);
	CHECK_INT(strnum_u64_str("11", 10, &v), -1);
	CHECK_INT(strnum_u64_str("", 10, &v), -1);
	CHECK_INT(strnum_u64_str("+1", 10, &v), -1);
	CHECK_INT(strnum_u64_str(" 1", 10, &v), -1);
	CHECK_INT(strnum_u64_str("18446744073709551615", UINT64_MAX, &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_INT(strnum_u64_str("18446744073709551616", UINT64_MAX, &v), -1);
	CHECK_INT(strnum_u64_str("5", 3, &v), -1);
}

static void
test_duration(void)
{
	uint64_t v = 0;

	CHECK_INT(duration_parse("5m", &v), 0);
	CHECK_INT(v, 300);
	CHECK_INT(duration_parse("2d", &v), 0);
	CHECK_INT(v, 172800);
	CHECK_INT(duration_parse("17", &v), 0);
	CHECK_INT(v, 17);
	CHECK_INT(duration_parse("m", &v), -1);
	CHECK_INT(duration_parse("5x", &v), -1);
	CHECK_INT(size_parse("10M", &v), 0);
	CHECK_INT(v, 10 * 1024 * 1024);
}

static void
test_span(void)
{
	struct span a = SPAN_LIT("  Hello World\t"), h, r;

	CHECK(span_eq_str_ci(span_trim(a), "hello world"));
	CHECK(span_starts_ci(span_trim(a), "HELLO"));
	CHECK(span_split(span_trim(a), ' ', &h, &r));
	CHECK(span_eq(h, SPAN_LIT("Hello")));
	CHECK(span_eq(r, SPAN_LIT("World")));
	CHECK(!span_has_nul(a));
	CHECK(span_has_nul(span_make("a\0b", 3)));
}

static void
test_arena(void)
{
	struct arena *a = arena_new("test", 256, 1 << 20);
	char *s;
	int i;

	for (i = 0; i < 1000; i++) {
		s = arena_printf(a, "item %d", i);
		CHECK(strncmp(s, "item ", 5) == 0);
	}
	s = arena_alloc(a, 100000);		/* bigger than a chunk */
	CHECK(((uintptr_t)s & 15) == 0);
	arena_reset(a);
	CHECK_STR(arena_strndup(a, "abcdef", 3), "abc");
	arena_free(&a);
	CHECK(a == NULL);
	arena_free(&a);
}

static void
test_log_escape(void)
{
	char out[LOG_ESCAPE_BUFSIZE];
	char big[300];

	CHECK_STR(log_escape(out, sizeof(out), "a\r\n\"b", 5),
	    "a\\x0d\\x0a\\x22b");
	memset(big, 'x', sizeof(big));
	log_escape(out, sizeof(out), big, sizeof(big));
	CHECK_INT(strlen(out), LOG_ESCAPE_MAX + 3);
}

static const struct test_case cases[] = {
	TEST(test_buf_limit),
	TEST(test_strnum),
	TEST(test_duration),
	TEST(test_span),
	TEST(test_arena),
	TEST(test_log_escape),
};

TEST_MAIN(cases)
