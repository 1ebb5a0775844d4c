/*
 * dkim_signer.c - signs outbound mail of our domains with their DKIM key
 * (RFC 6376 section 5; over-signed header list, see dkim.c).  The From:
 * field is parsed with mime_header / mime_address (bounded); keys come
 * from our own files (dkim_keys.c).
 */
#include "policy/dkim_signer.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/ascii.h"
#include "lib/log.h"
#include "lib/xmalloc.h"
#include "mime/mime_address.h"
#include "mime/mime_header.h"
#include "policy/dkim.h"
#include "policy/dkim_keys.h"

/* header_len - bytes of the header block, up to its empty line */
static size_t
header_len(const char *p, size_t len)
{
	size_t i;

	if (len >= 2 && p[0] == '\r' && p[1] == '\n')
		return 0;
	for (i = 0; i + 3 < len; i++) {
		if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
		    p[i + 3] == '\n')
			return i + 2;
	}
	return len;
}

int
dkim_signer_from_domain(const void *msg, size_t len, char *out)
{
	struct span hdr = span_make(msg, header_len(msg, len));
	struct span value;
	struct mime_address *list, *a, *found = NULL;
	struct arena *ar;
	size_t pos = 0, nfrom = 0;
	struct mime_field f;
	int r = -1;

	while (mime_header_next(hdr, &pos, &f))
		if (span_eq_ci(f.name, SPAN_LIT("From")))
			nfrom++;
	if (nfrom != 1 || !mime_header_find(hdr, "From", &value))
		return -1;
	ar = arena_new("dkim-from", 4096, 256 * 1024);
	list = mime_address_parse(value, ar, 8);
	for (a = list; a != NULL; a = a->next) {
		if (a->group_start || a->group_end)
			continue;
		if (found != NULL) {
			found = NULL;	/* two addresses: no single domain */
			break;
		}
		found = a;
	}
	if (found != NULL && found->domain != NULL &&
	    strlen(found->domain) < 254 && found->domain[0] != '\0') {
		size_t i;

		for (i = 0; found->domain[i] != '\0'; i++)
			out[i] = (char)ascii_tolower(
			    (unsigned char)found->domain[i]);
		out[i] = '\0';
		r = 0;
	}
	arena_free(&ar);
	return r;
}

int
dkim_signer_sign(const char *data_dir, const char *selector,
    const void *msg, size_t len, time_t now, struct buf *out,
    char *domain_r, char *selector_r, const char **why_r)
{
	char domain[254];
	char *sel = NULL;
	const char *err = NULL;
	EVP_PKEY *key;
	int r;

	if (dkim_signer_from_domain(msg, len, domain) < 0) {
		*why_r = "no single From: address with a domain";
		return 0;
	}
	if (!dkim_keys_valid_name(domain)) {
		*why_r = "From: domain is not a DNS name";
		return 0;
	}
	if (selector != NULL && selector[0] == '\0')
		selector = NULL;
	key = dkim_keys_load(data_dir, domain, selector, &sel, &err);
	if (key == NULL) {
		*why_r = err != NULL ? err : "no DKIM key";
		/* a domain of ours without a key is simply not signed */
		return err != NULL && strncmp(err, "no DKIM key", 11) == 0 ?
		    0 : -1;
	}
	r = dkim_sign(msg, len, domain, sel, key, NULL, now, out, &err);
	EVP_PKEY_free(key);
	if (r < 0) {
		*why_r = err != NULL ? err : "signing failed";
		free(sel);
		return -1;
	}
	if (domain_r != NULL)
		memcpy(domain_r, domain, strlen(domain) + 1);
	if (selector_r != NULL)
		snprintf(selector_r, 64, "%s", sel);
	free(sel);
	return 1;
}
