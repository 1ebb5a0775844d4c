/*
 * util.c - time, randomness, durations.
 */
#include "lib/util.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>

#include "lib/log.h"
#include "lib/strnum.h"

void
random_bytes(void *p, size_t n)
{
	unsigned char *s = p;

	while (n > 0) {
		ssize_t r = getrandom(s, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			fatal("getrandom: %s", strerror(errno));
		}
		s += r;
		n -= (size_t)r;
	}
}

void
random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char tmp[64];
	size_t i;

	ASSERT(n <= sizeof(tmp));
	random_bytes(tmp, n);
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[tmp[i] >> 4];
		out[2 * i + 1] = hex[tmp[i] & 15];
	}
	out[2 * n] = '\0';
}

uint64_t
monotonic_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void
rfc5322_date(char *out, size_t outsize, time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	if (strftime(out, outsize, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0 &&
	    outsize > 0)
		out[0] = '\0';
}

static int
number_with_unit(const char *s, const char *units, const uint64_t *mult,
    uint64_t *value_r)
{
	size_t len = strlen(s);
	uint64_t m = 1, v;
	const char *u;

	if (len == 0)
		return -1;
	u = strchr(units, s[len - 1]);
	if (u != NULL && s[len - 1] != '\0') {
		m = mult[u - units];
		len--;
	}
	if (strnum_u64(span_make(s, len), UINT64_MAX / m, &v) < 0)
		return -1;
	*value_r = v * m;
	return 0;
}

int
duration_parse(const char *s, uint64_t *secs_r)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };

	return number_with_unit(s, "smhd", mult, secs_r);
}

int
size_parse(const char *s, uint64_t *bytes_r)
{
	static const uint64_t mult[] = { 1024, 1024 * 1024,
		1024 * 1024 * 1024, 1024, 1024 * 1024, 1024 * 1024 * 1024 };

	return number_with_unit(s, "KMGkmg", mult, bytes_r);
}
