/*
 * The sender's sockets, the bottom of the sender (xsend_int.h): the
 * sockets the sends of this process share, reading the receivers' answers
 * from them and handing each to the send whose session it carries (by the
 * function pointer the send opened the socket with: this file calls
 * nothing above it), the transmit batch (GSO unless FLEETCAST_NO_GSO is
 * set) and sealing and sending one control datagram.
 */
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xmalloc.h"
#include "xsend_int.h"

/*
 * A sender socket, shared by the sends of this process from the same
 * port, address family and interface (fleetcastd runs several at once on
 * its data_port, each to its own group).  Its users are the sends started
 * and not yet finished; the answers go to the one whose session they
 * carry.  One bound to an ephemeral port (port 0) is not shared.
 */
struct xs_sock {
	struct xs_sock		*next;
	struct event_base	*base;
	int			 fd;
	int			 family;
	uint16_t		 port;
	unsigned		 ifindex;
	int			 refs;
	int			 busy;		/* in its callback */
	struct event		*ev;
	struct xsend		**users;
	int			 nusers;
	/* Where a user's answers go: xsend.c's, for every user. */
	void			(*feedback)(struct xsend *,
				    const struct proto_hdr *,
				    const struct udp_addr *);
};

static struct xs_sock	*xs_socks;

/* What nobody's session claims counts as dropped by every user. */
static void
xs_sock_drop(struct xs_sock *k, enum proto_drop why)
{
	int	i;

	for (i = 0; i < k->nusers; i++)
		k->users[i]->drops[why]++;
}

static void
xs_sock_free(struct xs_sock *k)
{
	struct xs_sock	**kp;

	for (kp = &xs_socks; *kp != NULL; kp = &(*kp)->next)
		if (*kp == k) {
			*kp = k->next;
			break;
		}
	event_free(k->ev);
	close(k->fd);
	free(k->users);
	free(k);
}

/*
 * Datagrams to a sender socket.  The users are looked up again for each
 * one: a callback may finish or free a send on the way (a socket without
 * users is freed only once this returns).
 */
static void
xs_sock_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct xs_sock		*k = arg;
	struct xsend		*s;
	struct proto_hdr	 h;
	struct udp_addr		 from;
	enum proto_drop		 why;
	uint8_t			 buf[PROTO_MAX_DGRAM];
	ssize_t			 n;
	int			 budget, i;

	k->busy = 1;
	/*
	 * ICMP errors (IP_RECVERR, set for ENOBUFS: udp_sender_socket) of
	 * ACKs or a unicast session's DATA to a receiver gone: its silence
	 * drops it in time; left queued they would keep the socket ready.
	 */
	(void)udp_drain_errors(k->fd);
	for (budget = 0; budget < 256 && k->nusers > 0; budget++) {
		from.len = sizeof(from.ss);
		n = recvfrom(k->fd, buf, sizeof(buf), MSG_DONTWAIT,
		    (struct sockaddr *)&from.ss, &from.len);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNREFUSED)
				log_warn("xsend: recvfrom");
			break;
		}
		if (proto_decode(buf, (size_t)n, &h, &why) == -1) {
			xs_sock_drop(k, why);
			continue;
		}
		if (h.type != PROTO_HELLO && h.type != PROTO_REPORT &&
		    h.type != PROTO_HELD) {
			xs_sock_drop(k, PROTO_DROP_TYPE);
			continue;
		}
		for (i = 0, s = NULL; i < k->nusers && s == NULL; i++)
			if (k->users[i]->session == h.session)
				s = k->users[i];
		if (s == NULL) {
			xs_sock_drop(k, PROTO_DROP_SESSION);
			continue;
		}
		k->feedback(s, &h, &from);
	}
	k->busy = 0;
	if (k->refs == 0)
		xs_sock_free(k);
}

/*
 * The port receivers answer to: conf->src_port, or by default the group's
 * port plus one (minus one for 65535): the group's port itself is held by
 * receivers on this host.  0: an ephemeral port.
 */
static uint16_t
xs_sock_src_port(const struct xsend_conf *conf)
{
	uint16_t	gp;

	if (conf->src_port > 0 && conf->src_port <= 65535)
		return ((uint16_t)conf->src_port);
	if (conf->src_port < 0)
		return (0);
	gp = ntohs(conf->group.ss.ss_family == AF_INET ?
	    ((const struct sockaddr_in *)&conf->group.ss)->sin_port :
	    ((const struct sockaddr_in6 *)&conf->group.ss)->sin6_port);
	if (gp == 0)
		return (0);
	return (gp == 65535 ? 65534 : gp + 1);
}

/*
 * The socket for a new send: the one of ours on its port, or a new one.
 * When another program holds the port the send goes on from an ephemeral
 * port, with a warning: receivers then answer there, which a firewall
 * opened for the documented port does not let in.  The answers of its
 * users' sessions go to feedback.
 */
struct xs_sock *
xs_sock_open(struct event_base *base, const struct xsend_conf *conf,
    void (*feedback)(struct xsend *, const struct proto_hdr *,
    const struct udp_addr *), char *err, size_t errlen)
{
	struct xs_sock	*k;
	char		 why[256];
	uint16_t	 port = xs_sock_src_port(conf);
	int		 fd;

	for (k = xs_socks; port != 0 && k != NULL; k = k->next)
		if (k->base == base && k->port == port &&
		    k->family == conf->group.ss.ss_family &&
		    k->ifindex == conf->ifindex) {
			k->refs++;
			return (k);
		}
	fd = udp_sender_socket(&conf->group, conf->ifindex, port, why,
	    sizeof(why));
	if (fd == -1 && port != 0) {
		log_warnx("xsend: %s; sending from an ephemeral port instead: "
		    "receivers' answers must be let in there", why);
		port = 0;
		fd = udp_sender_socket(&conf->group, conf->ifindex, 0, why,
		    sizeof(why));
	}
	if (fd == -1) {
		snprintf(err, errlen, "%s", why);
		return (NULL);
	}
	k = xcalloc(1, sizeof(*k));
	k->base = base;
	k->fd = fd;
	k->family = conf->group.ss.ss_family;
	k->port = port;
	k->ifindex = conf->ifindex;
	k->refs = 1;
	k->feedback = feedback;
	if ((k->ev = event_new(base, fd, EV_READ | EV_PERSIST, xs_sock_cb,
	    k)) == NULL)
		fatalx("xsend: event_new failed");
	k->next = xs_socks;
	xs_socks = k;
	return (k);
}

void
xs_sock_attach(struct xs_sock *k, struct xsend *s)
{
	k->users = xreallocarray(k->users, k->nusers + 1, sizeof(*k->users));
	k->users[k->nusers++] = s;
	if (k->nusers == 1)
		event_add(k->ev, NULL);
}

void
xs_sock_detach(struct xs_sock *k, struct xsend *s)
{
	int	i;

	for (i = 0; i < k->nusers; i++)
		if (k->users[i] == s) {
			memmove(k->users + i, k->users + i + 1,
			    sizeof(*k->users) * (k->nusers - i - 1));
			if (--k->nusers == 0)
				event_del(k->ev);
			return;
		}
}

void
xs_sock_release(struct xs_sock *k, struct xsend *s)
{
	xs_sock_detach(k, s);
	if (--k->refs == 0 && !k->busy)
		xs_sock_free(k);
}

/* The port socket k sends from and receivers answer to. */
int
xs_sock_port(struct xs_sock *k)
{
	return (udp_local_port(k->fd));
}

/* A transmit batch to the group on socket k. */
struct udp_tx *
xs_sock_tx(struct xs_sock *k, const struct udp_addr *group)
{
	return (udp_tx_new(k->fd, group, getenv("FLEETCAST_NO_GSO") == NULL));
}

/*
 * Room for a datagram of len bytes in the transmit batch, flushing a full
 * batch first; NULL while the socket takes no more (the caller tries
 * again on the next tick).
 */
uint8_t *
xs_sock_slot(struct xsend *s, size_t len)
{
	uint8_t	*p;

	if ((p = udp_tx_slot(s->tx, len)) != NULL)
		return (p);
	if (udp_tx_flush(s->tx) != 0)
		return (NULL);
	return (udp_tx_slot(s->tx, len));
}

/*
 * Seal a control body with key k (the data key for the group's ANNOUNCE
 * and NCF, an ACK key for one receiver's ACK) and send it to one address.
 */
void
xs_sock_send_ctl(struct xsend *s, struct aead *k, uint8_t type,
    struct wire_w *w, const struct udp_addr *to)
{
	uint8_t		nonce[PROTO_NONCE_LEN];
	ssize_t		n;

	if (w->err)
		fatalx("xsend: control body too long");
	if (++s->seq == UINT64_MAX)
		fatalx("xsend: nonce space exhausted");
	proto_sender_nonce(s->seq, xs_tx_us(s), nonce);
	n = proto_seal(k, type, s->session, nonce, NULL, w->buf, w->len,
	    s->sendbuf, PROTO_MAX_DGRAM);
	if (n == -1)
		fatalx("xsend: seal failed");
	/*
	 * ENOBUFS: the local link is full (udp_tx_flush); a control datagram
	 * lost there is repeated (ANNOUNCE, NCF) or asked for again (ACK),
	 * as when a switch drops it.
	 */
	if (udp_sendto(s->xsock->fd, s->sendbuf, (size_t)n, to) == -1 &&
	    errno != EAGAIN && errno != ENOBUFS)
		log_warn("xsend: sendto");
	s->n_packets++;
	s->n_wire += (uint64_t)n;
}
