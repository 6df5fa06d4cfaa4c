/*
 * Reading a package: header and manifest checks, signature verification
 * against the trusted keys, streamed payload hashing, and safe extraction.
 * Extraction trusts nothing it has not checked itself even though the
 * payload is signed: every entry's path, type, mode, symlink target and
 * size is checked against the rules the builder applies and against the
 * totals the manifest declares, libarchive's own secure-extraction flags
 * are on as a second line, and the payload is hashed again on the way so
 * that a file changed after pkg_open is caught.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "crypto.h"
#include "log.h"
#include "pkg.h"
#include "wire.h"
#include "xmalloc.h"

#define PKG_READBUF	(256 * 1024)
#define PKG_PAGE	4096		/* holes are left page by page */

struct pkg {
	int			 fd;
	char			*path;
	uint8_t			*raw;		/* the manifest as signed */
	size_t			 rawlen;
	uint8_t			 sig[ED25519_SIG_LEN];
	struct pkg_manifest	 m;
	uint64_t		 payload_off;
	int			 verified;
	int			 hashed;	/* by the caller: no second pass */
};

static int
pkg_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t	*p = buf;
	ssize_t	 n;

	while (len > 0) {
		n = pread(fd, p, len, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return (-1);
		}
		p += n;
		len -= n;
		off += n;
	}
	return (0);
}

int
pkg_open(struct pkg **pp, const char *path,
    const uint8_t (*keys)[ED25519_PUB_LEN], size_t nkeys, int flags,
    char *err, size_t errlen)
{
	struct pkg	*p;
	struct stat	 st;
	uint8_t		 hdr[PKG_HEADER_LEN], hash[SHA256_LEN];
	uint32_t	 mlen;
	uint64_t	 size, want;
	size_t		 n;
	char		 have[2 * SHA256_LEN + 1];

	*pp = NULL;
	p = xcalloc(1, sizeof(*p));
	p->path = xstrdup(path);
	/* Non-blocking, so that a FIFO given by mistake cannot hang us. */
	if ((p->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(p->fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	size = (uint64_t)st.st_size;
	/* A short file that is not a package at all should say so. */
	n = size < PKG_HEADER_LEN ? (size_t)size : PKG_HEADER_LEN;
	if (pkg_pread_all(p->fd, hdr, n, 0) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (memcmp(hdr, PKG_MAGIC, n < PKG_MAGIC_LEN ? n : PKG_MAGIC_LEN) !=
	    0) {
		snprintf(err, errlen, "header: %s is not a fleetcast package "
		    "(bad magic)", path);
		goto fail;
	}
	if (size < PKG_HEADER_LEN) {
		snprintf(err, errlen, "truncated: %s is %llu bytes, shorter "
		    "than the %d-byte header", path, (unsigned long long)size,
		    PKG_HEADER_LEN);
		goto fail;
	}
	if (wire_load16(hdr + 8) != PKG_FORMAT_VERSION) {
		snprintf(err, errlen, "header: format version %u is not "
		    "supported (this build reads version %d)",
		    wire_load16(hdr + 8), PKG_FORMAT_VERSION);
		goto fail;
	}
	if (wire_load16(hdr + 10) != 0) {
		snprintf(err, errlen, "header: reserved field is 0x%04x, not 0",
		    wire_load16(hdr + 10));
		goto fail;
	}
	mlen = wire_load32(hdr + 12);
	if (mlen == 0 || mlen > PKG_MANIFEST_MAX) {
		snprintf(err, errlen, "header: manifest length %u out of range "
		    "(1 to %d)", mlen, PKG_MANIFEST_MAX);
		goto fail;
	}
	p->payload_off = PKG_HEADER_LEN + (uint64_t)mlen + ED25519_SIG_LEN;
	if (size < p->payload_off) {
		snprintf(err, errlen, "truncated: %s is %llu bytes and ends "
		    "inside the manifest or signature (%llu bytes)", path,
		    (unsigned long long)size,
		    (unsigned long long)p->payload_off);
		goto fail;
	}
	p->rawlen = mlen;
	p->raw = xmalloc(mlen);
	if (pkg_pread_all(p->fd, p->raw, mlen, PKG_HEADER_LEN) == -1 ||
	    pkg_pread_all(p->fd, p->sig, ED25519_SIG_LEN,
	    PKG_HEADER_LEN + mlen) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (flags & PKG_OPEN_NOVERIFY) {
		if (pkg_manifest_decode(&p->m, p->raw, p->rawlen, err,
		    errlen) == -1)
			goto fail;
		*pp = p;
		return (0);
	}
	if (pkg_manifest_verify(&p->m, p->raw, p->rawlen, p->sig, keys, nkeys,
	    err, errlen) == -1)
		goto fail;
	want = p->payload_off + p->m.payload_size;
	if (p->m.payload_size > (uint64_t)INT64_MAX - p->payload_off) {
		snprintf(err, errlen, "manifest: payload size out of range");
		goto fail;
	}
	if (size < want) {
		snprintf(err, errlen, "truncated: the payload has %llu of the "
		    "%llu bytes the manifest declares",
		    (unsigned long long)(size - p->payload_off),
		    (unsigned long long)p->m.payload_size);
		goto fail;
	}
	if (size > want) {
		snprintf(err, errlen, "payload: %llu unexpected bytes after "
		    "the end of the payload", (unsigned long long)(size - want));
		goto fail;
	}
	if (flags & PKG_OPEN_PAYLOAD_VERIFIED) {
		p->verified = p->hashed = 1;
		*pp = p;
		return (0);
	}
	if (sha256_fd(p->fd, (off_t)p->payload_off, p->m.payload_size,
	    hash) == -1) {
		snprintf(err, errlen, "%s: reading the payload: %s", path,
		    strerror(errno));
		goto fail;
	}
	if (memcmp(hash, p->m.payload_sha256, SHA256_LEN) != 0) {
		hex_encode(hash, SHA256_LEN, have);
		snprintf(err, errlen, "payload: SHA-256 %s does not match the "
		    "signed manifest (the payload was altered)", have);
		goto fail;
	}
	p->verified = 1;
	*pp = p;
	return (0);

fail:
	pkg_close(p);
	return (-1);
}

void
pkg_close(struct pkg *p)
{
	if (p == NULL)
		return;
	if (p->fd != -1)
		close(p->fd);
	pkg_manifest_free(&p->m);
	free(p->raw);
	free(p->path);
	free(p);
}

const struct pkg_manifest *
pkg_get_manifest(const struct pkg *p)
{
	return (&p->m);
}

const uint8_t *
pkg_get_manifest_raw(const struct pkg *p, size_t *len)
{
	*len = p->rawlen;
	return (p->raw);
}

const uint8_t *
pkg_get_signature(const struct pkg *p)
{
	return (p->sig);
}

uint64_t
pkg_get_payload_offset(const struct pkg *p)
{
	return (p->payload_off);
}

/* Remove a tree without following symlinks. */
static int
pkg_remove_at(int atfd, const char *name, int depth)
{
	struct stat	 st;
	struct dirent	*de;
	DIR		*d;
	int		 fd, rv = 0;

	if (fstatat(atfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return (errno == ENOENT ? 0 : -1);
	if (!S_ISDIR(st.st_mode))
		return (unlinkat(atfd, name, 0));
	if (depth > 2 * PKG_PATH_MAX)
		return (-1);
	fd = openat(atfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1)
		return (-1);
	/* A read-only directory from the payload must still be emptied. */
	(void)fchmod(fd, 0700);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return (-1);
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (pkg_remove_at(dirfd(d), de->d_name, depth + 1) == -1)
			rv = -1;
	}
	closedir(d);
	if (unlinkat(atfd, name, AT_REMOVEDIR) == -1)
		rv = -1;
	return (rv);
}

int
pkg_remove_tree(const char *path)
{
	return (pkg_remove_at(AT_FDCWD, path, 0));
}

/* libarchive's input: the payload range of the package, hashed. */
struct pkg_reader {
	int		 fd;
	uint64_t	 off;
	uint64_t	 left;
	struct sha256	*hash;
	uint8_t		*buf;
};

/*
 * libarchive's reason for a failure.  It can fail without one (a damaged
 * tar header after a zstd frame, found by fuzz_pkg), and a NULL for %s
 * is undefined and printed "(null)".
 */
static const char *
pkg_archive_error(struct archive *a)
{
	const char	*s = archive_error_string(a);

	return (s != NULL ? s : "damaged archive (libarchive gives no reason)");
}

static la_ssize_t
pkg_extract_read(struct archive *a, void *arg, const void **out)
{
	struct pkg_reader	*r = arg;
	size_t			 want;
	ssize_t			 n;

	if (r->left == 0)
		return (0);
	want = r->left < PKG_READBUF ? (size_t)r->left : PKG_READBUF;
	do
		n = pread(r->fd, r->buf, want, (off_t)r->off);
	while (n == -1 && errno == EINTR);
	if (n <= 0) {
		archive_set_error(a, n == 0 ? EIO : errno, "payload: %s",
		    n == 0 ? "file shrank while being read" : strerror(errno));
		return (-1);
	}
	if (r->hash != NULL)
		sha256_update(r->hash, r->buf, n);
	r->off += n;
	r->left -= n;
	*out = r->buf;
	return (n);
}

/* Count the components of a checked relative path. */
static size_t
pkg_path_depth(const char *path)
{
	size_t	n = 1;

	for (; *path != '\0'; path++)
		if (*path == '/')
			n++;
	return (n);
}

/*
 * Check one tar entry before anything touches the disk.  The builder only
 * writes regular files, directories and symlinks that stay inside, with
 * clean relative paths and no setuid bits; anything else is hostile.
 */
static int
pkg_check_entry(const struct pkg_manifest *m, struct archive_entry *e,
    char *path, uint64_t *unpacked, uint64_t nentry, char *err, size_t errlen)
{
	const char	*name = archive_entry_pathname(e), *target;
	char		 sub[512];
	mode_t		 type = archive_entry_filetype(e);
	size_t		 len;
	int64_t		 size;

	if (name == NULL) {
		snprintf(err, errlen, "payload: entry %llu has no usable path",
		    (unsigned long long)nentry);
		return (-1);
	}
	if (nentry > m->entries) {
		snprintf(err, errlen, "payload: more entries than the %llu the "
		    "manifest declares", (unsigned long long)m->entries);
		return (-1);
	}
	len = strlen(name);
	if (len > PKG_PATH_MAX + 1) {
		snprintf(err, errlen, "payload: entry %llu: path of %zu bytes, "
		    "limit %d", (unsigned long long)nentry, len, PKG_PATH_MAX);
		return (-1);
	}
	memcpy(path, name, len + 1);
	/* tar writers mark directories with one trailing slash. */
	if (type == AE_IFDIR && len > 1 && path[len - 1] == '/')
		path[len - 1] = '\0';
	if (pkg_field_check_relpath("payload: entry path", path, sub,
	    sizeof(sub)) == -1) {
		snprintf(err, errlen, "%s", sub);
		return (-1);
	}
	if (pkg_path_depth(path) > PKG_DEPTH_MAX + 1) {
		snprintf(err, errlen, "payload: %s: nested deeper than %d "
		    "directories", path, PKG_DEPTH_MAX);
		return (-1);
	}
	if (archive_entry_hardlink(e) != NULL) {
		snprintf(err, errlen, "payload: %s is a hard link; packages "
		    "hold no hard links", path);
		return (-1);
	}
	if (type != AE_IFREG && type != AE_IFDIR && type != AE_IFLNK) {
		snprintf(err, errlen, "payload: %s is a %s; packages hold only "
		    "regular files, directories and symlinks", path,
		    type == AE_IFCHR ? "character device" :
		    type == AE_IFBLK ? "block device" :
		    type == AE_IFIFO ? "FIFO" :
		    type == AE_IFSOCK ? "socket" : "special file");
		return (-1);
	}
	if (type != AE_IFLNK && (archive_entry_mode(e) & 07000) != 0) {
		snprintf(err, errlen, "payload: %s has the setuid, setgid or "
		    "sticky bit (mode %04o)", path,
		    (unsigned)(archive_entry_mode(e) & 07777));
		return (-1);
	}
	if (type == AE_IFLNK) {
		if ((target = archive_entry_symlink(e)) == NULL) {
			snprintf(err, errlen, "payload: %s: symlink without a "
			    "target", path);
			return (-1);
		}
		if (pkg_field_check_symlink(path, target, sub,
		    sizeof(sub)) == -1) {
			snprintf(err, errlen, "payload: %s", sub);
			return (-1);
		}
	}
	size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
	if (size < 0 || (type != AE_IFREG && size != 0)) {
		snprintf(err, errlen, "payload: %s: bad size %lld", path,
		    (long long)size);
		return (-1);
	}
	if ((uint64_t)size > m->unpacked_size - *unpacked) {
		snprintf(err, errlen, "payload: %s: files add up to more than "
		    "the %llu bytes the manifest declares", path,
		    (unsigned long long)m->unpacked_size);
		return (-1);
	}
	*unpacked += size;
	return (0);
}

/*
 * Write one block of an entry's data, leaving its all-zero pages out (the
 * file is new: they read back as zeros, and a sparse file stays sparse),
 * each run of the others in one write.  libarchive's own
 * ARCHIVE_EXTRACT_SPARSE writes every block in pieces of st_blksize, one
 * write(2) per 4 KiB page: 65,536 system calls for 256 MiB, which made
 * the extraction several times dearer than the copy, most of all with
 * several agents unpacking on one host.
 */
static int
pkg_write_block(struct archive *out, const uint8_t *buf, size_t len,
    la_int64_t off)
{
	size_t	i = 0, run, n;

	while (i < len) {
		/* The pieces end at page boundaries of the file. */
		for (run = i; run < len; run += n) {
			n = PKG_PAGE - (size_t)((off + (la_int64_t)run) %
			    PKG_PAGE);
			if (n > len - run)
				n = len - run;
			if (pkg_field_all_zero(buf + run, n))
				break;
		}
		if (run > i && archive_write_data_block(out, buf + i, run - i,
		    off + (la_int64_t)i) < ARCHIVE_OK)
			return (-1);
		/* Past the zero pages. */
		for (i = run; i < len; i += n) {
			n = PKG_PAGE - (size_t)((off + (la_int64_t)i) %
			    PKG_PAGE);
			if (n > len - i)
				n = len - i;
			if (!pkg_field_all_zero(buf + i, n))
				break;
		}
	}
	return (0);
}

/* Copy one entry's data, never past the size its header declared. */
static int
pkg_copy_data(struct archive *in, struct archive *out, const char *path,
    int64_t size, char *err, size_t errlen)
{
	const void	*buf;
	size_t		 len;
	la_int64_t	 off;
	int		 r;

	for (;;) {
		r = archive_read_data_block(in, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			return (0);
		if (r != ARCHIVE_OK) {
			snprintf(err, errlen, "payload: %s: %s", path,
			    pkg_archive_error(in));
			return (-1);
		}
		if (off < 0 || (uint64_t)off > (uint64_t)size ||
		    len > (uint64_t)size - (uint64_t)off) {
			snprintf(err, errlen, "payload: %s: data beyond the "
			    "entry's size", path);
			return (-1);
		}
		if (pkg_write_block(out, buf, len, off) == -1) {
			snprintf(err, errlen, "%s: %s", path,
			    pkg_archive_error(out));
			return (-1);
		}
	}
}

static int
pkg_extract_here(struct pkg *p, struct pkg_reader *rd, char *err,
    size_t errlen)
{
	const struct pkg_manifest	*m = &p->m;
	struct archive			*in, *out;
	struct archive_entry		*e;
	struct stat			 st;
	uint64_t			 unpacked = 0, nentry = 0;
	uint8_t				 hash[SHA256_LEN];
	char				*path;
	int				 r, rv = -1;

	path = xmalloc(PKG_PATH_MAX + 2);
	in = archive_read_new();
	out = archive_write_disk_new();
	if (m->compression == PKG_COMPRESS_ZSTD)
		r = archive_read_support_filter_zstd(in);
	else
		r = archive_read_support_filter_none(in);
	if (r != ARCHIVE_OK || archive_read_support_format_tar(in) !=
	    ARCHIVE_OK) {
		snprintf(err, errlen, "payload: %s", pkg_archive_error(in));
		goto out;
	}
	archive_write_disk_set_options(out, ARCHIVE_EXTRACT_SECURE_NODOTDOT |
	    ARCHIVE_EXTRACT_SECURE_SYMLINKS |
	    ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_TIME |
	    ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_NO_OVERWRITE);
	if (archive_read_open(in, rd, NULL, pkg_extract_read, NULL) !=
	    ARCHIVE_OK) {
		snprintf(err, errlen, "payload: %s", pkg_archive_error(in));
		goto out;
	}
	for (;;) {
		r = archive_read_next_header(in, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK) {
			snprintf(err, errlen, "payload: %s",
			    pkg_archive_error(in));
			goto out;
		}
		nentry++;
		if (pkg_check_entry(m, e, path, &unpacked, nentry, err,
		    errlen) == -1)
			goto out;
		/*
		 * The tree starts empty and the builder writes each path once,
		 * directories before their contents: a path that exists now
		 * is a duplicate, and libarchive would quietly skip or replace
		 * it.
		 */
		if (fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			snprintf(err, errlen, "payload: %s appears twice (or "
			    "after its contents)", path);
			goto out;
		}
		archive_entry_set_pathname(e, path);
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		/* The agent must be able to fill and later remove the tree. */
		if (archive_entry_filetype(e) == AE_IFDIR)
			archive_entry_set_perm(e, archive_entry_perm(e) | 0700);
		if (archive_write_header(out, e) != ARCHIVE_OK) {
			snprintf(err, errlen, "payload: %s: %s", path,
			    pkg_archive_error(out));
			goto out;
		}
		if (archive_entry_filetype(e) == AE_IFREG &&
		    pkg_copy_data(in, out, path, archive_entry_size(e), err,
		    errlen) == -1)
			goto out;
		if (archive_write_finish_entry(out) != ARCHIVE_OK) {
			snprintf(err, errlen, "payload: %s: %s", path,
			    pkg_archive_error(out));
			goto out;
		}
	}
	if (nentry != m->entries || unpacked != m->unpacked_size) {
		snprintf(err, errlen, "payload: %llu entries and %llu bytes, "
		    "the manifest declares %llu and %llu",
		    (unsigned long long)nentry, (unsigned long long)unpacked,
		    (unsigned long long)m->entries,
		    (unsigned long long)m->unpacked_size);
		goto out;
	}
	/* libarchive may stop before the end: hash the rest too. */
	while (rd->left > 0) {
		const void *dummy;

		if (pkg_extract_read(in, rd, &dummy) <= 0) {
			snprintf(err, errlen, "payload: %s",
			    pkg_archive_error(in));
			goto out;
		}
	}
	if (archive_write_close(out) != ARCHIVE_OK) {
		snprintf(err, errlen, "payload: %s", pkg_archive_error(out));
		goto out;
	}
	if (rd->hash != NULL)
		sha256_final(rd->hash, hash);
	if (rd->hash != NULL && memcmp(hash, m->payload_sha256,
	    SHA256_LEN) != 0) {
		snprintf(err, errlen, "payload: SHA-256 does not match the "
		    "signed manifest (the file changed after it was verified)");
		goto out;
	}
	rv = 0;
out:
	archive_read_free(in);
	archive_write_free(out);
	free(path);
	return (rv);
}

int
pkg_extract(struct pkg *p, const char *dir, char *err, size_t errlen)
{
	struct pkg_reader	 rd;
	struct stat		 st;
	char			*tmp;
	int			 cwd, rv;

	if (!p->verified) {
		snprintf(err, errlen, "%s: not verified; a package opened "
		    "without its signature check cannot be extracted", p->path);
		return (-1);
	}
	if (lstat(dir, &st) == 0) {
		snprintf(err, errlen, "%s: already exists; extraction needs a "
		    "new directory", dir);
		return (-1);
	}
	xasprintf(&tmp, "%s.part.%ld", dir, (long)getpid());
	(void)pkg_remove_tree(tmp);
	if (mkdir(tmp, 0700) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return (-1);
	}
	if ((cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "current directory: %s", strerror(errno));
		(void)pkg_remove_tree(tmp);
		free(tmp);
		return (-1);
	}
	if (chdir(tmp) == -1) {
		snprintf(err, errlen, "%s: %s", tmp, strerror(errno));
		close(cwd);
		(void)pkg_remove_tree(tmp);
		free(tmp);
		return (-1);
	}
	memset(&rd, 0, sizeof(rd));
	rd.fd = p->fd;
	rd.off = p->payload_off;
	rd.left = p->m.payload_size;
	rd.hash = p->hashed ? NULL : sha256_new();
	rd.buf = xmalloc(PKG_READBUF);
	rv = pkg_extract_here(p, &rd, err, errlen);
	sha256_free(rd.hash);
	free(rd.buf);
	if (fchdir(cwd) == -1)
		fatal("pkg_extract: cannot return to the working directory");
	close(cwd);
	if (rv == 0 && rename(tmp, dir) == -1) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		rv = -1;
	}
	if (rv == -1)
		(void)pkg_remove_tree(tmp);
	free(tmp);
	return (rv);
}
