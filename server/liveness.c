/*
 * Alive and power state (MISSION.md M2).  The server tells three cases
 * apart for every enrolled machine: online (its agent holds the control
 * connection), agent_down (the agent is silent but the machine answers:
 * a TCP connect to liveness_port on its last address is accepted or
 * refused, which only a running host does) and off (no answer within
 * LIVENESS_PROBE_MS, or the network says the host is unreachable); unknown
 * until the first check.  A pass runs every liveness_interval seconds,
 * and a machine a new run needs is checked at once.  TCP needs no raw
 * socket privileges, unlike ICMP echo.  Each machine's state goes through
 * liveness_set, which logs `old -> new` and writes the change to the
 * machine's event log.  This file also sends an admin's reboot or
 * power-off (POWER) to an online agent and records the request.
 */
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "log.h"
#include "server.h"
#include "xmalloc.h"

#define LIVENESS_PROBE_MS	3000	/* for a TCP answer */
#define LIVENESS_MAX		100000	/* machines tracked */

enum liveness_state {
	LIVENESS_UNKNOWN,
	LIVENESS_ONLINE,
	LIVENESS_AGENT_DOWN,
	LIVENESS_OFF,
};

struct liveness_machine {
	char			*name;
	enum liveness_state	 state;
	char			 detail[256];
	uint64_t		 checked_at;
	evutil_socket_t		 fd;		/* a probe, or -1 */
	struct event		*ev;
	struct liveness		*lv;
	char			 target[128];	/* ADDR:PORT being probed */
};

struct liveness {
	struct server		*srv;
	struct event		*timer;
	int			 interval;	/* s */
	int			 port;
	struct liveness_machine	**m;
	size_t			 n;
};

static const char *
liveness_strstate(enum liveness_state s)
{
	switch (s) {
	case LIVENESS_ONLINE:
		return ("online");
	case LIVENESS_AGENT_DOWN:
		return ("agent_down");
	case LIVENESS_OFF:
		return ("off");
	default:
		return ("unknown");
	}
}

static struct liveness_machine *
liveness_find(struct liveness *lv, const char *name, int make)
{
	struct liveness_machine	*m;
	size_t			 i;

	for (i = 0; i < lv->n; i++)
		if (strcmp(lv->m[i]->name, name) == 0)
			return (lv->m[i]);
	if (!make || lv->n >= LIVENESS_MAX)
		return (NULL);
	m = xcalloc(1, sizeof(*m));
	m->name = xstrdup(name);
	m->fd = -1;
	m->lv = lv;
	lv->m = xreallocarray(lv->m, lv->n + 1, sizeof(*lv->m));
	lv->m[lv->n++] = m;
	return (m);
}

/* The one place a machine's state changes. */
static void
liveness_set(struct liveness_machine *m, enum liveness_state ns,
    const char *detail)
{
	enum liveness_state	 os = m->state;
	uint64_t		 now = server_now_ms();

	m->checked_at = now;
	snprintf(m->detail, sizeof(m->detail), "%s", detail);
	if (os == ns)
		return;
	m->state = ns;
	log_info("liveness: %s: %s -> %s (%s)", m->name,
	    liveness_strstate(os), liveness_strstate(ns), detail);
	db_event(m->lv->srv->db, now, "power", 0, m->name, "%s -> %s: %s",
	    liveness_strstate(os), liveness_strstate(ns), detail);
}

static void
liveness_probe_end(struct liveness_machine *m)
{
	if (m->ev != NULL)
		event_free(m->ev);
	m->ev = NULL;
	if (m->fd != -1)
		close(m->fd);
	m->fd = -1;
}

/* What a connect's outcome says about the host. */
static void
liveness_verdict(struct liveness_machine *m, int e)
{
	char	d[256];

	if (e == 0) {
		snprintf(d, sizeof(d), "the agent is silent; %s accepts "
		    "connections", m->target);
		liveness_set(m, LIVENESS_AGENT_DOWN, d);
	} else if (e == ECONNREFUSED) {
		snprintf(d, sizeof(d), "the agent is silent; the host answers "
		    "(%s refused)", m->target);
		liveness_set(m, LIVENESS_AGENT_DOWN, d);
	} else {
		snprintf(d, sizeof(d), "%s: %s", m->target, e == ETIMEDOUT ?
		    "no answer within 3 s" : strerror(e));
		liveness_set(m, LIVENESS_OFF, d);
	}
}

static void
liveness_probe_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct liveness_machine	*m = arg;
	socklen_t		 len = sizeof(int);
	int			 e = 0;

	if (ev & EV_TIMEOUT)
		e = ETIMEDOUT;
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == -1)
		e = errno;
	liveness_probe_end(m);
	/* The agent may have come back while we waited. */
	if (control_online(m->lv->srv->control, m->name))
		liveness_set(m, LIVENESS_ONLINE, "agent connected");
	else
		liveness_verdict(m, e);
}

/* Start a TCP probe of the machine's last address. */
static void
liveness_probe(struct liveness_machine *m, const char *addr)
{
	struct liveness		*lv = m->lv;
	struct addrinfo		 hints, *ai = NULL;
	struct timeval		 tv = { LIVENESS_PROBE_MS / 1000,
	    (LIVENESS_PROBE_MS % 1000) * 1000 };
	char			 port[8];
	int			 fd;

	if (m->fd != -1)
		return;		/* one at a time */
	if (addr == NULL || lv->port == 0) {
		liveness_set(m, LIVENESS_UNKNOWN, addr == NULL ? "agent "
		    "silent, no address known to check" : "agent silent; "
		    "liveness_port is 0, so the host is not checked");
		return;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%d", lv->port);
	snprintf(m->target, sizeof(m->target), "%s%s%s:%d",
	    strchr(addr, ':') != NULL ? "[" : "", addr,
	    strchr(addr, ':') != NULL ? "]" : "", lv->port);
	if (getaddrinfo(addr, port, &hints, &ai) != 0 || ai == NULL) {
		liveness_set(m, LIVENESS_UNKNOWN, "agent silent, its last "
		    "address is not numeric");
		return;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		log_warn("liveness: %s: socket", m->name);
		freeaddrinfo(ai);
		return;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
	    errno != EINPROGRESS) {
		int e = errno;

		freeaddrinfo(ai);
		close(fd);
		liveness_verdict(m, e == EINPROGRESS ? 0 : e);
		return;
	}
	freeaddrinfo(ai);
	m->fd = fd;
	if ((m->ev = event_new(lv->srv->base, fd, EV_WRITE,
	    liveness_probe_cb, m)) == NULL || event_add(m->ev, &tv) == -1) {
		log_warnx("liveness: %s: cannot watch the probe", m->name);
		liveness_probe_end(m);
	}
}

/* Check one machine (a row of db_machines_json) now. */
static void
liveness_check_json(struct liveness *lv, json_t *o)
{
	struct liveness_machine	*m;
	const char		*name, *enroll;

	name = json_string_value(json_object_get(o, "name"));
	enroll = json_string_value(json_object_get(o, "enrollment"));
	if (name == NULL || enroll == NULL || strcmp(enroll, "enrolled") != 0 ||
	    (m = liveness_find(lv, name, 1)) == NULL)
		return;
	if (control_online(lv->srv->control, name)) {
		liveness_probe_end(m);
		liveness_set(m, LIVENESS_ONLINE, "agent connected");
		return;
	}
	liveness_probe(m, json_string_value(json_object_get(o, "address")));
}

static void
liveness_pass(evutil_socket_t fd, short ev, void *arg)
{
	struct liveness	*lv = arg;
	struct timeval	 tv = { lv->interval, 0 };
	json_t		*a, *o;
	size_t		 i;

	if ((a = db_machines_json(lv->srv->db, NULL)) != NULL) {
		json_array_foreach(a, i, o)
			liveness_check_json(lv, o);
		json_decref(a);
	}
	evtimer_add(lv->timer, &tv);
}

/* A run needs this machine: check it now rather than at the next pass. */
void
liveness_needed(struct liveness *lv, const char *name)
{
	json_t	*o;

	if ((o = db_machines_json(lv->srv->db, name)) == NULL)
		return;
	liveness_check_json(lv, o);
	json_decref(o);
}

/* The agent came or went: no probe needed to know that much. */
void
liveness_agent(struct liveness *lv, const char *name, int online)
{
	struct liveness_machine	*m;

	if ((m = liveness_find(lv, name, 1)) == NULL)
		return;
	if (online) {
		liveness_probe_end(m);
		liveness_set(m, LIVENESS_ONLINE, "agent connected");
	} else
		liveness_needed(lv, name);
}

/* power, power_detail and power_checked_at in a machine (or an array). */
void
liveness_annotate(struct liveness *lv, json_t *j)
{
	struct liveness_machine	*m;
	const char		*name;
	json_t			*o;
	size_t			 i;
	char			 t[64];

	if (json_is_array(j)) {
		json_array_foreach(j, i, o)
			liveness_annotate(lv, o);
		return;
	}
	if ((name = json_string_value(json_object_get(j, "name"))) == NULL)
		return;
	m = liveness_find(lv, name, 0);
	json_object_set_new(j, "power", json_string(m != NULL ?
	    liveness_strstate(m->state) : "unknown"));
	json_object_set_new(j, "power_detail", m != NULL &&
	    m->detail[0] != '\0' ? json_string(m->detail) : json_null());
	json_object_set_new(j, "power_checked_at", m != NULL &&
	    m->checked_at != 0 ? json_string(db_format_time(m->checked_at, t,
	    sizeof(t))) : json_null());
}

/*
 * An admin's reboot or power-off: sent to the online agent, which runs
 * its reboot_command or poweroff_command and answers (control.c records
 * the answer).  -1 with err and an HTTP status when it cannot go.
 */
int
liveness_power(struct liveness *lv, const char *name, int action, char *err,
    size_t errlen, int *status)
{
	struct server		*srv = lv->srv;
	struct liveness_machine	*m;
	struct ctl_msg		 msg;
	const char		*what = action == CTL_POWER_REBOOT ? "reboot" :
	    "poweroff";
	json_t			*o;

	if ((o = db_machines_json(srv->db, name)) == NULL) {
		snprintf(err, errlen, "machine %s: no such machine", name);
		*status = 404;
		return (-1);
	}
	json_decref(o);
	if (!control_online(srv->control, name)) {
		m = liveness_find(lv, name, 0);
		snprintf(err, errlen, "machine %s: its agent is not online "
		    "(power state %s%s%s): a %s goes through the agent's %s",
		    name, m != NULL ? liveness_strstate(m->state) : "unknown",
		    m != NULL && m->detail[0] != '\0' ? ": " : "",
		    m != NULL ? m->detail : "", what, action ==
		    CTL_POWER_REBOOT ? "reboot_command" : "poweroff_command");
		/* Not the admin's mistake: the operation failed (exit 1). */
		*status = 503;
		return (-1);
	}
	memset(&msg, 0, sizeof(msg));
	msg.type = CTL_POWER;
	msg.u.power.action = (uint8_t)action;
	if (control_send(srv->control, name, &msg) == -1) {
		snprintf(err, errlen, "machine %s: the %s request could not be "
		    "sent", name, what);
		*status = 500;
		return (-1);
	}
	log_info("liveness: %s: %s requested by the admin", name, what);
	db_event(srv->db, server_now_ms(), "power", 0, name, "%s requested "
	    "by the admin", what);
	return (0);
}

struct liveness *
liveness_new(struct server *srv, int interval, int port, char *err,
    size_t errlen)
{
	struct liveness	*lv;
	struct timeval	 tv = { 1, 0 };

	lv = xcalloc(1, sizeof(*lv));
	lv->srv = srv;
	lv->interval = interval;
	lv->port = port;
	if ((lv->timer = evtimer_new(srv->base, liveness_pass, lv)) == NULL ||
	    evtimer_add(lv->timer, &tv) == -1) {
		snprintf(err, errlen, "liveness: cannot arm the timer");
		if (lv->timer != NULL)
			event_free(lv->timer);
		free(lv);
		return (NULL);
	}
	return (lv);
}

void
liveness_free(struct liveness *lv)
{
	struct liveness_machine	*m;

	if (lv == NULL)
		return;
	event_free(lv->timer);
	while (lv->n > 0) {
		m = lv->m[--lv->n];
		liveness_probe_end(m);
		free(m->name);
		free(m);
	}
	free(lv->m);
	free(lv);
}
