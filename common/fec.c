/*
 * ISA-L erasure coding for the transport.  A group of k data symbols has
 * 256 - k possible parity rows (rows k..255 of the Cauchy matrix that
 * gf_gen_cauchy1_matrix builds; rows 0..k-1 are the identity).  Encoding
 * multiplies the chosen rows by the data; decoding inverts the k x k
 * matrix of the rows that arrived and multiplies the rows of the missing
 * data symbols by what arrived.  Matrices are built once per k and the
 * table scratch is allocated once, so nothing is allocated per symbol.
 */
#include <stdlib.h>
#include <string.h>

#include <isa-l/erasure_code.h>

#include "fec.h"
#include "proto.h"
#include "xmalloc.h"

struct fec {
	uint8_t	*cauchy[PROTO_MAX_K + 1];	/* 256 x k, built on demand */
	uint8_t	*tbls;				/* 32 * k * rows */
	uint8_t	 mat[PROTO_MAX_K * PROTO_MAX_K];
	uint8_t	 inv[PROTO_MAX_K * PROTO_MAX_K];
	uint8_t	 sel[PROTO_MAX_K * PROTO_MAX_K];
};

struct fec *
fec_new(void)
{
	struct fec	*f;

	f = xcalloc(1, sizeof(*f));
	f->tbls = xmalloc(32 * PROTO_MAX_K * PROTO_MAX_K);
	return (f);
}

void
fec_free(struct fec *f)
{
	int	i;

	if (f == NULL)
		return;
	for (i = 0; i <= PROTO_MAX_K; i++)
		free(f->cauchy[i]);
	free(f->tbls);
	free(f);
}

static const uint8_t *
fec_matrix(struct fec *f, uint32_t k)
{
	if (f->cauchy[k] == NULL) {
		f->cauchy[k] = xmalloc((size_t)PROTO_GF_ROWS * k);
		gf_gen_cauchy1_matrix(f->cauchy[k], PROTO_GF_ROWS, (int)k);
	}
	return (f->cauchy[k]);
}

/*
 * Compute n parity symbols of len bytes: out[i] gets Cauchy row rows[i]
 * (k <= row < 256) applied to src[0..k-1].
 */
int
fec_encode(struct fec *f, uint32_t k, uint8_t *const *src, uint32_t n,
    const uint32_t *rows, uint8_t *const *out, size_t len)
{
	const uint8_t	*a;
	uint32_t	 i;

	if (k < 1 || k > PROTO_MAX_K || n < 1 || n > PROTO_MAX_K)
		return (-1);
	a = fec_matrix(f, k);
	for (i = 0; i < n; i++) {
		if (rows[i] < k || rows[i] >= PROTO_GF_ROWS)
			return (-1);
		memcpy(f->sel + (size_t)i * k, a + (size_t)rows[i] * k, k);
	}
	ec_init_tables((int)k, (int)n, f->sel, f->tbls);
	ec_encode_data((int)len, (int)k, (int)n, f->tbls, (uint8_t **)src,
	    (uint8_t **)out);
	return (0);
}

/*
 * Recover data symbols.  rows[0..k-1] are the distinct rows of the k
 * symbols in src (a row below k is that data symbol itself); missing
 * lists the nmiss data positions to rebuild into out.  The code is
 * systematic, so instead of inverting the whole k x k matrix (k^3) only
 * the nmiss x nmiss block of the parity rows at the missing columns is
 * inverted: with M that block, the missing data is
 * M^-1 * (parity - C_present * data_present), which in GF(2^8), where
 * minus is plus, gives one decoding row per missing symbol over the
 * received symbols.
 */
int
fec_decode(struct fec *f, uint32_t k, const uint32_t *rows,
    uint8_t *const *src, uint32_t nmiss, const uint32_t *missing,
    uint8_t *const *out, size_t len)
{
	const uint8_t	*a;
	uint32_t	 i, j, b, np = 0, par[PROTO_MAX_K];
	uint8_t		 acc;

	if (k < 1 || k > PROTO_MAX_K || nmiss < 1 || nmiss > k)
		return (-1);
	a = fec_matrix(f, k);
	for (i = 0; i < k; i++) {
		if (rows[i] >= PROTO_GF_ROWS)
			return (-1);
		if (rows[i] >= k) {
			par[np++] = rows[i];
		}
	}
	if (np != nmiss)
		return (-1);
	for (i = 0; i < nmiss; i++) {
		if (missing[i] >= k)
			return (-1);
		for (j = 0; j < nmiss; j++)
			f->mat[i * nmiss + j] = a[(size_t)par[i] * k +
			    missing[j]];
	}
	if (gf_invert_matrix(f->mat, f->inv, (int)nmiss) != 0)
		return (-1);
	for (b = 0; b < nmiss; b++) {
		for (i = 0, j = 0; i < k; i++) {
			if (rows[i] >= k) {
				/* Parity source number j: M^-1[b][j]. */
				f->sel[b * k + i] = f->inv[b * nmiss + j++];
				continue;
			}
			acc = 0;
			for (np = 0; np < nmiss; np++)
				acc ^= gf_mul(f->inv[b * nmiss + np],
				    a[(size_t)par[np] * k + rows[i]]);
			f->sel[b * k + i] = acc;
		}
	}
	ec_init_tables((int)k, (int)nmiss, f->sel, f->tbls);
	ec_encode_data((int)len, (int)k, (int)nmiss, f->tbls, (uint8_t **)src,
	    (uint8_t **)out);
	return (0);
}
