/*
 * Fuzz target for the transport's datagram decoder (common/proto.c).  Each
 * input is one datagram: it goes through proto_decode and, as if it had
 * been decrypted, through every body decoder; whatever decodes must encode
 * back to the same bytes, and geometry built from its fields must keep its
 * invariants.  Built with --enable-fuzzing it is a libFuzzer target;
 * otherwise fuzz.h's main() replays the seed corpus
 * (tests/fuzz/corpus/proto) with truncations and byte flips, so that make
 * check always exercises it.
 */
#include "proto.h"

#define FUZZ_NAME	"proto"
#define FUZZ_MAX_LEN	PROTO_MAX_DGRAM
#include "fuzz.h"

static void
check_bodies(const uint8_t *p, size_t len)
{
	struct proto_announce	a;
	struct proto_ncf	n;
	struct proto_ack	k;
	struct proto_hello	h;
	struct proto_report	r, r2;
	struct proto_held	hd;
	struct proto_geom	g;
	struct wire_w		w;
	uint8_t			out[PROTO_HELD_LEN(PROTO_HELD_BITS) + 1024];
	uint32_t		kk;
	uint64_t		gr, i;
	int			e;

	if (proto_get_announce(p, len, &a) == 0) {
		wire_w_fixed(&w, out, sizeof(out));
		if (proto_put_announce(&w, &a) == -1 ||
		    w.len != PROTO_ANNOUNCE_LEN ||
		    memcmp(out, p, w.len) != 0)
			fuzz_die("announce does not re-encode");
		if (proto_geom_init(&g, a.size, a.sym, a.k, a.il) == 0) {
			if (g.nsym == 0 || g.nblocks == 0 ||
			    g.ngroups != g.nblocks * g.il)
				fuzz_die("geometry counts");
			/* Edges: the first and the last group. */
			for (e = 0; e < 2; e++) {
				gr = e == 0 ? 0 : g.ngroups - 1;
				kk = proto_group_k(&g, gr);
				if (kk > g.k)
					fuzz_die("group larger than k");
				if (kk > 0) {
					i = proto_group_sym(&g, gr, kk - 1);
					if (i >= g.nsym ||
					    proto_sym_group(&g, i) != gr)
						fuzz_die("group mapping");
				}
			}
			if (proto_sym_len(&g, g.nsym - 1) == 0 ||
			    proto_sym_len(&g, g.nsym - 1) > g.sym)
				fuzz_die("last symbol length");
		}
	}
	if (proto_get_ncf(p, len, &n) == 0) {
		wire_w_fixed(&w, out, sizeof(out));
		if (proto_put_ncf(&w, &n) == -1 || memcmp(out, p, w.len) != 0)
			fuzz_die("ncf does not re-encode");
	}
	if (proto_get_ack(p, len, &k) == 0) {
		wire_w_fixed(&w, out, sizeof(out));
		if (proto_put_ack(&w, &k) == -1 || memcmp(out, p, w.len) != 0)
			fuzz_die("ack does not re-encode");
	}
	if (proto_get_hello(p, len, &h) == 0) {
		wire_w_fixed(&w, out, sizeof(out));
		if (proto_put_hello(&w, &h) == -1 || memcmp(out, p, w.len) != 0)
			fuzz_die("hello does not re-encode");
	}
	if (proto_get_held(p, len, &hd) == 0) {
		if (hd.nbits == 0 || hd.nbits > PROTO_HELD_BITS ||
		    len != PROTO_HELD_LEN(hd.nbits))
			fuzz_die("held bounds");
		wire_w_fixed(&w, out, sizeof(out));
		if (proto_put_held(&w, &hd) == -1 || w.len != len ||
		    memcmp(out, p, w.len) != 0)
			fuzz_die("held does not re-encode");
	}
	if (proto_get_report(p, len, &r) == 0) {
		if (r.errlen > PROTO_ERR_MAX || r.nnak > PROTO_NAK_MAX)
			fuzz_die("report bounds");
		wire_w_fixed(&w, out, sizeof(out));
		if (proto_put_report(&w, &r) == -1 ||
		    proto_get_report(out, w.len, &r2) == -1 ||
		    r2.nnak != r.nnak || r2.errlen != r.errlen)
			fuzz_die("report does not re-encode");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct aead	*a;
	static const uint8_t	 key[AEAD_KEY_LEN] = { 0x42 };
	struct proto_hdr	 h;
	enum proto_drop		 why = PROTO_DROP_MAX;
	uint8_t			 plain[PROTO_MAX_DGRAM + 64];

	if (a == NULL)
		a = aead_new(key);
	if (proto_decode(data, size, &h, &why) == -1) {
		if (why >= PROTO_DROP_MAX)
			fuzz_die("decode failed without a reason");
		return (0);
	}
	if (h.aadlen + h.ctlen + PROTO_TAG_LEN != size ||
	    h.ct != data + h.aadlen || h.tag != data + size - PROTO_TAG_LEN)
		fuzz_die("header pointers out of the datagram");
	if (h.type != PROTO_DATA && h.type != PROTO_REPAIR)
		check_bodies(h.ct, h.ctlen);
	/* Forged: authentication must fail, never crash. */
	if (proto_open(a, &h, plain, sizeof(plain)) == 0)
		fuzz_die("a forged datagram authenticated");
	return (0);
}
