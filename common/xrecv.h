/*
 * The transport's receiver: joins a multicast group, locks onto one
 * session, writes the file into a staging file with a persisted bitmap (so
 * a killed receiver resumes), repairs losses with FEC and NAKs, verifies
 * the announced SHA-256 (or lets the caller verify the bytes it was handed
 * in file order: the file is hashed once) and renames the file into place.
 * It runs on a caller-supplied libevent event_base (fleetcast receive, the
 * agent).
 */
#ifndef FC_XRECV_H
#define FC_XRECV_H

#include <stdint.h>

#include "crypto.h"
#include "proto.h"
#include "udp.h"

struct event_base;
struct xrecv;

/*
 * What the caller knows of the file decides which senders are taken: a
 * sender announcing another size (or, at the end of its first pass,
 * another SHA-256) is never answered, so that it cannot capture the
 * receiver; max_size bounds what an unknown sender may offer.
 */
struct xrecv_conf {
	struct udp_addr	 group;
	unsigned	 ifindex;
	const char	*out;		/* final path (copied); OUT.fcpart, .fcstate */
	int		 sender_timeout_ms;	/* 0: 15000 */
	uint64_t	 expect_size;	/* 0: not known; else the only size */
	int		 expect_digest;	/* expect_sha256 is set */
	uint8_t		 expect_sha256[SHA256_LEN];
	uint64_t	 max_size;	/* 0: no limit but memory; fails beyond */
	uint8_t		 key[AEAD_KEY_LEN];
	/*
	 * Member mode (the agent, from ASSIGN): our receiver id and our own
	 * key M_m, from which the feedback and ACK keys are derived (the
	 * data key still from key); only a sender announcing MEMBERS is
	 * answered.  rid 0: PSK mode, a random id kept in the state file,
	 * every key from key, a MEMBERS sender refused.
	 */
	uint64_t	 rid;
	uint8_t		 member_key[AEAD_KEY_LEN];
	/*
	 * The only session to take (the agent, from START): an ANNOUNCE of
	 * any other is dropped before a key is derived.  0: any.
	 */
	uint64_t	 session;
};

struct xrecv_stats {
	uint64_t	session;
	uint64_t	size;
	uint64_t	have_bytes;
	uint64_t	resumed_bytes;	/* on disk already at the start */
	uint64_t	received_bytes;	/* payload accepted from the network */
	uint64_t	packets;	/* authentic DATA/REPAIR processed */
	uint64_t	reads;		/* messages from recvmmsg (GRO merges) */
	uint64_t	datagrams;	/* datagrams in them */
	uint64_t	repairs;	/* useful REPAIR or resent DATA */
	uint64_t	decoded;	/* symbols rebuilt from parity */
	uint64_t	duplicates;
	uint64_t	naks;
	uint64_t	reports;
	/* Before locking: the sender's ANNOUNCEs of the expected file
	 * heard, and the HELLOs sent to it (why a join does not happen). */
	uint64_t	announces;
	uint64_t	hellos;
	double		elapsed;	/* since the first data */
	double		total;		/* since xrecv_start */
	int		gro;
	struct udp_addr	sender;		/* len 0 before locking */
	uint64_t	drops[PROTO_DROP_MAX];
};

struct xrecv_cb {
	void	(*locked)(void *, uint64_t, uint64_t);	/* session, size */
	void	(*progress)(void *, const struct xrecv_stats *);
	void	(*finished)(void *, int, const char *);	/* ok, error */
	/*
	 * Optional.  data gets the file's bytes in file order, each byte
	 * once, as blocks complete (from memory while they are hot; blocks
	 * held on disk from before are read back once): offset, bytes,
	 * length.  With check set the receiver does not hash the file itself:
	 * once every byte went to data it asks check (which fills the buffer
	 * with the reason and returns -1 to refuse) before the rename, so
	 * that a caller that must hash the file anyway (the agent: the
	 * package's signed payload digest) hashes it once for both.  The
	 * sender's announced SHA-256 is still compared with expect_sha256.
	 */
	void	(*data)(void *, uint64_t, const uint8_t *, size_t);
	int	(*check)(void *, char *, size_t);
};

struct xrecv	*xrecv_new(struct event_base *, const struct xrecv_conf *,
		     const struct xrecv_cb *, void *, char *, size_t);
int		 xrecv_start(struct xrecv *);
void		 xrecv_stop(struct xrecv *);
void		 xrecv_free(struct xrecv *);
void		 xrecv_stats(struct xrecv *, struct xrecv_stats *);

#endif
