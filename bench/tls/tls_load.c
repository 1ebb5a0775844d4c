/*
 * tls_load.c - TLS load generator for bench/tls.
 *
 * N threads, each doing one connection after another for T seconds, then
 * it prints "ok=N fail=N seconds=S rate=R" (connections completed per
 * second).  Every connection makes a full handshake (no resumption).
 *
 *   -m handshake   connect, TLS handshake, close (implicit TLS port, or
 *                  openssl s_server): the raw handshake rate
 *   -m smtp        connect, EHLO, STARTTLS, handshake, EHLO, [AUTH PLAIN],
 *                  MAIL, RCPT, DATA with a message of -s bytes of body,
 *                  QUIT: one submitted message per connection
 *
 * Usage: tls_load -p PORT [-h HOST] [-m smtp|handshake] [-c THREADS]
 *                 [-t SECONDS] [-s BODY] [-a USER:PASS] [-f FROM] [-r RCPT]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *host = "127.0.0.1";
static int port;
static bool smtp_mode = true;
static int threads = 20;
static double seconds = 10;
static size_t body_size = 4096;
static const char *auth;
static const char *from = "sender@bench.test";
static const char *rcpt = "user@bench.test";
static SSL_CTX *ctx;
static char *message;
static size_t message_len;
static char auth_line[2048];
static double deadline;
static atomic_long n_ok, n_fail;
static atomic_int printed_errors;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct conn {
	int	 fd;
	SSL	*ssl;
	char	 buf[8192];
	size_t	 len;
};

static int
conn_write(struct conn *c, const void *p, size_t n)
{
	const char *s = p;

	while (n > 0) {
		ssize_t k;

		if (c->ssl != NULL) {
			int r = SSL_write(c->ssl, s, (int)n);

			if (r <= 0)
				return -1;
			k = r;
		} else {
			k = write(c->fd, s, n);
			if (k < 0 && errno == EINTR)
				continue;
			if (k <= 0)
				return -1;
		}
		s += k;
		n -= (size_t)k;
	}
	return 0;
}

/* read one reply (all its lines); returns its code or -1 */
static int
conn_reply(struct conn *c, char *text, size_t textsize)
{
	for (;;) {
		char *lf;

		while ((lf = memchr(c->buf, '\n', c->len)) != NULL) {
			size_t linelen = (size_t)(lf - c->buf) + 1;
			int code = -1;
			bool last = linelen >= 4 && c->buf[3] == ' ';

			if (linelen >= 4)
				code = atoi(c->buf);
			if (text != NULL && textsize > 0) {
				size_t have = strlen(text);
				size_t k = linelen < textsize - have - 1 ?
				    linelen : textsize - have - 1;

				memcpy(text + have, c->buf, k);
				text[have + k] = '\0';
			}
			memmove(c->buf, c->buf + linelen, c->len - linelen);
			c->len -= linelen;
			if (last)
				return code;
		}
		if (c->len == sizeof(c->buf))
			return -1;
		ssize_t k;

		if (c->ssl != NULL) {
			int r = SSL_read(c->ssl, c->buf + c->len,
			    (int)(sizeof(c->buf) - c->len));

			k = r;
		} else {
			k = read(c->fd, c->buf + c->len,
			    sizeof(c->buf) - c->len);
		}
		if (k <= 0)
			return -1;
		c->len += (size_t)k;
	}
}

static int
cmd(struct conn *c, const char *line, int want, char *text, size_t textsize)
{
	int code;

	if (text != NULL)
		text[0] = '\0';
	if (line != NULL && conn_write(c, line, strlen(line)) < 0)
		return -1;
	code = conn_reply(c, text, textsize);
	if (code != want) {
		if (atomic_fetch_add(&printed_errors, 1) < 5)
			fprintf(stderr, "tls_load: %s-> %d (wanted %d)\n",
			    line != NULL ? line : "greeting\n", code, want);
		return -1;
	}
	return 0;
}

static int
tcp_connect(void)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, host, &sa.sin_addr);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int
start_tls(struct conn *c)
{
	c->ssl = SSL_new(ctx);
	SSL_set_fd(c->ssl, c->fd);
	if (SSL_connect(c->ssl) != 1) {
		if (atomic_fetch_add(&printed_errors, 1) < 5)
			ERR_print_errors_fp(stderr);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

static int
one_session(void)
{
	struct conn c;
	char text[4096];
	int rc = -1;

	memset(&c, 0, sizeof(c));
	c.fd = tcp_connect();
	if (c.fd < 0)
		return -1;
	if (!smtp_mode) {
		rc = start_tls(&c);
		goto out;
	}
	if (cmd(&c, NULL, 220, NULL, 0) < 0 ||
	    cmd(&c, "EHLO bench.test\r\n", 250, NULL, 0) < 0 ||
	    cmd(&c, "STARTTLS\r\n", 220, NULL, 0) < 0 ||
	    start_tls(&c) < 0 ||
	    cmd(&c, "EHLO bench.test\r\n", 250, text, sizeof(text)) < 0)
		goto out;
	if (auth != NULL && cmd(&c, auth_line, 235, NULL, 0) < 0)
		goto out;
	{
		char mail[600], rc_line[600];

		snprintf(mail, sizeof(mail), "MAIL FROM:<%s>\r\n", from);
		snprintf(rc_line, sizeof(rc_line), "RCPT TO:<%s>\r\n", rcpt);
		if (cmd(&c, mail, 250, NULL, 0) < 0 ||
		    cmd(&c, rc_line, 250, NULL, 0) < 0 ||
		    cmd(&c, "DATA\r\n", 354, NULL, 0) < 0 ||
		    conn_write(&c, message, message_len) < 0 ||
		    cmd(&c, NULL, 250, NULL, 0) < 0 ||
		    cmd(&c, "QUIT\r\n", 221, NULL, 0) < 0)
			goto out;
	}
	rc = 0;
out:
	if (c.ssl != NULL) {
		SSL_shutdown(c.ssl);
		SSL_free(c.ssl);
	}
	close(c.fd);
	return rc;
}

static void *
worker(void *arg)
{
	(void)arg;
	while (now() < deadline) {
		if (one_session() == 0)
			atomic_fetch_add(&n_ok, 1);
		else
			atomic_fetch_add(&n_fail, 1);
	}
	return NULL;
}

static void
make_message(void)
{
	size_t cap = body_size + 1024, i;
	char *p;
	int n;

	message = malloc(cap);
	n = snprintf(message, cap, "From: <%s>\r\nTo: <%s>\r\n"
	    "Subject: bench\r\nMessage-ID: <bench@bench.test>\r\n\r\n",
	    from, rcpt);
	p = message + n;
	/* lines of 78 characters + CRLF, then the end marker */
	for (i = 0; i < body_size; i++) {
		size_t col = i % 80;

		if (col == 78)
			*p++ = '\r';
		else if (col == 79)
			*p++ = '\n';
		else
			*p++ = (char)('a' + (i % 26));
	}
	if (body_size % 80 != 0) {
		*p++ = '\r';
		*p++ = '\n';
	}
	memcpy(p, ".\r\n", 3);
	p += 3;
	message_len = (size_t)(p - message);
}

static void
make_auth(void)
{
	char plain[512];
	unsigned char b64[1024];
	const char *colon = strchr(auth, ':');
	size_t ulen, n;

	if (colon == NULL) {
		fprintf(stderr, "tls_load: -a USER:PASS\n");
		exit(2);
	}
	ulen = (size_t)(colon - auth);
	/* RFC 4616: authzid NUL authcid NUL password */
	n = (size_t)snprintf(plain, sizeof(plain), "%c%.*s%c%s", 0,
	    (int)ulen, auth, 0, colon + 1);
	EVP_EncodeBlock(b64, (const unsigned char *)plain, (int)n);
	snprintf(auth_line, sizeof(auth_line), "AUTH PLAIN %s\r\n", b64);
}

int
main(int argc, char **argv)
{
	pthread_t *tids;
	double t0, t1;
	int c, i;

	while ((c = getopt(argc, argv, "h:p:m:c:t:s:a:f:r:")) != -1) {
		switch (c) {
		case 'h': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'm': smtp_mode = strcmp(optarg, "handshake") != 0; break;
		case 'c': threads = atoi(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 's': body_size = (size_t)atol(optarg); break;
		case 'a': auth = optarg; break;
		case 'f': from = optarg; break;
		case 'r': rcpt = optarg; break;
		default:
			fprintf(stderr, "usage: tls_load -p PORT [-m smtp|"
			    "handshake] [-c N] [-t S] [-s BODY] [-a U:P]\n");
			return 2;
		}
	}
	if (port == 0 || threads < 1)
		return 2;
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	/* a full handshake every time, as from many different clients */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	make_message();
	if (auth != NULL)
		make_auth();
	tids = calloc((size_t)threads, sizeof(*tids));
	t0 = now();
	deadline = t0 + seconds;
	for (i = 0; i < threads; i++)
		pthread_create(&tids[i], NULL, worker, NULL);
	for (i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	t1 = now();
	printf("ok=%ld fail=%ld seconds=%.2f rate=%.1f\n", (long)n_ok,
	    (long)n_fail, t1 - t0, (double)n_ok / (t1 - t0));
	SSL_CTX_free(ctx);
	free(message);
	free(tids);
	return n_ok > 0 ? 0 : 1;
}
