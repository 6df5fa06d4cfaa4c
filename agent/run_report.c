/*
 * What the agent says about a run: its REPORTs to the server (progress,
 * where it is after a reconnection or a repeated ASSIGN, the outcome),
 * and the names of its states and events in the log.  A report that
 * matters is followed by a heartbeat (run_report_sync): once the server
 * acknowledges that heartbeat it has processed the report, which is how
 * a finished run learns it may become done.
 */
#include <inttypes.h>
#include <string.h>

#include "agent.h"
#include "ctl.h"
#include "log.h"
#include "run_int.h"

static const char *run_states[] = {
	"assigned", "ready", "receiving", "delivered", "queued", "running",
	"finished", "done",
};

static const char *run_events[] = {
	"assign", "start", "cancel", "received", "verified", "executed",
	"resume", "boot", "synced", "online", "probe", "reroute-late",
};

const char *
run_strstate(int s)
{
	if (s < 0 || s > RUN_DONE)
		return ("?");
	return (run_states[s]);
}

const char *
run_strevent(int ev)
{
	if (ev < 0 || ev > RUN_EV_REROUTE_LATE)
		return ("?");
	return (run_events[ev]);
}

/* -1: offline, the report was not sent (the caller may keep it). */
int
run_report(struct run *r, int rstate, uint16_t idx, uint64_t bytes,
    int has_exit, int32_t exit_status, const char *msg, const char *output)
{
	struct ctl_msg	m;

	memset(&m, 0, sizeof(m));
	m.type = CTL_REPORT;
	m.u.report.run_id = r->rec->run_id;
	m.u.report.state = (uint8_t)rstate;
	m.u.report.pkg_index = idx;
	m.u.report.bytes = bytes;
	m.u.report.has_exit = has_exit;
	m.u.report.exit_status = exit_status;
	m.u.report.message = (char *)(msg != NULL ? msg : "");
	m.u.report.output = (char *)(output != NULL ? output : "");
	if (agent_conn_send(r->agent->conn, &m) == -1)
		return (-1);
	log_debug("run %" PRIu64 ": reported %s (package %u)",
	    r->rec->run_id, ctl_strrstate(rstate), idx);
	return (0);
}

/* Report, then learn when the server has it (RUN_EV_SYNCED). */
void
run_report_sync(struct run *r, int rstate, uint16_t idx, int has_exit,
    int32_t exit_status, const char *msg, const char *output)
{
	(void)run_report(r, rstate, idx, 0, has_exit, exit_status, msg,
	    output);
	r->sync_seq = agent_conn_sync(r->agent->conn);
}

/* The final report, from what is stored. */
void
run_report_outcome(struct run *r)
{
	struct run_pkg	*p = NULL;
	size_t		 i;

	/* The package that decided the outcome gives exit status and output. */
	for (i = 0; i < r->rec->npkgs; i++) {
		if (r->rec->pkgs[i].state == RUN_P_FAILED ||
		    r->rec->pkgs[i].state == RUN_P_INTERRUPTED) {
			p = &r->rec->pkgs[i];
			break;
		}
		if (r->rec->pkgs[i].state == RUN_P_SUCCEEDED)
			p = &r->rec->pkgs[i];
	}
	if (p != NULL && r->rec->outcome != CTL_RS_ERROR)
		run_report_sync(r, r->rec->outcome, (uint16_t)(p -
		    r->rec->pkgs), p->has_exit, p->exit_status,
		    r->rec->message, p->output);
	else
		run_report_sync(r, r->rec->outcome, 0, 0, 0, r->rec->message,
		    NULL);
}

/*
 * A queued run: pending_boot for an at-next-boot scenario (S10); a run
 * that waits for the reboot its exclusive package needs is, for the
 * server, already running (its scenario was not deferred by the admin).
 */
void
run_report_queued(struct run *r)
{
	run_report_sync(r, (r->rec->options & CTL_OPT_AT_NEXT_BOOT) ?
	    CTL_RS_PENDING_BOOT : CTL_RS_RUNNING, 0, 0, 0, r->rec->message,
	    NULL);
}

/* Say again where the run is (a repeated ASSIGN, a reconnection). */
void
run_report_current(struct run *r)
{
	uint16_t	i = r->rec->pkg_index;

	switch (r->rec->state) {
	case RUN_ASSIGNED:
		break;
	case RUN_READY:
		run_report(r, CTL_RS_READY, i, 0, 0, 0, NULL, NULL);
		break;
	case RUN_RECEIVING:
		run_report(r, CTL_RS_RECEIVING, i, r->rec->pkgs[i].bytes, 0, 0,
		    NULL, NULL);
		break;
	case RUN_DELIVERED:
		run_report(r, CTL_RS_DELIVERED, (uint16_t)(r->rec->npkgs - 1),
		    r->rec->pkgs[r->rec->npkgs - 1].size, 0, 0, NULL, NULL);
		break;
	case RUN_QUEUED:
		run_report_queued(r);
		break;
	case RUN_RUNNING:
		run_report(r, CTL_RS_RUNNING, i, 0, 0, 0, NULL, NULL);
		break;
	case RUN_FINISHED:
	case RUN_DONE:
		if (r->rec->reported)
			break;
		run_report_outcome(r);
		break;
	}
}
