/*
 * An admin's `fleetcast machine reboot' or `poweroff' outside any
 * scenario (MISSION.md M2): the server's POWER message runs the agent's
 * reboot_command or poweroff_command, as the scenario hooks do (no shell,
 * a bounded time), and POWER_DONE tells the server what the command did,
 * for the machine's event log.  One command at a time: a second request
 * while one runs is answered at once with a refusal.  Nothing is stored:
 * a request lost to a crash is not repeated behind the admin's back.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "conf.h"
#include "ctl.h"
#include "log.h"
#include "xmalloc.h"

#define POWER_TIMEOUT	120	/* s for the command to return */

struct power {
	struct agent	*agent;
	struct exec_job	*job;
	uint8_t		 action;	/* of job */
};

static const char *
power_key(uint8_t action)
{
	return (action == CTL_POWER_REBOOT ? "reboot_command" :
	    "poweroff_command");
}

static void
power_reply(struct power *p, uint8_t action, int ok, const char *msg)
{
	struct ctl_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = CTL_POWER_DONE;
	m.u.power_done.action = action;
	m.u.power_done.ok = ok ? 1 : 0;
	m.u.power_done.message = (char *)msg;
	if (ok)
		log_info("power: %s", msg);
	else
		log_warnx("power: %s", msg);
	(void)agent_conn_send(p->agent->conn, &m);
}

static void
power_done(const struct exec_result *res, void *arg)
{
	struct power	*p = arg;
	char		 how[256], msg[512];
	int		 ok;

	p->job = NULL;
	exec_describe(res, POWER_TIMEOUT, how, sizeof(how));
	ok = res->how == EXEC_EXITED && res->exit_status == 0;
	snprintf(msg, sizeof(msg), "%s %s", power_key(p->action), ok ?
	    "ran (exit status 0)" : how);
	power_reply(p, p->action, ok, msg);
}

struct power *
power_new(struct agent *a)
{
	struct power	*p;

	p = xcalloc(1, sizeof(*p));
	p->agent = a;
	return (p);
}

void
power_free(struct power *p)
{
	free(p);	/* a running job is exec_shutdown's */
}

/* The server's POWER: run the command it names. */
void
power_request(struct power *p, const struct ctl_msg *m)
{
	const char	*key = power_key(m->u.power.action), *cmd;
	char		**argv = NULL, err[512], msg[768];

	if (p->job != NULL) {
		snprintf(msg, sizeof(msg), "%s refused: %s is still running",
		    key, power_key(p->action));
		power_reply(p, m->u.power.action, 0, msg);
		return;
	}
	cmd = conf_str(p->agent->conf, key);
	if (cmd == NULL || (argv = exec_split(cmd, err, sizeof(err))) ==
	    NULL || argv[0] == NULL) {
		if (cmd != NULL && argv != NULL)
			exec_free_argv(argv);
		snprintf(msg, sizeof(msg), "%s: %s", key, cmd == NULL ?
		    "not set" : "empty or unreadable command");
		power_reply(p, m->u.power.action, 0, msg);
		return;
	}
	log_info("power: the server asks for %s: running %s",
	    m->u.power.action == CTL_POWER_REBOOT ? "a reboot" : "a power-off",
	    cmd);
	p->action = m->u.power.action;
	p->job = exec_command(argv, POWER_TIMEOUT, power_done, p, err,
	    sizeof(err));
	exec_free_argv(argv);
	if (p->job == NULL) {
		snprintf(msg, sizeof(msg), "%s: %s", key, err);
		power_reply(p, m->u.power.action, 0, msg);
	}
}
