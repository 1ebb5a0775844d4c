/*
 * dkim_keys.c - DKIM signing keys on disk (see dkim_keys.h).
 *
 * RFC 6376 3.6, RFC 8301, RFC 8463.  Only our own files are read.  The
 * private key's PEM text is wiped from memory once used.
 */
#include "policy/dkim_keys.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/pem.h>

#include "lib/ascii.h"
#include "lib/buf.h"
#include "lib/fsutil.h"
#include "lib/postino_limits.h"
#include "lib/xmalloc.h"

bool
dkim_keys_valid_name(const char *s)
{
	size_t i, label = 0;

	if (s == NULL || s[0] == '\0' || strlen(s) > DNS_MAX_NAME)
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!ascii_isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

void
dkim_keys_default_selector(time_t t, char out[8])
{
	struct tm tm;

	gmtime_r(&t, &tm);
	/* the year is four digits until 9999 */
	out[0] = 'p';
	out[1] = (char)('0' + (tm.tm_year + 1900) / 1000 % 10);
	out[2] = (char)('0' + (tm.tm_year + 1900) / 100 % 10);
	out[3] = (char)('0' + (tm.tm_year + 1900) / 10 % 10);
	out[4] = (char)('0' + (tm.tm_year + 1900) % 10);
	out[5] = (char)('0' + (tm.tm_mon + 1) / 10);
	out[6] = (char)('0' + (tm.tm_mon + 1) % 10);
	out[7] = '\0';
}

char *
dkim_keys_path(const char *data_dir, const char *domain,
    const char *selector)
{
	char *d = ascii_strlower(xstrdup(domain));
	char *p = xasprintf("%s/dkim/%s/%s.pem", data_dir, d, selector);

	free(d);
	return p;
}

EVP_PKEY *
dkim_keys_generate(enum dkim_key_type type, unsigned bits,
    const char **error_r)
{
	EVP_PKEY *k;

	if (type == DKIM_KEY_ED25519) {
		k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	} else {
		if (bits == 0)
			bits = 2048;
		if (bits < DKIM_MIN_RSA_BITS || bits > DKIM_MAX_RSA_BITS) {
			*error_r = "RSA key size must be 1024 to 8192 bits";
			return NULL;
		}
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	}
	if (k == NULL)
		*error_r = "key generation failed";
	return k;
}

int
dkim_keys_save(const char *data_dir, const char *domain,
    const char *selector, EVP_PKEY *key, const char **error_r)
{
	char *path, *dir, *slash;
	BIO *bio = NULL;
	char *pem = NULL;
	long n = 0;
	struct stat st;
	int r = -1;

	if (!dkim_keys_valid_name(domain) || !dkim_keys_valid_name(selector)) {
		*error_r = "bad domain or selector";
		return -1;
	}
	path = dkim_keys_path(data_dir, domain, selector);
	dir = xstrdup(path);
	slash = strrchr(dir, '/');
	*slash = '\0';
	if (stat(path, &st) == 0) {
		*error_r = "a key with this selector exists already";
		goto out;
	}
	if (mkdir_p(dir, 0700) < 0) {
		*error_r = "cannot create the key directory";
		goto out;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL ||
	    PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL,
	    NULL) != 1 || (n = BIO_get_mem_data(bio, &pem)) <= 0) {
		*error_r = "cannot encode the key";
		goto out;
	}
	if (write_file_atomic(path, pem, (size_t)n, 0600) < 0) {
		*error_r = "cannot write the key file";
		goto out;
	}
	r = 0;
out:
	if (pem != NULL && n > 0)
		explicit_wipe(pem, (size_t)n);	/* the private key */
	BIO_free(bio);
	free(dir);
	free(path);
	return r;
}

/* newest_selector - the selector of the newest *.pem in dir (heap) */
static char *
newest_selector(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *best = NULL;
	struct timespec best_t = { 0, 0 };

	if (d == NULL)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		struct stat st;
		char *p;

		if (len <= 4 || strcmp(e->d_name + len - 4, ".pem") != 0)
			continue;
		p = xasprintf("%s/%s", dir, e->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode) &&
		    (best == NULL || st.st_mtim.tv_sec > best_t.tv_sec ||
		    (st.st_mtim.tv_sec == best_t.tv_sec &&
		    st.st_mtim.tv_nsec > best_t.tv_nsec))) {
			free(best);
			best = xstrndup(e->d_name, len - 4);
			best_t = st.st_mtim;
		}
		free(p);
	}
	closedir(d);
	return best;
}

EVP_PKEY *
dkim_keys_load(const char *data_dir, const char *domain,
    const char *selector, char **selector_r, const char **error_r)
{
	char *sel = NULL, *path, *dir, *ld;
	EVP_PKEY *k = NULL;
	struct buf b;
	BIO *bio;

	if (!dkim_keys_valid_name(domain) ||
	    (selector != NULL && !dkim_keys_valid_name(selector))) {
		*error_r = "bad domain or selector";
		return NULL;
	}
	if (selector == NULL) {
		ld = ascii_strlower(xstrdup(domain));
		dir = xasprintf("%s/dkim/%s", data_dir, ld);
		free(ld);
		sel = newest_selector(dir);
		free(dir);
		if (sel == NULL || !dkim_keys_valid_name(sel)) {
			free(sel);
			*error_r = "no DKIM key for this domain";
			return NULL;
		}
	} else {
		sel = xstrdup(selector);
	}
	path = dkim_keys_path(data_dir, domain, sel);
	buf_init(&b, 64 * 1024);
	if (read_file(path, &b) < 0) {
		*error_r = errno == ENOENT ? "no DKIM key for this selector" :
		    "cannot read the key file";
		goto out;
	}
	bio = BIO_new_mem_buf(b.data, (int)b.len);
	if (bio != NULL)
		k = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (k == NULL)
		*error_r = "cannot parse the key file";
out:
	buf_fini_wipe(&b);
	free(path);
	if (k != NULL && selector_r != NULL)
		*selector_r = sel;
	else
		free(sel);
	return k;
}
