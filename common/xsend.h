/*
 * The transport's sender: streams one file to a multicast group, encrypted
 * per packet, paced, with FEC/NAK repair, on a caller-supplied libevent
 * event_base (fleetcast send, later fleetcastd).  The caller learns about
 * receivers and the end of the transfer through callbacks.  It sends from
 * the group's port plus one unless src_port says otherwise, so that
 * receivers answer to a known port (doc/protocol.md, Ports).
 */
#ifndef FC_XSEND_H
#define FC_XSEND_H

#include <stdint.h>

#include "crypto.h"
#include "proto.h"
#include "udp.h"

struct event_base;
struct xsend;

enum xsend_pstate {
	XSP_JOINED,
	XSP_READY,
	XSP_RECEIVING,
	XSP_DONE,
	XSP_FAILED,
	XSP_DROPPED,
};

/* A receiver a server run expects: its id and its own key M_m. */
struct xsend_member {
	uint64_t	 rid;
	uint8_t		 key[AEAD_KEY_LEN];
};

/* PSK mode: receivers taken, first come, when max_receivers is 0. */
#define XSEND_MAX_RECEIVERS	1024

struct xsend_conf {
	const char	*path;		/* file to send */
	struct udp_addr	 group;
	unsigned	 ifindex;	/* 0: the routing table decides */
	int		 mtu;		/* 0: 1500 */
	uint32_t	 k;		/* 0: PROTO_DEF_K */
	uint32_t	 il;		/* 0: PROTO_DEF_I */
	uint64_t	 rate_max;	/* bytes/s ceiling, 0: none (auto) */
	int		 min_receivers;	/* 0: not set */
	int		 max_wait_ms;	/* -1: not set */
	int		 drop_ms;	/* 0: 5000 */
	int		 linger_ms;	/* 0: 300 */
	int		 src_port;	/* 0: group's + 1; -1: ephemeral */
	int		 eject_ms;	/* 0: never refuse a straggler */
	/*
	 * After the first pass, how long unfinished receivers have before
	 * they are failed ("deadline"): 0: the pass's own duration, at least
	 * 30 s; -1: never.
	 */
	int		 deadline_ms;
	uint8_t		 key[AEAD_KEY_LEN];
	/*
	 * Member mode (fleetcastd): the only receivers taken, each with its
	 * own feedback and ACK keys derived from its key (doc/protocol.md,
	 * Keys); copied by xsend_new.  NULL: PSK mode, every receiver's
	 * feedback keyed by key, the first max_receivers (0: 1024) taken.
	 */
	const struct xsend_member *members;
	int		 nmembers;
	int		 max_receivers;
	/*
	 * The file's SHA-256 when the caller knows it (fleetcastd: the
	 * package's): the sender then does not hash the file, announces it
	 * from the start and skips held blocks without reading them.  A
	 * wrong one fails every receiver with a digest mismatch.
	 */
	int		 has_digest;
	uint8_t		 digest[SHA256_LEN];
};

/* How the error of a receiver refused as a straggler begins. */
#define XSEND_STRAGGLER	"fell behind the group"
/* ...and of one still unfinished at the deadline. */
#define XSEND_DEADLINE	"deadline"

struct xsend_peer_info {
	uint64_t		 rid;
	const char		*addr;
	enum xsend_pstate	 state;
	uint64_t		 bytes;
	uint64_t		 repairs;
	const char		*error;
};

struct xsend_stats {
	uint64_t	size;
	uint64_t	first_pass_bytes;	/* file bytes sent once */
	uint64_t	skipped_bytes;		/* first pass: held by all */
	uint64_t	packets;		/* every datagram sent */
	uint64_t	data_packets;		/* first pass */
	uint64_t	repair_packets;		/* parity */
	uint64_t	resend_packets;		/* DATA sent again */
	uint64_t	wire_bytes;
	uint64_t	syscalls;
	double		rate;			/* current, bytes/s */
	double		elapsed;		/* transfer start to last receiver final */
	double		total;			/* since xsend_start */
	double		waited;			/* start to transfer start */
	int		receivers;
	int		done;
	int		failed;
	int		gso;
	uint64_t	drops[PROTO_DROP_MAX];
};

struct xsend_cb {
	void	(*joined)(void *, const struct xsend_peer_info *);
	void	(*ready)(void *, const struct xsend_peer_info *);
	void	(*progress)(void *, const struct xsend_stats *);
	void	(*peer_done)(void *, const struct xsend_peer_info *);
	void	(*peer_dropped)(void *, const struct xsend_peer_info *);
	void	(*finished)(void *, int);
};

struct xsend	*xsend_new(struct event_base *, const struct xsend_conf *,
		     const struct xsend_cb *, void *, char *, size_t);
int		 xsend_start(struct xsend *);
void		 xsend_stop(struct xsend *);
void		 xsend_free(struct xsend *);
void		 xsend_stats(struct xsend *, struct xsend_stats *);
void		 xsend_expect(struct xsend *, int);
void		 xsend_set_rate_max(struct xsend *, uint64_t);
int		 xsend_npeers(struct xsend *);
void		 xsend_peer(struct xsend *, int, struct xsend_peer_info *);
uint64_t	 xsend_session(struct xsend *);
int		 xsend_port(struct xsend *);
const char	*xsend_strpstate(enum xsend_pstate);

#endif
