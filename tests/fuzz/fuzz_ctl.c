/*
 * Fuzz target for the control-channel decoder, the code that reads what an
 * unauthenticated peer sends before and after enrollment.  The input is
 * taken as a byte stream of frames, the way a connection delivers it, and
 * its body also as one frame.  Whatever decodes must encode again and
 * decode to the same bytes, so a field the decoder accepts but the encoder
 * refuses is found too.  Built with --enable-fuzzing it is a libFuzzer
 * target; otherwise fuzz.h's main() replays the seed corpus
 * (tests/fuzz/corpus/ctl) with truncations and byte flips, so that make
 * check runs it.
 */
#include <event2/buffer.h>

#include "ctl.h"
#include "wire.h"

#define FUZZ_NAME	"ctl"
#define FUZZ_MAX_LEN	CTL_MAX_FRAME
#include "fuzz.h"

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
