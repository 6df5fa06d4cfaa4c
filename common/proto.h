/*
 * The wire format of the multicast transport: one header with the protocol
 * version, the packet types and their bodies, the file geometry (symbols,
 * blocks, interleaved FEC groups) and the per-session key derivation.  This
 * is the only place that knows byte offsets; doc/protocol.md describes the
 * same thing in prose and changes in the same commit.  Everything is
 * decoded field by field with wire_get_*, never by casting a buffer.
 */
#ifndef FC_PROTO_H
#define FC_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "crypto.h"
#include "wire.h"

/* Bump when anything on the wire changes, and update doc/protocol.md. */
#define PROTO_VERSION		3

#define PROTO_MAGIC0		0x46	/* 'F' */
#define PROTO_MAGIC1		0x43	/* 'C' */
#define PROTO_HDR_LEN		24
#define PROTO_SUB_LEN		8
#define PROTO_TAG_LEN		AEAD_TAG_LEN
#define PROTO_NONCE_LEN		AEAD_NONCE_LEN
/* Header, sub-header and tag around a DATA or REPAIR symbol. */
#define PROTO_SYM_OVERHEAD	(PROTO_HDR_LEN + PROTO_SUB_LEN + PROTO_TAG_LEN)
/* The largest datagram any peer ever builds or accepts. */
#define PROTO_MAX_DGRAM		(8192 + PROTO_SYM_OVERHEAD)

/* Geometry limits, checked on every ANNOUNCE. */
#define PROTO_MAX_SIZE		(1ULL << 48)
#define PROTO_MIN_SYM		512
#define PROTO_MAX_SYM		8192
#define PROTO_MAX_K		128
#define PROTO_MAX_I		255
#define PROTO_DEF_K		64
#define PROTO_DEF_I		48
#define PROTO_GF_ROWS		256	/* GF(2^8): data + parity rows */

#define PROTO_NAK_MAX		100
#define PROTO_NCF_MAX		170
#define PROTO_ERR_MAX		200
#define PROTO_NAK_LEN		11
#define PROTO_ANNOUNCE_LEN	80
#define PROTO_ACK_LEN		22
#define PROTO_HELLO_LEN		12
#define PROTO_REPORT_HDR	72	/* a REPORT without error text or NAKs */
#define PROTO_REPORT_LEN(e, n)	(PROTO_REPORT_HDR + (e) + PROTO_NAK_LEN * (n))
#define PROTO_NCF_LEN(n)	(2 + 8 * (n))
/*
 * HELD: the blocks a resumed receiver holds, in chunks of at most
 * PROTO_HELD_BITS blocks (a 1 KiB bitmap: the datagram fits a 1500-byte
 * MTU), so that the first pass can skip them.
 */
#define PROTO_HELD_BITS		8192
#define PROTO_HELD_HDR		10
#define PROTO_HELD_LEN(n)	(PROTO_HELD_HDR + ((n) + 7) / 8)

enum proto_type {
	PROTO_DATA = 1,
	PROTO_REPAIR = 2,
	PROTO_ANNOUNCE = 3,
	PROTO_NCF = 4,
	PROTO_ACK = 5,
	PROTO_HELLO = 16,
	PROTO_REPORT = 17,
	PROTO_HELD = 18,
};

/* Why a datagram was not used; see the table in doc/protocol.md. */
enum proto_drop {
	PROTO_DROP_SHORT,
	PROTO_DROP_MAGIC,
	PROTO_DROP_VERSION,
	PROTO_DROP_TYPE,
	PROTO_DROP_SESSION,
	PROTO_DROP_NONCE,
	PROTO_DROP_AUTH,
	PROTO_DROP_RANGE,
	PROTO_DROP_STALE,
	PROTO_DROP_EARLY,
	PROTO_DROP_OVERFLOW,
	PROTO_DROP_MEMBER,
	PROTO_DROP_BUDGET,
	PROTO_DROP_MAX
};

enum proto_sstate {
	PROTO_S_WAITING = 0,
	PROTO_S_SENDING = 1,
	PROTO_S_DRAINING = 2,
	PROTO_S_FINISHED = 3,
};

enum proto_rstate {
	PROTO_R_READY = 1,
	PROTO_R_RECEIVING = 2,
	PROTO_R_DONE = 3,
	PROTO_R_FAILED = 4,
};

enum proto_verdict {
	PROTO_ACK_ACCEPTED = 1,
	PROTO_ACK_DONE = 2,
	PROTO_ACK_FAILED = 3,
	PROTO_ACK_REJECTED = 4,
};

/* Why a sender refused a receiver (ACK REJECTED only). */
enum proto_reason {
	PROTO_RJ_NONE = 0,
	PROTO_RJ_FULL = 1,
	PROTO_RJ_STRAGGLER = 2,
	PROTO_RJ_BUDGET = 3,
	PROTO_RJ_DEADLINE = 4,
	PROTO_RJ_FINISHED = 5,
};

enum proto_nak_kind {
	PROTO_NAK_BLOCK = 1,
	PROTO_NAK_GROUP = 2,
};

/* A decoded header; pointers point into the datagram. */
struct proto_hdr {
	uint8_t		 type;
	uint64_t	 session;
	uint8_t		 nonce[PROTO_NONCE_LEN];
	uint32_t	 tx_us;		/* sender packets: send time from nonce */
	uint64_t	 seq;		/* sender packets: counter from nonce */
	uint64_t	 rid;		/* HELLO, REPORT, HELD: receiver id */
	uint64_t	 index;		/* DATA: symbol; REPAIR: group */
	uint32_t	 rseq;		/* REPAIR: repair number */
	const uint8_t	*aad;
	size_t		 aadlen;
	const uint8_t	*ct;
	size_t		 ctlen;
	const uint8_t	*tag;
};

/* The file cut into symbols, blocks and interleaved groups. */
struct proto_geom {
	uint64_t	size;
	uint32_t	sym;		/* S */
	uint32_t	k;
	uint32_t	il;		/* I */
	uint32_t	bsym;		/* symbols per block, k * I */
	uint64_t	nsym;
	uint64_t	nblocks;
	uint64_t	ngroups;
};

struct proto_announce {
	uint64_t	size;
	uint16_t	sym;
	uint16_t	k;
	uint16_t	il;
	uint8_t		state;
	uint8_t		flags;
#define PROTO_AF_DIGEST	0x01
#define PROTO_AF_MEMBERS 0x02	/* feedback keyed per member: no PSK */
#define PROTO_AF_FAST	0x04	/* report every 10 ms */
#define PROTO_AF_ALL	0x07
	uint64_t	progress;
	uint64_t	rate;
	uint16_t	report_ms;
	uint16_t	backoff_ms;
	uint32_t	drop_ms;
	uint32_t	deadline_ms;	/* ms left; UINT32_MAX: not set */
	uint8_t		fec_r;		/* proactive parity per full group */
	uint8_t		phase;		/* rate phase, information only */
	uint8_t		digest[SHA256_LEN];
};

struct proto_ncf_entry {
	uint32_t	group;
	uint32_t	sched;
};

struct proto_ncf {
	uint16_t		n;
	struct proto_ncf_entry	e[PROTO_NCF_MAX];
};

struct proto_ack {
	uint64_t	rid;
	uint32_t	incarnation;
	uint64_t	challenge;
	uint8_t		verdict;
	uint8_t		reason;		/* enum proto_reason */
};

/*
 * The receiver bodies (HELLO, REPORT, HELD) do not carry the receiver id:
 * it is in the sub-header (proto_hdr.rid), in clear so that the sender
 * picks the key before decrypting.  The rid fields below are the caller's
 * (set from the header after decoding, put there by proto_feedback_sub
 * before sealing); the body codecs neither read nor write them.
 */
struct proto_hello {
	uint64_t	rid;
	uint32_t	incarnation;
	uint64_t	challenge;
};

struct proto_nak {
	uint8_t		kind;
	uint32_t	id;
	uint16_t	need;
	uint32_t	seen;
};

struct proto_report {
	uint64_t	rid;
	uint32_t	incarnation;
	uint32_t	rseq;
	uint8_t		state;
	uint8_t		flags;
#define PROTO_RF_QDELAY	0x01	/* qdelay_us is measured */
#define PROTO_RF_EARLY	0x02	/* sent early: overflow or a full queue */
#define PROTO_RF_FEC	0x04	/* need97 and need_max are measured */
#define PROTO_RF_ALL	0x07
	uint16_t	queue_pm;
	uint32_t	rx_us;		/* receiver clock, us mod 2^32 */
	uint64_t	rx_bytes;	/* group bytes that arrived, cumulative */
	uint32_t	rx_packets;	/* sender packets that arrived, mod 2^32 */
	uint64_t	rx_hw_seq;
	uint32_t	echo_tx_us;	/* tx_us of the packet of rx_hw_seq */
	uint32_t	echo_hold_us;	/* its arrival to this REPORT */
	uint32_t	qdelay_us;	/* UINT32_MAX: unknown */
	uint64_t	have_bytes;
	uint32_t	repairs;
	uint32_t	overflow;
	uint16_t	loss_pm;
	uint8_t		need97;		/* 255: unknown */
	uint8_t		need_max;	/* 255: unknown */
	uint16_t	errlen;
	char		err[PROTO_ERR_MAX + 1];
	uint16_t	nnak;
	struct proto_nak nak[PROTO_NAK_MAX];
};

/*
 * Chunk `chunk` of a receiver's held-block bitmap: blocks chunk *
 * PROTO_HELD_BITS + i for bit i (bit i % 8 of byte i / 8), nbits of them
 * (all the blocks of the chunk in the geometry; the sender checks).
 */
struct proto_held {
	uint64_t	rid;
	uint32_t	incarnation;
	uint32_t	chunk;
	uint16_t	nbits;
	uint8_t		bits[PROTO_HELD_BITS / 8];
};

const char	*proto_drop_name(enum proto_drop);
const char	*proto_type_name(uint8_t);
const char	*proto_reason_name(uint8_t);

int	 proto_geom_init(struct proto_geom *, uint64_t, uint32_t, uint32_t,
	    uint32_t);
uint32_t proto_sym_len(const struct proto_geom *, uint64_t);
uint32_t proto_block_nsym(const struct proto_geom *, uint64_t);
uint32_t proto_group_k(const struct proto_geom *, uint64_t);
uint64_t proto_group_sym(const struct proto_geom *, uint64_t, uint32_t);
uint64_t proto_sym_group(const struct proto_geom *, uint64_t);
uint32_t proto_parity_row(uint32_t, uint32_t);
uint32_t proto_sym_size(int, int);
uint64_t proto_held_chunks(const struct proto_geom *);
uint32_t proto_held_nbits(const struct proto_geom *, uint64_t);

/* Key labels (doc/protocol.md, Keys and nonces). */
#define PROTO_K_DATA		"data"
#define PROTO_K_FEEDBACK	"feedback"
#define PROTO_K_ACK		"ack"

int	 proto_derive(const uint8_t [AEAD_KEY_LEN], const char *, uint64_t,
	    uint8_t [AEAD_KEY_LEN]);
int	 proto_derive_keys(const uint8_t [AEAD_KEY_LEN], uint64_t,
	    uint8_t [AEAD_KEY_LEN], uint8_t [AEAD_KEY_LEN],
	    uint8_t [AEAD_KEY_LEN]);
int	 proto_member_key(const uint8_t [AEAD_KEY_LEN], uint64_t, uint64_t,
	    uint8_t [AEAD_KEY_LEN]);
void	 proto_sender_nonce(uint64_t, uint32_t, uint8_t [PROTO_NONCE_LEN]);
int	 proto_is_feedback(uint8_t);
void	 proto_feedback_sub(uint64_t, uint8_t [PROTO_SUB_LEN]);

int	 proto_decode(const uint8_t *, size_t, struct proto_hdr *,
	    enum proto_drop *);
size_t	 proto_put_hdr(uint8_t *, uint8_t, uint64_t,
	    const uint8_t [PROTO_NONCE_LEN]);
ssize_t	 proto_seal(struct aead *, uint8_t, uint64_t,
	    const uint8_t [PROTO_NONCE_LEN], const uint8_t *, const void *,
	    size_t, uint8_t *, size_t);
int	 proto_open(struct aead *, const struct proto_hdr *, void *, size_t);

int	 proto_put_announce(struct wire_w *, const struct proto_announce *);
int	 proto_get_announce(const uint8_t *, size_t, struct proto_announce *);
int	 proto_put_ncf(struct wire_w *, const struct proto_ncf *);
int	 proto_get_ncf(const uint8_t *, size_t, struct proto_ncf *);
int	 proto_put_ack(struct wire_w *, const struct proto_ack *);
int	 proto_get_ack(const uint8_t *, size_t, struct proto_ack *);
int	 proto_put_hello(struct wire_w *, const struct proto_hello *);
int	 proto_get_hello(const uint8_t *, size_t, struct proto_hello *);
int	 proto_put_report(struct wire_w *, const struct proto_report *);
int	 proto_get_report(const uint8_t *, size_t, struct proto_report *);
int	 proto_put_held(struct wire_w *, const struct proto_held *);
int	 proto_get_held(const uint8_t *, size_t, struct proto_held *);

#endif
