/*
 * UDP sockets and batched datagram I/O for the multicast transport.  The
 * expensive part of moving a file over UDP is the per-datagram cost in the
 * kernel, so the sender hands the kernel up to 64 KB "super-packets" with
 * UDP GSO, several per sendmmsg call, and the receiver asks for UDP GRO so
 * that the same super-packets arrive whole through recvmmsg.  When the
 * kernel or the device refuses GSO (EINVAL, EIO), the sender switches to
 * one datagram per message for the rest of the run; GRO needs no fallback
 * because the kernel splits what the socket did not ask for.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/sock_diag.h>
#include <linux/sockios.h>

#include "log.h"
#include "udp.h"
#include "xmalloc.h"

#define UDP_GSO_MAX_BYTES	65000	/* IP total length limit, with room */
#define UDP_GSO_MAX_SEGS	64
#define UDP_TX_MSGS		8
#define UDP_RX_GRO_MSGS		16
#define UDP_RX_GRO_BUF		65536
#define UDP_RX_MSGS		64
#define UDP_RX_BUF		9216
#define UDP_SOCKBUF		(32 * 1024 * 1024)

/*
 * Parse ADDR:PORT, [ADDR6]:PORT or, when port_optional, a bare address.
 * Only numeric addresses: a group is never looked up in DNS.
 */
int
udp_parse(const char *s, struct udp_addr *a, int port_optional, char *err,
    size_t errlen)
{
	struct addrinfo	 hints, *res;
	char		 host[INET6_ADDRSTRLEN + 2];
	const char	*port = NULL, *colon;
	size_t		 hlen;
	long		 pn;
	char		*end;
	int		 rv;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		if ((colon = strchr(s, ']')) == NULL)
			goto bad;
		hlen = colon - s - 1;
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, s + 1, hlen);
		host[hlen] = '\0';
		if (colon[1] == ':')
			port = colon + 2;
		else if (colon[1] != '\0')
			goto bad;
	} else {
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon)
			colon = NULL;	/* a bare IPv6 address */
		hlen = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (hlen >= sizeof(host))
			goto bad;
		memcpy(host, s, hlen);
		host[hlen] = '\0';
		if (colon != NULL)
			port = colon + 1;
	}
	if (port == NULL && !port_optional) {
		snprintf(err, errlen, "'%s': needs ADDR:PORT", s);
		return (-1);
	}
	pn = 0;
	if (port != NULL) {
		errno = 0;
		pn = strtol(port, &end, 10);
		if (*port == '\0' || *end != '\0' || errno != 0 || pn < 1 ||
		    pn > 65535) {
			snprintf(err, errlen, "'%s': port must be 1-65535", s);
			return (-1);
		}
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST;
	hints.ai_socktype = SOCK_DGRAM;
	if ((rv = getaddrinfo(host, NULL, &hints, &res)) != 0)
		goto bad;
	memcpy(&a->ss, res->ai_addr, res->ai_addrlen);
	a->len = res->ai_addrlen;
	freeaddrinfo(res);
	if (a->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a->ss)->sin_port = htons((uint16_t)pn);
	else
		((struct sockaddr_in6 *)&a->ss)->sin6_port =
		    htons((uint16_t)pn);
	return (0);
bad:
	snprintf(err, errlen, "'%s': not a numeric IPv4 or IPv6 address", s);
	return (-1);
}

int
udp_is_multicast(const struct udp_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return (IN_MULTICAST(ntohl(
		    ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr)));
	if (a->ss.ss_family == AF_INET6)
		return (IN6_IS_ADDR_MULTICAST(
		    &((const struct sockaddr_in6 *)&a->ss)->sin6_addr));
	return (0);
}

const char *
udp_ntop(const struct udp_addr *a, char *buf, size_t len)
{
	char	host[INET6_ADDRSTRLEN];

	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)&a->ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)&a->ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else
		snprintf(buf, len, "?");
	return (buf);
}

int
udp_same(const struct udp_addr *a, const struct udp_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return (0);
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss;
		const struct sockaddr_in *y = (const void *)&b->ss;

		return (x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr);
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss;
		const struct sockaddr_in6 *y = (const void *)&b->ss;

		return (x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0);
	}
	return (0);
}

unsigned
udp_ifindex(const char *name)
{
	return (if_nametoindex(name));
}

/* The interface's MTU, or -1. */
int
udp_if_mtu(const char *name)
{
	struct ifreq	ifr;
	int		fd, mtu = -1;

	if (strlen(name) >= sizeof(ifr.ifr_name))
		return (-1);
	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		return (-1);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, SIOCGIFMTU, &ifr) == 0)
		mtu = ifr.ifr_mtu;
	close(fd);
	return (mtu);
}

/*
 * Ask for big socket buffers: a receiver that is descheduled for a few
 * milliseconds must not lose what arrived meanwhile.  As root the FORCE
 * variants pass net.core.[rw]mem_max; otherwise we get what we get.
 */
static void
udp_bufsize(int fd, int opt, int force)
{
	int	v = UDP_SOCKBUF;

	if (setsockopt(fd, SOL_SOCKET, force, &v, sizeof(v)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, opt, &v, sizeof(v));
}

static int
udp_nonblock(int fd)
{
	int	fl;

	if ((fl = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1)
		return (-1);
	return (0);
}

/*
 * The sender's socket, multicasting on the chosen interface with TTL 1
 * and loopback on, so that receivers on the sender's own host work too.
 * Receivers answer to its port: port (a fixed, documented one: see
 * doc/protocol.md, Ports) on the wildcard address, or an ephemeral one
 * when port is 0.  It must not be the data port itself, which receivers
 * on this host hold.  It is bound without SO_REUSEADDR, so that a port
 * another process holds is an error (errno EADDRINUSE) rather than a
 * silent share in which either process could get the other's answers,
 * and it takes no multicast: datagrams to a group on that port are for
 * the receivers that joined it.
 */
int
udp_sender_socket(const struct udp_addr *group, unsigned ifindex,
    uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_storage	any;
	int			fd, one = 1, zero = 0, ttl = 1, e;

	if ((fd = socket(group->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (-1);
	}
	memset(&any, 0, sizeof(any));
	any.ss_family = group->ss.ss_family;
	if (any.ss_family == AF_INET) {
		((struct sockaddr_in *)&any)->sin_port = htons(port);
		(void)setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero,
		    sizeof(zero));
	} else {
		((struct sockaddr_in6 *)&any)->sin6_port = htons(port);
		/* [::]:port alone, not 0.0.0.0:port of IPv4 sends too. */
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero,
		    sizeof(zero));
	}
	if (port != 0 && bind(fd, (struct sockaddr *)&any,
	    group->len) == -1) {
		e = errno;
		snprintf(err, errlen, "UDP port %u: %s", port, strerror(e));
		close(fd);
		errno = e;
		return (-1);
	}
	udp_bufsize(fd, SO_SNDBUF, SO_SNDBUFFORCE);
	udp_bufsize(fd, SO_RCVBUF, SO_RCVBUFFORCE);
	/*
	 * A datagram the local qdisc drops (a tbf or a full device queue on
	 * the sender's own uplink) then fails the send with ENOBUFS instead
	 * of vanishing: udp_tx_flush keeps it and says the link is full,
	 * which is the rate control's most exact signal (xsend_rate.c).
	 * ICMP errors now queue on the socket's error queue, which the
	 * reader drains (udp_drain_errors).
	 */
	if (setsockopt(fd, group->ss.ss_family == AF_INET ? IPPROTO_IP :
	    IPPROTO_IPV6, group->ss.ss_family == AF_INET ? IP_RECVERR :
	    IPV6_RECVERR, &one, sizeof(one)) == -1)
		goto fail;
	if (group->ss.ss_family == AF_INET) {
		struct ip_mreqn	mr;

		memset(&mr, 0, sizeof(mr));
		mr.imr_ifindex = (int)ifindex;
		if (ifindex != 0 && setsockopt(fd, IPPROTO_IP,
		    IP_MULTICAST_IF, &mr, sizeof(mr)) == -1)
			goto fail;
		if (setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl,
		    sizeof(ttl)) == -1 ||
		    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one,
		    sizeof(one)) == -1)
			goto fail;
	} else {
		if (ifindex != 0 && setsockopt(fd, IPPROTO_IPV6,
		    IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) == -1)
			goto fail;
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &ttl,
		    sizeof(ttl)) == -1 ||
		    setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &one,
		    sizeof(one)) == -1)
			goto fail;
	}
	if (udp_nonblock(fd) == -1)
		goto fail;
	return (fd);
fail:
	snprintf(err, errlen, "multicast socket options: %s", strerror(errno));
	close(fd);
	return (-1);
}

/*
 * A receiver's group socket: bound to the group address and port (so that
 * unicast to that port is not mixed in), joined on the interface, with
 * kernel drop counting and GRO when available (*gro says which).  Given a
 * unicast address instead (a scenario's unicast path, MISSION.md S8: the
 * sender sends to this machine's address), it binds the wildcard address
 * on that port and joins nothing, since the address the sender saw may be
 * translated on the way.
 */
int
udp_group_socket(const struct udp_addr *group, unsigned ifindex, int *gro,
    char *err, size_t errlen)
{
	struct group_req	gr;
	struct sockaddr_storage	any;
	int			fd, one = 1, zero = 0, level;

	if ((fd = socket(group->ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC,
	    0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (-1);
	}
	level = group->ss.ss_family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	udp_bufsize(fd, SO_RCVBUF, SO_RCVBUFFORCE);
	if (!udp_is_multicast(group)) {
		memcpy(&any, &group->ss, group->len);
		if (any.ss_family == AF_INET)
			((struct sockaddr_in *)&any)->sin_addr.s_addr =
			    htonl(INADDR_ANY);
		else
			((struct sockaddr_in6 *)&any)->sin6_addr = in6addr_any;
		if (bind(fd, (const struct sockaddr *)&any, group->len) == -1) {
			snprintf(err, errlen, "bind: %s", strerror(errno));
			close(fd);
			return (-1);
		}
		goto joined;
	}
	if (bind(fd, (const struct sockaddr *)&group->ss, group->len) == -1) {
		snprintf(err, errlen, "bind: %s", strerror(errno));
		close(fd);
		return (-1);
	}
	memset(&gr, 0, sizeof(gr));
	gr.gr_interface = ifindex;
	memcpy(&gr.gr_group, &group->ss, group->len);
	if (setsockopt(fd, level, MCAST_JOIN_GROUP, &gr, sizeof(gr)) == -1) {
		snprintf(err, errlen, "join group: %s", strerror(errno));
		close(fd);
		return (-1);
	}
	/* Only the groups this socket joined, not every group of the host. */
	if (group->ss.ss_family == AF_INET)
		(void)setsockopt(fd, IPPROTO_IP, IP_MULTICAST_ALL, &zero,
		    sizeof(zero));
	else
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_ALL, &zero,
		    sizeof(zero));
joined:
	(void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	*gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0;
	if (getenv("FLEETCAST_NO_GRO") != NULL) {
		(void)setsockopt(fd, SOL_UDP, UDP_GRO, &zero, sizeof(zero));
		*gro = 0;
	}
	if (udp_nonblock(fd) == -1)
		goto fail;
	return (fd);
fail:
	snprintf(err, errlen, "group socket options: %s", strerror(errno));
	close(fd);
	return (-1);
}

/* A receiver's unicast socket for HELLO/REPORT and the sender's ACKs. */
int
udp_ctl_socket(int family, char *err, size_t errlen)
{
	int	fd;

	if ((fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (-1);
	}
	if (udp_nonblock(fd) == -1) {
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

/* How full the receive queue is, in per mille of its size; -1 unknown. */
int
udp_queue_permille(int fd)
{
	uint32_t	mem[SK_MEMINFO_VARS];
	socklen_t	len = sizeof(mem);

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == -1 ||
	    len < sizeof(uint32_t) * (SK_MEMINFO_RCVBUF + 1) ||
	    mem[SK_MEMINFO_RCVBUF] == 0)
		return (-1);
	return ((int)((uint64_t)mem[SK_MEMINFO_RMEM_ALLOC] * 1000 /
	    mem[SK_MEMINFO_RCVBUF]));
}

/* The port a socket is bound to, or -1. */
int
udp_local_port(int fd)
{
	struct sockaddr_storage	ss;
	socklen_t		len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return (-1);
	if (ss.ss_family == AF_INET)
		return (ntohs(((struct sockaddr_in *)&ss)->sin_port));
	if (ss.ss_family == AF_INET6)
		return (ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	return (-1);
}

/*
 * Empty a socket's error queue (IP_RECVERR: ICMP errors of what it sent
 * unicast, a receiver gone); returns how many there were.  They say
 * nothing a receiver's silence does not, but while they sit there poll
 * reports the socket ready for ever.
 */
int
udp_drain_errors(int fd)
{
	struct msghdr	msg;
	struct iovec	iov;
	uint8_t		buf[512];
	union {
		char		buf[512];
		struct cmsghdr	align;
	}		ctl;
	int		n = 0;

	for (;;) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = ctl.buf;
		msg.msg_controllen = sizeof(ctl.buf);
		if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) == -1) {
			if (errno == EINTR)
				continue;
			return (n);
		}
		n++;
	}
}

/* Bytes of this socket's datagrams not yet sent by the device; -1. */
int64_t
udp_outq(int fd)
{
	int	n;

	if (ioctl(fd, SIOCOUTQ, &n) == -1)
		return (-1);
	return (n);
}

/*
 * An error the kernel reports for an earlier datagram (an ICMP error
 * noted on the socket with IP_RECVERR), not for the one being sent: the
 * send may simply be tried again.
 */
static int
udp_stale_error(int e)
{
	return (e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH ||
	    e == EHOSTDOWN);
}

int
udp_sendto(int fd, const void *buf, size_t len, const struct udp_addr *to)
{
	int	tries;

	for (tries = 0; tries < 4; tries++) {
		if (sendto(fd, buf, len, 0, (const struct sockaddr *)&to->ss,
		    to->len) != -1)
			return (0);
		if (errno != EINTR && !udp_stale_error(errno))
			return (-1);
	}
	return (-1);
}

/*
 * The transmit batch.  Each message is one contiguous buffer of datagrams
 * of the same size (GSO segment size), the last one possibly shorter; the
 * kernel cuts it into datagrams.  Without GSO each message is one datagram.
 */
struct udp_tx {
	int		 fd;
	struct udp_addr	 to;
	int		 gso;
	int		 nmsg;		/* messages in use */
	int		 sent;		/* messages already handed over */
	uint8_t		*buf[UDP_TX_MSGS * UDP_GSO_MAX_SEGS];
	size_t		 len[UDP_TX_MSGS * UDP_GSO_MAX_SEGS];
	uint16_t	 seg[UDP_TX_MSGS * UDP_GSO_MAX_SEGS];
	uint16_t	 nseg[UDP_TX_MSGS * UDP_GSO_MAX_SEGS];
	int		 closed[UDP_TX_MSGS * UDP_GSO_MAX_SEGS];
	size_t		 slotlen;
	int		 maxmsg;
	uint64_t	 syscalls;
	uint64_t	 accepted;	/* bytes the kernel took */
	uint64_t	 full;		/* sends refused with ENOBUFS */
};

struct udp_tx *
udp_tx_new(int fd, const struct udp_addr *to, int gso)
{
	struct udp_tx	*tx;
	int		 i;

	tx = xcalloc(1, sizeof(*tx));
	tx->fd = fd;
	tx->to = *to;
	tx->gso = gso;
	tx->maxmsg = gso ? UDP_TX_MSGS : UDP_TX_MSGS * UDP_GSO_MAX_SEGS;
	for (i = 0; i < UDP_TX_MSGS * UDP_GSO_MAX_SEGS; i++)
		tx->buf[i] = NULL;
	for (i = 0; i < UDP_TX_MSGS; i++)
		tx->buf[i] = xmalloc(UDP_GSO_MAX_BYTES + 9216);
	return (tx);
}

void
udp_tx_free(struct udp_tx *tx)
{
	int	i;

	if (tx == NULL)
		return;
	for (i = 0; i < UDP_TX_MSGS * UDP_GSO_MAX_SEGS; i++)
		free(tx->buf[i]);
	free(tx);
}

int
udp_tx_gso(const struct udp_tx *tx)
{
	return (tx->gso);
}

uint64_t
udp_tx_syscalls(const struct udp_tx *tx)
{
	return (tx->syscalls);
}

/*
 * What the batch handed over: bytes the kernel took, and sends it refused
 * with ENOBUFS (a full local link), since udp_tx_new.
 */
void
udp_tx_counts(const struct udp_tx *tx, uint64_t *accepted, uint64_t *full)
{
	*accepted = tx->accepted;
	*full = tx->full;
}

int
udp_tx_pending(const struct udp_tx *tx)
{
	return (tx->nmsg - tx->sent);
}

/*
 * Room for one datagram of at most len bytes, or NULL when the batch is
 * full and must be flushed first.  The caller writes it and commits the
 * real length.
 */
uint8_t *
udp_tx_slot(struct udp_tx *tx, size_t len)
{
	int	m;

	if (tx->sent > 0)
		return (NULL);	/* a partial flush is still pending */
	if (tx->gso && tx->nmsg > 0) {
		m = tx->nmsg - 1;
		if (!tx->closed[m] && len <= tx->seg[m] &&
		    tx->nseg[m] < UDP_GSO_MAX_SEGS &&
		    tx->len[m] + tx->seg[m] <= UDP_GSO_MAX_BYTES)
			return (tx->buf[m] + tx->len[m]);
	}
	if (tx->nmsg == tx->maxmsg)
		return (NULL);
	m = tx->nmsg;
	if (tx->buf[m] == NULL)
		tx->buf[m] = xmalloc(9216);
	tx->len[m] = 0;
	tx->seg[m] = 0;
	tx->nseg[m] = 0;
	tx->closed[m] = 0;
	return (tx->buf[m]);
}

void
udp_tx_commit(struct udp_tx *tx, size_t len)
{
	int	m;

	if (tx->gso && tx->nmsg > 0) {
		m = tx->nmsg - 1;
		if (!tx->closed[m] && len <= tx->seg[m] &&
		    tx->nseg[m] < UDP_GSO_MAX_SEGS &&
		    tx->len[m] + tx->seg[m] <= UDP_GSO_MAX_BYTES) {
			tx->len[m] += len;
			tx->nseg[m]++;
			if (len < tx->seg[m])
				tx->closed[m] = 1;
			return;
		}
	}
	m = tx->nmsg++;
	tx->len[m] = len;
	tx->seg[m] = (uint16_t)len;
	tx->nseg[m] = 1;
	tx->closed[m] = !tx->gso;
}

/*
 * The kernel refused GSO: re-queue what is pending as one datagram per
 * message and stay that way for the rest of the run.
 */
static int
udp_tx_ungso(struct udp_tx *tx)
{
	uint8_t	*tmp, *p;
	size_t	 total = 0, off, dl;
	int	 m, s;

	for (m = tx->sent; m < tx->nmsg; m++)
		total += tx->len[m];
	tmp = xmalloc(total + 1);
	p = tmp;
	for (m = tx->sent; m < tx->nmsg; m++) {
		memcpy(p, tx->buf[m], tx->len[m]);
		p += tx->len[m];
	}
	/* Segment sizes survive in seg[]; walk them again. */
	{
		size_t	 n = tx->nmsg - tx->sent, i;
		uint16_t *seg = xreallocarray(NULL, n, sizeof(*seg));
		size_t	*len = xreallocarray(NULL, n, sizeof(*len));

		for (i = 0; i < n; i++) {
			seg[i] = tx->seg[tx->sent + i];
			len[i] = tx->len[tx->sent + i];
		}
		tx->gso = 0;
		tx->maxmsg = UDP_TX_MSGS * UDP_GSO_MAX_SEGS;
		tx->nmsg = 0;
		tx->sent = 0;
		p = tmp;
		for (i = 0; i < n; i++) {
			for (off = 0; off < len[i]; off += dl) {
				dl = len[i] - off < seg[i] ? len[i] - off :
				    seg[i];
				s = tx->nmsg;
				if (s == tx->maxmsg) {
					free(seg);
					free(len);
					free(tmp);
					return (-1);
				}
				if (tx->buf[s] == NULL)
					tx->buf[s] = xmalloc(9216);
				memcpy(tx->buf[s], p + off, dl);
				udp_tx_commit(tx, dl);
			}
			p += len[i];
		}
		free(seg);
		free(len);
	}
	free(tmp);
	return (0);
}

/*
 * Hand the batch to the kernel.  Returns 0 when everything went, 1 when
 * the socket buffer is full (call again when writable), 2 when the local
 * link is (ENOBUFS: the qdisc or the device queue dropped the datagram,
 * which IP_RECVERR reports; it stays in the batch and goes on the next
 * call, so nothing is lost here), -1 on a real error.
 */
int
udp_tx_flush(struct udp_tx *tx)
{
	struct mmsghdr	 msgs[UDP_TX_MSGS * UDP_GSO_MAX_SEGS];
	struct iovec	 iov[UDP_TX_MSGS * UDP_GSO_MAX_SEGS];
	union {
		char		buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr	align;
	} ctl[UDP_TX_MSGS];
	struct cmsghdr	*cm;
	int		 i, n, count, stale = 0;

	while (tx->sent < tx->nmsg) {
		count = tx->nmsg - tx->sent;
		memset(msgs, 0, sizeof(msgs[0]) * count);
		for (i = 0; i < count; i++) {
			int m = tx->sent + i;

			iov[i].iov_base = tx->buf[m];
			iov[i].iov_len = tx->len[m];
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &tx->to.ss;
			msgs[i].msg_hdr.msg_namelen = tx->to.len;
			if (tx->gso && tx->nseg[m] > 1) {
				memset(&ctl[i], 0, sizeof(ctl[i]));
				msgs[i].msg_hdr.msg_control = ctl[i].buf;
				msgs[i].msg_hdr.msg_controllen =
				    sizeof(ctl[i].buf);
				cm = CMSG_FIRSTHDR(&msgs[i].msg_hdr);
				cm->cmsg_level = SOL_UDP;
				cm->cmsg_type = UDP_SEGMENT;
				cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
				memcpy(CMSG_DATA(cm), &tx->seg[m],
				    sizeof(uint16_t));
			}
		}
		tx->syscalls++;
		n = sendmmsg(tx->fd, msgs, (unsigned)count, 0);
		if (n == -1) {
			if (errno == ENOBUFS) {
				tx->full++;
				return (2);
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return (1);
			if (udp_stale_error(errno) && stale++ < 4)
				continue;
			if (tx->gso && (errno == EIO || errno == EINVAL ||
			    errno == ENOPROTOOPT || errno == EOPNOTSUPP)) {
				log_info("udp: GSO refused (%s), sending "
				    "datagrams one by one", strerror(errno));
				if (udp_tx_ungso(tx) == -1)
					return (-1);
				continue;
			}
			if (errno == EINTR)
				continue;
			return (-1);
		}
		for (i = 0; i < n; i++)
			tx->accepted += tx->len[tx->sent + i];
		tx->sent += n;
	}
	tx->nmsg = 0;
	tx->sent = 0;
	return (0);
}

/*
 * The receive batch.  With GRO each message may hold many datagrams of
 * the size the kernel reports in the UDP_GRO control message.
 */
struct udp_rx {
	int			 gro;
	int			 nmsg;
	size_t			 bufsz;
	uint8_t			*mem;
	struct mmsghdr		*msgs;
	struct iovec		*iov;
	struct sockaddr_storage	*from;
	union udp_rx_ctl {
		char		buf[CMSG_SPACE(sizeof(int)) +
				    CMSG_SPACE(sizeof(uint32_t))];
		struct cmsghdr	align;
	}			*ctl;
	int			 got;
	uint32_t		 overflow;
};

struct udp_rx *
udp_rx_new(int gro)
{
	struct udp_rx	*rx;
	int		 i;

	rx = xcalloc(1, sizeof(*rx));
	rx->gro = gro;
	rx->nmsg = gro ? UDP_RX_GRO_MSGS : UDP_RX_MSGS;
	rx->bufsz = gro ? UDP_RX_GRO_BUF : UDP_RX_BUF;
	rx->mem = xreallocarray(NULL, rx->nmsg, rx->bufsz);
	rx->msgs = xcalloc(rx->nmsg, sizeof(*rx->msgs));
	rx->iov = xcalloc(rx->nmsg, sizeof(*rx->iov));
	rx->from = xcalloc(rx->nmsg, sizeof(*rx->from));
	rx->ctl = xcalloc(rx->nmsg, sizeof(*rx->ctl));
	for (i = 0; i < rx->nmsg; i++) {
		rx->iov[i].iov_base = rx->mem + (size_t)i * rx->bufsz;
		rx->iov[i].iov_len = rx->bufsz;
	}
	return (rx);
}

void
udp_rx_free(struct udp_rx *rx)
{
	if (rx == NULL)
		return;
	free(rx->mem);
	free(rx->msgs);
	free(rx->iov);
	free(rx->from);
	free(rx->ctl);
	free(rx);
}

int
udp_rx_gro(const struct udp_rx *rx)
{
	return (rx->gro);
}

uint32_t
udp_rx_overflow(const struct udp_rx *rx)
{
	return (rx->overflow);
}

/* Receive a batch; returns the number of messages, 0 if none, -1 error. */
int
udp_rx_recv(struct udp_rx *rx, int fd)
{
	struct cmsghdr	*cm;
	int		 i, n;

	for (i = 0; i < rx->nmsg; i++) {
		struct msghdr *h = &rx->msgs[i].msg_hdr;

		h->msg_name = &rx->from[i];
		h->msg_namelen = sizeof(rx->from[i]);
		h->msg_iov = &rx->iov[i];
		h->msg_iovlen = 1;
		h->msg_control = rx->ctl[i].buf;
		h->msg_controllen = sizeof(rx->ctl[i].buf);
		h->msg_flags = 0;
	}
	n = recvmmsg(fd, rx->msgs, (unsigned)rx->nmsg, MSG_DONTWAIT, NULL);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return (0);
		return (-1);
	}
	for (i = 0; i < n; i++) {
		struct msghdr *h = &rx->msgs[i].msg_hdr;

		for (cm = CMSG_FIRSTHDR(h); cm != NULL;
		    cm = CMSG_NXTHDR(h, cm)) {
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SO_RXQ_OVFL &&
			    cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t)))
				memcpy(&rx->overflow, CMSG_DATA(cm),
				    sizeof(uint32_t));
		}
	}
	rx->got = n;
	return (n);
}

/*
 * Message i of the last batch: its buffer, total length, datagram size
 * (equal to the length unless GRO merged several) and source.
 */
void
udp_rx_msg(struct udp_rx *rx, int i, uint8_t **buf, size_t *len,
    size_t *seg, struct udp_addr *from)
{
	struct msghdr	*h = &rx->msgs[i].msg_hdr;
	struct cmsghdr	*cm;
	int		 gso = 0;

	*buf = rx->iov[i].iov_base;
	*len = rx->msgs[i].msg_len;
	*seg = *len;
	for (cm = CMSG_FIRSTHDR(h); cm != NULL; cm = CMSG_NXTHDR(h, cm)) {
		if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO &&
		    cm->cmsg_len >= CMSG_LEN(sizeof(int))) {
			memcpy(&gso, CMSG_DATA(cm), sizeof(int));
			if (gso > 0 && (size_t)gso < *len)
				*seg = (size_t)gso;
		}
	}
	if (from != NULL) {
		memcpy(&from->ss, &rx->from[i], sizeof(from->ss));
		from->len = h->msg_namelen;
	}
}
