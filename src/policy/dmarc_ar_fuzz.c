/*
 * dmarc_ar_fuzz.c - libFuzzer target for policy/policy: removal of
 * forged Authentication-Results fields from a received header block,
 * and the header fields built from hostile HELO, MAIL FROM and DKIM
 * values.
 *
 * Input: a header block.  Checks invariants besides memory safety: the
 * filtered copy is the input minus exactly the ranges reported, and it
 * holds no field that is ours; generated fields (built with the input's
 * first lines as HELO, MAIL FROM and DKIM domain) have CRLF line ends,
 * lines under 998 bytes, and continuation lines starting with a tab.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/xmalloc.h"
#include "mime/mime_header.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ID "mail.example.com"

static void
check_strip(struct span in)
{
	struct policy_range r[64];
	struct buf out;
	struct mime_field f;
	unsigned removed = 0;
	size_t n, i, dropped = 0, pos = 0;

	buf_init(&out, in.len + 1);
	if (policy_strip_ar(in, ID, &out, &removed) < 0)
		abort();
	n = policy_ar_ranges(in, ID, r, 64);
	if (n != removed)
		abort();
	for (i = 0; i < n && i < 64; i++)
		dropped += r[i].len;
	if (n <= 64 && out.len + dropped != in.len)
		abort();
	/* nothing of ours is left */
	while (mime_header_next(buf_span(&out), &pos, &f))
		if (span_eq_str_ci(f.name, "Authentication-Results") &&
		    policy_ar_is_ours(f.value, ID))
			abort();
	buf_fini(&out);
}

static char *
line(struct span *s)
{
	long nl = span_find(*s, '\n');
	size_t len = nl < 0 ? s->len : (size_t)nl;
	char *r = xstrndup((const char *)s->p, len);

	*s = nl < 0 ? span_make(s->p + s->len, 0) :
	    span_make(s->p + len + 1, s->len - len - 1);
	return r;
}

static void
check_headers(struct span in)
{
	struct sockaddr_in6 ip;
	struct policy_settings set;
	struct policy_input pi;
	struct dkim_result dk;
	struct dmarc_outcome o;
	struct buf out;
	char *helo = line(&in), *from = line(&in), *dom = line(&in);
	size_t i, col = 0;

	memset(&ip, 0, sizeof(ip));
	ip.sin6_family = AF_INET6;
	ip.sin6_addr.s6_addr[15] = 1;
	policy_settings_default(&set, ID);
	memset(&pi, 0, sizeof(pi));
	pi.client_ip = (struct sockaddr *)&ip;
	pi.helo = helo;
	pi.mail_from = from;
	pi.spf = (enum spf_result)(strlen(dom) % 7);
	pi.spf_explanation = dom;
	pi.spf_problem = from;
	pi.spf_mechanism = helo;
	memset(&dk, 0, sizeof(dk));
	dk.result = (enum dkim_status)(strlen(helo) % 6);
	dk.domain = dom;
	dk.selector = helo;
	dk.reason = from;
	dk.b_prefix = dom;
	pi.dkim = &dk;
	pi.ndkim = 1;
	memset(&o, 0, sizeof(o));
	o.result = DMARC_RESULT_FAIL;
	o.header_from = dom;
	pi.dmarc = (strlen(from) & 4) ? NULL : &o;
	/* checks turned off ([policy] spf/dkim = no) */
	pi.spf_off = (strlen(from) & 1) != 0;
	pi.dkim_off = (strlen(from) & 2) != 0;
	buf_init(&out, 64 * 1024);
	if (policy_headers(&set, &pi, &out) < 0)
		abort();
	for (i = 0; i < out.len; i++) {
		if (out.data[i] == '\n') {
			if (i == 0 || out.data[i - 1] != '\r' || col > 998)
				abort();
			col = 0;
			if (i + 1 < out.len && out.data[i + 1] != '\t' &&
			    out.data[i + 1] != 'A')
				abort();
		} else {
			if (out.data[i] == '\r' && (i + 1 == out.len ||
			    out.data[i + 1] != '\n'))
				abort();
			col++;
		}
	}
	{
		struct policy_decision d;

		policy_decide(&set, &pi, &d);
		for (i = 0; d.text[i] != '\0'; i++)
			if ((unsigned char)d.text[i] < 0x20 ||
			    (unsigned char)d.text[i] >= 0x7f)
				abort();
	}
	/* a check turned off leaves no trace: no Received-SPF field, no
	 * result in Authentication-Results (each result starts a line
	 * there, and its values holding '=' are quoted; Received-SPF's
	 * comment may fold anything to a line start, so it is skipped) */
	{
		/* the field starts the output or a line ("\r\nA"; a
		 * folded continuation starts with a tab) */
		const uint8_t *ar = out.len >= 23 && memcmp(out.data,
		    "Authentication-Results:", 23) == 0 ? out.data :
		    memmem(out.data, out.len, "\r\nAuthentication-Results:",
		    25);
		size_t arlen;

		if (ar != NULL && ar != out.data)
			ar += 2;
		arlen = ar != NULL ? out.len -
		    (size_t)(ar - out.data) : 0;

		if (ar == NULL)
			abort();
		if (pi.spf_off && (ar != out.data ||
		    memmem(ar, arlen, "\r\n\tspf=", 7) != NULL))
			abort();
		if (pi.dkim_off && memmem(ar, arlen, "\r\n\tdkim=", 8) !=
		    NULL)
			abort();
		if (!pi.spf_off && memmem(ar, arlen, "\r\n\tspf=", 7) ==
		    NULL)
			abort();
	}
	buf_fini(&out);
	free(helo);
	free(from);
	free(dom);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct span in = span_make(data, size);

	check_strip(in);
	(void)policy_ar_is_ours(in, ID);
	if (size < 2048)
		check_headers(in);
	return 0;
}
