/*
 * tls_test.c - unit tests for tls.c (context, protocol versions, implicit
 * TLS handshake, the STARTTLS switch dropping pipelined plaintext) and for
 * the session side of STARTTLS in smtp_session.c (RFC 3207: 220, nothing
 * read until the handshake, state forgotten after it, ESMTPS).
 *
 * Handshakes run over a socketpair on one event loop: the server side is
 * tls.c's bufferevent, the client side an OpenSSL bufferevent too.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli/cli.h"
#include "conf/config.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "server/server_int.h"
#include "server/tls.h"
#include "smtp/smtp_session.h"
#include "../../tests/lib/test.h"

/* --- fixtures ------------------------------------------------------ */

struct certs {
	char	dir[64];
	char	cert[128], key[128];	/* one pair */
	char	cert2[128], key2[128];	/* another pair */
};

static void
certs_make(struct certs *c)
{
	snprintf(c->dir, sizeof(c->dir), "/tmp/postino-tls-test-XXXXXX");
	CHECK(mkdtemp(c->dir) != NULL);
	snprintf(c->cert, sizeof(c->cert), "%s/cert.pem", c->dir);
	snprintf(c->key, sizeof(c->key), "%s/key.pem", c->dir);
	snprintf(c->cert2, sizeof(c->cert2), "%s/cert2.pem", c->dir);
	snprintf(c->key2, sizeof(c->key2), "%s/key2.pem", c->dir);
	CHECK_INT(cli_make_selfsigned("mx.test", c->cert, c->key), 0);
	CHECK_INT(cli_make_selfsigned("other.test", c->cert2, c->key2), 0);
}

static void
certs_remove(struct certs *c)
{
	unlink(c->cert);
	unlink(c->key);
	unlink(c->cert2);
	unlink(c->key2);
	rmdir(c->dir);
}

/* a server struct with just what tls.c uses */
static void
srv_init(struct server *srv, struct config *cfg, struct certs *c)
{
	memset(srv, 0, sizeof(*srv));
	memset(cfg, 0, sizeof(*cfg));
	cfg->tls_cert = c->cert;
	cfg->tls_key = c->key;
	srv->cfg = cfg;
	srv->base = event_base_new();
	CHECK(srv->base != NULL);
}

static void
srv_fini(struct server *srv)
{
	tls_fini(srv);
	event_base_free(srv->base);
}

struct side {
	struct bufferevent	*bev;
	bool			 connected;
	bool			 failed;
	struct buf		 got;
};

static void
side_read(struct bufferevent *bev, void *arg)
{
	struct side *sd = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t n = evbuffer_get_length(in);
	uint8_t tmp[4096];

	while (n > 0) {
		size_t k = n < sizeof(tmp) ? n : sizeof(tmp);

		evbuffer_remove(in, tmp, k);
		CHECK_INT(buf_append(&sd->got, tmp, k), 0);
		n -= k;
	}
}

static void
side_event(struct bufferevent *bev, short what, void *arg)
{
	struct side *sd = arg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED)
		sd->connected = true;
	else
		sd->failed = true;
}

static void
side_init(struct side *sd, struct bufferevent *bev)
{
	memset(sd, 0, sizeof(*sd));
	buf_init(&sd->got, 1 << 20);
	sd->bev = bev;
	bufferevent_setcb(bev, side_read, NULL, side_event, sd);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void
side_fini(struct side *sd)
{
	if (sd->bev != NULL)
		bufferevent_free(sd->bev);
	buf_fini(&sd->got);
}

/* a client bufferevent offering TLS versions min..max */
static struct bufferevent *
client_new(struct event_base *base, int fd, int min, int max,
    SSL_CTX **ctx_r)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;

	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* let the client allow old versions: the server must refuse */
	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
	SSL_CTX_set_min_proto_version(ctx, min);
	SSL_CTX_set_max_proto_version(ctx, max);
	ssl = SSL_new(ctx);
	*ctx_r = ctx;
	return bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
}

/* run the loop until both sides settle (or 5 s pass) */
static void
run_until(struct event_base *base, struct side *a, struct side *b)
{
	int i;

	for (i = 0; i < 500; i++) {
		if ((a->connected || a->failed) && (b->connected || b->failed))
			break;
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(10000);
	}
}

/* handshake - implicit TLS with a client limited to min..max */
static void
handshake(int min, int max, bool want_ok, const char *want_prefix)
{
	struct certs c;
	struct config cfg;
	struct server srv;
	struct side s, cl;
	SSL_CTX *cctx;
	char info[128];
	int sv[2];

	log_set_level(LOG_LEVEL_ERROR);
	certs_make(&c);
	srv_init(&srv, &cfg, &c);
	CHECK_INT(tls_init(&srv), 0);
	CHECK(tls_enabled(&srv));
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	evutil_make_socket_nonblocking(sv[0]);
	evutil_make_socket_nonblocking(sv[1]);
	side_init(&s, tls_accept_fd(&srv, sv[0]));
	side_init(&cl, client_new(srv.base, sv[1], min, max, &cctx));
	run_until(srv.base, &s, &cl);
	CHECK_INT(s.connected, want_ok);
	CHECK_INT(s.failed, !want_ok);
	CHECK_INT(cl.connected, want_ok);
	tls_describe(s.bev, info, sizeof(info));
	if (want_ok) {
		CHECK(strncmp(info, want_prefix, strlen(want_prefix)) == 0);
		/* data flows both ways after the handshake */
		bufferevent_write(s.bev, "220 hi\r\n", 8);
		bufferevent_write(cl.bev, "EHLO x\r\n", 8);
		for (int i = 0; i < 100 && (s.got.len < 8 ||
		    cl.got.len < 8); i++) {
			event_base_loop(srv.base, EVLOOP_ONCE |
			    EVLOOP_NONBLOCK);
			usleep(1000);
		}
		CHECK_MEM(s.got.data, s.got.len, "EHLO x\r\n", 8);
		CHECK_MEM(cl.got.data, cl.got.len, "220 hi\r\n", 8);
	} else {
		CHECK_STR(info, "");
	}
	side_fini(&s);
	side_fini(&cl);
	SSL_CTX_free(cctx);
	srv_fini(&srv);
	certs_remove(&c);
}

/* --- tests ------------------------------------------------------------ */

static void
test_ctx_errors(void)
{
	struct certs c;
	char err[512];
	SSL_CTX *ctx;

	certs_make(&c);
	ctx = tls_ctx_new(c.cert, c.key, err, sizeof(err));
	CHECK(ctx != NULL);
	CHECK_INT(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
	CHECK_INT(SSL_CTX_get_max_proto_version(ctx), TLS1_3_VERSION);
	SSL_CTX_free(ctx);

	ctx = tls_ctx_new("/nonexistent/cert.pem", c.key, err, sizeof(err));
	CHECK(ctx == NULL);
	CHECK(strstr(err, "[tls] cert /nonexistent/cert.pem") != NULL);

	ctx = tls_ctx_new(c.cert, "/nonexistent/key.pem", err, sizeof(err));
	CHECK(ctx == NULL);
	CHECK(strstr(err, "[tls] key /nonexistent/key.pem") != NULL);

	/* a key from another pair */
	ctx = tls_ctx_new(c.cert, c.key2, err, sizeof(err));
	CHECK(ctx == NULL);
	CHECK(strstr(err, "mismatch") != NULL ||
	    strstr(err, "does not match") != NULL);

	/* not PEM at all */
	ctx = tls_ctx_new(c.dir, c.key, err, sizeof(err));
	CHECK(ctx == NULL);
	certs_remove(&c);
}

static void
test_init_off_and_half_configured(void)
{
	struct server srv;
	struct config cfg;
	struct certs c;

	log_set_level(LOG_LEVEL_ERROR);
	certs_make(&c);
	srv_init(&srv, &cfg, &c);
	cfg.tls_cert = (char *)"";
	cfg.tls_key = (char *)"";
	CHECK_INT(tls_init(&srv), 0);		/* no cert: TLS off */
	CHECK(!tls_enabled(&srv));
	CHECK_INT(tls_reload(&srv), 0);		/* nothing to reload */
	CHECK(!tls_enabled(&srv));
	cfg.tls_cert = c.cert;
	CHECK_INT(tls_init(&srv), -1);		/* key missing */
	CHECK(!tls_enabled(&srv));
	srv_fini(&srv);
	certs_remove(&c);
}

static void
test_reload_keeps_old_ctx_alive(void)
{
	struct server srv;
	struct config cfg;
	struct certs c;
	SSL_CTX *old;
	SSL *live;
	X509 *x;

	log_set_level(LOG_LEVEL_ERROR);
	certs_make(&c);
	srv_init(&srv, &cfg, &c);
	CHECK_INT(tls_init(&srv), 0);
	old = srv.tls_ctx;
	live = SSL_new(old);		/* a connection in progress */
	cfg.tls_cert = c.cert2;
	cfg.tls_key = c.key2;
	CHECK_INT(tls_reload(&srv), 0);
	CHECK(srv.tls_ctx != old);
	/* the live connection still has the old context and certificate */
	CHECK(SSL_get_SSL_CTX(live) == old);
	x = SSL_get_certificate(live);
	CHECK(x != NULL && X509_check_host(x, "mx.test", 0, 0, NULL) == 1);
	x = SSL_CTX_get0_certificate(srv.tls_ctx);
	CHECK(x != NULL && X509_check_host(x, "other.test", 0, 0, NULL) == 1);
	/* a broken pair on reload: the current context stays */
	old = srv.tls_ctx;
	cfg.tls_key = c.key;
	CHECK_INT(tls_reload(&srv), -1);
	CHECK(srv.tls_ctx == old);
	SSL_free(live);			/* frees the first context */
	srv_fini(&srv);
	certs_remove(&c);
}

static void
test_handshake_tls13(void)
{
	handshake(TLS1_3_VERSION, TLS1_3_VERSION, true, "TLSv1.3 TLS_");
}

static void
test_handshake_tls12(void)
{
	handshake(TLS1_2_VERSION, TLS1_2_VERSION, true, "TLSv1.2 ECDHE-");
}

static void
test_handshake_tls11_refused(void)
{
	handshake(TLS1_VERSION, TLS1_1_VERSION, false, "");
}

static void
test_handshake_tls10_refused(void)
{
	handshake(TLS1_VERSION, TLS1_VERSION, false, "");
}

/* STARTTLS: the plaintext behind the command is dropped, TLS follows. */
static void
test_starttls_discards_plaintext(void)
{
	struct certs c;
	struct config cfg;
	struct server srv;
	struct side s, cl;
	struct bufferevent *plain;
	SSL_CTX *cctx;
	size_t discarded = 99;
	int sv[2], i;

	log_set_level(LOG_LEVEL_ERROR);
	certs_make(&c);
	srv_init(&srv, &cfg, &c);
	CHECK_INT(tls_init(&srv), 0);
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	evutil_make_socket_nonblocking(sv[0]);
	evutil_make_socket_nonblocking(sv[1]);
	plain = bufferevent_socket_new(srv.base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	bufferevent_enable(plain, EV_READ);
	CHECK_INT(write(sv[1], "RSET\r\n", 6), 6);
	for (i = 0; i < 100 && evbuffer_get_length(
	    bufferevent_get_input(plain)) < 6; i++)
		event_base_loop(srv.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	CHECK_INT(evbuffer_get_length(bufferevent_get_input(plain)), 6);
	side_init(&s, tls_starttls(&srv, plain, &discarded));
	CHECK(s.bev != NULL);
	CHECK_INT(discarded, 6);
	side_init(&cl, client_new(srv.base, sv[1], TLS1_2_VERSION,
	    TLS1_3_VERSION, &cctx));
	run_until(srv.base, &s, &cl);
	CHECK(s.connected);
	CHECK(cl.connected);
	CHECK_INT(s.got.len, 0);	/* "RSET" never shows up */
	side_fini(&s);
	side_fini(&cl);
	SSL_CTX_free(cctx);
	srv_fini(&srv);
	certs_remove(&c);
}

/* A client sending garbage instead of a ClientHello fails alone. */
static void
test_garbage_instead_of_hello(void)
{
	struct certs c;
	struct config cfg;
	struct server srv;
	struct side s;
	int sv[2], i;

	log_set_level(LOG_LEVEL_ERROR);
	certs_make(&c);
	srv_init(&srv, &cfg, &c);
	CHECK_INT(tls_init(&srv), 0);
	CHECK_INT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	evutil_make_socket_nonblocking(sv[0]);
	side_init(&s, tls_accept_fd(&srv, sv[0]));
	CHECK_INT(write(sv[1], "EHLO plaintext\r\n", 16), 16);
	for (i = 0; i < 100 && !s.failed && !s.connected; i++) {
		event_base_loop(srv.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	CHECK(s.failed);
	CHECK(!s.connected);
	close(sv[1]);
	side_fini(&s);
	srv_fini(&srv);
	certs_remove(&c);
}

/* --- the session side of STARTTLS ------------------------------------ */

struct fake {
	struct buf	 msg;
};

static void
op_rcpt_check(void *ctx, struct smtp_session *s, const char *addr)
{
	(void)ctx;
	(void)addr;
	smtp_session_rcpt_done(s, 250, "2.1.5", "OK");
}

static int
op_data_begin(void *ctx, const struct smtp_envelope *env, char qid[64],
    int *code_r, const char **enh_r, const char **text_r)
{
	(void)ctx;
	(void)env;
	(void)code_r;
	(void)enh_r;
	(void)text_r;
	snprintf(qid, 64, "Q1");
	return 0;
}

static int
op_data_write(void *ctx, const void *p, size_t n)
{
	struct fake *f = ctx;

	return buf_append(&f->msg, p, n);
}

static void
op_data_end(void *ctx, struct smtp_session *s)
{
	(void)ctx;
	smtp_session_data_done(s, 250, "2.0.0", "OK");
}

static void
op_data_abort(void *ctx)
{
	(void)ctx;
}

static const struct smtp_session_ops fake_ops = {
	.rcpt_check = op_rcpt_check,
	.data_begin = op_data_begin,
	.data_write = op_data_write,
	.data_end = op_data_end,
	.data_abort = op_data_abort,
};

static struct smtp_session *
session_new(struct fake *f, bool tls_available, bool tls_ready)
{
	struct smtp_session_config cfg;
	struct smtp_peer peer;

	memset(&cfg, 0, sizeof(cfg));
	cfg.hostname = "mx.test";
	cfg.tls_available = tls_available;
	cfg.tls_ready = tls_ready;
	memset(&peer, 0, sizeof(peer));
	peer.session_id = "t";
	peer.addr = "192.0.2.1";
	buf_init(&f->msg, 1 << 20);
	return smtp_session_new(&cfg, &fake_ops, f, &peer);
}

/* feed - input; returns bytes consumed and appends output to tr */
static size_t
feed(struct smtp_session *s, const char *in, struct buf *tr)
{
	size_t n = smtp_session_input(s, (const uint8_t *)in, strlen(in));
	struct buf *out = smtp_session_output(s);

	CHECK_INT(buf_append(tr, out->data, out->len), 0);
	buf_reset(out);
	return n;
}

static void
test_session_starttls(void)
{
	static const char first[] = "EHLO c\r\nSTARTTLS\r\n";
	static const char msg[] = "MAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@mx.test>\r\nDATA\r\nhi\r\n.\r\n";
	struct smtp_session *s;
	struct fake f;
	struct buf tr;

	log_set_level(LOG_LEVEL_ERROR);
	buf_init(&tr, 1 << 20);
	s = session_new(&f, true, true);
	smtp_session_start(s);
	/* the injected RSET is not consumed: it stays for the I/O layer */
	CHECK_INT(feed(s, "EHLO c\r\nSTARTTLS\r\nRSET\r\n", &tr),
	    sizeof(first) - 1);
	CHECK(strstr(buf_cstr(&tr), "250 STARTTLS\r\n") != NULL);
	CHECK(strstr(buf_cstr(&tr), "220 2.0.0 Ready to start TLS\r\n") !=
	    NULL);
	CHECK(strstr(buf_cstr(&tr), "250 2.0.0 OK") == NULL);
	CHECK(smtp_session_want_tls(s));
	CHECK(smtp_session_is_pending(s));
	CHECK(!smtp_session_is_tls(s));
	CHECK_INT(feed(s, "RSET\r\n", &tr), 0);	/* still nothing read */

	smtp_session_tls_started(s, "TLSv1.3 TLS_AES_128_GCM_SHA256");
	CHECK(!smtp_session_want_tls(s));
	CHECK(!smtp_session_is_pending(s));
	CHECK(smtp_session_is_tls(s));
	buf_reset(&tr);
	/* RFC 3207 4.2: the EHLO from before is forgotten */
	feed(s, "MAIL FROM:<a@b.test>\r\n", &tr);
	CHECK_STR(buf_cstr(&tr), "503 5.5.1 Bad sequence of commands\r\n");
	buf_reset(&tr);
	feed(s, "EHLO c\r\n", &tr);
	CHECK(strstr(buf_cstr(&tr), "STARTTLS") == NULL);
	CHECK(strstr(buf_cstr(&tr), "250 ENHANCEDSTATUSCODES\r\n") != NULL);
	buf_reset(&tr);
	feed(s, "STARTTLS\r\n", &tr);
	CHECK_STR(buf_cstr(&tr), "503 5.5.1 TLS already active\r\n");
	feed(s, msg, &tr);
	CHECK(strstr((const char *)f.msg.data, "with ESMTPS "
	    "(TLSv1.3 TLS_AES_128_GCM_SHA256) id Q1") != NULL);
	smtp_session_free(&s);
	buf_fini(&f.msg);
	buf_fini(&tr);
}

static void
test_session_starttls_not_ready_or_off(void)
{
	struct smtp_session *s;
	struct fake f;
	struct buf tr;

	log_set_level(LOG_LEVEL_ERROR);
	buf_init(&tr, 1 << 20);
	s = session_new(&f, true, false);	/* advertised, no cert */
	smtp_session_start(s);
	buf_reset(smtp_session_output(s));
	feed(s, "EHLO c\r\nSTARTTLS\r\nNOOP\r\n", &tr);
	CHECK(strstr(buf_cstr(&tr), "454 4.7.0 TLS not available now\r\n"
	    "250 2.0.0 OK\r\n") != NULL);
	CHECK(!smtp_session_want_tls(s));
	smtp_session_free(&s);
	buf_fini(&f.msg);

	buf_reset(&tr);
	s = session_new(&f, false, false);	/* no TLS at all */
	smtp_session_start(s);
	buf_reset(smtp_session_output(s));
	feed(s, "EHLO c\r\nSTARTTLS\r\n", &tr);
	CHECK(strstr(buf_cstr(&tr), "STARTTLS") == NULL);
	CHECK(strstr(buf_cstr(&tr), "502 5.5.1") != NULL);
	smtp_session_free(&s);
	buf_fini(&f.msg);

	buf_reset(&tr);
	s = session_new(&f, true, true);	/* with an argument */
	smtp_session_start(s);
	buf_reset(smtp_session_output(s));
	feed(s, "EHLO c\r\nSTARTTLS x\r\n", &tr);
	CHECK(strstr(buf_cstr(&tr), "501 5.5.4 Syntax: STARTTLS\r\n") !=
	    NULL);
	CHECK(!smtp_session_want_tls(s));
	smtp_session_free(&s);
	buf_fini(&f.msg);
	buf_fini(&tr);
}

static void
test_session_implicit_tls(void)
{
	static const char msg[] = "EHLO c\r\nMAIL FROM:<a@b.test>\r\n"
	    "RCPT TO:<x@mx.test>\r\nDATA\r\nhi\r\n.\r\n";
	struct smtp_session *s;
	struct fake f;
	struct buf tr;

	log_set_level(LOG_LEVEL_ERROR);
	buf_init(&tr, 1 << 20);
	s = session_new(&f, false, false);
	smtp_session_tls_started(s, "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256");
	CHECK(smtp_session_is_tls(s));
	smtp_session_start(s);
	feed(s, msg, &tr);
	CHECK(strncmp(buf_cstr(&tr), "220 mx.test ESMTP", 17) == 0);
	CHECK(strstr(buf_cstr(&tr), "STARTTLS") == NULL);
	CHECK(strstr((const char *)f.msg.data, "with ESMTPS (TLSv1.2 "
	    "ECDHE-ECDSA-AES128-GCM-SHA256) id Q1") != NULL);
	smtp_session_free(&s);
	buf_fini(&f.msg);
	buf_fini(&tr);
}

static const struct test_case cases[] = {
	TEST(test_ctx_errors),
	TEST(test_init_off_and_half_configured),
	TEST(test_reload_keeps_old_ctx_alive),
	TEST(test_handshake_tls13),
	TEST(test_handshake_tls12),
	TEST(test_handshake_tls11_refused),
	TEST(test_handshake_tls10_refused),
	TEST(test_starttls_discards_plaintext),
	TEST(test_garbage_instead_of_hello),
	TEST(test_session_starttls),
	TEST(test_session_starttls_not_ready_or_off),
	TEST(test_session_implicit_tls),
};

TEST_MAIN(cases)
