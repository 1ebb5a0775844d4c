/*
 * msg_hold_test.c - unit tests for the held message (policy/msg_hold.h):
 * memory below the threshold, the spill file above it, the view, the
 * ceilings and what is left on disk.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"
#include "policy/msg_hold.h"
#include "../../tests/lib/test.h"

static char dir[64];

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/msg_hold_test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		abort();
}

/* entries - files left in dir */
static int
entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

/* pattern - deterministic bytes, CRLF every 70 */
static uint8_t *
pattern(size_t n)
{
	uint8_t *p = xmalloc(n + 1);
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = i % 72 == 70 ? '\r' : i % 72 == 71 ? '\n' :
		    (uint8_t)('a' + (i * 7) % 26);
	return p;
}

static void
test_in_memory(void)
{
	struct msg_hold *h = msg_hold_new(dir, 1000, 5000);
	const char *err = NULL;
	struct span v;

	CHECK_INT(msg_hold_view(h, &v, &err), 0);
	CHECK_INT(v.len, 0);
	CHECK_INT(msg_hold_append(h, "Subject: x\r\n\r\n", 14, &err), 0);
	CHECK_INT(msg_hold_append(h, "body\r\n", 6, &err), 0);
	CHECK_INT(msg_hold_view(h, &v, &err), 0);
	CHECK_MEM(v.p, v.len, "Subject: x\r\n\r\nbody\r\n", 20);
	CHECK(!msg_hold_spilled(h));
	CHECK_INT(msg_hold_size(h), 20);
	/* exactly the threshold stays in memory */
	{
		uint8_t *p = pattern(980);

		CHECK_INT(msg_hold_append(h, p, 980, &err), 0);
		CHECK(!msg_hold_spilled(h));
		free(p);
	}
	CHECK_INT(entries(), 0);
	msg_hold_free(&h);
	CHECK(h == NULL);
	msg_hold_free(&h);
}

/* above the threshold, in pieces of every size: the view is the same
 * bytes, memory stays at the staging size, no file name is left */
static void
test_spill(void)
{
	static const size_t steps[] = { 1, 13, 4096, 65535, 65536, 65537,
		300000 };
	size_t total = 3 * MSG_HOLD_CHUNK + 12345, si;
	uint8_t *p = pattern(total);

	for (si = 0; si < sizeof(steps) / sizeof(steps[0]); si++) {
		struct msg_hold *h = msg_hold_new(dir, 100 * 1024, 1 << 20);
		const char *err = NULL;
		struct span v;
		size_t off = 0, n;

		while (off < total) {
			n = total - off < steps[si] ? total - off : steps[si];
			if (!CHECK_INT(msg_hold_append(h, p + off, n, &err), 0))
				break;
			off += n;
			if (msg_hold_spilled(h))
				CHECK(msg_hold_memory(h) <= MSG_HOLD_CHUNK + 1);
			else
				CHECK(msg_hold_size(h) <= 100 * 1024);
		}
		CHECK(msg_hold_spilled(h));
		CHECK_INT(msg_hold_size(h), total);
		CHECK_INT(msg_hold_view(h, &v, &err), 0);
		CHECK_MEM(v.p, v.len, p, total);
		/* the file has no name */
		CHECK_INT(entries(), 0);
		/* appending after a view, then viewing again */
		CHECK_INT(msg_hold_append(h, "tail", 4, &err), 0);
		CHECK_INT(msg_hold_view(h, &v, &err), 0);
		CHECK_INT(v.len, total + 4);
		CHECK(v.len == total + 4 && memcmp(v.p + total, "tail", 4) == 0);
		msg_hold_free(&h);
	}
	free(p);
}

static void
test_ceiling(void)
{
	struct msg_hold *h = msg_hold_new(dir, 10, 100);
	const char *err = NULL;
	uint8_t *p = pattern(101);
	struct span v;

	CHECK_INT(msg_hold_append(h, p, 101, &err), -1);
	CHECK_STR(err, "message too big");
	CHECK_INT(msg_hold_append(h, p, 60, &err), 0);
	CHECK(msg_hold_spilled(h));
	CHECK_INT(msg_hold_append(h, p, 41, &err), -1);
	CHECK_INT(msg_hold_append(h, p, 40, &err), 0);	/* exactly 100 */
	CHECK_INT(msg_hold_view(h, &v, &err), 0);
	CHECK_INT(v.len, 100);
	CHECK_MEM(v.p + 60, 40, p, 40);
	msg_hold_free(&h);
	free(p);
}

static void
test_bad_dir(void)
{
	struct msg_hold *h = msg_hold_new("/nonexistent/msg_hold", 10, 1000);
	const char *err = NULL;
	struct span v;

	CHECK_INT(msg_hold_append(h, "0123456789", 10, &err), 0);
	CHECK_INT(msg_hold_append(h, "x", 1, &err), -1);
	CHECK(err != NULL);
	/* unusable from then on */
	err = NULL;
	CHECK_INT(msg_hold_append(h, "y", 1, &err), -1);
	CHECK(err != NULL);
	CHECK_INT(msg_hold_view(h, &v, &err), -1);
	msg_hold_free(&h);
}

static void
test_cleanup(void)
{
	CHECK_INT(entries(), 0);
	CHECK_INT(rmdir(dir), 0);
}

static const struct test_case cases[] = {
	TEST(make_dir),
	TEST(test_in_memory),
	TEST(test_spill),
	TEST(test_ceiling),
	TEST(test_bad_dir),
	TEST(test_cleanup),
};

TEST_MAIN(cases)
