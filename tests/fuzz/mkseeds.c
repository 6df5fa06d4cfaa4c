/*
 * Writes the seed corpora of the fuzz targets whose inputs are binary or
 * signed (proto, manifest, pkg, xrstore, xrecv, xsend, pubkey, csr), with the project's own
 * encoders and the fixed signing key of fuzz.h, so that every seed is
 * something the real code writes; the text seeds (conf, cond, scenario)
 * are written by hand.  Run from the build directory to refresh them:
 *
 *	make tests/fuzz/mkseeds && tests/fuzz/mkseeds ../tests/fuzz/corpus
 *
 * The CSRs are made with fresh keys, so those two files change on every
 * run; the rest is deterministic apart from build times.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "crypto.h"
#include "pkg.h"
#include "proto.h"
#include "wire.h"
#include "xmalloc.h"

#define FUZZ_NAME	"mkseeds"
#define FUZZ_MAX_LEN	0
#define FUZZ_NO_MAIN
#include "fuzz.h"

static const char	*corpus;
static uint8_t		 priv[ED25519_PRIV_LEN], pub[ED25519_PUB_LEN];

static void
seed(const char *target, const char *name, const void *data, size_t len)
{
	char	path[4096];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", corpus, target);
	(void)mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", corpus, target, name);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    write(fd, data, len) != (ssize_t)len)
		fuzz_die("%s: %s", path, strerror(errno));
	close(fd);
}

static void
die_if(int failed, const char *what, const char *err)
{
	if (failed)
		fuzz_die("%s: %s", what, err);
}

/* The smallest valid manifest, and one using every field. */
static void
manifests(void)
{
	struct pkg_manifest	m;
	struct pkg_cond		c;
	struct wire_w		w;
	char			err[512];

	pkg_manifest_init(&m);
	strcpy(m.id, "SP2");
	m.type = PKG_SERVICEPACK;
	m.has_version = 1;
	m.major = 2;
	m.exec = xstrdup("setup.sh");
	ed25519_keyid(pub, m.key_id);
	wire_w_grow(&w, 256);
	pkg_manifest_encode(&m, &w);
	seed("manifest", "min", w.buf, w.len);
	wire_w_free(&w);
	pkg_manifest_free(&m);

	pkg_manifest_init(&m);
	strcpy(m.id, "HF-1234_b");
	m.type = PKG_HOTFIX;
	m.urgency = PKG_URGENCY_HIGH;
	m.flags = PKG_F_ALL;
	m.has_version = 1;
	m.major = 65535;
	m.minor = 7;
	die_if(pkg_field_parse_date("date", "2024/02/29", &m, err,
	    sizeof(err)) == -1, "date", err);
	strcpy(m.company, "Ex\xc3\xa4mple GmbH");
	strcpy(m.summary, "line one\n\tline two");
	strcpy(m.kb, "KB5001234");
	m.exec = xstrdup("bin/install.sh");
	die_if(pkg_field_list_add("args", &m.args, "--quiet", PKG_ARGS_MAX,
	    err, sizeof(err)) == -1 || pkg_field_list_add("args", &m.args, "",
	    PKG_ARGS_MAX, err, sizeof(err)) == -1 ||
	    pkg_field_list_add("os", &m.os, "debian-12", PKG_LIST_MAX, err,
	    sizeof(err)) == -1 || pkg_field_list_add("lang", &m.lang, "en_US",
	    PKG_LIST_MAX, err, sizeof(err)) == -1 ||
	    pkg_field_list_add("supersedes", &m.supersedes, "HF-1000",
	    PKG_LIST_MAX, err, sizeof(err)) == -1, "list", err);
	strcpy(m.base_sp, "SP2");
	m.requires = xcalloc(2, sizeof(*m.requires));
	die_if(pkg_cond_parse("requires", "os.version >= 12.1", &c, err,
	    sizeof(err)) == -1, "requires", err);
	m.requires[m.nrequires++] = c;
	die_if(pkg_cond_parse("requires", "ssh exists", &c, err,
	    sizeof(err)) == -1, "requires", err);
	m.requires[m.nrequires++] = c;
	m.compression = PKG_COMPRESS_ZSTD;
	m.payload_size = 4096;
	memset(m.payload_sha256, 0xab, SHA256_LEN);
	m.unpacked_size = 1000;
	m.entries = 3;
	m.built_at = 1700000000;
	ed25519_keyid(pub, m.key_id);
	die_if(pkg_manifest_check(&m, 0, err, sizeof(err)) == -1, "full",
	    err);
	wire_w_grow(&w, 256);
	pkg_manifest_encode(&m, &w);
	seed("manifest", "full", w.buf, w.len);
	wire_w_free(&w);
	pkg_manifest_free(&m);
}

static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat	 st;
	uint8_t		*buf;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1)
		fuzz_die("%s: %s", path, strerror(errno));
	*len = (size_t)st.st_size;
	buf = xmalloc(*len + 1);
	if (read(fd, buf, *len) != (ssize_t)*len)
		fuzz_die("%s: short read", path);
	close(fd);
	return (buf);
}

/*
 * A folder with a file, a directory and a symlink, built by pkg_build;
 * the whole file is a seed (mode byte 0), and its payload with the
 * manifest's counts another (mode byte 1, fuzz_pkg.c).
 */
static void
package(int zstd)
{
	struct pkg_manifest	 m;
	struct pkg		*p;
	const struct pkg_manifest *pm;
	struct wire_w		 w;
	char			 dir[sizeof(fuzz_scratch) + 8],
				 out[sizeof(fuzz_scratch) + 16], err[1024];
	uint8_t			*file;
	size_t			 len;
	uint64_t		 off;

	snprintf(dir, sizeof(dir), "%s/tree", fuzz_dir());
	fuzz_rm(dir);
	if (mkdir(dir, 0755) == -1)
		fuzz_die("%s: %s", dir, strerror(errno));
	fuzz_file("tree/setup.sh", "#!/bin/sh\necho ok\n", 18);
	if (chmod(fuzz_path("tree/setup.sh"), 0755) == -1 || mkdir(fuzz_path("tree/lib"), 0755) == -1 ||
	    symlink("../setup.sh", fuzz_path("tree/lib/link")) == -1)
		fuzz_die("tree: %s", strerror(errno));
	pkg_manifest_init(&m);
	strcpy(m.id, "fuzz");
	m.type = PKG_APPLICATION;
	m.urgency = PKG_URGENCY_NORMAL;
	m.exec = xstrdup("setup.sh");
	m.compression = zstd ? PKG_COMPRESS_ZSTD : PKG_COMPRESS_NONE;
	snprintf(out, sizeof(out), "%s/seed.fcpkg", fuzz_dir());
	(void)unlink(out);
	die_if(pkg_build(&m, dir, out, priv, err, sizeof(err)) != 0,
	    "pkg_build", err);
	pkg_manifest_free(&m);
	file = slurp(out, &len);
	wire_w_grow(&w, len + 8);
	wire_put_u8(&w, 0);
	wire_put_bytes(&w, file, len);
	seed("pkg", zstd ? "built_zstd" : "built", w.buf, w.len);
	wire_w_free(&w);

	die_if(pkg_open(&p, out, (const uint8_t (*)[ED25519_PUB_LEN])&pub, 1,
	    0, err, sizeof(err)) == -1, "pkg_open", err);
	pm = pkg_get_manifest(p);
	off = pkg_get_payload_offset(p);
	wire_w_grow(&w, len + 8);
	wire_put_u8(&w, 1);
	wire_put_u8(&w, zstd);
	wire_put_u16(&w, (uint16_t)pm->entries);
	wire_put_u32(&w, (uint32_t)pm->unpacked_size);
	wire_put_bytes(&w, file + off, len - off);
	seed("pkg", zstd ? "payload_zstd" : "payload", w.buf, w.len);
	wire_w_free(&w);
	pkg_close(p);
	free(file);
}

/*
 * Receiver state files as xr_store_persist writes them (version 2, and
 * version 1 without the digest), whole and without their checksum.
 */
static void
state(int version)
{
	struct wire_w	w;
	uint8_t		md[SHA256_LEN], bits[13];
	char		name[32];

	/* 100000 bytes in 1024-byte symbols: 98 symbols, 13 bitmap bytes. */
	memset(bits, 0, sizeof(bits));
	bits[0] = 0xff;
	bits[5] = 0x0f;
	wire_w_grow(&w, 128);
	wire_put_u32(&w, 0x46435253U);
	wire_put_u16(&w, (uint16_t)version);
	wire_put_u64(&w, 0x1122334455667788ULL);
	wire_put_u64(&w, 0x0102030405060708ULL);
	wire_put_u64(&w, 100000);
	wire_put_u16(&w, 1024);
	wire_put_u16(&w, 32);
	wire_put_u16(&w, 2);
	if (version >= 2) {
		memset(md, 0xcd, sizeof(md));
		wire_put_bytes(&w, md, sizeof(md));
	}
	wire_put_bytes(&w, bits, sizeof(bits));
	snprintf(name, sizeof(name), "v%d_body", version);
	seed("xrstore", name, w.buf, w.len);
	sha256(w.buf, w.len, md);
	wire_put_bytes(&w, md, sizeof(md));
	snprintf(name, sizeof(name), "v%d", version);
	seed("xrstore", name, w.buf, w.len);
	wire_w_free(&w);
}

/* One record of a fuzz_xrecv input: kind, length, bytes. */
static void
xrecv_record(struct wire_w *w, uint8_t kind, const void *p, size_t len)
{
	wire_put_u8(w, kind);
	wire_put_u16(w, (uint16_t)len);
	wire_put_bytes(w, p, len);
}

/*
 * fuzz_xrecv inputs: a 4996-byte file in 512-byte symbols (k 4, I 2),
 * sent whole in order and out of order with duplicates, and one record
 * of every other kind.
 */
static void
xrecv(void)
{
	static const uint8_t	 hdr[6] = { 0, 135, 0, 3, 1, 3 };
	struct proto_announce	 a;
	struct proto_ncf	 n;
	struct wire_w		 w, b;
	uint8_t			 idx[4], body[PROTO_ANNOUNCE_LEN + 64];
	uint32_t		 i;

	wire_w_grow(&w, 256);
	wire_put_bytes(&w, hdr, sizeof(hdr));
	for (i = 0; i < 10; i++) {
		wire_store32(idx, i);
		xrecv_record(&w, 0, idx, sizeof(idx));
	}
	seed("xrecv", "complete", w.buf, w.len);
	wire_w_free(&w);

	wire_w_grow(&w, 256);
	wire_put_bytes(&w, hdr, sizeof(hdr));
	for (i = 0; i < 12; i++) {
		wire_store32(idx, (i * 7) % 10);
		xrecv_record(&w, 0, idx, sizeof(idx));
	}
	seed("xrecv", "shuffled", w.buf, w.len);
	wire_w_free(&w);

	wire_w_grow(&w, 256);
	wire_put_bytes(&w, hdr, sizeof(hdr));
	wire_store32(idx, 3);
	xrecv_record(&w, 0, idx, sizeof(idx));
	memset(body, 0x41, sizeof(body));
	wire_store64(body, 9);
	xrecv_record(&w, 1, body, 8 + 100);
	wire_store32(body, 1);
	wire_store32(body + 4, 4);
	xrecv_record(&w, 2, body, 8 + 512);
	/* The sender draining: all 10 symbols sent. */
	a = (struct proto_announce){ .size = 4996, .sym = 512, .k = 4,
	    .il = 2, .state = PROTO_S_DRAINING, .progress = 10,
	    .rate = 1000000, .report_ms = 100, .backoff_ms = 10,
	    .drop_ms = 5000, .deadline_ms = UINT32_MAX };
	wire_w_fixed(&b, body, sizeof(body));
	die_if(proto_put_announce(&b, &a) == -1, "announce", "");
	xrecv_record(&w, 3, body, b.len);
	memset(&n, 0, sizeof(n));
	n.n = 2;
	n.e[0].group = 1;
	n.e[0].sched = 3;
	n.e[1].group = 99;
	n.e[1].sched = 1;
	wire_w_fixed(&b, body, sizeof(body));
	die_if(proto_put_ncf(&b, &n) == -1, "ncf", "");
	xrecv_record(&w, 4, body, b.len);
	memset(body, 0, PROTO_ACK_LEN);
	body[PROTO_ACK_LEN - 2] = PROTO_ACK_DONE;
	xrecv_record(&w, 5, body, PROTO_ACK_LEN);
	xrecv_record(&w, 6, "FC\x03\x01garbage", 11);
	seed("xrecv", "every_kind", w.buf, w.len);
	wire_w_free(&w);
}

/* One record of a fuzz_xsend input: kind, receiver, length, bytes. */
static void
xsend_record(struct wire_w *w, uint8_t kind, uint8_t who, const void *p,
    size_t len)
{
	wire_put_u8(w, kind);
	wire_put_u8(w, who);
	wire_put_u16(w, (uint16_t)len);
	wire_put_bytes(w, p, len);
}

/* A REPORT record of receiver who (fuzz_xsend sets id and incarnation). */
static void
xsend_report(struct wire_w *w, uint8_t who, struct proto_report *r)
{
	struct wire_w	b;
	uint8_t		body[PROTO_MAX_DGRAM];

	wire_w_fixed(&b, body, sizeof(body));
	die_if(proto_put_report(&b, r) == -1, "report", "");
	xsend_record(w, 1, who, body, b.len);
}

/* A report of state with sequence number rseq, every other field 0. */
static void
xsend_rep(struct proto_report *r, uint8_t state, uint32_t rseq)
{
	memset(r, 0, sizeof(*r));
	r->state = state;
	r->rseq = rseq;
}

/* Write the seed being built and start the next. */
static void
xsend_next(struct wire_w *w, const char *name)
{
	seed("xsend", name, w->buf, w->len);
	wire_w_free(w);
	wire_w_grow(w, 256);
}

static void
xsend_tick(struct wire_w *w, uint8_t ms)
{
	xsend_record(w, 3, 0, &ms, 1);
}

/*
 * fuzz_xsend inputs (a 24,000-byte file, a few blocks): a receiver that
 * joins and reports its way to DONE; one that NAKs every block again and
 * again (finding 2a); one whose overflow count keeps rising (2b); a
 * HELLO flood of every id the target knows (2c); HELD bitmaps.
 */
static void
xsend_seeds(void)
{
	struct proto_report	r;
	struct proto_held	hd;
	struct wire_w		w, b;
	uint8_t			body[PROTO_MAX_DGRAM], inc = 1;
	uint32_t		i, j;

	wire_w_grow(&w, 256);
	xsend_record(&w, 0, 0, &inc, 1);
	xsend_tick(&w, 5);
	memset(&r, 0, sizeof(r));
	r.state = PROTO_R_READY;
	xsend_report(&w, 0, &r);
	for (i = 0; i < 3; i++) {
		xsend_tick(&w, 2);
		r.state = PROTO_R_RECEIVING;
		r.rseq = i + 1;
		r.rx_bytes = 4000 * (i + 1);
		xsend_report(&w, 0, &r);
	}
	r.state = PROTO_R_DONE;
	r.rseq = 20;
	xsend_report(&w, 0, &r);
	xsend_tick(&w, 7);
	xsend_next(&w, "join_report_done");

	xsend_record(&w, 0, 1, &inc, 1);
	xsend_tick(&w, 3);
	for (j = 0; j < 3; j++) {
		xsend_rep(&r, PROTO_R_RECEIVING, j + 1);
		r.rx_bytes = UINT64_MAX - 1;
		r.nnak = 8;
		for (i = 0; i < r.nnak; i++) {
			r.nak[i].kind = i % 2 ? PROTO_NAK_GROUP : PROTO_NAK_BLOCK;
			r.nak[i].id = i;
			r.nak[i].need = 4;
			r.nak[i].seen = 1;
		}
		xsend_report(&w, 1, &r);
		xsend_tick(&w, 3);
	}
	xsend_next(&w, "nak_everything");

	xsend_record(&w, 0, 0, &inc, 1);
	xsend_record(&w, 0, 2, &inc, 1);
	xsend_tick(&w, 3);
	for (j = 0; j < 4; j++) {
		xsend_rep(&r, PROTO_R_RECEIVING, j + 1);
		r.flags = PROTO_RF_EARLY;
		r.overflow = 1000 * (j + 1);
		r.queue_pm = 1000;
		xsend_report(&w, 2, &r);
		r.flags = 0;
		r.overflow = 0;
		r.queue_pm = 0;
		xsend_report(&w, 0, &r);
		xsend_tick(&w, 5);
	}
	xsend_next(&w, "overflow_reporter");

	for (i = 0; i < 24; i++) {
		inc = (uint8_t)(i / 6 + 1);
		xsend_record(&w, 0, (uint8_t)i, &inc, 1);
	}
	xsend_tick(&w, 7);
	xsend_next(&w, "hello_flood");

	inc = 1;
	xsend_record(&w, 0, 0, &inc, 1);
	memset(&hd, 0, sizeof(hd));
	hd.nbits = 3;
	hd.bits[0] = 0x05;
	wire_w_fixed(&b, body, sizeof(body));
	die_if(proto_put_held(&b, &hd) == -1, "held", "");
	xsend_record(&w, 2, 0, body, b.len);
	xsend_tick(&w, 4);
	hd.nbits = 64;
	memset(hd.bits, 0xff, sizeof(hd.bits));
	wire_w_fixed(&b, body, sizeof(body));
	die_if(proto_put_held(&b, &hd) == -1, "held", "");
	xsend_record(&w, 2, 0, body, b.len);
	xsend_tick(&w, 6);
	xsend_record(&w, 4, 0, "\x11garbage", 8);
	xsend_record(&w, 5, 1, "FC\x03\x01garbage", 11);
	seed("xsend", "held", w.buf, w.len);
	wire_w_free(&w);
}

/*
 * One fuzz_proto input: a whole datagram, header, sub-header (or none),
 * body and a tag of 0xee (the fuzzer's bodies are decoded as if they had
 * been decrypted: the ciphertext is the plaintext here).
 */
static void
proto_dgram(const char *name, uint8_t type, const uint8_t *sub,
    const void *body, size_t len)
{
	static const uint8_t	 rnonce[PROTO_NONCE_LEN] = { 1, 2, 3, 4, 5,
	    6, 7, 8, 9, 10, 11, 12 };
	uint8_t			 dg[PROTO_MAX_DGRAM], nonce[PROTO_NONCE_LEN];
	size_t			 n;

	proto_sender_nonce(99, 0x00123456U, nonce);
	n = proto_put_hdr(dg, type, 0x1122334455667788ULL,
	    proto_is_feedback(type) ? rnonce : nonce);
	if (sub != NULL) {
		memcpy(dg + n, sub, PROTO_SUB_LEN);
		n += PROTO_SUB_LEN;
	}
	memcpy(dg + n, body, len);
	n += len;
	memset(dg + n, 0xee, PROTO_TAG_LEN);
	seed("proto", name, dg, n + PROTO_TAG_LEN);
}

/* fuzz_proto inputs: one datagram of every type (protocol 3) and a v2 one. */
static void
protos(void)
{
	struct proto_announce	a;
	struct proto_ncf	n;
	struct proto_ack	k;
	struct proto_hello	h;
	struct proto_report	r;
	struct proto_held	hd;
	struct wire_w		w;
	uint8_t			body[PROTO_HELD_LEN(PROTO_HELD_BITS)];
	uint8_t			sub[PROTO_SUB_LEN], junk[100];
	uint32_t		x = 0x2545f491U;
	size_t			i;

	for (i = 0; i < 64; i++)
		body[i] = (uint8_t)(i * 37);
	wire_store64(sub, 5);
	proto_dgram("data", PROTO_DATA, sub, body, 64);
	wire_store32(sub, 3);
	wire_store32(sub + 4, 1);
	proto_dgram("repair", PROTO_REPAIR, sub, body, 64);

	a = (struct proto_announce){ .size = 100000000, .sym = 1424,
	    .k = 64, .il = 48, .state = PROTO_S_SENDING,
	    .flags = PROTO_AF_DIGEST | PROTO_AF_MEMBERS, .progress = 1000,
	    .rate = 125000000, .report_ms = 20, .backoff_ms = 10,
	    .drop_ms = 5000, .deadline_ms = 60000, .fec_r = 4, .phase = 2 };
	memset(a.digest, 0xcd, SHA256_LEN);
	wire_w_fixed(&w, body, sizeof(body));
	die_if(proto_put_announce(&w, &a) == -1, "announce", "");
	proto_dgram("announce", PROTO_ANNOUNCE, NULL, body, w.len);
	/* The smallest geometry: one byte... */
	a = (struct proto_announce){ .size = 5, .sym = 512, .k = 1, .il = 1,
	    .state = PROTO_S_FINISHED, .progress = 1, .rate = 1,
	    .deadline_ms = UINT32_MAX };
	wire_w_fixed(&w, body, sizeof(body));
	die_if(proto_put_announce(&w, &a) == -1, "announce", "");
	proto_dgram("announce_tiny", PROTO_ANNOUNCE, NULL, body, w.len);

	memset(&n, 0, sizeof(n));
	n.n = 3;
	for (i = 0; i < 3; i++) {
		n.e[i].group = (uint32_t)(i * 7 + 1);
		n.e[i].sched = (uint32_t)(i * 2000);
	}
	wire_w_fixed(&w, body, sizeof(body));
	die_if(proto_put_ncf(&w, &n) == -1, "ncf", "");
	proto_dgram("ncf", PROTO_NCF, NULL, body, w.len);

	k = (struct proto_ack){ .rid = 99, .incarnation = 5,
	    .challenge = 0xdeadbeef, .verdict = PROTO_ACK_REJECTED,
	    .reason = PROTO_RJ_BUDGET };
	wire_w_fixed(&w, body, sizeof(body));
	die_if(proto_put_ack(&w, &k) == -1, "ack", "");
	proto_dgram("ack", PROTO_ACK, NULL, body, w.len);

	wire_store64(sub, 99);
	h = (struct proto_hello){ .rid = 99, .incarnation = 5,
	    .challenge = 0xabcdef };
	wire_w_fixed(&w, body, sizeof(body));
	die_if(proto_put_hello(&w, &h) == -1, "hello", "");
	proto_dgram("hello", PROTO_HELLO, sub, body, w.len);

	memset(&r, 0, sizeof(r));
	r.incarnation = 5;
	r.rseq = 12;
	r.state = PROTO_R_RECEIVING;
	r.flags = PROTO_RF_EARLY;
	r.queue_pm = 300;
	r.rx_us = 123456789;
	r.rx_bytes = 4000000;
	r.rx_packets = 2900;
	r.rx_hw_seq = 3000;
	r.echo_tx_us = 0x00123456U;
	r.echo_hold_us = 800;
	r.qdelay_us = UINT32_MAX;
	r.have_bytes = 3500000;
	r.repairs = 7;
	r.overflow = 2;
	r.loss_pm = 50;
	r.need97 = r.need_max = 255;
	r.errlen = 4;
	memcpy(r.err, "disk", 4);
	r.nnak = 2;
	r.nak[0] = (struct proto_nak){ PROTO_NAK_BLOCK, 2, 0, 0 };
	r.nak[1] = (struct proto_nak){ PROTO_NAK_GROUP, 100, 3, 60 };
	wire_w_fixed(&w, body, sizeof(body));
	die_if(proto_put_report(&w, &r) == -1, "report", "");
	proto_dgram("report", PROTO_REPORT, sub, body, w.len);

	memset(&hd, 0, sizeof(hd));
	hd.incarnation = 7;
	hd.nbits = 9;
	hd.bits[0] = 0xb7;
	hd.bits[1] = 0x01;
	wire_w_fixed(&w, body, sizeof(body));
	die_if(proto_put_held(&w, &hd) == -1, "held", "");
	proto_dgram("held", PROTO_HELD, sub, body, w.len);
	hd.chunk = 2;
	hd.nbits = PROTO_HELD_BITS;
	memset(hd.bits, 0xff, sizeof(hd.bits));
	wire_w_fixed(&w, body, sizeof(body));
	die_if(proto_put_held(&w, &hd) == -1, "held", "");
	proto_dgram("held_full", PROTO_HELD, sub, body, w.len);

	/* Cut in the session id; noise; an ANNOUNCE of protocol 2. */
	proto_put_hdr(body, PROTO_DATA, 0x1122334455667788ULL, body + 100);
	seed("proto", "short", body, 10);
	for (i = 0; i < sizeof(junk); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		junk[i] = (uint8_t)x;
	}
	seed("proto", "garbage", junk, sizeof(junk));
	memset(body, 0, PROTO_HDR_LEN + 72 + PROTO_TAG_LEN);
	proto_put_hdr(body, PROTO_ANNOUNCE, 0x1122334455667788ULL,
	    body + 200);
	body[2] = 2;
	seed("proto", "v2_announce", body, PROTO_HDR_LEN + 72 + PROTO_TAG_LEN);
}

static void
pubkeys(void)
{
	uint8_t	other[ED25519_PUB_LEN], opriv[ED25519_PRIV_LEN];
	uint8_t	*one, *two, *both, der[12 + ED25519_PUB_LEN];
	char	err[512];
	size_t	l1, l2;

	memset(opriv, 0x11, sizeof(opriv));
	die_if(ed25519_public(opriv, other) == -1, "ed25519_public", "");
	die_if(ed25519_write_public(fuzz_path("one.pem"), pub, err,
	    sizeof(err)) == -1, "write", err);
	die_if(ed25519_write_public(fuzz_path("two.pem"), other, err,
	    sizeof(err)) == -1, "write", err);
	one = slurp(fuzz_path("one.pem"), &l1);
	/* SubjectPublicKeyInfo of an Ed25519 key: fixed prefix, the key. */
	memcpy(der, "\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00", 12);
	memcpy(der + 12, pub, ED25519_PUB_LEN);
	two = slurp(fuzz_path("two.pem"), &l2);
	seed("pubkey", "one", one, l1);
	both = xmalloc(l1 + l2 + 1);
	memcpy(both, one, l1);
	both[l1] = '\n';
	memcpy(both + l1 + 1, two, l2);
	seed("pubkey", "two", both, l1 + l2 + 1);
	seed("pubkey", "der", der, sizeof(der));
	free(one);
	free(two);
	free(both);
}

/* A CSR as an agent sends it, with a fresh key of the given kind. */
static void
csr(const char *name, EVP_PKEY *k, const EVP_MD *md)
{
	X509_REQ	*req;
	X509_NAME	*n;
	BIO		*b;
	char		*pem, dername[64];
	unsigned char	*der = NULL;
	long		 len;
	int		 dlen;

	if (k == NULL || (req = X509_REQ_new()) == NULL ||
	    (b = BIO_new(BIO_s_mem())) == NULL)
		fuzz_die("csr: out of memory");
	n = X509_REQ_get_subject_name(req);
	if (X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)"web-01", -1, -1, 0) != 1 ||
	    X509_REQ_set_pubkey(req, k) != 1 || X509_REQ_sign(req, k, md) <= 0 ||
	    PEM_write_bio_X509_REQ(b, req) != 1)
		fuzz_die("csr: cannot make one");
	len = BIO_get_mem_data(b, &pem);
	seed("csr", name, pem, (size_t)len);
	snprintf(dername, sizeof(dername), "%s.der", name);
	if ((dlen = i2d_X509_REQ(req, &der)) <= 0)
		fuzz_die("csr: cannot encode it");
	seed("csr", dername, der, (size_t)dlen);
	OPENSSL_free(der);
	BIO_free(b);
	X509_REQ_free(req);
	EVP_PKEY_free(k);
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds CORPUS-DIR\n");
		return (2);
	}
	corpus = argv[1];
	fuzz_signing_key(priv, pub);
	protos();
	manifests();
	package(0);
	package(1);
	state(2);
	state(1);
	xrecv();
	xsend_seeds();
	pubkeys();
	csr("ed25519", EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), NULL);
	csr("ec256", EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
	    EVP_sha256());
	return (0);
}
