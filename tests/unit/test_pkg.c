/*
 * Tests for building, verifying and extracting packages: the round trip,
 * a flipped byte anywhere in the file and every truncation are refused,
 * wrong keys are refused, unsafe folders are refused at build time without
 * leaving a file behind, and hostile payloads (crafted here with libarchive
 * and signed with a trusted key, as a compromised builder would) are
 * refused at extraction time without touching anything outside.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>

#include <archive.h>
#include <archive_entry.h>

#include "crypto.h"
#include "pkg.h"
#include "psk.h"
#include "unit.h"
#include "unit_tmp.h"
#include "wire.h"
#include "xmalloc.h"

static char	 err[1024];
static uint8_t	 pk[ED25519_PUB_LEN], sk[ED25519_PRIV_LEN];
static uint8_t	 pk2[ED25519_PUB_LEN], sk2[ED25519_PRIV_LEN];

static void
put_file(const char *rel, const char *content, mode_t mode)
{
	int	fd;

	fd = open(unit_path(rel), O_WRONLY | O_CREAT | O_TRUNC, mode);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, content, strlen(content)) ==
	    (ssize_t)strlen(content));
	CU_ASSERT_FATAL(fchmod(fd, mode) == 0);
	close(fd);
}

static char *
get_file(const char *path, size_t *len)
{
	struct stat	 st;
	char		*buf;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1)
		return (NULL);
	CU_ASSERT_FATAL(fstat(fd, &st) == 0);
	buf = xmalloc(st.st_size + 1);
	CU_ASSERT_FATAL(read(fd, buf, st.st_size) == st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	*len = st.st_size;
	return (buf);
}

static void
write_bytes(const char *path, const void *buf, size_t len)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, buf, len) == (ssize_t)len);
	close(fd);
}

/* A fresh package folder with a few kinds of entries. */
static void
make_folder(const char *dir)
{
	char	sub[512];

	pkg_remove_tree(unit_path(dir));
	CU_ASSERT_FATAL(mkdir(unit_path(dir), 0755) == 0);
	snprintf(sub, sizeof(sub), "%s/setup.sh", dir);
	put_file(sub, "#!/bin/sh\necho installed\n", 0755);
	snprintf(sub, sizeof(sub), "%s/data", dir);
	CU_ASSERT_FATAL(mkdir(unit_path(sub), 0750) == 0);
	snprintf(sub, sizeof(sub), "%s/data/readme.txt", dir);
	put_file(sub, "hello\n", 0640);
	snprintf(sub, sizeof(sub), "%s/data/empty", dir);
	put_file(sub, "", 0600);
	snprintf(sub, sizeof(sub), "%s/data/link", dir);
	CU_ASSERT_FATAL(symlink("../setup.sh", unit_path(sub)) == 0);
}

static void
manifest(struct pkg_manifest *m, const char *exec)
{
	pkg_manifest_init(m);
	strcpy(m->id, "SP3");
	m->type = PKG_SERVICEPACK;
	m->has_version = 1;
	m->major = 3;
	m->exec = xstrdup(exec);
	CU_ASSERT(pkg_field_list_add("a", &m->args, "--quiet", PKG_ARGS_MAX,
	    err, sizeof(err)) == 0);
}

static int
build(const char *dir, const char *exec, const char *out,
    enum pkg_compression comp)
{
	struct pkg_manifest	m;
	int			rv;

	manifest(&m, exec);
	m.compression = comp;
	rv = pkg_build(&m, unit_path(dir), unit_path(out), sk, err,
	    sizeof(err));
	pkg_manifest_free(&m);
	return (rv);
}

/* No file in unit_dir starts with prefix (no output, no temp file). */
static int
nothing_named(const char *prefix)
{
	DIR		*d;
	struct dirent	*de;
	int		 found = 0;

	CU_ASSERT_FATAL((d = opendir(unit_dir)) != NULL);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
			fprintf(stderr, "left behind: %s\n", de->d_name);
			found = 1;
		}
	closedir(d);
	return (!found);
}

static int
verify(const char *file, const uint8_t *key)
{
	struct pkg	*p;

	if (pkg_open(&p, unit_path(file),
	    (const uint8_t (*)[ED25519_PUB_LEN])key, 1, 0, err,
	    sizeof(err)) == -1)
		return (-1);
	pkg_close(p);
	return (0);
}

static void
same_file(const char *a, const char *b)
{
	char	*x, *y;
	size_t	 xl, yl;

	x = get_file(a, &xl);
	y = get_file(b, &yl);
	CU_ASSERT_FATAL(x != NULL && y != NULL);
	CU_ASSERT(xl == yl && memcmp(x, y, xl) == 0);
	free(x);
	free(y);
}

static void
test_roundtrip(void)
{
	const struct pkg_manifest	*m;
	struct pkg			*p;
	struct stat			 st;
	char				 target[64];
	ssize_t				 n;
	int				 comp;

	make_folder("src");
	for (comp = 0; comp < 2; comp++) {
		pkg_remove_tree(unit_path("out"));
		CU_ASSERT_FATAL(build("src", "setup.sh", "rt.fcpkg",
		    comp ? PKG_COMPRESS_ZSTD : PKG_COMPRESS_NONE) == 0);
		CU_ASSERT(stat(unit_path("rt.fcpkg"), &st) == 0 &&
		    (st.st_mode & 0777) == 0644);
		CU_ASSERT_FATAL(pkg_open(&p, unit_path("rt.fcpkg"),
		    (const uint8_t (*)[ED25519_PUB_LEN])pk, 1, 0, err,
		    sizeof(err)) == 0);
		m = pkg_get_manifest(p);
		CU_ASSERT_STRING_EQUAL(m->id, "SP3");
		CU_ASSERT_STRING_EQUAL(m->exec, "setup.sh");
		CU_ASSERT(m->args.n == 1);
		CU_ASSERT(m->entries == 5);
		CU_ASSERT(m->unpacked_size == strlen("#!/bin/sh\necho "
		    "installed\n") + strlen("hello\n"));
		CU_ASSERT(m->compression == (comp ? PKG_COMPRESS_ZSTD :
		    PKG_COMPRESS_NONE));
		CU_ASSERT(pkg_get_payload_offset(p) + m->payload_size ==
		    (uint64_t)st.st_size);
		CU_ASSERT_FATAL(pkg_extract(p, unit_path("out"), err,
		    sizeof(err)) == 0);
		pkg_close(p);
		same_file(unit_path("src/setup.sh"), unit_path("out/setup.sh"));
		same_file(unit_path("src/data/readme.txt"),
		    unit_path("out/data/readme.txt"));
		CU_ASSERT(stat(unit_path("out/setup.sh"), &st) == 0 &&
		    (st.st_mode & 07777) == 0755);
		CU_ASSERT(stat(unit_path("out/data/readme.txt"), &st) == 0 &&
		    (st.st_mode & 07777) == 0640);
		CU_ASSERT(stat(unit_path("out/data/empty"), &st) == 0 &&
		    st.st_size == 0);
		CU_ASSERT(lstat(unit_path("out/data/link"), &st) == 0 &&
		    S_ISLNK(st.st_mode));
		n = readlink(unit_path("out/data/link"), target,
		    sizeof(target));
		CU_ASSERT(n == 11 && memcmp(target, "../setup.sh", 11) == 0);
		/* Extraction needs a new directory. */
		CU_ASSERT_FATAL(pkg_open(&p, unit_path("rt.fcpkg"),
		    (const uint8_t (*)[ED25519_PUB_LEN])pk, 1, 0, err,
		    sizeof(err)) == 0);
		CU_ASSERT(pkg_extract(p, unit_path("out"), err,
		    sizeof(err)) == -1);
		CU_ASSERT(strstr(err, "already exists") != NULL);
		pkg_close(p);
	}
	/* The same folder gives the same payload. */
	CU_ASSERT(build("src", "setup.sh", "rt2.fcpkg", PKG_COMPRESS_ZSTD) ==
	    0);
	{
		struct pkg	*a, *b;

		CU_ASSERT_FATAL(pkg_open(&a, unit_path("rt.fcpkg"), NULL, 0,
		    PKG_OPEN_NOVERIFY, err, sizeof(err)) == 0);
		CU_ASSERT_FATAL(pkg_open(&b, unit_path("rt2.fcpkg"), NULL, 0,
		    PKG_OPEN_NOVERIFY, err, sizeof(err)) == 0);
		CU_ASSERT(memcmp(pkg_get_manifest(a)->payload_sha256,
		    pkg_get_manifest(b)->payload_sha256, SHA256_LEN) == 0);
		/* Unverified packages are not extracted. */
		CU_ASSERT(pkg_extract(a, unit_path("never"), err,
		    sizeof(err)) == -1);
		CU_ASSERT(access(unit_path("never"), F_OK) == -1);
		pkg_close(a);
		pkg_close(b);
	}
	pkg_remove_tree(unit_path("out"));
	unlink(unit_path("rt2.fcpkg"));
}

/*
 * Zero pages are left as holes at extraction (pkg_read.c writes the
 * others in runs): files ending in zeros, with zeros inside at offsets
 * that are not page-aligned, across the 256 KiB read buffer, and all
 * zeros, come back with their exact sizes and bytes.
 */
static void
test_zero_pages(void)
{
	struct pkg	*p;
	uint8_t		*buf;
	size_t		 i;
	int		 comp;
	static const char *const names[] = { "tail", "mid", "zeros", "big" };
	char		 a[256], b[256];

	pkg_remove_tree(unit_path("zsrc"));
	CU_ASSERT_FATAL(mkdir(unit_path("zsrc"), 0755) == 0);
	put_file("zsrc/setup.sh", "#!/bin/sh\n", 0755);
	buf = xcalloc(1, 700 * 1024);
	memset(buf, 'a', 5000);
	write_bytes(unit_path("zsrc/tail"), buf, 5000 + 3 * 4096);
	memset(buf, 0, 700 * 1024);
	memset(buf, 'b', 2 * 4096);
	memset(buf + 6 * 4096, 'c', 100);
	write_bytes(unit_path("zsrc/mid"), buf, 6 * 4096 + 100);
	memset(buf, 0, 700 * 1024);
	write_bytes(unit_path("zsrc/zeros"), buf, 10000);
	for (i = 0; i < 700 * 1024; i++)
		buf[i] = (uint8_t)(i % 251 + 1);
	memset(buf + 300001, 0, 10000);
	memset(buf + 262144 - 5000, 0, 9000);
	buf[700 * 1024 - 7] = 0;
	write_bytes(unit_path("zsrc/big"), buf, 700 * 1024 - 3);
	free(buf);
	for (comp = 0; comp < 2; comp++) {
		pkg_remove_tree(unit_path("zout"));
		CU_ASSERT_FATAL(build("zsrc", "setup.sh", "z.fcpkg",
		    comp ? PKG_COMPRESS_ZSTD : PKG_COMPRESS_NONE) == 0);
		CU_ASSERT_FATAL(pkg_open(&p, unit_path("z.fcpkg"),
		    (const uint8_t (*)[ED25519_PUB_LEN])pk, 1, 0, err,
		    sizeof(err)) == 0);
		CU_ASSERT_FATAL(pkg_extract(p, unit_path("zout"), err,
		    sizeof(err)) == 0);
		pkg_close(p);
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			snprintf(a, sizeof(a), "zsrc/%s", names[i]);
			snprintf(b, sizeof(b), "zout/%s", names[i]);
			same_file(unit_path(a), unit_path(b));
		}
	}
	pkg_remove_tree(unit_path("zout"));
	pkg_remove_tree(unit_path("zsrc"));
}

/* Long (pax) and non-ASCII names survive the round trip. */
static void
test_long_names(void)
{
	struct pkg	*p;
	char		 dir[512], file[1024], name[128];
	size_t		 i;

	pkg_remove_tree(unit_path("lp"));
	CU_ASSERT_FATAL(mkdir(unit_path("lp"), 0755) == 0);
	put_file("lp/setup.sh", "#!/bin/sh\n", 0755);
	strcpy(dir, "lp/");
	for (i = 0; i < 120; i++)
		strcat(dir, "d");
	CU_ASSERT_FATAL(mkdir(unit_path(dir), 0755) == 0);
	name[0] = '\0';
	for (i = 0; i < 50; i++)
		strcat(name, "\xc3\xbc");
	snprintf(file, sizeof(file), "%s/%s", dir, name);
	put_file(file, "long\n", 0644);
	CU_ASSERT_FATAL(build("lp", "setup.sh", "lp.fcpkg", PKG_COMPRESS_ZSTD) ==
	    0);
	CU_ASSERT_FATAL(pkg_open(&p, unit_path("lp.fcpkg"),
	    (const uint8_t (*)[ED25519_PUB_LEN])pk, 1, 0, err,
	    sizeof(err)) == 0);
	CU_ASSERT(pkg_get_manifest(p)->entries == 3);
	CU_ASSERT_FATAL(pkg_extract(p, unit_path("lpx"), err,
	    sizeof(err)) == 0);
	pkg_close(p);
	snprintf(file, sizeof(file), "lpx/%s/%s", dir + 3, name);
	{
		char	a[4096];

		strcpy(a, unit_path(file));
		snprintf(file, sizeof(file), "%s/%s", dir, name);
		same_file(unit_path(file), a);
	}
	pkg_remove_tree(unit_path("lp"));
	pkg_remove_tree(unit_path("lpx"));
	unlink(unit_path("lp.fcpkg"));
}

/* Flip each byte of a package: every flip must be refused. */
static void
test_tamper(void)
{
	char	*orig, *buf;
	size_t	 len, i, hdr_fail = 0, man_fail = 0, sig_fail = 0, pay_fail = 0;
	size_t	 mlen, sigoff, payoff;

	make_folder("src");
	CU_ASSERT_FATAL(build("src", "setup.sh", "t.fcpkg", PKG_COMPRESS_ZSTD) ==
	    0);
	orig = get_file(unit_path("t.fcpkg"), &len);
	CU_ASSERT_FATAL(orig != NULL);
	mlen = wire_load32((uint8_t *)orig + 12);
	sigoff = PKG_HEADER_LEN + mlen;
	payoff = sigoff + ED25519_SIG_LEN;
	CU_ASSERT_FATAL(payoff < len);
	buf = xmalloc(len);
	for (i = 0; i < len; i++) {
		memcpy(buf, orig, len);
		buf[i] ^= 0x01;
		write_bytes(unit_path("f.fcpkg"), buf, len);
		if (verify("f.fcpkg", pk) == 0) {
			fprintf(stderr, "flip at %zu accepted\n", i);
			CU_FAIL("flipped byte accepted");
			continue;
		}
		/*
		 * Say which check failed, by region.  A flip in the manifest
		 * length moves the end of the manifest, where its key id is
		 * read before anything is decoded: "key: " then.
		 */
		if (i < PKG_HEADER_LEN)
			hdr_fail += strncmp(err, "header: ", 8) == 0 ||
			    strncmp(err, "truncated: ", 11) == 0 ||
			    strncmp(err, "manifest: ", 10) == 0 ||
			    strncmp(err, "signature: ", 11) == 0 ||
			    strncmp(err, "key: ", 5) == 0;
		else if (i < sigoff)
			man_fail += strncmp(err, "manifest: ", 10) == 0 ||
			    strncmp(err, "signature: ", 11) == 0 ||
			    strncmp(err, "key: ", 5) == 0;
		else if (i < payoff)
			sig_fail += strncmp(err, "signature: ", 11) == 0;
		else
			pay_fail += strncmp(err, "payload: ", 9) == 0;
	}
	CU_ASSERT(hdr_fail == PKG_HEADER_LEN);
	CU_ASSERT(man_fail == mlen);
	CU_ASSERT(sig_fail == ED25519_SIG_LEN);
	CU_ASSERT(pay_fail == len - payoff);

	/* Every truncation, and one byte appended. */
	for (i = 0; i < len; i++) {
		write_bytes(unit_path("f.fcpkg"), orig, i);
		CU_ASSERT(verify("f.fcpkg", pk) == -1);
		if (i >= payoff)
			CU_ASSERT(strncmp(err, "truncated: the payload has", 26) ==
			    0);
	}
	memcpy(buf, orig, len);
	buf = xreallocarray(buf, len + 1, 1);
	buf[len] = 'x';
	write_bytes(unit_path("f.fcpkg"), buf, len + 1);
	CU_ASSERT(verify("f.fcpkg", pk) == -1);
	CU_ASSERT(strstr(err, "unexpected bytes") != NULL);
	write_bytes(unit_path("f.fcpkg"), orig, len);
	CU_ASSERT(verify("f.fcpkg", pk) == 0);

	/* The wrong key. */
	CU_ASSERT(verify("t.fcpkg", pk2) == -1);
	CU_ASSERT(strncmp(err, "key: signed by key ", 19) == 0);
	free(buf);
	free(orig);
	unlink(unit_path("f.fcpkg"));
	unlink(unit_path("t.fcpkg"));
}

/* A file changed between verification and extraction is caught. */
static void
test_changed_after_verify(void)
{
	struct pkg	*p;
	struct stat	 st;
	char		 c;
	int		 fd;

	make_folder("src");
	CU_ASSERT_FATAL(build("src", "setup.sh", "c.fcpkg", PKG_COMPRESS_NONE) ==
	    0);
	CU_ASSERT_FATAL(pkg_open(&p, unit_path("c.fcpkg"),
	    (const uint8_t (*)[ED25519_PUB_LEN])pk, 1, 0, err,
	    sizeof(err)) == 0);
	/* Change the last byte of the payload (tar padding) in place. */
	CU_ASSERT_FATAL(stat(unit_path("c.fcpkg"), &st) == 0);
	fd = open(unit_path("c.fcpkg"), O_RDWR);
	CU_ASSERT_FATAL(fd != -1);
	c = 'Z';
	CU_ASSERT(pwrite(fd, &c, 1, st.st_size - 1) == 1);
	close(fd);
	CU_ASSERT(pkg_extract(p, unit_path("cx"), err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "SHA-256") != NULL);
	CU_ASSERT(access(unit_path("cx"), F_OK) == -1);
	CU_ASSERT(nothing_named("cx"));
	pkg_close(p);
	unlink(unit_path("c.fcpkg"));
}

/* Build must fail with PKG_EINPUT, want in the message, no file left. */
static void
build_refused(const char *dir, const char *exec, const char *want)
{
	int	rv;

	rv = build(dir, exec, "bad.fcpkg", PKG_COMPRESS_ZSTD);
	if (rv != PKG_EINPUT || strstr(err, want) == NULL) {
		fprintf(stderr, "build: rv %d, '%s' (wanted '%s')\n", rv, err,
		    want);
		CU_FAIL("unsafe folder accepted or wrong message");
	}
	CU_ASSERT(nothing_named("bad.fcpkg"));
}

static void
test_build_unsafe(void)
{
	struct sockaddr_un	sun;
	char			path[PKG_PATH_MAX + 64];
	int			s, i;

	/* Executable: missing, not regular, not executable, via symlink. */
	make_folder("u");
	build_refused("u", "nope.sh", "--exec: nope.sh does not exist");
	build_refused("u", "data", "--exec: data is a directory");
	build_refused("u", "data/link", "--exec: data/link is a symlink");
	build_refused("u", "data/readme.txt", "is not executable (mode 0640)");
	CU_ASSERT_FATAL(symlink("data", unit_path("u/dlink")) == 0);
	build_refused("u", "dlink/readme.txt", "real directories");
	unlink(unit_path("u/dlink"));
	build_refused("missing-dir", "setup.sh", "--dir: ");

	/* Special files. */
	CU_ASSERT_FATAL(mkfifo(unit_path("u/data/fifo"), 0644) == 0);
	build_refused("u", "setup.sh", "--dir: data/fifo is a FIFO");
	unlink(unit_path("u/data/fifo"));
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT_FATAL(s != -1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", unit_path("u/sock"));
	CU_ASSERT_FATAL(bind(s, (struct sockaddr *)&sun, sizeof(sun)) == 0);
	build_refused("u", "setup.sh", "--dir: sock is a socket");
	close(s);
	unlink(unit_path("u/sock"));
	/* Device nodes need root; without it the FIFO case stands in. */
	if (mknod(unit_path("u/null"), S_IFCHR | 0666, makedev(1, 3)) == 0) {
		build_refused("u", "setup.sh",
		    "--dir: null is a character device");
		unlink(unit_path("u/null"));
	} else
		fprintf(stderr, "(no mknod: %s; device case not run)\n",
		    strerror(errno));

	/* Symlinks out of the folder. */
	CU_ASSERT_FATAL(symlink("/etc/passwd", unit_path("u/abs")) == 0);
	build_refused("u", "setup.sh", "--dir: abs: symlink to the absolute "
	    "path /etc/passwd");
	unlink(unit_path("u/abs"));
	CU_ASSERT_FATAL(symlink("../../x", unit_path("u/data/up")) == 0);
	build_refused("u", "setup.sh", "points outside the package folder");
	unlink(unit_path("u/data/up"));
	CU_ASSERT_FATAL(symlink("data/../../x", unit_path("u/mid")) == 0);
	build_refused("u", "setup.sh", "'..' after a name");
	unlink(unit_path("u/mid"));

	/* setuid, setgid and sticky bits. */
	CU_ASSERT_FATAL(chmod(unit_path("u/setup.sh"), 04755) == 0);
	build_refused("u", "setup.sh", "setuid, setgid or sticky");
	CU_ASSERT_FATAL(chmod(unit_path("u/setup.sh"), 0755) == 0);
	CU_ASSERT_FATAL(chmod(unit_path("u/data"), 02755) == 0);
	build_refused("u", "setup.sh", "--dir: data has the setuid");
	CU_ASSERT_FATAL(chmod(unit_path("u/data"), 0755) == 0);

	/* Too deep a tree. */
	strcpy(path, "u");
	for (i = 0; i <= PKG_DEPTH_MAX; i++) {
		strcat(path, "/d");
		CU_ASSERT_FATAL(mkdir(unit_path(path), 0755) == 0);
	}
	build_refused("u", "setup.sh", "nested deeper than 64");
	snprintf(path, sizeof(path), "%s/u/d", unit_dir);
	CU_ASSERT(pkg_remove_tree(path) == 0);

	/* A control character in a file name. */
	put_file("u/bad\nname", "x", 0644);
	build_refused("u", "setup.sh", "control character 0x0a");
	unlink(unit_path("u/bad\nname"));

	/* The output inside the folder. */
	{
		struct pkg_manifest	m;
		int			rv;

		manifest(&m, "setup.sh");
		rv = pkg_build(&m, unit_path("u"), unit_path("u/self.fcpkg"),
		    sk, err, sizeof(err));
		CU_ASSERT(rv == PKG_EINPUT && strstr(err, "-o: the output "
		    "file is inside --dir") != NULL);
		pkg_manifest_free(&m);
		CU_ASSERT(access(unit_path("u/self.fcpkg"), F_OK) == -1);
	}

	/* Bad field values never reach the disk either. */
	{
		struct pkg_manifest	m;

		manifest(&m, "setup.sh");
		strcpy(m.kb, "KB1");
		CU_ASSERT(pkg_build(&m, unit_path("u"), unit_path("bad.fcpkg"),
		    sk, err, sizeof(err)) == PKG_EINPUT);
		CU_ASSERT(strncmp(err, "--kb: ", 6) == 0);
		pkg_manifest_free(&m);
		CU_ASSERT(nothing_named("bad.fcpkg"));
	}

	/* And the clean folder still builds. */
	CU_ASSERT(build("u", "setup.sh", "ok.fcpkg", PKG_COMPRESS_ZSTD) == 0);
	CU_ASSERT(verify("ok.fcpkg", pk) == 0);
	unlink(unit_path("ok.fcpkg"));
	pkg_remove_tree(unit_path("u"));
}

/* An output that cannot be created fails the operation (exit 1). */
static void
test_build_write_error(void)
{
	struct pkg_manifest	m;
	int			rv;

	make_folder("src");
	manifest(&m, "setup.sh");
	rv = pkg_build(&m, unit_path("src"), unit_path("nodir/x.fcpkg"), sk,
	    err, sizeof(err));
	CU_ASSERT(rv == PKG_EFAIL);
	CU_ASSERT(strstr(err, "nodir/x.fcpkg") != NULL);
	CU_ASSERT(access(unit_path("nodir"), F_OK) == -1);
	pkg_manifest_free(&m);
}

/*
 * Hostile payloads.  A tar stream is crafted in memory, then wrapped in a
 * correctly signed package exactly as doc/package-format.md describes, so
 * that only the extraction checks stand between it and the disk.
 */
struct hentry {
	const char	*path;
	mode_t		 type;
	mode_t		 perm;
	const char	*data;		/* regular files */
	const char	*link;		/* symlink or hard link target */
	int		 hard;
};

static void
wrap_package(const char *out, const uint8_t *payload, size_t plen,
    uint64_t entries, uint64_t unpacked)
{
	static const char	 domain[] = PKG_SIG_DOMAIN;
	struct pkg_manifest	 m;
	struct wire_w		 w;
	uint8_t			 hdr[PKG_HEADER_LEN], sig[ED25519_SIG_LEN];
	uint8_t			*msg;
	int			 fd;

	manifest(&m, "setup.sh");
	m.compression = PKG_COMPRESS_NONE;
	m.payload_size = plen;
	sha256(payload, plen, m.payload_sha256);
	m.entries = entries;
	m.unpacked_size = unpacked;
	ed25519_keyid(pk, m.key_id);
	wire_w_grow(&w, 256);
	pkg_manifest_encode(&m, &w);
	msg = xmalloc(sizeof(domain) + w.len);
	memcpy(msg, domain, sizeof(domain));
	memcpy(msg + sizeof(domain), w.buf, w.len);
	CU_ASSERT_FATAL(ed25519_sign(sk, msg, sizeof(domain) + w.len, sig) ==
	    0);
	free(msg);
	memcpy(hdr, PKG_MAGIC, PKG_MAGIC_LEN);
	wire_store16(hdr + 8, PKG_FORMAT_VERSION);
	wire_store16(hdr + 10, 0);
	wire_store32(hdr + 12, (uint32_t)w.len);
	fd = open(unit_path(out), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, hdr, sizeof(hdr)) == sizeof(hdr));
	CU_ASSERT_FATAL(write(fd, w.buf, w.len) == (ssize_t)w.len);
	CU_ASSERT_FATAL(write(fd, sig, sizeof(sig)) == sizeof(sig));
	CU_ASSERT_FATAL(write(fd, payload, plen) == (ssize_t)plen);
	close(fd);
	wire_w_free(&w);
	pkg_manifest_free(&m);
}

/* Craft a tar of the entries, wrap and sign it; extraction result. */
static int
hostile(const struct hentry *e, size_t n, int64_t fudge_entries,
    int64_t fudge_size)
{
	struct archive		*a;
	struct archive_entry	*ae;
	struct pkg		*p;
	uint8_t			*buf;
	size_t			 used, i;
	uint64_t		 unpacked = 0;
	int			 rv;

	buf = xmalloc(1 << 20);
	a = archive_write_new();
	CU_ASSERT_FATAL(archive_write_set_format_pax_restricted(a) ==
	    ARCHIVE_OK);
	CU_ASSERT_FATAL(archive_write_open_memory(a, buf, 1 << 20, &used) ==
	    ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		ae = archive_entry_new();
		archive_entry_set_pathname(ae, e[i].path);
		archive_entry_set_mode(ae, e[i].type | e[i].perm);
		if (e[i].hard)
			archive_entry_set_hardlink(ae, e[i].link);
		else if (e[i].type == AE_IFLNK)
			archive_entry_set_symlink(ae, e[i].link);
		if (e[i].type == AE_IFCHR)
			archive_entry_set_rdev(ae, makedev(1, 3));
		if (e[i].type == AE_IFREG && !e[i].hard) {
			archive_entry_set_size(ae, strlen(e[i].data));
			unpacked += strlen(e[i].data);
		}
		CU_ASSERT_FATAL(archive_write_header(a, ae) == ARCHIVE_OK);
		if (e[i].type == AE_IFREG && !e[i].hard)
			CU_ASSERT_FATAL(archive_write_data(a, e[i].data,
			    strlen(e[i].data)) == (la_ssize_t)strlen(e[i].data));
		archive_entry_free(ae);
	}
	CU_ASSERT_FATAL(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
	wrap_package("h.fcpkg", buf, used, n + fudge_entries,
	    unpacked + fudge_size);
	free(buf);

	pkg_remove_tree(unit_path("hx"));
	CU_ASSERT_FATAL(pkg_open(&p, unit_path("h.fcpkg"),
	    (const uint8_t (*)[ED25519_PUB_LEN])pk, 1, 0, err,
	    sizeof(err)) == 0);
	rv = pkg_extract(p, unit_path("hx"), err, sizeof(err));
	pkg_close(p);
	unlink(unit_path("h.fcpkg"));
	return (rv);
}

static void
expect_refused(const struct hentry *e, size_t n, const char *want)
{
	err[0] = 0;
	if (hostile(e, n, 0, 0) == 0 || strstr(err, want) == NULL) {
		fprintf(stderr, "extract: '%s' (wanted '%s')\n", err, want);
		CU_FAIL("hostile payload accepted or wrong message");
	}
	/* Nothing is left: no directory, no partial directory. */
	CU_ASSERT(access(unit_path("hx"), F_OK) == -1);
	CU_ASSERT(nothing_named("hx"));
	CU_ASSERT(nothing_named("evil"));
}

#define REG(p, d)	{ p, AE_IFREG, 0644, d, NULL, 0 }
#define DIRE(p)		{ p, AE_IFDIR, 0755, NULL, NULL, 0 }
#define SYM(p, t)	{ p, AE_IFLNK, 0777, NULL, t, 0 }

static void
test_extract_hostile(void)
{
	char		abs[1100];
	struct hentry	ok[] = { REG("setup.sh", "x"), DIRE("d"),
	    REG("d/f", "yy"), SYM("d/l", "../setup.sh") };
	struct hentry	dotdot[] = { REG("setup.sh", "x"),
	    REG("../evil", "pwned") };
	struct hentry	dotdot2[] = { DIRE("d"), REG("d/../../evil", "x") };
	struct hentry	dot[] = { REG("./setup.sh", "x") };
	struct hentry	absolute[] = { REG(abs, "pwned") };
	struct hentry	symabs[] = { SYM("l", "/etc") };
	struct hentry	symup[] = { DIRE("d"), SYM("d/l", "../../evil") };
	struct hentry	through[] = { DIRE("d"), SYM("l", "d"),
	    REG("l/f", "x") };
	struct hentry	hard[] = { REG("setup.sh", "x"),
	    { "h", AE_IFREG, 0644, NULL, "setup.sh", 1 } };
	struct hentry	hardout[] = { { "h", AE_IFREG, 0644, NULL,
	    "../evil", 1 } };
	struct hentry	fifo[] = { { "p", AE_IFIFO, 0644, NULL, NULL, 0 } };
	struct hentry	chr[] = { { "null", AE_IFCHR, 0666, NULL, NULL, 0 } };
	struct hentry	suid[] = { { "setup.sh", AE_IFREG, 04755, "x", NULL,
	    0 } };
	struct hentry	sgid[] = { { "d", AE_IFDIR, 02755, NULL, NULL, 0 } };
	struct hentry	dup[] = { REG("setup.sh", "x"), REG("setup.sh", "y") };
	struct hentry	dupsym[] = { SYM("a", "b"), REG("a", "x") };
	struct hentry	late_dir[] = { REG("d/f", "x"), DIRE("d") };

	snprintf(abs, sizeof(abs), "%s/evil", unit_dir);
	abs[0] = '/';

	/* The harness itself works: a clean crafted payload extracts. */
	CU_ASSERT_FATAL(hostile(ok, 4, 0, 0) == 0);
	CU_ASSERT(access(unit_path("hx/d/f"), F_OK) == 0);
	pkg_remove_tree(unit_path("hx"));

	expect_refused(dotdot, 2, "'..' component");
	expect_refused(dotdot2, 2, "'..' component");
	expect_refused(dot, 1, "'.' component");
	expect_refused(absolute, 1, "absolute path");
	expect_refused(symabs, 1, "symlink to the absolute path /etc");
	expect_refused(symup, 2, "points outside the package folder");
	expect_refused(through, 3, "symlink");
	expect_refused(hard, 2, "hard link");
	expect_refused(hardout, 1, "");
	expect_refused(fifo, 1, "FIFO");
	expect_refused(chr, 1, "character device");
	expect_refused(suid, 1, "setuid");
	expect_refused(sgid, 1, "setuid, setgid or sticky bit (mode 2755)");
	expect_refused(dup, 2, "setup.sh appears twice");
	expect_refused(dupsym, 2, "a appears twice");
	expect_refused(late_dir, 2, "d appears twice (or after its contents)");

	/* Totals the manifest declares bound what is written. */
	if (hostile(ok, 4, 0, -1) == 0 || strstr(err, "add up to more") ==
	    NULL)
		CU_FAIL("more bytes than declared accepted");
	CU_ASSERT(access(unit_path("hx"), F_OK) == -1);
	if (hostile(ok, 4, -1, 0) == 0 || strstr(err, "more entries") == NULL)
		CU_FAIL("more entries than declared accepted");
	if (hostile(ok, 4, 1, 1) == 0 || strstr(err, "the manifest declares") ==
	    NULL)
		CU_FAIL("fewer entries than declared accepted");
	CU_ASSERT(access(unit_path("hx"), F_OK) == -1);
}

static void
test_remove_tree(void)
{
	make_folder("rm");
	CU_ASSERT_FATAL(symlink(unit_dir, unit_path("rm/data/toplink")) == 0);
	CU_ASSERT_FATAL(chmod(unit_path("rm/data"), 0500) == 0);
	put_file("keep", "k", 0644);
	CU_ASSERT(pkg_remove_tree(unit_path("rm")) == 0);
	CU_ASSERT(access(unit_path("rm"), F_OK) == -1);
	/* The symlink was removed, not followed. */
	CU_ASSERT(access(unit_path("keep"), F_OK) == 0);
	unlink(unit_path("keep"));
	CU_ASSERT(pkg_remove_tree(unit_path("does-not-exist")) == 0);
}

static void
test_psk(void)
{
	uint8_t		key[PSK_LEN], key2[PSK_LEN];
	struct stat	st;
	char		*text;
	size_t		 len;

	unlink(unit_path("psk"));
	CU_ASSERT_FATAL(psk_generate(unit_path("psk"), 0, err,
	    sizeof(err)) == 0);
	CU_ASSERT(stat(unit_path("psk"), &st) == 0 &&
	    (st.st_mode & 0777) == 0600);
	text = get_file(unit_path("psk"), &len);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT(len == 65 && text[64] == '\n');
	CU_ASSERT(psk_read(unit_path("psk"), key, err, sizeof(err)) == 0);
	CU_ASSERT(hex_decode((text[64] = '\0', text), key2, PSK_LEN) == 0);
	CU_ASSERT(memcmp(key, key2, PSK_LEN) == 0);
	free(text);
	/* No silent replacement; --force replaces with a new key. */
	CU_ASSERT(psk_generate(unit_path("psk"), 0, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "--force") != NULL);
	CU_ASSERT(psk_generate(unit_path("psk"), 1, err, sizeof(err)) == 0);
	CU_ASSERT(psk_read(unit_path("psk"), key2, err, sizeof(err)) == 0);
	CU_ASSERT(memcmp(key, key2, PSK_LEN) != 0);

	/* Exactly 64 hex digits, one optional line end. */
	put_file("psk", "00112233445566778899aabbccddeeff"
	    "00112233445566778899AABBCCDDEEFF", 0600);
	CU_ASSERT(psk_read(unit_path("psk"), key, err, sizeof(err)) == 0);
	CU_ASSERT(key[0] == 0x00 && key[31] == 0xff && key[16] == 0x00);
	put_file("psk", "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff\r\n", 0600);
	CU_ASSERT(psk_read(unit_path("psk"), key, err, sizeof(err)) == 0);
	put_file("psk", "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddee\n", 0600);
	CU_ASSERT(psk_read(unit_path("psk"), key, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "not a PSK file") != NULL);
	put_file("psk", "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff0\n", 0600);
	CU_ASSERT(psk_read(unit_path("psk"), key, err, sizeof(err)) == -1);
	put_file("psk", "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeefg\n", 0600);
	CU_ASSERT(psk_read(unit_path("psk"), key, err, sizeof(err)) == -1);
	put_file("psk", "", 0600);
	CU_ASSERT(psk_read(unit_path("psk"), key, err, sizeof(err)) == -1);
	/* A key every user can read is refused. */
	put_file("psk", "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff\n", 0644);
	CU_ASSERT(psk_read(unit_path("psk"), key, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "chmod 600") != NULL);
	CU_ASSERT(psk_read(unit_path("nope"), key, err, sizeof(err)) == -1);
	unlink(unit_path("psk"));
}

static CU_TestInfo tests[] = {
	{ "build, verify, extract round trip", test_roundtrip },
	{ "long and non-ASCII names", test_long_names },
	{ "zero pages: holes, exact sizes and bytes", test_zero_pages },
	{ "every flipped byte and truncation refused", test_tamper },
	{ "file changed after verification", test_changed_after_verify },
	{ "unsafe folders refused at build", test_build_unsafe },
	{ "build failure leaves nothing", test_build_write_error },
	{ "hostile payloads refused at extraction", test_extract_hostile },
	{ "tree removal", test_remove_tree },
	{ "PSK files", test_psk },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	int	rv;

	if (unit_tmpdir("fc-test-pkg") == -1)
		return (1);
	if (ed25519_generate(pk, sk) == -1 || ed25519_generate(pk2, sk2) == -1)
		return (1);
	rv = unit_main("pkg", tests);
	(void)unit_tmpdir_remove();
	return (rv);
}
