/*
 * UDP sockets for the multicast transport: parsing ADDR:PORT, the sender's
 * and the receiver's sockets, and batched I/O.  Sending goes through
 * sendmmsg and, where the kernel and the device allow it, UDP GSO
 * (UDP_SEGMENT) so that one system call carries hundreds of datagrams;
 * receiving goes through recvmmsg with UDP GRO.  Both fall back to plain
 * datagrams by themselves.  Addresses are sockaddr_storage everywhere so
 * that IPv6 groups work through the same code.
 */
#ifndef FC_UDP_H
#define FC_UDP_H

#include <sys/socket.h>
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

struct udp_addr {
	struct sockaddr_storage	ss;
	socklen_t		len;
};

int	 udp_parse(const char *, struct udp_addr *, int, char *, size_t);
int	 udp_is_multicast(const struct udp_addr *);
const char *udp_ntop(const struct udp_addr *, char *, size_t);
int	 udp_same(const struct udp_addr *, const struct udp_addr *);
unsigned udp_ifindex(const char *);
int	 udp_if_mtu(const char *);

int	 udp_sender_socket(const struct udp_addr *, unsigned, uint16_t,
	    char *, size_t);
int	 udp_local_port(int);
int	 udp_group_socket(const struct udp_addr *, unsigned, int *, char *,
	    size_t);
int	 udp_ctl_socket(int, char *, size_t);
int	 udp_queue_permille(int);
int	 udp_sendto(int, const void *, size_t, const struct udp_addr *);
int	 udp_drain_errors(int);
int64_t	 udp_outq(int);

/* Outgoing batch of datagrams to one destination. */
struct udp_tx;

struct udp_tx	*udp_tx_new(int, const struct udp_addr *, int);
void		 udp_tx_free(struct udp_tx *);
uint8_t		*udp_tx_slot(struct udp_tx *, size_t);
void		 udp_tx_commit(struct udp_tx *, size_t);
int		 udp_tx_pending(const struct udp_tx *);
int		 udp_tx_flush(struct udp_tx *);
int		 udp_tx_gso(const struct udp_tx *);
uint64_t	 udp_tx_syscalls(const struct udp_tx *);
void		 udp_tx_counts(const struct udp_tx *, uint64_t *, uint64_t *);

/* Incoming batch: messages, each one or several (GRO) datagrams. */
struct udp_rx;

struct udp_rx	*udp_rx_new(int);
void		 udp_rx_free(struct udp_rx *);
int		 udp_rx_recv(struct udp_rx *, int);
void		 udp_rx_msg(struct udp_rx *, int, uint8_t **, size_t *,
		     size_t *, struct udp_addr *);
uint32_t	 udp_rx_overflow(const struct udp_rx *);
int		 udp_rx_gro(const struct udp_rx *);

#endif
