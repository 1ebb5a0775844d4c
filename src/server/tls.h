/*
 * tls.h - server-side TLS for every listener: the certificate context,
 * implicit TLS (465, 995, 993) and the STARTTLS upgrade (25, 587, 110,
 * 143), over libevent's OpenSSL bufferevents.
 *
 * The context is built from [tls] cert and key, allows TLS 1.2 and 1.3
 * only, with forward-secret AEAD ciphers.  It is replaced on SIGHUP
 * (tls_reload): every SSL object holds its own reference on the SSL_CTX
 * it was made from, so open connections keep the old certificate and new
 * ones get the new one; the old context goes away with its last
 * connection.
 *
 * Usage for a protocol's connection code (SMTP, POP3, IMAP):
 *   implicit TLS:  bev = tls_accept_fd(srv, fd);  then wait for
 *                  BEV_EVENT_CONNECTED before greeting (tls_describe()
 *                  says what was negotiated); BEV_EVENT_ERROR or EOF
 *                  before it is a failed handshake (tls_log_failure()).
 *   STARTTLS:      queue the "go ahead" reply, stop reading, wait until
 *                  the output is flushed (the write callback), then
 *                  bev = tls_starttls(srv, bev, &discarded): it drops
 *                  the plaintext the client pipelined behind its command
 *                  (never execute it: CVE-2011-0411) and returns a new
 *                  bufferevent on the same socket, in the handshake.
 */
#ifndef POSTINO_SERVER_TLS_H
#define POSTINO_SERVER_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct server;
struct bufferevent;
struct ssl_ctx_st;

/* Default of [tls] handshake_timeout, in seconds. */
#define TLS_HANDSHAKE_TIMEOUT	30
/* A handshake must finish within [tls] handshake_timeout (seconds). */
unsigned tls_handshake_timeout(const struct server *srv);

/*
 * Builds a server context from PEM files (cert may hold the chain).
 * Returns it (free with SSL_CTX_free), or NULL with a reason in err.
 */
struct ssl_ctx_st *tls_ctx_new(const char *cert, const char *key,
    char *err, size_t errsize);

/*
 * Loads [tls] cert/key into srv->tls_ctx.  Returns 0 (also when no
 * certificate is configured: TLS is then off), -1 after logging why.
 */
int tls_init(struct server *srv);
/*
 * SIGHUP: rebuilds the context from the same files.  On failure the old
 * one stays in use (logged); returns 0 or -1.
 */
int tls_reload(struct server *srv);
/* Drops the server's reference; live connections keep theirs. */
void tls_fini(struct server *srv);
/* True when a certificate is loaded. */
bool tls_enabled(const struct server *srv);

/*
 * Implicit TLS on an accepted socket: a new bufferevent (owning fd,
 * closing it on free) in the accepting handshake, or NULL (fd is then
 * closed) if TLS is off or out of memory.
 */
struct bufferevent *tls_accept_fd(struct server *srv, int fd);
/*
 * STARTTLS: plain must be a socket bufferevent whose output is flushed.
 * Its unread input is discarded (count in *discarded_r), it is freed,
 * and a new bufferevent doing the server handshake on the same socket
 * is returned; callbacks, watermarks and timeouts are the caller's to
 * set again.  NULL (plain freed, socket closed) on failure.
 */
struct bufferevent *tls_starttls(struct server *srv, struct bufferevent *plain,
    size_t *discarded_r);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" after the handshake, else "". */
void tls_describe(struct bufferevent *bev, char *out, size_t outsize);
/*
 * Logs a failed or abandoned handshake (what = the bufferevent event
 * flags) at info level: a peer's fault, never ours.
 */
void tls_log_failure(struct bufferevent *bev, short what, const char *proto,
    const char *sid, const char *peer);
/*
 * Channel binding for SCRAM-*-PLUS after the handshake: "tls-exporter"
 * (RFC 9266, 32 bytes) on TLS 1.3.  Returns the length written to out,
 * or 0 (TLS 1.2, where tls-exporter is unsafe without extended master
 * secret: -PLUS is then simply not offered).
 */
size_t tls_channel_binding(struct bufferevent *bev, const char **type_r,
    unsigned char *out, size_t outsize);
/* Sends close_notify if the handshake is done (best effort, no wait). */
void tls_close_notify(struct bufferevent *bev);

#endif
