/*
 * Segment routing: which machines can hear the multicast stream.  The
 * sending interface is the configured one or the first multicast-capable
 * one; the segment is the subnets of that interface (or of the one the
 * routing table picks for the groups).  A machine whose control connection
 * comes from one of those subnets (or from the server's own host) gets its
 * data by multicast, any other by unicast (MISSION.md S8), and the reason
 * is written out so that the run's history says why.  It reads the
 * interfaces and the routing table but holds no state beyond the two
 * interface indexes.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <errno.h>
#include <ifaddrs.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "server.h"

/* An address as text to IPv4 (an IPv4-mapped IPv6 address too) or IPv6. */
static int
segment_parse(const char *s, int *family, uint8_t *a)
{
	static const uint8_t	mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0xff, 0xff };

	if (inet_pton(AF_INET, s, a) == 1) {
		*family = AF_INET;
		return (0);
	}
	if (inet_pton(AF_INET6, s, a) != 1)
		return (-1);
	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		memmove(a, a + 12, 4);
		*family = AF_INET;
	} else
		*family = AF_INET6;
	return (0);
}

static unsigned
segment_prefixlen(const uint8_t *m, size_t len)
{
	unsigned	n = 0;
	size_t		i;
	uint8_t		b;

	for (i = 0; i < len; i++)
		for (b = m[i]; b != 0; b <<= 1)
			n++;
	return (n);
}

/*
 * Is the machine at addr (where its control connection comes from) on the
 * segment the multicast stream is sent to?  It is when the address lies in
 * the subnet of an address of the sending interface; anything else is
 * behind a router, and multicast does not cross routers without multicast
 * routing, so that machine gets the data by unicast (MISSION.md S8).  Every
 * other interface of the server is beside the point: a machine on the
 * subnet of a management interface would never hear the group.  An agent
 * on the server's own host (loopback) hears the looped-back stream.  why
 * receives the reason, which is the machine's path_reason in the run.
 */
int
segment_local(const struct segment *sg, const char *addr, char *why,
    size_t len)
{
	struct ifaddrs	*ifa, *i;
	uint8_t		 a[16];
	const uint8_t	*b, *m;
	char		 ifname[IF_NAMESIZE] = "", host[INET6_ADDRSTRLEN];
	char		 sub[INET6_ADDRSTRLEN + 8];
	size_t		 k, alen;
	int		 family, local = 0, seen = 0;

	sub[0] = '\0';
	if (segment_parse(addr, &family, a) == -1) {
		snprintf(why, len, "multicast: address %s not understood, "
		    "taken as local", addr);
		return (1);
	}
	if ((family == AF_INET && a[0] == 127) || (family == AF_INET6 &&
	    memcmp(a, &in6addr_loopback, 16) == 0)) {
		snprintf(why, len, "multicast: the agent runs on the server's "
		    "own host (%s)", addr);
		return (1);
	}
	if (getifaddrs(&ifa) == -1) {
		snprintf(why, len, "multicast: the server's interfaces are "
		    "unknown (%s), %s taken as local", strerror(errno), addr);
		return (1);
	}
	alen = family == AF_INET ? 4 : 16;
	for (i = ifa; i != NULL && !local; i = i->ifa_next) {
		if (i->ifa_addr == NULL || i->ifa_netmask == NULL ||
		    i->ifa_addr->sa_family != family)
			continue;
		if (sg->seg_ifindex != 0 &&
		    if_nametoindex(i->ifa_name) != sg->seg_ifindex)
			continue;
		if (family == AF_INET) {
			b = (const uint8_t *)&((struct sockaddr_in *)
			    i->ifa_addr)->sin_addr;
			m = (const uint8_t *)&((struct sockaddr_in *)
			    i->ifa_netmask)->sin_addr;
		} else {
			b = ((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr.s6_addr;
			m = ((struct sockaddr_in6 *)
			    i->ifa_netmask)->sin6_addr.s6_addr;
		}
		local = 1;
		for (k = 0; k < alen; k++)
			if ((a[k] & m[k]) != (b[k] & m[k]))
				local = 0;
		/* Name the matching address, else the interface's first. */
		if (local || !seen) {
			seen = 1;
			snprintf(ifname, sizeof(ifname), "%s", i->ifa_name);
			if (inet_ntop(family, b, host, sizeof(host)) == NULL)
				snprintf(host, sizeof(host), "?");
			snprintf(sub, sizeof(sub), "%s/%u", host,
			    segment_prefixlen(m, alen));
		}
	}
	freeifaddrs(ifa);
	if (sg->seg_ifindex == 0) {
		snprintf(why, len, "%s: %s is %son the subnet of any interface "
		    "of the server%s%s%s", local ? "multicast" : "unicast", addr,
		    local ? "" : "not ", local ? " (" : "", local ? sub : "",
		    local ? ")" : "");
		return (local);
	}
	if (local)
		snprintf(why, len, "multicast: %s is on the subnet of the "
		    "sending interface %s (%s)", addr, ifname, sub);
	else if (seen)
		snprintf(why, len, "unicast: %s is not on the subnet of the "
		    "sending interface %s (%s); multicast does not cross "
		    "routers", addr, ifname, sub);
	else
		snprintf(why, len, "unicast: the sending interface has no %s "
		    "address, %s cannot hear its multicast", family ==
		    AF_INET ? "IPv4" : "IPv6", addr);
	return (local);
}

/*
 * The interface whose segment hears the multicast stream: the sending
 * interface, else the one the routing table picks for the groups (learnt
 * by routing a datagram socket to the first group of group_range), else 0:
 * every interface counts.
 */
static unsigned
segment_route(const struct segment *sg, uint32_t group)
{
	struct sockaddr_in	 sin;
	socklen_t		 slen = sizeof(sin);
	struct ifaddrs		*ifa, *i;
	unsigned		 idx = 0;
	int			 fd;

	if (sg->ifindex != 0)
		return (sg->ifindex);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return (0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(group);
	sin.sin_port = htons(9);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) == -1) {
		close(fd);
		return (0);
	}
	close(fd);
	if (getifaddrs(&ifa) == -1)
		return (0);
	for (i = ifa; i != NULL && idx == 0; i = i->ifa_next)
		if (i->ifa_addr != NULL && i->ifa_addr->sa_family == AF_INET &&
		    ((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr ==
		    sin.sin_addr.s_addr)
			idx = if_nametoindex(i->ifa_name);
	freeifaddrs(ifa);
	return (idx);
}

/*
 * The multicast interface: the configured one, else (SPEC.md) the first
 * that is up, multicast-capable and not the loopback; with none of those,
 * the routing table decides.
 */
static unsigned
segment_interface(const struct conf *conf)
{
	struct ifaddrs	*ifa, *i;
	unsigned	 idx = 0;
	const char	*name;

	if ((name = conf_str(conf, "interface")) != NULL)
		return (if_nametoindex(name));
	if (getifaddrs(&ifa) == -1)
		return (0);
	for (i = ifa; i != NULL && idx == 0; i = i->ifa_next)
		if ((i->ifa_flags & (IFF_UP | IFF_MULTICAST)) ==
		    (IFF_UP | IFF_MULTICAST) && !(i->ifa_flags & IFF_LOOPBACK))
			idx = if_nametoindex(i->ifa_name);
	freeifaddrs(ifa);
	return (idx);
}

/*
 * Find the sending interface and the segment once, at start-up: both are
 * logged, since a wrong guess sends machines to the wrong path.
 */
void
segment_init(struct segment *sg, const struct conf *conf, uint32_t group)
{
	sg->ifindex = segment_interface(conf);
	if (sg->ifindex != 0)
		log_info("multicast on interface %s", if_indextoname(
		    sg->ifindex, (char[IF_NAMESIZE]){ 0 }));
	else
		log_info("multicast on the interface the routing table "
		    "chooses");
	sg->seg_ifindex = segment_route(sg, group);
	if (sg->seg_ifindex != sg->ifindex && sg->seg_ifindex != 0)
		log_info("multicast segment: the subnets of %s",
		    if_indextoname(sg->seg_ifindex, (char[IF_NAMESIZE]){ 0 }));
}
