/*
 * accounts_test.c - unit tests for domains, users, passwords, SCRAM keys
 * and aliases (store/accounts.h), including two handles in two threads.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "store/accounts.h"
#include "store/store_int.h"
#include "../../tests/lib/test.h"

static char *
tmpdir(void)
{
	char tmpl[] = "/tmp/postino-accounts-XXXXXX";

	log_set_level(LOG_LEVEL_WARN);

	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	return xasprintf("%s/data", tmpl);
}

static void
cleanup(char *data_dir)
{
	char *top = xstrdup(data_dir);

	*strrchr(top, '/') = '\0';
	CHECK_INT(store_rmtree(top), 0);
	free(top);
	free(data_dir);
}

/* app - appends s to the string in dst (size bytes), truncating */
static void
app(char *dst, size_t size, const char *s)
{
	size_t n = strlen(dst);

	snprintf(dst + n, size - n, "%s", s);
}

static void
collect_name(void *ctx, const char *name)
{
	char *s = ctx;

	app(s, 512, name);
	app(s, 512, ";");
}

static void
test_domains(void)
{
	char *dir = tmpdir(), list[512] = "";
	const char *err = NULL;
	struct accounts *a = accounts_open(dir, &err);

	CHECK(a != NULL);
	if (a == NULL)
		return;
	CHECK_INT(accounts_domain_add(a, "Example.ORG", &err), 0);
	CHECK_INT(accounts_domain_add(a, "example.org", &err), 0); /* again */
	CHECK_INT(accounts_domain_add(a, "b.example", &err), 0);
	CHECK_INT(accounts_domain_add(a, "bad..example", &err), -1);
	CHECK_INT(accounts_domain_add(a, "bad domain", &err), -1);
	CHECK_INT(accounts_domain_add(a, "", &err), -1);
	CHECK_INT(accounts_domain_list(a, collect_name, list, &err), 0);
	CHECK_STR(list, "b.example;example.org;");
	CHECK_INT(accounts_domain_is_local(a, "EXAMPLE.org", &err), 1);
	CHECK_INT(accounts_domain_is_local(a, "other.example", &err), 0);
	CHECK_INT(accounts_domain_is_local(a, "[127.0.0.1]", &err), 0);
	/* a domain with a user cannot go */
	CHECK_INT(accounts_user_add(a, "u@b.example", NULL, NULL, &err), 0);
	CHECK_INT(accounts_domain_del(a, "b.example", &err), -1);
	CHECK(strstr(err, "users") != NULL);
	CHECK_INT(accounts_user_del(a, "u@b.example", &err), 0);
	CHECK_INT(accounts_domain_del(a, "B.example", &err), 0);
	CHECK_INT(accounts_domain_del(a, "b.example", &err), -1);
	CHECK_INT(accounts_domain_is_local(a, "b.example", &err), 0);
	accounts_close(&a);
	CHECK(a == NULL);
	accounts_close(&a);	/* NULL: no-op */
	cleanup(dir);
}

struct ulist {
	int	n;
	char	names[1024];
};

static void
collect_user(void *ctx, const struct accounts_user *u)
{
	struct ulist *l = ctx;

	l->n++;
	app(l->names, sizeof(l->names), u->address);
	app(l->names, sizeof(l->names), ";");
}

static void
test_users(void)
{
	char *dir = tmpdir(), *path;
	const char *err = NULL;
	struct accounts *a = accounts_open(dir, &err);
	struct accounts_user u;
	struct ulist l = { 0, "" };
	int64_t id1 = 0, id2 = 0, id3 = 0;
	struct stat st;
	char longlocal[80];

	if (a == NULL) {
		CHECK(a != NULL);
		return;
	}
	/* the domain is made local by the first user */
	CHECK_INT(accounts_user_add(a, "Alice@Example.ORG", NULL, &id1, &err),
	    0);
	CHECK_INT(accounts_domain_is_local(a, "example.org", &err), 1);
	CHECK_INT(accounts_user_add(a, "bob@example.org", NULL, &id2, &err),
	    0);
	CHECK(id1 > 0 && id2 > id1);
	/* the same address in another case is the same user */
	CHECK_INT(accounts_user_add(a, "ALICE@example.org", NULL, NULL, &err),
	    -1);
	CHECK(strstr(err, "exists") != NULL);
	/* local part kept as given, domain lowercased, matched ci */
	CHECK_INT(accounts_user_lookup(a, "alice@EXAMPLE.org", &u, &err), 1);
	CHECK_INT(u.id, id1);
	CHECK_STR(u.address, "Alice@example.org");
	CHECK(u.created > 0 && u.created <= time(NULL));
	CHECK_INT(accounts_user_lookup(a, "carol@example.org", &u, &err), 0);
	CHECK_INT(accounts_user_lookup(a, "alice+x@example.org", &u, &err), 0);
	/* bad syntax: refused when adding, nobody when looking up */
	CHECK_INT(accounts_user_add(a, "a%b@example.org", NULL, NULL, &err),
	    -1);
	CHECK_INT(accounts_user_add(a, "a!b@example.org", NULL, NULL, &err),
	    -1);
	CHECK_INT(accounts_user_add(a, "\"a b\"@example.org", NULL, NULL,
	    &err), -1);
	CHECK_INT(accounts_user_add(a, "nodomain", NULL, NULL, &err), -1);
	CHECK_INT(accounts_user_add(a, "@example.org", NULL, NULL, &err), -1);
	CHECK_INT(accounts_user_add(a, "a@b@example.org", NULL, NULL, &err),
	    -1);
	CHECK_INT(accounts_user_lookup(a, "a%b@example.org", &u, &err), 0);
	/* local part limit: 64 ok, 65 refused */
	memset(longlocal, 'x', 64);
	memcpy(longlocal + 64, "@example.org", 13);
	CHECK_INT(accounts_user_add(a, longlocal, NULL, &id3, &err), 0);
	memset(longlocal, 'y', 65);
	memcpy(longlocal + 65, "@example.org", 13);
	CHECK_INT(accounts_user_add(a, longlocal, NULL, NULL, &err), -1);
	/* whole address: ACCOUNTS_MAX_ADDRESS ok, one more refused; labels
	 * of 63 ok, 64 refused */
	{
		char addr[ACCOUNTS_MAX_ADDRESS + 2];
		size_t n;

		memset(addr, 'z', sizeof(addr));
		/* 64 local + '@' + 63 + '.' + 63 + '.' + 63 = 256 */
		addr[64] = '@';
		addr[64 + 64] = '.';
		addr[64 + 128] = '.';
		addr[ACCOUNTS_MAX_ADDRESS] = '\0';
		n = strlen(addr);
		CHECK_INT(n, ACCOUNTS_MAX_ADDRESS);
		CHECK(accounts_address_valid(addr, false));
		CHECK_INT(accounts_user_add(a, addr, NULL, NULL, &err), 0);
		CHECK_INT(accounts_user_del(a, addr, &err), 0);
		addr[ACCOUNTS_MAX_ADDRESS] = 'z';	/* 257, label of 64 */
		addr[ACCOUNTS_MAX_ADDRESS + 1] = '\0';
		CHECK(!accounts_address_valid(addr, false));
		addr[ACCOUNTS_MAX_ADDRESS - 1] = '\0';	/* 255: fine */
		CHECK(accounts_address_valid(addr, false));
		addr[64 + 64] = 'z';			/* label of 127 */
		CHECK(!accounts_address_valid(addr, false));
	}
	CHECK_INT(accounts_user_list(a, collect_user, &l, &err), 0);
	CHECK_INT(l.n, 3);
	CHECK(strncmp(l.names, "Alice@example.org;bob@example.org;", 34)
	    == 0);
	/* private files: password hashes, mail */
	path = xasprintf("%s/accounts.db", dir);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	free(path);
	/* the store exists and goes with the user */
	path = xasprintf("%s/mail/%lld/index.db", dir, (long long)id2);
	CHECK_INT(stat(path, &st), 0);
	CHECK_INT(st.st_mode & 0777, 0600);
	CHECK_INT(accounts_user_del(a, "BOB@example.org", &err), 0);
	CHECK_INT(stat(path, &st), -1);
	free(path);
	CHECK_INT(accounts_user_del(a, "bob@example.org", &err), -1);
	CHECK_INT(accounts_user_lookup(a, "bob@example.org", &u, &err), 0);
	/* ids are never reused */
	CHECK_INT(accounts_user_add(a, "bob@example.org", NULL, &id2, &err),
	    0);
	CHECK(id2 > id3);
	accounts_close(&a);
	cleanup(dir);
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_passwords(void)
{
	char *dir = tmpdir();
	const char *err = NULL;
	struct accounts *a = accounts_open(dir, &err);
	struct accounts_user u;
	double t0, t_known, t_unknown;

	if (a == NULL) {
		CHECK(a != NULL);
		return;
	}
	CHECK_INT(accounts_user_add(a, "Alice@example.org", "s3cret pass",
	    NULL, &err), 0);
	CHECK_INT(accounts_user_add(a, "nopw@example.org", NULL, NULL, &err),
	    0);
	memset(&u, 0, sizeof(u));
	CHECK_INT(accounts_user_verify(a, "alice@example.org", "s3cret pass",
	    &u, &err), 1);
	CHECK_STR(u.address, "Alice@example.org");
	t0 = now_s();
	CHECK_INT(accounts_user_verify(a, "alice@example.org", "s3cret pasS",
	    NULL, &err), 0);
	t_known = now_s() - t0;
	CHECK_INT(accounts_user_verify(a, "alice@example.org", "", NULL,
	    &err), 0);
	CHECK_INT(accounts_user_verify(a, "nopw@example.org", "", NULL, &err),
	    0);
	/* warm the dummy hash, then time an unknown user */
	CHECK_INT(accounts_user_verify(a, "ghost@example.org", "x", NULL,
	    &err), 0);
	t0 = now_s();
	CHECK_INT(accounts_user_verify(a, "ghost@example.org", "s3cret pass",
	    NULL, &err), 0);
	t_unknown = now_s() - t0;
	/* the dummy verification costs about as much as a real one */
	CHECK(t_unknown > t_known * 0.3);
	CHECK_INT(accounts_user_verify(a, "bad%addr@example.org", "x", NULL,
	    &err), 0);
	/* a new password replaces the old one */
	CHECK_INT(accounts_user_passwd(a, "ALICE@example.org", "n3w", &err),
	    0);
	CHECK_INT(accounts_user_verify(a, "alice@example.org", "s3cret pass",
	    NULL, &err), 0);
	CHECK_INT(accounts_user_verify(a, "alice@example.org", "n3w", NULL,
	    &err), 1);
	CHECK_INT(accounts_user_passwd(a, "ghost@example.org", "n3w", &err),
	    -1);
	/* empty and NULL passwords are refused, and never match */
	CHECK_INT(accounts_user_add(a, "empty@example.org", "", NULL, &err),
	    -1);
	CHECK_INT(accounts_user_passwd(a, "nopw@example.org", "", &err), -1);
	CHECK_INT(accounts_user_passwd(a, "nopw@example.org", NULL, &err), -1);
	CHECK_INT(accounts_user_verify(a, "nopw@example.org", NULL, NULL,
	    &err), 0);
	CHECK_INT(accounts_user_verify(a, "alice@example.org", NULL, NULL,
	    &err), 0);
	/* a password-less account gets one */
	CHECK_INT(accounts_user_passwd(a, "nopw@example.org", "pw", &err), 0);
	CHECK_INT(accounts_user_verify(a, "nopw@example.org", "pw", NULL,
	    &err), 1);
	accounts_close(&a);
	cleanup(dir);
}

static void
b64(const char *s, uint8_t *out, size_t outsize, size_t *len_r)
{
	CHECK_INT(sodium_base642bin(out, outsize, s, strlen(s), NULL, len_r,
	    NULL, sodium_base64_VARIANT_ORIGINAL), 0);
}

static void
hex(const uint8_t *p, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* RFC 7677 section 3: the SCRAM-SHA-256 exchange for user/pencil. */
static void
test_scram_vector(void)
{
	static const char auth_message[] =
	    "n=user,r=rOprNGfwEbeRWgbNEkqO,"
	    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
	    "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
	    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	uint8_t salt[32], proof[64], sig[64], stored[32], server[32];
	uint8_t mac[EVP_MAX_MD_SIZE], client_key[32], h[32];
	size_t salt_len = 0, proof_len = 0, sig_len = 0, i;
	unsigned mac_len = 0, h_len = 0;
	char hx[65];

	b64("W22ZaJ0SNY7soEsUEjb6gQ==", salt, sizeof(salt), &salt_len);
	b64("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", proof,
	    sizeof(proof), &proof_len);
	b64("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", sig, sizeof(sig),
	    &sig_len);
	CHECK_INT(salt_len, 16);
	CHECK_INT(proof_len, 32);
	CHECK_INT(sig_len, 32);
	CHECK_INT(accounts_scram_derive("pencil", salt, salt_len, 4096,
	    stored, server), 0);
	/* ServerSignature = HMAC(ServerKey, AuthMessage) is the RFC's v= */
	HMAC(EVP_sha256(), server, 32, (const uint8_t *)auth_message,
	    strlen(auth_message), mac, &mac_len);
	CHECK_MEM(mac, mac_len, sig, sig_len);
	/* ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and
	 * H(ClientKey) must be StoredKey */
	HMAC(EVP_sha256(), stored, 32, (const uint8_t *)auth_message,
	    strlen(auth_message), mac, &mac_len);
	for (i = 0; i < 32; i++)
		client_key[i] = proof[i] ^ mac[i];
	EVP_Digest(client_key, 32, h, &h_len, EVP_sha256(), NULL);
	CHECK_MEM(h, h_len, stored, 32);
	/* and the keys themselves (computed independently) */
	hex(stored, 32, hx);
	CHECK_STR(hx,
	    "586e5df283e6dceb5c3e791d8b8528ec191e664045ce971792e2e6b5bb13e2a6");
	hex(server, 32, hx);
	CHECK_STR(hx,
	    "c1f3cbc1c13a9d35a14c0990eed97629ea225863e566a4314ab99f3f00e5d9d5");
}

static void
test_scram_stored(void)
{
	char *dir = tmpdir();
	const char *err = NULL;
	struct accounts *a = accounts_open(dir, &err);
	struct accounts_scram s, s2;
	uint8_t stored[32], server[32];

	if (a == NULL) {
		CHECK(a != NULL);
		return;
	}
	CHECK_INT(accounts_user_add(a, "u@example.org", "pencil", NULL, &err),
	    0);
	CHECK_INT(accounts_user_add(a, "v@example.org", NULL, NULL, &err), 0);
	CHECK_INT(accounts_user_scram(a, "U@example.org", &s, &err), 1);
	CHECK_INT(s.salt_len, ACCOUNTS_SCRAM_SALT_LEN);
	CHECK_INT(s.iterations, 4096);
	CHECK_INT(accounts_scram_derive("pencil", s.salt, s.salt_len,
	    s.iterations, stored, server), 0);
	CHECK_MEM(s.stored_key, 32, stored, 32);
	CHECK_MEM(s.server_key, 32, server, 32);
	CHECK_INT(accounts_user_scram(a, "v@example.org", &s2, &err), 0);
	CHECK_INT(accounts_user_scram(a, "w@example.org", &s2, &err), 0);
	/* a new password gets a new salt */
	CHECK_INT(accounts_user_passwd(a, "u@example.org", "pencil", &err), 0);
	CHECK_INT(accounts_user_scram(a, "u@example.org", &s2, &err), 1);
	CHECK(memcmp(s.salt, s2.salt, s.salt_len) != 0);
	accounts_close(&a);
	cleanup(dir);
}

struct alist {
	int	n;
	char	text[2048];
};

static void
collect_alias(void *ctx, const char *address, const char *target)
{
	struct alist *l = ctx;

	l->n++;
	app(l->text, sizeof(l->text), address);
	app(l->text, sizeof(l->text), ">");
	app(l->text, sizeof(l->text), target);
	app(l->text, sizeof(l->text), ";");
}

static void
test_aliases(void)
{
	char *dir = tmpdir();
	const char *err = NULL;
	struct accounts *a = accounts_open(dir, &err);
	struct alist l;

	if (a == NULL) {
		CHECK(a != NULL);
		return;
	}
	/* one-to-many */
	CHECK_INT(accounts_alias_add(a, "Team@Example.org", "a@example.org",
	    &err), 0);
	CHECK_INT(accounts_alias_add(a, "team@example.org", "b@example.org",
	    &err), 0);
	CHECK_INT(accounts_alias_add(a, "team@example.org", "x@remote.test",
	    &err), 0);
	CHECK_INT(accounts_alias_add(a, "TEAM@example.org", "A@example.org",
	    &err), 0);	/* the same row again: no error, no new row */
	/* many-to-one */
	CHECK_INT(accounts_alias_add(a, "sales@example.org", "a@example.org",
	    &err), 0);
	CHECK_INT(accounts_alias_add(a, "info@example.org", "a@example.org",
	    &err), 0);
	/* catch-all */
	CHECK_INT(accounts_alias_add(a, "@example.org", "a@example.org",
	    &err), 0);
	/* refused: catch-all as a target, self, bad syntax */
	CHECK_INT(accounts_alias_add(a, "x@example.org", "@example.org",
	    &err), -1);
	CHECK_INT(accounts_alias_add(a, "x@example.org", "X@example.org",
	    &err), -1);
	CHECK_INT(accounts_alias_add(a, "x%y@example.org", "a@example.org",
	    &err), -1);
	CHECK_INT(accounts_alias_add(a, "x@example.org", "a!b@example.org",
	    &err), -1);
	CHECK_INT(accounts_domain_is_local(a, "example.org", &err), 1);

	memset(&l, 0, sizeof(l));
	CHECK_INT(accounts_alias_list(a, "team@EXAMPLE.ORG", collect_alias, &l,
	    &err), 3);
	/* each row keeps the address as it was given */
	CHECK_STR(l.text, "Team@example.org>a@example.org;"
	    "team@example.org>b@example.org;team@example.org>x@remote.test;");
	memset(&l, 0, sizeof(l));
	CHECK_INT(accounts_alias_list(a, NULL, collect_alias, &l, &err), 6);
	CHECK(strncmp(l.text, "@example.org>a@example.org;", 27) == 0);
	/* a domain with aliases cannot go */
	CHECK_INT(accounts_domain_del(a, "example.org", &err), -1);
	/* delete one target, then all */
	CHECK_INT(accounts_alias_del(a, "team@example.org", "B@example.org",
	    &err), 0);
	CHECK_INT(accounts_alias_del(a, "team@example.org", "b@example.org",
	    &err), -1);
	memset(&l, 0, sizeof(l));
	CHECK_INT(accounts_alias_list(a, "team@example.org", collect_alias, &l,
	    &err), 2);
	CHECK_INT(accounts_alias_del(a, "team@example.org", NULL, &err), 0);
	CHECK_INT(accounts_alias_del(a, "team@example.org", NULL, &err), -1);
	CHECK_INT(accounts_alias_list(a, "team@example.org", collect_alias, &l,
	    &err), 0);
	accounts_close(&a);
	cleanup(dir);
}

/* ---- two handles, two threads ---- */

struct writer {
	const char	*dir;
	int		 errors;
};

#define NWRITES 30

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	const char *err;
	struct accounts *a = accounts_open(w->dir, &err);
	char addr[64];
	int i;

	if (a == NULL) {
		w->errors++;
		return NULL;
	}
	for (i = 0; i < NWRITES; i++) {
		snprintf(addr, sizeof(addr), "user%d@example.org", i);
		if (accounts_user_add(a, addr, NULL, NULL, &err) < 0) {
			fprintf(stderr, "writer: %s\n", err);
			w->errors++;
		}
		snprintf(addr, sizeof(addr), "list%d@example.org", i);
		if (accounts_alias_add(a, addr, "user0@example.org", &err) <
		    0) {
			fprintf(stderr, "writer: %s\n", err);
			w->errors++;
		}
	}
	accounts_close(&a);
	return NULL;
}

static void
test_two_handles(void)
{
	char *dir = tmpdir();
	const char *err = NULL;
	struct accounts *r, *r2;
	struct writer w = { 0, 0 };
	struct accounts_user u;
	struct ulist l = { 0, "" };
	pthread_t t;
	int lookups = 0, errors = 0, seen_max = 0, rc;
	char addr[64];

	w.dir = dir;
	r = accounts_open(dir, &err);
	r2 = accounts_open(dir, &err);
	if (r == NULL || r2 == NULL) {
		CHECK(r != NULL && r2 != NULL);
		return;
	}
	/* a second handle sees a change at once, with its statements
	 * already prepared */
	CHECK_INT(accounts_user_lookup(r, "early@example.org", &u, &err), 0);
	CHECK_INT(accounts_user_add(r2, "early@example.org", NULL, NULL,
	    &err), 0);
	CHECK_INT(accounts_user_lookup(r, "early@example.org", &u, &err), 1);
	CHECK_INT(accounts_user_del(r2, "early@example.org", &err), 0);
	CHECK_INT(accounts_user_lookup(r, "early@example.org", &u, &err), 0);

	CHECK_INT(pthread_create(&t, NULL, writer_main, &w), 0);
	/* read on our own handle while the other thread writes */
	for (;;) {
		int seen = 0, i;

		for (i = 0; i < NWRITES; i++) {
			snprintf(addr, sizeof(addr), "user%d@example.org", i);
			rc = accounts_user_lookup(r, addr, &u, &err);
			if (rc < 0)
				errors++;
			seen += rc == 1;
			lookups++;
		}
		if (seen < seen_max)
			errors++;	/* a user vanished */
		seen_max = seen;
		if (seen == NWRITES)
			break;
		usleep(1000);
	}
	pthread_join(t, NULL);
	CHECK_INT(w.errors, 0);
	CHECK_INT(errors, 0);
	CHECK(lookups >= NWRITES);
	CHECK_INT(accounts_user_list(r, collect_user, &l, &err), 0);
	CHECK_INT(l.n, NWRITES);
	accounts_close(&r);
	accounts_close(&r2);
	cleanup(dir);
}

static const struct test_case cases[] = {
	TEST(test_domains),
	TEST(test_users),
	TEST(test_passwords),
	TEST(test_scram_vector),
	TEST(test_scram_stored),
	TEST(test_aliases),
	TEST(test_two_handles),
};

TEST_MAIN(cases)
