/*
 * The receiver's storage: the staging file OUT.fcpart, written block by
 * block from the ring, and the state file OUT.fcstate, a bitmap of the
 * symbols on disk persisted after an fdatasync, so that a receiver killed
 * and restarted asks only for what it lacks.  Here too the file is hashed
 * (or handed to the caller's data callback, which verifies it instead) in
 * file order as blocks complete, and the verified file is renamed into
 * place.  This is the bottom of the receiver: it calls nothing above it
 * (the caller's callbacks aside) and reports a failure through r->fail.
 *
 * Why pwrite and not a mapping of the staging file: decrypting straight
 * into an mmap of the fallocated file was measured slower on ext4 and on
 * tmpfs (doc/protocol.md, "The receive path"): the kernel zeroes every page
 * it maps for writing (ext4) or pays a fault per page (tmpfs), while a
 * pwrite of whole pages copies each byte once into the page cache.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "log.h"
#include "proto.h"
#include "wire.h"
#include "xmalloc.h"
#include "xrecv_int.h"

#define XR_STATE_MAGIC		0x46435253U	/* "FCRS" */
#define XR_STATE_VERSION	2	/* 2 added the content digest */
#define XR_STATE_HDR1		36	/* header of version 1 */
#define XR_STATE_HDR		(XR_STATE_HDR1 + SHA256_LEN)
/*
 * The staging file's space is claimed (fallocate) ahead of the writes, in
 * steps, not all at once: claiming 256 MiB on tmpfs takes about 65 ms of
 * page allocation, and the sender waited for it (8 receivers sharing two
 * cores: 0.3 s before the first packet).  The free space is checked at
 * once; a write never goes past what is claimed.
 */
#define XR_RESERVE_STEP		(16ULL << 20)
#define XR_RESERVE_AHEAD	(32ULL << 20)	/* claimed beyond the writes */

/*
 * The persisted state: header (with the SHA-256 the caller expects of the
 * file, zero when it gave none), bitmap of the symbols on disk, and a
 * SHA-256 over both.  Only symbols written before the fdatasync that
 * precedes this write are in the bitmap.  Called from the timer every
 * XR_PERSIST_MS, never from the packet path; when nothing reached the
 * disk since the last one (a sender that waits, a stalled transfer) there
 * is nothing to sync or rewrite.
 */
int
xr_store_persist(struct xrecv *r)
{
	struct wire_w	w;
	uint8_t		md[SHA256_LEN];
	size_t		blen = (r->geom.nsym + 7) / 8;
	char		err[256];
	int		rv;

	if (r->fd == -1)
		return (0);
	if (r->persisted && !r->disk_new) {
		r->last_persist = mono_ms();
		return (0);
	}
	if (fdatasync(r->fd) == -1) {
		r->fail(r, "%s: fdatasync: %s", r->part, strerror(errno));
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
		r->fail(r, "%s", err);
		return (-1);
	}
	r->last_persist = mono_ms();
	r->persisted = 1;
	r->disk_new = 0;
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
int
xr_store_load(struct xrecv *r, const struct proto_geom *geom)
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

/* 0 when the file system of fd has room for size bytes, else ENOSPC. */
static int
xr_store_room(int fd, uint64_t size)
{
	struct statvfs	sv;

	if (fstatvfs(fd, &sv) == -1 || sv.f_frsize == 0)
		return (0);	/* cannot tell: the claims will */
	if ((uint64_t)sv.f_bavail < size / sv.f_frsize + 1)
		return (ENOSPC);
	return (0);
}

/*
 * Claim the staging file's space up to end (at least a step beyond what is
 * claimed, never past the file): 0, or the errno of the claim.  A file
 * system that cannot claim space (EOPNOTSUPP, EINVAL) is not asked again;
 * its writes then fail cleanly as writes.
 */
static int
xr_store_claim(struct xrecv *r, uint64_t end)
{
	uint64_t	to;
	int		e;

	if (end > r->geom.size)
		end = r->geom.size;
	if (end <= r->reserved)
		return (0);
	to = end > r->reserved + XR_RESERVE_STEP ? end :
	    r->reserved + XR_RESERVE_STEP;
	if (to > r->geom.size)
		to = r->geom.size;
	e = posix_fallocate(r->fd, (off_t)r->reserved,
	    (off_t)(to - r->reserved));
	if (e == EOPNOTSUPP || e == EINVAL) {
		r->reserved = r->geom.size;
		return (0);
	}
	if (e != 0)
		return (e);
	r->reserved = to;
	return (0);
}

/* Called on a failed claim: the receiver fails, naming the disk. */
static int
xr_store_claim_failed(struct xrecv *r, int e)
{
	r->fail(r, "%s: cannot store %" PRIu64 " bytes: %s (%" PRIu64
	    " MiB claimed)", r->part, r->geom.size, strerror(e),
	    r->reserved >> 20);
	return (-1);
}

/*
 * From the timer, off the packet path: keep XR_RESERVE_AHEAD claimed
 * beyond the furthest write, so that a write rarely has to claim first.
 */
int
xr_store_reserve_ahead(struct xrecv *r)
{
	int	e;

	if (r->fd == -1)
		return (0);
	if ((e = xr_store_claim(r, r->wr_end + XR_RESERVE_AHEAD)) != 0)
		return (xr_store_claim_failed(r, e));
	return (0);
}

/*
 * The staging file of the session just locked onto: resumed when the
 * state file holds its bitmap and the file has the right size, else
 * created and its space claimed.  What is on disk then counts as held.
 */
int
xr_store_open(struct xrecv *r)
{
	struct proto_geom	*g = &r->geom;
	uint64_t		 i, b, gr, blen = (g->nsym + 7) / 8;
	int			 resumed = 0, e;

	r->reserved = r->wr_end = 0;	/* a resumed file is claimed again */
	if (xr_store_load(r, g) == 0 &&
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
			r->fail(r, "%s: %s", r->part, strerror(errno));
			return (-1);
		}
		/*
		 * A disk without room for the file fails here, cleanly; the
		 * first steps are claimed now, the rest as the writes come
		 * (xr_store_claim).
		 */
		e = xr_store_room(r->fd, g->size);
		if (e == 0)
			e = xr_store_claim(r, XR_RESERVE_AHEAD);
		if (e != 0) {
			close(r->fd);
			r->fd = -1;
			(void)unlink(r->part);
			r->fail(r, "%s: cannot store %" PRIu64 " bytes: %s",
			    r->part, g->size, strerror(e));
			return (-1);
		}
		if (ftruncate(r->fd, (off_t)g->size) == -1) {
			r->fail(r, "%s: %s", r->part, strerror(errno));
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
	return (0);
}

/* Write symbols of slot sl that are held but not on disk yet. */
int
xr_store_writeback(struct xrecv *r, struct xr_slot *sl)
{
	uint64_t	b = (uint64_t)sl->block, first = b * r->geom.bsym;
	uint32_t	n = proto_block_nsym(&r->geom, b), i, j;
	uint64_t	off, end;
	ssize_t		w;
	size_t		len, done;
	int		e;

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
		if (end > r->reserved &&
		    (e = xr_store_claim(r, end + XR_RESERVE_AHEAD)) != 0)
			return (xr_store_claim_failed(r, e));
		if (end > r->wr_end)
			r->wr_end = end;
		for (done = 0; done < len; done += (size_t)w) {
			w = pwrite(r->fd, sl->buf + (size_t)i * r->geom.sym +
			    done, len - done, (off_t)(off + done));
			if (w == -1 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w <= 0) {
				r->fail(r, "%s: write: %s", r->part,
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
		r->disk_new = 1;
	}
	return (0);
}

static int
xr_store_pread(int fd, uint8_t *buf, size_t len, uint64_t off)
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
struct xr_slot *
xr_store_block(struct xrecv *r, uint64_t b)
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
		if (xr_store_writeback(r, victim) == -1)
			return (NULL);
		r->b_slot[victim->block] = -1;
	}
	want = blen;
	if (b * blen + want > r->geom.size)
		want = (size_t)(r->geom.size - b * blen);
	if (r->b_have[b] > 0) {
		if (xr_store_pread(r->fd, victim->buf, want, b * blen) == -1) {
			r->fail(r, "%s: read: %s", r->part, strerror(errno));
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

/* One piece of the file, in file order: to the hash, to the caller. */
static void
xr_store_consume(struct xrecv *r, uint64_t off, const uint8_t *buf,
    size_t len)
{
	if (r->sha != NULL)
		sha256_update(r->sha, buf, len);
	if (r->cb.data != NULL)
		r->cb.data(r->arg, off, buf, len);
}

/*
 * Hash complete blocks in file order, from the ring or from disk (or hand
 * them to the caller, who verifies them: xrecv_cb.check).
 */
int
xr_store_hash(struct xrecv *r)
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
			xr_store_consume(r, b * blen, r->ring[r->b_slot[b]].buf,
			    want);
		else {
			r->n_hashreads++;
			for (off = 0; off < want; off += n) {
				n = want - off < (1 << 20) ? want - off :
				    (1 << 20);
				if (xr_store_pread(r->fd, r->scratch, n,
				    b * blen + off) == -1) {
					r->fail(r, "%s: read: %s", r->part,
					    strerror(errno));
					return (-1);
				}
				xr_store_consume(r, b * blen + off, r->scratch,
				    n);
			}
		}
		r->hash_next++;
	}
	return (0);
}

/* Write back every block the ring holds. */
int
xr_store_flush(struct xrecv *r)
{
	int	i;

	for (i = 0; i < XR_RING; i++)
		if (r->ring[i].block >= 0 &&
		    xr_store_writeback(r, &r->ring[i]) == -1)
			return (-1);
	return (0);
}

/*
 * The file's content is the right one: our hash against the announced
 * (or expected) SHA-256, or, when the caller verifies what it was handed,
 * its verdict.  A wrong file is removed with its state: resuming it would
 * only bring the same bytes back.
 */
static int
xr_store_verify(struct xrecv *r)
{
	uint8_t	md[SHA256_LEN];
	char	hex[2 * SHA256_LEN + 1], why[PROTO_ERR_MAX + 1];

	if (r->cb.check != NULL) {
		why[0] = '\0';
		if (r->cb.check(r->arg, why, sizeof(why)) == 0)
			return (0);
		(void)unlink(r->part);
		(void)unlink(r->statepath);
		r->fail(r, "%s", why[0] != '\0' ? why :
		    "the file was refused by its verification");
		return (-1);
	}
	sha256_final(r->sha, md);
	sha256_free(r->sha);
	r->sha = NULL;
	if (memcmp(md, r->digest, SHA256_LEN) != 0) {
		hex_encode(md, SHA256_LEN, hex);
		(void)unlink(r->part);
		(void)unlink(r->statepath);
		r->fail(r, "SHA-256 mismatch: got %s", hex);
		return (-1);
	}
	return (0);
}

/*
 * Everything held and hashed: verify, then rename into place.  On
 * failure the reason has gone to r->fail.
 */
int
xr_store_finish(struct xrecv *r)
{
	if (xr_store_flush(r) == -1)
		return (-1);
	if (xr_store_verify(r) == -1)
		return (-1);
	if (fsync(r->fd) == -1) {
		r->fail(r, "%s: fsync: %s", r->part, strerror(errno));
		return (-1);
	}
	if (xr_store_persist(r) == -1)
		return (-1);
	if (rename(r->part, r->conf.out) == -1) {
		r->fail(r, "rename %s to %s: %s", r->part, r->conf.out,
		    strerror(errno));
		return (-1);
	}
	(void)unlink(r->statepath);
	if (fsync_dir(r->conf.out) == -1)
		log_warn("fsync directory of %s", r->conf.out);
	close(r->fd);
	r->fd = -1;
	return (0);
}
