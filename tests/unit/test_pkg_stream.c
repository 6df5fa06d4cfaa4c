/*
 * Tests for verifying a package while it is received (common/pkg_stream.c,
 * issue 17: the agent hashes a package once).  A real package is built
 * and fed in chunks of varying sizes: accepted whole, and refused for a
 * flipped byte anywhere in it (header, manifest, signature, payload: the
 * whole-file hash it replaces covered every byte too), for every
 * truncation, a byte too many, and bytes out of order.  The accepted file
 * then opens with PKG_OPEN_PAYLOAD_VERIFIED and extracts.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "pkg.h"
#include "pkg_stream.h"
#include "unit.h"
#include "unit_tmp.h"
#include "wire.h"
#include "xmalloc.h"

static uint8_t	 pub[ED25519_PUB_LEN], priv[ED25519_PRIV_LEN];
static uint8_t	*file;		/* the built package */
static size_t	 flen;
static size_t	 mlen;		/* its manifest's length */
static uint8_t	 payload_sha[SHA256_LEN];
static uint64_t	 payload_size;

/* Build a small package once, read it back, take its signed fields. */
static void
stream_setup(void)
{
	struct pkg_manifest	 m;
	struct pkg		*p;
	struct stat		 st;
	char			 err[512];
	int			 fd;

	if (file != NULL)
		return;
	CU_ASSERT_FATAL(mkdir(unit_path("tree"), 0755) == 0);
	fd = open(unit_path("tree/run.sh"), O_WRONLY | O_CREAT, 0755);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, "#!/bin/sh\nexit 0\n", 17) == 17);
	close(fd);
	pkg_manifest_init(&m);
	strcpy(m.id, "HFSTREAM");
	m.type = PKG_HOTFIX;
	m.exec = xstrdup("run.sh");
	m.compression = PKG_COMPRESS_ZSTD;
	CU_ASSERT_FATAL(pkg_build(&m, unit_path("tree"), unit_path("s.fcpkg"),
	    priv, err, sizeof(err)) == 0);
	pkg_manifest_free(&m);
	CU_ASSERT_FATAL((fd = open(unit_path("s.fcpkg"), O_RDONLY)) != -1);
	CU_ASSERT_FATAL(fstat(fd, &st) == 0);
	flen = (size_t)st.st_size;
	file = xmalloc(flen);
	CU_ASSERT_FATAL(read(fd, file, flen) == (ssize_t)flen);
	close(fd);
	mlen = wire_load32(file + 12);
	CU_ASSERT_FATAL(pkg_open(&p, unit_path("s.fcpkg"),
	    (const uint8_t (*)[ED25519_PUB_LEN])pub, 1, 0, err,
	    sizeof(err)) == 0);
	memcpy(payload_sha, pkg_get_manifest(p)->payload_sha256, SHA256_LEN);
	payload_size = pkg_get_manifest(p)->payload_size;
	pkg_close(p);
}

/* Feed buf (len bytes) in chunks of 1 to 700 bytes; 0 if accepted. */
static int
feed(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
	struct pkg_stream	*s;
	size_t			 off, n, step = 1;
	int			 rv;

	stream_setup();
	s = pkg_stream_new(file + PKG_HEADER_LEN, mlen,
	    file + PKG_HEADER_LEN + mlen, payload_sha, payload_size);
	CU_ASSERT_FATAL(s != NULL);
	for (off = 0; off < len; off += n) {
		step = (step * 7 + 3) % 700 + 1;
		n = len - off < step ? len - off : step;
		pkg_stream_update(s, off, buf + off, n);
	}
	rv = pkg_stream_final(s, err, errlen);
	pkg_stream_free(s);
	return (rv);
}

static void
test_whole_accepted(void)
{
	struct pkg	*p;
	struct stat	 st;
	char		 err[512];

	stream_setup();
	CU_ASSERT(feed(file, flen, err, sizeof(err)) == 0);
	/* Verified while received: opened without a second payload pass. */
	CU_ASSERT_FATAL(pkg_open(&p, unit_path("s.fcpkg"),
	    (const uint8_t (*)[ED25519_PUB_LEN])pub, 1,
	    PKG_OPEN_PAYLOAD_VERIFIED, err, sizeof(err)) == 0);
	CU_ASSERT(pkg_extract(p, unit_path("out"), err, sizeof(err)) == 0);
	CU_ASSERT(stat(unit_path("out/run.sh"), &st) == 0 && st.st_size == 17);
	pkg_close(p);
}

/* Every byte flipped: refused, and the message names its region. */
static void
test_every_byte(void)
{
	uint8_t		*buf;
	size_t		 i, sigoff, ok = 0;
	char		 err[512];
	const char	*want;

	stream_setup();
	buf = xmalloc(flen);
	sigoff = PKG_HEADER_LEN + mlen;
	for (i = 0; i < flen; i++) {
		memcpy(buf, file, flen);
		buf[i] ^= 0x20;
		if (feed(buf, flen, err, sizeof(err)) == 0) {
			fprintf(stderr, "flip at %zu accepted\n", i);
			continue;
		}
		want = i < PKG_HEADER_LEN ? "header: " : i < sigoff ?
		    "manifest: " : i < sigoff + ED25519_SIG_LEN ?
		    "signature: " : "payload: ";
		ok += strncmp(err, want, strlen(want)) == 0;
	}
	CU_ASSERT_EQUAL(ok, flen);
	free(buf);
}

static void
test_size_and_order(void)
{
	struct pkg_stream	*s;
	uint8_t			*buf = NULL;
	char			 err[512];
	size_t			 i;

	stream_setup();
	buf = xreallocarray(buf, flen + 1, 1);
	for (i = 0; i < flen; i++) {
		CU_ASSERT(feed(file, i, err, sizeof(err)) == -1);
		if (i >= PKG_HEADER_LEN + mlen + ED25519_SIG_LEN)
			CU_ASSERT(strncmp(err, "size: ", 6) == 0);
	}
	memcpy(buf, file, flen);
	buf[flen] = 0;
	CU_ASSERT(feed(buf, flen + 1, err, sizeof(err)) == -1);
	CU_ASSERT(strncmp(err, "size: ", 6) == 0);
	/* A gap: the second half before the first. */
	s = pkg_stream_new(file + PKG_HEADER_LEN, mlen,
	    file + PKG_HEADER_LEN + mlen, payload_sha, payload_size);
	pkg_stream_update(s, flen / 2, file + flen / 2, flen - flen / 2);
	pkg_stream_update(s, 0, file, flen / 2);
	CU_ASSERT(pkg_stream_final(s, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "out of order") != NULL);
	pkg_stream_free(s);
	free(buf);
}

static CU_TestInfo tests[] = {
	{ "the package whole is accepted", test_whole_accepted },
	{ "a flipped byte anywhere is refused", test_every_byte },
	{ "short, long or out of order is refused", test_size_and_order },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	int	rv;

	if (unit_tmpdir("fc-test-pkg-stream") == -1)
		return (1);
	if (ed25519_generate(pub, priv) == -1)
		return (1);
	rv = unit_main("pkg_stream", tests);
	free(file);
	(void)unit_tmpdir_remove();
	return (rv);
}
