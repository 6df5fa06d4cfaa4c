/*
 * A package with a payload past 2 GiB, to prove that sizes are 64-bit end
 * to end (stat, tar header, manifest, hashing, extraction) and that memory
 * stays bounded: the folder holds a sparse file with marker bytes on both
 * sides of the 2 GiB line, built uncompressed (compressing 2 GiB of zeros
 * would only measure zstd), verified and extracted; the markers must come
 * back at the same offsets.  It is skipped (exit 77) only when the
 * filesystem has neither holes nor room for the full size.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "crypto.h"
#include "pkg.h"
#include "unit.h"
#include "unit_tmp.h"
#include "xmalloc.h"

#define BIG_SIZE	((1ULL << 31) + 12345)	/* past INT32_MAX */

static char	 err[1024];
static int	 holes;
static const uint64_t marks[] = { 0, (1ULL << 31) - 1, 1ULL << 31,
    (1ULL << 32) % BIG_SIZE, BIG_SIZE - 1 };

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec + ts.tv_nsec / 1e9);
}

static long
maxrss_kib(void)
{
	struct rusage	ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_maxrss);
}

static void
test_large(void)
{
	struct pkg_manifest		 m;
	const struct pkg_manifest	*pm;
	struct pkg			*p;
	struct stat			 st;
	uint8_t				 pk[ED25519_PUB_LEN];
	uint8_t				 sk[ED25519_PRIV_LEN];
	double				 t0, t1, t2, t3;
	long				 rss0, rss1;
	size_t				 i;
	int				 fd;
	char				 c;

	CU_ASSERT_FATAL(ed25519_generate(pk, sk) == 0);
	pkg_manifest_init(&m);
	strcpy(m.id, "big");
	m.type = PKG_APPLICATION;
	m.exec = xstrdup("setup.sh");
	m.compression = PKG_COMPRESS_NONE;

	rss0 = maxrss_kib();
	t0 = now();
	CU_ASSERT_FATAL(pkg_build(&m, unit_path("src"), unit_path("big.fcpkg"),
	    sk, err, sizeof(err)) == 0);
	t1 = now();
	CU_ASSERT(m.payload_size > BIG_SIZE);
	CU_ASSERT(m.unpacked_size == BIG_SIZE + 3);
	pkg_manifest_free(&m);

	CU_ASSERT_FATAL(stat(unit_path("big.fcpkg"), &st) == 0);
	CU_ASSERT((uint64_t)st.st_size > BIG_SIZE);
	/* Zero blocks of the payload became holes in the package too. */
	if (holes)
		CU_ASSERT((uint64_t)st.st_blocks * 512 < BIG_SIZE / 8);

	CU_ASSERT_FATAL(pkg_open(&p, unit_path("big.fcpkg"),
	    (const uint8_t (*)[ED25519_PUB_LEN])pk, 1, 0, err,
	    sizeof(err)) == 0);
	t2 = now();
	pm = pkg_get_manifest(p);
	CU_ASSERT(pm->payload_size + pkg_get_payload_offset(p) ==
	    (uint64_t)st.st_size);
	CU_ASSERT(pm->unpacked_size == BIG_SIZE + 3);
	CU_ASSERT(pm->entries == 2);
	if (pkg_extract(p, unit_path("out"), err, sizeof(err)) != 0) {
		fprintf(stderr, "extract: %s\n", err);
		CU_FAIL_FATAL("extraction of the large package");
	}
	t3 = now();
	pkg_close(p);
	rss1 = maxrss_kib();

	CU_ASSERT_FATAL(stat(unit_path("out/big"), &st) == 0);
	CU_ASSERT((uint64_t)st.st_size == BIG_SIZE);
	fd = open(unit_path("out/big"), O_RDONLY);
	CU_ASSERT_FATAL(fd != -1);
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		CU_ASSERT(pread(fd, &c, 1, (off_t)marks[i]) == 1);
		CU_ASSERT(c == (char)('A' + i));
	}
	CU_ASSERT(pread(fd, &c, 1, 4096) == 1 && c == 0);
	close(fd);

	fprintf(stderr, "\n  %llu-byte payload: build %.1f s, verify %.1f s, "
	    "extract %.1f s; max RSS grew by %ld KiB\n",
	    (unsigned long long)BIG_SIZE, t1 - t0, t2 - t1, t3 - t2,
	    rss1 - rss0);
	/* Bounded memory: far below the 2 GiB a whole-file buffer needs. */
	CU_ASSERT(rss1 - rss0 < 256 * 1024);
}

static CU_TestInfo tests[] = {
	{ "payload past 2 GiB, bounded memory", test_large },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	struct statvfs	sv;
	struct stat	st;
	uint64_t	freeb, need;
	size_t		i;
	int		fd, rv;
	char		c;

	if (unit_tmpdir("fc-test-pkg-large") == -1)
		return (1);
	if (mkdir(unit_path("src"), 0755) == -1 ||
	    (fd = open(unit_path("src/setup.sh"), O_WRONLY | O_CREAT,
	    0755)) == -1 || write(fd, "#!\n", 3) != 3 || close(fd) == -1 ||
	    (fd = open(unit_path("src/big"), O_WRONLY | O_CREAT, 0644)) == -1) {
		perror(unit_dir);
		(void)unit_tmpdir_remove();
		return (1);
	}
	if (ftruncate(fd, (off_t)BIG_SIZE) == -1) {
		fprintf(stderr, "SKIP: %s: ftruncate to %llu bytes: %s\n",
		    unit_dir, (unsigned long long)BIG_SIZE, strerror(errno));
		close(fd);
		(void)unit_tmpdir_remove();
		return (77);
	}
	for (i = 0; i < sizeof(marks) / sizeof(marks[0]); i++) {
		c = 'A' + i;
		if (pwrite(fd, &c, 1, (off_t)marks[i]) != 1) {
			perror("pwrite");
			close(fd);
			(void)unit_tmpdir_remove();
			return (1);
		}
	}
	fstat(fd, &st);
	close(fd);
	holes = (uint64_t)st.st_blocks * 512 < BIG_SIZE / 8;
	/*
	 * With holes, the package and the extracted copy stay sparse; without
	 * them, each takes the full size.
	 */
	need = holes ? 64ULL << 20 : 2 * BIG_SIZE + (64ULL << 20);
	if (statvfs(unit_dir, &sv) == 0) {
		freeb = (uint64_t)sv.f_bavail * sv.f_frsize;
		if (freeb < need) {
			fprintf(stderr, "SKIP: %s has %llu MiB free, the test "
			    "needs %llu MiB (%s)\n", unit_dir,
			    (unsigned long long)(freeb >> 20),
			    (unsigned long long)(need >> 20), holes ?
			    "sparse files" : "no sparse files on this "
			    "filesystem");
			(void)unit_tmpdir_remove();
			return (77);
		}
	}
	rv = unit_main("pkg_large", tests);
	(void)unit_tmpdir_remove();
	return (rv);
}
