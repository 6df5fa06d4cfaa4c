/*
 * Crash-safe file output.  A file is written under a temporary name in the
 * same directory, fsynced, then renamed over the target and the directory
 * fsynced, so that a reader sees either the old file or the whole new one
 * and a failed write leaves nothing behind.
 */
#ifndef FC_FSUTIL_H
#define FC_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

struct atomic_file {
	int	 fd;
	char	*path;
	char	*tmp;
};

int	atomic_open(struct atomic_file *, const char *, mode_t, char *, size_t);
int	atomic_commit(struct atomic_file *, char *, size_t);
void	atomic_abort(struct atomic_file *);
int	atomic_write_file(const char *, const void *, size_t, mode_t, char *,
	    size_t);
int	write_all(int, const void *, size_t);
int	fsync_dir(const char *);

/*
 * One daemon per state directory: dir_lock takes an exclusive flock on
 * DIR/lock (made if missing, the directory too) and writes the caller's pid
 * in it; the lock lives as long as the returned descriptor (also across
 * fork and daemon(), whose child must call dir_lock_pid to write its own
 * pid).  When another process holds it, err says which pid and PROG.
 */
int	dir_lock(const char *, const char *, char *, size_t);
int	dir_lock_pid(int);

/*
 * The pid file: PATH (NULL: DIR/PROG.pid) gets the caller's pid, written
 * whole (temp + rename); pidfile_path says which path that is.
 */
const char *pidfile_path(const char *, const char *, const char *, char *,
	    size_t);
int	pidfile_write(const char *, char *, size_t);

#endif
