/*
 * cli_common.c - option parsing, password input, certificates.
 */
#include "cli/cli.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/xmalloc.h"

struct config *
cli_load_config(int argc, char **argv, int from, int *npos_r, char ***pos_r)
{
	const char *path = getenv("POSTINO_CONFIG");
	struct config *cfg;
	char *err = NULL;
	int i, npos = 0;

	if (path == NULL)
		path = "/etc/postino/postino.conf";
	for (i = from; i < argc; i++) {
		if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "postino: -c needs a file\n");
				return NULL;
			}
			path = argv[++i];
		} else if (!strncmp(argv[i], "-c", 2)) {
			path = argv[i] + 2;
		} else {
			argv[from + npos++] = argv[i];
		}
	}
	cfg = config_load(path, &err);
	if (cfg == NULL) {
		fprintf(stderr, "postino: %s\n", err);
		free(err);
		return NULL;
	}
	*npos_r = npos;
	*pos_r = argv + from;
	return cfg;
}

char *
cli_read_password(void)
{
	struct termios old, quiet;
	char line[1024];
	bool tty = isatty(STDIN_FILENO);
	size_t n;
	char *pw;

	if (tty) {
		fprintf(stderr, "Password: ");
		tcgetattr(STDIN_FILENO, &old);
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	if (fgets(line, sizeof(line), stdin) == NULL)
		line[0] = '\0';
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	n = strcspn(line, "\r\n");
	line[n] = '\0';
	pw = xstrdup(line);
	explicit_wipe(line, sizeof(line));
	return pw;
}

int
cli_make_selfsigned(const char *hostname, const char *cert_path,
    const char *key_path)
{
	EVP_PKEY *pkey = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext = NULL;
	char *san = xasprintf("DNS:%s", hostname);
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	FILE *f = NULL;
	int r = -1;

	if (pkey == NULL || x == NULL)
		goto out;
	X509_set_version(x, 2);
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (bn == NULL || BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto out;
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 10L * 365 * 86400);
	X509_set_pubkey(x, pkey);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)hostname, -1, -1, 0);
	X509_set_issuer_name(x, name);
	ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san);
	if (ext == NULL || !X509_add_ext(x, ext, -1))
		goto out;
	if (!X509_sign(x, pkey, EVP_sha256()))
		goto out;
	umask(077);
	f = fopen(key_path, "w");
	if (f == NULL || !PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL,
	    NULL))
		goto out;
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = fopen(cert_path, "w");
	if (f == NULL || !PEM_write_X509(f, x))
		goto out;
	if (fclose(f) != 0) {
		f = NULL;
		goto out;
	}
	f = NULL;
	chmod(cert_path, 0644);
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	X509_EXTENSION_free(ext);
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(pkey);
	free(san);
	return r;
}
