/*
 * PSK files for the standalone transport.  Reading is strict (exactly 64
 * hex digits, one optional line end) and refuses a file that every local
 * user can read, since whoever holds the PSK can read and forge the
 * stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "crypto.h"
#include "fsutil.h"
#include "psk.h"
#include "xmalloc.h"

/* Write a fresh PSK to path (0600, temp + rename). */
int
psk_generate(const char *path, int force, char *err, size_t errlen)
{
	struct stat	st;
	uint8_t		key[PSK_LEN];
	char		hex[2 * PSK_LEN + 2];
	int		rv;

	if (!force && lstat(path, &st) == 0) {
		snprintf(err, errlen, "%s: exists; use --force to replace it",
		    path);
		return (-1);
	}
	if (crypto_random(key, sizeof(key)) == -1) {
		snprintf(err, errlen, "%s: no random bytes from the system",
		    path);
		return (-1);
	}
	hex_encode(key, sizeof(key), hex);
	hex[2 * PSK_LEN] = '\n';
	hex[2 * PSK_LEN + 1] = '\0';
	rv = atomic_write_file(path, hex, 2 * PSK_LEN + 1, 0600, err, errlen);
	explicit_bzero(key, sizeof(key));
	explicit_bzero(hex, sizeof(hex));
	return (rv);
}

int
psk_read(const char *path, uint8_t key[PSK_LEN], char *err, size_t errlen)
{
	struct stat	st;
	char		buf[2 * PSK_LEN + 4];
	ssize_t		n;
	size_t		len;
	int		fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return (-1);
	}
	if (st.st_mode & 0007) {
		snprintf(err, errlen, "%s: mode %04o lets every user read or "
		    "change the key; run chmod 600 on it", path,
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return (-1);
	}
	len = 0;
	do {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			close(fd);
			return (-1);
		}
		len += n;
	} while (n > 0 && len < sizeof(buf) - 1);
	close(fd);
	buf[len] = '\0';
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (hex_decode(buf, key, PSK_LEN) == -1) {
		explicit_bzero(buf, sizeof(buf));
		snprintf(err, errlen, "%s: not a PSK file (expected %d hex "
		    "digits and a newline, as 'fleetcast key generate-psk' "
		    "writes)", path, 2 * PSK_LEN);
		return (-1);
	}
	explicit_bzero(buf, sizeof(buf));
	return (0);
}
