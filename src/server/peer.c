/*
 * peer.c - the client's address as text, and whether it is loopback.
 *
 * Loopback matters for policy (plaintext passwords may be allowed from
 * it, DESIGN.md), so IPv4-mapped IPv6 loopback (::ffff:127.0.0.0/104)
 * counts too.
 */
#include "server/server_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

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
