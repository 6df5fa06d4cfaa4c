/*
 * Building a package.  The folder is walked in sorted order (so that the
 * same folder gives the same payload), every entry is checked (regular
 * files, directories and symlinks that stay inside only; no setuid bits),
 * and the tar stream goes through libarchive straight into the output's
 * temp file behind a reserved header, hashed on the way.  Only then is the
 * manifest, whose length does not depend on the payload, filled in,
 * signed and written in front.  Memory use does not depend on the size of
 * the files; all-zero blocks become holes, so sparse payloads stay sparse.
 * Several folders (package build --dir given more than once) each land
 * under their own name (the folder's last path component) at the top of
 * the payload, in sorted order too; two with the same name are refused.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>

#include "crypto.h"
#include "fsutil.h"
#include "log.h"
#include "pkg.h"
#include "wire.h"
#include "xmalloc.h"

#define PKG_IOBUF	(1024 * 1024)
#define PKG_BLOCK	(64 * 1024)

struct pkg_builder {
	struct archive	*a;
	int		 fd;
	off_t		 base;		/* file offset of the payload */
	uint64_t	 written;	/* payload bytes so far */
	struct sha256	*hash;
	dev_t		 out_dev;
	ino_t		 out_ino;
	uint64_t	 unpacked;
	uint64_t	 entries;
	uint8_t		*buf;
	char		*err;
	size_t		 errlen;
};

static int
pkg_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
	const uint8_t	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = pwrite(fd, p, len, off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= n;
		off += n;
	}
	return (0);
}

/* libarchive's output: hash everything, write it, skip zero blocks. */
static la_ssize_t
pkg_build_write(struct archive *a, void *arg, const void *buf, size_t len)
{
	struct pkg_builder	*b = arg;

	sha256_update(b->hash, buf, len);
	if (!pkg_field_all_zero(buf, len) &&
	    pkg_pwrite_all(b->fd, buf, len, b->base + (off_t)b->written) == -1) {
		archive_set_error(a, errno, "writing the package: %s",
		    strerror(errno));
		return (-1);
	}
	b->written += len;
	return ((la_ssize_t)len);
}

static int
pkg_build_fail(struct pkg_builder *b, int rv, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
pkg_build_fail(struct pkg_builder *b, int rv, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(b->err, b->errlen, fmt, ap);
	va_end(ap);
	return (rv);
}

static const char *
pkg_kind(mode_t mode)
{
	if (S_ISFIFO(mode))
		return ("a FIFO");
	if (S_ISSOCK(mode))
		return ("a socket");
	if (S_ISCHR(mode))
		return ("a character device");
	if (S_ISBLK(mode))
		return ("a block device");
	if (S_ISLNK(mode))
		return ("a symlink");
	if (S_ISDIR(mode))
		return ("a directory");
	return ("not a regular file");
}

static int
pkg_cmp_names(const void *a, const void *b)
{
	return (strcmp(*(char * const *)a, *(char * const *)b));
}

/* Names in a directory, sorted, without "." and "..". */
static int
pkg_list_dir(int dirfd, char ***names, size_t *n)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd;

	*names = NULL;
	*n = 0;
	if ((fd = dup(dirfd)) == -1)
		return (-1);
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return (-1);
	}
	rewinddir(d);
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		*names = xreallocarray(*names, *n + 1, sizeof(**names));
		(*names)[(*n)++] = xstrdup(de->d_name);
	}
	if (errno != 0) {
		int saved = errno;

		closedir(d);
		errno = saved;
		return (-1);
	}
	closedir(d);
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), pkg_cmp_names);
	return (0);
}

/* Copy one regular file into the archive, in bounded chunks. */
static int
pkg_add_file(struct pkg_builder *b, int dirfd, const char *name,
    const char *path, const struct stat *st)
{
	struct stat	 st2;
	uint64_t	 left = st->st_size;
	ssize_t		 n;
	int		 fd;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK |
	    O_CLOEXEC);
	if (fd == -1)
		return (pkg_build_fail(b, PKG_EFAIL, "--dir: %s: %s", path,
		    strerror(errno)));
	if (fstat(fd, &st2) == -1 || st2.st_dev != st->st_dev ||
	    st2.st_ino != st->st_ino || !S_ISREG(st2.st_mode)) {
		close(fd);
		return (pkg_build_fail(b, PKG_EFAIL, "--dir: %s: replaced "
		    "while being packaged", path));
	}
	while (left > 0) {
		n = read(fd, b->buf, left < PKG_IOBUF ? (size_t)left :
		    PKG_IOBUF);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			close(fd);
			return (pkg_build_fail(b, PKG_EFAIL, "--dir: %s: %s",
			    path, strerror(errno)));
		}
		if (n == 0) {
			close(fd);
			return (pkg_build_fail(b, PKG_EFAIL, "--dir: %s: shrank "
			    "while being packaged", path));
		}
		if (archive_write_data(b->a, b->buf, n) != n) {
			close(fd);
			return (pkg_build_fail(b, PKG_EFAIL, "%s",
			    archive_error_string(b->a)));
		}
		left -= n;
	}
	/* One more byte means the file grew: the entry would be stale. */
	n = read(fd, b->buf, 1);
	close(fd);
	if (n != 0)
		return (pkg_build_fail(b, PKG_EFAIL, "--dir: %s: grew while "
		    "being packaged", path));
	b->unpacked += st->st_size;
	return (0);
}

static int
pkg_walk(struct pkg_builder *b, int dirfd, const char *rel, int depth)
{
	struct archive_entry	*e;
	struct stat		 st;
	char			**names, *path, target[PKG_PATH_MAX + 2];
	char			 sub[PKG_PATH_MAX + 256], label[PKG_PATH_MAX + 64];
	size_t			 n, i;
	ssize_t			 tlen;
	int			 rv = 0, fd;

	if (pkg_list_dir(dirfd, &names, &n) == -1)
		return (pkg_build_fail(b, PKG_EFAIL, "--dir: %s: %s",
		    rel == NULL ? "." : rel, strerror(errno)));
	for (i = 0; i < n && rv == 0; i++) {
		if (rel == NULL)
			path = xstrdup(names[i]);
		else
			xasprintf(&path, "%s/%s", rel, names[i]);
		e = NULL;
		/* The name itself may be unprintable: show where it is. */
		snprintf(label, sizeof(label), "--dir: a name in %s",
		    rel == NULL ? "the top directory" : rel);
		if (pkg_field_check_relpath(label, path, sub,
		    sizeof(sub)) == -1) {
			rv = pkg_build_fail(b, PKG_EINPUT, "%s", sub);
			goto next;
		}
		if (fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == -1) {
			rv = pkg_build_fail(b, PKG_EFAIL, "--dir: %s: %s", path,
			    strerror(errno));
			goto next;
		}
		if (st.st_dev == b->out_dev && st.st_ino == b->out_ino) {
			rv = pkg_build_fail(b, PKG_EINPUT, "-o: the output file "
			    "is inside --dir (as %s); write it elsewhere", path);
			goto next;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) &&
		    !S_ISLNK(st.st_mode)) {
			rv = pkg_build_fail(b, PKG_EINPUT, "--dir: %s is %s; a "
			    "package holds only regular files, directories and "
			    "symlinks", path, pkg_kind(st.st_mode));
			goto next;
		}
		if (!S_ISLNK(st.st_mode) && (st.st_mode & 07000) != 0) {
			rv = pkg_build_fail(b, PKG_EINPUT, "--dir: %s has the "
			    "setuid, setgid or sticky bit (mode %04o); packages "
			    "may not carry them", path,
			    (unsigned)(st.st_mode & 07777));
			goto next;
		}
		e = archive_entry_new();
		archive_entry_set_pathname(e, path);
		archive_entry_set_mtime(e, st.st_mtim.tv_sec, 0);
		archive_entry_set_uid(e, 0);
		archive_entry_set_gid(e, 0);
		if (S_ISLNK(st.st_mode)) {
			tlen = readlinkat(dirfd, names[i], target,
			    sizeof(target));
			if (tlen == -1) {
				rv = pkg_build_fail(b, PKG_EFAIL, "--dir: %s: %s",
				    path, strerror(errno));
				goto next;
			}
			if ((size_t)tlen >= sizeof(target) - 1) {
				rv = pkg_build_fail(b, PKG_EINPUT, "--dir: %s: "
				    "symlink target longer than %d bytes", path,
				    PKG_PATH_MAX);
				goto next;
			}
			target[tlen] = '\0';
			if (pkg_field_check_symlink(path, target, sub,
			    sizeof(sub)) == -1) {
				rv = pkg_build_fail(b, PKG_EINPUT, "--dir: %s",
				    sub);
				goto next;
			}
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, target);
		} else {
			archive_entry_set_filetype(e, S_ISDIR(st.st_mode) ?
			    AE_IFDIR : AE_IFREG);
			archive_entry_set_perm(e, st.st_mode & 0777);
			if (S_ISREG(st.st_mode))
				archive_entry_set_size(e, st.st_size);
		}
		if (archive_write_header(b->a, e) != ARCHIVE_OK) {
			rv = pkg_build_fail(b, PKG_EFAIL, "%s: %s", path,
			    archive_error_string(b->a));
			goto next;
		}
		b->entries++;
		if (S_ISREG(st.st_mode))
			rv = pkg_add_file(b, dirfd, names[i], path, &st);
		else if (S_ISDIR(st.st_mode)) {
			if (depth + 1 > PKG_DEPTH_MAX) {
				rv = pkg_build_fail(b, PKG_EINPUT, "--dir: %s: "
				    "nested deeper than %d directories", path,
				    PKG_DEPTH_MAX);
				goto next;
			}
			fd = openat(dirfd, names[i], O_RDONLY | O_DIRECTORY |
			    O_NOFOLLOW | O_CLOEXEC);
			if (fd == -1) {
				rv = pkg_build_fail(b, PKG_EFAIL, "--dir: %s: %s",
				    path, strerror(errno));
				goto next;
			}
			rv = pkg_walk(b, fd, path, depth + 1);
			close(fd);
		}
next:
		if (e != NULL)
			archive_entry_free(e);
		free(path);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return (rv);
}

/*
 * The executable must be a regular, executable file reached through real
 * directories: the agent runs exactly that path after extraction.
 */
static int
pkg_check_exec(int rootfd, const char *exec, char *err, size_t errlen)
{
	struct stat	 st;
	char		*copy, *p, *slash;
	int		 fd, next, rv = PKG_EINPUT;

	copy = xstrdup(exec);
	if ((fd = dup(rootfd)) == -1) {
		free(copy);
		snprintf(err, errlen, "--dir: %s", strerror(errno));
		return (PKG_EFAIL);
	}
	for (p = copy; (slash = strchr(p, '/')) != NULL; p = slash + 1) {
		*slash = '\0';
		next = openat(fd, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (next == -1) {
			snprintf(err, errlen, "--exec: %s: directory %s: %s%s",
			    exec, copy, strerror(errno), errno == ELOOP ||
			    errno == ENOTDIR ? " (the path must go through real "
			    "directories, not symlinks)" : "");
			goto out;
		}
		close(fd);
		fd = next;
		*slash = '/';
	}
	if (fstatat(fd, p, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		snprintf(err, errlen, "--exec: %s does not exist in --dir (%s)",
		    exec, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "--exec: %s is %s; it must be a regular "
		    "file inside --dir", exec, pkg_kind(st.st_mode));
		goto out;
	}
	if ((st.st_mode & S_IXUSR) == 0) {
		snprintf(err, errlen, "--exec: %s is not executable (mode "
		    "%04o); run chmod +x on it", exec,
		    (unsigned)(st.st_mode & 07777));
		goto out;
	}
	rv = 0;
out:
	close(fd);
	free(copy);
	return (rv);
}

/* Sign the domain string (with its NUL) followed by the manifest. */
static int
pkg_sign(const uint8_t sk[ED25519_PRIV_LEN], const uint8_t *manifest,
    size_t len, uint8_t sig[ED25519_SIG_LEN])
{
	static const char	 domain[] = PKG_SIG_DOMAIN;
	uint8_t			*msg;
	int			 rv;

	msg = xmalloc(sizeof(domain) + len);
	memcpy(msg, domain, sizeof(domain));
	memcpy(msg + sizeof(domain), manifest, len);
	rv = ed25519_sign(sk, msg, sizeof(domain) + len, sig);
	free(msg);
	return (rv);
}

/* One --dir: its path, its name in the payload and its open descriptor. */
struct pkg_src {
	const char	*path;
	char		*name;		/* NULL: one folder, at the top */
	int		 fd;
};

static int
pkg_src_cmp(const void *a, const void *b)
{
	return (strcmp(((const struct pkg_src *)a)->name,
	    ((const struct pkg_src *)b)->name));
}

/*
 * The name a folder has in a payload of several: its last path component
 * ("a/app/" is app), which must be a valid payload name of its own.
 */
static int
pkg_src_name(struct pkg_src *s, char *err, size_t errlen)
{
	const char	*p = s->path, *end, *start;
	char		 sub[512];

	end = p + strlen(p);
	while (end > p + 1 && end[-1] == '/')
		end--;
	for (start = end; start > p && start[-1] != '/'; start--)
		;
	s->name = xstrndup(start, end - start);
	if (s->name[0] == '\0' || strcmp(s->name, ".") == 0 ||
	    strcmp(s->name, "..") == 0 || strchr(s->name, '/') != NULL) {
		snprintf(err, errlen, "--dir: %s has no name of its own to "
		    "stand under in the payload (with several --dir, each "
		    "folder's content lands under its last path component); "
		    "name the folder itself, not . or ..", s->path);
		return (-1);
	}
	if (pkg_field_check_relpath("--dir", s->name, sub, sizeof(sub)) == -1) {
		snprintf(err, errlen, "%s (the name %s would have in the "
		    "payload)", sub, s->path);
		return (-1);
	}
	return (0);
}

/* The top directory entry of one of several folders. */
static int
pkg_src_entry(struct pkg_builder *b, const struct pkg_src *s)
{
	struct archive_entry	*e;
	struct stat		 st;
	int			 rv = 0;

	if (fstat(s->fd, &st) == -1)
		return (pkg_build_fail(b, PKG_EFAIL, "--dir: %s: %s", s->path,
		    strerror(errno)));
	if ((st.st_mode & 07000) != 0)
		return (pkg_build_fail(b, PKG_EINPUT, "--dir: %s has the "
		    "setuid, setgid or sticky bit (mode %04o); packages may "
		    "not carry them", s->path, (unsigned)(st.st_mode & 07777)));
	e = archive_entry_new();
	archive_entry_set_pathname(e, s->name);
	archive_entry_set_mtime(e, st.st_mtim.tv_sec, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_filetype(e, AE_IFDIR);
	archive_entry_set_perm(e, st.st_mode & 0777);
	if (archive_write_header(b->a, e) != ARCHIVE_OK)
		rv = pkg_build_fail(b, PKG_EFAIL, "%s: %s", s->name,
		    archive_error_string(b->a));
	else
		b->entries++;
	archive_entry_free(e);
	return (rv);
}

/*
 * Open the folders, name them (several) and find the one that holds the
 * executable: with several, its first path component names the folder.
 */
static int
pkg_src_open(struct pkg_src *src, size_t n, const char *exec, char *err,
    size_t errlen)
{
	size_t	 i, len;

	for (i = 0; i < n; i++) {
		src[i].fd = open(src[i].path, O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		if (src[i].fd == -1) {
			snprintf(err, errlen, "--dir: %s: %s", src[i].path,
			    strerror(errno));
			return (PKG_EINPUT);
		}
		if (n > 1 && pkg_src_name(&src[i], err, errlen) == -1)
			return (PKG_EINPUT);
	}
	if (n == 1)
		return (pkg_check_exec(src[0].fd, exec, err, errlen));
	qsort(src, n, sizeof(*src), pkg_src_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(src[i - 1].name, src[i].name) == 0) {
			snprintf(err, errlen, "--dir: %s and %s have the same "
			    "name '%s'; with several --dir each folder's "
			    "content lands under its own name, so the names "
			    "must differ (rename or copy one)", src[i - 1].path,
			    src[i].path, src[i].name);
			return (PKG_EINPUT);
		}
	for (i = 0; i < n; i++) {
		len = strlen(src[i].name);
		if (strncmp(exec, src[i].name, len) == 0 && exec[len] == '/')
			return (pkg_check_exec(src[i].fd, exec + len + 1, err,
			    errlen));
	}
	snprintf(err, errlen, "--exec: %s is in none of the folders; with "
	    "several --dir it starts with the name of the folder that holds "
	    "it (", exec);
	for (i = 0; i < n; i++) {
		len = strlen(err);
		snprintf(err + len, errlen - len, "%s%s/...", i ? ", " : "",
		    src[i].name);
	}
	len = strlen(err);
	snprintf(err + len, errlen - len, ")");
	return (PKG_EINPUT);
}

int
pkg_build(struct pkg_manifest *m, const char *dir, const char *out,
    const uint8_t sk[ED25519_PRIV_LEN], char *err, size_t errlen)
{
	return (pkg_build_dirs(m, &dir, 1, out, sk, err, errlen));
}

int
pkg_build_dirs(struct pkg_manifest *m, const char *const *dirs, size_t ndirs,
    const char *out, const uint8_t sk[ED25519_PRIV_LEN], char *err,
    size_t errlen)
{
	struct pkg_builder	 b;
	struct atomic_file	 af;
	struct wire_w		 w;
	struct stat		 st;
	struct pkg_src		*src;
	uint8_t			 pk[ED25519_PUB_LEN], sig[ED25519_SIG_LEN];
	uint8_t			 hdr[PKG_HEADER_LEN];
	size_t			 mlen, i;
	int			 rv;

	memset(&b, 0, sizeof(b));
	b.fd = -1;
	b.err = err;
	b.errlen = errlen;
	af.fd = -1;
	wire_w_grow(&w, 1024);
	src = xcalloc(ndirs + 1, sizeof(*src));
	for (i = 0; i < ndirs; i++) {
		src[i].path = dirs[i];
		src[i].fd = -1;
	}

	if (pkg_manifest_check(m, 1, err, errlen) == -1) {
		rv = PKG_EINPUT;
		goto out;
	}
	if (ndirs == 0) {
		snprintf(err, errlen, "--dir: required");
		rv = PKG_EINPUT;
		goto out;
	}
	if ((rv = pkg_src_open(src, ndirs, m->exec, err, errlen)) != 0)
		goto out;
	if (ed25519_public(sk, pk) == -1) {
		snprintf(err, errlen, "--sign-key: not a usable Ed25519 key");
		rv = PKG_EINPUT;
		goto out;
	}
	ed25519_keyid(pk, m->key_id);
	m->built_at = (uint64_t)time(NULL);
	m->payload_size = m->unpacked_size = m->entries = 0;
	memset(m->payload_sha256, 0, SHA256_LEN);

	/* Every payload field is fixed-width: the length is final now. */
	pkg_manifest_encode(m, &w);
	mlen = w.len;
	if (mlen > PKG_MANIFEST_MAX) {
		snprintf(err, errlen, "manifest: %zu bytes, limit %d (too many "
		    "or too long --args)", mlen, PKG_MANIFEST_MAX);
		rv = PKG_EINPUT;
		goto out;
	}

	if (atomic_open(&af, out, 0644, err, errlen) == -1) {
		rv = PKG_EFAIL;
		goto out;
	}
	if (fstat(af.fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", out, strerror(errno));
		rv = PKG_EFAIL;
		goto out;
	}
	b.fd = af.fd;
	b.base = PKG_HEADER_LEN + mlen + ED25519_SIG_LEN;
	b.out_dev = st.st_dev;
	b.out_ino = st.st_ino;
	b.hash = sha256_new();
	b.buf = xmalloc(PKG_IOBUF);

	b.a = archive_write_new();
	if (m->compression == PKG_COMPRESS_ZSTD &&
	    archive_write_add_filter_zstd(b.a) != ARCHIVE_OK) {
		snprintf(err, errlen, "zstd: %s", archive_error_string(b.a));
		rv = PKG_EFAIL;
		goto out;
	}
	/*
	 * Names were checked to be UTF-8 already; store their bytes as they
	 * are rather than converting through the locale, which in the C
	 * locale fails on anything but ASCII.
	 */
	if (archive_write_set_format_pax_restricted(b.a) != ARCHIVE_OK ||
	    archive_write_set_format_option(b.a, "pax", "hdrcharset",
	    "BINARY") != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(b.a, PKG_BLOCK) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(b.a, 1) != ARCHIVE_OK ||
	    archive_write_open2(b.a, &b, NULL, pkg_build_write, NULL,
	    NULL) != ARCHIVE_OK) {
		snprintf(err, errlen, "payload: %s", archive_error_string(b.a));
		rv = PKG_EFAIL;
		goto out;
	}
	for (i = 0; i < ndirs; i++) {
		if (src[i].name != NULL &&
		    (rv = pkg_src_entry(&b, &src[i])) != 0)
			goto out;
		if ((rv = pkg_walk(&b, src[i].fd, src[i].name,
		    src[i].name != NULL ? 1 : 0)) != 0)
			goto out;
	}
	if (archive_write_close(b.a) != ARCHIVE_OK) {
		snprintf(err, errlen, "payload: %s", archive_error_string(b.a));
		rv = PKG_EFAIL;
		goto out;
	}

	m->payload_size = b.written;
	sha256_final(b.hash, m->payload_sha256);
	m->unpacked_size = b.unpacked;
	m->entries = b.entries;
	w.len = 0;
	pkg_manifest_encode(m, &w);
	if (w.len != mlen)
		fatalx("pkg_build: manifest length changed (%zu, %zu)", mlen,
		    w.len);
	if (pkg_sign(sk, w.buf, w.len, sig) == -1) {
		snprintf(err, errlen, "--sign-key: signing failed");
		rv = PKG_EFAIL;
		goto out;
	}
	memcpy(hdr, PKG_MAGIC, PKG_MAGIC_LEN);
	wire_store16(hdr + 8, PKG_FORMAT_VERSION);
	wire_store16(hdr + 10, 0);
	wire_store32(hdr + 12, (uint32_t)mlen);
	if (pkg_pwrite_all(af.fd, hdr, sizeof(hdr), 0) == -1 ||
	    pkg_pwrite_all(af.fd, w.buf, w.len, PKG_HEADER_LEN) == -1 ||
	    pkg_pwrite_all(af.fd, sig, sizeof(sig), PKG_HEADER_LEN + mlen) == -1 ||
	    ftruncate(af.fd, b.base + (off_t)b.written) == -1) {
		snprintf(err, errlen, "%s: %s", out, strerror(errno));
		rv = PKG_EFAIL;
		goto out;
	}
	if (atomic_commit(&af, err, errlen) == -1) {
		rv = PKG_EFAIL;
		goto out;
	}
	rv = 0;

out:
	if (b.a != NULL)
		archive_write_free(b.a);
	if (rv != 0 && af.fd != -1)
		atomic_abort(&af);
	sha256_free(b.hash);
	free(b.buf);
	wire_w_free(&w);
	for (i = 0; i < ndirs; i++) {
		if (src[i].fd != -1)
			close(src[i].fd);
		free(src[i].name);
	}
	free(src);
	return (rv);
}
