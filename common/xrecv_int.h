/*
 * The receiver's insides, shared by its three files and by nobody else:
 * xrecv.c holds the state machine, the public API and the receive path
 * (decode, NAK, REPORT); xrecv_join.c finds a sender and locks onto its
 * session (ANNOUNCE before locking, HELLO, the key derivation budget,
 * sizing the session); xrecv_store.c keeps the staging file and the
 * persisted bitmap.  They are layered: the store calls nothing above it,
 * the join code only the store, and neither calls into xrecv.c; what they
 * must tell the fsm goes back as a return value or through r->fail.
 */
#ifndef FC_XRECV_INT_H
#define FC_XRECV_INT_H

#include <stdint.h>

#include "crypto.h"
#include "mono.h"
#include "proto.h"
#include "udp.h"
#include "xrecv.h"

struct event;
struct fec;
struct sha256;

#define XR_RING			8	/* blocks held in memory */
#define XR_POOL			4096	/* parity symbols held */
#define XR_CANDIDATES		4
#define XR_CAND_SRC		4	/* announcing addresses per candidate */
#define XR_SOURCES		32	/* announcing addresses remembered */

enum xrecv_state {
	XR_INIT,
	XR_LISTEN,
	XR_JOINING,
	XR_RECEIVING,
	XR_DONE,
	XR_FINISHED,
	XR_FAILED,
};

/*
 * How a piece below the fsm gives up: the store and the join code call
 * r->fail, which xrecv_new points at xrecv.c's xr_fail (it keeps the first
 * reason and hands XRE_FAIL to xrecv_fsm), so that they never call up.
 */
typedef void	xr_fail_fn(struct xrecv *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/*
 * One address that sent a candidate's authentic ANNOUNCE: each gets its
 * own HELLO and challenge (issue #12 finding 3: the last announcer alone
 * got them, so a replay from a spoofed address took the real sender's
 * place).
 */
struct xr_csrc {
	struct udp_addr		 addr;
	uint64_t		 challenge;
	uint64_t		 hello_at;	/* ms of its last HELLO */
	unsigned		 nhello;	/* sent, none answered */
};

struct xr_cand {
	uint64_t		 session;
	struct aead		*kd;
	struct aead		*kf;
	struct aead		*ka;		/* ACKs */
	struct xr_csrc		 src[XR_CAND_SRC];
	int			 nsrc;
	uint64_t		 hello_at;	/* ms of the last HELLO to any */
	int			 refused;	/* not the expected file */
	struct proto_announce	 ann;
};

/* An address that announced sessions we did not know. */
struct xr_source {
	struct udp_addr		 addr;	/* port 0: one entry per host */
	uint64_t		 last;	/* ms of its last key derivation */
	int			 authentic;	/* it sent an authentic one */
};

struct xr_slot {
	int64_t		 block;
	uint64_t	 used;
	uint8_t		*buf;
};

struct xr_par {
	uint32_t	 group;
	uint32_t	 row;
	int32_t		 next;
	uint8_t		*buf;
};

struct xrecv {
	struct event_base	*base;
	struct xrecv_conf	 conf;
	struct xrecv_cb		 cb;
	void			*arg;
	enum xrecv_state	 state;
	char			 err[PROTO_ERR_MAX + 1];
	xr_fail_fn		*fail;

	int			 gsock;
	int			 csock;
	int			 gro;
	struct udp_rx		*rx;
	struct event		*ev_g;
	struct event		*ev_c;
	struct event		*ev_tick;

	uint64_t		 rid;
	uint32_t		 incarnation;
	uint32_t		 rseq;
	uint64_t		 old_session;	/* from the state file */

	struct xr_cand		 cand[XR_CANDIDATES];
	int			 ncand;
	struct xr_source	 src[XR_SOURCES];
	uint64_t		 derive_sec;
	uint32_t		 derive_n;	/* derivations in derive_sec */

	uint64_t		 session;
	struct aead		*kd;
	struct aead		*kf;
	struct aead		*ka;
	struct udp_addr		 sender;
	struct proto_geom	 geom;
	struct proto_announce	 lock_ann;
	uint8_t			 digest[SHA256_LEN];
	int			 digest_ok;
	uint64_t		 last_heard;

	char			*out;		/* conf.out points here */
	char			*part;
	char			*statepath;
	int			 fd;
	uint8_t			*have;
	uint8_t			*disk;
	uint64_t		 nhave;
	uint64_t		 blocks_done;
	uint8_t			*g_have;
	uint8_t			*g_par;
	uint32_t		*g_seen;
	int32_t			*g_head;
	uint32_t		*g_due;
	uint8_t			*g_inq;
	uint32_t		*g_ncf;
	uint32_t		*g_ncf_ms;
	uint32_t		*b_have;
	uint32_t		*b_rx;		/* first-pass DATA received */
	int8_t			*b_slot;
	uint8_t			*b_inq;
	uint32_t		*b_due;
	uint32_t		*gq;
	uint64_t		 gq_head, gq_len;
	uint32_t		*bq;
	uint64_t		 bq_head, bq_len;
	uint64_t		 passed;		/* blocks passed */
	uint64_t		 live_blocks;
	double			 loss;		/* first-pass loss, average */
	uint8_t			*held_c;	/* HELD chunk worth sending */
	uint64_t		 held_next;	/* round-robin cursor */
	uint64_t		 last_held;	/* ms */
	uint8_t			 ann_state;	/* of the last ANNOUNCE */
	int			 ann_fast;	/* ... it asked for FAST reports */
	uint64_t		 ann_progress;

	struct xr_slot		 ring[XR_RING];
	uint64_t		 stamp;
	struct xr_par		 pool[XR_POOL];
	int32_t			 pool_free;
	struct fec		*fec;
	struct sha256		*sha;
	uint64_t		 hash_next;
	uint8_t			*scratch;
	uint8_t			 symbuf[PROTO_MAX_SYM];	/* not yet authentic */

	uint64_t		 rx_hw_seq;
	uint32_t		 rx_hw_tx_us;	/* its tx_us, echoed in REPORT */
	uint64_t		 rx_hw_at;	/* us when it arrived */
	uint32_t		 rx_packets;	/* of our session, any kind */
	uint64_t		 rx_bytes;	/* their bytes */
	uint32_t		 overflow_base;
	uint32_t		 overflow;
	uint32_t		 overflow_reported;
	int			 queue_pm;
	uint64_t		 t0_ms;
	uint64_t		 last_report;
	uint64_t		 last_persist;
	int			 disk_new;	/* on disk since the last persist */
	uint64_t		 reserved;	/* bytes from 0 claimed (fallocate) */
	uint64_t		 wr_end;	/* end of the furthest write */
	int			 persisted;	/* this session's state written */
	uint64_t		 last_hello;
	uint64_t		 done_since;
	uint64_t		 last_progress;

	uint64_t		 t_start;
	uint64_t		 t_first;
	uint64_t		 t_end;
	uint64_t		 resumed_bytes;
	uint64_t		 received_bytes;
	uint64_t		 n_packets;
	uint64_t		 n_reads;
	uint64_t		 n_loads;
	uint64_t		 n_hashreads;
	uint64_t		 n_dgrams;
	uint64_t		 n_repairs;
	uint64_t		 n_decoded;
	uint64_t		 n_dup;
	uint64_t		 n_naks;
	uint64_t		 n_reports;
	uint64_t		 n_announces;	/* for our file, before locking */
	uint64_t		 n_hellos;
	uint64_t		 drops[PROTO_DROP_MAX];
};

static inline int
xr_bit(const uint8_t *m, uint64_t i)
{
	return ((m[i >> 3] >> (i & 7)) & 1);
}

static inline void
xr_setbit(uint8_t *m, uint64_t i)
{
	m[i >> 3] |= (uint8_t)(1 << (i & 7));
}

/* An authentic sender packet: the highest seq seen, for the REPORT. */
static inline void
xr_saw_seq(struct xrecv *r, const struct proto_hdr *h)
{
	if (h->seq > r->rx_hw_seq) {
		r->rx_hw_seq = h->seq;
		r->rx_hw_tx_us = h->tx_us;
		r->rx_hw_at = mono_us();
	}
}

/* xrecv_join.c: from the first ANNOUNCE to a locked session. */
int		 xr_join_announce(struct xrecv *, const struct proto_hdr *,
		    const struct udp_addr *);
struct xr_cand	*xr_join_cand(struct xrecv *, uint64_t);
int		 xr_join_expire(struct xrecv *, uint64_t);
void		 xr_join_drop_all(struct xrecv *);
int		 xr_join_lock(struct xrecv *, struct xr_cand *,
		    const struct udp_addr *);
int		 xr_join_challenge(const struct xr_cand *, uint64_t);
void		 xr_join_free_session(struct xrecv *);

/* xrecv_store.c: the staging file and the persisted bitmap. */
int		 xr_store_load(struct xrecv *, const struct proto_geom *);
int		 xr_store_open(struct xrecv *);
int		 xr_store_persist(struct xrecv *);
int		 xr_store_writeback(struct xrecv *, struct xr_slot *);
int		 xr_store_reserve_ahead(struct xrecv *);
int		 xr_store_flush(struct xrecv *);
struct xr_slot	*xr_store_block(struct xrecv *, uint64_t);
int		 xr_store_hash(struct xrecv *);
int		 xr_store_finish(struct xrecv *);

#endif
