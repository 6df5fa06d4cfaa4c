/*
 * Reed-Solomon erasure coding for the transport's FEC groups, a thin
 * wrapper over Intel ISA-L: Cauchy matrices over GF(2^8) (any k rows out
 * of k + parity recover the data), encoding of chosen parity rows, and
 * decoding of missing data symbols from any k received rows.
 */
#ifndef FC_FEC_H
#define FC_FEC_H

#include <stddef.h>
#include <stdint.h>

struct fec;

struct fec	*fec_new(void);
void		 fec_free(struct fec *);
int		 fec_encode(struct fec *, uint32_t, uint8_t *const *, uint32_t,
		     const uint32_t *, uint8_t *const *, size_t);
int		 fec_decode(struct fec *, uint32_t, const uint32_t *,
		     uint8_t *const *, uint32_t, const uint32_t *,
		     uint8_t *const *, size_t);

#endif
