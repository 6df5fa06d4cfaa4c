/*
 * The sender's module-private header: the structs of a send and the
 * functions the files of the sender share.  The files are layered, each
 * calling only those below it: xsend.c on top (the state machine, the
 * first pass, announces, the receivers' answers, the API of xsend.h);
 * xsend_rate.c (the rate control, the bottleneck estimate, stragglers),
 * which asks the repairs only whether any are queued; xsend_repair.c
 * (NAKs, parity, resends, proactive FEC); xsend_ring.c (the blocks read
 * lately and the DATA sealed from them); and at the bottom xsend_sock.c
 * (the sockets, the transmit batch, reading answers, which it hands up
 * through the function pointer given to xs_sock_open).  A file's shared
 * functions carry its name (xs_rate_*(), xs_repair_*(), xs_ring_*(),
 * xs_sock_*()).  Nothing outside common/xsend*.c includes this header.
 */
#ifndef FC_XSEND_INT_H
#define FC_XSEND_INT_H

#include <stdint.h>

#include "mono.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xsend.h"

struct event;
struct fec;
struct xs_sock;

#define XS_RING			8	/* blocks kept in memory */
#define XS_OLD_INC		32	/* earlier incarnations remembered */
#define XS_HIST			8	/* control steps of loss history */

#define XS_LOCAL_HIST		64	/* local capacity samples kept */

/*
 * The sender's own uplink as the rate control sees it (xsend_rate.c:
 * xs_rate_local): the transmit batch's counters of bytes the kernel took
 * and of sends refused with ENOBUFS, read every control step, give a
 * capacity sample over each run of at least XS_LOCAL_SPAN of steps that
 * all found the link full.
 */
struct xs_local {
	uint64_t	 full;		/* udp_tx_full at the last step */
	uint64_t	 acc;		/* udp_tx_accepted then */
	uint64_t	 us;		/* when, 0: never */
	uint64_t	 last_full;	/* us of the last step that found it full */
	uint64_t	 run_us;	/* full since then (every step), 0: not */
	uint64_t	 run_acc;	/* accepted bytes then */
	double		 s_bw[XS_LOCAL_HIST];	/* samples, bytes/s */
	uint64_t	 s_us[XS_LOCAL_HIST];
	unsigned	 s_pos;
	uint64_t	 nfull;		/* steps that found it full */
};

enum xsend_state {
	XS_INIT,
	XS_WAITING,
	XS_SENDING,
	XS_DRAINING,
	XS_LINGER,
	XS_FINISHED,
};

/* Where a delivery span began: a receiver's count and clock, ours. */
struct xs_dspan {
	int			 set;
	uint32_t		 pk;		/* REPORT rx_packets */
	uint32_t		 us;		/* REPORT rx_us */
	uint64_t		 ms;		/* our clock */
};

struct xs_peer {
	uint64_t		 rid;
	uint32_t		 incarnation;
	uint32_t		 old_inc[XS_OLD_INC];
	uint32_t		 last_rseq;
	struct udp_addr		 addr;
	char			 name[64];
	enum xsend_pstate	 state;
	uint64_t		 last_heard;	/* ms */
	uint64_t		 bytes;
	uint64_t		 repairs;
	uint32_t		 overflow;
	uint64_t		 hw;		/* rx_hw_seq of the last REPORT */
	uint64_t		 hw_ms;
	double			 drain;		/* bytes/s it processes */
	uint64_t		 lag;		/* bytes sent it has not seen */
	uint16_t		 loss_pm;	/* its first-pass loss */
	uint64_t		 straggle_since;	/* ms, 0: keeps up */
	int			 rx_ok;		/* rx_pk and rx_hw are set */
	uint32_t		 rx_pk;		/* its packet count, last time */
	uint64_t		 rx_hw;		/* its rx_hw_seq then */
	double			 iloss;		/* per mille of all we send */
	int			 j_set;		/* j_pk, j_hw: judging snapshot */
	uint32_t		 j_pk;
	uint64_t		 j_hw;
	uint64_t		 iloss_ms;	/* when iloss was last updated */
	uint64_t		 rx_ms;		/* when rx_pk, rx_hw were set */
	double			 dlv;		/* delivered bytes/s, 1 s max */
	uint64_t		 dlv_ms;	/* when that max was sampled */
	struct xs_dspan		 dv_s;		/* delivery spans' anchors */
	struct xs_dspan		 dv_l;
	double			 dlv_l;		/* delivered, long spans, 1 s max */
	uint64_t		 dlv_l_ms;	/* when that max was sampled */
	int			 member;	/* s->mem index, -1: PSK mode */
	struct aead		*ka;		/* our ACKs to it */
	double			 fb_tokens;	/* feedback rate bucket */
	uint64_t		 fb_us;
	int			 reported;	/* sent a REPORT: counts at the end */
	uint64_t		 join_sym;	/* first pass cursor at its HELLO */
	uint64_t		 nak_cost;	/* packets its NAKs scheduled */
	uint64_t		 lost_pk;	/* packets its counts say it lost */
	uint64_t		 blk_pk;	/* ... its BLOCK NAKs account for */
	int			 nak_over;	/* its repair budget is spent */
	uint64_t		 ovf_at;	/* ms its overflow last rose */
	uint64_t		 ovf_alone;	/* ms since it rises alone, 0 */
	uint32_t		 ovf_base;	/* its counter then */
	int			 refused;	/* we refused it (straggler) */
	uint8_t			 reason;	/* why: enum proto_reason */
	uint8_t			*held_got;	/* HELD chunks folded, per bit */
	char			 err[PROTO_ERR_MAX + 1];
};

/* An expected receiver (member mode): its keys of this session. */
struct xs_member {
	uint64_t		 rid;
	struct aead		*kf;
	struct aead		*ka;
	int			 peer;		/* its slot, -1: none yet */
	double			 fb_tokens;	/* HELLOs before a slot */
	uint64_t		 fb_us;
};

struct xs_slot {
	int64_t		 block;		/* -1: empty */
	uint64_t	 used;		/* LRU stamp */
	uint8_t		*buf;
};

struct xs_fifo {
	uint32_t	*q;
	uint64_t	 cap, head, len;
};

struct xsend {
	struct event_base	*base;
	struct xsend_conf	 conf;
	struct xsend_cb		 cb;
	void			*arg;
	enum xsend_state	 state;

	int			 fd;		/* the file */
	struct xs_sock		*xsock;
	struct udp_tx		*tx;
	struct event		*ev_pace;
	struct event		*ev_ctl;
	struct event		*ev_announce;
	struct event		*ev_linger;

	uint64_t		 session;
	struct aead		*kd;
	struct aead		*kf;
	struct aead		*ka;		/* ACKs (PSK mode) */
	uint64_t		 seq;
	struct proto_geom	 geom;
	struct fec		*fec;

	struct xs_slot		 ring[XS_RING];
	uint64_t		 stamp;
	uint8_t			*pcache;	/* encoded parity, XS_PCACHE */
	uint32_t		*pc_group;
	uint32_t		*pc_rseq;
	uint8_t			*gbuf;		/* one group read alone */
	uint32_t		 gbuf_group;
	uint8_t			*sendbuf;	/* one control datagram */

	struct sha256		*sha;
	uint64_t		 hashed_blocks;
	uint8_t			 digest[SHA256_LEN];
	int			 digest_ok;

	uint64_t		 next_sym;	/* first pass cursor */
	uint8_t			*held;		/* blocks all who said hold */
	uint64_t		 nchunks;	/* HELD chunks of the geometry */
	uint32_t		*g_sched;
	uint32_t		*g_sent;
	uint64_t		*g_last;
	uint8_t			*g_dpend;	/* data resend queued */
	uint8_t			*g_dcur;
	uint64_t		*g_dlast;
	uint32_t		*b_cursor;
	uint64_t		*b_last;
	uint8_t			*b_pending;
	struct xs_fifo		 pq;		/* blocks with group work */
	uint8_t			*b_inpq;
	uint16_t		*b_lane;	/* round-robin cursor */
	struct xs_fifo		 bq;		/* whole blocks */
	uint8_t			*b_resends;	/* whole resends of a block */
	uint64_t		 nak_total;	/* packets all NAKs scheduled */
	uint64_t		 lost_ref;	/* lower median of counted loss */
	int			 turn;
	double			 credit;

	struct proto_ncf	 ncf;
	uint8_t			*ncf_in;

	struct xs_peer		*peers;
	int			 npeers;
	struct xs_member	*mem;		/* sorted by rid */
	int			 nmem;		/* 0: PSK mode */
	int			 max_receivers;	/* PSK mode */
	double			 rj_tokens;	/* refusals' rate bucket */
	uint64_t		 rj_us;

	double			 rate;
	double			 tokens;
	uint64_t		 last_us;
	int			 slow_start;
	double			 ceiling;	/* delivered rate at congestion */
	uint16_t		 loss_floor;	/* loss that is not congestion */
	uint64_t		 bneck_ms;	/* a cut last judged a bottleneck */
	double			 g_dlv;		/* the group's least delivered */
	double			 g_dlv_l;	/* ... over long spans */
	double			 cut_dlv;	/* ... when the last cut was made */
	double			 cut_sent;	/* what got through then (ceiling) */
	double			 loss_slow;	/* slow average of the loss */
	double			 loss_dev;	/* its mean deviation */
	uint64_t		 cut_at;	/* ms of the last cut for loss */
	int			 floor_judged;	/* a cut's judgement set the floor */
	uint16_t		 cut_loss;	/* the loss a cut was made at */
	uint16_t		 cut_floor;	/* the floor before the first */
	uint64_t		 judge_from;	/* ms of the judging snapshot */
	int			 have_rx;	/* receivers count packets */
	uint16_t		 h_loss[XS_HIST];	/* worst loss, per step */
	uint64_t		 h_wire[XS_HIST];	/* bytes sent by then */
	uint64_t		 h_ms[XS_HIST];
	unsigned		 h_pos;
	int			 congested_drop;
	int			 congested_queue;
	uint64_t		 last_decrease;
	uint64_t		 last_progress;
	struct xs_local		 local;
	uint64_t		 n_cut_loss;	/* rate cuts, by cause */
	uint64_t		 n_cut_drop;
	uint64_t		 n_cut_queue;
	uint64_t		 n_cut_local;
	uint64_t		 n_cut_dlv;
	uint64_t		 n_steady;	/* cuts judged a lossy link */
	uint64_t		 n_pace_rate;	/* pacing ticks the rate ended */
	uint64_t		 n_pace_sock;	/* ... a full socket ended */

	uint64_t		 t_start;
	uint64_t		 announce_ms;	/* when the last ANNOUNCE went */
	uint64_t		 t_send;
	uint64_t		 t_quiet;	/* every receiver final */
	uint64_t		 t_deadline;	/* ms; 0: none (yet) */
	uint64_t		 t_pass;	/* ms the first pass ended */
	uint64_t		 t_end;

	uint64_t		 n_packets;
	uint64_t		 n_data;
	uint64_t		 n_repair;
	uint64_t		 n_resend;
	uint64_t		 n_wire;
	uint64_t		 n_loads;
	uint64_t		 n_proactive;
	uint64_t		 n_gloads;
	uint64_t		 n_skipped;	/* bytes */
	uint64_t		 n_skipblocks;
	uint64_t		 drops[PROTO_DROP_MAX];
};

/*
 * The send time every sender nonce carries (doc/protocol.md, Header): us
 * since xsend_start, mod 2^32, for the receivers' echo.
 */
static inline uint32_t
xs_tx_us(const struct xsend *s)
{
	return ((uint32_t)(mono_us() - s->t_start));
}

/* xsend_admit.c: whom the sender listens to, with which key. */
int		 xs_admit_init(struct xsend *, const struct xsend_conf *,
		     char *, size_t);
void		 xs_admit_free(struct xsend *);
struct xs_member *xs_admit_member(struct xsend *, uint64_t);
struct aead	*xs_admit_key(struct xsend *, uint64_t, struct aead **);
int		 xs_admit_rate(struct xsend *, struct xs_peer *, uint64_t,
		     uint64_t);
struct xs_peer	*xs_admit_slot(struct xsend *, uint64_t, uint8_t *);

/*
 * A cut was judged a bottleneck's within XS_BNECK_MS (xsend_rate.c sets
 * bneck_ms): the rate then stays near the slowest delivery, and parity is
 * sized to the link's own loss only (xsend_repair.c).
 */
#define XS_BNECK_MS		3000

static inline int
xs_bneck_recent(const struct xsend *s, uint64_t now_ms)
{
	return (s->bneck_ms != 0 && now_ms - s->bneck_ms < XS_BNECK_MS);
}

/* xsend_rate.c: the rate control, the bottleneck, stragglers. */
void		 xs_rate_init(struct xsend *);
void		 xs_rate_report(struct xsend *, struct xs_peer *,
		     const struct proto_report *);
struct xs_peer	*xs_rate_straggler(struct xsend *, uint64_t);
void		 xs_rate_step(struct xsend *, uint64_t, uint64_t *, double *);
void		 xs_rate_local(struct xs_local *, uint64_t, uint64_t, uint64_t);
double		 xs_rate_local_bw(const struct xs_local *, uint64_t);
double		 xs_rate_local_cap(const struct xs_local *, uint64_t, double);
double		 xs_rate_burst(const struct xsend *, uint64_t);

/* xsend_repair.c: NAKs, parity, resends, proactive FEC. */
void		 xs_repair_init(struct xsend *);
void		 xs_repair_free(struct xsend *);
uint64_t	 xs_repair_pending(const struct xsend *);
int		 xs_repair_emit(struct xsend *);
void		 xs_repair_proactive(struct xsend *, uint64_t);
uint32_t	 xs_repair_fec_r(uint32_t, double);
void		 xs_repair_nak(struct xsend *, struct xs_peer *,
		     const struct proto_nak *, uint64_t);
uint64_t	 xs_repair_budget(const struct xsend *, const struct xs_peer *);
void		 xs_repair_flush_ncf(struct xsend *);

/* xsend_ring.c: the blocks read lately, DATA sealed from them. */
void		 xs_ring_init(struct xsend *);
void		 xs_ring_free(struct xsend *);
uint8_t		*xs_ring_held(struct xsend *, uint64_t);
uint8_t		*xs_ring_block(struct xsend *, uint64_t);
int		 xs_ring_emit_data(struct xsend *, uint64_t);

/* xsend_sock.c: the sockets, the transmit batch, control datagrams. */
struct xs_sock	*xs_sock_open(struct event_base *, const struct xsend_conf *,
		     void (*)(struct xsend *, const struct proto_hdr *,
		     const struct udp_addr *), char *, size_t);
void		 xs_sock_attach(struct xs_sock *, struct xsend *);
void		 xs_sock_detach(struct xs_sock *, struct xsend *);
void		 xs_sock_release(struct xs_sock *, struct xsend *);
struct udp_tx	*xs_sock_tx(struct xs_sock *, const struct udp_addr *);
int		 xs_sock_port(struct xs_sock *);
uint8_t		*xs_sock_slot(struct xsend *, size_t);
void		 xs_sock_send_ctl(struct xsend *, struct aead *, uint8_t,
		     struct wire_w *, const struct udp_addr *);

#endif
