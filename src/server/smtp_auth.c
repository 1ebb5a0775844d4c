/*
 * smtp_auth.c - the server side of SMTP AUTH (RFC 4954) on the submission
 * listeners: password checks on worker threads, the login throttle, SCRAM
 * key lookups.
 *
 * accounts_user_verify runs argon2id (~0.1 s, 64 MiB): it must never run
 * on the event loop, so a small pool of threads, each with its own
 * account-database handle, takes the checks; each answer comes back to
 * the loop through one event and a locked list.  A connection that goes
 * away while its check is out stays allocated (smtp_conn.c) until the
 * answer arrives and is then freed.
 *
 * Fast path: every account also stores SCRAM-SHA-256 keys derived from
 * its password (PBKDF2, 4096 rounds: about a millisecond).  Deriving them
 * again from the offered password and comparing StoredKey in constant
 * time proves the password as surely as argon2 does, and costs 100 times
 * less, so a submission server can take hundreds of logins a second.  It
 * weakens nothing: whoever could read the database could already attack
 * those keys at PBKDF2 speed (Dovecot verifies against SCRAM hashes the
 * same way); online guessing is held back by the login throttle.  An
 * unknown user costs the same derivation (with a dummy salt), so timing
 * does not tell which accounts exist.  Accounts without SCRAM keys fall
 * back to accounts_user_verify (argon2).
 *
 * Faster still for a client that logs in again and again (a phone, a
 * script submitting mail): a small cache remembers, per account, an HMAC
 * of the last accepted password under a random key of this process, next
 * to the StoredKey it matched.  A login whose HMAC and current StoredKey
 * (read from the database every time) both match is accepted without the
 * derivation; a password change alters StoredKey, so the old password
 * stops working at once.
 *
 * Sees untrusted input (login names, passwords) only after the session
 * has decoded them; passwords are copied once, wiped after use and never
 * logged.
 */
#include "server/server_int.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"
#include "store/accounts.h"

#define AUTH_POOL_THREADS	2
#define AUTH_CACHE_SLOTS	1024	/* accounts remembered */

struct auth_req {
	struct auth_req		*next;
	char			*user;
	char			*password;	/* the worker wipes it */
	int			 result;	/* 1 ok, 0 wrong, -1 error */
	char			 account[ACCOUNTS_MAX_ADDRESS + 1];
	auth_pool_done_fn	*done;
	void			*arg;
};

struct auth_cache_slot {
	/* the login name as typed */
	char		user[ACCOUNTS_MAX_ADDRESS + 1];
	uint8_t		mac[32];	/* HMAC-SHA256(key, password) */
	uint8_t		stored[ACCOUNTS_SCRAM_KEY_LEN];
	bool		used;
};

struct auth_pool {
	pthread_mutex_t		 lock;
	pthread_cond_t		 cond;
	struct auth_req		*waiting, **waiting_tail;
	struct auth_req		*done, **done_tail;
	struct event		*ev_done;
	pthread_t		 threads[AUTH_POOL_THREADS];
	size_t			 nthreads;
	char			*data_dir;
	bool			 stop;
	pthread_mutex_t		 cache_lock;
	uint8_t			 cache_key[32];
	struct auth_cache_slot	 cache[AUTH_CACHE_SLOTS];
};

static size_t
cache_index(const char *user)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *user != '\0'; user++)
		h = (h ^ (uint8_t)*user) * 1099511628211ull;
	return (size_t)(h % AUTH_CACHE_SLOTS);
}

static void
password_mac(const struct auth_pool *p, const char *password,
    uint8_t mac[32])
{
	unsigned len = 32;

	if (HMAC(EVP_sha256(), p->cache_key, sizeof(p->cache_key),
	    (const unsigned char *)password, strlen(password), mac,
	    &len) == NULL)
		memset(mac, 0, 32);
}

/* cache_hit - was this password accepted for this StoredKey before? */
static bool
cache_hit(struct auth_pool *p, const char *user, const uint8_t mac[32],
    const uint8_t *stored)
{
	struct auth_cache_slot *c = &p->cache[cache_index(user)];
	bool hit;

	pthread_mutex_lock(&p->cache_lock);
	hit = c->used && strcmp(c->user, user) == 0 &&
	    CRYPTO_memcmp(c->mac, mac, 32) == 0 &&
	    CRYPTO_memcmp(c->stored, stored, sizeof(c->stored)) == 0;
	pthread_mutex_unlock(&p->cache_lock);
	return hit;
}

static void
cache_put(struct auth_pool *p, const char *user, const uint8_t mac[32],
    const uint8_t *stored)
{
	struct auth_cache_slot *c = &p->cache[cache_index(user)];

	if (strlen(user) >= sizeof(c->user))
		return;
	pthread_mutex_lock(&p->cache_lock);
	snprintf(c->user, sizeof(c->user), "%s", user);
	memcpy(c->mac, mac, 32);
	memcpy(c->stored, stored, sizeof(c->stored));
	c->used = true;
	pthread_mutex_unlock(&p->cache_lock);
}

static void
req_free(struct auth_req *r)
{
	if (r->password != NULL) {
		explicit_wipe(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->user);
	free(r);
}

/*
 * verify_fast - the SCRAM-key check (see above).  Returns 1/0/-1 like
 * accounts_user_verify, or 2 if the account has no SCRAM keys (then the
 * caller runs argon2).
 */
static int
verify_fast(struct auth_pool *p, struct accounts *a, const char *user,
    const char *password, struct accounts_user *u, const char **err)
{
	uint8_t mac[32];
	static const uint8_t dummy_salt[ACCOUNTS_SCRAM_SALT_LEN];
	uint8_t stored[ACCOUNTS_SCRAM_KEY_LEN], server[ACCOUNTS_SCRAM_KEY_LEN];
	struct accounts_scram r;
	int rc, ok;

	rc = accounts_user_scram(a, user, &r, err);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		/* unknown user: spend the same time, then fail */
		if (accounts_scram_derive(password, dummy_salt,
		    sizeof(dummy_salt), ACCOUNTS_SCRAM_ITERATIONS, stored,
		    server) < 0)
			return -1;
		explicit_wipe(stored, sizeof(stored));
		explicit_wipe(server, sizeof(server));
		return 0;	/* no such user, or no password */
	}
	if (r.iterations == 0 || r.salt_len == 0)
		return 2;
	password_mac(p, password, mac);
	if (cache_hit(p, user, mac, r.stored_key)) {
		explicit_wipe(mac, sizeof(mac));
		explicit_wipe(&r, sizeof(r));
		rc = accounts_user_lookup(a, user, u, err);
		return rc < 0 ? -1 : rc;
	}
	if (accounts_scram_derive(password, r.salt, r.salt_len, r.iterations,
	    stored, server) < 0)
		return -1;
	ok = CRYPTO_memcmp(stored, r.stored_key, sizeof(stored)) == 0;
	if (ok)
		cache_put(p, user, mac, r.stored_key);
	explicit_wipe(mac, sizeof(mac));
	explicit_wipe(stored, sizeof(stored));
	explicit_wipe(server, sizeof(server));
	explicit_wipe(&r, sizeof(r));
	if (!ok)
		return 0;
	rc = accounts_user_lookup(a, user, u, err);
	return rc < 0 ? -1 : rc;
}

static void *
auth_worker(void *arg)
{
	struct auth_pool *p = arg;
	struct accounts *a;
	const char *err = NULL;

	a = accounts_open(p->data_dir, &err);
	if (a == NULL)
		log_error("auth worker: cannot open the account database: %s",
		    err ? err : "?");
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct accounts_user u;
		struct auth_req *r;

		while (p->waiting == NULL && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop)
			break;
		r = p->waiting;
		p->waiting = r->next;
		if (p->waiting == NULL)
			p->waiting_tail = &p->waiting;
		pthread_mutex_unlock(&p->lock);

		memset(&u, 0, sizeof(u));
		r->result = a == NULL ? -1 :
		    verify_fast(p, a, r->user, r->password, &u, &err);
		if (r->result == 2)
			r->result = accounts_user_verify(a, r->user,
			    r->password, &u, &err);
		if (r->result < 0)
			log_error("auth verify failed error=\"%s\"",
			    err ? err : "?");
		if (r->result == 1)
			memcpy(r->account, u.address, sizeof(r->account));
		explicit_wipe(r->password, strlen(r->password));
		free(r->password);
		r->password = NULL;

		pthread_mutex_lock(&p->lock);
		r->next = NULL;
		*p->done_tail = r;
		p->done_tail = &r->next;
		event_active(p->ev_done, EV_READ, 0);
	}
	pthread_mutex_unlock(&p->lock);
	accounts_close(&a);
	return NULL;
}

/* on_done - the loop side: hand every finished check to its owner */
static void
on_done(evutil_socket_t fd, short what, void *arg)
{
	struct auth_pool *p = arg;
	struct auth_req *list, *r;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&p->lock);
	list = p->done;
	p->done = NULL;
	p->done_tail = &p->done;
	pthread_mutex_unlock(&p->lock);
	while ((r = list) != NULL) {
		list = r->next;
		r->done(r->arg, r->result, r->result == 1 ? r->account : NULL);
		req_free(r);
	}
}

struct auth_pool *
auth_pool_new(struct event_base *base, const char *data_dir)
{
	struct auth_pool *p = xcalloc(1, sizeof(*p));
	size_t i;

	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	pthread_mutex_init(&p->cache_lock, NULL);
	random_bytes(p->cache_key, sizeof(p->cache_key));
	p->waiting_tail = &p->waiting;
	p->done_tail = &p->done;
	p->data_dir = xstrdup(data_dir);
	p->ev_done = event_new(base, -1, 0, on_done, p);
	for (i = 0; i < AUTH_POOL_THREADS; i++) {
		if (pthread_create(&p->threads[i], NULL, auth_worker, p) != 0)
			fatal("auth: cannot start a worker thread");
		p->nthreads++;
	}
	return p;
}

void
auth_pool_free(struct auth_pool **pp)
{
	struct auth_pool *p = *pp;
	struct auth_req *r;
	size_t i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	/* unanswered checks: their connections are being freed too */
	while ((r = p->waiting) != NULL) {
		p->waiting = r->next;
		req_free(r);
	}
	while ((r = p->done) != NULL) {
		p->done = r->next;
		req_free(r);
	}
	event_free(p->ev_done);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	pthread_mutex_destroy(&p->cache_lock);
	explicit_wipe(p->cache, sizeof(p->cache));
	explicit_wipe(p->cache_key, sizeof(p->cache_key));
	free(p->data_dir);
	free(p);
	*pp = NULL;
}

void
auth_pool_verify(struct auth_pool *p, const char *user, const char *password,
    auth_pool_done_fn *done, void *arg)
{
	struct auth_req *r = xcalloc(1, sizeof(*r));

	r->user = xstrdup(user);
	r->password = xstrdup(password);
	r->done = done;
	r->arg = arg;
	pthread_mutex_lock(&p->lock);
	*p->waiting_tail = r;
	p->waiting_tail = &r->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}
