/*
 * sasl.c - server side of PLAIN, LOGIN and SCRAM-SHA-256(-PLUS).
 *
 * RFC 4616 (PLAIN: authzid NUL authcid NUL passwd), the LOGIN mechanism
 * of draft-murchison-sasl-login (user name, then password, each its own
 * response), RFC 5802 section 5 and 7 (SCRAM messages and their grammar),
 * RFC 7677 (SHA-256), RFC 5929 section 4 / RFC 9266 (channel bindings).
 *
 * Untrusted input before authentication.  Every client message is
 * parsed from a span with explicit lengths; names and passwords are
 * bounded (SASL_MAX_USER, SASL_MAX_PASSWORD) and may not hold NUL bytes.
 * Only the proof check and the server signature use keys; they take
 * microseconds (HMAC and SHA-256), so SCRAM needs no worker thread, only
 * the key lookup does.
 *
 * XXX: no SASLprep (RFC 4013): names and passwords are compared as the
 * bytes the client sent, as accounts_scram_derive() derives the keys;
 * ASCII passwords, by far the common case, are unaffected.
 */
#include "auth/sasl.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/xmalloc.h"

#define SCRAM_NONCE_BYTES	18	/* 24 base64 characters */
#define SCRAM_MAX_MSG		2048	/* one stored SCRAM message */
#define SCRAM_FAKE_SALT_LEN	16

enum sasl_state {
	SASL_ST_START,		/* nothing received yet */
	SASL_ST_FIRST,		/* empty challenge sent, want the first */
	SASL_ST_LOGIN_USER,	/* LOGIN: "Username:" sent */
	SASL_ST_LOGIN_PASS,	/* LOGIN: "Password:" sent */
	SASL_ST_VERIFY,		/* waiting for sasl_verify_done() */
	SASL_ST_LOOKUP,		/* waiting for sasl_scram_done() */
	SASL_ST_SCRAM_FINAL,	/* server-first sent, want client-final */
	SASL_ST_SCRAM_ACK,	/* server-final sent, want an empty reply */
	SASL_ST_END,
};

struct sasl {
	enum sasl_mech		 mech;
	enum sasl_state		 state;
	const struct sasl_config *cfg;
	char			*user;
	char			*password;

	/* SCRAM */
	char			*gs2_header;	/* "n,,", "p=tls-exporter,," */
	bool			 cb_used;	/* "p=" flag */
	char			*client_first_bare;
	char			*server_first;
	char			*nonce;		/* client + server parts */
	struct sasl_scram_keys	 keys;
	bool			 unknown_user;
};

static void
free_secret(char **p)
{
	if (*p == NULL)
		return;
	explicit_wipe(*p, strlen(*p));
	free(*p);
	*p = NULL;
}

/*
 * Without a configured secret, the fake salts use one drawn at random
 * once per process: an empty or known key would let anyone compute the
 * fake salt of a name and so tell unknown users from real ones.
 */
static uint8_t fallback_secret[32];
static pthread_once_t fallback_once = PTHREAD_ONCE_INIT;

static void
fallback_init(void)
{
	random_bytes(fallback_secret, sizeof(fallback_secret));
}

/* --- base64 ---------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
b64_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
sasl_base64_decode(struct span in, struct buf *out)
{
	size_t i, j;

	if (in.len % 4 != 0)
		return -1;
	for (i = 0; i < in.len; i += 4) {
		int v[4];
		uint8_t b[3];
		size_t nb = 3;
		bool last = i + 4 == in.len;

		for (j = 0; j < 4; j++)
			v[j] = b64_value(in.p[i + j]);
		if (v[0] < 0 || v[1] < 0)
			return -1;
		if (v[2] < 0 || v[3] < 0) {
			/* padding: only in the last group, "xx==" or "xxx=" */
			if (!last || in.p[i + 3] != '=')
				return -1;
			if (v[2] < 0) {
				if (in.p[i + 2] != '=' || (v[1] & 0x0f) != 0)
					return -1;
				nb = 1;
				v[2] = v[3] = 0;
			} else {
				if ((v[2] & 0x03) != 0)
					return -1;
				nb = 2;
				v[3] = 0;
			}
		}
		b[0] = (uint8_t)(v[0] << 2 | v[1] >> 4);
		b[1] = (uint8_t)((v[1] & 0x0f) << 4 | v[2] >> 2);
		b[2] = (uint8_t)((v[2] & 0x03) << 6 | v[3]);
		if (buf_append(out, b, nb) < 0)
			return -2;
	}
	return 0;
}

int
sasl_base64_encode(struct span in, struct buf *out)
{
	size_t i;

	for (i = 0; i < in.len; i += 3) {
		uint32_t v = (uint32_t)in.p[i] << 16;
		size_t rest = in.len - i;
		char q[4];

		if (rest > 1)
			v |= (uint32_t)in.p[i + 1] << 8;
		if (rest > 2)
			v |= in.p[i + 2];
		q[0] = b64_alphabet[v >> 18 & 0x3f];
		q[1] = b64_alphabet[v >> 12 & 0x3f];
		q[2] = rest > 1 ? b64_alphabet[v >> 6 & 0x3f] : '=';
		q[3] = rest > 2 ? b64_alphabet[v & 0x3f] : '=';
		if (buf_append(out, q, 4) < 0)
			return -1;
	}
	return 0;
}

/* --- mechanisms ------------------------------------------------------ */

static const char *const mech_names[] = {
	"PLAIN", "LOGIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS",
};

bool
sasl_mech_lookup(struct span name, bool cb_available, enum sasl_mech *mech_r)
{
	size_t i;

	for (i = 0; i < sizeof(mech_names) / sizeof(mech_names[0]); i++) {
		if (!span_eq_str_ci(name, mech_names[i]))
			continue;
		if (i == SASL_MECH_SCRAM_SHA_256_PLUS && !cb_available)
			return false;
		*mech_r = (enum sasl_mech)i;
		return true;
	}
	return false;
}

const char *
sasl_mech_name(enum sasl_mech mech)
{
	return mech_names[mech];
}

const char *
sasl_mechanisms(bool cb_available)
{
	/* strongest first: clients that pick the first one they know win */
	return cb_available ?
	    "SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN" :
	    "SCRAM-SHA-256 PLAIN LOGIN";
}

struct sasl *
sasl_new(enum sasl_mech mech, const struct sasl_config *cfg)
{
	struct sasl *s = xcalloc(1, sizeof(*s));

	s->mech = mech;
	s->cfg = cfg;
	s->state = SASL_ST_START;
	return s;
}

void
sasl_free(struct sasl **sp)
{
	struct sasl *s = *sp;

	if (s == NULL)
		return;
	free_secret(&s->user);
	free_secret(&s->password);
	free(s->gs2_header);
	free(s->client_first_bare);
	free(s->server_first);
	free(s->nonce);
	explicit_wipe(s, sizeof(*s));
	free(s);
	*sp = NULL;
}

enum sasl_mech
sasl_mech(const struct sasl *s)
{
	return s->mech;
}

const char *
sasl_user(const struct sasl *s)
{
	return s->user;
}

const char *
sasl_password(const struct sasl *s)
{
	return s->password;
}

/* field_ok - a user name or password: non-empty, bounded, no NUL */
static bool
field_ok(struct span f, size_t max)
{
	return f.len > 0 && f.len <= max && !span_has_nul(f);
}

static char *
span_dup(struct span f)
{
	return xstrndup((const char *)f.p, f.len);
}

/* step_plain - RFC 4616 section 2: [authzid] NUL authcid NUL passwd */
static enum sasl_status
step_plain(struct sasl *s, struct span r)
{
	struct span authzid, authcid, passwd, rest;

	if (!span_split(r, '\0', &authzid, &rest) ||
	    !span_split(rest, '\0', &authcid, &passwd))
		return SASL_BAD;
	if (authzid.len > SASL_MAX_USER || span_has_nul(passwd) ||
	    !field_ok(authcid, SASL_MAX_USER) ||
	    !field_ok(passwd, SASL_MAX_PASSWORD))
		return SASL_BAD;
	s->user = span_dup(authcid);
	/* acting for someone else (proxy authorization) is not offered */
	if (authzid.len > 0 && !span_eq_ci(authzid, authcid))
		return SASL_FAIL;
	s->password = span_dup(passwd);
	s->state = SASL_ST_VERIFY;
	return SASL_VERIFY;
}

/* --- SCRAM ----------------------------------------------------------- */

/*
 * scram_name - decodes a saslname (RFC 5802 section 5.1: "=2C" is ',',
 * "=3D" is '='; any other '=' is an error).  Returns a heap string or NULL.
 */
static char *
scram_name(struct span v)
{
	struct buf b;
	size_t i;
	char *r;

	if (v.len == 0 || v.len > 3 * SASL_MAX_USER || span_has_nul(v))
		return NULL;
	buf_init(&b, SASL_MAX_USER + 1);
	for (i = 0; i < v.len; i++) {
		uint8_t c = v.p[i];

		if (c == '=') {
			if (i + 2 >= v.len)
				goto bad;
			if (v.p[i + 1] == '2' && v.p[i + 2] == 'C')
				c = ',';
			else if (v.p[i + 1] == '3' && v.p[i + 2] == 'D')
				c = '=';
			else
				goto bad;
			i += 2;
		}
		if (buf_append_byte(&b, c) < 0 || b.len > SASL_MAX_USER)
			goto bad;
	}
	r = xstrdup(buf_cstr(&b));
	buf_fini(&b);
	return r;
bad:
	buf_fini(&b);
	return NULL;
}

/* nonce_ok - printable ASCII except ',' (RFC 5802 section 7) */
static bool
nonce_ok(struct span n)
{
	size_t i;

	if (n.len == 0 || n.len > 256)
		return false;
	for (i = 0; i < n.len; i++)
		if (n.p[i] < 0x21 || n.p[i] > 0x7e || n.p[i] == ',')
			return false;
	return true;
}

/* extensions_ok - what follows the known attributes: ",x=value" each */
static bool
extensions_ok(struct span rest)
{
	struct span head;

	while (rest.len > 0) {
		if (!span_split(rest, ',', &head, &rest)) {
			head = rest;
			rest.len = 0;
		}
		if (head.len < 2 || !ascii_isalpha(head.p[0]) ||
		    head.p[1] != '=')
			return false;
	}
	return true;
}

/* next_attr - splits "x=value" off the front of *rest at the next ',' */
static bool
next_attr(struct span *rest, char name, struct span *value_r)
{
	struct span head, tail;

	if (!span_split(*rest, ',', &head, &tail)) {
		head = *rest;
		tail = span_make(rest->p + rest->len, 0);
	}
	if (head.len < 2 || head.p[0] != name || head.p[1] != '=')
		return false;
	*value_r = span_make(head.p + 2, head.len - 2);
	*rest = tail;
	return true;
}

/*
 * step_scram_first - the client-first-message (RFC 5802 section 7):
 * gs2-header (cbind flag, optional authzid) then "n=user,r=nonce[,ext]".
 */
static enum sasl_status
step_scram_first(struct sasl *s, struct span r)
{
	struct span flag, rest, authz, bare, v, cbname;
	bool plus = s->mech == SASL_MECH_SCRAM_SHA_256_PLUS;
	char *authzid = NULL;
	size_t hdr_len;

	if (r.len > SCRAM_MAX_MSG || span_has_nul(r) ||
	    !span_split(r, ',', &flag, &rest) ||
	    !span_split(rest, ',', &authz, &bare))
		return SASL_BAD;
	hdr_len = (size_t)(bare.p - r.p);
	if (flag.len == 1 && flag.p[0] == 'n') {
		if (plus)
			return SASL_BAD;
	} else if (flag.len == 1 && flag.p[0] == 'y') {
		/*
		 * The client could bind but thinks we cannot: if we offer
		 * binding here, someone stripped -PLUS from our list
		 * (RFC 5802 section 6: a downgrade).
		 */
		if (plus)
			return SASL_BAD;
		if (s->cfg->cb != NULL)
			return SASL_FAIL;
	} else if (flag.len > 2 && flag.p[0] == 'p' && flag.p[1] == '=') {
		cbname = span_make(flag.p + 2, flag.len - 2);
		if (!plus)
			return SASL_BAD;
		if (s->cfg->cb == NULL ||
		    !span_eq(cbname, span_from_str(s->cfg->cb->type)))
			return SASL_FAIL;
		s->cb_used = true;
	} else {
		return SASL_BAD;
	}
	if (authz.len > 0) {
		if (authz.len < 3 || authz.p[0] != 'a' || authz.p[1] != '=' ||
		    (authzid = scram_name(span_make(authz.p + 2,
		    authz.len - 2))) == NULL)
			return SASL_BAD;
	}
	rest = bare;
	if (bare.len > 0 && bare.p[0] == 'm') {
		free(authzid);
		return SASL_BAD;	/* a mandatory extension we lack */
	}
	if (!next_attr(&rest, 'n', &v) || (s->user = scram_name(v)) == NULL ||
	    !next_attr(&rest, 'r', &v) || !nonce_ok(v) ||
	    !extensions_ok(rest)) {
		free(authzid);
		return SASL_BAD;
	}
	if (authzid != NULL && ascii_strcasecmp(authzid, s->user) != 0) {
		free(authzid);
		return SASL_FAIL;
	}
	free(authzid);
	s->gs2_header = xstrndup((const char *)r.p, hdr_len);
	s->client_first_bare = span_dup(bare);
	if (s->cfg->test_nonce != NULL) {
		s->nonce = xasprintf("%.*s%s", (int)v.len, (const char *)v.p,
		    s->cfg->test_nonce);
	} else {
		uint8_t raw[SCRAM_NONCE_BYTES];
		struct buf b;

		random_bytes(raw, sizeof(raw));
		buf_init(&b, 64);
		if (sasl_base64_encode(span_make(raw, sizeof(raw)), &b) < 0)
			panic("sasl: nonce buffer too small");
		s->nonce = xasprintf("%.*s%s", (int)v.len, (const char *)v.p,
		    buf_cstr(&b));
		buf_fini(&b);
	}
	s->state = SASL_ST_LOOKUP;
	return SASL_LOOKUP;
}

enum sasl_status
sasl_scram_done(struct sasl *s, const struct sasl_scram_keys *keys,
    struct buf *out)
{
	struct buf b;
	int rc;

	ASSERT(s->state == SASL_ST_LOOKUP);
	if (keys != NULL && keys->salt_len > 0 &&
	    keys->salt_len <= SASL_SCRAM_MAX_SALT && keys->iterations > 0) {
		s->keys = *keys;
	} else {
		/* a stable fake salt: HMAC(secret, name), cut to 16 bytes */
		uint8_t mac[EVP_MAX_MD_SIZE];
		unsigned maclen = 0;
		const uint8_t *key = s->cfg->secret;
		size_t keylen = s->cfg->secret_len;

		if (key == NULL || keylen == 0) {
			pthread_once(&fallback_once, fallback_init);
			key = fallback_secret;
			keylen = sizeof(fallback_secret);
		}
		memset(&s->keys, 0, sizeof(s->keys));
		HMAC(EVP_sha256(), key, (int)keylen,
		    (const uint8_t *)s->user, strlen(s->user), mac, &maclen);
		memcpy(s->keys.salt, mac, SCRAM_FAKE_SALT_LEN);
		s->keys.salt_len = SCRAM_FAKE_SALT_LEN;
		s->keys.iterations = SASL_SCRAM_ITERATIONS;
		random_bytes(s->keys.stored_key, sizeof(s->keys.stored_key));
		random_bytes(s->keys.server_key, sizeof(s->keys.server_key));
		s->unknown_user = true;
	}
	buf_init(&b, SCRAM_MAX_MSG);
	rc = buf_printf(&b, "r=%s,s=", s->nonce);
	if (rc == 0)
		rc = sasl_base64_encode(span_make(s->keys.salt,
		    s->keys.salt_len), &b);
	if (rc == 0)
		rc = buf_printf(&b, ",i=%u", s->keys.iterations);
	if (rc < 0 || buf_append(out, b.data, b.len) < 0) {
		buf_fini(&b);
		s->state = SASL_ST_END;
		return SASL_BAD;
	}
	s->server_first = xstrdup(buf_cstr(&b));
	buf_fini(&b);
	s->state = SASL_ST_SCRAM_FINAL;
	return SASL_CONTINUE;
}

/* cbind_ok - the c= attribute: base64(gs2-header [+ binding data]) */
static bool
cbind_ok(struct sasl *s, struct span c)
{
	struct buf want, got;
	bool ok;

	buf_init(&want, SCRAM_MAX_MSG);
	buf_init(&got, SCRAM_MAX_MSG);
	ok = buf_append_str(&want, s->gs2_header) == 0 &&
	    (!s->cb_used || buf_append(&want, s->cfg->cb->data,
	    s->cfg->cb->len) == 0) &&
	    sasl_base64_decode(c, &got) == 0 && got.len == want.len &&
	    CRYPTO_memcmp(got.data, want.data, got.len) == 0;
	buf_fini(&want);
	buf_fini(&got);
	return ok;
}

/*
 * step_scram_final - client-final-message "c=..,r=..[,ext],p=proof":
 * checks the binding and nonce, then the proof (RFC 5802 section 3):
 * ClientKey = proof XOR HMAC(StoredKey, AuthMessage), and
 * H(ClientKey) must equal StoredKey.
 */
static enum sasl_status
step_scram_final(struct sasl *s, struct span r, struct buf *out)
{
	struct span rest, c, nonce, proof, without;
	uint8_t sig[EVP_MAX_MD_SIZE], key[SHA256_DIGEST_LENGTH];
	uint8_t h[SHA256_DIGEST_LENGTH];
	unsigned siglen = 0;
	struct buf am, pbuf;
	long i;
	bool ok;

	if (r.len > SCRAM_MAX_MSG || span_has_nul(r))
		return SASL_BAD;
	/* the proof is the last attribute */
	for (i = (long)r.len - 3; i >= 0; i--)
		if (memcmp(r.p + i, ",p=", 3) == 0)
			break;
	if (i < 0)
		return SASL_BAD;
	without = span_make(r.p, (size_t)i);
	proof = span_make(r.p + i + 3, r.len - (size_t)i - 3);
	rest = without;
	if (!next_attr(&rest, 'c', &c) || !next_attr(&rest, 'r', &nonce) ||
	    !extensions_ok(rest))
		return SASL_BAD;
	if (!cbind_ok(s, c))
		return SASL_FAIL;
	if (!span_eq(nonce, span_from_str(s->nonce)))
		return SASL_BAD;
	buf_init(&pbuf, 64);
	if (sasl_base64_decode(proof, &pbuf) < 0 ||
	    pbuf.len != SASL_SCRAM_KEY_LEN) {
		buf_fini(&pbuf);
		return SASL_BAD;
	}
	buf_init(&am, 3 * SCRAM_MAX_MSG + 8);
	if (buf_printf(&am, "%s,%s,", s->client_first_bare,
	    s->server_first) < 0 || buf_append(&am, without.p,
	    without.len) < 0)
		panic("sasl: AuthMessage past its checked size");
	HMAC(EVP_sha256(), s->keys.stored_key, SASL_SCRAM_KEY_LEN, am.data,
	    am.len, sig, &siglen);
	for (i = 0; i < SASL_SCRAM_KEY_LEN; i++)
		key[i] = pbuf.data[i] ^ sig[i];
	SHA256(key, sizeof(key), h);
	ok = CRYPTO_memcmp(h, s->keys.stored_key, sizeof(h)) == 0 &&
	    !s->unknown_user;
	explicit_wipe(key, sizeof(key));
	buf_fini_wipe(&pbuf);
	if (!ok) {
		buf_fini(&am);
		return SASL_FAIL;
	}
	HMAC(EVP_sha256(), s->keys.server_key, SASL_SCRAM_KEY_LEN, am.data,
	    am.len, sig, &siglen);
	buf_fini(&am);
	if (buf_append_str(out, "v=") < 0 ||
	    sasl_base64_encode(span_make(sig, siglen), out) < 0)
		return SASL_BAD;
	/* RFC 4954 4: the server-final goes in a challenge, then 235 */
	s->state = SASL_ST_SCRAM_ACK;
	return SASL_CONTINUE;
}

/* --- the step -------------------------------------------------------- */

static enum sasl_status
step(struct sasl *s, const struct span *resp, struct buf *out)
{
	bool scram = s->mech == SASL_MECH_SCRAM_SHA_256 ||
	    s->mech == SASL_MECH_SCRAM_SHA_256_PLUS;

	switch (s->state) {
	case SASL_ST_START:
		if (s->mech == SASL_MECH_LOGIN) {
			if (resp == NULL) {
				s->state = SASL_ST_LOGIN_USER;
				return buf_append_str(out, "Username:") < 0 ?
				    SASL_BAD : SASL_CONTINUE;
			}
			s->state = SASL_ST_LOGIN_USER;
			return step(s, resp, out);
		}
		if (resp == NULL) {
			s->state = SASL_ST_FIRST;
			return SASL_CONTINUE;	/* empty challenge */
		}
		/* FALLTHROUGH */
	case SASL_ST_FIRST:
		if (resp == NULL)
			return SASL_BAD;
		return scram ? step_scram_first(s, *resp) :
		    step_plain(s, *resp);
	case SASL_ST_LOGIN_USER:
		if (resp == NULL || !field_ok(*resp, SASL_MAX_USER))
			return SASL_BAD;
		s->user = span_dup(*resp);
		s->state = SASL_ST_LOGIN_PASS;
		return buf_append_str(out, "Password:") < 0 ? SASL_BAD :
		    SASL_CONTINUE;
	case SASL_ST_LOGIN_PASS:
		if (resp == NULL || !field_ok(*resp, SASL_MAX_PASSWORD))
			return SASL_BAD;
		s->password = span_dup(*resp);
		s->state = SASL_ST_VERIFY;
		return SASL_VERIFY;
	case SASL_ST_SCRAM_FINAL:
		if (resp == NULL)
			return SASL_BAD;
		return step_scram_final(s, *resp, out);
	case SASL_ST_SCRAM_ACK:
		if (resp == NULL || resp->len != 0)
			return SASL_BAD;
		return SASL_OK;
	case SASL_ST_VERIFY:
	case SASL_ST_LOOKUP:
	case SASL_ST_END:
		break;
	}
	panic("sasl: step in state %d", (int)s->state);
}

enum sasl_status
sasl_step(struct sasl *s, const struct span *resp, struct buf *out)
{
	enum sasl_status st = step(s, resp, out);

	if (st == SASL_OK || st == SASL_FAIL || st == SASL_BAD)
		s->state = SASL_ST_END;
	return st;
}

enum sasl_status
sasl_verify_done(struct sasl *s, bool ok)
{
	ASSERT(s->state == SASL_ST_VERIFY);
	s->state = SASL_ST_END;
	free_secret(&s->password);
	return ok ? SASL_OK : SASL_FAIL;
}
