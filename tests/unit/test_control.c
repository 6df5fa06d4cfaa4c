/*
 * Tests for the state machine of an agent's connection to the server
 * (server/control.c), seen through its control_cb with fake callbacks and
 * without the network.  control.c is included here so that the static
 * control_conn_fsm can be fed decoded messages directly; a connection's
 * bufferevent has no socket, so what the server sends stays in its output
 * buffer, where the test reads it back; and the TLS handshake is stood in
 * for by the certificate name and fingerprint it would have found.  HELLO
 * with the pinned certificate goes online and says so once (HELLO and
 * ENROLL that break a rule are refused and go nowhere), a heartbeat
 * after a new boot id is a start (once), REPORT goes up, an out-of-order
 * message or the agent's ERROR takes the machine offline, a newer
 * connection of a machine replaces the older one, and input that does
 * not decode closes the connection.
 */
#include "control.c"

#include <unistd.h>

#include "unit.h"
#include "unit_log.h"
#include "unit_tmp.h"

#define FP_CSR	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define FP_CERT	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define MAX_HEARD	16

static struct event_base	*base;
static struct server		 srv;
static struct control		 ctl;

/* What the fake callbacks were told, in order: "online vm1", ... */
static char	heard[MAX_HEARD][64];
static int	nheard;

static void
heard_add(const char *what, const char *name)
{
	if (nheard < MAX_HEARD)
		snprintf(heard[nheard++], sizeof(heard[0]), "%s %s", what,
		    name);
}

static void
fake_online(void *arg, const char *name)
{
	heard_add("online", name);
}

static void
fake_offline(void *arg, const char *name)
{
	heard_add("offline", name);
}

static void
fake_report(void *arg, const char *name, const struct ctl_msg *m)
{
	char	what[32];

	snprintf(what, sizeof(what), "report %llu",
	    (unsigned long long)m->u.report.run_id);
	heard_add(what, name);
}

static void
fake_started(void *arg, const char *name)
{
	heard_add("started", name);
}

static int
fake_on_segment(void *arg, const char *addr, char *why, size_t len)
{
	snprintf(why, len, "%s: the test's segment", addr);
	return (1);
}

static const struct control_cb fake_cb = {
	fake_online,
	fake_offline,
	fake_report,
	fake_started,
	fake_on_segment,
};

/* A fresh inventory where vm1 and vm2 are enrolled with FP_CERT. */
static void
setup(void)
{
	char	err[512];

	CU_ASSERT_FATAL(unit_tmpdir("test_control") == 0);
	memset(&srv, 0, sizeof(srv));
	CU_ASSERT_PTR_NOT_NULL_FATAL(base = event_base_new());
	srv.base = base;
	srv.heartbeat = 10;
	srv.db = db_open(unit_path("fleetcast.db"), err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(srv.db);
	CU_ASSERT(db_machine_request(srv.db, "vm1", "CSR", FP_CSR,
	    "192.0.2.1", 1) == 0);
	CU_ASSERT(db_machine_enrolled(srv.db, "vm1", FP_CERT, 2) == 0);
	CU_ASSERT(db_machine_request(srv.db, "vm2", "CSR", FP_CSR,
	    "192.0.2.2", 1) == 0);
	CU_ASSERT(db_machine_enrolled(srv.db, "vm2", FP_CERT, 2) == 0);
	memset(&ctl, 0, sizeof(ctl));
	ctl.srv = &srv;
	ctl.cb = fake_cb;
	ctl.arg = &srv;
	TAILQ_INIT(&ctl.conns);
	nheard = 0;
}

static void
teardown(void)
{
	struct control_conn	*c;

	while ((c = TAILQ_FIRST(&ctl.conns)) != NULL)
		control_conn_free(c);
	db_close(srv.db);
	event_base_free(base);
	CU_ASSERT(unit_tmpdir_remove() == 0);
}

/* A connection past its TLS handshake, with the certificate of cn. */
static struct control_conn *
fake_conn(const char *cn)
{
	struct control_conn	*c;

	c = xcalloc(1, sizeof(*c));
	c->ctl = &ctl;
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->bev = bufferevent_socket_new(base, -1,
	    0));
	/*
	 * No socket to wait on: nothing is ever written or read.  The test
	 * plays the socket, so it may take from the output's start and add
	 * at the input's end, which libevent otherwise keeps to itself.
	 */
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	evbuffer_unfreeze(bufferevent_get_output(c->bev), 1);
	evbuffer_unfreeze(bufferevent_get_input(c->bev), 0);
	snprintf(c->addr, sizeof(c->addr), "192.0.2.1");
	snprintf(c->segment, sizeof(c->segment), "local");
	TAILQ_INSERT_TAIL(&ctl.conns, c, entry);
	c->state = CONTROL_CONN_HANDSHAKE;
	if (cn != NULL) {
		c->has_cert = 1;
		snprintf(c->cn, sizeof(c->cn), "%s", cn);
		snprintf(c->fp, sizeof(c->fp), "%s", FP_CERT);
	}
	control_conn_set_state(c, CONTROL_CONN_NEW);
	return (c);
}

/* The code of the last ERROR that sent() read. */
static int	sent_code;

/* The type of the next message the server sent on c; -1 if none. */
static int
sent(struct control_conn *c)
{
	struct ctl_msg	m;
	char		err[256];
	int		type;

	if (ctl_read(bufferevent_get_output(c->bev), CTL_MAX_FRAME, &m, err,
	    sizeof(err)) != 1)
		return (-1);
	type = (int)m.type;
	if (m.type == CTL_ERROR)
		sent_code = m.u.error.code;
	ctl_msg_free(&m);
	return (type);
}

/* c was refused: it was sent an ERROR with code and is closing. */
static void
refused(struct control_conn *c, int code)
{
	CU_ASSERT_EQUAL(c->state, CONTROL_CONN_CLOSING);
	CU_ASSERT_EQUAL(sent(c), CTL_ERROR);
	CU_ASSERT_EQUAL(sent_code, code);
}

/*
 * Feed c a message of type: HELLO (name, boot id), ENROLL (name, token,
 * a CSR that is none) or one without fields, such as HEARTBEAT.
 */
static void
say_version(struct control_conn *c, enum ctl_type type, const char *name,
    const char *arg, const char *version)
{
	struct ctl_msg	m;

	/* On the heap, as ctl_decode leaves them: the server may swap them. */
	memset(&m, 0, sizeof(m));
	m.type = type;
	switch (type) {
	case CTL_HELLO:
		m.u.hello.name = xstrdup(name);
		m.u.hello.version = xstrdup(version);
		m.u.hello.boot_id = xstrdup(arg);
		break;
	case CTL_ENROLL:
		m.u.enroll.name = xstrdup(name);
		m.u.enroll.token = xstrdup(arg);
		m.u.enroll.csr = xstrdup("not a CSR");
		break;
	case CTL_HEARTBEAT:
		/* arg: one fact, os.id=arg, as an agent's first beat has. */
		if (arg == NULL)
			break;
		m.u.heartbeat.has_facts = 1;
		m.u.heartbeat.nfacts = 1;
		m.u.heartbeat.facts = xcalloc(1, sizeof(*m.u.heartbeat.facts));
		m.u.heartbeat.facts[0].key = xstrdup("os.id");
		m.u.heartbeat.facts[0].value = xstrdup(arg);
		break;
	default:
		break;
	}
	control_conn_fsm(c, &m);
	ctl_msg_free(&m);
}

static void
say(struct control_conn *c, enum ctl_type type, const char *name,
    const char *arg)
{
	say_version(c, type, name, arg, "test");
}

static void
test_hello_online(void)
{
	struct control_conn	*c;

	setup();
	c = fake_conn("vm1");
	say(c, CTL_HELLO, "vm1", "boot-1");
	CU_ASSERT_EQUAL(c->state, CONTROL_CONN_ONLINE);
	CU_ASSERT(!control_conn_unauth(c));
	CU_ASSERT_EQUAL(sent(c), CTL_WELCOME);
	CU_ASSERT_EQUAL(nheard, 1);
	CU_ASSERT_STRING_EQUAL(heard[0], "online vm1");
	CU_ASSERT(control_online(&ctl, "vm1"));
	CU_ASSERT_STRING_EQUAL(control_address(&ctl, "vm1"), "192.0.2.1");
	CU_ASSERT_STRING_EQUAL(control_segment(&ctl, "vm1"), "local");
	CU_ASSERT_PTR_NULL(control_address(&ctl, "vm2"));
	/*
	 * The first heartbeat of a new boot that carries the facts is a
	 * start (automatic update judges on them); none before, none after.
	 */
	say(c, CTL_HEARTBEAT, NULL, NULL);
	CU_ASSERT_EQUAL(sent(c), CTL_HEARTBEAT_ACK);
	CU_ASSERT_EQUAL(nheard, 1);
	say(c, CTL_HEARTBEAT, NULL, "debian");
	CU_ASSERT_EQUAL(sent(c), CTL_HEARTBEAT_ACK);
	say(c, CTL_HEARTBEAT, NULL, "debian");
	CU_ASSERT_EQUAL(sent(c), CTL_HEARTBEAT_ACK);
	CU_ASSERT_EQUAL(nheard, 2);
	CU_ASSERT_STRING_EQUAL(heard[1], "started vm1");
	/* Leaving online in any way is going offline, once. */
	control_conn_free(c);
	CU_ASSERT_EQUAL(nheard, 3);
	CU_ASSERT_STRING_EQUAL(heard[2], "offline vm1");
	CU_ASSERT(!control_online(&ctl, "vm1"));
	teardown();
}

/* An agent's words reach the database and the log escaped. */
static void
test_hello_escaped(void)
{
	struct control_conn	*c;
	json_t			*o;
	const char		*v;

	setup();
	c = fake_conn("vm1");
	say_version(c, CTL_HELLO, "vm1", "boot\n1", "1.0\n\x1b[2J");
	CU_ASSERT_EQUAL_FATAL(c->state, CONTROL_CONN_ONLINE);
	o = db_machines_json(srv.db, "vm1");
	CU_ASSERT_PTR_NOT_NULL_FATAL(o);
	v = json_string_value(json_object_get(o, "agent_version"));
	CU_ASSERT(v != NULL && strcmp(v, "1.0\\n\\x1b[2J") == 0);
	v = json_string_value(json_object_get(o, "boot_id"));
	CU_ASSERT(v != NULL && strcmp(v, "boot\\n1") == 0);
	json_decref(o);
	control_conn_free(c);
	teardown();
}

static void
test_hello_refused(void)
{
	struct control_conn	*c;

	setup();
	/* Without a certificate, or as another name than its own. */
	c = fake_conn(NULL);
	say(c, CTL_HELLO, "vm1", "boot-1");
	refused(c, CTL_ERR_UNKNOWN_MACHINE);
	c = fake_conn("vm2");
	say(c, CTL_HELLO, "vm1", "boot-1");
	refused(c, CTL_ERR_UNKNOWN_MACHINE);
	/* A certificate that is not the pinned one. */
	c = fake_conn("vm1");
	snprintf(c->fp, sizeof(c->fp), "%s", FP_CSR);
	say(c, CTL_HELLO, "vm1", "boot-1");
	refused(c, CTL_ERR_UNKNOWN_MACHINE);
	/* None of them was online: nothing went up. */
	CU_ASSERT_EQUAL(nheard, 0);
	teardown();
}

static void
test_enroll_refused(void)
{
	struct control_conn	*c;

	setup();
	/* With a certificate, a peer says HELLO. */
	c = fake_conn("vm1");
	say(c, CTL_ENROLL, "vm1", "");
	refused(c, CTL_ERR_PROTOCOL);
	/*
	 * A name against the rule, a token of the old format (no id, no
	 * fingerprint) and one of this format the server never made, a CSR
	 * that is none.
	 */
	c = fake_conn(NULL);
	say(c, CTL_ENROLL, "-vm1", "");
	refused(c, CTL_ERR_ENROLL_REFUSED);
	c = fake_conn(NULL);
	say(c, CTL_ENROLL, "vm3", FP_CERT);
	refused(c, CTL_ERR_ENROLL_REFUSED);
	c = fake_conn(NULL);
	say(c, CTL_ENROLL, "vm3", "0123456789abcdef."
	    "0123456789abcdef0123456789abcdef");
	refused(c, CTL_ERR_ENROLL_REFUSED);
	c = fake_conn(NULL);
	say(c, CTL_ENROLL, "vm3", "");
	refused(c, CTL_ERR_ENROLL_REFUSED);
	CU_ASSERT_EQUAL(nheard, 0);
	teardown();
}

/*
 * Issue #12 finding 5: silent connections from one address are capped
 * there, and a full pool of handshakes makes room for a new one by closing
 * its oldest, so an enrolled agent's connection is always let in.
 */
static void
test_admit(void)
{
	struct control_conn	*c, *first = NULL;
	int			 i;
	char			 addr[32];

	setup();
	for (i = 0; i < CONTROL_MAX_PER_ADDR; i++) {
		CU_ASSERT_EQUAL(control_admit(&ctl, "192.0.2.66"), 0);
		c = fake_conn(NULL);
		snprintf(c->addr, sizeof(c->addr), "192.0.2.66");
		c->state = CONTROL_CONN_HANDSHAKE;
		if (first == NULL)
			first = c;
	}
	CU_ASSERT_EQUAL(control_admit(&ctl, "192.0.2.66"), -1);
	CU_ASSERT_EQUAL(ctl.drops[CONTROL_DROP_PER_ADDR], 1);
	/* Another address is let in; an online machine does not count. */
	CU_ASSERT_EQUAL(control_admit(&ctl, "192.0.2.1"), 0);
	first->state = CONTROL_CONN_ONLINE;
	first->was_online = 1;
	CU_ASSERT_EQUAL(control_admit(&ctl, "192.0.2.66"), 0);
	first->state = CONTROL_CONN_CLOSING;
	control_conn_free(first);
	/* A full handshake pool: its oldest gives way. */
	for (i = CONTROL_MAX_PER_ADDR - 1; i < CONTROL_MAX_HANDSHAKE; i++) {
		snprintf(addr, sizeof(addr), "198.51.%d.%d", i / 250, i % 250);
		CU_ASSERT_EQUAL(control_admit(&ctl, addr), 0);
		c = fake_conn(NULL);
		snprintf(c->addr, sizeof(c->addr), "%s", addr);
		c->state = CONTROL_CONN_HANDSHAKE;
	}
	first = TAILQ_FIRST(&ctl.conns);
	CU_ASSERT_EQUAL(ctl.drops[CONTROL_DROP_HANDSHAKE], 0);
	CU_ASSERT_EQUAL(control_admit(&ctl, "192.0.2.1"), 0);
	CU_ASSERT_EQUAL(ctl.drops[CONTROL_DROP_HANDSHAKE], 1);
	CU_ASSERT(TAILQ_FIRST(&ctl.conns) != first);
	teardown();
}

static void
test_report_and_errors(void)
{
	struct control_conn	*c;
	struct ctl_msg		 m;

	setup();
	/* Before HELLO, a heartbeat is out of order: closed, not offline. */
	c = fake_conn("vm1");
	say(c, CTL_HEARTBEAT, NULL, NULL);
	refused(c, CTL_ERR_PROTOCOL);
	CU_ASSERT_EQUAL(nheard, 0);
	/* Online, a REPORT goes up with the machine's name. */
	c = fake_conn("vm1");
	say(c, CTL_HELLO, "vm1", "boot-1");
	memset(&m, 0, sizeof(m));
	m.type = CTL_REPORT;
	m.u.report.run_id = 7;
	m.u.report.message = "";
	m.u.report.output = "";
	control_conn_fsm(c, &m);
	CU_ASSERT_EQUAL(c->state, CONTROL_CONN_ONLINE);
	/* ENROLL while online is a protocol error: offline. */
	say(c, CTL_ENROLL, "vm1", "");
	CU_ASSERT_EQUAL(c->state, CONTROL_CONN_CLOSING);
	CU_ASSERT_EQUAL(nheard, 3);
	CU_ASSERT_STRING_EQUAL(heard[0], "online vm1");
	CU_ASSERT_STRING_EQUAL(heard[1], "report 7 vm1");
	CU_ASSERT_STRING_EQUAL(heard[2], "offline vm1");
	/* Closing, anything more is ignored. */
	say(c, CTL_HEARTBEAT, NULL, NULL);
	CU_ASSERT_EQUAL(c->state, CONTROL_CONN_CLOSING);
	CU_ASSERT_EQUAL(nheard, 3);
	/* The agent's own ERROR is going offline too. */
	c = fake_conn("vm2");
	say(c, CTL_HELLO, "vm2", "boot-2");
	memset(&m, 0, sizeof(m));
	m.type = CTL_ERROR;
	m.u.error.code = CTL_ERR_INTERNAL;
	m.u.error.message = "agent trouble";
	control_conn_fsm(c, &m);
	CU_ASSERT_EQUAL(c->state, CONTROL_CONN_CLOSING);
	CU_ASSERT_EQUAL(nheard, 5);
	CU_ASSERT_STRING_EQUAL(heard[4], "offline vm2");
	teardown();
}

static void
test_newest_wins(void)
{
	struct control_conn	*c, *d;

	setup();
	c = fake_conn("vm1");
	say(c, CTL_HELLO, "vm1", "boot-1");
	/* The same machine again: the old connection goes, then online. */
	d = fake_conn("vm1");
	say(d, CTL_HELLO, "vm1", "boot-1");
	CU_ASSERT_EQUAL(d->state, CONTROL_CONN_ONLINE);
	CU_ASSERT_PTR_EQUAL(TAILQ_FIRST(&ctl.conns), d);
	CU_ASSERT_PTR_NULL(TAILQ_NEXT(d, entry));
	CU_ASSERT_EQUAL(nheard, 3);
	CU_ASSERT_STRING_EQUAL(heard[0], "online vm1");
	CU_ASSERT_STRING_EQUAL(heard[1], "offline vm1");
	CU_ASSERT_STRING_EQUAL(heard[2], "online vm1");
	/* A heartbeat of the same boot is no start. */
	say(d, CTL_HEARTBEAT, NULL, NULL);
	CU_ASSERT_EQUAL(nheard, 3);
	/* At shutdown the machines are not "offline" by choice. */
	d->state = CONTROL_CONN_CLOSING;
	teardown();
	CU_ASSERT_EQUAL(nheard, 3);
}

static void
test_bad_input_closes(void)
{
	struct control_conn	*c;
	uint8_t			 junk[] = { 0, 0, 0, 3, 0xff, 0xff, 0xff };

	setup();
	c = fake_conn("vm1");
	say(c, CTL_HELLO, "vm1", "boot-1");
	/* A frame that does not decode: the connection is freed at once. */
	evbuffer_add(bufferevent_get_input(c->bev), junk, sizeof(junk));
	control_conn_read_cb(c->bev, c);
	CU_ASSERT_PTR_NULL(TAILQ_FIRST(&ctl.conns));
	CU_ASSERT_EQUAL(nheard, 2);
	CU_ASSERT_STRING_EQUAL(heard[1], "offline vm1");
	teardown();
}

/*
 * Two machines with one identity (a cloned VM): while the first is online
 * and heard from, the second is refused from its other address, saying
 * why; the first stays online.
 */
static void
test_clone_refused(void)
{
	struct control_conn	*c, *d;

	setup();
	srv.heartbeat = 10;
	c = fake_conn("vm1");
	say(c, CTL_HELLO, "vm1", "boot-1");
	CU_ASSERT_EQUAL_FATAL(c->state, CONTROL_CONN_ONLINE);
	c->heard = server_now_ms();
	d = fake_conn("vm1");
	snprintf(d->addr, sizeof(d->addr), "192.0.2.99");
	unit_log_reset();
	say(d, CTL_HELLO, "vm1", "boot-7");
	CU_ASSERT_NOT_EQUAL(d->state, CONTROL_CONN_ONLINE);
	CU_ASSERT_EQUAL(c->state, CONTROL_CONN_ONLINE);
	CU_ASSERT_EQUAL(nheard, 1);
	CU_ASSERT(unit_log_has("vm1 is online from 192.0.2.1 with the same "
	    "identity"));
	CU_ASSERT(unit_log_has("cloned VM"));
	teardown();
}

static CU_TestInfo tests[] = {
	{ "HELLO online, heartbeat start, offline", test_hello_online },
	{ "HELLO refused", test_hello_refused },
	{ "HELLO fields escaped", test_hello_escaped },
	{ "ENROLL refused", test_enroll_refused },
	{ "admission: per address, oldest handshake", test_admit },
	{ "REPORT, out of order, agent ERROR", test_report_and_errors },
	{ "the newest connection wins", test_newest_wins },
	{ "a clone elsewhere is refused", test_clone_refused },
	{ "bad input closes", test_bad_input_closes },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	if (unit_log_capture("test_control") == -1)
		return (1);
	return (unit_main("control", tests));
}
