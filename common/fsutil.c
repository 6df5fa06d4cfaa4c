/*
 * Temp-file-and-rename output.  The temporary name carries the pid and a
 * counter so that two writers of the same target never share a temp file;
 * whoever renames last wins with a complete file.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "fsutil.h"
#include "xmalloc.h"

int
write_all(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return (-1);
		}
		p += n;
		len -= n;
	}
	return (0);
}

int
fsync_dir(const char *path)
{
	char	*copy, *dir;
	int	 fd, rv;

	copy = xstrdup(path);
	dir = dirname(copy);
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		free(copy);
		return (-1);
	}
	rv = fsync(fd);
	close(fd);
	free(copy);
	return (rv);
}

int
atomic_open(struct atomic_file *af, const char *path, mode_t mode, char *err,
    size_t errlen)
{
	static unsigned	counter;

	af->path = xstrdup(path);
	xasprintf(&af->tmp, "%s.tmp.%ld.%u", path, (long)getpid(), counter++);
	af->fd = open(af->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (af->fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		free(af->path);
		free(af->tmp);
		af->path = af->tmp = NULL;
		return (-1);
	}
	/* The umask must not widen or narrow what the caller asked for. */
	(void)fchmod(af->fd, mode);
	return (0);
}

int
atomic_commit(struct atomic_file *af, char *err, size_t errlen)
{
	int	saved;

	if (fsync(af->fd) == -1 || close(af->fd) == -1) {
		saved = errno;
		af->fd = -1;
		snprintf(err, errlen, "%s: %s", af->path, strerror(saved));
		atomic_abort(af);
		return (-1);
	}
	af->fd = -1;
	if (rename(af->tmp, af->path) == -1) {
		snprintf(err, errlen, "%s: %s", af->path, strerror(errno));
		atomic_abort(af);
		return (-1);
	}
	(void)fsync_dir(af->path);
	free(af->path);
	free(af->tmp);
	af->path = af->tmp = NULL;
	return (0);
}

void
atomic_abort(struct atomic_file *af)
{
	int	saved = errno;

	if (af->fd != -1)
		close(af->fd);
	af->fd = -1;
	if (af->tmp != NULL)
		unlink(af->tmp);
	free(af->path);
	free(af->tmp);
	af->path = af->tmp = NULL;
	errno = saved;
}

int
atomic_write_file(const char *path, const void *data, size_t len, mode_t mode,
    char *err, size_t errlen)
{
	struct atomic_file	af;

	if (atomic_open(&af, path, mode, err, errlen) == -1)
		return (-1);
	if (write_all(af.fd, data, len) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		atomic_abort(&af);
		return (-1);
	}
	return (atomic_commit(&af, err, errlen));
}

int
dir_lock_pid(int fd)
{
	char	buf[32];
	int	n;

	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, buf, (size_t)n, 0) != n)
		return (-1);
	return (0);
}

int
dir_lock(const char *dir, const char *prog, char *err, size_t errlen)
{
	char	path[4096], buf[32];
	ssize_t	n;
	int	fd;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "state_dir: %s: %s", dir,
		    strerror(errno));
		return (-1);
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/lock", dir) >=
	    sizeof(path)) {
		snprintf(err, errlen, "state_dir: %s: path too long", dir);
		return (-1);
	}
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) == -1) {
		snprintf(err, errlen, "state_dir: %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno == EWOULDBLOCK) {
			n = pread(fd, buf, sizeof(buf) - 1, 0);
			buf[n > 0 ? n : 0] = '\0';
			buf[strcspn(buf, "\n")] = '\0';
			snprintf(err, errlen, "another %s (pid %s) is using "
			    "%s; stop it first, or give this one a state_dir "
			    "of its own", prog, buf[0] != '\0' ? buf : "?",
			    dir);
		} else
			snprintf(err, errlen, "state_dir: %s: flock: %s", path,
			    strerror(errno));
		close(fd);
		return (-1);
	}
	if (dir_lock_pid(fd) == -1) {
		snprintf(err, errlen, "state_dir: %s: %s", path,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

const char *
pidfile_path(const char *path, const char *dir, const char *prog, char *buf,
    size_t len)
{
	if (path != NULL && path[0] != '\0')
		return (path);
	snprintf(buf, len, "%s/%s.pid", dir, prog);
	return (buf);
}

int
pidfile_write(const char *path, char *err, size_t errlen)
{
	char	buf[32], e[256];
	int	n;

	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (atomic_write_file(path, buf, (size_t)n, 0644, e, sizeof(e)) == -1) {
		snprintf(err, errlen, "pid_file: %s", e);
		return (-1);
	}
	return (0);
}
