/*
 * ISA-L erasure coding for the transport.  A group of k data symbols has
 * 256 - k possible parity rows (rows k..255 of the Cauchy matrix that
 * gf_gen_cauchy1_matrix builds; rows 0..k-1 are the identity).  Encoding
 * multiplies the chosen rows by the data; decoding solves for the missing
 * data symbols with the parity rows that arrived.  Matrices are built once
 * per k and the table scratch is allocated once, so nothing is allocated
 * per symbol; the expanded tables (ec_init_tables, 32 bytes per
 * coefficient) of the row sets used again and again (the proactive
 * parity's rows k..k+n-1, encoding and decoding) are kept in a small
 * cache, since building them cost as much as the multiplication itself
 * (4 of 8 us per group of 64 with 7 rows: doc/performance.md,
 * "Receive-path profile (session 4)").
 */
#include <stdlib.h>
#include <string.h>

#include <isa-l/erasure_code.h>

#include "fec.h"
#include "proto.h"
#include "xmalloc.h"

#define FEC_TC		6	/* cached table sets */
#define FEC_TC_ROWS	16	/* rows of a cacheable set; more: built each time */

/*
 * Tables of one coefficient matrix: kind 0 is encoding (n parity rows over
 * the k data columns), kind 1 the syndrome of decoding (the same rows over
 * the k data columns and the n parity symbols themselves).
 */
struct fec_tc {
	int		 kind;
	uint32_t	 k, n;
	uint32_t	 rows[FEC_TC_ROWS];
	uint64_t	 used;
	uint8_t		*tbls;		/* 32 * (k + n) * n, NULL: empty */
};

struct fec {
	uint8_t		*cauchy[PROTO_MAX_K + 1];	/* 256 x k, built on demand */
	uint8_t		*tbls;				/* 32 * k * rows */
	uint8_t		 mat[PROTO_MAX_K * PROTO_MAX_K];
	uint8_t		 inv[PROTO_MAX_K * PROTO_MAX_K];
	uint8_t		 sel[PROTO_MAX_K * (PROTO_MAX_K + FEC_TC_ROWS)];
	struct fec_tc	 tc[FEC_TC];
	uint64_t	 stamp;
	uint8_t		*synd;				/* FEC_TC_ROWS symbols */
	size_t		 synd_len;			/* of one symbol */
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
	for (i = 0; i < FEC_TC; i++)
		free(f->tc[i].tbls);
	free(f->synd);
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
 * Ask for the n sources of a multiplication before it starts.  ISA-L walks
 * all k sources in lockstep, 64 bytes of each at a time: k streams at once
 * are more than the hardware prefetcher follows, so with the data out of
 * the cache (a block's symbols arrived over 4 MB before its parity did)
 * every load waited for memory (decoding 3 losses of 64: 9.5 us a group
 * cold, 4.5 with this).
 */
static void
fec_prefetch(uint8_t *const *src, uint32_t n, size_t len)
{
#ifdef __GNUC__
	uint32_t	i;
	size_t		off;

	for (i = 0; i < n; i++)
		for (off = 0; off < len; off += 64)
			__builtin_prefetch(src[i] + off, 0, 3);
#else
	(void)src;
	(void)n;
	(void)len;
#endif
}

/*
 * The expanded tables of n rows (n <= FEC_TC_ROWS) for kind (struct
 * fec_tc): from the cache, or built into its least recently used entry.
 */
static const uint8_t *
fec_tables(struct fec *f, int kind, uint32_t k, uint32_t n,
    const uint32_t *rows)
{
	const uint8_t	*a = fec_matrix(f, k);
	struct fec_tc	*t, *victim = NULL;
	uint32_t	 i, j, cols = kind == 0 ? k : k + n;
	int		 e;

	for (e = 0; e < FEC_TC; e++) {
		t = &f->tc[e];
		if (t->tbls != NULL && t->kind == kind && t->k == k &&
		    t->n == n && memcmp(t->rows, rows, n * sizeof(*rows)) == 0) {
			t->used = ++f->stamp;
			return (t->tbls);
		}
		if (victim == NULL || t->used < victim->used)
			victim = t;
	}
	for (i = 0; i < n; i++) {
		memcpy(f->sel + (size_t)i * cols, a + (size_t)rows[i] * k, k);
		for (j = k; j < cols; j++)
			f->sel[(size_t)i * cols + j] = j - k == i ? 1 : 0;
	}
	free(victim->tbls);
	victim->tbls = xmalloc((size_t)32 * cols * n);
	ec_init_tables((int)cols, (int)n, f->sel, victim->tbls);
	victim->kind = kind;
	victim->k = k;
	victim->n = n;
	memcpy(victim->rows, rows, n * sizeof(*rows));
	victim->used = ++f->stamp;
	return (victim->tbls);
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
	for (i = 0; i < n; i++)
		if (rows[i] < k || rows[i] >= PROTO_GF_ROWS)
			return (-1);
	fec_prefetch(src, k, len);
	if (n <= FEC_TC_ROWS) {
		ec_encode_data((int)len, (int)k, (int)n,
		    (uint8_t *)fec_tables(f, 0, k, n, rows), (uint8_t **)src,
		    (uint8_t **)out);
		return (0);
	}
	a = fec_matrix(f, k);
	for (i = 0; i < n; i++)
		memcpy(f->sel + (size_t)i * k, a + (size_t)rows[i] * k, k);
	ec_init_tables((int)k, (int)n, f->sel, f->tbls);
	ec_encode_data((int)len, (int)k, (int)n, f->tbls, (uint8_t **)src,
	    (uint8_t **)out);
	return (0);
}

/*
 * Recover few missing data symbols (nmiss <= FEC_TC_ROWS).  With the
 * missing data taken as zero, the parity rows that arrived applied to the
 * data and added to the parity symbols give the syndrome S = M * X, M being
 * those rows at the missing columns and X the missing data, so X = M^-1 *
 * S.  The syndrome's tables depend only on k and the parity rows (sorted:
 * usually the proactive k..k+e-1), so they come from the cache; M^-1 is
 * e x e, its tables are cheap.  The caller checked the arguments.
 */
static int
fec_decode_few(struct fec *f, uint32_t k, uint8_t **col, uint32_t *par,
    uint32_t nmiss, const uint32_t *missing, uint8_t *const *out, size_t len)
{
	const uint8_t	*a = fec_matrix(f, k), *tbls;
	uint8_t		*synd[FEC_TC_ROWS];
	uint32_t	 i, j;

	if (len > f->synd_len) {
		free(f->synd);
		f->synd = xmalloc(FEC_TC_ROWS * len);
		f->synd_len = len;
	}
	for (i = 0; i < nmiss; i++) {
		synd[i] = f->synd + (size_t)i * len;
		for (j = 0; j < nmiss; j++)
			f->mat[i * nmiss + j] = a[(size_t)par[i] * k +
			    missing[j]];
	}
	if (gf_invert_matrix(f->mat, f->inv, (int)nmiss) != 0)
		return (-1);
	for (i = 0; i < nmiss; i++)
		memset(out[i], 0, len);
	tbls = fec_tables(f, 1, k, nmiss, par);
	fec_prefetch(col, k + nmiss, len);
	ec_encode_data((int)len, (int)(k + nmiss), (int)nmiss, (uint8_t *)tbls,
	    col, synd);
	ec_init_tables((int)nmiss, (int)nmiss, f->inv, f->tbls);
	ec_encode_data((int)len, (int)nmiss, (int)nmiss, f->tbls, synd,
	    (uint8_t **)out);
	return (0);
}

/*
 * Recover many missing data symbols.  Instead of inverting the whole k x
 * k matrix (k^3) only the nmiss x nmiss block M of the parity rows at the
 * missing columns is inverted: the missing data is M^-1 * (parity -
 * C_present * data_present), which in GF(2^8), where minus is plus, gives
 * one decoding row per missing symbol over the k received symbols.
 */
static int
fec_decode_many(struct fec *f, uint32_t k, const uint32_t *rows,
    uint8_t *const *src, const uint32_t *par, uint32_t nmiss,
    const uint32_t *missing, uint8_t *const *out, size_t len)
{
	const uint8_t	*a = fec_matrix(f, k);
	uint32_t	 i, j, b, np;
	uint8_t		 acc;

	for (i = 0; i < nmiss; i++)
		for (j = 0; j < nmiss; j++)
			f->mat[i * nmiss + j] = a[(size_t)par[i] * k +
			    missing[j]];
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
	fec_prefetch(src, k, len);
	ec_encode_data((int)len, (int)k, (int)nmiss, f->tbls, (uint8_t **)src,
	    (uint8_t **)out);
	return (0);
}

/*
 * Recover data symbols.  rows[0..k-1] are the distinct rows of the k
 * symbols in src (a row below k is that data symbol itself); missing
 * lists the nmiss data positions to rebuild into out.  The code is
 * systematic, so only the nmiss x nmiss block of the arrived parity rows
 * at the missing columns is ever inverted.
 */
int
fec_decode(struct fec *f, uint32_t k, const uint32_t *rows,
    uint8_t *const *src, uint32_t nmiss, const uint32_t *missing,
    uint8_t *const *out, size_t len)
{
	uint8_t		*col[2 * PROTO_MAX_K], *p;
	uint32_t	 i, j, np = 0, par[PROTO_MAX_K], r;

	if (k < 1 || k > PROTO_MAX_K || nmiss < 1 || nmiss > k)
		return (-1);
	memset(col, 0, sizeof(col));
	for (i = 0; i < k; i++) {
		if (rows[i] >= PROTO_GF_ROWS)
			return (-1);
		if (rows[i] >= k) {
			if (np == nmiss)
				return (-1);
			par[np] = rows[i];
			col[k + np++] = src[i];
		} else if (col[rows[i]] != NULL)
			return (-1);	/* the same data symbol twice */
		else
			col[rows[i]] = src[i];
	}
	if (np != nmiss)
		return (-1);
	for (i = 0; i < nmiss; i++) {
		if (missing[i] >= k || col[missing[i]] != NULL)
			return (-1);
		col[missing[i]] = out[i];
	}
	if (nmiss > FEC_TC_ROWS)
		return (fec_decode_many(f, k, rows, src, par, nmiss, missing,
		    out, len));
	/* Parity in row order, so that the same rows find the same tables. */
	for (i = 1; i < nmiss; i++)
		for (j = i; j > 0 && par[j - 1] > par[j]; j--) {
			r = par[j];
			par[j] = par[j - 1];
			par[j - 1] = r;
			p = col[k + j];
			col[k + j] = col[k + j - 1];
			col[k + j - 1] = p;
		}
	return (fec_decode_few(f, k, col, par, nmiss, missing, out, len));
}
