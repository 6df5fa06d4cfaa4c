/*
 * Agent packages: an agent version and the package id that carries it,
 * both ways, and which of two agent versions is newer.  A version is 1 to
 * AGENTPKG_VERSION_MAX bytes of letters, digits, '.' and '-' starting with
 * a digit (what configure's --with-version-suffix allows after the
 * release); the order is dpkg's (pkg_vercmp), so 0.1.0 < 0.1.0-new <
 * 0.2.0.  Copying an agent binary (into a package folder, or beside the
 * running one) is here too, with its bounds.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agentpkg.h"
#include "fsutil.h"
#include "pkg.h"

static int
agentpkg_valid(const char *v)
{
	size_t	i, n = strlen(v);

	if (n == 0 || n > AGENTPKG_VERSION_MAX || v[0] < '0' || v[0] > '9')
		return (0);
	for (i = 0; i < n; i++)
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' &&
		    v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		    v[i] == '.' || v[i] == '-'))
			return (0);
	return (1);
}

/* The package id for agent version v; -1 with err naming the rule. */
int
agentpkg_id(const char *v, char *id, size_t idlen, char *err, size_t errlen)
{
	size_t	i, n = strlen(AGENTPKG_PREFIX);

	if (!agentpkg_valid(v) || idlen < n + strlen(v) + 1) {
		snprintf(err, errlen, "agent version '%.64s': 1-%d bytes of "
		    "letters, digits, '.' and '-', starting with a digit",
		    v, AGENTPKG_VERSION_MAX);
		return (-1);
	}
	memcpy(id, AGENTPKG_PREFIX, n);
	for (i = 0; v[i] != '\0'; i++)
		id[n + i] = v[i] == '.' ? '_' : v[i];
	id[n + i] = '\0';
	return (0);
}

/*
 * The agent version an id carries: 0, or -1 when id is not an agent
 * package's (another package, or a malformed version).
 */
int
agentpkg_version(const char *id, char *v, size_t vlen)
{
	size_t	i, n = strlen(AGENTPKG_PREFIX);

	if (strncmp(id, AGENTPKG_PREFIX, n) != 0 || strlen(id + n) >= vlen)
		return (-1);
	for (i = 0; id[n + i] != '\0'; i++)
		v[i] = id[n + i] == '_' ? '.' : id[n + i];
	v[i] = '\0';
	return (agentpkg_valid(v) ? 0 : -1);
}

/* Is agent version a newer than b? */
int
agentpkg_newer(const char *a, const char *b)
{
	return (pkg_vercmp(a, b) > 0);
}

/*
 * Copy agent binary src to a new file dst (it must not exist), mode 0755,
 * synced.  src must be a regular file of 1 byte to AGENTPKG_BIN_MAX (not
 * a symbolic link either with nofollow).  On failure dst is gone and err
 * names the file and the reason.
 */
int
agentpkg_copy(const char *src, const char *dst, int nofollow, char *err,
    size_t errlen)
{
	char		 buf[65536];
	struct stat	 st;
	ssize_t		 r = 0;
	int		 in, out;

	if ((in = open(src, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW :
	    0))) == -1 || fstat(in, &st) == -1) {
		snprintf(err, errlen, "%s: %s", src, strerror(errno));
		if (in != -1)
			close(in);
		return (-1);
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0 ||
	    (uint64_t)st.st_size > AGENTPKG_BIN_MAX) {
		snprintf(err, errlen, "%s: not a regular file of 1 byte to "
		    "%llu MiB", src, (unsigned long long)AGENTPKG_BIN_MAX >> 20);
		close(in);
		return (-1);
	}
	if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0755)) == -1) {
		snprintf(err, errlen, "%s: %s", dst, strerror(errno));
		close(in);
		return (-1);
	}
	while ((r = read(in, buf, sizeof(buf))) > 0)
		if (write_all(out, buf, (size_t)r) == -1) {
			r = -1;
			break;
		}
	if (r == -1 || fchmod(out, 0755) == -1 || fsync(out) == -1) {
		snprintf(err, errlen, "copying %s to %s: %s", src, dst,
		    strerror(errno));
		close(out);
		close(in);
		(void)unlink(dst);
		return (-1);
	}
	close(in);
	if (close(out) == -1) {
		snprintf(err, errlen, "%s: %s", dst, strerror(errno));
		(void)unlink(dst);
		return (-1);
	}
	return (0);
}
