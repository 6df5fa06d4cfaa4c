/*
 * What every fuzz target shares (header-only, one target per program):
 * fuzz_die for a broken invariant, a scratch directory for the targets
 * whose code under test reads files (created on first use, removed at
 * exit), the input as a file or as a C string, and, without
 * --enable-fuzzing, the main() that replays the target's seed corpus
 * (tests/fuzz/corpus/FUZZ_NAME, or the directory given) with truncations
 * and byte flips of each seed, so that make check runs every target.  A
 * target defines FUZZ_NAME (its corpus directory) and FUZZ_MAX_LEN (the
 * largest seed it takes) before including this file; the seed generator
 * (mkseeds.c) defines FUZZ_NO_MAIN.
 */
#ifndef FC_FUZZ_H
#define FC_FUZZ_H

#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crypto.h"

#if !defined(FUZZ_NAME) || !defined(FUZZ_MAX_LEN)
#error "define FUZZ_NAME and FUZZ_MAX_LEN before including fuzz.h"
#endif

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char	fuzz_scratch[4096];

static __attribute__((format(printf, 1, 2), noreturn, unused)) void
fuzz_die(const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "fuzz_%s: ", FUZZ_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

static __attribute__((unused)) int
fuzz_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		return (rmdir(path));
	return (unlink(path));
}

/* Remove a tree below the scratch directory; no error if it is absent. */
static __attribute__((unused)) void
fuzz_rm(const char *path)
{
	(void)nftw(path, fuzz_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static __attribute__((unused)) void
fuzz_scratch_remove(void)
{
	if (fuzz_scratch[0] != '\0')
		fuzz_rm(fuzz_scratch);
}

/*
 * The target's scratch directory, created on first use: in $TMPDIR, else
 * in /dev/shm when there is one, since the code under test syncs its
 * files and a disk would slow fuzzing fifty-fold, else in /tmp.
 */
static __attribute__((unused)) const char *
fuzz_dir(void)
{
	const char	*tmp;
	struct stat	 st;

	if (fuzz_scratch[0] != '\0')
		return (fuzz_scratch);
	if ((tmp = getenv("TMPDIR")) == NULL || *tmp == '\0')
		tmp = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
		    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(fuzz_scratch, sizeof(fuzz_scratch), "%s/fuzz_%s.XXXXXX",
	    tmp, FUZZ_NAME);
	if (mkdtemp(fuzz_scratch) == NULL)
		fuzz_die("%s: %s", fuzz_scratch, strerror(errno));
	atexit(fuzz_scratch_remove);
	return (fuzz_scratch);
}

/* A path in the scratch directory, in a static buffer. */
static __attribute__((unused)) const char *
fuzz_path(const char *name)
{
	static char	path[sizeof(fuzz_scratch) + 256];

	snprintf(path, sizeof(path), "%s/%s", fuzz_dir(), name);
	return (path);
}

/* Write bytes to a file of the scratch directory; returns its path. */
static __attribute__((unused)) const char *
fuzz_file(const char *name, const void *data, size_t size)
{
	const char	*path = fuzz_path(name);
	int		 fd;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    (size > 0 && write(fd, data, size) != (ssize_t)size))
		fuzz_die("%s: %s", path, strerror(errno));
	close(fd);
	return (path);
}

/* The input as a C string (stopping at its first NUL); free() it. */
static __attribute__((unused)) char *
fuzz_str(const uint8_t *data, size_t size)
{
	char	*s;

	if ((s = malloc(size + 1)) == NULL)
		fuzz_die("out of memory");
	memcpy(s, data, size);
	s[size] = '\0';
	return (s);
}

/*
 * An error message of the code under test: it must say something, and
 * "(null)" in it, unless the input holds those letters, is a NULL printed
 * for %s (undefined, and no help to whoever reads it).
 */
static __attribute__((unused)) void
fuzz_check_err(const char *what, const char *err, const uint8_t *data,
    size_t size)
{
	if (err[0] == '\0')
		fuzz_die("%s failed without a message", what);
	if (strstr(err, "(null)") != NULL &&
	    memmem(data, size, "(null)", 6) == NULL)
		fuzz_die("%s: a NULL in the message: %s", what, err);
}

/*
 * The input as PEM text: as it is when it starts like PEM, else taken as
 * DER and wrapped under label, so that the fuzzer mutates the DER itself
 * (OpenSSL, which parses it, is not instrumented).  free() it.
 */
static __attribute__((unused)) char *
fuzz_pem(const char *label, const uint8_t *data, size_t size)
{
	char	*s, *p;
	size_t	 i, n;

	if (size > 0 && data[0] == '-')
		return (fuzz_str(data, size));
	n = 4 * ((size + 2) / 3);
	if ((s = malloc(n + n / 64 + 2 * strlen(label) + 64)) == NULL)
		fuzz_die("out of memory");
	p = s + sprintf(s, "-----BEGIN %s-----\n", label);
	/* 48 input bytes, 64 characters, per line. */
	for (i = 0; i < size; i += 48) {
		p += EVP_EncodeBlock((unsigned char *)p, data + i,
		    (int)(size - i < 48 ? size - i : 48));
		*p++ = '\n';
	}
	sprintf(p, "-----END %s-----\n", label);
	return (s);
}

/*
 * The package signing key of the targets and of their seeds (mkseeds.c):
 * fixed, so that a seed signed once stays valid.  Not a secret.
 */
static __attribute__((unused)) void
fuzz_signing_key(uint8_t priv[ED25519_PRIV_LEN],
    uint8_t pub[ED25519_PUB_LEN])
{
	size_t	i;

	for (i = 0; i < ED25519_PRIV_LEN; i++)
		priv[i] = (uint8_t)(0x5a ^ i);
	if (ed25519_public(priv, pub) == -1)
		fuzz_die("ed25519_public failed");
}

#ifdef FC_UDP_H
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

/*
 * For the transport's targets (those that include udp.h first): a
 * non-blocking UDP socket on a free port of 127.0.0.1, its address in a.
 */
static __attribute__((unused)) int
fuzz_udp_socket(struct udp_addr *a)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)&a->ss;
	int			 fd;

	memset(a, 0, sizeof(*a));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a->len = sizeof(*sin);
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0)) == -1 ||
	    bind(fd, (struct sockaddr *)sin, sizeof(*sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&a->ss, &a->len) == -1)
		fuzz_die("socket: %s", strerror(errno));
	return (fd);
}

/* Hand every datagram waiting on fd, with its source, to fn. */
static __attribute__((unused)) void
fuzz_udp_read(int fd, void (*fn)(void *, const struct udp_addr *,
    const uint8_t *, size_t), void *arg)
{
	struct udp_addr	from;
	uint8_t		dg[65536];
	ssize_t		n;

	do {
		from.len = sizeof(from.ss);
		if ((n = recvfrom(fd, dg, sizeof(dg), 0,
		    (struct sockaddr *)&from.ss, &from.len)) >= 0)
			fn(arg, &from, dg, (size_t)n);
	} while (n >= 0);
}
#endif /* FC_UDP_H */

#if !defined(FUZZING) && !defined(FUZZ_NO_MAIN)
/* One input in an exactly sized copy, so that ASan sees overreads. */
static void
fuzz_run_copy(const uint8_t *buf, size_t len)
{
	uint8_t	*c;

	if ((c = malloc(len + 1)) == NULL)
		fuzz_die("out of memory");
	memcpy(c, buf, len);
	LLVMFuzzerTestOneInput(c, len);
	free(c);
}

/*
 * A seed, then its truncations and, at each position, the byte set to
 * 0x00, 0xff and its bit 7 flipped; a large seed is cut and flipped at
 * evenly spaced positions only (about 512), so that replay stays quick.
 */
static int
fuzz_replay(const char *path)
{
	uint8_t		*buf, *mut;
	struct stat	 st;
	size_t		 len, i, step;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1) {
		fprintf(stderr, "fuzz_%s: %s: %s\n", FUZZ_NAME, path,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	if (st.st_size > (off_t)(FUZZ_MAX_LEN)) {
		fprintf(stderr, "fuzz_%s: %s: larger than %lu bytes\n",
		    FUZZ_NAME, path, (unsigned long)(FUZZ_MAX_LEN));
		close(fd);
		return (-1);
	}
	len = (size_t)st.st_size;
	if ((buf = malloc(len + 1)) == NULL ||
	    read(fd, buf, len) != (ssize_t)len) {
		fprintf(stderr, "fuzz_%s: %s: short read\n", FUZZ_NAME, path);
		close(fd);
		free(buf);
		return (-1);
	}
	close(fd);
	step = len / 512 + 1;
	fuzz_run_copy(buf, len);
	for (i = 0; i < len; i += step)
		fuzz_run_copy(buf, i);
	if ((mut = malloc(len + 1)) == NULL)
		fuzz_die("out of memory");
	for (i = 0; i < len; i += step) {
		memcpy(mut, buf, len);
		mut[i] = 0x00;
		fuzz_run_copy(mut, len);
		mut[i] = 0xff;
		fuzz_run_copy(mut, len);
		mut[i] = buf[i] ^ 0x80;
		fuzz_run_copy(mut, len);
	}
	free(mut);
	free(buf);
	return (0);
}

int
main(int argc, char **argv)
{
	const char	*srcdir;
	char		 dir[4096], file[4096 + 256];
	DIR		*d;
	struct dirent	*de;
	int		 nfiles = 0, failed = 0;

	if (argc > 1)
		snprintf(dir, sizeof(dir), "%s", argv[1]);
	else {
		if ((srcdir = getenv("srcdir")) == NULL)
			srcdir = ".";
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", srcdir,
		    FUZZ_NAME);
	}
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "fuzz_%s: %s: %s\n", FUZZ_NAME, dir,
		    strerror(errno));
		return (1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", dir, de->d_name);
		if (fuzz_replay(file) == -1)
			failed++;
		nfiles++;
	}
	closedir(d);
	printf("fuzz_%s: %d seeds replayed with truncations and flips, %d "
	    "unreadable\n", FUZZ_NAME, nfiles, failed);
	/* An empty corpus would make this test pass without testing. */
	return (nfiles == 0 || failed != 0 ? 1 : 0);
}
#endif /* !FUZZING && !FUZZ_NO_MAIN */

#endif /* FC_FUZZ_H */
