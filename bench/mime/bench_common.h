/*
 * bench_common.h - corpus loading and timing shared by the two MIME
 * benchmark programs (postino_mime_bench.c, gmime_bench.c).
 */
#ifndef POSTINO_BENCH_MIME_COMMON_H
#define POSTINO_BENCH_MIME_COMMON_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct corpus {
	unsigned char	**msg;
	size_t		 *len;
	size_t		  n, total;
};

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* corpus_load - read every file of dir into memory (not timed). */
static void
corpus_load(const char *dir, struct corpus *c)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, path[4096];
	size_t n = 0, i;

	if (d == NULL) {
		perror(dir);
		exit(1);
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	c->msg = calloc(n, sizeof(*c->msg));
	c->len = calloc(n, sizeof(*c->len));
	c->n = n;
	c->total = 0;
	for (i = 0; i < n; i++) {
		FILE *f;
		long sz;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		f = fopen(path, "rb");
		if (f == NULL || fseek(f, 0, SEEK_END) != 0 ||
		    (sz = ftell(f)) < 0) {
			perror(path);
			exit(1);
		}
		rewind(f);
		c->msg[i] = malloc((size_t)sz + 1);
		if (fread(c->msg[i], 1, (size_t)sz, f) != (size_t)sz) {
			perror(path);
			exit(1);
		}
		fclose(f);
		c->len[i] = (size_t)sz;
		c->total += (size_t)sz;
		free(names[i]);
	}
	free(names);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* report - median of the passes, as MB/s (10^6 bytes per second). */
static void
report(const char *who, const char *mode, const struct corpus *c,
    double *secs, int passes)
{
	qsort(secs, (size_t)passes, sizeof(*secs), cmp_double);
	printf("%s %s %zu %.1f\n", who, mode, c->total,
	    (double)c->total / secs[passes / 2] / 1e6);
}

#endif
