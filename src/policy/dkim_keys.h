/*
 * dkim_keys.h - DKIM signing keys on disk: DATA_DIR/dkim/<domain>/
 * <selector>.pem (PKCS#8 PEM, mode 0600, directories 0700).
 *
 * RFC 6376 section 3.6 (selectors), RFC 8301 (RSA 1024..4096 bits, we
 * make 2048 by default), RFC 8463 (Ed25519).  Reads only our own files;
 * no untrusted input.
 */
#ifndef POSTINO_POLICY_DKIM_KEYS_H
#define POSTINO_POLICY_DKIM_KEYS_H

#include <stdbool.h>
#include <time.h>

#include <openssl/evp.h>

enum dkim_key_type {
	DKIM_KEY_RSA,
	DKIM_KEY_ED25519,
};

/* True if s is usable as a domain or selector in a file name and in DNS:
 * letters, digits, '-', '_' and non-empty labels joined by '.'. */
bool dkim_keys_valid_name(const char *s);
/* The default selector for a key made at t: "pYYYYMM" (UTC), into
 * out[8]. */
void dkim_keys_default_selector(time_t t, char out[8]);
/* Path of a key file (heap; caller frees).  domain is lowercased. */
char *dkim_keys_path(const char *data_dir, const char *domain,
    const char *selector);
/*
 * Generates a key: RSA of bits (0: 2048; 1024..8192 accepted) or Ed25519
 * (bits ignored).  NULL with error_r on failure.
 */
EVP_PKEY *dkim_keys_generate(enum dkim_key_type type, unsigned bits,
    const char **error_r);
/*
 * Saves key as DATA_DIR/dkim/<domain>/<selector>.pem, mode 0600,
 * creating the directories (0700).  Refuses to replace an existing key.
 * 0, or -1 with error_r (static).
 */
int dkim_keys_save(const char *data_dir, const char *domain,
    const char *selector, EVP_PKEY *key, const char **error_r)
	__attribute__((warn_unused_result));
/*
 * Loads the key of domain: the given selector, or (selector NULL) the
 * most recently written key file of the domain.  The selector used is
 * returned in *selector_r (heap) if selector_r is not NULL.  NULL with
 * error_r (static) if there is none or it cannot be read.
 */
EVP_PKEY *dkim_keys_load(const char *data_dir, const char *domain,
    const char *selector, char **selector_r, const char **error_r);

#endif
