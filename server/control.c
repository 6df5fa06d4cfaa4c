/*
 * The agent channel: a TLS 1.3 listener on control_listen built on
 * libevent's OpenSSL bufferevents.  Each connection runs a small state
 * machine: after the handshake, a peer without a client certificate may
 * only enroll (a token of the server's, auto_approve or an admin's
 * approval of its request's key; until then it waits; a name that is
 * enrolled takes an admin's approval, never just a token), a peer with
 * one must say HELLO with the name
 * its pinned certificate was issued for, and is then online: heartbeats
 * keep its last seen time and facts, reports go to the runs.  What the
 * runs and the automatic update must hear of goes up through the
 * control_cb that fleetcastd.c gives control_new, never by a call into
 * them (runs.c calls down into control_send and the like).  Input is
 * framed and decoded by ctl.c with the agent-side frame limit; anything
 * malformed, oversized or out of order closes that connection and is
 * logged, nothing more.  Memory per connection is bounded by the read
 * high-water mark and, for what the agent has not read yet, by
 * CONTROL_MAX_OUTPUT: an agent that asks and asks but never reads is
 * closed rather than buffered for.  Connections that are not online yet
 * are bounded per source address and in all, get a few seconds for the
 * TLS handshake, and when the handshakes in progress fill their pool the
 * oldest gives way, so that silent sockets cannot keep an enrolled agent,
 * which completes its handshake at once, from coming online.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "conf.h"
#include "etoken.h"
#include "log.h"
#include "server.h"
#include "vis.h"
#include "xmalloc.h"

#define CONTROL_HANDSHAKE_TIMEOUT 5	/* seconds for the TLS handshake */
#define CONTROL_HELLO_TIMEOUT	10	/* seconds to say ENROLL or HELLO */
#define CONTROL_CLOSING_TIMEOUT	30	/* to flush a last message */
#define CONTROL_PENDING_TIMEOUT	600	/* an unapproved agent, then retries */
/*
 * Connections not online yet: at most CONTROL_MAX_PER_ADDR from one source
 * address, CONTROL_MAX_HANDSHAKE in the TLS handshake (the oldest gives
 * way to a new one), and CONTROL_MAX_UNAUTH past it without a client
 * certificate (enrolling); a client that shows a certificate of our CA is
 * not held to that last one, so enrolling strangers cannot crowd out
 * enrolled agents.
 */
#define CONTROL_MAX_PER_ADDR	64
#define CONTROL_MAX_HANDSHAKE	256
#define CONTROL_MAX_UNAUTH	256
#define CONTROL_DROP_LOG_EVERY	10	/* seconds between drop summaries */
#define CONTROL_TOKEN_MAX_USES	1000000
#define CONTROL_TOKEN_MAX_LIFE	(366 * 86400)	/* seconds */
#define CONTROL_SEEN_FLUSH	60	/* persist last_seen at most this often */
#define CONTROL_MAX_PENDING	1024	/* new names waiting for approval */
/*
 * Unread output a message may still be queued behind.  Above it every
 * answer is refused and the connection closed; below it any one message
 * goes, the largest ASSIGN (CTL_MAX_FRAME, ~16 MiB) included, so the
 * memory per connection stays under CONTROL_MAX_OUTPUT + CTL_MAX_FRAME.
 */
#define CONTROL_MAX_OUTPUT	(32u * 1024 * 1024)

_Static_assert(CONTROL_MAX_OUTPUT >= CTL_MAX_FRAME,
    "CONTROL_MAX_OUTPUT must hold at least one whole ASSIGN");

/* Why a connection was refused before it was online (counted, logged). */
enum control_drop {
	CONTROL_DROP_PER_ADDR,		/* too many from its address */
	CONTROL_DROP_HANDSHAKE,		/* the oldest handshake, for a new one */
	CONTROL_DROP_UNAUTH,		/* too many enrolling connections */
	CONTROL_DROP_MAX,
};

static const char *control_drop_names[CONTROL_DROP_MAX] = {
	"too many from one address", "oldest handshake given way",
	"too many enrolling",
};

enum control_conn_state {
	CONTROL_CONN_HANDSHAKE,	/* TLS handshake in progress */
	CONTROL_CONN_NEW,	/* waiting for ENROLL or HELLO */
	CONTROL_CONN_PENDING,	/* enrolled, waiting for an admin */
	CONTROL_CONN_ONLINE,	/* HELLO accepted */
	CONTROL_CONN_CLOSING,	/* flushing a last message, then closed */
};

struct control_conn {
	struct control		*ctl;
	struct bufferevent	*bev;
	enum control_conn_state	 state;
	char			 addr[NI_MAXHOST];
	char			 segment[8];	/* local | remote */
	char			*name;		/* after ENROLL or HELLO */
	int			 has_cert;
	char			 cn[CTL_MAX_NAME + 1];
	char			 fp[SHA256_LEN * 2 + 1];
	char			 req_fp[SHA256_LEN * 2 + 1];	/* ENROLL's key */
	int			 was_online;	/* reached CONTROL_CONN_ONLINE */
	char			*facts;		/* last facts stored, JSON */
	int			 started;	/* new boot: automatic update */
	uint64_t		 seen_flushed;
	uint64_t		 heard;		/* last message, ms */
	/* A deferred close, see control_conn_send. */
	struct event		*ev_close;
	TAILQ_ENTRY(control_conn) entry;
};
TAILQ_HEAD(control_conn_list, control_conn);

struct control {
	struct server		*srv;
	struct control_cb	 cb;
	void			*arg;
	SSL_CTX			*ssl;
	struct evconnlistener	*listener;
	struct control_conn_list conns;	/* oldest first */
	/* Connections refused or cut short before they were online. */
	uint64_t		 drops[CONTROL_DROP_MAX];
	uint64_t		 drops_logged[CONTROL_DROP_MAX];
	time_t			 drop_log_at;
};

static const char *control_conn_states[] = {
	"handshake", "new", "pending", "online", "closing",
};

static const char *
control_conn_strstate(enum control_conn_state s)
{
	return (control_conn_states[s]);
}

static const char *
control_conn_who(struct control_conn *c)
{
	static char	buf[CTL_MAX_NAME + NI_MAXHOST + 8];

	if (c->name != NULL)
		snprintf(buf, sizeof(buf), "%s (%s)", c->name, c->addr);
	else
		snprintf(buf, sizeof(buf), "%s", c->addr);
	return (buf);
}

/* Silence for this long, in this state, closes the connection. */
static void
control_conn_arm_timeout(struct control_conn *c)
{
	struct timeval	tv = { 0, 0 };

	switch (c->state) {
	case CONTROL_CONN_PENDING:
		tv.tv_sec = CONTROL_PENDING_TIMEOUT;
		break;
	case CONTROL_CONN_ONLINE:
		tv.tv_sec = 3 * c->ctl->srv->heartbeat;
		break;
	case CONTROL_CONN_HANDSHAKE:
		tv.tv_sec = CONTROL_HANDSHAKE_TIMEOUT;
		break;
	case CONTROL_CONN_NEW:
		tv.tv_sec = CONTROL_HELLO_TIMEOUT;
		break;
	case CONTROL_CONN_CLOSING:
		tv.tv_sec = c->was_online ? CONTROL_CLOSING_TIMEOUT :
		    CONTROL_HELLO_TIMEOUT;
		break;
	}
	bufferevent_set_timeouts(c->bev, &tv, &tv);
}

/*
 * The machine of a connection that was online is offline now: in the
 * database, in the event log and for the runs.  The connection has left
 * CONTROL_CONN_ONLINE already, so that nothing is sent on it any more.
 */
static void
control_conn_offline(struct control_conn *c, const char *why)
{
	struct server	*srv = c->ctl->srv;
	uint64_t	 now = server_now_ms();

	log_info("control: %s offline (%s)", control_conn_who(c), why);
	db_begin(srv->db);
	db_machine_seen(srv->db, c->name, now);
	db_machine_online(srv->db, c->name, 0, NULL, NULL, NULL, now);
	db_event(srv->db, now, "offline", 0, c->name, "%s", why);
	if (db_commit(srv->db) == -1)
		db_rollback(srv->db);
	c->ctl->cb.offline(c->ctl->arg, c->name);
}

static void
control_conn_set_state(struct control_conn *c, enum control_conn_state s)
{
	enum control_conn_state	old = c->state;

	if (old == s)
		return;
	log_debug("control: %s: %s -> %s", control_conn_who(c),
	    control_conn_strstate(old), control_conn_strstate(s));
	c->state = s;
	if (s == CONTROL_CONN_ONLINE)
		c->was_online = 1;
	control_conn_arm_timeout(c);
	/*
	 * Leaving online in any way, a protocol error or the agent's ERROR
	 * included, is going offline: the connection only flushes a last
	 * message before it is closed.
	 */
	if (old == CONTROL_CONN_ONLINE)
		control_conn_offline(c, "connection closed by the server");
}

static void
control_conn_free(struct control_conn *c)
{
	struct control	*ctl = c->ctl;

	if (c->state == CONTROL_CONN_ONLINE) {
		c->state = CONTROL_CONN_CLOSING;
		control_conn_offline(c, "connection closed");
	}
	TAILQ_REMOVE(&ctl->conns, c, entry);
	if (c->ev_close != NULL)
		event_free(c->ev_close);
	bufferevent_free(c->bev);
	free(c->name);
	free(c->facts);
	free(c);
}

static void
control_conn_close_cb(evutil_socket_t fd, short what, void *arg)
{
	control_conn_free(arg);
}

/*
 * The agent does not read what it is sent (a bug, or a hostile agent
 * asking for ASSIGN after ASSIGN): the connection goes offline at once
 * and what it did not read is dropped, but it is freed from the event
 * loop, because the caller (a run, deep in a report's handling) may still
 * use the connection's address.
 */
static void
control_conn_overflow(struct control_conn *c, size_t pending, uint8_t type)
{
	struct server	*srv = c->ctl->srv;
	struct evbuffer	*out = bufferevent_get_output(c->bev);

	log_warnx("control: %s: %zu bytes of output unread by the agent, "
	    "limit %u; not sending %s, closing", control_conn_who(c), pending,
	    CONTROL_MAX_OUTPUT, ctl_strtype(type));
	if (c->state == CONTROL_CONN_ONLINE)
		db_event(srv->db, server_now_ms(), "protocol", 0, c->name,
		    "closed: %zu bytes of output unread by the agent, limit "
		    "%u", pending, CONTROL_MAX_OUTPUT);
	control_conn_set_state(c, CONTROL_CONN_CLOSING);
	bufferevent_disable(c->bev, EV_READ);
	evbuffer_drain(out, evbuffer_get_length(out));
	if (c->ev_close == NULL &&
	    (c->ev_close = event_new(srv->base, -1, 0, control_conn_close_cb,
	    c)) == NULL)
		fatalx("control: event_new failed");
	event_active(c->ev_close, EV_TIMEOUT, 1);
}

/*
 * Send a message; on an encoding failure the connection is closed.  It is
 * not queued behind more than CONTROL_MAX_OUTPUT unread bytes: the
 * connection is closed instead (control_conn_overflow).
 */
static int
control_conn_send(struct control_conn *c, const struct ctl_msg *m)
{
	char	err[256];
	size_t	pending;

	if (c->state == CONTROL_CONN_CLOSING && c->ev_close != NULL)
		return (-1);	/* overflowed: nothing more */
	pending = evbuffer_get_length(bufferevent_get_output(c->bev));
	if (pending > CONTROL_MAX_OUTPUT) {
		control_conn_overflow(c, pending, m->type);
		return (-1);
	}
	if (ctl_write(bufferevent_get_output(c->bev), m, err,
	    sizeof(err)) == -1) {
		log_warnx("control: %s: sending %s: %s", control_conn_who(c),
		    ctl_strtype(m->type), err);
		return (-1);
	}
	return (0);
}

/* Send ERROR and close once it is written (see control_conn_read_cb). */
static void
control_conn_fail(struct control_conn *c, enum ctl_errcode code,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
control_conn_fail(struct control_conn *c, enum ctl_errcode code,
    const char *fmt, ...)
{
	struct ctl_msg	m;
	char		msg[512];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("control: %s: %s", control_conn_who(c), msg);
	memset(&m, 0, sizeof(m));
	m.type = CTL_ERROR;
	m.u.error.code = code;
	m.u.error.message = msg;
	control_conn_send(c, &m);
	/* The read callback frees it once the output is written. */
	control_conn_set_state(c, CONTROL_CONN_CLOSING);
	bufferevent_disable(c->bev, EV_READ);
}

static struct control_conn *
control_conn_find(struct control *ctl, const char *name,
    enum control_conn_state state)
{
	struct control_conn	*c;

	TAILQ_FOREACH(c, &ctl->conns, entry)
		if (c->state == state && c->name != NULL &&
		    strcmp(c->name, name) == 0)
			return (c);
	return (NULL);
}

/*
 * Mint an enrollment token (etoken.h) for machine (NULL: any name not
 * enrolled yet), good for uses enrollments within lifetime seconds; out
 * (ETOKEN_MAX) gets ID.SECRET.FP with the server's fingerprint.  Only the
 * SHA-256 of its secret is kept: the string is shown once.
 */
int
control_token_new(struct server *srv, const char *machine, int64_t uses,
    int64_t lifetime, const char *origin, char *out, size_t outlen,
    char *err, size_t errlen)
{
	struct etoken	t;
	uint8_t		hash[SHA256_LEN];
	uint64_t	now = server_now_ms();
	int		rv = -1;

	if (machine != NULL && ctl_check_name("--name", machine, err,
	    errlen) == -1)
		return (-1);
	if (uses < 1 || uses > CONTROL_TOKEN_MAX_USES) {
		snprintf(err, errlen, "--uses: %" PRId64 ", must be 1 to %d",
		    uses, CONTROL_TOKEN_MAX_USES);
		return (-1);
	}
	if (lifetime < 1 || lifetime > CONTROL_TOKEN_MAX_LIFE) {
		snprintf(err, errlen, "--expires: %" PRId64 " s, must be 1 s "
		    "to %d days", lifetime, CONTROL_TOKEN_MAX_LIFE / 86400);
		return (-1);
	}
	if (etoken_new(&t, ca_fingerprint(srv->ca)) == -1) {
		snprintf(err, errlen, "no randomness for a token");
		return (-1);
	}
	etoken_hash(&t, hash);
	if (db_token_add(srv->db, t.id, hash, machine, uses, now +
	    (uint64_t)lifetime * 1000, now, origin) == -1)
		snprintf(err, errlen, "token: database error");
	else {
		etoken_format(&t, 1, out, outlen);
		db_event(srv->db, now, "token", 0, machine, "enrollment token "
		    "%s made (%s) for %s, %" PRId64 " uses, %" PRId64 " s",
		    t.id, origin, machine != NULL ? machine : "any new name",
		    uses, lifetime);
		rv = 0;
	}
	etoken_clear(&t);
	return (rv);
}

/*
 * The ENROLL's token: 1 when it is good for the name (id in id, 17
 * bytes), 0 when there is none, -1 when the connection was refused.
 */
static int
control_conn_token(struct control_conn *c, const char *token, char *id)
{
	struct etoken	t;
	uint8_t		hash[SHA256_LEN];
	char		err[512];
	int		rv;

	if (token[0] == '\0')
		return (0);
	if (etoken_parse(token, &t, err, sizeof(err)) == -1) {
		control_conn_fail(c, CTL_ERR_ENROLL_REFUSED, "enroll_token: "
		    "%s", err);
		return (-1);
	}
	etoken_hash(&t, hash);
	snprintf(id, 2 * ETOKEN_ID_LEN + 1, "%s", t.id);
	etoken_clear(&t);
	rv = db_token_check(c->ctl->srv->db, id, hash, c->name,
	    server_now_ms(), err, sizeof(err));
	if (rv == -1) {
		control_conn_fail(c, CTL_ERR_INTERNAL, "enrollment: database "
		    "error");
		return (-1);
	}
	if (rv == 0) {
		db_event(c->ctl->srv->db, server_now_ms(), "enroll", 0, c->name,
		    "refused from %s: enroll_token %s: %s", c->addr, id, err);
		control_conn_fail(c, CTL_ERR_ENROLL_REFUSED, "enroll_token "
		    "%s: %s", id, err);
		return (-1);
	}
	return (1);
}

/* Sign the stored CSR of name and send the certificate; then close. */
static void
control_conn_issue(struct control_conn *c, const char *csr)
{
	struct server	*srv = c->ctl->srv;
	struct ctl_msg	 m;
	char		*pem = NULL, fp[SHA256_LEN * 2 + 1], err[512];
	uint64_t	 now = server_now_ms();

	if (ca_sign_csr(srv->ca, c->name, csr, &pem, fp, err,
	    sizeof(err)) == -1) {
		control_conn_fail(c, CTL_ERR_ENROLL_REFUSED, "%s", err);
		return;
	}
	/* Pin before telling the agent: a crash must not lose the pin. */
	if (db_machine_enrolled(srv->db, c->name, fp, now) == -1) {
		free(pem);
		control_conn_fail(c, CTL_ERR_INTERNAL, "enrollment: database "
		    "error");
		return;
	}
	log_info("control: %s enrolled, certificate %.16s...",
	    control_conn_who(c), fp);
	memset(&m, 0, sizeof(m));
	m.type = CTL_CERT;
	m.u.cert.cert = pem;
	m.u.cert.ca = (char *)ca_cert_pem(srv->ca);
	control_conn_send(c, &m);
	free(pem);
	control_conn_set_state(c, CONTROL_CONN_CLOSING);
	bufferevent_disable(c->bev, EV_READ);
}

static void
control_conn_enroll(struct control_conn *c, struct ctl_msg *m)
{
	struct server		*srv = c->ctl->srv;
	struct db_machine	 dm;
	struct ctl_msg		 r;
	char			 msg[512], err[512], nerr[512];
	char			 tid[2 * ETOKEN_ID_LEN + 1];
	int			 rv, ok, same_key, enrolled, token, other;
	uint64_t		 now = server_now_ms();

	if (c->has_cert) {
		control_conn_fail(c, CTL_ERR_PROTOCOL, "ENROLL with a client "
		    "certificate; say HELLO instead");
		return;
	}
	if (ctl_check_name("name", m->u.enroll.name, nerr,
	    sizeof(nerr)) == -1) {
		control_conn_fail(c, CTL_ERR_ENROLL_REFUSED, "%s", nerr);
		return;
	}
	c->name = xstrdup(m->u.enroll.name);
	if ((token = control_conn_token(c, m->u.enroll.token, tid)) == -1)
		return;
	/*
	 * The request itself is checked before anything is kept: a CSR that
	 * is not one, or whose signature fails, is refused at once.  Its
	 * key's fingerprint is what an admin's approval is bound to.
	 */
	if (ca_csr_fingerprint(m->u.enroll.csr, c->req_fp, err,
	    sizeof(err)) == -1) {
		control_conn_fail(c, CTL_ERR_ENROLL_REFUSED, "%s", err);
		return;
	}
	if ((rv = db_machine_get(srv->db, c->name, &dm)) == -1) {
		control_conn_fail(c, CTL_ERR_INTERNAL, "enrollment: database "
		    "error");
		return;
	}
	/* An approval holds for the key it was given to, no other. */
	same_key = rv == 1 && dm.csr_fp != NULL &&
	    strcmp(dm.csr_fp, c->req_fp) == 0;
	/* Another key asks while the name's request waits for a decision. */
	other = rv == 1 && dm.csr_fp != NULL && !same_key &&
	    (dm.enroll != DB_ENROLL_ENROLLED || dm.reenroll);
	/*
	 * A name that is enrolled is enrolled again only by an admin's
	 * approval: neither auto_approve nor a token hands it to whoever
	 * asks (the machine's runs and reports would be theirs).  A name with
	 * a certificate counts as enrolled while an approved re-enrollment
	 * waits for its key.
	 */
	enrolled = rv == 1 && (dm.enroll == DB_ENROLL_ENROLLED ||
	    dm.cert_fp != NULL);
	if (token && enrolled) {
		log_warnx("control: %s: enroll_token %s does not enroll %s "
		    "again, it is enrolled: that takes 'fleetcast machine "
		    "approve %s'", control_conn_who(c), tid, c->name, c->name);
		db_event(srv->db, now, "enroll", 0, c->name, "enroll_token %s "
		    "from %s refused: %s is enrolled; the request waits for an "
		    "admin", tid, c->addr, c->name);
		token = 0;
	}
	ok = token || (conf_bool(srv->conf, "auto_approve") && !enrolled &&
	    !other) || (rv == 1 && dm.enroll == DB_ENROLL_APPROVED && same_key);
	if (!ok && enrolled && conf_bool(srv->conf, "auto_approve"))
		log_warnx("control: %s asks to enroll again, but %s is "
		    "enrolled: auto_approve does not apply; it takes "
		    "'fleetcast machine approve %s'", control_conn_who(c),
		    c->name, c->name);
	db_machine_clear(&dm);
	/* Unauthenticated requests must not grow the inventory without end. */
	if (!ok && (rv == 0 || other) && db_machines_pending(srv->db) >=
	    CONTROL_MAX_PENDING) {
		control_conn_fail(c, CTL_ERR_ENROLL_REFUSED, "enrollment: %d "
		    "requests already wait for approval; approve them or use "
		    "a token ('fleetcast machine token')", CONTROL_MAX_PENDING);
		return;
	}
	/* Keep the request first, so an approval finds its CSR. */
	if ((rv = db_machine_request(srv->db, c->name, m->u.enroll.csr,
	    c->req_fp, c->addr, now)) == -1) {
		control_conn_fail(c, CTL_ERR_INTERNAL, "enrollment: database "
		    "error");
		return;
	}
	if (ok) {
		/* The use is spent before the certificate goes out. */
		if (token && db_token_consume(srv->db, tid) == -1) {
			control_conn_fail(c, CTL_ERR_ENROLL_REFUSED,
			    "enroll_token %s: used up", tid);
			return;
		}
		control_conn_issue(c, m->u.enroll.csr);
		return;
	}
	if (rv == DB_REQUEST_FULL) {
		control_conn_fail(c, CTL_ERR_ENROLL_REFUSED, "enrollment: %s "
		    "has %d other requests waiting already; the admin decides "
		    "with 'fleetcast machine approve %s --fingerprint FP'",
		    c->name, DB_MAX_OTHER_REQUESTS, c->name);
		return;
	}
	if (rv == DB_REQUEST_OTHER) {
		log_warnx("control: %s asks to enroll with key fingerprint "
		    "%.16s..., but a request of %s with another key waits: "
		    "kept as another request, the first keeps its key",
		    control_conn_who(c), c->req_fp, c->name);
		db_event(srv->db, now, "enroll", 0, c->name, "another request "
		    "from %s, key fingerprint %s, beside the waiting one",
		    c->addr, c->req_fp);
	} else {
		log_info("control: %s asks to enroll with key fingerprint "
		    "%.16s...; waiting for 'fleetcast machine approve %s'",
		    control_conn_who(c), c->req_fp, c->name);
		db_event(srv->db, now, "enroll", 0, c->name, "enrollment "
		    "requested from %s, key fingerprint %s", c->addr,
		    c->req_fp);
	}
	snprintf(msg, sizeof(msg), "waiting for an admin: fleetcast machine "
	    "approve %s%s%.16s (key fingerprint %.16s...)", c->name,
	    rv == DB_REQUEST_OTHER ? " --fingerprint " : "",
	    rv == DB_REQUEST_OTHER ? c->req_fp : "", c->req_fp);
	memset(&r, 0, sizeof(r));
	r.type = CTL_ENROLL_PENDING;
	r.u.pending.message = msg;
	control_conn_send(c, &r);
	control_conn_set_state(c, CONTROL_CONN_PENDING);
}


/*
 * A peer's words are escaped before anything logs or stores them (a
 * newline would forge a log line, an ESC drive the admin's terminal).
 */
static void
control_vis(char **s)
{
	char	*t;

	if (*s == NULL)
		return;
	t = vis_strdup(*s, 0);
	free(*s);
	*s = t;
}

static void
control_conn_hello(struct control_conn *c, struct ctl_msg *m)
{
	struct server		*srv = c->ctl->srv;
	struct db_machine	 dm;
	struct control_conn	*old;
	struct ctl_msg		 r;
	json_t			*prev;
	const char		*boot;
	int			 rv;
	uint64_t		 now = server_now_ms();

	if (!c->has_cert) {
		control_conn_fail(c, CTL_ERR_UNKNOWN_MACHINE, "HELLO without a "
		    "client certificate; enroll first");
		return;
	}
	if (strcmp(m->u.hello.name, c->cn) != 0) {
		control_conn_fail(c, CTL_ERR_UNKNOWN_MACHINE, "HELLO as '%s' "
		    "with the certificate of '%s'", m->u.hello.name, c->cn);
		return;
	}
	c->name = xstrdup(m->u.hello.name);
	control_vis(&m->u.hello.version);
	control_vis(&m->u.hello.boot_id);
	if ((rv = db_machine_get(srv->db, c->name, &dm)) == -1) {
		control_conn_fail(c, CTL_ERR_INTERNAL, "database error");
		return;
	}
	if (rv == 0 || dm.enroll != DB_ENROLL_ENROLLED || dm.cert_fp == NULL ||
	    strcmp(dm.cert_fp, c->fp) != 0) {
		db_machine_clear(&dm);
		control_conn_fail(c, CTL_ERR_UNKNOWN_MACHINE, "certificate is "
		    "not the one pinned for %s; enroll again", c->name);
		return;
	}
	db_machine_clear(&dm);
	/* A new boot id is a machine start (P5: automatic update). */
	if ((prev = db_machines_json(srv->db, c->name)) != NULL) {
		boot = json_string_value(json_object_get(prev, "boot_id"));
		c->started = boot == NULL ||
		    strcmp(boot, m->u.hello.boot_id) != 0;
		json_decref(prev);
	}
	/*
	 * The newest connection of a machine wins (a restarted agent whose
	 * old connection the server has not seen die yet), unless the old
	 * one is alive and elsewhere: then two machines hold one identity
	 * (a cloned VM) and would knock each other off every few seconds.
	 */
	if ((old = control_conn_find(c->ctl, c->name,
	    CONTROL_CONN_ONLINE)) != NULL) {
		if (strcmp(old->addr, c->addr) != 0 && now - old->heard <
		    2000ULL * (uint64_t)srv->heartbeat) {
			log_warnx("control: %s: refused: %s is online from %s "
			    "with the same identity: two machines share one "
			    "name and key (a cloned VM?); give the clone its "
			    "own name and remove agent.key, agent.crt and "
			    "ca.crt from its state_dir (guide, section 5)",
			    control_conn_who(c), c->name, old->addr);
			db_event(srv->db, now, "clone", 0, c->name, "a second "
			    "machine with this identity from %s refused while "
			    "online from %s", c->addr, old->addr);
			/* Not UNKNOWN_MACHINE: that makes an agent enroll anew. */
			control_conn_fail(c, CTL_ERR_ENROLL_REFUSED, "%s is "
			    "online from %s already: this machine holds the "
			    "same identity (a cloned VM?); give it its own "
			    "name and remove agent.key, agent.crt and ca.crt "
			    "from its state_dir", c->name, old->addr);
			return;
		}
		log_info("control: %s: replaced by a new connection",
		    control_conn_who(old));
		control_conn_free(old);
	}
	control_conn_set_state(c, CONTROL_CONN_ONLINE);
	c->seen_flushed = now;
	/* One commit (one fsync) for the three rows: reconnection storms. */
	db_begin(srv->db);
	db_machine_online(srv->db, c->name, 1, c->addr, c->segment,
	    m->u.hello.boot_id, now);
	db_machine_agent_version(srv->db, c->name, m->u.hello.version);
	db_event(srv->db, now, "online", 0, c->name, "online from %s (%s), "
	    "agent %s", c->addr, c->segment, m->u.hello.version);
	if (db_commit(srv->db) == -1)
		db_rollback(srv->db);
	log_info("control: %s online (%s segment, agent %s)",
	    control_conn_who(c), c->segment, m->u.hello.version);
	memset(&r, 0, sizeof(r));
	r.type = CTL_WELCOME;
	r.u.welcome.version = SERVER_VERSION;
	r.u.welcome.heartbeat = (uint32_t)srv->heartbeat;
	r.u.welcome.time_ms = now;
	if (control_conn_send(c, &r) == -1)
		return;
	c->ctl->cb.online(c->ctl->arg, c->name);
}

/*
 * What the agent's reboot_command or poweroff_command did (M2), for the
 * machine's event log; the agent's words are escaped first.
 */
static void
control_conn_power_done(struct control_conn *c, struct ctl_msg *m)
{
	struct server	*srv = c->ctl->srv;
	char		*msg;

	msg = vis_strdup(m->u.power_done.message, 0);
	if (m->u.power_done.ok)
		log_info("control: %s: %s", control_conn_who(c), msg);
	else
		log_warnx("control: %s: %s", control_conn_who(c), msg);
	db_event(srv->db, server_now_ms(), "power", 0, c->name, "%s: %s%s",
	    m->u.power_done.action == CTL_POWER_REBOOT ? "reboot" :
	    "poweroff", m->u.power_done.ok ? "" : "failed: ", msg);
	free(msg);
}

static void
control_conn_heartbeat(struct control_conn *c, struct ctl_msg *m)
{
	struct server	*srv = c->ctl->srv;
	struct ctl_msg	 r;
	json_t		*o;
	char		*s;
	size_t		 i;
	uint64_t	 now = server_now_ms();

	if (m->u.heartbeat.has_facts) {
		o = json_object();
		for (i = 0; i < m->u.heartbeat.nfacts; i++) {
			control_vis(&m->u.heartbeat.facts[i].key);
			control_vis(&m->u.heartbeat.facts[i].value);
		}
		for (i = 0; i < m->u.heartbeat.nfacts; i++)
			json_object_set_new(o, m->u.heartbeat.facts[i].key,
			    json_string(m->u.heartbeat.facts[i].value));
		s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(o);
		if (s != NULL && (c->facts == NULL ||
		    strcmp(s, c->facts) != 0)) {
			db_machine_facts(srv->db, c->name, s);
			free(c->facts);
			c->facts = s;
		} else
			free(s);
	}
	/*
	 * last_seen is written at most once a minute: with a thousand
	 * machines a synchronous commit per heartbeat would be a hundred
	 * fsyncs a second.  Online state is exact; last_seen is precise to
	 * CONTROL_SEEN_FLUSH seconds while online and exact on disconnect.
	 */
	if (now - c->seen_flushed >= CONTROL_SEEN_FLUSH * 1000ULL) {
		db_machine_seen(srv->db, c->name, now);
		c->seen_flushed = now;
	}
	memset(&r, 0, sizeof(r));
	r.type = CTL_HEARTBEAT_ACK;
	r.u.heartbeat_ack.time_ms = now;
	control_conn_send(c, &r);
	/*
	 * After a start, once the facts are in (the agent's first heartbeat
	 * after WELCOME carries them): automatic update judges on them.
	 */
	if (c->started && m->u.heartbeat.has_facts) {
		c->started = 0;
		c->ctl->cb.started(c->ctl->arg, c->name);
	}
}

/* The connection's state machine: on state, then on the message type. */
static void
control_conn_fsm(struct control_conn *c, struct ctl_msg *m)
{
	switch (c->state) {
	case CONTROL_CONN_NEW:
		switch (m->type) {
		case CTL_ENROLL:
			control_conn_enroll(c, m);
			return;
		case CTL_HELLO:
			control_conn_hello(c, m);
			return;
		default:
			break;
		}
		break;
	case CONTROL_CONN_PENDING:
		break;
	case CONTROL_CONN_ONLINE:
		switch (m->type) {
		case CTL_HEARTBEAT:
			control_conn_heartbeat(c, m);
			return;
		case CTL_REPORT:
			c->ctl->cb.report(c->ctl->arg, c->name, m);
			return;
		case CTL_POWER_DONE:
			control_conn_power_done(c, m);
			return;
		default:
			break;
		}
		break;
	case CONTROL_CONN_HANDSHAKE:
	case CONTROL_CONN_CLOSING:
		return;
	}
	if (m->type == CTL_ERROR) {
		log_warnx("control: %s: agent error %u: %s",
		    control_conn_who(c), m->u.error.code, m->u.error.message);
		control_conn_set_state(c, CONTROL_CONN_CLOSING);
		return;
	}
	control_conn_fail(c, CTL_ERR_PROTOCOL, "%s is not expected in state %s",
	    ctl_strtype(m->type), control_conn_strstate(c->state));
}

static void
control_conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn	*c = arg;
	struct ctl_msg		 m;
	char			 err[256];
	int			 rv;

	while (c->state != CONTROL_CONN_CLOSING) {
		rv = ctl_read(bufferevent_get_input(bev), CTL_MAX_AGENT_FRAME,
		    &m, err, sizeof(err));
		if (rv == 0)
			return;
		if (rv == -1) {
			/* Malformed input: log, close this one, nothing more. */
			log_warnx("control: %s: bad message, closing: %s",
			    control_conn_who(c), err);
			if (c->state == CONTROL_CONN_ONLINE)
				db_event(c->ctl->srv->db, server_now_ms(),
				    "protocol", 0, c->name, "bad message: %s",
				    err);
			control_conn_free(c);
			return;
		}
		log_debug("control: %s: %s", control_conn_who(c),
		    ctl_strtype(m.type));
		/* Any message shows the peer is alive. */
		control_conn_arm_timeout(c);
		c->heard = server_now_ms();
		control_conn_fsm(c, &m);
		ctl_msg_free(&m);
	}
	/* Closing: free now if nothing is left to write, else in write_cb. */
	bufferevent_disable(bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		control_conn_free(c);
}

static void
control_conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct control_conn	*c = arg;

	if (c->state == CONTROL_CONN_CLOSING &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		control_conn_free(c);
}

/* Not online and never was: what the limits before HELLO count. */
static int
control_conn_unauth(const struct control_conn *c)
{
	return (c->state != CONTROL_CONN_ONLINE && !c->was_online);
}

/*
 * Count a connection refused before it was online.  Under a flood that is
 * thousands a second, so the log gets one summary line at most every
 * CONTROL_DROP_LOG_EVERY seconds; the counts are in GET /v1/server.
 */
static void
control_drop(struct control *ctl, enum control_drop why, const char *host)
{
	time_t	now = time(NULL);
	char	line[512];
	size_t	off = 0;
	int	i;

	ctl->drops[why]++;
	log_debug("control: %s: refused: %s", host, control_drop_names[why]);
	if (now - ctl->drop_log_at < CONTROL_DROP_LOG_EVERY)
		return;
	ctl->drop_log_at = now;
	line[0] = '\0';
	for (i = 0; i < CONTROL_DROP_MAX && off < sizeof(line); i++) {
		if (ctl->drops[i] == ctl->drops_logged[i])
			continue;
		off += (size_t)snprintf(line + off, sizeof(line) - off,
		    "%s%" PRIu64 " %s", off > 0 ? ", " : "",
		    ctl->drops[i] - ctl->drops_logged[i],
		    control_drop_names[i]);
		ctl->drops_logged[i] = ctl->drops[i];
	}
	log_warnx("control: connections refused before they were online: "
	    "%s (the last from %s)", line, host);
}

/* After the handshake: note the peer certificate, if any. */
static int
control_conn_connected(struct control_conn *c)
{
	SSL			*ssl = bufferevent_openssl_get_ssl(c->bev);
	X509			*x;
	X509_NAME		*nm;
	struct control_conn	*o;
	size_t			 n = 0;

	if ((x = SSL_get1_peer_certificate(ssl)) != NULL) {
		/* OpenSSL has verified it against our CA already. */
		if (SSL_get_verify_result(ssl) != X509_V_OK ||
		    (nm = X509_get_subject_name(x)) == NULL ||
		    X509_NAME_get_text_by_NID(nm, NID_commonName, c->cn,
		    sizeof(c->cn)) <= 0 ||
		    ca_cert_fingerprint(x, c->fp) == -1) {
			X509_free(x);
			log_warnx("control: %s: unusable client certificate",
			    control_conn_who(c));
			return (-1);
		}
		X509_free(x);
		c->has_cert = 1;
	} else {
		/* Enrolling strangers: a pool of their own. */
		TAILQ_FOREACH(o, &c->ctl->conns, entry)
			if (o != c && !o->has_cert && control_conn_unauth(o) &&
			    o->state != CONTROL_CONN_HANDSHAKE)
				n++;
		if (n >= CONTROL_MAX_UNAUTH) {
			control_drop(c->ctl, CONTROL_DROP_UNAUTH, c->addr);
			return (-1);
		}
	}
	control_conn_set_state(c, CONTROL_CONN_NEW);
	return (0);
}

static void
control_conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct control_conn	*c = arg;
	unsigned long		 e;
	char			 buf[256];

	if (what & BEV_EVENT_CONNECTED) {
		if (control_conn_connected(c) == -1)
			control_conn_free(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_info("control: %s: silent for too long in state %s, "
		    "closing", control_conn_who(c),
		    control_conn_strstate(c->state));
	else if (what & BEV_EVENT_ERROR) {
		if ((e = bufferevent_get_openssl_error(bev)) != 0 &&
		    ERR_GET_REASON(e) == SSL_R_TLSV1_ALERT_UNKNOWN_CA)
			/* What a reinstalled server hears from its fleet. */
			log_info("control: %s: the agent refused this server's "
			    "certificate: it pins another CA, so it was "
			    "enrolled with a previous server; to enroll it "
			    "here, stop it and remove agent.crt and ca.crt "
			    "from its state_dir (guide, section 12)",
			    control_conn_who(c));
		else if (e != 0 &&
		    ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED)
			log_info("control: %s: the machine presents a "
			    "certificate from another CA: it was enrolled with "
			    "a previous server; to enroll it here, remove "
			    "agent.crt and ca.crt from its state_dir (guide, "
			    "section 12)", control_conn_who(c));
		else if (e != 0) {
			ERR_error_string_n(e, buf, sizeof(buf));
			log_info("control: %s: TLS: %s", control_conn_who(c),
			    buf);
		} else
			log_debug("control: %s: connection error",
			    control_conn_who(c));
	} else if (what & BEV_EVENT_EOF)
		log_debug("control: %s: closed by the peer",
		    control_conn_who(c));
	control_conn_free(c);
}

/*
 * At accept: the source address's connections that are not online yet
 * are capped, and a full handshake pool makes room by closing its oldest
 * (a real agent's handshake takes milliseconds, a silent socket's never
 * ends).  0 to go on, -1 to refuse this one.
 */
static int
control_admit(struct control *ctl, const char *host)
{
	struct control_conn	*o, *oldest = NULL;
	size_t			 naddr = 0, nhs = 0;

	TAILQ_FOREACH(o, &ctl->conns, entry) {
		if (!control_conn_unauth(o))
			continue;
		if (strcmp(o->addr, host) == 0)
			naddr++;
		if (o->state == CONTROL_CONN_HANDSHAKE) {
			nhs++;
			if (oldest == NULL)
				oldest = o;
		}
	}
	if (naddr >= CONTROL_MAX_PER_ADDR) {
		control_drop(ctl, CONTROL_DROP_PER_ADDR, host);
		return (-1);
	}
	if (nhs >= CONTROL_MAX_HANDSHAKE && oldest != NULL) {
		control_drop(ctl, CONTROL_DROP_HANDSHAKE, oldest->addr);
		control_conn_free(oldest);
	}
	return (0);
}

/* The counts of control_drop, for the API. */
json_t *
control_stats_json(struct control *ctl)
{
	json_t			*o = json_object();
	struct control_conn	*c;
	json_int_t		 online = 0, unauth = 0;
	uint64_t		 now = server_now_ms(), lag = 0;

	TAILQ_FOREACH(c, &ctl->conns, entry) {
		if (c->state == CONTROL_CONN_ONLINE) {
			online++;
			if (now > c->heard && now - c->heard > lag)
				lag = now - c->heard;
		} else if (control_conn_unauth(c))
			unauth++;
	}
	json_object_set_new(o, "online", json_integer(online));
	/* The longest silence of an online agent (GET /metrics). */
	json_object_set_new(o, "heard_max_ms", json_integer((json_int_t)lag));
	json_object_set_new(o, "not_online", json_integer(unauth));
	json_object_set_new(o, "refused_per_address", json_integer(
	    (json_int_t)ctl->drops[CONTROL_DROP_PER_ADDR]));
	json_object_set_new(o, "handshakes_given_way", json_integer(
	    (json_int_t)ctl->drops[CONTROL_DROP_HANDSHAKE]));
	json_object_set_new(o, "refused_enrolling", json_integer(
	    (json_int_t)ctl->drops[CONTROL_DROP_UNAUTH]));
	return (o);
}

static void
control_accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct control		*ctl = arg;
	struct server		*srv = ctl->srv;
	struct control_conn	*c;
	SSL			*ssl;
	char			 host[NI_MAXHOST], why[256];

	if (getnameinfo(sa, salen, host, sizeof(host), NULL, 0,
	    NI_NUMERICHOST) != 0)
		snprintf(host, sizeof(host), "?");
	/*
	 * An IPv4 agent seen through a dual-stack listener is its IPv4
	 * address everywhere (segment, inventory, the unicast stream).
	 */
	if (strncasecmp(host, "::ffff:", 7) == 0 && strchr(host, '.') != NULL)
		memmove(host, host + 7, strlen(host + 7) + 1);
	if (control_admit(ctl, host) == -1) {
		evutil_closesocket(fd);
		return;
	}
	/* Small messages that wait for each other: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	if ((ssl = SSL_new(ctl->ssl)) == NULL) {
		log_warnx("control: %s: SSL_new failed", host);
		evutil_closesocket(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->ctl = ctl;
	snprintf(c->addr, sizeof(c->addr), "%s", host);
	/*
	 * The inventory's segment is the runs' rule (cb.on_segment, that is
	 * runs_on_segment: the subnet of the sending interface), so that
	 * `machine list` says "remote" for exactly the machines a run sends
	 * to by unicast.
	 */
	snprintf(c->segment, sizeof(c->segment), "%s",
	    ctl->cb.on_segment(ctl->arg, host, why, sizeof(why)) ? "local" :
	    "remote");
	log_debug("control: %s: %s", host, why);
	c->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx("control: %s: bufferevent failed", host);
		SSL_free(ssl);
		evutil_closesocket(fd);
		free(c);
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	TAILQ_INSERT_TAIL(&ctl->conns, c, entry);
	c->state = CONTROL_CONN_HANDSHAKE;
	control_conn_arm_timeout(c);
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    CTL_MAX_AGENT_FRAME + CTL_LEN_SIZE);
	bufferevent_setcb(c->bev, control_conn_read_cb, control_conn_write_cb,
	    control_conn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	log_debug("control: %s: connected", host);
}

struct control *
control_new(struct server *srv, const struct control_cb *cb, void *arg,
    char *err, size_t errlen)
{
	struct control		*ctl;
	struct evutil_addrinfo	 hints, *ai = NULL;
	char			*host = NULL, port[8];
	uint16_t		 p;
	int			 rv;

	ctl = xcalloc(1, sizeof(*ctl));
	ctl->srv = srv;
	ctl->cb = *cb;
	ctl->arg = arg;
	TAILQ_INIT(&ctl->conns);
	if ((ctl->ssl = ca_server_ctx(srv->ca, err, errlen)) == NULL)
		goto fail;
	if (parse_hostport(conf_str(srv->conf, "control_listen"), &host,
	    &p) == -1) {
		snprintf(err, errlen, "control_listen: not host:port");
		goto fail;
	}
	snprintf(port, sizeof(port), "%u", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
	if ((rv = evutil_getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "control_listen: %s: %s", host,
		    evutil_gai_strerror(rv));
		goto fail;
	}
	ctl->listener = evconnlistener_new_bind(srv->base, control_accept_cb,
	    ctl, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	    LEV_OPT_CLOSE_ON_EXEC, 128, ai->ai_addr, (int)ai->ai_addrlen);
	if (ctl->listener == NULL) {
		snprintf(err, errlen, "control_listen: %s: %s",
		    conf_str(srv->conf, "control_listen"),
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		goto fail;
	}
	evutil_freeaddrinfo(ai);
	free(host);
	log_info("control: listening on %s (TLS 1.3)",
	    conf_str(srv->conf, "control_listen"));
	return (ctl);
fail:
	if (ai != NULL)
		evutil_freeaddrinfo(ai);
	free(host);
	control_free(ctl);
	return (NULL);
}

void
control_free(struct control *ctl)
{
	struct control_conn	*c;

	if (ctl == NULL)
		return;
	while ((c = TAILQ_FIRST(&ctl->conns)) != NULL) {
		/* At shutdown the machines are not "offline" by choice. */
		if (c->state == CONTROL_CONN_ONLINE)
			c->state = CONTROL_CONN_CLOSING;
		control_conn_free(c);
	}
	if (ctl->listener != NULL)
		evconnlistener_free(ctl->listener);
	SSL_CTX_free(ctl->ssl);
	free(ctl);
}

/* Send to an online machine; -1 when it is not connected. */
int
control_send(struct control *ctl, const char *name, const struct ctl_msg *m)
{
	struct control_conn	*c;

	if ((c = control_conn_find(ctl, name, CONTROL_CONN_ONLINE)) == NULL)
		return (-1);
	return (control_conn_send(c, m));
}

int
control_online(struct control *ctl, const char *name)
{
	return (control_conn_find(ctl, name, CONTROL_CONN_ONLINE) != NULL);
}

const char *
control_segment(struct control *ctl, const char *name)
{
	struct control_conn	*c;

	if ((c = control_conn_find(ctl, name, CONTROL_CONN_ONLINE)) == NULL)
		return (NULL);
	return (c->segment);
}

/* The address an online machine connected from. */
const char *
control_address(struct control *ctl, const char *name)
{
	struct control_conn	*c;

	if ((c = control_conn_find(ctl, name, CONTROL_CONN_ONLINE)) == NULL)
		return (NULL);
	return (c->addr);
}

/*
 * An admin approved name: if the agent whose request (key) was approved
 * waits on a connection, sign its request now.  A connection waiting with
 * another key gets nothing; its agent must ask again.
 */
void
control_approved(struct control *ctl, const char *name)
{
	struct control_conn	*c;
	struct db_machine	 dm;

	if (db_machine_get(ctl->srv->db, name, &dm) == 1 && dm.csr != NULL &&
	    dm.csr_fp != NULL && dm.enroll == DB_ENROLL_APPROVED) {
		TAILQ_FOREACH(c, &ctl->conns, entry)
			if (c->state == CONTROL_CONN_PENDING &&
			    c->name != NULL && strcmp(c->name, name) == 0 &&
			    strcmp(c->req_fp, dm.csr_fp) == 0) {
				control_conn_issue(c, dm.csr);
				break;
			}
	}
	db_machine_clear(&dm);
}
