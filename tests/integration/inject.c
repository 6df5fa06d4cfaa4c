/*
 * A hostile peer for the transport's integration tests.  It records a
 * session's datagrams and replays them later (into another session), and
 * during a transfer it answers real datagrams with forged copies (same
 * header, altered ciphertext: authentication must fail), truncated copies
 * and random garbage.  Receivers must drop and count all of it and still
 * deliver the right file.  It also sends datagrams no sender ever builds:
 * ANNOUNCEs far longer than an ANNOUNCE body (review finding 1: one of
 * them overflowed the receiver's stack before its length was checked).
 *
 *   inject record GROUP:PORT FILE COUNT SECONDS
 *   inject replay GROUP:PORT FILE
 *   inject attack GROUP:PORT SECONDS
 *   inject oversize GROUP:PORT LENGTH
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void
die(const char *what)
{
	fprintf(stderr, "inject: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
parse(const char *s, struct sockaddr_in *sin)
{
	char		 host[64];
	const char	*colon = strchr(s, ':');

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host)) {
		fprintf(stderr, "inject: %s: want ADDR:PORT\n", s);
		exit(2);
	}
	memcpy(host, s, colon - s);
	host[colon - s] = '\0';
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
		fprintf(stderr, "inject: %s: bad address\n", host);
		exit(2);
	}
}

static int
join(const struct sockaddr_in *group)
{
	struct ip_mreqn	mr;
	int		fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		die("SO_REUSEADDR");
	if (bind(fd, (const struct sockaddr *)group, sizeof(*group)) == -1)
		die("bind");
	memset(&mr, 0, sizeof(mr));
	mr.imr_multiaddr = group->sin_addr;
	if (setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr,
	    sizeof(mr)) == -1)
		die("IP_ADD_MEMBERSHIP");
	return (fd);
}

static int
sender(uint16_t *port)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	int			fd;

	if ((fd = socket(AF_INET, SOCK_DGRAM, 0)) == -1)
		die("socket");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		die("bind");
	*port = sin.sin_port;
	return (fd);
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* Wait for one datagram of the group, not one of our own. */
static ssize_t
next(int fd, uint16_t own, uint8_t *buf, size_t len, double until)
{
	struct sockaddr_in	from;
	struct pollfd		pfd;
	socklen_t		flen;
	ssize_t			n;
	int			ms;

	for (;;) {
		ms = (int)((until - now()) * 1000);
		if (ms <= 0)
			return (-1);
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms) <= 0)
			continue;
		flen = sizeof(from);
		n = recvfrom(fd, buf, len, 0, (struct sockaddr *)&from, &flen);
		if (n <= 0)
			continue;
		if (from.sin_port == own)
			continue;
		if (n < 4 || buf[0] != 'F' || buf[1] != 'C')
			continue;
		return (n);
	}
}

int
main(int argc, char **argv)
{
	struct sockaddr_in	 group;
	uint8_t			 buf[65536], copy[65536];
	uint16_t		 own, len16;
	FILE			*f;
	ssize_t			 n;
	double			 until;
	long			 count, done = 0, forged = 0, trunc = 0, junk = 0;
	int			 fd, out, i;

	if (argc < 4) {
		fprintf(stderr, "usage: inject record|replay|attack "
		    "GROUP:PORT ...\n");
		return (2);
	}
	parse(argv[2], &group);
	srandom((unsigned)getpid());
	out = sender(&own);

	if (strcmp(argv[1], "record") == 0 && argc == 6) {
		fd = join(&group);
		count = atol(argv[4]);
		until = now() + atof(argv[5]);
		if ((f = fopen(argv[3], "w")) == NULL)
			die(argv[3]);
		while (done < count &&
		    (n = next(fd, own, buf, sizeof(buf), until)) > 0) {
			len16 = (uint16_t)n;
			fwrite(&len16, sizeof(len16), 1, f);
			fwrite(buf, 1, (size_t)n, f);
			done++;
		}
		fclose(f);
		printf("recorded %ld\n", done);
		return (done > 0 ? 0 : 1);
	}
	if (strcmp(argv[1], "replay") == 0 && argc == 4) {
		if ((f = fopen(argv[3], "r")) == NULL)
			die(argv[3]);
		while (fread(&len16, sizeof(len16), 1, f) == 1 &&
		    fread(buf, 1, len16, f) == len16) {
			if (sendto(out, buf, len16, 0,
			    (struct sockaddr *)&group, sizeof(group)) == -1)
				die("sendto");
			done++;
			if (done % 32 == 0)
				usleep(1000);
		}
		fclose(f);
		printf("replayed %ld\n", done);
		return (done > 0 ? 0 : 1);
	}
	if (strcmp(argv[1], "attack") == 0 && argc == 4) {
		fd = join(&group);
		until = now() + atof(argv[3]);
		while ((n = next(fd, own, buf, sizeof(buf), until)) > 0) {
			if (++done % 8 != 0)
				continue;
			/* Forged: real header, ciphertext and tag altered. */
			memcpy(copy, buf, (size_t)n);
			/*
			 * Point DATA and REPAIR at symbols not held yet, so
			 * that receivers really try (and fail) to open them.
			 */
			if (copy[3] == 1 && n >= 32)
				copy[31] += 100;
			else if (copy[3] == 2 && n >= 32)
				copy[29] += 4;
			for (i = 40; i < n; i += 7)
				copy[i] ^= (uint8_t)random() | 1;
			copy[n - 1] ^= 0x55;
			sendto(out, copy, (size_t)n, 0,
			    (struct sockaddr *)&group, sizeof(group));
			forged++;
			/* Truncated inside the header. */
			sendto(out, buf, 20, 0, (struct sockaddr *)&group,
			    sizeof(group));
			trunc++;
			/* Garbage. */
			for (i = 0; i < 200; i++)
				copy[i] = (uint8_t)random();
			sendto(out, copy, 200, 0, (struct sockaddr *)&group,
			    sizeof(group));
			junk++;
		}
		printf("forged %ld truncated %ld garbage %ld\n", forged, trunc,
		    junk);
		return (forged > 0 ? 0 : 1);
	}
	if (strcmp(argv[1], "oversize") == 0 && argc == 4) {
		count = atol(argv[3]);
		if (count < 40 || count > 65507) {
			fprintf(stderr, "inject: LENGTH: 40 to 65507\n");
			return (2);
		}
		/*
		 * Header of an ANNOUNCE (version 3), a fresh session each
		 * time, a sender nonce, then noise.
		 */
		for (i = 0; i < count; i++)
			buf[i] = (uint8_t)random();
		buf[0] = 'F';
		buf[1] = 'C';
		buf[2] = 3;
		buf[3] = 3;
		for (done = 0; done < 3; done++) {
			buf[4] = (uint8_t)(done + 1);
			memset(buf + 12, 0, 4);
			if (sendto(out, buf, (size_t)count, 0,
			    (struct sockaddr *)&group, sizeof(group)) == -1)
				die("sendto");
			/* Past the receiver's announce rate limit. */
			usleep(30000);
		}
		printf("oversize %ld x%ld\n", count, done);
		return (0);
	}
	fprintf(stderr, "inject: bad usage\n");
	return (2);
}
