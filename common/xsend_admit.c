/*
 * Whom the sender listens to (doc/protocol.md, "Whom the sender
 * accepts"): the key of a receiver's datagram, picked from the receiver
 * id in its sub-header before anything is decrypted, and a slot for a
 * receiver that says HELLO.  In member mode (fleetcastd) only the
 * expected members have a key, each its own (M_m): feedback of any other
 * id is dropped as `member`, unread, and never takes a slot, so a flood
 * of HELLOs with random ids costs one table look-up each.  In PSK mode
 * (fleetcast send) every holder of the PSK shares one key: the first
 * max_receivers get a slot, and when all are taken a new one takes the
 * slot of a receiver that failed or went silent, else it is refused
 * (FULL).  Every receiver's feedback is also bounded in rate (a token
 * bucket per slot), so that no one member can make the sender decrypt
 * and process more than XS_FB_RATE datagrams a second.  Called only from
 * xsend.c; calls nothing of the sender above it.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "xmalloc.h"
#include "xsend_int.h"

#define XS_FB_RATE		200.0	/* feedback datagrams a second */
#define XS_FB_BURST		20.0

static int
xs_admit_cmp(const void *a, const void *b)
{
	const struct xs_member	*x = a, *y = b;

	return (x->rid < y->rid ? -1 : x->rid > y->rid);
}

/*
 * The member table of conf, with each member's feedback and ACK keys of
 * this session.  -1 with err on a bad list (an id 0 or twice).
 */
int
xs_admit_init(struct xsend *s, const struct xsend_conf *conf, char *err,
    size_t errlen)
{
	uint8_t	kf[AEAD_KEY_LEN], ka[AEAD_KEY_LEN];
	int	i;

	s->max_receivers = conf->max_receivers > 0 ? conf->max_receivers :
	    XSEND_MAX_RECEIVERS;
	if (conf->nmembers <= 0)
		return (0);
	s->mem = xcalloc((size_t)conf->nmembers, sizeof(*s->mem));
	s->nmem = conf->nmembers;
	for (i = 0; i < s->nmem; i++) {
		if (conf->members[i].rid == 0) {
			snprintf(err, errlen, "member %d: id 0", i);
			return (-1);
		}
		if (proto_derive(conf->members[i].key, PROTO_K_FEEDBACK,
		    s->session, kf) == -1 ||
		    proto_derive(conf->members[i].key, PROTO_K_ACK, s->session,
		    ka) == -1) {
			snprintf(err, errlen, "key derivation failed");
			return (-1);
		}
		s->mem[i].rid = conf->members[i].rid;
		s->mem[i].kf = aead_new(kf);
		s->mem[i].ka = aead_new(ka);
		s->mem[i].peer = -1;
	}
	explicit_bzero(kf, sizeof(kf));
	explicit_bzero(ka, sizeof(ka));
	qsort(s->mem, (size_t)s->nmem, sizeof(*s->mem), xs_admit_cmp);
	for (i = 1; i < s->nmem; i++)
		if (s->mem[i].rid == s->mem[i - 1].rid) {
			snprintf(err, errlen, "member id %016" PRIx64 " twice",
			    s->mem[i].rid);
			return (-1);
		}
	return (0);
}

void
xs_admit_free(struct xsend *s)
{
	int	i;

	for (i = 0; i < s->nmem; i++) {
		aead_free(s->mem[i].kf);
		aead_free(s->mem[i].ka);
	}
	free(s->mem);
	s->mem = NULL;
	s->nmem = 0;
}

/* The member of id rid, or NULL (PSK mode, or not one we expect). */
struct xs_member *
xs_admit_member(struct xsend *s, uint64_t rid)
{
	struct xs_member	key;

	if (s->nmem == 0)
		return (NULL);
	key.rid = rid;
	return (bsearch(&key, s->mem, (size_t)s->nmem, sizeof(*s->mem),
	    xs_admit_cmp));
}

/*
 * The keys of a receiver's datagram: its feedback key (returned) and the
 * key of our ACKs to it (*ka).  NULL, counted as `member`, for an id that
 * is not a member: nothing of it is decrypted.
 */
struct aead *
xs_admit_key(struct xsend *s, uint64_t rid, struct aead **ka)
{
	struct xs_member	*m;

	if (s->nmem == 0) {
		*ka = s->ka;
		return (s->kf);
	}
	if ((m = xs_admit_member(s, rid)) == NULL) {
		s->drops[PROTO_DROP_MEMBER]++;
		return (NULL);
	}
	*ka = m->ka;
	return (m->kf);
}

/*
 * Whether one more datagram of peer p (NULL: one without a slot yet, a
 * HELLO) may be processed now: a token bucket of XS_FB_RATE a second,
 * XS_FB_BURST deep, per slot, and per member for a member's HELLOs
 * before it has a slot.  A PSK-mode HELLO without a slot is not limited
 * here: one bucket shared by strangers would let a flood of them keep the
 * real receivers' HELLOs out; they cost one decryption each and can take
 * at most max_receivers slots.  rid 0 is the bucket of our refusals
 * (ACK REJECTED to HELLOs without a slot), shared by all of them.
 */
int
xs_admit_rate(struct xsend *s, struct xs_peer *p, uint64_t rid,
    uint64_t now_us)
{
	struct xs_member	*m;
	double			*tok;
	uint64_t		*at;

	if (p != NULL) {
		tok = &p->fb_tokens;
		at = &p->fb_us;
	} else if (rid == 0) {
		tok = &s->rj_tokens;
		at = &s->rj_us;
	} else if ((m = xs_admit_member(s, rid)) != NULL) {
		tok = &m->fb_tokens;
		at = &m->fb_us;
	} else
		return (1);
	if (*at == 0)
		*tok = XS_FB_BURST;
	else
		*tok += (double)(now_us - *at) * XS_FB_RATE / 1e6;
	if (*tok > XS_FB_BURST)
		*tok = XS_FB_BURST;
	*at = now_us;
	if (*tok < 1.0) {
		s->drops[PROTO_DROP_BUDGET]++;
		return (0);
	}
	*tok -= 1.0;
	return (1);
}

static int
xs_admit_reusable(const struct xs_peer *p)
{
	return (p->state == XSP_FAILED || p->state == XSP_DROPPED);
}

/*
 * A slot for a new receiver rid (its HELLO authenticated): appended
 * while there is room, in PSK mode the slot of one that failed or went
 * silent when max_receivers are taken.  NULL when it must be refused,
 * with the reason.  The slot comes zeroed but for its keys.
 */
struct xs_peer *
xs_admit_slot(struct xsend *s, uint64_t rid, uint8_t *reason)
{
	struct xs_member	*m = xs_admit_member(s, rid);
	struct xs_peer		*p = NULL;
	int			 i;

	*reason = PROTO_RJ_FULL;
	if (s->nmem > 0 && m == NULL)
		return (NULL);		/* xs_admit_key let no one else in */
	if (s->nmem == 0 && s->npeers >= s->max_receivers) {
		for (i = 0; i < s->npeers && p == NULL; i++)
			if (xs_admit_reusable(&s->peers[i]))
				p = &s->peers[i];
		if (p == NULL) {
			log_debug("xsend %016" PRIx64 ": receiver %016" PRIx64
			    " refused: %d receivers (max_receivers)",
			    s->session, rid, s->npeers);
			return (NULL);
		}
		log_debug("xsend %016" PRIx64 ": receiver %016" PRIx64
		    " takes the slot of %s (%s)", s->session, rid, p->name,
		    p->state == XSP_FAILED ? "failed" : "dropped");
		free(p->held_got);
	} else {
		s->peers = xreallocarray(s->peers, s->npeers + 1,
		    sizeof(*s->peers));
		p = &s->peers[s->npeers++];
	}
	memset(p, 0, sizeof(*p));
	p->rid = rid;
	p->member = -1;
	p->ka = s->ka;
	if (m != NULL) {
		p->member = (int)(m - s->mem);
		p->ka = m->ka;
		m->peer = (int)(p - s->peers);
	}
	return (p);
}
