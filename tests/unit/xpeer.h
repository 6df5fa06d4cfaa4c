/*
 * What the transport tests (test_xsend, test_xrecv, test_xresume) share:
 * UDP sockets on loopback addresses for their scripted peers, a free
 * port, running their event loop for a while, and a main() with a scratch
 * directory (unit_dir) removed at the end.  Header-only, like unit.h, so
 * that each test program is still built from its one file.
 */
#ifndef FC_XPEER_H
#define FC_XPEER_H

#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "unit.h"
#include "unit_tmp.h"

/* A non-blocking UDP socket bound to ip:port (port 0: any). */
static inline int
xpeer_socket(const char *ip, uint16_t port)
{
	struct sockaddr_in	sin;
	int			fd, rb = 4 * 1024 * 1024;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	CU_ASSERT_FATAL(fd != -1);
	/*
	 * Larger than the sender's largest pacing burst (at least 4 x 64 KiB,
	 * more than the tests' small files): a test descheduled for a few
	 * tens of ms (a loaded CI host) would otherwise find a tail of what
	 * was sent dropped by its own socket.  FORCE passes rmem_max as root.
	 */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rb, sizeof(rb)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof(rb));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	CU_ASSERT_FATAL(inet_pton(AF_INET, ip, &sin.sin_addr) == 1);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	return (fd);
}

/* The port a socket is bound to. */
static inline uint16_t
xpeer_port(int fd)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);

	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	return (ntohs(sin.sin_port));
}

/* A UDP port nobody uses on the loopback right now. */
static inline uint16_t
xpeer_free_port(void)
{
	int		fd = xpeer_socket("127.0.0.1", 0);
	uint16_t	port = xpeer_port(fd);

	close(fd);
	return (port);
}

/* Run the event loop for ms milliseconds. */
static inline void
xpeer_run_ms(struct event_base *base, int ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);
}

/*
 * The main() of test program prog (logging as prog, verbose with
 * TEST_VERBOSE set): the suite's tests with unit_dir made for them.
 */
static inline int
xpeer_main(const char *prog, const char *suite, CU_TestInfo *tests)
{
	char	dir[sizeof(unit_dir)];
	int	rv;

	log_init(prog, 1, getenv("TEST_VERBOSE") != NULL ? 2 : 0);
	if (unit_tmpdir(prog) == -1)
		return (1);
	rv = unit_main(suite, tests);
	snprintf(dir, sizeof(dir), "%s", unit_dir);
	if (unit_tmpdir_remove() == -1)
		fprintf(stderr, "cannot remove %s\n", dir);
	return (rv);
}

#endif
