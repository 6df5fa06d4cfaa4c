/*
 * Fuzz target for the control-channel decoder, the code that reads what an
 * unauthenticated peer sends before and after enrollment.  The input is
 * taken as a byte stream of frames, the way a connection delivers it, and
 * its body also as one frame.  Whatever decodes must encode again and
 * decode to the same bytes, so a field the decoder accepts but the encoder
 * refuses is found too.  Built with --enable-fuzzing it is a libFuzzer
 * target; otherwise main() replays the seed corpus (tests/fuzz/corpus/ctl)
 * plus every truncation and a fixed set of bit flips of each seed, so that
 * make check runs it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <event2/buffer.h>

#include "ctl.h"
#include "wire.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Re-encode a decoded message and check that it decodes to the same bytes. */
static void
check_reencode(const struct ctl_msg *m)
{
	struct wire_w	w1, w2;
	struct ctl_msg	m2;
	char		err[256];

	wire_w_grow(&w1, 64);
	if (ctl_encode(m, &w1, err, sizeof(err)) == -1) {
		fprintf(stderr, "fuzz_ctl: decoded %s does not encode: %s\n",
		    ctl_strtype(m->type), err);
		abort();
	}
	if (ctl_decode(w1.buf + CTL_LEN_SIZE, w1.len - CTL_LEN_SIZE, &m2, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "fuzz_ctl: re-encoded %s does not decode: %s\n",
		    ctl_strtype(m->type), err);
		abort();
	}
	wire_w_grow(&w2, 64);
	if (ctl_encode(&m2, &w2, err, sizeof(err)) == -1 ||
	    w1.len != w2.len || memcmp(w1.buf, w2.buf, w1.len) != 0) {
		fprintf(stderr, "fuzz_ctl: %s is not stable through a round "
		    "trip\n", ctl_strtype(m->type));
		abort();
	}
	ctl_msg_free(&m2);
	wire_w_free(&w1);
	wire_w_free(&w2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer	*b;
	struct ctl_msg	 m;
	char		 err[256];
	int		 rv;

	/* As one frame body. */
	if (size >= CTL_LEN_SIZE &&
	    ctl_decode(data + CTL_LEN_SIZE, size - CTL_LEN_SIZE, &m, err,
	    sizeof(err)) == 0) {
		check_reencode(&m);
		ctl_msg_free(&m);
	}

	/* As a stream, frame after frame, until an error or a partial one. */
	if ((b = evbuffer_new()) == NULL)
		abort();
	evbuffer_add(b, data, size);
	while ((rv = ctl_read(b, CTL_MAX_FRAME, &m, err, sizeof(err))) == 1) {
		check_reencode(&m);
		ctl_msg_free(&m);
	}
	evbuffer_free(b);
	return (0);
}

#ifndef FUZZING
static int
replay(const char *path)
{
	uint8_t		*buf, *mut;
	struct stat	 st;
	size_t		 len, i;
	int		 fd;

	if ((fd = open(path, O_RDONLY)) == -1 || fstat(fd, &st) == -1) {
		fprintf(stderr, "fuzz_ctl: %s: %s\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return (-1);
	}
	/* Seeds are single frames or a few: bounded by the frame limit. */
	if (st.st_size > (off_t)CTL_MAX_FRAME) {
		fprintf(stderr, "fuzz_ctl: %s: larger than %u bytes\n", path,
		    CTL_MAX_FRAME);
		close(fd);
		return (-1);
	}
	len = (size_t)st.st_size;
	buf = malloc(len + 1);
	if (buf == NULL || read(fd, buf, len) != (ssize_t)len) {
		fprintf(stderr, "fuzz_ctl: %s: short read\n", path);
		close(fd);
		free(buf);
		return (-1);
	}
	close(fd);
	LLVMFuzzerTestOneInput(buf, len);
	/* Every truncation, each into an exactly sized copy for ASan. */
	for (i = 0; i < len; i++) {
		mut = malloc(i + 1);
		memcpy(mut, buf, i);
		LLVMFuzzerTestOneInput(mut, i);
		free(mut);
	}
	/* Deterministic flips: each byte set to 0x00, 0xff and its bit 7. */
	mut = malloc(len + 1);
	for (i = 0; i < len; i++) {
		memcpy(mut, buf, len);
		mut[i] = 0x00;
		LLVMFuzzerTestOneInput(mut, len);
		mut[i] = 0xff;
		LLVMFuzzerTestOneInput(mut, len);
		mut[i] = buf[i] ^ 0x80;
		LLVMFuzzerTestOneInput(mut, len);
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
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/ctl", srcdir);
	}
	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "fuzz_ctl: %s: %s\n", dir, strerror(errno));
		return (1);
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(file, sizeof(file), "%s/%s", dir, de->d_name);
		if (replay(file) == -1)
			failed++;
		nfiles++;
	}
	closedir(d);
	printf("fuzz_ctl: %d corpus files replayed, %d unreadable\n", nfiles,
	    failed);
	/* An empty corpus would make this test pass without testing. */
	return (nfiles == 0 || failed != 0 ? 1 : 0);
}
#endif
