/*
 * Tests for the ISA-L wrapper: parity built from any rows rebuilds any
 * combination of lost data symbols, including whole groups from parity
 * alone and a group of one, and bad row numbers are refused.
 */
#include <stdlib.h>
#include <string.h>

#include "fec.h"
#include "proto.h"
#include "unit.h"

#define LEN	1424

static uint32_t	seed = 12345;

static uint32_t
rnd(void)
{
	seed = seed * 1103515245 + 12345;
	return (seed >> 8);
}

/*
 * Encode k data symbols, lose `lose` of them at random, rebuild from the
 * rest plus parity rows first_row.. and compare.
 */
static void
roundtrip(uint32_t k, uint32_t lose, uint32_t first_row)
{
	struct fec	*f = fec_new();
	uint8_t		*data[PROTO_MAX_K], *par[PROTO_MAX_K], *src[PROTO_MAX_K];
	uint8_t		*out[PROTO_MAX_K], *keep;
	uint32_t	 rows[PROTO_MAX_K], prow[PROTO_MAX_K], miss[PROTO_MAX_K];
	uint32_t	 i, j, n, nmiss = 0;
	uint8_t		 lost[PROTO_MAX_K];

	memset(lost, 0, sizeof(lost));
	for (i = 0; i < k; i++) {
		data[i] = malloc(LEN);
		for (j = 0; j < LEN; j++)
			data[i][j] = (uint8_t)rnd();
	}
	for (i = 0; i < lose; i++) {
		par[i] = malloc(LEN);
		prow[i] = proto_parity_row(k, first_row + i);
	}
	CU_ASSERT_FATAL(fec_encode(f, k, data, lose, prow, par, LEN) == 0);
	while (nmiss < lose) {
		i = rnd() % k;
		if (!lost[i]) {
			lost[i] = 1;
			nmiss++;
		}
	}
	n = 0;
	nmiss = 0;
	for (i = 0; i < k; i++) {
		if (lost[i]) {
			miss[nmiss] = i;
			out[nmiss++] = malloc(LEN);
		} else {
			rows[n] = i;
			src[n++] = data[i];
		}
	}
	for (i = 0; n < k; i++, n++) {
		rows[n] = prow[i];
		src[n] = par[i];
	}
	CU_ASSERT_FATAL(fec_decode(f, k, rows, src, nmiss, miss, out,
	    LEN) == 0);
	for (i = 0; i < nmiss; i++) {
		keep = data[miss[i]];
		CU_ASSERT(memcmp(out[i], keep, LEN) == 0);
		free(out[i]);
	}
	for (i = 0; i < k; i++)
		free(data[i]);
	for (i = 0; i < lose; i++)
		free(par[i]);
	fec_free(f);
}

static void
test_small_losses(void)
{
	roundtrip(64, 1, 0);
	roundtrip(64, 3, 7);
	roundtrip(64, 10, 0);
	roundtrip(17, 5, 2);
}

static void
test_whole_group(void)
{
	/* Nothing of the group arrived: all from parity. */
	roundtrip(64, 64, 0);
	roundtrip(128, 128, 0);
	roundtrip(1, 1, 0);
}

static void
test_wrapped_rows(void)
{
	/* Repair numbers past 256 - k wrap onto rows used before. */
	CU_ASSERT_EQUAL(proto_parity_row(64, 0), 64);
	CU_ASSERT_EQUAL(proto_parity_row(64, 191), 255);
	CU_ASSERT_EQUAL(proto_parity_row(64, 192), 64);
	roundtrip(64, 4, 190);
}

/*
 * Every number of losses up to the parity count, on one fec object (so
 * that its table cache is hit, missed and evicted, across group sizes and
 * symbol lengths): e data symbols lost at random, rebuilt from e of the
 * parity rows chosen at random and handed over in random order, give the
 * original bytes; and parity encoded through the cache equals parity
 * encoded by a fresh object.  Past 16 losses the decoder takes its other
 * way (one decoding row per symbol), which this crosses too.
 */
static void
test_every_pattern(void)
{
	static const uint32_t	 ks[] = { 64, 17, 128, 2, 64 };
	static const size_t	 lens[] = { 1424, 100, 16, 1424, 4096 };
	struct fec		*f = fec_new(), *fresh;
	uint8_t			*data[PROTO_MAX_K], *par[24], *src[PROTO_MAX_K];
	uint8_t			*out[PROTO_MAX_K], *chk[24];
	uint32_t		 prow[24], rows[PROTO_MAX_K], miss[PROTO_MAX_K];
	uint32_t		 t, i, j, e, k, np, n, nmiss, pick[24], tmp;
	uint8_t			 lost[PROTO_MAX_K];
	size_t			 len, x;
	int			 ok;

	for (t = 0; t < sizeof(ks) / sizeof(ks[0]); t++) {
		k = ks[t];
		len = lens[t];
		np = k < 20 ? k : 20;
		for (i = 0; i < k; i++) {
			data[i] = malloc(len);
			out[i] = malloc(len);
			for (x = 0; x < len; x++)
				data[i][x] = (uint8_t)rnd();
		}
		for (i = 0; i < np; i++) {
			par[i] = malloc(len);
			chk[i] = malloc(len);
			prow[i] = proto_parity_row(k, t * 3 + i);
		}
		CU_ASSERT_FATAL(fec_encode(f, k, data, np, prow, par, len) == 0);
		/* The proactive rows again, then fewer: from the cache. */
		for (n = np; n >= 1; n = n > 7 ? n - 7 : n - 1) {
			CU_ASSERT_FATAL(fec_encode(f, k, data, n, prow, chk,
			    len) == 0);
			fresh = fec_new();
			CU_ASSERT_FATAL(fec_encode(fresh, k, data, n, prow, par,
			    len) == 0);
			fec_free(fresh);
			for (i = 0, ok = 1; i < n; i++)
				ok &= memcmp(chk[i], par[i], len) == 0;
			CU_ASSERT(ok);
		}
		CU_ASSERT_FATAL(fec_encode(f, k, data, np, prow, par, len) == 0);
		for (e = 1; e <= np; e++) {
			memset(lost, 0, sizeof(lost));
			for (nmiss = 0; nmiss < e;) {
				i = rnd() % k;
				if (!lost[i]) {
					lost[i] = 1;
					nmiss++;
				}
			}
			/* e of the np parity rows, in random order. */
			for (i = 0; i < np; i++)
				pick[i] = i;
			for (i = np - 1; i > 0; i--) {
				j = rnd() % (i + 1);
				tmp = pick[i];
				pick[i] = pick[j];
				pick[j] = tmp;
			}
			/* Received data and parity interleaved at random. */
			n = 0;
			nmiss = 0;
			for (i = 0, j = 0; i < k; i++) {
				if (lost[i]) {
					miss[nmiss] = i;
					memset(out[nmiss], 0xa5, len);
					nmiss++;
				}
			}
			for (i = 0; i < k; i++) {
				if (!lost[i]) {
					rows[n] = i;
					src[n++] = data[i];
				}
				if (j < e && (rnd() % 4 == 0 || k - i <= e - j)) {
					rows[n] = prow[pick[j]];
					src[n++] = par[pick[j]];
					j++;
				}
			}
			CU_ASSERT_FATAL(n == k);
			CU_ASSERT_FATAL(fec_decode(f, k, rows, src, nmiss, miss,
			    out, len) == 0);
			for (i = 0, ok = 1; i < nmiss; i++)
				ok &= memcmp(out[i], data[miss[i]], len) == 0;
			CU_ASSERT(ok);
		}
		for (i = 0; i < k; i++) {
			free(data[i]);
			free(out[i]);
		}
		for (i = 0; i < np; i++) {
			free(par[i]);
			free(chk[i]);
		}
	}
	fec_free(f);
}

static void
test_bad_rows(void)
{
	struct fec	*f = fec_new();
	uint8_t		 d[2][16], p[1][16];
	uint8_t		*src[2] = { d[0], d[1] }, *out[1] = { p[0] };
	uint32_t	 row = 1, rows[2] = { 0, 0 }, miss = 1;

	memset(d, 1, sizeof(d));
	/* A data row is not a parity row. */
	CU_ASSERT(fec_encode(f, 2, src, 1, &row, out, 16) == -1);
	row = 256;
	CU_ASSERT(fec_encode(f, 2, src, 1, &row, out, 16) == -1);
	/* Two copies of one row cannot recover a second symbol. */
	CU_ASSERT(fec_decode(f, 2, rows, src, 1, &miss, out, 16) == -1);
	fec_free(f);
}

static CU_TestInfo tests[] = {
	{ "a few losses", test_small_losses },
	{ "whole group from parity", test_whole_group },
	{ "wrapped repair numbers", test_wrapped_rows },
	{ "every loss count up to the parity, cached tables",
	    test_every_pattern },
	{ "bad rows refused", test_bad_rows },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("fec", tests));
}
