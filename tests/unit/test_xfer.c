/*
 * Tests for the transfers' state machine (server/xfer.c): a wave sent
 * package after package, then the members' grace time; a unicast receiver
 * that answers or not within its join time, or is ready for a later
 * package; the line for unicast streams; a transfer that cannot start;
 * members leaving; the group's sender refusing a straggler (named by its
 * member id); the members' own keys and the session in START; the rate
 * shared by the streams.  The sender is a fake: this file defines the
 * xsend_* functions xfer.c calls (so the linker takes these rather than
 * libcommon's), records what the transfer asked of it and lets the test
 * play its callbacks.  Timers are real libevent timers, made short.
 */
#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "server.h"
#include "unit.h"
#include "xsend.h"

/* ---- the fake sender ---- */

struct xsend {
	struct xsend_conf	 conf;
	const struct xsend_cb	*cb;
	void			*arg;
	int			 started;
	int			 finished;
	int			 expect;
	uint64_t		 rate_max;
	int			 freed;
	uint64_t		 session;
	struct xsend_member	 mem[8];	/* conf.members, copied */
	int			 nmem;
};

#define MAXSEND	16

static struct xsend	*senders[MAXSEND];
static size_t		 nsenders;
static int		 fail_new;	/* the next xsend_new fails */

struct xsend *
xsend_new(struct event_base *base, const struct xsend_conf *conf,
    const struct xsend_cb *cb, void *arg, char *err, size_t errlen)
{
	struct xsend	*s;

	if (fail_new) {
		fail_new = 0;
		snprintf(err, errlen, "no socket for you");
		return (NULL);
	}
	CU_ASSERT_FATAL(nsenders < MAXSEND);
	s = calloc(1, sizeof(*s));
	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	s->conf = *conf;
	s->cb = cb;
	s->arg = arg;
	s->rate_max = conf->rate_max;
	s->expect = conf->min_receivers;
	/* The caller's list lives only for the call, as with the real one. */
	CU_ASSERT_FATAL(conf->nmembers <= 8);
	s->nmem = conf->nmembers;
	memcpy(s->mem, conf->members, sizeof(s->mem[0]) * (size_t)s->nmem);
	s->conf.members = NULL;
	s->session = 0x5e550000ULL + nsenders;
	senders[nsenders++] = s;
	return (s);
}

uint64_t
xsend_session(struct xsend *s)
{
	return (s->session);
}

int
xsend_start(struct xsend *s)
{
	s->started = 1;
	return (0);
}

/* As the real one: a sender stopped before its end reports its end. */
void
xsend_stop(struct xsend *s)
{
	if (s->finished)
		return;
	s->finished = 1;
	if (s->cb->finished != NULL)
		s->cb->finished(s->arg, 0);
}

/* Kept (marked) so that the test can still look at what was asked. */
void
xsend_free(struct xsend *s)
{
	s->freed = 1;
}

void
xsend_stats(struct xsend *s, struct xsend_stats *st)
{
	memset(st, 0, sizeof(*st));
}

void
xsend_expect(struct xsend *s, int n)
{
	s->expect = n;
}

void
xsend_set_rate_max(struct xsend *s, uint64_t rate)
{
	s->rate_max = rate;
}

static struct xsend *
last_sender(void)
{
	CU_ASSERT_FATAL(nsenders > 0);
	return (senders[nsenders - 1]);
}

static void
joined(struct xsend *s)
{
	struct xsend_peer_info	pi;

	memset(&pi, 0, sizeof(pi));
	pi.addr = "127.0.0.1:40000";
	pi.state = XSP_JOINED;
	s->cb->joined(s->arg, &pi);
}

static void
finished(struct xsend *s)
{
	s->finished = 1;
	s->cb->finished(s->arg, 1);
}

/* ---- the fake caller ---- */

#define MAXREC	32

struct call {
	char	 name[32];
	size_t	 pkg;
	uint64_t session;
	int	 failed;
	char	 msg[512];
};

static struct call	starts[MAXREC], outs[MAXREC], notes[MAXREC];
static struct call	refusals[MAXREC];
static size_t		nstarts, nouts, nnotes, nrefusals, nended;

static struct call *
rec(struct call *v, size_t *n, struct sched_target *t)
{
	struct call	*c = &v[*n < MAXREC ? (*n)++ : MAXREC - 1];

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", t->machine->name);
	return (c);
}

static void
cb_start(void *arg, struct xfer_run *r, struct sched_target *t, size_t pkg,
    uint64_t session)
{
	struct call	*c = rec(starts, &nstarts, t);

	c->pkg = pkg;
	c->session = session;
}

static void
cb_out(void *arg, struct xfer_run *r, struct sched_target *t, int failed,
    const char *msg)
{
	struct call	*c = rec(outs, &nouts, t);

	c->failed = failed;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

static void
cb_note(void *arg, struct xfer_run *r, struct sched_target *t,
    const char *why)
{
	snprintf(rec(notes, &nnotes, t)->msg, sizeof(notes[0].msg), "%s", why);
}

static void
cb_refused(void *arg, struct xfer_run *r, struct sched_target *t,
    const char *why)
{
	snprintf(rec(refusals, &nrefusals, t)->msg, sizeof(refusals[0].msg),
	    "%s", why);
}

static void
cb_ended(void *arg, struct xfer_run *r)
{
	nended++;
}

/* Machine mN is at 10.0.0.N. */
static const char *
cb_address(void *arg, const char *name)
{
	static char	buf[32];

	snprintf(buf, sizeof(buf), "10.0.0.%s", name + 1);
	return (buf);
}

static const struct xfer_cb cb = {
	cb_start, cb_out, cb_note, cb_refused, cb_ended, cb_address,
};

/* ---- a run of npkgs packages over NT machines ---- */

#define NT	4

static struct event_base	*base;
static struct xfer_ctx		*ctx;
static struct xfer_run		 xr;
static struct db_package	 pkgs[3];
static uint8_t			 key[CTL_KEY_LEN];
static uint8_t			 fkey[CTL_KEY_LEN] = { 0xf0, 0x0d };
static struct sched_machine	 machines[NT];
static struct sched_target	 targets[NT];
static char			 names[NT][8];

static void
setup(size_t npkgs, int max_streams, int join_ms, int grace_ms,
    uint64_t rate)
{
	struct xfer_conf	conf;
	size_t			i;

	nsenders = nstarts = nouts = nnotes = nrefusals = nended = 0;
	fail_new = 0;
	base = event_base_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(base);
	memset(&conf, 0, sizeof(conf));
	conf.state_dir = "/nonexistent";
	conf.max_streams = max_streams;
	conf.join_ms = join_ms;
	conf.grace_ms = grace_ms;
	conf.rate = rate;
	ctx = xfer_ctx_new(base, &conf, &cb, NULL);
	memset(pkgs, 0, sizeof(pkgs));
	for (i = 0; i < 3; i++) {
		snprintf(pkgs[i].id, sizeof(pkgs[i].id), "P%zu", i);
		pkgs[i].file = (char *)"pkg";
	}
	memset(machines, 0, sizeof(machines));
	memset(targets, 0, sizeof(targets));
	for (i = 0; i < NT; i++) {
		snprintf(names[i], sizeof(names[i]), "m%zu", i + 1);
		machines[i].name = names[i];
		targets[i].machine = &machines[i];
		targets[i].state = SCHED_M_TRANSFERRING;
	}
	memset(&xr, 0, sizeof(xr));
	xfer_run_init(&xr, 7, "7", pkgs, npkgs, key, fkey, 4711);
}

static void
teardown(void)
{
	size_t	i;

	xfer_run_clear(&xr);
	xfer_ctx_free(ctx);
	event_base_free(base);
	for (i = 0; i < nsenders; i++)
		free(senders[i]);
	nsenders = 0;
}

/* Run the loop until *n reaches want, or ms have passed. */
static void
spin(size_t *n, size_t want, long ms)
{
	struct timeval	start, now;

	gettimeofday(&start, NULL);
	while (*n < want) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		gettimeofday(&now, NULL);
		if ((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_usec - start.tv_usec) / 1000 > ms)
			break;
		usleep(1000);
	}
}

/* The i-th member out: failed (1) or interrupted, and why. */
static void
check_out(size_t i, const char *name, int failed, const char *why)
{
	CU_ASSERT_FATAL(i < nouts);
	CU_ASSERT_STRING_EQUAL(outs[i].name, name);
	CU_ASSERT_EQUAL(outs[i].failed, failed);
	CU_ASSERT(strstr(outs[i].msg, why) != NULL);
}

/* The out record of machine name, or NULL. */
static const struct call *
out_of(const char *name)
{
	size_t	i;

	for (i = 0; i < nouts; i++)
		if (strcmp(outs[i].name, name) == 0)
			return (&outs[i]);
	return (NULL);
}

/* Run the deferred events that are due now. */
static void
step(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

/*
 * A fresh run of npkgs packages and m1's unicast transfer in it, from its
 * first package: its sender waits for the receiver.
 */
static struct xfer *
unicast_m1(size_t npkgs, int join_ms, int grace_ms)
{
	struct xfer	*x;

	setup(npkgs, 4, join_ms, grace_ms, 0);
	x = xfer_unicast(ctx, &xr, &targets[0], "10.0.0.1", 0);
	CU_ASSERT_EQUAL(xfer_state(x), XFER_S_JOINING);
	return (x);
}

/*
 * A wave of two, two packages: SENDING each, STARTING between them (the
 * next package is deferred out of the sender's callback), then GRACE; the
 * members that never reported are interrupted when it is over.
 */
static void
test_multicast(void)
{
	struct sched_target	*m[2] = { &targets[0], &targets[1] };
	struct xfer		*x;
	struct xsend		*s;

	setup(2, 4, 0, 30, 0);
	x = xfer_multicast(ctx, &xr, m, 2, "239.192.56.1");
	CU_ASSERT_EQUAL(xfer_state(x), XFER_S_SENDING);
	CU_ASSERT_EQUAL(xfer_path(x), SCHED_PATH_MULTICAST);
	CU_ASSERT_EQUAL(nstarts, 2);
	CU_ASSERT_EQUAL(starts[0].pkg, 0);
	s = last_sender();
	CU_ASSERT(s->started);
	CU_ASSERT_EQUAL(s->conf.min_receivers, 2);
	CU_ASSERT_STRING_EQUAL(s->conf.path, "/nonexistent/pkg");
	joined(s);
	joined(s);
	CU_ASSERT_EQUAL(xfer_state(x), XFER_S_SENDING);
	finished(s);
	CU_ASSERT_EQUAL(xfer_state(x), XFER_S_STARTING);
	CU_ASSERT_EQUAL(nsenders, 1);
	step();
	CU_ASSERT_EQUAL(xfer_state(x), XFER_S_SENDING);
	CU_ASSERT(s->freed);
	CU_ASSERT_EQUAL(nsenders, 2);
	CU_ASSERT_EQUAL(nstarts, 4);
	CU_ASSERT_EQUAL(starts[3].pkg, 1);
	finished(last_sender());
	step();
	CU_ASSERT_EQUAL(xfer_state(x), XFER_S_GRACE);
	CU_ASSERT_EQUAL(nouts, 0);
	spin(&nended, 1, 2000);
	CU_ASSERT_EQUAL(nended, 1);
	CU_ASSERT_EQUAL(nouts, 2);
	check_out(0, "m1", 0, "no delivery report");
	check_out(1, "m2", 0, "no delivery report");
	CU_ASSERT_PTR_NULL(xfer_find(&xr, &targets[0]));
	teardown();
}

/* A unicast receiver that answers: JOINING, SENDING, GRACE. */
static void
test_unicast_joined(void)
{
	struct xfer	*x = unicast_m1(1, 30, 30);

	CU_ASSERT_EQUAL(last_sender()->conf.max_wait_ms, -1);
	CU_ASSERT_EQUAL(nstarts, 1);
	joined(last_sender());
	CU_ASSERT_EQUAL(xfer_state(x), XFER_S_SENDING);
	/* The join time is over, but the receiver answered. */
	spin(&nouts, 1, 100);
	CU_ASSERT_EQUAL(nouts, 0);
	CU_ASSERT_EQUAL(xfer_state(x), XFER_S_SENDING);
	finished(last_sender());
	step();
	CU_ASSERT_EQUAL(xfer_state(x), XFER_S_GRACE);
	spin(&nended, 1, 2000);
	CU_ASSERT_EQUAL(nouts, 1);
	teardown();
}

/* A unicast receiver that never answers fails its machine. */
static void
test_unicast_join_timeout(void)
{
	unicast_m1(1, 20, 10000);
	spin(&nended, 1, 2000);
	CU_ASSERT_EQUAL(nended, 1);
	/* Over, and its sender with it. */
	CU_ASSERT_PTR_NULL(xfer_find(&xr, &targets[0]));
	CU_ASSERT(last_sender()->freed);
	CU_ASSERT_EQUAL(nouts, 1);
	check_out(0, "m1", 1, "no answer from the agent's receiver at "
	    "10.0.0.1, UDP port 4711");
	teardown();
}

/*
 * The agent said what it saw of the join: its HELLOs unanswered (the
 * server's feedback port is blocked) or nothing heard (the agent's data
 * port is): the reason names that port and its host.
 */
static void
test_unicast_join_hint(void)
{
	unicast_m1(1, 20, 10000);
	xfer_hint(&xr, &targets[0], "join: heard 40 announcements, sent 8 "
	    "HELLOs, no answer");
	spin(&nended, 1, 2000);
	check_out(0, "m1", 1, "the agent at 10.0.0.1 hears this server's "
	    "announcements, but none of its answers reached the server");
	check_out(0, "m1", 1, "UDP port 4712 on this server (data_port + 1)");
	teardown();

	unicast_m1(1, 20, 10000);
	xfer_hint(&xr, &targets[0], "join: heard nothing from the sender");
	spin(&nended, 1, 2000);
	check_out(0, "m1", 1, "the agent at 10.0.0.1 heard nothing from this "
	    "server on its UDP port 4711");
	teardown();
}

/*
 * A later package waits the grace time for its receiver (the agent
 * verifies the one before), the join time once the agent says it is
 * ready for it.
 */
static void
test_unicast_ready(void)
{
	struct xfer	*x = unicast_m1(2, 20, 10000);

	joined(last_sender());
	finished(last_sender());
	step();
	CU_ASSERT_EQUAL(xfer_state(x), XFER_S_JOINING);
	CU_ASSERT_EQUAL(starts[nstarts - 1].pkg, 1);
	spin(&nouts, 1, 100);
	CU_ASSERT_EQUAL(nouts, 0);
	/* Ready for another package, or another machine: nothing. */
	xfer_ready(&xr, &targets[0], 0);
	xfer_ready(&xr, &targets[1], 1);
	spin(&nouts, 1, 100);
	CU_ASSERT_EQUAL(nouts, 0);
	xfer_ready(&xr, &targets[0], 1);
	spin(&nended, 1, 2000);
	check_out(0, "m1", 1, "no answer");
	teardown();
}

/*
 * max_unicast_streams: the second transfer waits in line (its history
 * says why) and gets the stream the first gives back, from the deferred
 * step; one that leaves the line gives nothing back.
 */
static void
test_unicast_queue(void)
{
	struct xfer	*a, *b, *c;

	setup(1, 1, 10000, 10000, 0);
	a = xfer_unicast(ctx, &xr, &targets[0], "10.0.0.1", 0);
	b = xfer_unicast(ctx, &xr, &targets[1], "10.0.0.2", 0);
	c = xfer_unicast(ctx, &xr, &targets[2], "10.0.0.3", 0);
	CU_ASSERT_EQUAL(xfer_state(a), XFER_S_JOINING);
	CU_ASSERT_EQUAL(xfer_state(b), XFER_S_QUEUED);
	CU_ASSERT_EQUAL(xfer_state(c), XFER_S_QUEUED);
	CU_ASSERT_EQUAL(nsenders, 1);
	CU_ASSERT_EQUAL(nstarts, 1);
	CU_ASSERT_EQUAL_FATAL(nnotes, 2);
	CU_ASSERT_STRING_EQUAL(notes[0].name, "m2");
	CU_ASSERT(strstr(notes[0].msg, "waiting for a free unicast stream "
	    "(max_unicast_streams = 1, all in use)") != NULL);
	xfer_free(c);
	CU_ASSERT_EQUAL(xfer_state(b), XFER_S_QUEUED);
	/* The first's last package: its stream goes to the second. */
	joined(last_sender());
	finished(last_sender());
	step();
	CU_ASSERT_EQUAL(xfer_state(a), XFER_S_GRACE);
	CU_ASSERT(xfer_state(b) == XFER_S_STARTING ||
	    xfer_state(b) == XFER_S_JOINING);
	step();
	CU_ASSERT_EQUAL(xfer_state(b), XFER_S_JOINING);
	CU_ASSERT_EQUAL(nsenders, 2);
	CU_ASSERT_STRING_EQUAL(starts[nstarts - 1].name, "m2");
	CU_ASSERT_EQUAL(nouts, 0);
	teardown();
}

/* A stream freed by a transfer dropped mid-way goes to the next, too. */
static void
test_unicast_queue_free(void)
{
	struct xfer	*a, *b;

	setup(1, 1, 10000, 10000, 0);
	a = xfer_unicast(ctx, &xr, &targets[0], "10.0.0.1", 0);
	b = xfer_unicast(ctx, &xr, &targets[1], "10.0.0.2", 0);
	CU_ASSERT_EQUAL(xfer_state(b), XFER_S_QUEUED);
	xfer_free(a);
	CU_ASSERT_EQUAL(xfer_state(b), XFER_S_STARTING);
	step();
	CU_ASSERT_EQUAL(xfer_state(b), XFER_S_JOINING);
	/* Freed without a word to the caller. */
	CU_ASSERT_EQUAL(nouts, 0);
	CU_ASSERT_EQUAL(nended, 0);
	teardown();
}

/*
 * A transfer that cannot start (its agent offline, no sender) fails its
 * members with the reason, from the timer and not from inside the call.
 */
static void
test_failed(void)
{
	struct sched_target	*m[1] = { &targets[1] };
	struct xfer		*x, *y;

	setup(1, 4, 10000, 10000, 0);
	x = xfer_unicast(ctx, &xr, &targets[0], "", 0);
	CU_ASSERT_EQUAL(xfer_state(x), XFER_S_FAILED);
	fail_new = 1;
	y = xfer_multicast(ctx, &xr, m, 1, "239.192.56.1");
	CU_ASSERT_EQUAL(xfer_state(y), XFER_S_FAILED);
	CU_ASSERT_EQUAL(nouts, 0);
	/* No START without a sender: it would name no session. */
	CU_ASSERT_EQUAL(nstarts, 0);
	spin(&nended, 2, 2000);
	CU_ASSERT_EQUAL(nended, 2);
	CU_ASSERT_EQUAL_FATAL(nouts, 2);
	CU_ASSERT_PTR_NOT_NULL_FATAL(out_of("m1"));
	CU_ASSERT_PTR_NOT_NULL_FATAL(out_of("m2"));
	CU_ASSERT_STRING_EQUAL(out_of("m1")->msg, "transfer of P0: the agent "
	    "was offline when its unicast transfer was to start");
	CU_ASSERT_STRING_EQUAL(out_of("m2")->msg, "transfer of P0: no socket "
	    "for you");
	CU_ASSERT_EQUAL(out_of("m1")->failed, 1);
	CU_ASSERT_EQUAL(out_of("m2")->failed, 1);
	teardown();
}

/* Members leave a wave; the last one out ends it, silently. */
static void
test_drop(void)
{
	struct sched_target	*m[3] = { &targets[0], &targets[1],
	    &targets[2] };
	struct xfer		*x;
	struct xsend		*s;

	setup(1, 4, 10000, 10000, 0);
	x = xfer_multicast(ctx, &xr, m, 3, "239.192.56.1");
	s = last_sender();
	CU_ASSERT_PTR_EQUAL(xfer_find(&xr, &targets[1]), x);
	CU_ASSERT_PTR_NULL(xfer_find(&xr, &targets[3]));
	xfer_drop(x, &targets[1]);
	CU_ASSERT_EQUAL(s->expect, 2);
	CU_ASSERT_PTR_NULL(xfer_find(&xr, &targets[1]));
	xfer_drop(x, &targets[3]);	/* not a member: nothing */
	CU_ASSERT_EQUAL(s->expect, 2);
	xfer_drop(x, &targets[0]);
	xfer_drop(x, &targets[2]);
	CU_ASSERT_PTR_NULL(xfer_find(&xr, &targets[2]));
	CU_ASSERT(s->freed);
	CU_ASSERT_EQUAL(nouts, 0);
	CU_ASSERT_EQUAL(nended, 0);
	teardown();
}

/*
 * The group's sender refuses a straggler by its receiver id, which is the
 * member id the server gave the machine: that member is named, and an id
 * of no member names nobody (before issue #12 the match was by address,
 * which named no one behind a NAT).
 */
static void
test_straggler(void)
{
	struct sched_target	*m[2] = { &targets[0], &targets[1] };
	struct xsend_peer_info	 pi;
	struct xsend		*s;
	uint8_t			 k[CTL_KEY_LEN];

	setup(1, 4, 10000, 10000, 0);
	xfer_multicast(ctx, &xr, m, 2, "239.192.56.1");
	s = last_sender();
	memset(&pi, 0, sizeof(pi));
	xfer_member(&xr, "m2", &pi.rid, k);
	pi.addr = "10.0.0.1:40001";	/* any address: the id decides */
	pi.state = XSP_FAILED;
	pi.error = XSEND_STRAGGLER " by 40 MB";
	s->cb->peer_done(s->arg, &pi);
	CU_ASSERT_EQUAL_FATAL(nrefusals, 1);
	CU_ASSERT_STRING_EQUAL(refusals[0].name, "m2");
	CU_ASSERT_STRING_EQUAL(refusals[0].msg, XSEND_STRAGGLER " by 40 MB");
	/* Another failure is the agent's to report. */
	pi.error = "digest mismatch";
	s->cb->peer_done(s->arg, &pi);
	xfer_member(&xr, "m3", &pi.rid, k);	/* not in this transfer */
	pi.error = XSEND_STRAGGLER;
	s->cb->peer_done(s->arg, &pi);
	CU_ASSERT_EQUAL(nrefusals, 1);
	teardown();
}

/*
 * Each member's id and key: stable, its own, bound to the run; the
 * sender gets exactly the members, START carries the sender's session;
 * a unicast stream is keyed by its member's key.
 */
static void
test_member_keys(void)
{
	struct sched_target	*m[2] = { &targets[0], &targets[1] };
	struct xsend		*s;
	struct xfer_run		 other;
	uint64_t		 id1, id2, id3;
	uint8_t			 k1[CTL_KEY_LEN], k2[CTL_KEY_LEN];
	uint8_t			 k3[CTL_KEY_LEN];

	setup(1, 4, 10000, 10000, 0);
	xfer_member(&xr, "m1", &id1, k1);
	xfer_member(&xr, "m2", &id2, k2);
	CU_ASSERT(id1 != 0 && id2 != 0 && id1 != id2);
	CU_ASSERT(memcmp(k1, k2, CTL_KEY_LEN) != 0);
	xfer_member(&xr, "m1", &id3, k3);
	CU_ASSERT(id3 == id1 && memcmp(k3, k1, CTL_KEY_LEN) == 0);
	/* Another run: the same id, another key. */
	memset(&other, 0, sizeof(other));
	xfer_run_init(&other, 8, "8", pkgs, 1, key, fkey, 4711);
	xfer_member(&other, "m1", &id3, k3);
	CU_ASSERT(id3 == id1 && memcmp(k3, k1, CTL_KEY_LEN) != 0);

	xfer_multicast(ctx, &xr, m, 2, "239.192.56.1");
	s = last_sender();
	CU_ASSERT_EQUAL_FATAL(s->nmem, 2);
	CU_ASSERT(s->mem[0].rid == id1 && s->mem[1].rid == id2);
	CU_ASSERT(memcmp(s->mem[0].key, k1, CTL_KEY_LEN) == 0);
	CU_ASSERT(memcmp(s->mem[1].key, k2, CTL_KEY_LEN) == 0);
	CU_ASSERT(memcmp(s->conf.key, key, CTL_KEY_LEN) == 0);
	CU_ASSERT_EQUAL_FATAL(nstarts, 2);
	CU_ASSERT_EQUAL(starts[0].session, s->session);
	CU_ASSERT_EQUAL(starts[1].session, s->session);

	xfer_unicast(ctx, &xr, &targets[1], "10.0.0.2", 0);
	s = last_sender();
	CU_ASSERT_EQUAL_FATAL(s->nmem, 1);
	CU_ASSERT_EQUAL(s->mem[0].rid, id2);
	CU_ASSERT(memcmp(s->conf.key, k2, CTL_KEY_LEN) == 0);
	CU_ASSERT_EQUAL(starts[nstarts - 1].session, s->session);
	teardown();
}

/*
 * The server's rate is shared: a stream about to start gets an even
 * share, and the ones still waiting for their receivers get theirs.
 */
static void
test_rate_share(void)
{
	struct sched_target	*m[1] = { &targets[0] };

	setup(1, 4, 10000, 10000, 8u << 20);
	xfer_multicast(ctx, &xr, m, 1, "239.192.56.1");
	CU_ASSERT_EQUAL(senders[0]->rate_max, 8u << 20);
	xfer_unicast(ctx, &xr, &targets[1], "10.0.0.2", 0);
	CU_ASSERT_EQUAL(senders[1]->rate_max, 4u << 20);
	CU_ASSERT_EQUAL(senders[0]->rate_max, 4u << 20);
	teardown();
}

static void
test_names(void)
{
	CU_ASSERT_STRING_EQUAL(xfer_strstate(XFER_S_NEW), "new");
	CU_ASSERT_STRING_EQUAL(xfer_strstate(XFER_S_JOINING), "joining");
	CU_ASSERT_STRING_EQUAL(xfer_strstate(XFER_S_DONE), "done");
	CU_ASSERT_STRING_EQUAL(xfer_strstate((enum xfer_state)99), "?");
}

static CU_TestInfo tests[] = {
	{ "multicast: packages, then grace", test_multicast },
	{ "unicast: receiver answers", test_unicast_joined },
	{ "unicast: join timeout", test_unicast_join_timeout },
	{ "a unicast join, what the agent saw", test_unicast_join_hint },
	{ "unicast: ready for the next", test_unicast_ready },
	{ "unicast: waiting for a stream", test_unicast_queue },
	{ "unicast: stream of a freed transfer", test_unicast_queue_free },
	{ "cannot start: failed", test_failed },
	{ "members leave", test_drop },
	{ "straggler refused", test_straggler },
	{ "member ids and keys, session in START", test_member_keys },
	{ "rate shared", test_rate_share },
	{ "state names", test_names },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("xfer", tests));
}
