/*
 * Multicast groups as the scheduler reads and writes them (S9): a
 * scenario's ADDR[:PORT], the server's group_range ADDR/PREFIX from which
 * runs get their groups, and a group as dotted text.  The API's scenarios,
 * the server's configuration and the simulator all read them here.
 */
#include <sys/types.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"

const char *
sched_group_str(uint32_t addr, char *buf, size_t len)
{
	struct in_addr	in;

	in.s_addr = htonl(addr);
	if (inet_ntop(AF_INET, &in, buf, len) == NULL)
		snprintf(buf, len, "?");
	return (buf);
}

/*
 * A scenario's multicast group, ADDR[:PORT] (S9): an IPv4 multicast
 * address outside 224.0.0.0/24, which is reserved for local network
 * control; *port is 0 when none is given.  The API's scenarios and the
 * simulator's both read it here; err names no key (the caller does).
 */
int
sched_group_parse(const char *s, uint32_t *addr, uint16_t *port, char *err,
    size_t errlen)
{
	char		 buf[64], *colon, *end;
	struct in_addr	 in;
	long		 p;
	uint32_t	 a;

	if (strlen(s) >= sizeof(buf))
		goto bad;
	snprintf(buf, sizeof(buf), "%s", s);
	*port = 0;
	if ((colon = strchr(buf, ':')) != NULL) {
		*colon = '\0';
		errno = 0;
		p = strtol(colon + 1, &end, 10);
		if (colon[1] == '\0' || *end != '\0' || errno != 0 || p < 1 ||
		    p > 65535) {
			snprintf(err, errlen, "port '%s' is not 1 to 65535",
			    colon + 1);
			return (-1);
		}
		*port = (uint16_t)p;
	}
	if (inet_pton(AF_INET, buf, &in) != 1)
		goto bad;
	a = ntohl(in.s_addr);
	if ((a & 0xf0000000U) != 0xe0000000U) {
		snprintf(err, errlen, "%s is not a multicast address "
		    "(224.0.0.0/4)", buf);
		return (-1);
	}
	if ((a & 0xffffff00U) == 0xe0000000U) {
		snprintf(err, errlen, "%s is in 224.0.0.0/24, reserved for "
		    "local network control", buf);
		return (-1);
	}
	*addr = a;
	return (0);
bad:
	snprintf(err, errlen, "'%s' is not ADDR[:PORT] with an IPv4 address", s);
	return (-1);
}

/*
 * Parse group_range ("239.192.56.0/24").  The prefix is limited to /16 so
 * that the bitmap of groups in use stays at 8 KiB at most.
 */
int
sched_group_parse_range(const char *s, uint32_t *base, unsigned *prefix,
    char *err, size_t errlen)
{
	char		 addr[INET_ADDRSTRLEN];
	const char	*slash;
	char		*end;
	struct in_addr	 in;
	unsigned long	 p;
	uint32_t	 a, mask;

	if ((slash = strchr(s, '/')) == NULL ||
	    (size_t)(slash - s) >= sizeof(addr)) {
		snprintf(err, errlen, "group_range: \"%s\" is not ADDR/PREFIX",
		    s);
		return (-1);
	}
	memcpy(addr, s, slash - s);
	addr[slash - s] = '\0';
	if (inet_pton(AF_INET, addr, &in) != 1) {
		snprintf(err, errlen, "group_range: \"%s\" is not an IPv4 "
		    "address", addr);
		return (-1);
	}
	p = strtoul(slash + 1, &end, 10);
	if (slash[1] == '\0' || *end != '\0' || p < 16 || p > 32) {
		snprintf(err, errlen, "group_range: prefix \"%s\" must be "
		    "16-32", slash + 1);
		return (-1);
	}
	a = ntohl(in.s_addr);
	mask = p == 32 ? 0xffffffffU : ~(0xffffffffU >> p);
	if ((a & 0xf0000000U) != 0xe0000000U) {
		snprintf(err, errlen, "group_range: %s is not a multicast "
		    "address (224.0.0.0/4)", addr);
		return (-1);
	}
	if ((a & ~mask) != 0) {
		snprintf(err, errlen, "group_range: %s has host bits set for "
		    "/%lu", addr, p);
		return (-1);
	}
	*base = a;
	*prefix = p;
	return (0);
}
