/*
 * tls.c - server-side TLS: the certificate context, its reload on
 * SIGHUP, implicit TLS and the STARTTLS upgrade (RFC 3207 for SMTP,
 * RFC 2595 for POP3/IMAP, RFC 8314 for implicit TLS on 465/995/993).
 *
 * Handles untrusted input before authentication: the TLS handshake
 * itself (OpenSSL parses it) and whatever plaintext a client pipelines
 * behind STARTTLS, which is counted and thrown away unread.
 *
 * Protocols: TLS 1.2 and 1.3 only (RFC 8996 retires 1.0 and 1.1).
 * TLS 1.2 ciphers are ECDHE with AES-GCM or ChaCha20-Poly1305 (forward
 * secrecy, AEAD), close to Mozilla's "intermediate" profile without
 * finite-field DH; TLS 1.3 keeps OpenSSL's three AEAD suites.  Client
 * preference decides among them (all are strong; a phone without AES
 * instructions prefers ChaCha20).  Renegotiation and compression are off.
 */
#include "server/tls.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"
#include "lib/log.h"
#include "server/server_int.h"

#define TLS12_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define TLS13_SUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:" \
	"TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS	"X25519:P-256:P-384"

/* ssl_error - the oldest queued OpenSSL error as text (and clears them) */
static void
ssl_error(char *err, size_t errsize, const char *what, const char *path)
{
	unsigned long e = ERR_get_error();
	char reason[256];

	if (e != 0)
		ERR_error_string_n(e, reason, sizeof(reason));
	else
		snprintf(reason, sizeof(reason), "unknown error");
	ERR_clear_error();
	snprintf(err, errsize, "%s%s%s: %s", what, path != NULL ? " " : "",
	    path != NULL ? path : "", reason);
}

SSL_CTX *
tls_ctx_new(const char *cert, const char *key, char *err, size_t errsize)
{
	static const unsigned char sid_ctx[] = "postino";
	SSL_CTX *ctx;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL) {
		ssl_error(err, errsize, "SSL_CTX_new", NULL);
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES) != 1 ||
	    SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		ssl_error(err, errsize, "TLS settings", NULL);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	/* idle connections give their read/write buffers back */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
	/*
	 * Resumption by stateless tickets only (one per handshake, not
	 * OpenSSL's two): no server-side cache to fill, lock and flush.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 1);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_error(err, errsize, "[tls] cert", cert);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		ssl_error(err, errsize, "[tls] key", key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error(err, errsize, "[tls] key does not match cert", key);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

int
tls_init(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	char err[512];

	srv->tls_ctx = NULL;
	if (cfg->tls_cert[0] == '\0' && cfg->tls_key[0] == '\0')
		return 0;
	if (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0') {
		log_error("[tls] cert and key must be set together");
		return -1;
	}
	srv->tls_ctx = tls_ctx_new(cfg->tls_cert, cfg->tls_key, err,
	    sizeof(err));
	if (srv->tls_ctx == NULL) {
		log_error("tls: %s", err);
		return -1;
	}
	log_info("tls ready cert=%s", cfg->tls_cert);
	return 0;
}

int
tls_reload(struct server *srv)
{
	const struct config *cfg = srv->cfg;
	SSL_CTX *ctx;
	char err[512];

	if (srv->tls_ctx == NULL)
		return 0;	/* off at start: no listener uses it */
	ctx = tls_ctx_new(cfg->tls_cert, cfg->tls_key, err, sizeof(err));
	if (ctx == NULL) {
		log_error("tls reload failed, keeping the old certificate: %s",
		    err);
		return -1;
	}
	/* live SSL objects hold their own reference on the old context */
	SSL_CTX_free(srv->tls_ctx);
	srv->tls_ctx = ctx;
	log_info("tls reloaded cert=%s", cfg->tls_cert);
	return 0;
}

void
tls_fini(struct server *srv)
{
	SSL_CTX_free(srv->tls_ctx);
	srv->tls_ctx = NULL;
}

unsigned
tls_handshake_timeout(const struct server *srv)
{
	uint64_t t = srv->cfg->tls_handshake_timeout;

	return t == 0 ? TLS_HANDSHAKE_TIMEOUT : t > 3600 ? 3600 : (unsigned)t;
}

bool
tls_enabled(const struct server *srv)
{
	return srv->tls_ctx != NULL;
}

struct bufferevent *
tls_accept_fd(struct server *srv, int fd)
{
	struct bufferevent *bev;
	SSL *ssl;

	if (srv->tls_ctx == NULL || (ssl = SSL_new(srv->tls_ctx)) == NULL) {
		ERR_clear_error();
		close(fd);
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(srv->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		close(fd);
		return NULL;
	}
	/* a client that just closes the TCP connection is not an error */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

struct bufferevent *
tls_starttls(struct server *srv, struct bufferevent *plain,
    size_t *discarded_r)
{
	struct evbuffer *in = bufferevent_get_input(plain);
	int fd, nfd;

	*discarded_r = evbuffer_get_length(in);
	evbuffer_drain(in, *discarded_r);
	fd = (int)bufferevent_getfd(plain);
	/*
	 * The plain bufferevent owns fd and may be inside its own callback
	 * (its destruction is then deferred): take a second descriptor of
	 * the same socket for the TLS side, and let the old one close with
	 * the plain bufferevent.
	 */
	nfd = fd >= 0 ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;
	bufferevent_free(plain);
	if (nfd < 0) {
		log_warn("tls starttls: cannot duplicate the socket: %s",
		    strerror(errno));
		return NULL;
	}
	return tls_accept_fd(srv, nfd);
}

void
tls_describe(struct bufferevent *bev, char *out, size_t outsize)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (outsize == 0)
		return;
	out[0] = '\0';
	if (ssl == NULL || !SSL_is_init_finished(ssl))
		return;
	snprintf(out, outsize, "%s %s", SSL_get_version(ssl),
	    SSL_get_cipher_name(ssl));
}

void
tls_log_failure(struct bufferevent *bev, short what, const char *proto,
    const char *sid, const char *peer)
{
	unsigned long e = bufferevent_get_openssl_error(bev);
	char reason[256];

	if (e != 0) {
		ERR_error_string_n(e, reason, sizeof(reason));
		while (bufferevent_get_openssl_error(bev) != 0)
			;
	} else if (what & BEV_EVENT_TIMEOUT) {
		snprintf(reason, sizeof(reason), "handshake timeout");
	} else if (what & BEV_EVENT_EOF) {
		snprintf(reason, sizeof(reason), "peer closed the connection");
	} else if (errno != 0) {
		snprintf(reason, sizeof(reason), "%s", strerror(errno));
	} else {
		snprintf(reason, sizeof(reason), "unknown");
	}
	log_info("tls handshake-failed proto=%s sid=%s peer=%s reason=\"%s\"",
	    proto, sid, peer, reason);
}

size_t
tls_channel_binding(struct bufferevent *bev, const char **type_r,
    unsigned char *out, size_t outsize)
{
	static const char label[] = "EXPORTER-Channel-Binding";
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	*type_r = NULL;
	if (ssl == NULL || !SSL_is_init_finished(ssl) || outsize < 32 ||
	    SSL_version(ssl) != TLS1_3_VERSION)
		return 0;
	if (SSL_export_keying_material(ssl, out, 32, label,
	    sizeof(label) - 1, NULL, 0, 0) != 1) {
		ERR_clear_error();
		return 0;
	}
	*type_r = "tls-exporter";
	return 32;
}

void
tls_close_notify(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (ssl != NULL && SSL_is_init_finished(ssl)) {
		/* non-blocking: sent if the socket takes it, else skipped */
		if (SSL_shutdown(ssl) < 0)
			ERR_clear_error();
	}
}
