/*
 * Fuzz target for the receiver's persisted state (common/xrecv_store.c):
 * xr_store_load reads OUT.fcstate, which survives a crash and may be
 * truncated, stale or damaged.  Each input is tried as the whole file and,
 * so that the fuzzer gets past the checksum, as the file's content with a
 * correct SHA-256 appended.  Each file is loaded as at start (no geometry)
 * and with the geometry its own header names, once as the same session
 * and once as another one that expects the file's digest.  A bitmap that
 * loads is persisted again by xr_store_persist and must load back to the
 * same bits; for a small file, xr_store_open then resumes from it (the
 * staging file is there with the right size) and its counts must stay
 * within the geometry.
 */
#include <inttypes.h>

#include "crypto.h"
#include "proto.h"
#include "wire.h"
#include "xrecv_int.h"

#define FUZZ_NAME	"xrstore"
#define FUZZ_MAX_LEN	(1 << 20)
#include "fuzz.h"

/* Offsets in the state file's header (xrecv_store.c). */
#define ST_SESSION	6
#define ST_GEOM		22	/* size u64, sym u16, k u16, il u16 */
#define ST_DIGEST	36
#define ST_MAX_BITMAP	(1 << 20)
/* xr_store_open claims the file's space: only for files this small. */
#define ST_MAX_OPEN	(1 << 20)

static void
no_fail(struct xrecv *r, const char *fmt, ...)
{
	(void)r;
	(void)fmt;
	fuzz_die("xr_store_persist failed");
}

/* Persist what was loaded and load it again: the same bits must come back. */
static void
check_persist(struct xrecv *r, size_t blen)
{
	uint8_t	*bits = malloc(blen + 1);

	memcpy(bits, r->disk, blen);
	if ((r->fd = open(r->part, O_RDWR | O_CREAT, 0600)) == -1)
		fuzz_die("%s: %s", r->part, strerror(errno));
	(void)xr_store_persist(r);
	close(r->fd);
	r->fd = -1;
	memset(r->disk, 0, blen);
	if (xr_store_load(r, &r->geom) == -1 ||
	    memcmp(bits, r->disk, blen) != 0)
		fuzz_die("a state file written by xr_store_persist does not "
		    "load back");
	free(bits);
}

/* Resume as the receiver does once locked; the arrays are xr_join_lock's. */
static void
check_open(struct xrecv *r)
{
	struct proto_geom	*g = &r->geom;
	int			 fd;

	if ((fd = open(r->part, O_RDWR | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    ftruncate(fd, (off_t)g->size) == -1)
		fuzz_die("%s: %s", r->part, strerror(errno));
	close(fd);
	r->have = calloc(1, (g->nsym + 7) / 8 + 1);
	r->g_have = calloc(g->ngroups, 1);
	r->b_have = calloc(g->nblocks, sizeof(*r->b_have));
	r->held_c = calloc(proto_held_chunks(g), 1);
	r->nhave = r->blocks_done = 0;
	if (xr_store_open(r) == -1)
		fuzz_die("xr_store_open failed");
	if (r->nhave > g->nsym || r->blocks_done > g->nblocks ||
	    r->resumed_bytes > g->size)
		fuzz_die("resumed %" PRIu64 " symbols, %" PRIu64 " blocks of "
		    "%" PRIu64 " and %" PRIu64, r->nhave, r->blocks_done,
		    g->nsym, g->nblocks);
	close(r->fd);
	r->fd = -1;
	free(r->have);
	free(r->g_have);
	free(r->b_have);
	free(r->held_c);
}

static void
load(const uint8_t *file, size_t len)
{
	struct xrecv	*r;
	uint64_t	 session = 0;
	size_t		 blen;
	int		 pass;

	r = calloc(1, sizeof(*r));
	r->fd = -1;
	r->fail = no_fail;
	/* fuzz_path's buffer is reused: copies. */
	r->statepath = strdup(fuzz_path("out.fcstate"));
	r->part = strdup(fuzz_path("out.fcpart"));
	fuzz_file("out.fcstate", file, len);
	if (xr_store_load(r, NULL) == 0 && r->rid == 0)
		fuzz_die("a state file gave receiver id 0");
	if (len < ST_GEOM + 14 ||
	    proto_geom_init(&r->geom, wire_load64(file + ST_GEOM),
	    wire_load16(file + ST_GEOM + 8), wire_load16(file + ST_GEOM + 10),
	    wire_load16(file + ST_GEOM + 12)) == -1 ||
	    (blen = (r->geom.nsym + 7) / 8) > ST_MAX_BITMAP)
		goto out;
	session = wire_load64(file + ST_SESSION);
	r->disk = calloc(1, blen + 1);
	for (pass = 0; pass < 2; pass++) {
		/* The first pass's check rewrote it. */
		fuzz_file("out.fcstate", file, len);
		r->session = pass == 0 ? session : ~session;
		r->conf.expect_digest = pass == 1 && len >= ST_DIGEST +
		    SHA256_LEN;
		if (r->conf.expect_digest)
			memcpy(r->conf.expect_sha256, file + ST_DIGEST,
			    SHA256_LEN);
		if (xr_store_load(r, &r->geom) == 0) {
			check_persist(r, blen);
			if (r->geom.size <= ST_MAX_OPEN)
				check_open(r);
		}
	}
	free(r->disk);
out:
	free(r->statepath);
	free(r->part);
	free(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t	*file;

	load(data, size);
	file = malloc(size + SHA256_LEN);
	memcpy(file, data, size);
	sha256(data, size, file + size);
	load(file, size + SHA256_LEN);
	free(file);
	return (0);
}
