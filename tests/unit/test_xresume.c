/*
 * A real sender and a real receiver (common/xsend.c, common/xrecv.c) on one
 * event_base over unicast loopback, for resuming on a new session: the
 * receiver starts with a staging file and a state file of an earlier
 * session of the same content (written here in the documented format,
 * doc/protocol.md "Receiver state on disk") holding three blocks in four,
 * and the new session's first pass must send only the fourth, whether the
 * sender was given the file's digest or hashes it itself, and the file
 * must come out whole and verified.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "crypto.h"
#include "log.h"
#include "proto.h"
#include "udp.h"
#include "wire.h"
#include "xrecv.h"
#include "xsend.h"
#include "unit.h"
#include "xpeer.h"

static uint8_t	key[AEAD_KEY_LEN] = { 0x91, 0x92, 0x93 };

/* 101 blocks of 16 symbols of 1424 bytes, the last one of 4 symbols. */
#define XR_K		4
#define XR_I		4
#define XR_SYM		1424
#define XR_BSYM		(XR_K * XR_I)
#define XR_BLOCK	(XR_BSYM * XR_SYM)
#define XR_SIZE		(100 * XR_BLOCK + 5000)
#define XR_NSYM		((XR_SIZE + XR_SYM - 1) / XR_SYM)

struct pair {
	struct event_base	*base;
	struct xsend		*xs;
	struct xrecv		*xr;
	int			 s_done, s_ok;
	int			 r_done, r_ok;
	char			 r_err[PROTO_ERR_MAX + 1];
};

static void
pair_sent(void *arg, int ok)
{
	struct pair	*p = arg;

	p->s_done = 1;
	p->s_ok = ok;
}

static void
pair_received(void *arg, int ok, const char *err)
{
	struct pair	*p = arg;

	p->r_done = 1;
	p->r_ok = ok;
	snprintf(p->r_err, sizeof(p->r_err), "%s", err != NULL ? err : "");
}

static void
write_file(const char *path, const uint8_t *buf, size_t len)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, buf, len) == (ssize_t)len);
	close(fd);
}

/* Whether the staged earlier session holds block b: three in four. */
static int
held(uint64_t b)
{
	return (b % 4 != 3);
}

/*
 * The source file (pseudo-random bytes), and, when stage, OUT.fcpart with
 * the held blocks in place and zeros elsewhere, and OUT.fcstate of an
 * earlier session with their symbols in the bitmap.  The held bytes in
 * *held_bytes, the held symbols in *held_syms.
 */
static void
make_files(const char *src, const char *out, int stage,
    uint8_t md[SHA256_LEN], uint64_t *held_bytes, uint64_t *held_syms)
{
	struct proto_geom	 g;
	struct wire_w		 w;
	uint8_t			*data, *part, *bitmap, smd[SHA256_LEN];
	char			 path[PATH_MAX + 16];
	uint64_t		 i, b, x = 0x9e3779b97f4a7c15ULL;
	size_t			 blen;

	CU_ASSERT_FATAL(proto_geom_init(&g, XR_SIZE, XR_SYM, XR_K,
	    XR_I) == 0);
	CU_ASSERT_FATAL(g.nblocks == 101 && held(g.nblocks - 1));
	data = malloc(XR_SIZE);
	part = calloc(1, XR_SIZE);
	blen = (g.nsym + 7) / 8;
	bitmap = calloc(1, blen);
	CU_ASSERT_FATAL(data != NULL && part != NULL && bitmap != NULL);
	for (i = 0; i < XR_SIZE; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		data[i] = (uint8_t)(x >> 24);
	}
	write_file(src, data, XR_SIZE);
	sha256(data, XR_SIZE, md);
	*held_bytes = *held_syms = 0;
	for (i = 0; i < g.nsym; i++) {
		b = i / g.bsym;
		if (!held(b))
			continue;
		bitmap[i / 8] |= (uint8_t)(1U << (i % 8));
		memcpy(part + i * XR_SYM, data + i * XR_SYM,
		    proto_sym_len(&g, i));
		*held_bytes += proto_sym_len(&g, i);
		(*held_syms)++;
	}
	if (stage) {
		snprintf(path, sizeof(path), "%s.fcpart", out);
		write_file(path, part, XR_SIZE);
		wire_w_grow(&w, 256 + blen);
		wire_put_u32(&w, 0x46435253U);	/* FCRS */
		wire_put_u16(&w, 2);
		wire_put_u64(&w, 0x5e5510115e55ULL);	/* an older session */
		wire_put_u64(&w, 0x4242);		/* receiver id */
		wire_put_u64(&w, XR_SIZE);
		wire_put_u16(&w, XR_SYM);
		wire_put_u16(&w, XR_K);
		wire_put_u16(&w, XR_I);
		wire_put_bytes(&w, md, SHA256_LEN);
		wire_put_bytes(&w, bitmap, blen);
		sha256(w.buf, w.len, smd);
		wire_put_bytes(&w, smd, SHA256_LEN);
		CU_ASSERT_FATAL(!w.err);
		snprintf(path, sizeof(path), "%s.fcstate", out);
		write_file(path, w.buf, w.len);
		wire_w_free(&w);
	}
	free(data);
	free(part);
	free(bitmap);
}

static int
same_files(const char *a, const char *b)
{
	char	cmd[2 * PATH_MAX + 32];

	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return (system(cmd) == 0);
}

/*
 * One transfer of the source file to OUT, the receiver expecting its
 * digest (so that it resumes on a new session), the sender given it when
 * give_digest.  Stats of both in *ss and *rs.
 */
static void
transfer(int stage, int give_digest, struct xsend_stats *ss,
    struct xrecv_stats *rs, uint64_t *held_bytes, uint64_t *held_syms)
{
	static const struct xsend_cb	scb = { NULL, NULL, NULL, NULL, NULL,
	    pair_sent };
	static const struct xrecv_cb	rcb = { NULL, NULL, pair_received,
	    NULL, NULL };
	struct xsend_conf		sc;
	struct xrecv_conf		rc;
	struct pair			p;
	struct timeval			tv;
	char				src[PATH_MAX], out[PATH_MAX];
	char				addr[64], err[256];
	uint8_t				md[SHA256_LEN];
	int				i;

	snprintf(src, sizeof(src), "%s/src", unit_dir);
	snprintf(out, sizeof(out), "%s/out", unit_dir);
	(void)unlink(out);
	make_files(src, out, stage, md, held_bytes, held_syms);
	memset(&p, 0, sizeof(p));
	p.base = event_base_new();
	CU_ASSERT_FATAL(p.base != NULL);

	memset(&rc, 0, sizeof(rc));
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", xpeer_free_port());
	CU_ASSERT_FATAL(udp_parse(addr, &rc.group, 0, err, sizeof(err)) == 0);
	rc.out = out;
	rc.expect_size = XR_SIZE;
	rc.expect_digest = 1;
	memcpy(rc.expect_sha256, md, SHA256_LEN);
	memcpy(rc.key, key, sizeof(key));
	p.xr = xrecv_new(p.base, &rc, &rcb, &p, err, sizeof(err));
	if (p.xr == NULL)
		fprintf(stderr, "xrecv_new: %s\n", err);
	CU_ASSERT_FATAL(p.xr != NULL);

	memset(&sc, 0, sizeof(sc));
	sc.path = src;
	sc.group = rc.group;
	sc.k = XR_K;
	sc.il = XR_I;
	sc.min_receivers = 1;
	sc.max_wait_ms = -1;
	sc.src_port = -1;
	sc.has_digest = give_digest;
	memcpy(sc.digest, md, SHA256_LEN);
	memcpy(sc.key, key, sizeof(key));
	p.xs = xsend_new(p.base, &sc, &scb, &p, err, sizeof(err));
	if (p.xs == NULL)
		fprintf(stderr, "xsend_new: %s\n", err);
	CU_ASSERT_FATAL(p.xs != NULL);

	CU_ASSERT_FATAL(xrecv_start(p.xr) == 0);
	CU_ASSERT_FATAL(xsend_start(p.xs) == 0);
	for (i = 0; i < 1000 && !(p.s_done && p.r_done); i++) {
		tv.tv_sec = 0;
		tv.tv_usec = 20000;
		event_base_loopexit(p.base, &tv);
		event_base_dispatch(p.base);
	}
	if (!p.r_ok)
		fprintf(stderr, "receiver: %s\n", p.r_err);
	CU_ASSERT(p.s_done && p.s_ok);
	CU_ASSERT(p.r_done && p.r_ok);
	CU_ASSERT(same_files(src, out));
	xsend_stats(p.xs, ss);
	xrecv_stats(p.xr, rs);
	CU_ASSERT_EQUAL(ss->drops[PROTO_DROP_RANGE], 0);
	CU_ASSERT_EQUAL(ss->drops[PROTO_DROP_STALE], 0);
	xsend_free(p.xs);
	xrecv_free(p.xr);
	event_base_free(p.base);
}

/*
 * Issue 6: a receiver holding 75% of the blocks resumes on a new session
 * (a sender given the digest, as fleetcastd's): the first pass sends
 * only the other 25%.
 */
static void
test_resume_skips(void)
{
	struct xsend_stats	ss;
	struct xrecv_stats	rs;
	uint64_t		hb, hs;

	transfer(1, 1, &ss, &rs, &hb, &hs);
	CU_ASSERT(hb > XR_SIZE / 4 * 3 - XR_BLOCK);
	/* The receiver counts whole symbols, the short last one too. */
	CU_ASSERT(rs.resumed_bytes >= hb && rs.resumed_bytes < hb + XR_SYM);
	CU_ASSERT_EQUAL(ss.skipped_bytes, hb);
	CU_ASSERT_EQUAL(ss.first_pass_bytes, XR_SIZE - hb);
	CU_ASSERT_EQUAL(ss.data_packets, XR_NSYM - hs);
	CU_ASSERT(rs.received_bytes <= XR_SIZE - hb);
	CU_ASSERT(rs.received_bytes > 0);
}

/* The same without the digest: the sender hashes, reading what it skips. */
static void
test_resume_skips_hashing(void)
{
	struct xsend_stats	ss;
	struct xrecv_stats	rs;
	uint64_t		hb, hs;

	transfer(1, 0, &ss, &rs, &hb, &hs);
	CU_ASSERT_EQUAL(ss.skipped_bytes, hb);
	CU_ASSERT_EQUAL(ss.data_packets, XR_NSYM - hs);
	CU_ASSERT(rs.resumed_bytes >= hb && rs.resumed_bytes < hb + XR_SYM);
}

/* Nothing on disk: no HELD, nothing skipped, the whole first pass. */
static void
test_fresh_sends_all(void)
{
	struct xsend_stats	ss;
	struct xrecv_stats	rs;
	uint64_t		hb, hs;

	transfer(0, 1, &ss, &rs, &hb, &hs);
	CU_ASSERT_EQUAL(ss.skipped_bytes, 0);
	CU_ASSERT_EQUAL(ss.data_packets, XR_NSYM);
	CU_ASSERT_EQUAL(rs.resumed_bytes, 0);
}

static CU_TestInfo tests[] = {
	{ "a resumed receiver: the first pass sends only what it lacks",
	    test_resume_skips },
	{ "the same with the sender hashing the file", test_resume_skips_hashing },
	{ "a fresh receiver gets the whole first pass", test_fresh_sends_all },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (xpeer_main("test_xresume", "xresume", tests));
}
