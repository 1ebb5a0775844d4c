/*
 * mime_dump_test.c - the corpus tool of the MIME tests, and its self-test.
 *
 * With no arguments (as scripts/run-tests.sh runs it) it checks that every
 * message of the shared and local corpora parses, dumps and renders.
 * With arguments it serves the Python differential test:
 *   mime_dump_test dump FILE   the tree (mime_dump with decoded bodies)
 *   mime_dump_test imap FILE   ENVELOPE, BODYSTRUCTURE, BODY, RFC822.SIZE,
 *                              each as "<NAME> <len>\n<bytes>\n"
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/xmalloc.h"
#include "mime/mime_imap.h"
#include "mime/mime_parse.h"
#include "../../tests/lib/test.h"

static int
load(const char *path, struct buf *b)
{
	FILE *f = fopen(path, "rb");
	uint8_t tmp[65536];
	size_t n;

	if (f == NULL)
		return -1;
	buf_init(b, (size_t)1 << 30);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
		if (buf_append(b, tmp, n) < 0) {
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	return 0;
}

static void
put_item(const char *name, struct buf *v)
{
	printf("%s %zu\n", name, v->len);
	fwrite(v->data != NULL ? v->data : (uint8_t *)"", 1, v->len, stdout);
	printf("\n");
}

static int
tool(const char *mode, const char *path)
{
	struct buf msg, out;
	struct mime_message *m;

	if (load(path, &msg) < 0) {
		fprintf(stderr, "cannot read %s\n", path);
		return 2;
	}
	m = mime_parse(msg.data != NULL ? msg.data : (uint8_t *)"", msg.len,
	    NULL);
	buf_init(&out, (size_t)1 << 30);
	if (strcmp(mode, "dump") == 0) {
		if (mime_dump(m, true, &out) < 0)
			return 3;
		fwrite(out.data, 1, out.len, stdout);
	} else if (strcmp(mode, "imap") == 0) {
		if (mime_imap_envelope(m, m->root, &out) < 0)
			return 3;
		put_item("ENVELOPE", &out);
		buf_reset(&out);
		if (mime_imap_bodystructure(m, m->root, true, &out) < 0)
			return 3;
		put_item("BODYSTRUCTURE", &out);
		buf_reset(&out);
		if (mime_imap_bodystructure(m, m->root, false, &out) < 0)
			return 3;
		put_item("BODY", &out);
		buf_reset(&out);
		if (buf_printf(&out, "%zu", mime_imap_size(m)) < 0)
			return 3;
		put_item("RFC822.SIZE", &out);
	} else {
		fprintf(stderr, "usage: mime_dump_test dump|imap FILE\n");
		return 2;
	}
	mime_message_free(&m);
	buf_fini(&out);
	buf_fini(&msg);
	return 0;
}

/* every corpus message parses, and its parts tile the message */
static void
check_file(const char *path)
{
	struct buf msg, out;
	struct mime_message *m;
	const struct mime_part *p;

	if (load(path, &msg) < 0) {
		CHECK(!"cannot read a corpus file");
		return;
	}
	m = mime_parse(msg.data != NULL ? msg.data : (uint8_t *)"", msg.len,
	    NULL);
	CHECK(m->root->hdr_off == 0);
	CHECK(m->root->end_off == msg.len);
	for (p = m->root; p != NULL; p = p->children) {
		CHECK(p->hdr_off <= p->body_off);
		CHECK(p->body_off <= p->end_off);
		CHECK(p->end_off <= msg.len);
	}
	buf_init(&out, (size_t)1 << 28);
	CHECK(mime_dump(m, true, &out) == 0);
	buf_reset(&out);
	CHECK(mime_imap_bodystructure(m, m->root, true, &out) == 0);
	CHECK(out.len > 0 && out.data[0] == '(');
	buf_fini(&out);
	mime_message_free(&m);
	buf_fini(&msg);
}

static void
walk(const char *dir, unsigned *n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		char *p;
		size_t l = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (e->d_type == DT_DIR)
			walk(p, n);
		else if ((l > 4 && (strcmp(e->d_name + l - 4, ".eml") == 0 ||
		    strcmp(e->d_name + l - 4, ".msg") == 0)) ||
		    (l > 4 && strcmp(e->d_name + l - 4, ".txt") == 0 &&
		    strstr(e->d_name, "LICENSE") == NULL &&
		    strstr(e->d_name, "decoded") == NULL)) {
			check_file(p);
			(*n)++;
		}
		free(p);
	}
	closedir(d);
}

static void
test_corpus(void)
{
	unsigned n = 0;
	char *shared = xasprintf("%s/mime", test_shared_data());

	walk(shared, &n);
	walk("tests/data/mime/local", &n);
	CHECK(n >= 20);
	free(shared);
}

static const struct test_case cases[] = {
	TEST(test_corpus),
};

int
main(int argc, char **argv)
{
	if (argc == 3)
		return tool(argv[1], argv[2]);
	return test_run(__FILE__, cases, sizeof(cases) / sizeof(cases[0]));
}
