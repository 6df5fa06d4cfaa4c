/*
 * The multicast receiver.  It listens for an authentic ANNOUNCE, proves
 * the sender is live with a HELLO challenge before locking onto that
 * session (so replays of old sessions cannot capture it), then decrypts
 * DATA straight into a small ring of block buffers, rebuilds lost symbols
 * from REPAIR parity with ISA-L, and writes whole blocks into the staging
 * file with pwrite.  A bitmap of the symbols on disk is persisted after an
 * fdatasync, so a receiver killed and restarted asks only for what it
 * lacks.  Losses are NAKed after a random back-off unless the sender's NCF
 * shows that enough repairs are already on their way.  The SHA-256 is
 * computed in file order as blocks complete and compared with the one the
 * sender announces before the file is renamed into place.  A receiver
 * that starts with blocks on disk tells the sender which (HELD), so that
 * a new session of the same content does not send them again.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "fec.h"
#include "fsutil.h"
#include "log.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xmalloc.h"
#include "xrecv.h"
#include "mono.h"

#define XR_RING			8	/* blocks held in memory */
#define XR_POOL			4096	/* parity symbols held */
#define XR_CANDIDATES		4
#define XR_SOURCES		32	/* announcing addresses remembered */
#define XR_DERIVE_MS		20	/* per address, between derivations */
#define XR_DERIVE_PER_S		1000	/* all addresses together */
#define XR_TICK_MS		5
#define XR_HELLO_MS		200
#define XR_REPORT_MS		100	/* heartbeat while receiving */
#define XR_RENAK_MS		30
#define XR_NCF_MS		100
#define XR_PERSIST_MS		1000
#define XR_DONE_MS		100
#define XR_DONE_GIVEUP_MS	3000
#define XR_CONGEST_MS		10
#define XR_HELD_WAIT_MS		100	/* HELD again, sender waiting */
#define XR_HELD_MS		1000	/* HELD again, first pass running */
#define XR_HELD_BURST		64	/* HELD chunks sent at once */
#define XR_BUDGET		2048	/* datagrams per wake-up, then timers */
#define XR_STATE_MAGIC		0x46435253U	/* "FCRS" */
#define XR_STATE_VERSION	2	/* 2 added the content digest */
#define XR_STATE_HDR1		36	/* header of version 1 */
#define XR_STATE_HDR		(XR_STATE_HDR1 + SHA256_LEN)
/*
 * Memory a session may take, all of it sized by the sender's geometry
 * (bitmaps and per-group arrays grow with the file, the ring with the
 * block).  A sender asking for more is refused before anything is
 * allocated.  The defaults need 35 MiB for a 1 GiB file at MTU 1500,
 * about 270 MiB for 100 GiB on a 9000-byte MTU.
 */
#define XR_MEM_MAX		(1ULL << 30)

enum xrecv_state {
	XR_INIT,
	XR_LISTEN,
	XR_JOINING,
	XR_RECEIVING,
	XR_DONE,
	XR_FINISHED,
	XR_FAILED,
};

enum xrecv_event {
	XRE_START,
	XRE_CANDIDATE,	/* an authentic ANNOUNCE of a new session */
	XRE_ACCEPTED,	/* the sender answered our challenge */
	XRE_COMPLETE,	/* file verified and in place */
	XRE_ACKED,	/* the sender confirmed our DONE */
	XRE_GIVEUP,	/* DONE never confirmed: stop anyway */
	XRE_FAIL,
};

struct xr_cand {
	uint64_t		 session;
	struct aead		*kd;
	struct aead		*kf;
	struct udp_addr		 addr;
	uint64_t		 challenge;
	uint64_t		 hello_at;
	int			 refused;	/* not the expected file */
	struct proto_announce	 ann;
};

/* An address that announced sessions we did not know. */
struct xr_source {
	struct udp_addr		 addr;	/* port 0: one entry per host */
	uint64_t		 last;	/* ms of its last key derivation */
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
	uint32_t		 rx_packets;	/* of our session, any kind */
	uint32_t		 overflow_base;
	uint32_t		 overflow;
	uint32_t		 overflow_reported;
	int			 queue_pm;
	uint64_t		 t0_ms;
	uint64_t		 last_report;
	uint64_t		 last_persist;
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
	uint64_t		 drops[PROTO_DROP_MAX];
};

static void	xrecv_fsm(struct xrecv *, enum xrecv_event);
static void	xr_fail(struct xrecv *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	xr_send_report(struct xrecv *, int);


static uint64_t
xr_now_ms(void)
{
	return (mono_us() / 1000);
}

/* Milliseconds since start, for the compact per-group timers. */
static uint32_t
xr_ms(struct xrecv *r)
{
	return ((uint32_t)(xr_now_ms() - r->t0_ms));
}

static const char *
xrecv_strstate(enum xrecv_state s)
{
	switch (s) {
	case XR_INIT:
		return ("INIT");
	case XR_LISTEN:
		return ("LISTEN");
	case XR_JOINING:
		return ("JOINING");
	case XR_RECEIVING:
		return ("RECEIVING");
	case XR_DONE:
		return ("DONE");
	case XR_FINISHED:
		return ("FINISHED");
	case XR_FAILED:
		return ("FAILED");
	}
	return ("?");
}

static void
xrecv_set_state(struct xrecv *r, enum xrecv_state ns)
{
	log_debug("xrecv %016" PRIx64 ": %s -> %s", r->session,
	    xrecv_strstate(r->state), xrecv_strstate(ns));
	r->state = ns;
}

static int
xr_bit(const uint8_t *m, uint64_t i)
{
	return ((m[i >> 3] >> (i & 7)) & 1);
}

static void
xr_setbit(uint8_t *m, uint64_t i)
{
	m[i >> 3] |= (uint8_t)(1 << (i & 7));
}

static uint32_t
xr_rand(uint32_t n)
{
	uint32_t	v;

	if (n == 0)
		return (0);
	if (crypto_random(&v, sizeof(v)) == -1)
		v = (uint32_t)mono_us();
	return (v % n);
}

/*
 * The persisted state: header (with the SHA-256 the caller expects of the
 * file, zero when it gave none), bitmap of the symbols on disk, and a
 * SHA-256 over both.  Only symbols written before the fdatasync that
 * precedes this write are in the bitmap.
 */
static int
xr_persist(struct xrecv *r)
{
	struct wire_w	w;
	uint8_t		md[SHA256_LEN];
	size_t		blen = (r->geom.nsym + 7) / 8;
	char		err[256];
	int		rv;

	if (r->fd == -1)
		return (0);
	if (fdatasync(r->fd) == -1) {
		xr_fail(r, "%s: fdatasync: %s", r->part, strerror(errno));
		return (-1);
	}
	wire_w_grow(&w, XR_STATE_HDR + blen + SHA256_LEN);
	wire_put_u32(&w, XR_STATE_MAGIC);
	wire_put_u16(&w, XR_STATE_VERSION);
	wire_put_u64(&w, r->session);
	wire_put_u64(&w, r->rid);
	wire_put_u64(&w, r->geom.size);
	wire_put_u16(&w, (uint16_t)r->geom.sym);
	wire_put_u16(&w, (uint16_t)r->geom.k);
	wire_put_u16(&w, (uint16_t)r->geom.il);
	if (r->conf.expect_digest)
		wire_put_bytes(&w, r->conf.expect_sha256, SHA256_LEN);
	else
		wire_put_bytes(&w, (const uint8_t[SHA256_LEN]){ 0 },
		    SHA256_LEN);
	wire_put_bytes(&w, r->disk, blen);
	sha256(w.buf, w.len, md);
	wire_put_bytes(&w, md, SHA256_LEN);
	rv = atomic_write_file(r->statepath, w.buf, w.len, 0600, err,
	    sizeof(err));
	wire_w_free(&w);
	if (rv == -1) {
		xr_fail(r, "%s", err);
		return (-1);
	}
	r->last_persist = xr_now_ms();
	return (0);
}

/*
 * Read the state file.  With geom NULL only the receiver id and session
 * are taken (at start); otherwise the bitmap too, if everything matches:
 * the session we locked onto, or, when the caller expects a digest and the
 * file was written for the same one, any session with the same geometry
 * (the same content from another sender: the unicast fallback after a
 * multicast transfer, or a sender restarted).  Version 1 files (no
 * digest) still resume the same session.
 */
static int
xr_load_state(struct xrecv *r, const struct proto_geom *geom)
{
	struct wire_r	 rd;
	struct stat	 st;
	uint8_t		*buf, md[SHA256_LEN];
	const uint8_t	*digest = NULL;
	uint32_t	 magic;
	uint16_t	 ver, sym, k, il;
	uint64_t	 session, rid, size;
	size_t		 blen, hdr;
	ssize_t		 n;
	int		 fd, rv = -1, same;

	if ((fd = open(r->statepath, O_RDONLY | O_CLOEXEC)) == -1)
		return (-1);
	if (fstat(fd, &st) == -1 || st.st_size < XR_STATE_HDR1 + SHA256_LEN ||
	    st.st_size > XR_STATE_HDR + SHA256_LEN + (1 << 30) ||
	    (geom != NULL && (uint64_t)st.st_size != XR_STATE_HDR +
	    (geom->nsym + 7) / 8 + SHA256_LEN && (uint64_t)st.st_size !=
	    XR_STATE_HDR1 + (geom->nsym + 7) / 8 + SHA256_LEN)) {
		close(fd);
		return (-1);
	}
	buf = xmalloc((size_t)st.st_size);
	n = read(fd, buf, (size_t)st.st_size);
	close(fd);
	if (n != st.st_size)
		goto out;
	sha256(buf, (size_t)n - SHA256_LEN, md);
	if (memcmp(md, buf + n - SHA256_LEN, SHA256_LEN) != 0)
		goto out;
	wire_r_init(&rd, buf, (size_t)n - SHA256_LEN);
	if (wire_get_u32(&rd, &magic) == -1 || magic != XR_STATE_MAGIC ||
	    wire_get_u16(&rd, &ver) == -1 || (ver != 1 &&
	    ver != XR_STATE_VERSION) ||
	    wire_get_u64(&rd, &session) == -1 ||
	    wire_get_u64(&rd, &rid) == -1 ||
	    wire_get_u64(&rd, &size) == -1 ||
	    wire_get_u16(&rd, &sym) == -1 ||
	    wire_get_u16(&rd, &k) == -1 ||
	    wire_get_u16(&rd, &il) == -1 || rid == 0)
		goto out;
	hdr = XR_STATE_HDR1;
	if (ver >= 2) {
		if (wire_get_ptr(&rd, &digest, SHA256_LEN) == -1)
			goto out;
		hdr = XR_STATE_HDR;
	}
	if (geom == NULL) {
		r->rid = rid;
		r->old_session = session;
		rv = 0;
		goto out;
	}
	blen = (geom->nsym + 7) / 8;
	same = session == r->session || (r->conf.expect_digest &&
	    digest != NULL && memcmp(digest, r->conf.expect_sha256,
	    SHA256_LEN) == 0);
	if (!same || size != geom->size || sym != geom->sym ||
	    k != geom->k || il != geom->il || wire_r_left(&rd) != blen)
		goto out;
	memcpy(r->disk, buf + hdr, blen);
	if (session != r->session)
		log_debug("xrecv %016" PRIx64 ": the state of session %016"
		    PRIx64 " holds the same file: keeping it", r->session,
		    session);
	rv = 0;
out:
	free(buf);
	return (rv);
}

static void
xr_q_group(struct xrecv *r, uint32_t g, uint32_t due)
{
	if (r->g_inq[g])
		return;
	r->g_inq[g] = 1;
	r->g_due[g] = due;
	r->gq[(r->gq_head + r->gq_len) % r->geom.ngroups] = g;
	r->gq_len++;
}

static void
xr_q_block(struct xrecv *r, uint32_t b, uint32_t due)
{
	if (r->b_inq[b])
		return;
	r->b_inq[b] = 1;
	r->b_due[b] = due;
	r->bq[(r->bq_head + r->bq_len) % r->geom.nblocks] = b;
	r->bq_len++;
}

/* Queue the losses of a block that has passed for a NAK. */
static void
xr_block_passed(struct xrecv *r, uint64_t b)
{
	uint32_t	now = xr_ms(r), back = 10, lane;
	uint64_t	g;

	if (r->b_have[b] == proto_block_nsym(&r->geom, b))
		return;
	/* Most of it lost: the block again beats parity for every group. */
	if (r->b_have[b] < proto_block_nsym(&r->geom, b) / 2) {
		xr_q_block(r, (uint32_t)b, now + xr_rand(back));
		return;
	}
	for (lane = 0; lane < r->geom.il; lane++) {
		g = b * r->geom.il + lane;
		if (proto_group_k(&r->geom, g) > r->g_have[g])
			xr_q_group(r, (uint32_t)g, now + xr_rand(back));
	}
}

/*
 * Blocks before upto have been sent once.  With live, because a DATA
 * symbol of a later block arrived: then what is missing of them is first
 * pass loss, averaged for the sender's proactive parity (the first block
 * after joining is left out: a late joiner did not lose its start).
 */
static void
xr_advance_passed(struct xrecv *r, uint64_t upto, int live)
{
	double	miss;
	uint32_t n;

	if (upto > r->geom.nblocks)
		upto = r->geom.nblocks;
	while (r->passed < upto) {
		n = proto_block_nsym(&r->geom, r->passed);
		/*
		 * Whole here and not one symbol of it in the first pass: the
		 * sender skipped it (we said we hold it).  No loss sample.
		 */
		if (live && r->b_have[r->passed] == n &&
		    r->b_rx[r->passed] == 0) {
			xr_block_passed(r, r->passed++);
			continue;
		}
		if (live && r->live_blocks++ > 0 && n > 0) {
			miss = r->b_rx[r->passed] >= n ? 0 :
			    (double)(n - r->b_rx[r->passed]) / n;
			r->loss = r->live_blocks == 2 ? miss :
			    0.8 * r->loss + 0.2 * miss;
		}
		xr_block_passed(r, r->passed++);
	}
}

/* Write symbols of slot sl that are held but not on disk yet. */
static int
xr_writeback(struct xrecv *r, struct xr_slot *sl)
{
	uint64_t	b = (uint64_t)sl->block, first = b * r->geom.bsym;
	uint32_t	n = proto_block_nsym(&r->geom, b), i, j;
	uint64_t	off, end;
	ssize_t		w;
	size_t		len, done;

	for (i = 0; i < n; i = j) {
		if (!xr_bit(r->have, first + i) || xr_bit(r->disk, first + i)) {
			j = i + 1;
			continue;
		}
		for (j = i; j < n && xr_bit(r->have, first + j) &&
		    !xr_bit(r->disk, first + j); j++)
			;
		off = (first + i) * r->geom.sym;
		end = (first + j) * r->geom.sym;
		if (end > r->geom.size)
			end = r->geom.size;
		len = (size_t)(end - off);
		for (done = 0; done < len; done += (size_t)w) {
			w = pwrite(r->fd, sl->buf + (size_t)i * r->geom.sym +
			    done, len - done, (off_t)(off + done));
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0) {
				xr_fail(r, "%s: write: %s", r->part,
				    w == 0 ? "short write" : strerror(errno));
				return (-1);
			}
		}
		/*
		 * Start the write-back now, so that the periodic fdatasync
		 * before a bitmap is persisted has little left to wait for.
		 */
		(void)sync_file_range(r->fd, (off_t)off, (off_t)len,
		    SYNC_FILE_RANGE_WRITE);
		for (; i < j; i++)
			xr_setbit(r->disk, first + i);
	}
	return (0);
}

static int
xr_pread_all(int fd, uint8_t *buf, size_t len, uint64_t off)
{
	size_t	done;
	ssize_t	n;

	for (done = 0; done < len; done += (size_t)n) {
		n = pread(fd, buf + done, len - done, (off_t)(off + done));
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0)
			return (-1);
	}
	return (0);
}

/*
 * The ring slot of block b, loading what is on disk of it when it is not
 * held; the least recently used slot is written back and reused.
 */
static struct xr_slot *
xr_block(struct xrecv *r, uint64_t b)
{
	struct xr_slot	*sl, *victim = NULL;
	size_t		 blen = (size_t)r->geom.bsym * r->geom.sym, want;
	int		 i;

	if (r->b_slot[b] >= 0) {
		sl = &r->ring[r->b_slot[b]];
		sl->used = ++r->stamp;
		return (sl);
	}
	for (i = 0; i < XR_RING; i++) {
		sl = &r->ring[i];
		if (victim == NULL || sl->block < 0 ||
		    (victim->block >= 0 && sl->used < victim->used))
			victim = sl;
	}
	if (victim->block >= 0) {
		if (xr_writeback(r, victim) == -1)
			return (NULL);
		r->b_slot[victim->block] = -1;
	}
	want = blen;
	if (b * blen + want > r->geom.size)
		want = (size_t)(r->geom.size - b * blen);
	if (r->b_have[b] > 0) {
		if (xr_pread_all(r->fd, victim->buf, want, b * blen) == -1) {
			xr_fail(r, "%s: read: %s", r->part, strerror(errno));
			return (NULL);
		}
	}
	if (want < blen)
		memset(victim->buf + want, 0, blen - want);
	victim->block = (int64_t)b;
	victim->used = ++r->stamp;
	r->b_slot[b] = (int8_t)(victim - r->ring);
	if (r->b_have[b] > 0)
		r->n_loads++;
	return (victim);
}

/* Hash complete blocks in file order, from the ring or from disk. */
static int
xr_hash(struct xrecv *r)
{
	size_t		blen = (size_t)r->geom.bsym * r->geom.sym, want, off, n;
	uint64_t	b;

	while (r->hash_next < r->geom.nblocks) {
		b = r->hash_next;
		if (r->b_have[b] != proto_block_nsym(&r->geom, b))
			break;
		want = blen;
		if (b * blen + want > r->geom.size)
			want = (size_t)(r->geom.size - b * blen);
		if (r->b_slot[b] >= 0)
			sha256_update(r->sha, r->ring[r->b_slot[b]].buf, want);
		else {
			r->n_hashreads++;
			for (off = 0; off < want; off += n) {
				n = want - off < (1 << 20) ? want - off :
				    (1 << 20);
				if (xr_pread_all(r->fd, r->scratch, n,
				    b * blen + off) == -1) {
					xr_fail(r, "%s: read: %s", r->part,
					    strerror(errno));
					return (-1);
				}
				sha256_update(r->sha, r->scratch, n);
			}
		}
		r->hash_next++;
	}
	return (0);
}

/* Everything held and hashed: compare, then rename into place. */
static void
xr_try_finish(struct xrecv *r)
{
	uint8_t	md[SHA256_LEN];
	char	hex[2 * SHA256_LEN + 1];
	int	i;

	if (r->state != XR_RECEIVING || r->nhave != r->geom.nsym ||
	    r->hash_next != r->geom.nblocks || !r->digest_ok)
		return;
	for (i = 0; i < XR_RING; i++)
		if (r->ring[i].block >= 0 &&
		    xr_writeback(r, &r->ring[i]) == -1)
			return;
	sha256_final(r->sha, md);
	sha256_free(r->sha);
	r->sha = NULL;
	if (memcmp(md, r->digest, SHA256_LEN) != 0) {
		hex_encode(md, SHA256_LEN, hex);
		(void)unlink(r->part);
		(void)unlink(r->statepath);
		xr_fail(r, "SHA-256 mismatch: got %s", hex);
		return;
	}
	if (fsync(r->fd) == -1) {
		xr_fail(r, "%s: fsync: %s", r->part, strerror(errno));
		return;
	}
	if (xr_persist(r) == -1)
		return;
	if (rename(r->part, r->conf.out) == -1) {
		xr_fail(r, "rename %s to %s: %s", r->part, r->conf.out,
		    strerror(errno));
		return;
	}
	(void)unlink(r->statepath);
	if (fsync_dir(r->conf.out) == -1)
		log_warn("fsync directory of %s", r->conf.out);
	close(r->fd);
	r->fd = -1;
	xrecv_fsm(r, XRE_COMPLETE);
}

static void
xr_block_complete(struct xrecv *r, uint64_t b)
{
	r->blocks_done++;
	if (r->b_slot[b] >= 0 &&
	    xr_writeback(r, &r->ring[r->b_slot[b]]) == -1)
		return;
	if (xr_hash(r) == -1)
		return;
	xr_try_finish(r);
}

static void
xr_par_free_group(struct xrecv *r, uint32_t g)
{
	int32_t	i, next;

	for (i = r->g_head[g]; i != -1; i = next) {
		next = r->pool[i].next;
		r->pool[i].next = r->pool_free;
		r->pool_free = i;
	}
	r->g_head[g] = -1;
	r->g_par[g] = 0;
}

/* Rebuild the missing data symbols of group g from what it holds. */
static void
xr_decode(struct xrecv *r, uint32_t g)
{
	uint32_t	 k = proto_group_k(&r->geom, g), c, n = 0, nmiss = 0;
	uint32_t	 rows[PROTO_MAX_K], miss[PROTO_MAX_K];
	uint8_t		*src[PROTO_MAX_K], *out[PROTO_MAX_K];
	uint64_t	 b = g / r->geom.il, first = b * r->geom.bsym, i;
	struct xr_slot	*sl;
	int32_t		 p;

	if ((sl = xr_block(r, b)) == NULL)
		return;
	for (c = 0; c < k; c++) {
		i = proto_group_sym(&r->geom, g, c);
		if (xr_bit(r->have, i)) {
			if (n < k) {
				rows[n] = c;
				src[n++] = sl->buf + (i - first) * r->geom.sym;
			}
		} else {
			miss[nmiss] = c;
			out[nmiss++] = sl->buf + (i - first) * r->geom.sym;
		}
	}
	for (p = r->g_head[g]; p != -1 && n < k; p = r->pool[p].next) {
		rows[n] = r->pool[p].row;
		src[n++] = r->pool[p].buf;
	}
	if (n < k || nmiss == 0)
		return;
	if (fec_decode(r->fec, k, rows, src, nmiss, miss, out,
	    r->geom.sym) == -1) {
		log_warnx("xrecv %016" PRIx64 ": group %u: decode failed",
		    r->session, g);
		xr_par_free_group(r, g);
		return;
	}
	xr_par_free_group(r, g);
	for (c = 0; c < nmiss; c++) {
		i = proto_group_sym(&r->geom, g, miss[c]);
		xr_setbit(r->have, i);
		r->nhave++;
		r->b_have[b]++;
		r->g_have[g]++;
		r->n_decoded++;
	}
	if (r->b_have[b] == proto_block_nsym(&r->geom, b))
		xr_block_complete(r, b);
}

/*
 * A DATA symbol.  Nothing is touched before the packet is authentic: no
 * ring slot is loaded or evicted, no block counts as passed, no NAK is
 * scheduled (review finding 5: forged DATA far ahead made receivers NAK
 * thousands of blocks and churn their ring).  When the symbol's block is
 * in the ring already, the symbol is decrypted in place, since the space
 * of a symbol we do not hold is not state; otherwise (the first symbol of
 * each new block) it goes through the scratch symbol first.
 */
static void
xr_data(struct xrecv *r, const struct proto_hdr *h)
{
	uint64_t	 i = h->index, b, g;
	uint32_t	 len;
	struct xr_slot	*sl;
	uint8_t		*dst;
	size_t		 off;
	int		 resend, held;

	if (i >= r->geom.nsym || h->ctlen != (len = proto_sym_len(&r->geom,
	    i))) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	b = i / r->geom.bsym;
	off = (size_t)(i % r->geom.bsym) * r->geom.sym;
	resend = b < r->passed;
	held = xr_bit(r->have, i);
	/* A resent symbol we hold teaches us nothing: not worth a decrypt. */
	if (held && resend) {
		r->n_dup++;
		return;
	}
	if (!held && r->b_slot[b] >= 0)
		dst = r->ring[r->b_slot[b]].buf + off;
	else
		dst = r->symbuf;
	if (proto_open(r->kd, h, dst, r->geom.sym) == -1) {
		r->drops[PROTO_DROP_AUTH]++;
		return;
	}
	if (h->seq > r->rx_hw_seq)
		r->rx_hw_seq = h->seq;
	r->last_heard = xr_now_ms();
	if (!resend) {
		xr_advance_passed(r, b, 1);
		/* Held already (resumed) counts as arrived: it is not loss. */
		r->b_rx[b]++;
	}
	if (held) {
		r->n_dup++;
		return;
	}
	if ((sl = xr_block(r, b)) == NULL)
		return;
	if (dst == r->symbuf) {
		dst = sl->buf + off;
		memcpy(dst, r->symbuf, len);
	}
	if (len < r->geom.sym)
		memset(dst + len, 0, r->geom.sym - len);
	if (r->t_first == 0)
		r->t_first = mono_us();
	r->n_packets++;
	r->received_bytes += len;
	if (resend)
		r->n_repairs++;
	xr_setbit(r->have, i);
	r->nhave++;
	r->b_have[b]++;
	g = proto_sym_group(&r->geom, i);
	r->g_have[g]++;
	if (r->g_have[g] < proto_group_k(&r->geom, g) &&
	    r->g_have[g] + r->g_par[g] >= proto_group_k(&r->geom, g))
		xr_decode(r, (uint32_t)g);
	else if (r->g_par[g] > 0 &&
	    r->g_have[g] == proto_group_k(&r->geom, g))
		xr_par_free_group(r, (uint32_t)g);
	if (r->state == XR_RECEIVING &&
	    r->b_have[b] == proto_block_nsym(&r->geom, b))
		xr_block_complete(r, b);
}

/*
 * The parity pool is full: the group whose parity should make room, the
 * one furthest from decoding, unless that is the group this parity is for
 * (UINT32_MAX: none).  Without this, groups that each hold some parity
 * and wait for more could fill the pool and never complete.  It only
 * chooses: the caller frees the victim once the new parity is authentic.
 */
static uint32_t
xr_pool_victim(struct xrecv *r, uint32_t g, uint32_t k)
{
	uint32_t	victim = UINT32_MAX, vg, need, worst = 0;
	int		i;

	for (i = 0; i < XR_POOL; i++) {
		vg = r->pool[i].group;
		need = proto_group_k(&r->geom, vg) - r->g_have[vg] -
		    r->g_par[vg];
		if (victim == UINT32_MAX || need > worst) {
			victim = vg;
			worst = need;
		}
	}
	if (victim == UINT32_MAX || victim == g ||
	    worst < k - r->g_have[g] - r->g_par[g])
		return (UINT32_MAX);
	return (victim);
}

/*
 * A REPAIR symbol.  As for DATA, nothing changes before it is authentic:
 * it is decrypted into a free pool entry (not linked anywhere until then)
 * or, with the pool full, into the scratch symbol, and only then does the
 * victim group lose its parity.
 */
static void
xr_repair(struct xrecv *r, const struct proto_hdr *h)
{
	uint64_t	g = h->index;
	uint32_t	k, row, victim = UINT32_MAX;
	uint8_t		*dst;
	int32_t		p;

	if (g >= r->geom.ngroups || (k = proto_group_k(&r->geom, g)) == 0 ||
	    h->ctlen != r->geom.sym) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	if (r->g_have[g] + r->g_par[g] >= k) {
		r->n_dup++;
		return;
	}
	row = proto_parity_row(k, h->rseq);
	for (p = r->g_head[g]; p != -1; p = r->pool[p].next)
		if (r->pool[p].row == row) {
			r->n_dup++;
			return;
		}
	if (r->pool_free == -1) {
		if ((victim = xr_pool_victim(r, (uint32_t)g, k)) ==
		    UINT32_MAX) {
			r->n_dup++;	/* it will be asked for again */
			return;
		}
		dst = r->symbuf;
	} else
		dst = r->pool[r->pool_free].buf;
	if (proto_open(r->kd, h, dst, r->geom.sym) == -1) {
		r->drops[PROTO_DROP_AUTH]++;
		return;
	}
	if (victim != UINT32_MAX) {
		xr_par_free_group(r, victim);
		memcpy(r->pool[r->pool_free].buf, r->symbuf, r->geom.sym);
	}
	p = r->pool_free;
	if (h->seq > r->rx_hw_seq)
		r->rx_hw_seq = h->seq;
	r->last_heard = xr_now_ms();
	r->pool_free = r->pool[p].next;
	r->pool[p].group = (uint32_t)g;
	r->pool[p].row = row;
	r->pool[p].next = r->g_head[g];
	r->g_head[g] = p;
	r->g_par[g]++;
	if (h->rseq + 1 > r->g_seen[g])
		r->g_seen[g] = h->rseq + 1;
	r->n_packets++;
	r->n_repairs++;
	if (r->g_have[g] + r->g_par[g] >= k)
		xr_decode(r, (uint32_t)g);
}

static void
xr_ncf(struct xrecv *r, const struct proto_ncf *n)
{
	uint32_t	now = xr_ms(r);
	uint16_t	i;

	for (i = 0; i < n->n; i++) {
		if (n->e[i].group >= r->geom.ngroups)
			continue;
		r->g_ncf[n->e[i].group] = n->e[i].sched;
		r->g_ncf_ms[n->e[i].group] = now;
	}
}

static void
xr_announce_locked(struct xrecv *r, const struct proto_announce *a)
{
	if (a->size != r->geom.size || a->sym != r->geom.sym ||
	    a->k != r->geom.k || a->il != r->geom.il) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	if ((a->flags & PROTO_AF_DIGEST) && !r->digest_ok) {
		memcpy(r->digest, a->digest, SHA256_LEN);
		r->digest_ok = 1;
	} else if ((a->flags & PROTO_AF_DIGEST) &&
	    memcmp(a->digest, r->digest, SHA256_LEN) != 0) {
		xr_fail(r, "the sender's SHA-256 is not the expected one");
		return;
	}
	r->ann_state = a->state;
	if (a->progress <= r->geom.nsym && a->progress > r->ann_progress)
		r->ann_progress = a->progress;
	if (a->progress <= r->geom.nsym) {
		if (a->progress == r->geom.nsym)
			xr_advance_passed(r, r->geom.nblocks, 0);
		else
			xr_advance_passed(r, a->progress / r->geom.bsym, 0);
	}
	xr_try_finish(r);
	if (a->state == PROTO_S_FINISHED && r->state == XR_RECEIVING)
		xr_fail(r, "the sender finished before the file was "
		    "complete (%" PRIu64 " of %" PRIu64 " bytes)",
		    r->nhave * r->geom.sym > r->geom.size ? r->geom.size :
		    r->nhave * r->geom.sym, r->geom.size);
}

/* Send HELLO with a fresh challenge to a candidate sender. */
static void
xr_hello(struct xrecv *r, struct xr_cand *c)
{
	struct proto_hello	h;
	struct wire_w		w;
	uint8_t			body[32], nonce[PROTO_NONCE_LEN];
	uint8_t			dgram[PROTO_HDR_LEN + 32 + PROTO_TAG_LEN];
	ssize_t			n;

	if (crypto_random(&c->challenge, sizeof(c->challenge)) == -1 ||
	    crypto_random(nonce, sizeof(nonce)) == -1)
		fatalx("xrecv: no randomness");
	h.rid = r->rid;
	h.incarnation = r->incarnation;
	h.challenge = c->challenge;
	wire_w_fixed(&w, body, sizeof(body));
	proto_put_hello(&w, &h);
	n = proto_seal(c->kf, PROTO_HELLO, c->session, nonce, NULL, body,
	    w.len, dgram, sizeof(dgram));
	if (n == -1)
		fatalx("xrecv: seal failed");
	if (udp_sendto(r->csock, dgram, (size_t)n, &c->addr) == -1)
		log_warn("xrecv: sendto");
	c->hello_at = xr_now_ms();
}

static void
xr_cand_free(struct xr_cand *c)
{
	aead_free(c->kd);
	aead_free(c->kf);
	memset(c, 0, sizeof(*c));
}

/*
 * Whether an ANNOUNCE of an unknown session from this address may cost a
 * key derivation (about 10 us).  Each address gets one every
 * XR_DERIVE_MS, so that a flood of announces with random sessions from
 * one address cannot keep the real sender's out (review finding 9: one
 * limiter shared by everybody let the real sender through about once in
 * twenty announces under a 1 ms flood, less under a faster one); all
 * addresses together get XR_DERIVE_PER_S, which bounds the CPU a flood
 * from many forged addresses can take.  The table is small: the address
 * that derived least recently makes room for a new one.
 */
static int
xr_may_derive(struct xrecv *r, const struct udp_addr *from, uint64_t now)
{
	struct xr_source	*s = NULL, *lru = NULL;
	struct udp_addr		 a = *from;
	int			 i;

	if (a.ss.ss_family == AF_INET)
		((struct sockaddr_in *)&a.ss)->sin_port = 0;
	else if (a.ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&a.ss)->sin6_port = 0;
	if (now / 1000 != r->derive_sec) {
		r->derive_sec = now / 1000;
		r->derive_n = 0;
	}
	for (i = 0; i < XR_SOURCES && s == NULL; i++) {
		if (r->src[i].addr.len != 0 && udp_same(&r->src[i].addr, &a))
			s = &r->src[i];
		else if (lru == NULL || r->src[i].last < lru->last)
			lru = &r->src[i];
	}
	if (s != NULL && now - s->last < XR_DERIVE_MS)
		return (0);
	if (r->derive_n >= XR_DERIVE_PER_S)
		return (0);
	if (s == NULL) {
		s = lru;
		s->addr = a;
	}
	s->last = now;
	r->derive_n++;
	return (1);
}

/* An ANNOUNCE before we are locked: maybe a new candidate session. */
static void
xr_announce_listen(struct xrecv *r, const struct proto_hdr *h,
    const struct udp_addr *from)
{
	struct proto_announce	 a;
	struct proto_geom	 geom;
	struct xr_cand		*c = NULL;
	struct aead		*akd, *akf;
	uint8_t			 kd[AEAD_KEY_LEN], kf[AEAD_KEY_LEN];
	uint8_t			 plain[PROTO_ANNOUNCE_LEN];
	uint64_t		 now = xr_now_ms();
	int			 i;

	/*
	 * An ANNOUNCE has one size.  Anything else is refused before keys
	 * are derived or anything is decrypted: its length comes from the
	 * network and may be far larger than the body (finding 1 of the
	 * security review: 9 KB here overflowed plain).
	 */
	if (h->ctlen != PROTO_ANNOUNCE_LEN) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	for (i = 0; i < r->ncand; i++)
		if (r->cand[i].session == h->session)
			c = &r->cand[i];
	if (c == NULL) {
		if (!xr_may_derive(r, from, now)) {
			r->drops[PROTO_DROP_SESSION]++;
			return;
		}
		if (proto_derive_keys(r->conf.key, h->session, kd, kf) == -1)
			fatalx("xrecv: key derivation failed");
		akd = aead_new(kd);
		akf = aead_new(kf);
		explicit_bzero(kd, sizeof(kd));
		explicit_bzero(kf, sizeof(kf));
		if (proto_open(akd, h, plain, sizeof(plain)) == -1) {
			r->drops[PROTO_DROP_AUTH]++;
			aead_free(akd);
			aead_free(akf);
			return;
		}
		/*
		 * Only an authentic announce makes room, preferably by
		 * forgetting a session that is not the expected file.
		 */
		if (r->ncand == XR_CANDIDATES) {
			for (i = 0; i < XR_CANDIDATES; i++)
				if (r->cand[i].refused)
					break;
			if (i == XR_CANDIDATES)
				i = 0;	/* the oldest */
			xr_cand_free(&r->cand[i]);
			memmove(&r->cand[i], &r->cand[i + 1],
			    sizeof(r->cand[0]) * (XR_CANDIDATES - 1 - i));
			memset(&r->cand[XR_CANDIDATES - 1], 0,
			    sizeof(r->cand[0]));
			r->ncand--;
		}
		c = &r->cand[r->ncand++];
		c->kd = akd;
		c->kf = akf;
		c->session = h->session;
	} else if (proto_open(c->kd, h, plain, sizeof(plain)) == -1) {
		r->drops[PROTO_DROP_AUTH]++;
		return;
	}
	if (proto_get_announce(plain, h->ctlen, &a) == -1 ||
	    proto_geom_init(&geom, a.size, a.sym, a.k, a.il) == -1) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	/*
	 * Not the file we are waiting for (review finding 8: anyone with
	 * the key could offer 2^48 bytes and have them allocated): never
	 * answered, so never locked onto.
	 */
	if ((r->conf.expect_size != 0 && a.size != r->conf.expect_size) ||
	    (r->conf.expect_digest && (a.flags & PROTO_AF_DIGEST) &&
	    memcmp(a.digest, r->conf.expect_sha256, SHA256_LEN) != 0)) {
		if (!c->refused)
			log_debug("xrecv: session %016" PRIx64 " offers %"
			    PRIu64 " bytes, not the expected file: ignored",
			    c->session, a.size);
		c->refused = 1;
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	if (a.state == PROTO_S_FINISHED)
		return;
	c->ann = a;
	c->addr = *from;
	/* Prefer the session we were receiving before a restart. */
	if (r->state == XR_JOINING && c->session != r->old_session &&
	    now - c->hello_at < XR_HELLO_MS)
		return;
	if (now - c->hello_at >= XR_HELLO_MS) {
		xr_hello(r, c);
		if (r->state == XR_LISTEN)
			xrecv_fsm(r, XRE_CANDIDATE);
	}
}

static void
xr_free_session(struct xrecv *r)
{
	int	i;

	free(r->have);
	free(r->disk);
	free(r->g_have);
	free(r->g_par);
	free(r->g_seen);
	free(r->g_head);
	free(r->g_due);
	free(r->g_inq);
	free(r->g_ncf);
	free(r->g_ncf_ms);
	free(r->b_have);
	free(r->b_rx);
	free(r->b_slot);
	free(r->b_inq);
	free(r->b_due);
	free(r->gq);
	free(r->bq);
	free(r->held_c);
	for (i = 0; i < XR_RING; i++)
		free(r->ring[i].buf);
	for (i = 0; i < XR_POOL; i++)
		free(r->pool[i].buf);
}

/*
 * The memory a session of geometry g takes here, every allocation sized
 * by the sender's numbers (the state file is written from a copy of the
 * bitmap, hence three of them).
 */
static uint64_t
xr_geom_mem(const struct xrecv *r, const struct proto_geom *g)
{
	uint64_t	per_group, per_block;

	per_group = sizeof(*r->g_have) + sizeof(*r->g_par) +
	    sizeof(*r->g_seen) + sizeof(*r->g_head) + sizeof(*r->g_due) +
	    sizeof(*r->g_inq) + sizeof(*r->g_ncf) + sizeof(*r->g_ncf_ms) +
	    sizeof(*r->gq);
	per_block = sizeof(*r->b_have) + sizeof(*r->b_rx) +
	    sizeof(*r->b_slot) + sizeof(*r->b_inq) + sizeof(*r->b_due) +
	    sizeof(*r->bq);
	return (3 * ((g->nsym + 7) / 8) + per_group * g->ngroups +
	    per_block * g->nblocks + proto_held_chunks(g) +
	    (uint64_t)XR_RING * g->bsym * g->sym +
	    (uint64_t)XR_POOL * g->sym + (1 << 20));
}

/* calloc that remembers a failure instead of exiting. */
static void *
xr_alloc(int *failed, size_t n, size_t size)
{
	void	*p;

	if (*failed)
		return (NULL);
	if ((p = calloc(n, size)) == NULL)
		*failed = 1;
	return (p);
}

/*
 * Lock onto the candidate's session: geometry, staging file (resumed or
 * pre-allocated), the bookkeeping arrays.  The sender chose the geometry,
 * so its size is checked against max_size and what it costs in memory
 * against XR_MEM_MAX before anything is allocated, and no allocation
 * failure is fatal: the receiver fails and tells the sender.
 */
static int
xr_lock(struct xrecv *r, struct xr_cand *c)
{
	struct proto_geom	 *g = &r->geom;
	uint64_t		  i, b, gr, blen, mem;
	int			  j, resumed = 0, e, nomem = 0;

	r->lock_ann = c->ann;
	r->session = c->session;
	r->kd = c->kd;
	r->kf = c->kf;
	c->kd = c->kf = NULL;
	r->sender = c->addr;
	if (proto_geom_init(g, c->ann.size, c->ann.sym, c->ann.k,
	    c->ann.il) == -1)
		return (-1);
	for (j = 0; j < r->ncand; j++)
		xr_cand_free(&r->cand[j]);
	r->ncand = 0;
	if (r->conf.max_size != 0 && g->size > r->conf.max_size) {
		xr_fail(r, "%s: cannot store %" PRIu64 " bytes: %s (at most %"
		    PRIu64 " here)", r->part, g->size, strerror(ENOSPC),
		    r->conf.max_size);
		return (-1);
	}
	if ((mem = xr_geom_mem(r, g)) > XR_MEM_MAX) {
		xr_fail(r, "the sender's geometry (%" PRIu64 " bytes, "
		    "symbols of %u, k %u, I %u) needs %" PRIu64 " MiB here, "
		    "limit %llu MiB", g->size, g->sym, g->k, g->il,
		    mem >> 20, XR_MEM_MAX >> 20);
		return (-1);
	}
	blen = (g->nsym + 7) / 8;
	r->have = xr_alloc(&nomem, blen, 1);
	r->disk = xr_alloc(&nomem, blen, 1);
	r->g_have = xr_alloc(&nomem, g->ngroups, 1);
	r->g_par = xr_alloc(&nomem, g->ngroups, 1);
	r->g_seen = xr_alloc(&nomem, g->ngroups, sizeof(uint32_t));
	r->g_head = xr_alloc(&nomem, g->ngroups, sizeof(int32_t));
	r->g_due = xr_alloc(&nomem, g->ngroups, sizeof(uint32_t));
	r->g_inq = xr_alloc(&nomem, g->ngroups, 1);
	r->g_ncf = xr_alloc(&nomem, g->ngroups, sizeof(uint32_t));
	r->g_ncf_ms = xr_alloc(&nomem, g->ngroups, sizeof(uint32_t));
	r->b_have = xr_alloc(&nomem, g->nblocks, sizeof(uint32_t));
	r->b_rx = xr_alloc(&nomem, g->nblocks, sizeof(uint32_t));
	r->b_slot = xr_alloc(&nomem, g->nblocks, 1);
	r->b_inq = xr_alloc(&nomem, g->nblocks, 1);
	r->b_due = xr_alloc(&nomem, g->nblocks, sizeof(uint32_t));
	r->gq = xr_alloc(&nomem, g->ngroups, sizeof(uint32_t));
	r->bq = xr_alloc(&nomem, g->nblocks, sizeof(uint32_t));
	r->held_c = xr_alloc(&nomem, proto_held_chunks(g), 1);
	for (j = 0; j < XR_RING; j++) {
		r->ring[j].block = -1;
		r->ring[j].buf = xr_alloc(&nomem, g->bsym, g->sym);
	}
	r->pool_free = -1;
	for (j = XR_POOL - 1; j >= 0; j--) {
		r->pool[j].buf = xr_alloc(&nomem, 1, g->sym);
		r->pool[j].next = r->pool_free;
		r->pool_free = j;
	}
	r->scratch = xr_alloc(&nomem, 1, 1 << 20);
	if (nomem) {
		xr_fail(r, "cannot allocate %" PRIu64 " MiB for a file of %"
		    PRIu64 " bytes: %s", mem >> 20, g->size, strerror(ENOMEM));
		return (-1);
	}
	memset(r->g_head, 0xff, g->ngroups * sizeof(int32_t));
	memset(r->b_slot, 0xff, g->nblocks);

	if (xr_load_state(r, g) == 0 &&
	    (r->fd = open(r->part, O_RDWR | O_CLOEXEC)) != -1) {
		struct stat st;

		if (fstat(r->fd, &st) == 0 && (uint64_t)st.st_size == g->size)
			resumed = 1;
		else {
			close(r->fd);
			r->fd = -1;
			memset(r->disk, 0, blen);
		}
	} else
		memset(r->disk, 0, blen);
	if (!resumed) {
		(void)unlink(r->statepath);
		r->fd = open(r->part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0666);
		if (r->fd == -1) {
			xr_fail(r, "%s: %s", r->part, strerror(errno));
			return (-1);
		}
		/* Claim the space now: a full disk fails here, cleanly. */
		if ((e = posix_fallocate(r->fd, 0, (off_t)g->size)) != 0 &&
		    e != EOPNOTSUPP && e != EINVAL) {
			close(r->fd);
			r->fd = -1;
			(void)unlink(r->part);
			xr_fail(r, "%s: cannot store %" PRIu64 " bytes: %s",
			    r->part, g->size, strerror(e));
			return (-1);
		}
		if (ftruncate(r->fd, (off_t)g->size) == -1) {
			xr_fail(r, "%s: %s", r->part, strerror(errno));
			return (-1);
		}
	}
	memcpy(r->have, r->disk, blen);
	for (i = 0; i < g->nsym; i++) {
		if (!xr_bit(r->have, i))
			continue;
		r->nhave++;
		b = i / g->bsym;
		r->b_have[b]++;
		gr = proto_sym_group(g, i);
		r->g_have[gr]++;
	}
	for (b = 0; b < g->nblocks; b++)
		if (r->b_have[b] == proto_block_nsym(g, b)) {
			r->blocks_done++;
			r->held_c[b / PROTO_HELD_BITS] = 1;
		}
	r->resumed_bytes = r->nhave * g->sym > g->size ? g->size :
	    r->nhave * g->sym;
	if (resumed)
		log_debug("xrecv %016" PRIx64 ": resuming, %" PRIu64 " of %"
		    PRIu64 " bytes already on disk", r->session,
		    r->resumed_bytes, g->size);
	/* Known in advance: the file is checked against it, not the sender. */
	if (r->conf.expect_digest) {
		memcpy(r->digest, r->conf.expect_sha256, SHA256_LEN);
		r->digest_ok = 1;
	}
	r->sha = sha256_new();
	r->last_heard = xr_now_ms();
	r->overflow_base = r->overflow;
	if (xr_hash(r) == -1)
		return (-1);
	if (xr_persist(r) == -1)
		return (-1);
	if (r->cb.locked != NULL)
		r->cb.locked(r->arg, r->session, g->size);
	return (0);
}

static void
xr_ack(struct xrecv *r, const struct proto_hdr *h, const uint8_t *plain)
{
	struct proto_ack	 a;
	struct xr_cand		*c = NULL;
	int			 i;

	if (proto_get_ack(plain, h->ctlen, &a) == -1 || a.rid != r->rid ||
	    a.incarnation != r->incarnation) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	if (r->state == XR_JOINING) {
		for (i = 0; i < r->ncand; i++)
			if (r->cand[i].session == h->session)
				c = &r->cand[i];
		if (c == NULL || a.challenge != c->challenge) {
			r->drops[PROTO_DROP_STALE]++;
			return;
		}
		if (a.verdict == PROTO_ACK_REJECTED) {
			xr_fail(r, "the sender refused us");
			return;
		}
		if (a.verdict != PROTO_ACK_ACCEPTED)
			return;
		if (xr_lock(r, c) == -1) {
			if (r->state != XR_FAILED)
				xr_fail(r, "cannot lock onto the session");
			return;
		}
		xrecv_fsm(r, XRE_ACCEPTED);
		return;
	}
	if (h->session != r->session) {
		r->drops[PROTO_DROP_SESSION]++;
		return;
	}
	if (a.verdict == PROTO_ACK_DONE && r->state == XR_DONE)
		xrecv_fsm(r, XRE_ACKED);
	else if (a.verdict == PROTO_ACK_REJECTED && r->state == XR_RECEIVING)
		xr_fail(r, "the sender refused us");
}

static struct aead *
xr_cand_key(struct xrecv *r, uint64_t session)
{
	int	i;

	for (i = 0; i < r->ncand; i++)
		if (r->cand[i].session == session)
			return (r->cand[i].kd);
	return (NULL);
}

/* One datagram from the group. */
static void
xr_dgram(struct xrecv *r, const uint8_t *buf, size_t len,
    const struct udp_addr *from)
{
	struct proto_hdr	h;
	struct proto_announce	a;
	struct proto_ncf	ncf;
	enum proto_drop		why;
	uint8_t			plain[PROTO_MAX_DGRAM];

	if (proto_decode(buf, len, &h, &why) == -1) {
		r->drops[why]++;
		return;
	}
	if (h.type != PROTO_DATA && h.type != PROTO_REPAIR &&
	    h.type != PROTO_ANNOUNCE && h.type != PROTO_NCF) {
		r->drops[PROTO_DROP_TYPE]++;
		return;
	}
	if (r->state == XR_LISTEN || r->state == XR_JOINING) {
		if (h.type == PROTO_ANNOUNCE)
			xr_announce_listen(r, &h, from);
		else if (xr_cand_key(r, h.session) != NULL)
			r->drops[PROTO_DROP_EARLY]++;
		else
			r->drops[PROTO_DROP_SESSION]++;
		return;
	}
	if (h.session != r->session) {
		r->drops[PROTO_DROP_SESSION]++;
		return;
	}
	if (r->state != XR_RECEIVING && r->state != XR_DONE)
		return;
	/* Arrived, useful or not: the sender compares with its count. */
	r->rx_packets++;
	switch (h.type) {
	case PROTO_DATA:
		if (r->state == XR_RECEIVING)
			xr_data(r, &h);
		else
			r->n_dup++;
		return;
	case PROTO_REPAIR:
		if (r->state == XR_RECEIVING)
			xr_repair(r, &h);
		else
			r->n_dup++;
		return;
	}
	if ((h.type == PROTO_ANNOUNCE && h.ctlen != PROTO_ANNOUNCE_LEN) ||
	    (h.type == PROTO_NCF && h.ctlen > PROTO_NCF_LEN(PROTO_NCF_MAX))) {
		r->drops[PROTO_DROP_RANGE]++;
		return;
	}
	if (proto_open(r->kd, &h, plain, sizeof(plain)) == -1) {
		r->drops[PROTO_DROP_AUTH]++;
		return;
	}
	r->last_heard = xr_now_ms();
	if (h.seq > r->rx_hw_seq)
		r->rx_hw_seq = h.seq;
	if (h.type == PROTO_ANNOUNCE) {
		if (proto_get_announce(plain, h.ctlen, &a) == -1) {
			r->drops[PROTO_DROP_RANGE]++;
			return;
		}
		if (r->state == XR_RECEIVING)
			xr_announce_locked(r, &a);
	} else {
		if (proto_get_ncf(plain, h.ctlen, &ncf) == -1) {
			r->drops[PROTO_DROP_RANGE]++;
			return;
		}
		xr_ncf(r, &ncf);
	}
}

static void
xrecv_group_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct xrecv	*r = arg;
	struct udp_addr	 from;
	uint8_t		*buf;
	size_t		 len, seg, off, dl;
	int		 n, i, budget = 0, q;
	uint32_t	 ovf;

	while (budget < XR_BUDGET) {
		if ((n = udp_rx_recv(r->rx, r->gsock)) <= 0) {
			if (n == -1)
				log_warn("xrecv: recvmmsg");
			break;
		}
		for (i = 0; i < n; i++) {
			udp_rx_msg(r->rx, i, &buf, &len, &seg, &from);
			r->n_reads++;
			for (off = 0; off < len; off += dl) {
				dl = len - off < seg ? len - off : seg;
				xr_dgram(r, buf + off, dl, &from);
				r->n_dgrams++;
				budget++;
				if (r->state == XR_FAILED ||
				    r->state == XR_FINISHED)
					return;
			}
		}
		if (n < 4)
			break;
	}
	ovf = udp_rx_overflow(r->rx);
	if (ovf != r->overflow) {
		r->drops[PROTO_DROP_OVERFLOW] += ovf - r->overflow;
		r->overflow = ovf;
	}
	if ((q = udp_queue_permille(r->gsock)) > r->queue_pm)
		r->queue_pm = q;
	if (r->state == XR_RECEIVING && (r->overflow != r->overflow_reported ||
	    q > 200) && xr_now_ms() - r->last_report >= XR_CONGEST_MS)
		xr_send_report(r, 0);
}

static void
xrecv_ctl_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct xrecv		*r = arg;
	struct proto_hdr	 h;
	struct aead		*kd;
	enum proto_drop		 why;
	struct udp_addr		 from;
	uint8_t			 buf[PROTO_MAX_DGRAM], plain[PROTO_MAX_DGRAM];
	ssize_t			 n;
	int			 i;

	for (i = 0; i < 64; i++) {
		from.len = sizeof(from.ss);
		n = recvfrom(r->csock, buf, sizeof(buf), MSG_DONTWAIT,
		    (struct sockaddr *)&from.ss, &from.len);
		if (n == -1)
			break;
		if (proto_decode(buf, (size_t)n, &h, &why) == -1) {
			r->drops[why]++;
			continue;
		}
		if (h.type != PROTO_ACK) {
			r->drops[PROTO_DROP_TYPE]++;
			continue;
		}
		if (r->state == XR_JOINING)
			kd = xr_cand_key(r, h.session);
		else
			kd = h.session == r->session ? r->kd : NULL;
		if (kd == NULL) {
			r->drops[PROTO_DROP_SESSION]++;
			continue;
		}
		if (proto_open(kd, &h, plain, sizeof(plain)) == -1) {
			r->drops[PROTO_DROP_AUTH]++;
			continue;
		}
		xr_ack(r, &h, plain);
		if (r->state == XR_FAILED || r->state == XR_FINISHED)
			return;
	}
}

static uint64_t
xr_have_bytes(struct xrecv *r)
{
	uint64_t	b = r->nhave * r->geom.sym;

	return (b > r->geom.size ? r->geom.size : b);
}

/*
 * Tell the sender which blocks we hold, complete on disk from before
 * (a block counts only whole: the disk has data symbols, no parity), in
 * HELD chunks, at most max of them, round robin: the first pass of a new
 * session of the same content then skips them when every receiver holds
 * them.  Only chunks with a block held at the start and not all passed by
 * the first pass yet; HELD may be lost, so this goes on every
 * XR_HELD_WAIT_MS while the sender waits and every XR_HELD_MS after, until
 * the first pass is past them.  A sender that does not know HELD drops it.
 */
static void
xr_send_held(struct xrecv *r, uint64_t max)
{
	struct proto_held	 h;
	struct wire_w		 w;
	uint8_t			 body[PROTO_HELD_LEN(PROTO_HELD_BITS)];
	uint8_t			 nonce[PROTO_NONCE_LEN];
	uint8_t			 dgram[PROTO_HDR_LEN + sizeof(body) +
				    PROTO_TAG_LEN];
	uint64_t		 nc = proto_held_chunks(&r->geom), c, scan;
	uint64_t		 passed, first, sent = 0;
	uint32_t		 i;
	ssize_t			 n;

	if (r->held_c == NULL)
		return;
	passed = r->ann_progress >= r->geom.nsym ? r->geom.nblocks :
	    r->ann_progress / r->geom.bsym;
	for (scan = 0; scan < nc && sent < max; scan++) {
		c = (r->held_next + scan) % nc;
		first = c * PROTO_HELD_BITS;
		h.nbits = (uint16_t)proto_held_nbits(&r->geom, c);
		if (!r->held_c[c])
			continue;
		if (passed >= first + h.nbits) {
			r->held_c[c] = 0;	/* the first pass is past it */
			continue;
		}
		h.rid = r->rid;
		h.incarnation = r->incarnation;
		h.chunk = (uint32_t)c;
		memset(h.bits, 0, sizeof(h.bits));
		for (i = 0; i < h.nbits; i++)
			if (r->b_have[first + i] ==
			    proto_block_nsym(&r->geom, first + i))
				h.bits[i / 8] |= (uint8_t)(1U << (i % 8));
		if (crypto_random(nonce, sizeof(nonce)) == -1)
			fatalx("xrecv: no randomness");
		wire_w_fixed(&w, body, sizeof(body));
		if (proto_put_held(&w, &h) == -1)
			fatalx("xrecv: held too long");
		n = proto_seal(r->kf, PROTO_HELD, r->session, nonce, NULL,
		    body, w.len, dgram, sizeof(dgram));
		if (n == -1)
			fatalx("xrecv: seal failed");
		if (udp_sendto(r->csock, dgram, (size_t)n, &r->sender) == -1 &&
		    errno != EAGAIN)
			log_warn("xrecv: sendto");
		sent++;
		r->held_next = c + 1;
	}
	r->last_held = xr_now_ms();
}

/* Build and send a REPORT; with naks, due NAKs ride along. */
static void
xr_send_report(struct xrecv *r, int naks)
{
	struct proto_report	 rep;
	struct wire_w		 w;
	uint8_t			 body[1500], nonce[PROTO_NONCE_LEN];
	uint8_t			 dgram[1600];
	uint32_t		 now = xr_ms(r), g, b, k, need;
	uint64_t		 scan;
	ssize_t			 n;

	memset(&rep, 0, sizeof(rep));
	rep.rid = r->rid;
	rep.incarnation = r->incarnation;
	rep.rseq = ++r->rseq;
	switch (r->state) {
	case XR_DONE:
	case XR_FINISHED:
		rep.state = PROTO_R_DONE;
		break;
	case XR_FAILED:
		rep.state = PROTO_R_FAILED;
		rep.errlen = (uint16_t)strlen(r->err);
		memcpy(rep.err, r->err, rep.errlen);
		break;
	default:
		rep.state = r->t_first != 0 || r->nhave > 0 ?
		    PROTO_R_RECEIVING : PROTO_R_READY;
		break;
	}
	rep.queue_pm = r->queue_pm < 0 ? 0 : (uint16_t)r->queue_pm;
	rep.loss_pm = (uint16_t)(r->loss * 1000 + 0.5);
	r->queue_pm = 0;
	if (r->have != NULL)
		rep.have_bytes = xr_have_bytes(r);
	rep.rx_hw_seq = r->rx_hw_seq;
	rep.has_rx = 1;
	rep.rx_packets = r->rx_packets;
	rep.repairs = (uint32_t)r->n_repairs;
	rep.overflow = r->overflow - r->overflow_base;
	r->overflow_reported = r->overflow;

	if (naks && r->state == XR_RECEIVING) {
		for (scan = r->bq_len; scan > 0 && rep.nnak < PROTO_NAK_MAX;
		    scan--) {
			b = r->bq[r->bq_head];
			if ((int32_t)(r->b_due[b] - now) > 0)
				break;
			r->bq_head = (r->bq_head + 1) % r->geom.nblocks;
			r->bq_len--;
			r->b_inq[b] = 0;
			if (r->b_have[b] == proto_block_nsym(&r->geom, b))
				continue;
			if (r->b_have[b] >= proto_block_nsym(&r->geom, b) / 2) {
				/* Mostly there now: NAK its groups. */
				xr_block_passed(r, b);
				continue;
			}
			rep.nak[rep.nnak].kind = PROTO_NAK_BLOCK;
			rep.nak[rep.nnak++].id = b;
			xr_q_block(r, b, now + XR_RENAK_MS);
		}
		for (scan = r->gq_len; scan > 0 && rep.nnak < PROTO_NAK_MAX;
		    scan--) {
			g = r->gq[r->gq_head];
			if ((int32_t)(r->g_due[g] - now) > 0)
				break;
			r->gq_head = (r->gq_head + 1) % r->geom.ngroups;
			r->gq_len--;
			r->g_inq[g] = 0;
			k = proto_group_k(&r->geom, g);
			if (r->g_have[g] >= k)
				continue;
			need = k - r->g_have[g] - r->g_par[g];
			if (need == 0 || need > k) {
				xr_q_group(r, g, now + XR_RENAK_MS);
				continue;
			}
			/* Suppressed: the NCF says enough is on its way. */
			if (now - r->g_ncf_ms[g] < XR_NCF_MS &&
			    r->g_ncf[g] >= r->g_seen[g] &&
			    r->g_ncf[g] - r->g_seen[g] >= need) {
				xr_q_group(r, g, now + XR_RENAK_MS);
				continue;
			}
			rep.nak[rep.nnak].kind = PROTO_NAK_GROUP;
			rep.nak[rep.nnak].id = g;
			rep.nak[rep.nnak].need = (uint16_t)need;
			rep.nak[rep.nnak++].seen = r->g_seen[g];
			xr_q_group(r, g, now + XR_RENAK_MS);
		}
		if (rep.nnak == 0)
			return;
		r->n_naks += rep.nnak;
	}
	if (crypto_random(nonce, sizeof(nonce)) == -1)
		fatalx("xrecv: no randomness");
	wire_w_fixed(&w, body, sizeof(body));
	if (proto_put_report(&w, &rep) == -1)
		fatalx("xrecv: report too long");
	n = proto_seal(r->kf, PROTO_REPORT, r->session, nonce, NULL, body,
	    w.len, dgram, sizeof(dgram));
	if (n == -1)
		fatalx("xrecv: seal failed");
	if (udp_sendto(r->csock, dgram, (size_t)n, &r->sender) == -1 &&
	    errno != EAGAIN)
		log_warn("xrecv: sendto");
	r->n_reports++;
	r->last_report = xr_now_ms();
}

static void
xr_fail(struct xrecv *r, const char *fmt, ...)
{
	va_list	ap;

	if (r->state == XR_FAILED || r->state == XR_FINISHED)
		return;
	va_start(ap, fmt);
	vsnprintf(r->err, sizeof(r->err), fmt, ap);
	va_end(ap);
	xrecv_fsm(r, XRE_FAIL);
}

static void
xrecv_tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct xrecv		*r = arg;
	struct xrecv_stats	 st;
	uint64_t		 now = xr_now_ms();
	int			 i;

	switch (r->state) {
	case XR_JOINING:
		for (i = 0; i < r->ncand; i++)
			if (now - r->cand[i].hello_at >= XR_HELLO_MS * 5) {
				/* Silent candidate (a replay?): forget it. */
				xr_cand_free(&r->cand[i]);
				memmove(&r->cand[i], &r->cand[i + 1],
				    sizeof(r->cand[0]) * (r->ncand - i - 1));
				memset(&r->cand[r->ncand - 1], 0,
				    sizeof(r->cand[0]));
				r->ncand--;
				i--;
			}
		if (r->ncand == 0)
			xrecv_set_state(r, XR_LISTEN);
		break;
	case XR_RECEIVING:
		xr_send_report(r, 1);
		if (r->state != XR_RECEIVING)
			break;
		if (now - r->last_report >= XR_REPORT_MS)
			xr_send_report(r, 0);
		if (now - r->last_held >= (r->ann_state == PROTO_S_WAITING ?
		    XR_HELD_WAIT_MS : XR_HELD_MS))
			xr_send_held(r, XR_HELD_BURST / 8);
		if (now - r->last_persist >= XR_PERSIST_MS)
			(void)xr_persist(r);
		if (r->state == XR_RECEIVING && now - r->last_heard >=
		    (uint64_t)r->conf.sender_timeout_ms)
			xr_fail(r, "the sender has been silent for %d ms",
			    r->conf.sender_timeout_ms);
		break;
	case XR_DONE:
		if (now - r->done_since >= XR_DONE_GIVEUP_MS)
			xrecv_fsm(r, XRE_GIVEUP);
		else if (now - r->last_report >= XR_DONE_MS)
			xr_send_report(r, 0);
		break;
	default:
		break;
	}
	if (r->state == XR_RECEIVING && log_getverbose() > 1 &&
	    now - r->last_progress >= 250)
		log_debug("xrecv %016" PRIx64 ": have %" PRIu64 "/%" PRIu64
		    " blocks %" PRIu64 " hashed %" PRIu64 " naks %" PRIu64
		    " queued %" PRIu64 "+%" PRIu64 " repairs %" PRIu64
		    " dup %" PRIu64 " overflow %u loads %" PRIu64 " hashreads %"
		    PRIu64, r->session, r->nhave,
		    r->geom.nsym, r->blocks_done, r->hash_next, r->n_naks,
		    r->gq_len, r->bq_len, r->n_repairs, r->n_dup, r->overflow,
		    r->n_loads, r->n_hashreads);
	if (r->state == XR_RECEIVING && now - r->last_progress >= 250 &&
	    r->cb.progress == NULL)
		r->last_progress = now;
	if (r->cb.progress != NULL && r->state == XR_RECEIVING &&
	    now - r->last_progress >= 250) {
		r->last_progress = now;
		xrecv_stats(r, &st);
		r->cb.progress(r->arg, &st);
	}
}

static void
xr_end(struct xrecv *r, int ok)
{
	event_del(r->ev_g);
	event_del(r->ev_c);
	event_del(r->ev_tick);
	r->t_end = mono_us();
	if (r->cb.finished != NULL)
		r->cb.finished(r->arg, ok, ok ? NULL : r->err);
}

/* The receiver's state machine: every transition goes through here. */
static void
xrecv_fsm(struct xrecv *r, enum xrecv_event ev)
{
	int	i;

	if (ev == XRE_FAIL) {
		if (r->state == XR_FAILED || r->state == XR_FINISHED)
			return;
		log_warnx("xrecv %016" PRIx64 ": %s", r->session, r->err);
		if (r->state == XR_RECEIVING && r->fd != -1 &&
		    r->have != NULL)
			(void)fdatasync(r->fd);
		xrecv_set_state(r, XR_FAILED);
		/* Tell the sender, a few times, so that it does not wait. */
		if (r->session != 0 && r->kf != NULL)
			for (i = 0; i < 3; i++)
				xr_send_report(r, 0);
		xr_end(r, 0);
		return;
	}
	switch (r->state) {
	case XR_INIT:
		if (ev == XRE_START)
			xrecv_set_state(r, XR_LISTEN);
		break;
	case XR_LISTEN:
		if (ev == XRE_CANDIDATE)
			xrecv_set_state(r, XR_JOINING);
		break;
	case XR_JOINING:
		if (ev == XRE_ACCEPTED) {
			xrecv_set_state(r, XR_RECEIVING);
			log_debug("xrecv %016" PRIx64 ": joined, %" PRIu64
			    " bytes", r->session, r->geom.size);
			/* Before READY: the sender may start on it. */
			r->ann_state = r->lock_ann.state;
			xr_send_held(r, XR_HELD_BURST);
			xr_send_report(r, 0);
			xr_announce_locked(r, &r->lock_ann);
		}
		break;
	case XR_RECEIVING:
		if (ev == XRE_COMPLETE) {
			xrecv_set_state(r, XR_DONE);
			r->done_since = xr_now_ms();
			r->t_end = mono_us();
			xr_send_report(r, 0);
		}
		break;
	case XR_DONE:
		if (ev == XRE_ACKED || ev == XRE_GIVEUP) {
			if (ev == XRE_GIVEUP)
				log_warnx("xrecv %016" PRIx64 ": the sender "
				    "did not confirm our DONE", r->session);
			xrecv_set_state(r, XR_FINISHED);
			xr_end(r, 1);
		}
		break;
	case XR_FINISHED:
	case XR_FAILED:
		break;
	}
}

struct xrecv *
xrecv_new(struct event_base *base, const struct xrecv_conf *conf,
    const struct xrecv_cb *cb, void *arg, char *err, size_t errlen)
{
	struct xrecv	*r;

	r = xcalloc(1, sizeof(*r));
	r->base = base;
	r->conf = *conf;
	/* Ours: the caller's string need not outlive this call. */
	r->out = xstrdup(conf->out);
	r->conf.out = r->out;
	if (cb != NULL)
		r->cb = *cb;
	r->arg = arg;
	r->fd = r->gsock = r->csock = -1;
	r->queue_pm = 0;
	if (r->conf.sender_timeout_ms <= 0)
		r->conf.sender_timeout_ms = 15000;
	xasprintf(&r->part, "%s.fcpart", conf->out);
	xasprintf(&r->statepath, "%s.fcstate", conf->out);
	if (xr_load_state(r, NULL) == -1) {
		do {
			if (crypto_random(&r->rid, sizeof(r->rid)) == -1)
				fatalx("xrecv: no randomness");
		} while (r->rid == 0);
	}
	do {
		if (crypto_random(&r->incarnation,
		    sizeof(r->incarnation)) == -1)
			fatalx("xrecv: no randomness");
	} while (r->incarnation == 0);
	if ((r->gsock = udp_group_socket(&conf->group, conf->ifindex, &r->gro,
	    err, errlen)) == -1)
		goto fail;
	if ((r->csock = udp_ctl_socket(conf->group.ss.ss_family, err,
	    errlen)) == -1)
		goto fail;
	r->rx = udp_rx_new(r->gro);
	r->fec = fec_new();
	r->ev_g = event_new(base, r->gsock, EV_READ | EV_PERSIST,
	    xrecv_group_cb, r);
	r->ev_c = event_new(base, r->csock, EV_READ | EV_PERSIST,
	    xrecv_ctl_cb, r);
	r->ev_tick = event_new(base, -1, EV_PERSIST, xrecv_tick_cb, r);
	if (r->ev_g == NULL || r->ev_c == NULL || r->ev_tick == NULL)
		fatalx("xrecv: event_new failed");
	return (r);
fail:
	xrecv_free(r);
	return (NULL);
}

int
xrecv_start(struct xrecv *r)
{
	struct timeval	tv;

	r->t_start = mono_us();
	r->t0_ms = xr_now_ms();
	event_add(r->ev_g, NULL);
	event_add(r->ev_c, NULL);
	tv.tv_sec = 0;
	tv.tv_usec = XR_TICK_MS * 1000;
	event_add(r->ev_tick, &tv);
	xrecv_fsm(r, XRE_START);
	return (0);
}

/* Interrupted: keep what is on disk for a restart, then stop. */
void
xrecv_stop(struct xrecv *r)
{
	int	i;

	if (r->state == XR_RECEIVING) {
		for (i = 0; i < XR_RING; i++)
			if (r->ring[i].block >= 0 &&
			    xr_writeback(r, &r->ring[i]) == -1)
				break;
		if (r->state == XR_RECEIVING)
			(void)xr_persist(r);
	}
	if (r->state != XR_FAILED && r->state != XR_FINISHED) {
		snprintf(r->err, sizeof(r->err), "interrupted");
		xrecv_fsm(r, XRE_FAIL);
	}
}

void
xrecv_free(struct xrecv *r)
{
	int	i;

	if (r == NULL)
		return;
	if (r->ev_g != NULL)
		event_free(r->ev_g);
	if (r->ev_c != NULL)
		event_free(r->ev_c);
	if (r->ev_tick != NULL)
		event_free(r->ev_tick);
	for (i = 0; i < r->ncand; i++)
		xr_cand_free(&r->cand[i]);
	if (r->gsock != -1)
		close(r->gsock);
	if (r->csock != -1)
		close(r->csock);
	if (r->fd != -1)
		close(r->fd);
	udp_rx_free(r->rx);
	fec_free(r->fec);
	if (r->sha != NULL)
		sha256_free(r->sha);
	aead_free(r->kd);
	aead_free(r->kf);
	xr_free_session(r);
	free(r->scratch);
	free(r->out);
	free(r->part);
	free(r->statepath);
	explicit_bzero(r->conf.key, sizeof(r->conf.key));
	free(r);
}

void
xrecv_stats(struct xrecv *r, struct xrecv_stats *st)
{
	uint64_t	end;

	memset(st, 0, sizeof(*st));
	st->session = r->session;
	st->size = r->geom.size;
	if (r->have != NULL)
		st->have_bytes = xr_have_bytes(r);
	st->resumed_bytes = r->resumed_bytes;
	st->received_bytes = r->received_bytes;
	st->packets = r->n_packets;
	st->reads = r->n_reads;
	st->datagrams = r->n_dgrams;
	st->repairs = r->n_repairs;
	st->decoded = r->n_decoded;
	st->duplicates = r->n_dup;
	st->naks = r->n_naks;
	st->reports = r->n_reports;
	end = r->t_end != 0 ? r->t_end : mono_us();
	if (r->t_first != 0)
		st->elapsed = (double)(end - r->t_first) / 1e6;
	st->total = (double)(end - r->t_start) / 1e6;
	st->gro = r->gro;
	if (r->session != 0)
		st->sender = r->sender;
	memcpy(st->drops, r->drops, sizeof(st->drops));
}
