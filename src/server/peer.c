/*
 * peer.c - the client's address as text, whether it is loopback, and
 * the start every protocol shares for an accepted socket.
 *
 * Loopback matters for policy (plaintext passwords may be allowed from
 * it, DESIGN.md), so IPv4-mapped IPv6 loopback (::ffff:127.0.0.0/104)
 * counts too.
 */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <event2/bufferevent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"
#include "server/tls.h"

void
server_peer_addr(const struct sockaddr *sa, char *out, size_t outsize,
    bool *loopback_r)
{
	*loopback_r = false;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)outsize);
		*loopback_r = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)outsize);
		*loopback_r = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		    (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) &&
		    in6->sin6_addr.s6_addr[12] == 127);
	} else {
		snprintf(out, outsize, "unknown");
	}
}

struct bufferevent *
server_accept_open(struct server *srv, int fd, const struct sockaddr *sa,
    bool implicit_tls, const char *proto, const char *reject,
    struct server_peer *p)
{
	struct bufferevent *bev;
	int one = 1;

	server_peer_addr(sa, p->addr, sizeof(p->addr), &p->is_loopback);
	random_hex(p->id, 8);
	if (srv->stopping || !conn_limit_enter(srv->limits, p->addr)) {
		log_warn("%s reject sid=%s peer=%s reason=\"connection "
		    "limit\"", proto, p->id, p->addr);
		/* best effort: the socket is fresh, the line is short (with
		 * implicit TLS the client expects a handshake and only sees
		 * the close) */
		if (!implicit_tls && write(fd, reject, strlen(reject)) < 0)
			log_debug("%s reject write failed peer=%s", proto,
			    p->addr);
		close(fd);
		return NULL;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (implicit_tls)
		bev = tls_accept_fd(srv, fd);	/* closes fd if NULL */
	else if ((bev = bufferevent_socket_new(srv->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		close(fd);
	if (bev == NULL)
		conn_limit_leave(srv->limits, p->addr);
	return bev;
}
