/*
 * Tests for the life of the agent's connection to the server
 * (agent/agent_conn.c, agent_conn_fsm), on an agent that is already
 * enrolled: its certificate is signed here by a CA made with the server's
 * own server/ca.c, so enrollment itself stays out of these tests.  Over
 * loopback, against a scripted TLS peer that plays the server: connect,
 * the TLS handshake with the pinned CA (and the agent showing its
 * certificate), HELLO, WELCOME, heartbeats and their acknowledgements,
 * messages handed up, the server closing (offline, once, then a retry),
 * a server whose certificate another CA signed (refused, no online), a
 * refused connection (back-off doubling to its cap, jittered, logged
 * once).  Without the network, on a bufferevent with no socket whose
 * output the test reads back: each state's answer to what it does not
 * expect, missed heartbeats and the setup timeout.  agent_conn.c is
 * included here so that its static fsm and timers can be reached.
 */
#include "agent_conn.c"

#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "server.h"
#include "unit_log.h"
#include "unit_loop.h"
#include "unit_state.h"

/* ---- what the agent hears of, through its callbacks ---- */

static int		nonline, noffline, nsynced, nmessages;
static uint64_t		last_synced;
static enum ctl_type	last_message;

static void
cb_online(void *arg)
{
	nonline++;
}

static void
cb_offline(void *arg)
{
	noffline++;
}

static void
cb_synced(void *arg, uint64_t seq)
{
	nsynced++;
	last_synced = seq;
}

static void
cb_message(void *arg, const struct ctl_msg *m)
{
	nmessages++;
	last_message = m->type;
}

static const struct agent_conn_cb	cbs = {
	cb_online, cb_offline, cb_synced, cb_message,
};

/* ---- the scripted server ---- */

struct peer {
	int			 lfd;
	struct event		*ev_accept;
	SSL_CTX			*ctx;
	struct bufferevent	*bev;
	int			 naccepted;
	int			 welcome;	/* answer HELLO with WELCOME */
	int			 ack;		/* answer heartbeats */
	int			 nhello;
	int			 verified;	/* the agent showed a good cert */
	char			 hello_name[64];
	char			 hello_boot[64];
	int			 nbeats;
	int			 nbeats_facts;
	int			 nreports;
	int			 nclosed;
};

static struct event_base	*base;
static struct agent		 agent;
static struct ca		*ca, *ca_other;
static struct peer		 peer;

static void
peer_send(struct peer *p, const struct ctl_msg *m)
{
	char	err[256];

	CU_ASSERT_FATAL(p->bev != NULL);
	CU_ASSERT_FATAL(ctl_write(bufferevent_get_output(p->bev), m, err,
	    sizeof(err)) == 0);
}

static void
peer_read_cb(struct bufferevent *bev, void *arg)
{
	struct peer	*p = arg;
	struct ctl_msg	 m, a;
	char		 err[512];
	SSL		*ssl;

	while (ctl_read(bufferevent_get_input(bev), CTL_MAX_AGENT_FRAME, &m,
	    err, sizeof(err)) == 1) {
		memset(&a, 0, sizeof(a));
		switch (m.type) {
		case CTL_HELLO:
			p->nhello++;
			snprintf(p->hello_name, sizeof(p->hello_name), "%s",
			    m.u.hello.name);
			snprintf(p->hello_boot, sizeof(p->hello_boot), "%s",
			    m.u.hello.boot_id);
			ssl = bufferevent_openssl_get_ssl(bev);
			p->verified = SSL_get0_peer_certificate(ssl) != NULL &&
			    SSL_get_verify_result(ssl) == X509_V_OK;
			if (p->welcome) {
				a.type = CTL_WELCOME;
				a.u.welcome.version = "test";
				a.u.welcome.heartbeat = 1;
				peer_send(p, &a);
			}
			break;
		case CTL_HEARTBEAT:
			p->nbeats++;
			p->nbeats_facts += m.u.heartbeat.has_facts;
			if (p->ack) {
				a.type = CTL_HEARTBEAT_ACK;
				peer_send(p, &a);
			}
			break;
		case CTL_REPORT:
			p->nreports++;
			break;
		default:
			break;
		}
		ctl_msg_free(&m);
	}
}

static void
peer_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct peer	*p = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		bufferevent_free(bev);
		if (p->bev == bev)
			p->bev = NULL;
		p->nclosed++;
	}
}

static void
peer_accept_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct peer	*p = arg;
	SSL		*ssl;
	int		 s;

	if ((s = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1)
		return;
	p->naccepted++;
	if (p->bev != NULL)
		bufferevent_free(p->bev);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ssl = SSL_new(p->ctx));
	p->bev = bufferevent_openssl_socket_new(base, s, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE |
	    BEV_OPT_DEFER_CALLBACKS);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->bev);
	bufferevent_setcb(p->bev, peer_read_cb, NULL, peer_event_cb, p);
	bufferevent_enable(p->bev, EV_READ | EV_WRITE);
}

/* A server on 127.0.0.1 with the certificate of c; its port. */
static uint16_t
peer_listen(struct peer *p, struct ca *c)
{
	struct sockaddr_in	sin;
	socklen_t		len = sizeof(sin);
	char			err[512];

	memset(p, 0, sizeof(*p));
	p->welcome = p->ack = 1;
	CU_ASSERT_PTR_NOT_NULL_FATAL(p->ctx = ca_server_ctx(c, err,
	    sizeof(err)));
	p->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	CU_ASSERT_FATAL(p->lfd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(p->lfd, (struct sockaddr *)&sin,
	    sizeof(sin)) == 0);
	CU_ASSERT_FATAL(listen(p->lfd, 8) == 0);
	CU_ASSERT_FATAL(getsockname(p->lfd, (struct sockaddr *)&sin,
	    &len) == 0);
	p->ev_accept = event_new(base, p->lfd, EV_READ | EV_PERSIST,
	    peer_accept_cb, p);
	CU_ASSERT_FATAL(event_add(p->ev_accept, NULL) == 0);
	return (ntohs(sin.sin_port));
}

static void
peer_close(struct peer *p)
{
	if (p->bev != NULL)
		bufferevent_free(p->bev);
	p->bev = NULL;
	if (p->ev_accept != NULL)
		event_free(p->ev_accept);
	p->ev_accept = NULL;
	if (p->lfd > 0)
		close(p->lfd);
	p->lfd = -1;
	SSL_CTX_free(p->ctx);
	p->ctx = NULL;
}

/* ---- the agent ---- */

static const struct conf_def defs[] = {
	{ "server", CONF_HOSTPORT, NULL, 0, 0, NULL },
	{ "enroll_token", CONF_STRING, NULL, 0, 0, NULL },
	{ "server_fingerprint", CONF_STRING, NULL, 0, 0, NULL },
	{ NULL, CONF_STRING, NULL, 0, 0, NULL },
};

static void
write_text(const char *path, const char *text)
{
	char	err[512];

	CU_ASSERT_FATAL(atomic_write_file(path, text, strlen(text), 0644, err,
	    sizeof(err)) == 0);
}

/*
 * A fresh agent state (unit_dir) talking to 127.0.0.1:port, enrolled
 * with a certificate of ca: its key is made by a first agent_conn_new,
 * the certificate signed for its request and stored where a CERT would
 * have put it, so that the connection the test gets starts with HELLO.
 */
static struct agent_conn *
agent_setup(uint16_t port)
{
	struct agent_conn	*c;
	char			 hp[64], err[512], fp[65], *csr, *pem;

	nonline = noffline = nsynced = nmessages = 0;
	last_synced = 0;
	memset(&agent, 0, sizeof(agent));
	agent.base = base;
	agent.state = unit_state_fresh("test_agent_conn");
	agent.conf = conf_new(defs);
	snprintf(hp, sizeof(hp), "127.0.0.1:%u", port);
	CU_ASSERT_FATAL(conf_set(agent.conf, "server", hp, "test", err,
	    sizeof(err)) == 0);
	agent.name = "vm1";
	agent.boot_id = "boot-A";
	facts_init(&agent.facts);
	CU_ASSERT_FATAL(facts_set(&agent.facts, "os.id", "debian") == 0);
	err[0] = '\0';
	c = agent_conn_new(&agent, &cbs, NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NULL(c->cert);
	CU_ASSERT_PTR_NOT_NULL_FATAL(csr = agent_conn_make_csr(c));
	agent_conn_free(c);
	CU_ASSERT_FATAL(ca_sign_csr(ca, "vm1", csr, &pem, fp, err,
	    sizeof(err)) == 0);
	write_text(unit_path("ca.crt"), ca_cert_pem(ca));
	write_text(unit_path("agent.crt"), pem);
	free(csr);
	free(pem);
	c = agent_conn_new(&agent, &cbs, NULL, err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(c);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->cert);
	agent.conn = c;
	unit_log_reset();
	return (c);
}

static void
agent_teardown(struct agent_conn *c)
{
	agent_conn_free(c);
	agent.conn = NULL;
	state_close(agent.state);
	conf_free(agent.conf);
	facts_free(&agent.facts);
	unit_log_dump();
}

struct count_want {
	const int	*n;
	int		 want;
};

static int
count_reached(void *arg)
{
	struct count_want	*cw = arg;

	return (*cw->n >= cw->want);
}

/* Run the loop until *n reaches want (1) or ms have passed (0). */
static int
loop_until(const int *n, int want, int ms)
{
	struct count_want	cw = { n, want };

	return (unit_loop_until(base, count_reached, &cw, ms));
}

/* Seconds until the retry timer fires, -1 when it is not armed. */
static double
retry_in(struct agent_conn *c)
{
	struct timeval	at, now;

	/*
	 * libevent gives the time on the wall clock, converted with the
	 * offset of its last loop: a few milliseconds off at worst.
	 */
	if (!evtimer_pending(c->ev_retry, &at))
		return (-1);
	gettimeofday(&now, NULL);
	return ((double)(at.tv_sec - now.tv_sec) +
	    (double)(at.tv_usec - now.tv_usec) / 1e6);
}

/* ---- over loopback ---- */

/*
 * Connect, handshake with the pinned CA, HELLO, WELCOME: online, once;
 * heartbeats (the first with the facts) and their acks go up as synced;
 * messages go up; the server closing is offline, once, and the agent
 * comes back by itself.
 */
static void
test_online_lifecycle(void)
{
	struct agent_conn	*c;
	struct ctl_msg		 m;
	uint64_t		 seq;
	int			 beats;

	c = agent_setup(peer_listen(&peer, ca));
	CU_ASSERT(!agent_conn_is_online(c));
	agent_conn_start(c);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_CONNECTING);
	CU_ASSERT(evtimer_pending(c->ev_setup, NULL));
	CU_ASSERT_FATAL(loop_until(&nonline, 1, 5000));
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_ONLINE);
	CU_ASSERT(agent_conn_is_online(c));
	CU_ASSERT(!evtimer_pending(c->ev_setup, NULL));
	CU_ASSERT(evtimer_pending(c->ev_beat, NULL));
	CU_ASSERT_EQUAL(peer.nhello, 1);
	CU_ASSERT_STRING_EQUAL(peer.hello_name, "vm1");
	CU_ASSERT_STRING_EQUAL(peer.hello_boot, "boot-A");
	CU_ASSERT(peer.verified);
	CU_ASSERT(unit_log_has("conn: idle -> connecting\n"));
	CU_ASSERT(unit_log_has("conn: connecting -> hello\n"));
	CU_ASSERT(unit_log_has("conn: hello -> online\n"));
	/* The first heartbeat carries the facts, and is acknowledged. */
	CU_ASSERT_FATAL(loop_until(&nsynced, 1, 3000));
	CU_ASSERT_EQUAL(last_synced, 1);
	CU_ASSERT(peer.nbeats >= 1);
	CU_ASSERT_EQUAL(peer.nbeats_facts, 1);
	/* A sync is acknowledged with its own number. */
	seq = agent_conn_sync(c);
	CU_ASSERT(seq > 1);
	while (last_synced < seq && loop_until(&nsynced, nsynced + 1, 3000))
		;
	CU_ASSERT_EQUAL(last_synced, seq);
	/* What the runs send goes out; what the server says comes up. */
	memset(&m, 0, sizeof(m));
	m.type = CTL_REPORT;
	m.u.report.run_id = 7;
	m.u.report.state = CTL_RS_READY;
	m.u.report.message = m.u.report.output = "";
	CU_ASSERT(agent_conn_send(c, &m) == 0);
	memset(&m, 0, sizeof(m));
	m.type = CTL_START;
	m.u.start.run_id = 7;
	m.u.start.session = 0x77;
	peer_send(&peer, &m);
	CU_ASSERT_FATAL(loop_until(&nmessages, 1, 3000));
	CU_ASSERT_EQUAL(last_message, CTL_START);
	CU_ASSERT_FATAL(loop_until(&peer.nreports, 1, 3000));
	/* The server goes: offline once, nothing goes out, a retry. */
	beats = peer.nbeats;
	/* A clean end: close_notify (the socket takes it at once), close. */
	(void)SSL_shutdown(bufferevent_openssl_get_ssl(peer.bev));
	bufferevent_free(peer.bev);
	peer.bev = NULL;
	CU_ASSERT_FATAL(loop_until(&noffline, 1, 3000));
	CU_ASSERT_EQUAL(noffline, 1);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_IDLE);
	CU_ASSERT(!agent_conn_is_online(c));
	CU_ASSERT(agent_conn_send(c, &m) == -1);
	CU_ASSERT_EQUAL(agent_conn_sync(c), 0);
	CU_ASSERT(!evtimer_pending(c->ev_beat, NULL));
	CU_ASSERT(retry_in(c) > 0 && retry_in(c) <= 1.05);
	CU_ASSERT(unit_log_has("closed by the server; retrying"));
	/* ... and it comes back by itself. */
	CU_ASSERT_FATAL(loop_until(&nonline, 2, 5000));
	CU_ASSERT_EQUAL(peer.naccepted, 2);
	CU_ASSERT_EQUAL(peer.nhello, 2);
	CU_ASSERT_EQUAL(noffline, 1);
	CU_ASSERT(peer.nbeats >= beats);
	agent_teardown(c);
	peer_close(&peer);
}

/* The connection attempt under way has failed. */
static int
is_idle_again(void *arg)
{
	struct agent_conn	*c = arg;

	return (c->state == AGENT_CONN_IDLE && c->bev == NULL);
}

static int
loop_until_down(struct agent_conn *c, int ms)
{
	return (unit_loop_until(base, is_idle_again, c, ms));
}

/*
 * A server whose certificate does not chain to the pinned CA: the
 * handshake fails, the agent says why and what to do, and retries; it
 * never went online, so it never goes offline either.
 */
static void
test_handshake_refused(void)
{
	struct agent_conn	*c;

	c = agent_setup(peer_listen(&peer, ca_other));
	/* The impostor takes any client: only the agent's check stops it. */
	SSL_CTX_set_verify(peer.ctx, SSL_VERIFY_NONE, NULL);
	agent_conn_start(c);
	CU_ASSERT_FATAL(loop_until_down(c, 5000));
	CU_ASSERT(peer.naccepted >= 1);
	CU_ASSERT_EQUAL(peer.nhello, 0);
	CU_ASSERT_EQUAL(nonline, 0);
	CU_ASSERT_EQUAL(noffline, 0);
	CU_ASSERT(retry_in(c) > 0);
	CU_ASSERT(unit_log_has("the server's certificate does not chain to "
	    "the pinned CA"));
	CU_ASSERT(unit_log_has("remove "));
	agent_teardown(c);
	peer_close(&peer);
}

/*
 * Nobody listens: each failure doubles the wait up to its cap, within a
 * fifth of it either way at random (agent_conn_retry_later), and the
 * failure is logged once (then as a debug line) until the agent was
 * online again.
 */
static void
test_backoff(void)
{
	struct agent_conn	*c;
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof(sin);
	unsigned		 want[] = { 1, 2, 4, 8, 16, 30, 30 };
	const char		*text, *p;
	double			 in;
	size_t			 i, n;
	int			 fd;

	/* A port that was free a moment ago, and is closed now. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	CU_ASSERT_FATAL(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	CU_ASSERT_FATAL(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	close(fd);
	c = agent_setup(ntohs(sin.sin_port));
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		/* Rather than wait for the timer: its callback's event. */
		evtimer_del(c->ev_retry);
		agent_conn_fsm(c, AGENT_CONN_EV_START, NULL);
		CU_ASSERT_FATAL(loop_until_down(c, 5000));
		in = retry_in(c);
		CU_ASSERT(in >= want[i] * 0.8 - 0.05);
		CU_ASSERT(in <= want[i] * 1.2 + 0.05);
	}
	CU_ASSERT_EQUAL(c->backoff, AGENT_CONN_BACKOFF_MAX);
	text = unit_log_text();
	for (n = 0, p = text; (p = strstr(p, "; retrying")) != NULL; p++)
		n++;
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(nonline + noffline, 0);
	agent_teardown(c);
}

/* ---- without the network ---- */

/* A connection as after connect, on a bufferevent without a socket. */
static void
fake_connecting(struct agent_conn *c)
{
	c->bev = bufferevent_socket_new(base, -1, 0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->bev);
	/*
	 * Nothing is ever written: the test reads what the agent sends
	 * from the output's start, which libevent otherwise keeps frozen.
	 */
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	evbuffer_unfreeze(bufferevent_get_output(c->bev), 1);
	agent_conn_set_state(c, AGENT_CONN_CONNECTING);
}

/* What the agent wrote since the last look: "HELLO HEARTBEAT". */
static const char *
sent_types(struct agent_conn *c)
{
	static char	buf[256];
	struct ctl_msg	m;
	char		err[256];
	size_t		len;

	buf[0] = '\0';
	while (ctl_read(bufferevent_get_output(c->bev), CTL_MAX_FRAME, &m,
	    err, sizeof(err)) == 1) {
		len = strlen(buf);
		snprintf(buf + len, sizeof(buf) - len, "%s%s", len > 0 ? " " :
		    "", ctl_strtype(m.type));
		ctl_msg_free(&m);
	}
	return (buf);
}

static void	feed(struct agent_conn *, enum ctl_type);

/* ... past the handshake, HELLO sent; and past WELCOME. */
static void
fake_hello(struct agent_conn *c)
{
	fake_connecting(c);
	agent_conn_fsm(c, AGENT_CONN_EV_CONNECTED, NULL);
	CU_ASSERT_EQUAL_FATAL(c->state, AGENT_CONN_HELLO);
}

static void
fake_online(struct agent_conn *c)
{
	fake_hello(c);
	feed(c, CTL_WELCOME);
	CU_ASSERT_EQUAL_FATAL(c->state, AGENT_CONN_ONLINE);
}

static void
feed(struct agent_conn *c, enum ctl_type type)
{
	struct ctl_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	switch (type) {
	case CTL_WELCOME:
		m.u.welcome.version = "test";
		m.u.welcome.heartbeat = 10;
		break;
	case CTL_ERROR:
		m.u.error.code = CTL_ERR_PROTOCOL;
		m.u.error.message = "you are wrong";
		break;
	default:
		break;
	}
	agent_conn_fsm(c, AGENT_CONN_EV_MESSAGE, &m);
}

/* Connected: HELLO; WELCOME: online, a heartbeat; acks, then messages. */
static void
test_fsm_hello_online(void)
{
	struct agent_conn	*c = agent_setup(1);

	fake_connecting(c);
	agent_conn_fsm(c, AGENT_CONN_EV_CONNECTED, NULL);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_HELLO);
	CU_ASSERT_STRING_EQUAL(sent_types(c), "HELLO");
	/* A second START while connected does not connect again. */
	agent_conn_fsm(c, AGENT_CONN_EV_START, NULL);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_HELLO);
	feed(c, CTL_WELCOME);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_ONLINE);
	CU_ASSERT_EQUAL(nonline, 1);
	CU_ASSERT_EQUAL(c->heartbeat, 10);
	CU_ASSERT_STRING_EQUAL(sent_types(c), "HEARTBEAT");
	CU_ASSERT_EQUAL(agent.facts_dirty, 0);
	feed(c, CTL_HEARTBEAT_ACK);
	CU_ASSERT_EQUAL(nsynced, 1);
	CU_ASSERT_EQUAL(last_synced, 1);
	/* An ack for nothing sent is not passed on. */
	feed(c, CTL_HEARTBEAT_ACK);
	CU_ASSERT_EQUAL(nsynced, 1);
	feed(c, CTL_ASSIGN);
	feed(c, CTL_CANCEL);
	CU_ASSERT_EQUAL(nmessages, 2);
	CU_ASSERT_EQUAL(last_message, CTL_CANCEL);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_ONLINE);
	CU_ASSERT_EQUAL(noffline, 0);
	agent_teardown(c);
}

/*
 * What a state does not expect closes the connection and arms the retry;
 * only a connection that was online tells the agent it went offline.
 */
static void
test_fsm_unexpected(void)
{
	struct agent_conn	*c = agent_setup(1);

	fake_connecting(c);
	feed(c, CTL_WELCOME);		/* before the handshake ended */
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_IDLE);
	CU_ASSERT_PTR_NULL(c->bev);
	CU_ASSERT(retry_in(c) > 0);
	CU_ASSERT(unit_log_has("WELCOME is not expected in state "
	    "connecting"));

	fake_hello(c);
	feed(c, CTL_ASSIGN);		/* before WELCOME */
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_IDLE);
	CU_ASSERT(unit_log_has("ASSIGN is not expected in state hello"));
	CU_ASSERT_EQUAL(nmessages, 0);

	fake_hello(c);
	feed(c, CTL_ERROR);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_IDLE);
	CU_ASSERT(unit_log_has("server error 1: you are wrong"));
	CU_ASSERT_EQUAL(noffline, 0);

	fake_online(c);
	CU_ASSERT_EQUAL(nonline, 1);
	feed(c, CTL_WELCOME);		/* again */
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_IDLE);
	CU_ASSERT(unit_log_has("WELCOME is not expected in state online"));
	CU_ASSERT_EQUAL(noffline, 1);

	fake_online(c);
	agent_conn_fsm(c, AGENT_CONN_EV_CONNECTED, NULL);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_IDLE);
	CU_ASSERT(unit_log_has("unexpected event in state online"));
	CU_ASSERT_EQUAL(noffline, 2);
	/* Idle, a message (one the closed connection left) changes nothing. */
	feed(c, CTL_START);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_IDLE);
	CU_ASSERT_EQUAL(nmessages, 0);
	agent_teardown(c);
}

/*
 * The timers: a connection that does not get to WELCOME in time, and an
 * online one whose heartbeats go unanswered, are given up and retried.
 */
static void
test_fsm_timers(void)
{
	struct agent_conn	*c = agent_setup(1);
	int			 i;

	fake_hello(c);
	agent_conn_setup_cb(-1, EV_TIMEOUT, c);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_IDLE);
	CU_ASSERT(unit_log_has("no answer within 10 s (hello)"));
	CU_ASSERT(retry_in(c) > 0);
	CU_ASSERT_EQUAL(noffline, 0);

	fake_online(c);
	CU_ASSERT_EQUAL(c->beat_sent - c->beat_acked, 1);
	/* Two more beats unanswered are still alive, the third is not. */
	for (i = 0; i < AGENT_CONN_MISSED_BEATS - 1; i++) {
		agent_conn_beat_cb(-1, EV_TIMEOUT, c);
		CU_ASSERT_EQUAL(c->state, AGENT_CONN_ONLINE);
	}
	CU_ASSERT_EQUAL(c->beat_sent - c->beat_acked, 3);
	agent_conn_beat_cb(-1, EV_TIMEOUT, c);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_IDLE);
	CU_ASSERT(unit_log_has("no answer to heartbeats for 30 s"));
	CU_ASSERT_EQUAL(noffline, 1);
	/* Back online resets the back-off: the retry comes soon. */
	CU_ASSERT(retry_in(c) > 0 && retry_in(c) <= 1.05);

	/*
	 * The beats that follow reports (agent_conn_sync) are not periods:
	 * eight of them unanswered, then a period, is alive (CI's
	 * agent_cap.sh went offline so, and the reports sent just before
	 * were lost); an ack in a period keeps it alive; the periods after
	 * the last ack count.
	 */
	fake_online(c);
	for (i = 0; i < 8; i++)
		CU_ASSERT(agent_conn_sync(c) > 0);
	agent_conn_beat_cb(-1, EV_TIMEOUT, c);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_ONLINE);
	feed(c, CTL_HEARTBEAT_ACK);
	agent_conn_beat_cb(-1, EV_TIMEOUT, c);
	agent_conn_beat_cb(-1, EV_TIMEOUT, c);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_ONLINE);
	feed(c, CTL_HEARTBEAT_ACK);
	for (i = 0; i < AGENT_CONN_MISSED_BEATS - 1; i++) {
		agent_conn_beat_cb(-1, EV_TIMEOUT, c);
		CU_ASSERT_EQUAL(c->state, AGENT_CONN_ONLINE);
	}
	agent_conn_beat_cb(-1, EV_TIMEOUT, c);
	CU_ASSERT_EQUAL(c->state, AGENT_CONN_IDLE);
	CU_ASSERT_EQUAL(noffline, 2);
	agent_teardown(c);
}

int
main(void)
{
	CU_TestInfo	tests[] = {
		{ "online, synced, offline, back", test_online_lifecycle },
		{ "handshake: server not of the pinned CA",
		    test_handshake_refused },
		{ "back-off on refused connections", test_backoff },
		{ "fsm: hello, online, messages", test_fsm_hello_online },
		{ "fsm: the unexpected closes", test_fsm_unexpected },
		{ "fsm: setup timeout, missed heartbeats", test_fsm_timers },
		CU_TEST_INFO_NULL,
	};
	const char	*tmp = getenv("TMPDIR");
	char		 dir[300], a[320], b[320], err[512];
	int		 rv;

	if (unit_log_capture("test_agent_conn") == -1)
		return (1);
	/* The server's CA, and another one that the agent does not pin. */
	snprintf(dir, sizeof(dir), "%s/test_agent_conn.ca.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror(dir);
		return (1);
	}
	snprintf(a, sizeof(a), "%s/a", dir);
	snprintf(b, sizeof(b), "%s/b", dir);
	err[0] = '\0';
	if (mkdir(a, 0700) == -1 || mkdir(b, 0700) == -1 ||
	    (ca = ca_open(a, err, sizeof(err))) == NULL ||
	    (ca_other = ca_open(b, err, sizeof(err))) == NULL) {
		printf("CA: %s\n", err);
		return (1);
	}
	if ((base = event_base_new()) == NULL)
		return (1);
	rv = unit_main("agent_conn", tests);
	(void)unit_tmpdir_remove();
	ca_free(ca);
	ca_free(ca_other);
	(void)pkg_remove_tree(dir);
	event_base_free(base);
	return (rv);
}
