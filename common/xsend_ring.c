/*
 * The sender's ring of blocks (xsend_int.h): the XS_RING blocks of the
 * file read last, which serve the first pass and most repairs without
 * reading the file again, hashing the file in order as its blocks are
 * first read when the caller gave no digest, and the DATA packets sealed
 * from them into the transmit batch, for the first pass and for resends
 * alike.  It reads the sender's state and calls only the socket layer.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "log.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xmalloc.h"
#include "xsend_int.h"

/* Every slot empty, each with room for one block. */
void
xs_ring_init(struct xsend *s)
{
	size_t	blen = (size_t)s->geom.bsym * s->geom.sym;
	int	i;

	for (i = 0; i < XS_RING; i++) {
		s->ring[i].block = -1;
		s->ring[i].buf = xmalloc(blen);
	}
}

void
xs_ring_free(struct xsend *s)
{
	int	i;

	for (i = 0; i < XS_RING; i++)
		free(s->ring[i].buf);
}

/* Block b if it is in the ring, without loading it. */
uint8_t *
xs_ring_held(struct xsend *s, uint64_t b)
{
	int	i;

	for (i = 0; i < XS_RING; i++)
		if (s->ring[i].block == (int64_t)b) {
			s->ring[i].used = ++s->stamp;
			return (s->ring[i].buf);
		}
	return (NULL);
}

/*
 * The block ring.  The block the first pass is in is never evicted; others
 * go least recently used first.  A block comes from one pread, zero-padded
 * past the end of the file so that parity sees whole symbols.
 */
uint8_t *
xs_ring_block(struct xsend *s, uint64_t b)
{
	struct xs_slot	*sl, *victim = NULL;
	uint64_t	 cur = s->next_sym / s->geom.bsym;
	size_t		 blen, want, got;
	ssize_t		 n;
	int		 i;

	for (i = 0; i < XS_RING; i++) {
		sl = &s->ring[i];
		if (sl->block == (int64_t)b) {
			sl->used = ++s->stamp;
			return (sl->buf);
		}
		if (sl->block >= 0 && (uint64_t)sl->block == cur &&
		    s->state == XS_SENDING)
			continue;
		if (victim == NULL || sl->block < 0 ||
		    (victim->block >= 0 && sl->used < victim->used))
			victim = sl;
	}
	blen = (size_t)s->geom.bsym * s->geom.sym;
	want = blen;
	if (b * blen + want > s->geom.size)
		want = s->geom.size - b * blen;
	for (got = 0; got < want; got += n) {
		n = pread(s->fd, victim->buf + got, want - got,
		    (off_t)(b * blen + got));
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return (NULL);
		}
	}
	if (want < blen)
		memset(victim->buf + want, 0, blen - want);
	victim->block = (int64_t)b;
	victim->used = ++s->stamp;
	s->n_loads++;
	if (s->sha != NULL && b == s->hashed_blocks) {
		sha256_update(s->sha, victim->buf, want);
		s->hashed_blocks++;
		if (s->hashed_blocks == s->geom.nblocks) {
			sha256_final(s->sha, s->digest);
			s->digest_ok = 1;
		}
	}
	return (victim->buf);
}

/* Seal symbol i of the file as DATA into the transmit batch. */
int
xs_ring_emit_data(struct xsend *s, uint64_t i)
{
	uint8_t		 nonce[PROTO_NONCE_LEN], sub[PROTO_SUB_LEN];
	uint8_t		*buf, *p;
	uint32_t	 len = proto_sym_len(&s->geom, i);
	uint64_t	 b = i / s->geom.bsym;
	ssize_t		 n;

	if ((buf = xs_ring_block(s, b)) == NULL) {
		log_warn("xsend: read %s", s->conf.path);
		return (-1);
	}
	if ((p = xs_sock_slot(s, PROTO_SYM_OVERHEAD + len)) == NULL)
		return (1);
	if (++s->seq == UINT64_MAX)
		fatalx("xsend: nonce space exhausted");
	proto_sender_nonce(s->seq, xs_tx_us(s), nonce);
	wire_store64(sub, i);
	n = proto_seal(s->kd, PROTO_DATA, s->session, nonce, sub,
	    buf + (size_t)(i % s->geom.bsym) * s->geom.sym, len, p,
	    PROTO_SYM_OVERHEAD + len);
	if (n == -1)
		fatalx("xsend: seal failed");
	udp_tx_commit(s->tx, (size_t)n);
	s->n_packets++;
	s->n_wire += (uint64_t)n;
	s->tokens -= (double)n;
	return (0);
}
