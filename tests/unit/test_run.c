/*
 * Tests for the agent's per-run state machine (agent/run.c, run_fsm) and
 * the transfer's (agent/run_recv.c, run_recv_fsm), driven through their
 * entry points (run_message, run_online, run_synced, run_init) and the
 * run_ctx callbacks, with a scratch agent database and real packages
 * built here.  Two things are fakes, defined in this file so that the
 * linker takes them rather than the real ones: the channel to the server
 * (the agent_conn_* functions the runs call: it records every REPORT and
 * can be offline) and the transport receiver (the xrecv_* functions: the
 * test plays its locked and finished callbacks, and puts the package file
 * in place itself).  The verify child and the package's executable are
 * real child processes.  What the agent logs goes to a file that the
 * tests read: transitions are logged by name, after they are stored, and
 * a transition that could not be committed is not logged at all.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "conf.h"
#include "crypto.h"
#include "log.h"
#include "pkg.h"
#include "run_int.h"
#include "unit_log.h"
#include "unit_loop.h"
#include "unit_state.h"
#include "xmalloc.h"
#include "xrecv.h"

/* ---- the fake channel to the server ---- */

struct agent_conn {
	int		online;
	uint64_t	beats;		/* heartbeats "sent" by agent_conn_sync */
};

#define MAXSENT	64

struct sent {
	uint64_t	run_id;
	int		state;		/* enum ctl_rstate */
	uint16_t	pkg_index;
	char		message[512];
};

static struct agent_conn	fconn;
static struct sent		sent[MAXSENT];
static size_t			nsent;

int
agent_conn_send(struct agent_conn *c, const struct ctl_msg *m)
{
	struct sent	*s;

	if (!c->online)
		return (-1);
	CU_ASSERT_FATAL(m->type == CTL_REPORT);
	CU_ASSERT_FATAL(nsent < MAXSENT);
	s = &sent[nsent++];
	s->run_id = m->u.report.run_id;
	s->state = m->u.report.state;
	s->pkg_index = m->u.report.pkg_index;
	snprintf(s->message, sizeof(s->message), "%s", m->u.report.message);
	return (0);
}

uint64_t
agent_conn_sync(struct agent_conn *c)
{
	if (!c->online)
		return (0);
	return (++c->beats);
}

int
agent_conn_is_online(const struct agent_conn *c)
{
	return (c->online);
}

/* The last report of that state, or NULL. */
static const struct sent *
sent_last(int rstate)
{
	size_t	i;

	for (i = nsent; i-- > 0; )
		if (sent[i].state == rstate)
			return (&sent[i]);
	return (NULL);
}

/* ---- the fake receiver ---- */

#define MAXRECV	16

struct xrecv {
	const struct xrecv_cb	*cb;
	void			*arg;
	char			*out;
	uint16_t		 port;
	uint64_t		 expect_size;
	int			 started;
	int			 stopped;
	int			 freed;
};

static struct xrecv	*receivers[MAXRECV];
static size_t		 nreceivers;

struct xrecv *
xrecv_new(struct event_base *b, const struct xrecv_conf *xc,
    const struct xrecv_cb *cb, void *arg, char *err, size_t errlen)
{
	const struct sockaddr_in	*sin = (const void *)&xc->group.ss;
	struct xrecv			*x;

	/* The tests' addresses are IPv4. */
	CU_ASSERT_FATAL(nreceivers < MAXRECV && sin->sin_family == AF_INET);
	x = xmalloc(sizeof(*x));
	*x = (struct xrecv){ .cb = cb, .arg = arg, .out = xstrdup(xc->out),
	    .port = ntohs(sin->sin_port), .expect_size = xc->expect_size };
	return (receivers[nreceivers++] = x);
}

int
xrecv_start(struct xrecv *x)
{
	x->started = 1;
	return (0);
}

void
xrecv_stop(struct xrecv *x)
{
	x->stopped = 1;
}

/* Kept (as freed) until the test ends, so that it can be asked about. */
void
xrecv_free(struct xrecv *x)
{
	x->freed = 1;
}

/* What the unicast join hint asks: the fake heard nothing yet. */
void
xrecv_stats(struct xrecv *x, struct xrecv_stats *st)
{
	memset(st, 0, sizeof(*st));
}

static struct xrecv *
xr_last(void)
{
	CU_ASSERT_FATAL(nreceivers > 0);
	return (receivers[nreceivers - 1]);
}

/* ---- packages built for the tests ---- */

struct built {
	char		 id[16];
	char		*file;
	uint8_t		*data;
	size_t		 size;
	uint8_t		 sha256[SHA256_LEN];
	uint8_t		 sig[ED25519_SIG_LEN];
	uint8_t		*manifest;
	size_t		 manifest_len;
};

static char		 pkgdir[256];
static uint8_t		 pk[ED25519_PUB_LEN], sk[ED25519_PRIV_LEN];
static struct built	 p_quick;	/* its setup.sh exits 0 at once */
static struct built	 p_slow;	/* its setup.sh takes a second */

static void
build_pkg(struct built *b, const char *id, const char *script)
{
	struct pkg_manifest	 m;
	struct pkg		*p;
	const uint8_t		*raw;
	char			 dir[512], path[600], err[512];
	struct stat		 sb;
	int			 fd;

	snprintf(b->id, sizeof(b->id), "%s", id);
	snprintf(dir, sizeof(dir), "%s/%s", pkgdir, id);
	CU_ASSERT_FATAL(mkdir(dir, 0755) == 0);
	snprintf(path, sizeof(path), "%s/setup.sh", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, script, strlen(script)) ==
	    (ssize_t)strlen(script));
	close(fd);
	pkg_manifest_init(&m);
	snprintf(m.id, sizeof(m.id), "%s", id);
	m.type = PKG_SERVICEPACK;
	m.has_version = 1;
	m.major = 1;
	m.exec = xstrdup("setup.sh");
	xasprintf(&b->file, "%s/%s.fcpkg", pkgdir, id);
	CU_ASSERT_FATAL(pkg_build(&m, dir, b->file, sk, err,
	    sizeof(err)) == 0);
	pkg_manifest_free(&m);
	CU_ASSERT_FATAL(pkg_open(&p, b->file, (const uint8_t (*)
	    [ED25519_PUB_LEN])pk, 1, 0, err, sizeof(err)) == 0);
	raw = pkg_get_manifest_raw(p, &b->manifest_len);
	b->manifest = xmalloc(b->manifest_len);
	memcpy(b->manifest, raw, b->manifest_len);
	memcpy(b->sig, pkg_get_signature(p), sizeof(b->sig));
	pkg_close(p);
	CU_ASSERT_FATAL(stat(b->file, &sb) == 0);
	b->size = (size_t)sb.st_size;
	b->data = xmalloc(b->size);
	fd = open(b->file, O_RDONLY);
	CU_ASSERT_FATAL(fd != -1 && read(fd, b->data, b->size) ==
	    (ssize_t)b->size);
	close(fd);
	sha256(b->data, b->size, b->sha256);
}

/* The receiver's work: the package file where it would have put it. */
static void
deliver(const struct built *b, const char *out)
{
	int	fd;

	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT_FATAL(write(fd, b->data, b->size) == (ssize_t)b->size);
	close(fd);
}

/* ---- the agent around the runs ---- */

static const struct conf_def defs[] = {
	{ "interface", CONF_STRING, NULL, 0, 0, NULL },
	{ "reboot_command", CONF_STRING, "true", 0, 0, NULL },
	{ "poweroff_command", CONF_STRING, "true", 0, 0, NULL },
	{ NULL, CONF_STRING, NULL, 0, 0, NULL },
};

static struct event_base	*base;
static struct agent		 agent;
static struct run_ctx		*ctx;
static uint8_t			 trusted[1][ED25519_PUB_LEN];

static void
facts_done(void *arg)
{
}

static void
setup(void)
{
	/* Built once, inside a test, where CUnit's assertions work. */
	if (p_quick.file == NULL) {
		CU_ASSERT_FATAL(ed25519_generate(pk, sk) == 0);
		build_pkg(&p_quick, "P1", "#!/bin/sh\necho installed\n");
		build_pkg(&p_slow, "P2", "#!/bin/sh\nsleep 1\necho installed\n");
	}
	memset(&agent, 0, sizeof(agent));
	memset(&fconn, 0, sizeof(fconn));
	fconn.online = 1;
	nsent = 0;
	nreceivers = 0;
	unit_log_reset();
	agent.state = unit_state_fresh("test_run");
	CU_ASSERT_PTR_NOT_NULL_FATAL(base = event_base_new());
	exec_init(base);
	agent.base = base;
	agent.conf = conf_new(defs);
	agent.name = "vm1";
	agent.boot_id = xstrdup("boot-A");
	memcpy(trusted[0], pk, sizeof(pk));
	agent.keys = trusted;
	agent.nkeys = 1;
	facts_init(&agent.facts);
	agent.collect.state = agent.state;
	agent.collect.facts = &agent.facts;
	agent.collect.dirty = &agent.facts_dirty;
	agent.collect.done = facts_done;
	agent.exec_timeout = 60;
	agent.conn = &fconn;
	ctx = agent.runs = run_init(&agent);
}

/* The agent stops, as at a restart; the database stays. */
static void
stop_agent(void)
{
	run_shutdown(ctx);
	ctx = agent.runs = NULL;
}

static void
teardown(void)
{
	size_t	i;

	if (ctx != NULL)
		stop_agent();
	exec_shutdown();
	event_base_free(base);
	state_close(agent.state);
	conf_free(agent.conf);
	facts_free(&agent.facts);
	free(agent.boot_id);
	for (i = 0; i < nreceivers; i++) {
		free(receivers[i]->out);
		free(receivers[i]);
	}
	unit_log_dump();	/* what the agent said, for the test's .log */
}

static struct run *
run_of(uint64_t id)
{
	struct run	*r = TAILQ_FIRST(&ctx->list);

	while (r != NULL && r->rec->run_id != id)
		r = TAILQ_NEXT(r, entry);
	return (r);
}

/* The state stored for run id, -1 when none is. */
static int
stored_state(uint64_t id)
{
	struct run_rec	*rec;
	char		 err[512];
	int		 s;

	CU_ASSERT_FATAL(state_run_load(agent.state, id, &rec, err,
	    sizeof(err)) == 0);
	if (rec == NULL)
		return (-1);
	s = rec->state;
	state_run_free(rec);
	return (s);
}

struct want_state {
	uint64_t	id;
	int		state;
};

static int
in_state(void *arg)
{
	struct want_state	*w = arg;
	struct run		*r = run_of(w->id);

	return (r != NULL && r->rec->state == w->state);
}

/* Deferred events (a receiver's end) are handled. */
static void
loop_once(void)
{
	event_base_loop(base, EVLOOP_NONBLOCK);
}

/* ---- what the server says ---- */

static struct ctl_pkg	a_pkgs[CTL_MAX_PKGS];
static struct ctl_msg	a_msg;

static const struct ctl_msg *
assign(uint64_t id, uint8_t path, const char *addr, uint16_t port,
    uint8_t options, const struct built *b)
{
	memset(&a_msg, 0, sizeof(a_msg));
	memset(a_pkgs, 0, sizeof(a_pkgs));
	a_msg.type = CTL_ASSIGN;
	a_msg.u.assign.run_id = id;
	a_msg.u.assign.scenario = "sc1";
	a_msg.u.assign.path = path;
	a_msg.u.assign.addr = (char *)addr;
	a_msg.u.assign.port = port;
	memset(a_msg.u.assign.key, 7, sizeof(a_msg.u.assign.key));
	a_msg.u.assign.options = options;
	a_msg.u.assign.npkgs = 1;
	a_msg.u.assign.pkgs = a_pkgs;
	a_pkgs[0].id = (char *)b->id;
	a_pkgs[0].size = b->size;
	memcpy(a_pkgs[0].sha256, b->sha256, SHA256_LEN);
	memcpy(a_pkgs[0].signature, b->sig, ED25519_SIG_LEN);
	a_pkgs[0].manifest = b->manifest;
	a_pkgs[0].manifest_len = b->manifest_len;
	return (&a_msg);
}

static const struct ctl_msg *
assign_mc(uint64_t id, uint8_t options, const struct built *b)
{
	return (assign(id, CTL_PATH_MULTICAST, "239.192.0.1", 5000, options,
	    b));
}

static void
start(uint64_t id, uint16_t idx)
{
	struct ctl_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = CTL_START;
	m.u.start.run_id = id;
	m.u.start.pkg_index = idx;
	run_message(ctx, &m);
}

static void
cancel(uint64_t id)
{
	struct ctl_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = CTL_CANCEL;
	m.u.cancel.run_id = id;
	m.u.cancel.reason = CTL_CANCEL_ADMIN;
	m.u.cancel.message = "stopped by an admin";
	run_message(ctx, &m);
}

/* Run id assigned, checked and READY. */
static struct run *
ready(uint64_t id, uint8_t options, const struct built *b)
{
	struct run	*r;

	run_message(ctx, assign_mc(id, options, b));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r = run_of(id));
	CU_ASSERT_EQUAL_FATAL(r->rec->state, RUN_READY);
	return (r);
}

/* ... and receiving package 0 on multicast, the session joined. */
static struct run *
receiving(uint64_t id, uint8_t options, const struct built *b)
{
	struct run	*r = ready(id, options, b);

	start(id, 0);
	CU_ASSERT_EQUAL_FATAL(r->rec->state, RUN_RECEIVING);
	CU_ASSERT_EQUAL_FATAL(r->recv, RUN_RECV_JOINING);
	return (r);
}

/* ... and the whole package received: verified, then delivered on. */
static void
received(struct run *r, const struct built *b)
{
	struct xrecv	*x = xr_last();

	x->cb->locked(x->arg, 42, b->size);
	deliver(b, x->out);
	x->cb->finished(x->arg, 1, NULL);
}

/* A run stored as it would be after an agent stopped in state st. */
static void
store_run(uint64_t id, int st, uint8_t path, const char *addr, uint16_t port,
    const struct built *b)
{
	struct run_rec	rec;
	struct run_pkg	p;
	char		err[512];

	memset(&rec, 0, sizeof(rec));
	memset(&p, 0, sizeof(p));
	rec.run_id = id;
	rec.scenario = "sc1";
	rec.path = path;
	rec.addr = (char *)addr;
	rec.port = port;
	rec.state = st;
	rec.message = "";
	rec.created_at = rec.updated_at = (int64_t)time(NULL);
	rec.npkgs = 1;
	rec.pkgs = &p;
	p.id = (char *)b->id;
	p.size = b->size;
	memcpy(p.sha256, b->sha256, SHA256_LEN);
	memcpy(p.signature, b->sig, ED25519_SIG_LEN);
	p.manifest = b->manifest;
	p.manifest_len = b->manifest_len;
	p.message = p.output = "";
	CU_ASSERT_FATAL(state_run_insert(agent.state, &rec, err,
	    sizeof(err)) == 0);
	if (st != RUN_ASSIGNED)
		CU_ASSERT_FATAL(state_run_update(agent.state, &rec, err,
		    sizeof(err)) == 0);
}

/* ---- the run's state machine ---- */

/* ASSIGN: stored, checked, READY reported; again: READY again. */
static void
test_assign_ready(void)
{
	struct run	*r;
	struct stat	 sb;

	setup();
	r = ready(1, 0, &p_quick);
	CU_ASSERT_EQUAL(stored_state(1), RUN_READY);
	CU_ASSERT_EQUAL(nsent, 1);
	CU_ASSERT_EQUAL(sent[0].run_id, 1);
	CU_ASSERT_EQUAL(sent[0].state, CTL_RS_READY);
	CU_ASSERT(unit_log_has("run 1: assigned -> ready\n"));
	CU_ASSERT(stat(r->dir, &sb) == 0 && S_ISDIR(sb.st_mode));
	/* The server asks again (a reconnection): the same answer. */
	run_message(ctx, assign_mc(1, 0, &p_quick));
	CU_ASSERT_EQUAL(nsent, 2);
	CU_ASSERT_EQUAL(sent[1].state, CTL_RS_READY);
	CU_ASSERT_EQUAL(r->rec->state, RUN_READY);
	teardown();
}

/* A manifest whose signature does not hold: ERROR, with the package. */
static void
test_assign_refused(void)
{
	struct built	 bad = p_quick;
	struct run	*r;

	setup();
	bad.sig[0] ^= 1;
	run_message(ctx, assign_mc(2, 0, &bad));
	CU_ASSERT_PTR_NOT_NULL_FATAL(r = run_of(2));
	CU_ASSERT_EQUAL(r->rec->state, RUN_FINISHED);
	CU_ASSERT_EQUAL(stored_state(2), RUN_FINISHED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sent_last(CTL_RS_ERROR));
	CU_ASSERT(strncmp(sent_last(CTL_RS_ERROR)->message, "P1: ", 4) == 0);
	CU_ASSERT_PTR_NULL(sent_last(CTL_RS_READY));
	CU_ASSERT(unit_log_has("run 2: assigned -> finished\n"));
	teardown();
}

/* START: RECEIVING stored and reported, a receiver for the file. */
static void
test_start_receiving(void)
{
	struct run	*r;
	struct xrecv	*x;
	char		 file[1024];

	setup();
	r = receiving(3, 0, &p_quick);
	CU_ASSERT_EQUAL(stored_state(3), RUN_RECEIVING);
	CU_ASSERT(unit_log_has("run 3: ready -> receiving\n"));
	CU_ASSERT_PTR_NOT_NULL(sent_last(CTL_RS_RECEIVING));
	CU_ASSERT_EQUAL_FATAL(nreceivers, 1);
	x = xr_last();
	CU_ASSERT(x->started);
	CU_ASSERT_EQUAL(x->port, 5000);
	CU_ASSERT_EQUAL(x->expect_size, p_quick.size);
	CU_ASSERT_STRING_EQUAL(x->out, run_pkgfile(r, 0, file, sizeof(file)));
	/* The probe watches for a session; joining one ends it. */
	CU_ASSERT(evtimer_pending(r->ev_probe, NULL));
	x->cb->locked(x->arg, 42, p_quick.size);
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_RECEIVING);
	CU_ASSERT(!evtimer_pending(r->ev_probe, NULL));
	teardown();
}

/* START for another package than the run is at: the run fails. */
static void
test_start_wrong_package(void)
{
	struct run	*r;

	setup();
	r = ready(4, 0, &p_quick);
	start(4, 1);
	CU_ASSERT_EQUAL(r->rec->state, RUN_FINISHED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sent_last(CTL_RS_FAILED));
	CU_ASSERT_STRING_EQUAL(sent_last(CTL_RS_FAILED)->message,
	    "START for package 1, expected 0");
	CU_ASSERT_EQUAL(nreceivers, 0);
	teardown();
}

/*
 * START for a package before the one the run is at: a repeat that crossed
 * the agent's DELIVERED after a reconnection, ignored (the run stands as
 * if at its second package; the test package has one).
 */
static void
test_start_delivered_package(void)
{
	struct run	*r;

	setup();
	r = ready(5, 0, &p_quick);
	r->rec->pkg_index = 1;
	start(5, 0);
	CU_ASSERT_EQUAL(r->rec->state, RUN_READY);
	CU_ASSERT_PTR_NULL(sent_last(CTL_RS_FAILED));
	CU_ASSERT(unit_log_has("START for package 0, which is delivered: "
	    "ignored"));
	CU_ASSERT_EQUAL(nreceivers, 0);
	r->rec->pkg_index = 0;
	teardown();
}

static int
gone(void *arg)
{
	return (run_of(*(uint64_t *)arg) == NULL);
}

/*
 * The whole way: received, verified and extracted in a child, run, the
 * outcome stored and reported with a heartbeat; once the server has
 * acknowledged that heartbeat the run is DONE and leaves memory.
 */
static void
test_finished_done_on_sync(void)
{
	struct want_state	 w = { 5, RUN_FINISHED };
	struct run		*r;
	struct installed	*inst;
	size_t			 ninst;
	uint64_t		 seq;
	char			 err[512];

	setup();
	r = receiving(5, 0, &p_quick);
	received(r, &p_quick);
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_ENDED);
	/* The end is handled out of the receiver's call chain. */
	CU_ASSERT_PTR_NULL(sent_last(CTL_RS_DELIVERED));
	loop_once();
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_VERIFYING);
	CU_ASSERT(xr_last()->freed);
	CU_ASSERT_FATAL(unit_loop_until(base, in_state, &w, 10000));
	CU_ASSERT_EQUAL(stored_state(5), RUN_FINISHED);
	CU_ASSERT_PTR_NOT_NULL(sent_last(CTL_RS_DELIVERED));
	CU_ASSERT_PTR_NOT_NULL(sent_last(CTL_RS_RUNNING));
	CU_ASSERT_PTR_NOT_NULL_FATAL(sent_last(CTL_RS_SUCCEEDED));
	CU_ASSERT(unit_log_has("run 5: receiving -> delivered\n"));
	CU_ASSERT(unit_log_has("run 5: delivered -> running\n"));
	CU_ASSERT(unit_log_has("run 5: running -> finished\n"));
	CU_ASSERT(state_installed_list(agent.state, &inst, &ninst, err,
	    sizeof(err)) == 0);
	CU_ASSERT(ninst == 1 && strcmp(inst[0].id, "P1") == 0);
	state_installed_free(inst, ninst);
	/* The outcome went with a heartbeat: FINISHED until it is acked. */
	seq = fconn.beats;
	CU_ASSERT(seq > 0);
	CU_ASSERT_EQUAL(r->sync_seq, seq);
	run_synced(ctx, seq - 1);
	CU_ASSERT_PTR_EQUAL(run_of(5), r);
	CU_ASSERT_EQUAL(r->rec->state, RUN_FINISHED);
	run_synced(ctx, seq);
	CU_ASSERT(gone(&w.id));
	CU_ASSERT_EQUAL(stored_state(5), RUN_DONE);
	CU_ASSERT(unit_log_has("run 5: finished -> done\n"));
	/* The server missed the report: ASSIGN again gets the outcome. */
	nsent = 0;
	run_message(ctx, assign_mc(5, 0, &p_quick));
	CU_ASSERT_EQUAL(nsent, 1);
	CU_ASSERT_EQUAL(sent[0].state, CTL_RS_SUCCEEDED);
	CU_ASSERT_PTR_NULL(run_of(5));
	teardown();
}

/* A report that went while offline is sent again once online. */
static void
test_finished_offline(void)
{
	struct run	*r;

	setup();
	r = ready(6, 0, &p_quick);
	fconn.online = 0;
	start(6, 9);		/* fails the run: a wrong package */
	CU_ASSERT_EQUAL(r->rec->state, RUN_FINISHED);
	CU_ASSERT_EQUAL(r->sync_seq, 0);
	CU_ASSERT_PTR_NULL(sent_last(CTL_RS_FAILED));
	run_synced(ctx, 100);
	CU_ASSERT_EQUAL(r->rec->state, RUN_FINISHED);
	fconn.online = 1;
	run_online(ctx);
	CU_ASSERT_PTR_NOT_NULL(sent_last(CTL_RS_FAILED));
	CU_ASSERT_EQUAL(r->sync_seq, fconn.beats);
	run_synced(ctx, fconn.beats);
	CU_ASSERT_PTR_NULL(run_of(6));
	CU_ASSERT_EQUAL(stored_state(6), RUN_DONE);
	teardown();
}

/*
 * CANCEL before the packages are delivered: the run ends quietly (the
 * server knows), DONE at once, the receiver stopped; an agent restarted
 * with a run still ASSIGNED takes it too.
 */
static void
test_cancel_early(void)
{
	struct run	*r;
	struct xrecv	*x;
	size_t		 n;

	setup();
	stop_agent();
	store_run(10, RUN_ASSIGNED, CTL_PATH_MULTICAST, "239.192.0.1", 5000,
	    &p_quick);
	ctx = agent.runs = run_init(&agent);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r = run_of(10));
	CU_ASSERT_EQUAL(r->rec->state, RUN_ASSIGNED);
	cancel(10);
	CU_ASSERT_PTR_NULL(run_of(10));
	CU_ASSERT_EQUAL(stored_state(10), RUN_DONE);
	CU_ASSERT(unit_log_has("run 10: assigned -> done\n"));

	ready(11, 0, &p_quick);
	n = nsent;
	cancel(11);
	CU_ASSERT_PTR_NULL(run_of(11));
	CU_ASSERT_EQUAL(stored_state(11), RUN_DONE);
	CU_ASSERT(unit_log_has("run 11: ready -> done\n"));

	receiving(12, 0, &p_quick);
	x = xr_last();
	cancel(12);
	CU_ASSERT_PTR_NULL(run_of(12));
	CU_ASSERT_EQUAL(stored_state(12), RUN_DONE);
	CU_ASSERT(unit_log_has("run 12: receiving -> done\n"));
	CU_ASSERT(x->stopped && x->freed);
	/* Quiet: the server cancelled, so nothing was reported. */
	CU_ASSERT_EQUAL(nsent, n + 2);	/* run 12's READY and RECEIVING */
	CU_ASSERT_PTR_NULL(sent_last(CTL_RS_ERROR));
	/* Gone: a CANCEL now is for an unknown run. */
	cancel(12);
	CU_ASSERT(unit_log_has("CANCEL for unknown run 12 ignored"));
	teardown();
}

static int
job_running(void *arg)
{
	struct run	*r = run_of(*(uint64_t *)arg);

	return (r != NULL && r->rec->state == RUN_RUNNING && r->job != NULL);
}

/*
 * CANCEL once the packages are delivered is too late: DELIVERED, QUEUED
 * (at next boot), RUNNING and FINISHED carry on as they were, and say
 * nothing.
 */
static void
test_cancel_late(void)
{
	struct want_state	 w = { 21, RUN_QUEUED };
	struct run		*r;
	uint64_t		 id;
	size_t			 n;

	setup();
	/* DELIVERED lasts no longer than a call: set it by hand. */
	r = ready(20, 0, &p_quick);
	r->rec->state = RUN_DELIVERED;
	n = nsent;
	cancel(20);
	CU_ASSERT_EQUAL(r->rec->state, RUN_DELIVERED);
	CU_ASSERT_EQUAL(nsent, n);
	r->rec->state = RUN_READY;

	r = receiving(21, CTL_OPT_AT_NEXT_BOOT, &p_quick);
	received(r, &p_quick);
	CU_ASSERT_FATAL(unit_loop_until(base, in_state, &w, 10000));
	CU_ASSERT_PTR_NOT_NULL(sent_last(CTL_RS_PENDING_BOOT));
	CU_ASSERT(unit_log_has("run 21: receiving -> delivered\n"));
	CU_ASSERT(unit_log_has("run 21: delivered -> queued\n"));
	n = nsent;
	cancel(21);
	CU_ASSERT_EQUAL(r->rec->state, RUN_QUEUED);
	CU_ASSERT_EQUAL(stored_state(21), RUN_QUEUED);
	CU_ASSERT_EQUAL(nsent, n);

	r = receiving(22, 0, &p_slow);
	received(r, &p_slow);
	id = 22;
	CU_ASSERT_FATAL(unit_loop_until(base, job_running, &id, 10000));
	n = nsent;
	cancel(22);
	CU_ASSERT_EQUAL(r->rec->state, RUN_RUNNING);
	CU_ASSERT_PTR_NOT_NULL(r->job);
	CU_ASSERT_EQUAL(nsent, n);
	w.id = 22;
	w.state = RUN_FINISHED;
	CU_ASSERT_FATAL(unit_loop_until(base, in_state, &w, 10000));
	CU_ASSERT_PTR_NOT_NULL(sent_last(CTL_RS_SUCCEEDED));
	n = nsent;
	cancel(22);
	CU_ASSERT_EQUAL(r->rec->state, RUN_FINISHED);
	CU_ASSERT_EQUAL(stored_state(22), RUN_FINISHED);
	CU_ASSERT_EQUAL(nsent, n);
	teardown();
}

/* An event a state has no use for is logged by its name and the state's. */
static void
test_ignored_logged(void)
{
	struct run		*r;
	struct run_evdata	 d;

	setup();
	r = ready(30, 0, &p_quick);
	ctx->fsm(r, RUN_EV_BOOT, NULL);
	CU_ASSERT(unit_log_has("run 30: event boot ignored in state ready\n"));
	memset(&d, 0, sizeof(d));
	d.ok = 1;
	ctx->fsm(r, RUN_EV_VERIFIED, &d);
	CU_ASSERT(unit_log_has("run 30: event verified ignored in state ready\n"));
	CU_ASSERT_EQUAL(r->rec->state, RUN_READY);
	/* The transfer's own fsm names its events too (a debug line). */
	start(30, 0);
	xr_last()->cb->locked(xr_last()->arg, 42, p_quick.size);
	ctx->fsm(r, RUN_EV_PROBE, NULL);
	CU_ASSERT(unit_log_has("run 30: package P1: transfer event probe ignored "
	    "in state receiving\n"));
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_RECEIVING);
	CU_ASSERT_PTR_NULL(sent_last(CTL_RS_FALLBACK));
	teardown();
}

static int	commit_fails;

static int
commit_hook(void *arg)
{
	return (commit_fails);	/* non-zero: the COMMIT becomes a ROLLBACK */
}

/*
 * A transition is logged once it is stored: when the database refuses
 * the commit (a full disk), the state in memory and on disk stays, the
 * log shows no transition, and the server still hears the outcome.
 */
static void
test_state_logged_after_commit(void)
{
	struct run	*r;

	setup();
	sqlite3_commit_hook(state_db(agent.state), commit_hook, NULL);
	ready(40, 0, &p_quick);
	unit_log_reset();
	commit_fails = 1;
	/* run_set_state, one statement: READY -> RECEIVING refused. */
	start(40, 0);
	commit_fails = 0;
	CU_ASSERT(unit_log_has("run 40: ready -> receiving not stored"));
	CU_ASSERT(!unit_log_has("run 40: ready -> receiving\n"));
	CU_ASSERT(!unit_log_has("-> finished\n"));
	CU_ASSERT_EQUAL(stored_state(40), RUN_READY);
	CU_ASSERT_EQUAL(nreceivers, 0);
	/* Nothing stored: the run is forgotten, its outcome still said. */
	CU_ASSERT_PTR_NULL(run_of(40));
	CU_ASSERT_PTR_NOT_NULL_FATAL(sent_last(CTL_RS_FAILED));
	CU_ASSERT(strstr(sent_last(CTL_RS_FAILED)->message,
	    "could not be stored") != NULL);

	/* run_finish's transaction: every statement ran, COMMIT refused. */
	r = ready(41, 0, &p_quick);
	unit_log_reset();
	commit_fails = 1;
	cancel(41);
	commit_fails = 0;
	CU_ASSERT(!unit_log_has("run 41: ready -> done\n"));
	CU_ASSERT_EQUAL(stored_state(41), RUN_READY);
	CU_ASSERT_PTR_NULL(run_of(41));
	CU_ASSERT_PTR_NOT_NULL_FATAL(sent_last(CTL_RS_ERROR));
	CU_ASSERT(strstr(sent_last(CTL_RS_ERROR)->message,
	    "could not be stored") != NULL);
	/* The same with the commit allowed: logged. */
	r = ready(42, 0, &p_quick);
	cancel(42);
	CU_ASSERT(unit_log_has("run 42: ready -> done\n"));
	(void)r;
	sqlite3_commit_hook(state_db(agent.state), NULL, NULL);
	teardown();
}

/* ---- the transfer's state machine ---- */

/* The run asked for unicast, saying why, and waits for the answer. */
static void
asked_unicast(struct run *r, const char *why)
{
	const struct sent	*s = sent_last(CTL_RS_FALLBACK);

	CU_ASSERT_PTR_NOT_NULL_FATAL(s);
	CU_ASSERT_STRING_EQUAL(s->message, why);
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_ASKED);
	CU_ASSERT_EQUAL(r->recv_allow, RUN_RECV_USED);
	CU_ASSERT_EQUAL(r->rec->state, RUN_RECEIVING);
	CU_ASSERT_PTR_NULL(r->xr);
}

/*
 * No multicast session within the probe time: the receiver stops and
 * the agent asks for unicast (REPORT fallback, with why), once.
 */
static void
test_fallback_probe(void)
{
	struct run	*r;
	struct xrecv	*x;

	setup();
	r = receiving(50, 0, &p_quick);
	x = xr_last();
	CU_ASSERT_EQUAL(r->recv_allow, RUN_RECV_FRESH);
	ctx->fsm(r, RUN_EV_PROBE, NULL);
	CU_ASSERT(x->stopped && x->freed);
	asked_unicast(r, "no multicast arrived within 2 s after START");
	/* The same timer now waits for the server's answer. */
	CU_ASSERT(evtimer_pending(r->ev_probe, NULL));
	CU_ASSERT(unit_log_has("transfer joining/fresh -> asked/used"));
	teardown();
}

/* A multicast transfer that fails asks for unicast too, with its error. */
static void
test_fallback_failed_transfer(void)
{
	struct run	*r;
	struct xrecv	*x;

	setup();
	r = receiving(51, 0, &p_quick);
	x = xr_last();
	x->cb->locked(x->arg, 42, p_quick.size);
	x->cb->finished(x->arg, 0, "sender gone");
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_FAILED);
	loop_once();
	asked_unicast(r, "the multicast transfer failed: transfer of P1: "
	    "sender gone");
	teardown();
}

/*
 * Asked while offline: the request goes once the agent is online again;
 * the reroute wait expiring offline keeps it waiting for that.
 */
static void
test_fallback_offline(void)
{
	struct run	*r;

	setup();
	r = receiving(52, 0, &p_quick);
	fconn.online = 0;
	ctx->fsm(r, RUN_EV_PROBE, NULL);
	CU_ASSERT_PTR_NULL(sent_last(CTL_RS_FALLBACK));
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_ASKING);
	CU_ASSERT(unit_log_has("offline; asking for unicast once connected"));
	fconn.online = 1;
	run_online(ctx);
	CU_ASSERT_PTR_NOT_NULL(sent_last(CTL_RS_FALLBACK));
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_ASKED);
	/* The answer may have been lost with the connection: ask again. */
	fconn.online = 0;
	ctx->fsm(r, RUN_EV_REROUTE_LATE, NULL);
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_ASKING);
	CU_ASSERT_EQUAL(r->rec->state, RUN_RECEIVING);
	teardown();
}

/* Online, the server did not move the package in time: the run fails. */
static void
test_reroute_late(void)
{
	struct run	*r;

	setup();
	r = receiving(53, 0, &p_quick);
	ctx->fsm(r, RUN_EV_PROBE, NULL);
	ctx->fsm(r, RUN_EV_REROUTE_LATE, NULL);
	CU_ASSERT_EQUAL(r->rec->state, RUN_FINISHED);
	CU_ASSERT_PTR_NOT_NULL_FATAL(sent_last(CTL_RS_FAILED));
	CU_ASSERT(strstr(sent_last(CTL_RS_FAILED)->message, "the server did "
	    "not move it to unicast within 30 s") != NULL);
	teardown();
}

/*
 * The server's answer: ASSIGN for the unicast path, stored before it is
 * taken, then START on it.  A START lost with the connection: the agent
 * joins the unicast session once online again.
 */
static void
test_reroute(void)
{
	struct run	*r;
	struct run_rec	*rec;
	char		 err[512];
	size_t		 n;

	setup();
	r = receiving(54, 0, &p_quick);
	ctx->fsm(r, RUN_EV_PROBE, NULL);
	n = nreceivers;
	run_message(ctx, assign(54, CTL_PATH_UNICAST, "192.0.2.10", 6000, 0,
	    &p_quick));
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_REROUTED);
	CU_ASSERT_EQUAL(r->rec->path, CTL_PATH_UNICAST);
	CU_ASSERT(unit_log_has("run 54: the server moves the transfer to unicast "
	    "192.0.2.10:6000"));
	CU_ASSERT_FATAL(state_run_load(agent.state, 54, &rec, err,
	    sizeof(err)) == 0 && rec != NULL);
	CU_ASSERT_EQUAL(rec->path, CTL_PATH_UNICAST);
	CU_ASSERT_STRING_EQUAL(rec->addr, "192.0.2.10");
	CU_ASSERT_EQUAL(rec->port, 6000);
	state_run_free(rec);
	CU_ASSERT_EQUAL(nreceivers, n);		/* START takes it there */
	start(54, 0);
	CU_ASSERT_EQUAL(nreceivers, n + 1);
	CU_ASSERT_EQUAL(xr_last()->port, 6000);
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_JOINING);
	/* Asked once already: no probe, no second request. */
	CU_ASSERT(!evtimer_pending(r->ev_probe, NULL));

	/* Another run: moved, but its START never came. */
	r = receiving(55, 0, &p_quick);
	ctx->fsm(r, RUN_EV_PROBE, NULL);
	run_message(ctx, assign(55, CTL_PATH_UNICAST, "192.0.2.10", 6001, 0,
	    &p_quick));
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_REROUTED);
	n = nreceivers;
	run_offline(ctx);
	run_online(ctx);
	CU_ASSERT(unit_log_has("run 55: package P1: online again; joining the "
	    "unicast session"));
	CU_ASSERT_EQUAL(nreceivers, n + 1);
	CU_ASSERT_EQUAL(xr_last()->port, 6001);
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_JOINING);
	teardown();
}

/*
 * An agent restarted in the middle of a unicast transfer resumes it, and
 * may ask for a new session once when none is there (the server ended
 * it); the server's answer is the same path, then START.
 */
static void
test_resumed(void)
{
	struct run	*r;

	setup();
	stop_agent();
	store_run(60, RUN_RECEIVING, CTL_PATH_UNICAST, "192.0.2.10", 6002,
	    &p_quick);
	nsent = 0;
	ctx = agent.runs = run_init(&agent);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r = run_of(60));
	CU_ASSERT(unit_log_has("run 60: resuming the transfer of P1 (unicast "
	    "192.0.2.10:6002)"));
	CU_ASSERT_EQUAL(r->rec->state, RUN_RECEIVING);
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_JOINING);
	CU_ASSERT_EQUAL(r->recv_allow, RUN_RECV_RESUMED);
	CU_ASSERT_EQUAL(xr_last()->port, 6002);
	CU_ASSERT(evtimer_pending(r->ev_probe, NULL));
	ctx->fsm(r, RUN_EV_PROBE, NULL);
	asked_unicast(r, "no unicast session arrived within 2 s after the "
	    "agent restarted");
	/* The same path again is the answer: the reroute wait is over. */
	run_message(ctx, assign(60, CTL_PATH_UNICAST, "192.0.2.10", 6002, 0,
	    &p_quick));
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_REROUTED);
	CU_ASSERT(!evtimer_pending(r->ev_probe, NULL));
	start(60, 0);
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_JOINING);
	CU_ASSERT(!evtimer_pending(r->ev_probe, NULL));
	/* Once: a probe now has nothing to ask. */
	ctx->fsm(r, RUN_EV_PROBE, NULL);
	CU_ASSERT_EQUAL(r->recv, RUN_RECV_JOINING);
	teardown();
}

/* A restart on multicast: the package may still fall back (once). */
static void
test_resumed_multicast(void)
{
	struct run	*r;

	setup();
	stop_agent();
	store_run(61, RUN_RECEIVING, CTL_PATH_MULTICAST, "239.192.0.1", 5000,
	    &p_quick);
	ctx = agent.runs = run_init(&agent);
	CU_ASSERT_PTR_NOT_NULL_FATAL(r = run_of(61));
	CU_ASSERT_EQUAL(r->recv_allow, RUN_RECV_RESUMED);
	ctx->fsm(r, RUN_EV_PROBE, NULL);
	asked_unicast(r, "no multicast arrived within 2 s after START");
	teardown();
}

int
main(void)
{
	CU_TestInfo	tests[] = {
		{ "ASSIGN: READY reported", test_assign_ready },
		{ "ASSIGN refused: ERROR", test_assign_refused },
		{ "START: RECEIVING", test_start_receiving },
		{ "START for another package", test_start_wrong_package },
		{ "START for a delivered package", test_start_delivered_package },
		{ "finished, DONE on sync", test_finished_done_on_sync },
		{ "finished offline, reported online", test_finished_offline },
		{ "cancel: assigned, ready, receiving", test_cancel_early },
		{ "cancel: delivered, queued, running, finished",
		    test_cancel_late },
		{ "ignored events logged by name", test_ignored_logged },
		{ "transitions logged after commit",
		    test_state_logged_after_commit },
		{ "fallback: probe", test_fallback_probe },
		{ "fallback: failed transfer", test_fallback_failed_transfer },
		{ "fallback: offline", test_fallback_offline },
		{ "fallback: no reroute in time", test_reroute_late },
		{ "reroute to unicast", test_reroute },
		{ "resumed on unicast", test_resumed },
		{ "resumed on multicast", test_resumed_multicast },
		CU_TEST_INFO_NULL,
	};
	const char	*tmp = getenv("TMPDIR");
	int		 rv;

	snprintf(pkgdir, sizeof(pkgdir), "%s/test_run.pkg.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(pkgdir) == NULL) {
		perror(pkgdir);
		return (1);
	}
	/* The agent's log goes to the file the tests read. */
	if (unit_log_capture("test_run") == -1)
		return (1);
	rv = unit_main("run", tests);
	(void)unit_tmpdir_remove();
	(void)pkg_remove_tree(pkgdir);
	return (rv);
}
