/*
 * The agent upgrading itself (MISSION.md M4).  An agent package (id
 * fleetcast-agent-VERSION, agentpkg.h) arrives like any package, by
 * multicast, and is verified the same way (signature, payload hash,
 * safe extraction) before run_exec.c hands it here instead of running
 * it.  Its state machine (upgrade_fsm, the record persisted in
 * state_dir/upgrade.state before each step) stages the new binary beside
 * the running one, keeps the old one as a hard link, renames the new one
 * over it (atomic) and has main() stop cleanly and execute it with the
 * same arguments: the same configuration, state directory, identity and
 * pins, and the next-boot queue in agent.db untouched.  A watchdog, forked
 * from the old agent just before, holds the old image: if the new agent
 * does not say "online" on the pipe it inherits within upgrade_timeout
 * seconds, or ends first, the watchdog stops it, renames the old binary
 * back and starts it, and the old agent's start records why on the
 * upgrade's run.  Whichever binary starts reads the record first, so that
 * a crash between two steps (or a power loss) ends the upgrade one way or
 * the other.  An agent only ever moves to a newer version.
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "agentpkg.h"
#include "fsutil.h"
#include "log.h"
#include "xmalloc.h"

#define UPGRADE_FILE		"upgrade.state"
#define UPGRADE_ENV_FD		"FLEETCAST_UPGRADE_FD"
#define UPGRADE_KILL_GRACE	5	/* s from SIGTERM to SIGKILL */
#define UPGRADE_LOCK_WAIT	15	/* s for the state_dir lock */

/* Stored as numbers in upgrade.state: append, never renumber. */
enum upgrade_state {
	UPGRADE_NONE = 0,	/* nothing in progress */
	UPGRADE_STAGED = 1,	/* new binary being put beside the old */
	UPGRADE_SWAPPED = 2,	/* new binary in place, to be executed */
	UPGRADE_STARTED = 3,	/* the new agent runs, not online yet */
	UPGRADE_DONE = 4,	/* the new agent came online */
	UPGRADE_ROLLED_BACK = 5, /* the old binary is back: reason */
};

enum upgrade_event {
	UPGRADE_EV_BEGIN,	/* an agent package is delivered */
	UPGRADE_EV_STAGED,	/* the new binary and the backup are there */
	UPGRADE_EV_START,	/* the new binary started */
	UPGRADE_EV_ONLINE,	/* ... and reached the server */
	UPGRADE_EV_FAIL,	/* a step failed, or the new agent did */
	UPGRADE_EV_CLEAR,	/* the run has the outcome: forget it */
};

struct upgrade_rec {
	enum upgrade_state	 state;
	uint64_t		 run_id;
	unsigned		 pkg;
	char			 from[AGENTPKG_VERSION_MAX + 1];
	char			 to[AGENTPKG_VERSION_MAX + 1];
	int64_t			 deadline;	/* UNIX s, SWAPPED on */
	char			 reason[512];
};

struct upgrade {
	struct agent		*agent;
	char			*state_dir;
	char			*file;		/* state_dir/upgrade.state */
	char			*binary;	/* what we were executed as */
	char			*staged;	/* .fleetcast-agent.new */
	char			*backup;	/* .fleetcast-agent.previous */
	char			**argv;		/* to execute again */
	unsigned		 timeout;
	int			 confirm_fd;	/* the watchdog's, or -1 */
	struct upgrade_rec	 rec;
	void			(*reexec)(void *);
	void			*arg;
};

static const char *
upgrade_strstate(int s)
{
	static const char *names[] = { "none", "staged", "swapped", "started",
	    "done", "rolled_back" };

	return (s >= 0 && s <= UPGRADE_ROLLED_BACK ? names[s] : "?");
}

static const char *
upgrade_strevent(int e)
{
	static const char *names[] = { "begin", "staged", "start", "online",
	    "fail", "clear" };

	return (e >= 0 && e <= UPGRADE_EV_CLEAR ? names[e] : "?");
}

/* Store the record, or remove it when nothing is in progress. */
static int
upgrade_save(struct upgrade *u, char *err, size_t errlen)
{
	char	buf[2048];
	int	n;

	if (u->rec.state == UPGRADE_NONE) {
		if (unlink(u->file) == -1 && errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", u->file,
			    strerror(errno));
			return (-1);
		}
		return (fsync_dir(u->state_dir) == -1 ? -1 : 0);
	}
	n = snprintf(buf, sizeof(buf), "state=%d\nrun=%" PRIu64 "\npkg=%u\n"
	    "from=%s\nto=%s\ndeadline=%" PRId64 "\nreason=%s\n",
	    (int)u->rec.state, u->rec.run_id, u->rec.pkg, u->rec.from,
	    u->rec.to, u->rec.deadline, u->rec.reason);
	return (atomic_write_file(u->file, buf, (size_t)n, 0600, err, errlen));
}

/* The one place the state changes: persisted, then logged. */
static int
upgrade_set_state(struct upgrade *u, enum upgrade_state ns, char *err,
    size_t errlen)
{
	enum upgrade_state	os = u->rec.state;

	u->rec.state = ns;
	if (upgrade_save(u, err, errlen) == -1) {
		u->rec.state = os;
		log_warnx("upgrade: %s -> %s not stored: %s",
		    upgrade_strstate(os), upgrade_strstate(ns), err);
		return (-1);
	}
	log_info("upgrade: run %" PRIu64 ": %s -> %s (%s -> %s)",
	    u->rec.run_id, upgrade_strstate(os), upgrade_strstate(ns),
	    u->rec.from, u->rec.to);
	return (0);
}

/*
 * Read the record; a missing file is no upgrade.  The file is ours, but
 * it may be cut short by a crash of another kind: anything malformed is
 * reported and treated as a failed upgrade of an unknown run.
 */
static int
upgrade_load(struct upgrade *u)
{
	FILE		*f;
	char		 line[1024], *v;
	unsigned long long n;
	int		 bad = 0, s = -1;

	memset(&u->rec, 0, sizeof(u->rec));
	if ((f = fopen(u->file, "r")) == NULL) {
		if (errno != ENOENT)
			log_warn("upgrade: %s", u->file);
		return (0);
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if ((v = strchr(line, '=')) == NULL) {
			bad = 1;
			continue;
		}
		*v++ = '\0';
		if (strcmp(line, "state") == 0)
			s = atoi(v);
		else if (strcmp(line, "run") == 0 &&
		    sscanf(v, "%llu", &n) == 1)
			u->rec.run_id = n;
		else if (strcmp(line, "pkg") == 0 &&
		    sscanf(v, "%llu", &n) == 1 && n < CTL_MAX_PKGS)
			u->rec.pkg = (unsigned)n;
		else if (strcmp(line, "from") == 0)
			snprintf(u->rec.from, sizeof(u->rec.from), "%s", v);
		else if (strcmp(line, "to") == 0)
			snprintf(u->rec.to, sizeof(u->rec.to), "%s", v);
		else if (strcmp(line, "deadline") == 0 &&
		    sscanf(v, "%llu", &n) == 1)
			u->rec.deadline = (int64_t)n;
		else if (strcmp(line, "reason") == 0)
			snprintf(u->rec.reason, sizeof(u->rec.reason), "%s", v);
		else
			bad = 1;
	}
	fclose(f);
	if (bad || s < UPGRADE_STAGED || s > UPGRADE_ROLLED_BACK ||
	    u->rec.run_id == 0 || u->rec.to[0] == '\0') {
		log_warnx("upgrade: %s is malformed; taking it as a failed "
		    "upgrade", u->file);
		s = UPGRADE_ROLLED_BACK;
		snprintf(u->rec.reason, sizeof(u->rec.reason), "the upgrade's "
		    "record %s was malformed", u->file);
	}
	u->rec.state = (enum upgrade_state)s;
	return (0);
}

int
upgrade_is_agent(const struct pkg_manifest *m)
{
	char	v[AGENTPKG_VERSION_MAX + 1];

	return (m->exec != NULL && strcmp(m->exec, AGENTPKG_EXEC) == 0 &&
	    agentpkg_version(m->id, v, sizeof(v)) == 0);
}

/*
 * May this agent install agent package m?  1 yes, 0 no with the reason:
 * not newer than this agent (never downgraded), another upgrade not
 * finished, or no binary path to replace.
 */
int
upgrade_check(struct upgrade *u, const struct pkg_manifest *m, char *why,
    size_t whylen)
{
	char	v[AGENTPKG_VERSION_MAX + 1];

	if (agentpkg_version(m->id, v, sizeof(v)) == -1) {
		snprintf(why, whylen, "%s: not an agent package id", m->id);
		return (0);
	}
	if (!agentpkg_newer(v, AGENT_VERSION)) {
		snprintf(why, whylen, "agent upgrade: fleetcast-agent %s is not "
		    "newer than the running %s; an agent is never downgraded",
		    v, AGENT_VERSION);
		return (0);
	}
	if (u == NULL || u->binary == NULL) {
		snprintf(why, whylen, "agent upgrade: the agent's own binary "
		    "could not be found (/proc/self/exe)");
		return (0);
	}
	if (u->rec.state != UPGRADE_NONE) {
		snprintf(why, whylen, "agent upgrade: another upgrade (run %"
		    PRIu64 ", to %s) is %s", u->rec.run_id, u->rec.to,
		    upgrade_strstate(u->rec.state));
		return (0);
	}
	return (1);
}

/* The package's binary beside ours (staged), the old one kept (backup). */
static int
upgrade_stage(struct upgrade *u, const char *pkgdir, char *err, size_t errlen)
{
	char	src[4096];

	snprintf(src, sizeof(src), "%s/%s", pkgdir, AGENTPKG_EXEC);
	(void)unlink(u->staged);
	if (agentpkg_copy(src, u->staged, 1, err, errlen) == -1)
		return (-1);
	/* The old binary stays reachable under a second name. */
	(void)unlink(u->backup);
	if (link(u->binary, u->backup) == -1) {
		snprintf(err, errlen, "keeping the old binary as %s: %s",
		    u->backup, strerror(errno));
		(void)unlink(u->staged);
		return (-1);
	}
	return (0);
}

/* The directory of a path, for fsync_dir. */
static void
upgrade_dirname(const char *path, char *dir, size_t len)
{
	char	*slash;

	snprintf(dir, len, "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir)
		*slash = '\0';
	else
		snprintf(dir, len, "/");
}

/*
 * What the upgrade records on its run in agent.db, so that run_init finds
 * the package decided instead of interrupted.  STARTED: the new agent
 * runs, the package succeeded (the run reports it once online, after the
 * watchdog heard so).  ONLINE: it is installed (its pkg.ID fact).  FAILED:
 * the old agent is back; the package failed with the reason, also when
 * the new agent had already concluded the run and not yet reported it.
 */
enum upgrade_out {
	UPGRADE_OUT_STARTED,
	UPGRADE_OUT_ONLINE,
	UPGRADE_OUT_FAILED,
};

static void
upgrade_outcome(struct upgrade *u, enum upgrade_out how, const char *msg)
{
	struct state		*st = u->agent->state;
	struct run_rec		*rec;
	struct run_pkg		*p;
	struct pkg_manifest	 m;
	char			 err[512];
	int			 ok;

	if (state_run_load(st, u->rec.run_id, &rec, err, sizeof(err)) == -1) {
		log_warnx("upgrade: run %" PRIu64 ": %s", u->rec.run_id, err);
		return;
	}
	ok = rec != NULL && rec->invalid == NULL && u->rec.pkg < rec->npkgs;
	p = ok ? &rec->pkgs[u->rec.pkg] : NULL;
	if (ok && how == UPGRADE_OUT_STARTED)
		ok = p->state == RUN_P_RUNNING;
	else if (ok && how == UPGRADE_OUT_FAILED)
		ok = p->state == RUN_P_RUNNING || (p->state ==
		    RUN_P_SUCCEEDED && !rec->reported);
	if (!ok) {
		log_warnx("upgrade: run %" PRIu64 " is not where the upgrade "
		    "left it; nothing recorded on it", u->rec.run_id);
		state_run_free(rec);
		return;
	}
	pkg_manifest_init(&m);
	if (how != UPGRADE_OUT_ONLINE) {
		p->state = how == UPGRADE_OUT_STARTED ? RUN_P_SUCCEEDED :
		    RUN_P_FAILED;
		p->has_exit = 0;
		free(p->message);
		p->message = xstrdup(msg);
		/* Concluded by the new agent, not yet told: it failed. */
		if (how == UPGRADE_OUT_FAILED && (rec->state == RUN_FINISHED ||
		    rec->state == RUN_DONE)) {
			rec->state = RUN_FINISHED;
			rec->outcome = CTL_RS_FAILED;
			free(rec->message);
			xasprintf(&rec->message, "%s: %s", p->id, msg);
		}
	}
	if (state_begin(st, err, sizeof(err)) == -1)
		goto fail;
	if (how == UPGRADE_OUT_ONLINE && (pkg_manifest_decode(&m, p->manifest,
	    p->manifest_len, err, sizeof(err)) == -1 ||
	    state_installed_add(st, &m, rec->run_id, err, sizeof(err)) == -1)) {
		state_rollback(st);
		goto fail;
	}
	rec->updated_at = (int64_t)time(NULL);
	if (how != UPGRADE_OUT_ONLINE && state_run_update(st, rec, err,
	    sizeof(err)) == -1) {
		state_rollback(st);
		goto fail;
	}
	if (state_commit(st, err, sizeof(err)) == -1)
		goto fail;
	pkg_manifest_free(&m);
	state_run_free(rec);
	return;
fail:
	log_warnx("upgrade: run %" PRIu64 ": outcome not stored: %s",
	    u->rec.run_id, err);
	pkg_manifest_free(&m);
	state_run_free(rec);
}

/*
 * The state machine.  The old agent goes NONE -> STAGED -> SWAPPED and
 * executes the new binary; the new one goes SWAPPED -> STARTED -> DONE ->
 * NONE; a failure anywhere goes to ROLLED_BACK (the watchdog's, or a
 * start that finds the old binary running), then NONE once the run has
 * the reason.
 */
static int
upgrade_fsm(struct upgrade *u, enum upgrade_event ev, const char *pkgdir,
    char *err, size_t errlen)
{
	char	dir[4096];

	switch (u->rec.state) {
	case UPGRADE_NONE:
		if (ev != UPGRADE_EV_BEGIN)
			break;
		if (upgrade_set_state(u, UPGRADE_STAGED, err, errlen) == -1)
			return (-1);
		if (upgrade_stage(u, pkgdir, err, errlen) == -1) {
			u->rec.state = UPGRADE_NONE;
			(void)upgrade_save(u, dir, sizeof(dir));
			return (-1);
		}
		return (upgrade_fsm(u, UPGRADE_EV_STAGED, NULL, err, errlen));
	case UPGRADE_STAGED:
		if (ev != UPGRADE_EV_STAGED)
			break;
		u->rec.deadline = (int64_t)time(NULL) + u->timeout;
		if (upgrade_set_state(u, UPGRADE_SWAPPED, err, errlen) == -1)
			return (-1);
		if (rename(u->staged, u->binary) == -1) {
			snprintf(err, errlen, "rename %s to %s: %s", u->staged,
			    u->binary, strerror(errno));
			(void)unlink(u->staged);
			(void)unlink(u->backup);
			u->rec.state = UPGRADE_NONE;
			(void)upgrade_save(u, dir, sizeof(dir));
			return (-1);
		}
		upgrade_dirname(u->binary, dir, sizeof(dir));
		(void)fsync_dir(dir);
		log_info("upgrade: %s is fleetcast-agent %s now; executing it",
		    u->binary, u->rec.to);
		u->reexec(u->arg);
		return (0);
	case UPGRADE_SWAPPED:
		if (ev != UPGRADE_EV_START)
			break;
		return (upgrade_set_state(u, UPGRADE_STARTED, err, errlen));
	case UPGRADE_STARTED:
		if (ev == UPGRADE_EV_ONLINE) {
			if (upgrade_set_state(u, UPGRADE_DONE, err, errlen) ==
			    -1)
				return (-1);
			(void)unlink(u->backup);
			log_info("upgrade: fleetcast-agent %s -> %s: online",
			    u->rec.from, u->rec.to);
			upgrade_outcome(u, UPGRADE_OUT_ONLINE, NULL);
			return (upgrade_fsm(u, UPGRADE_EV_CLEAR, NULL, err,
			    errlen));
		}
		break;
	case UPGRADE_DONE:
	case UPGRADE_ROLLED_BACK:
		if (ev != UPGRADE_EV_CLEAR)
			break;
		return (upgrade_set_state(u, UPGRADE_NONE, err, errlen));
	}
	if (ev == UPGRADE_EV_FAIL) {
		snprintf(u->rec.reason, sizeof(u->rec.reason), "%s", err);
		return (upgrade_set_state(u, UPGRADE_ROLLED_BACK, err, errlen));
	}
	log_warnx("upgrade: event %s ignored in state %s",
	    upgrade_strevent(ev), upgrade_strstate(u->rec.state));
	return (-1);
}

struct upgrade *
upgrade_new(struct agent *a, char **argv, unsigned timeout,
    void (*reexec)(void *), void *arg)
{
	struct upgrade	*u;
	char		 path[PATH_MAX], dir[PATH_MAX], *base;
	const char	*env;
	ssize_t		 n;
	long		 fd;

	u = xcalloc(1, sizeof(*u));
	u->agent = a;
	u->argv = argv;
	u->timeout = timeout;
	u->reexec = reexec;
	u->arg = arg;
	u->confirm_fd = -1;
	u->state_dir = xstrdup(state_dir(a->state));
	xasprintf(&u->file, "%s/%s", u->state_dir, UPGRADE_FILE);
	/* Read at start, before anything could replace the file. */
	if ((n = readlink("/proc/self/exe", path, sizeof(path) - 1)) > 0) {
		path[n] = '\0';
		u->binary = xstrdup(path);
		upgrade_dirname(path, dir, sizeof(dir));
		base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 :
		    path;
		xasprintf(&u->staged, "%s/.%s.new", dir, base);
		xasprintf(&u->backup, "%s/.%s.previous", dir, base);
	} else
		log_warn("upgrade: /proc/self/exe");
	/* Started by an upgrade: the watchdog's pipe, kept from children. */
	if ((env = getenv(UPGRADE_ENV_FD)) != NULL) {
		fd = strtol(env, NULL, 10);
		if (fd > 2 && fd < INT_MAX && fcntl((int)fd, F_SETFD,
		    FD_CLOEXEC) == 0)
			u->confirm_fd = (int)fd;
		unsetenv(UPGRADE_ENV_FD);
	}
	return (u);
}

void
upgrade_free(struct upgrade *u)
{
	if (u == NULL)
		return;
	if (u->confirm_fd != -1)
		close(u->confirm_fd);
	free(u->state_dir);
	free(u->file);
	free(u->binary);
	free(u->staged);
	free(u->backup);
	free(u);
}

/* Tell the watchdog one line; it reads them until "online". */
static void
upgrade_tell(struct upgrade *u, const char *line)
{
	if (u->confirm_fd != -1 && write_all(u->confirm_fd, line,
	    strlen(line)) == -1)
		log_warn("upgrade: telling the watchdog");
}

/*
 * At start, before the runs are loaded: finish what a previous process
 * left.  Which binary runs tells how far it went: the new version means
 * it started (its run succeeds once it is online: the watchdog undoes
 * it otherwise), the old one means it did not, or was rolled back.
 */
void
upgrade_startup(struct upgrade *u)
{
	char	err[768], msg[768], line[64];

	snprintf(line, sizeof(line), "pid %ld\n", (long)getpid());
	upgrade_tell(u, line);
	(void)upgrade_load(u);
	if (u->rec.state == UPGRADE_NONE)
		return;
	if (strcmp(AGENT_VERSION, u->rec.to) == 0 &&
	    (u->rec.state == UPGRADE_SWAPPED ||
	    u->rec.state == UPGRADE_STARTED)) {
		if (u->rec.state == UPGRADE_SWAPPED &&
		    upgrade_fsm(u, UPGRADE_EV_START, NULL, err,
		    sizeof(err)) == -1)
			return;
		log_info("upgrade: run %" PRIu64 ": fleetcast-agent %s started "
		    "in place of %s; online within %" PRId64 " s or the old "
		    "one comes back", u->rec.run_id, u->rec.to, u->rec.from,
		    u->rec.deadline - (int64_t)time(NULL));
		snprintf(msg, sizeof(msg), "agent upgraded: fleetcast-agent "
		    "%s -> %s", u->rec.from, u->rec.to);
		upgrade_outcome(u, UPGRADE_OUT_STARTED, msg);
		return;
	}
	if (u->rec.state != UPGRADE_ROLLED_BACK) {
		/* Stopped before the swap, or the new binary never ran. */
		snprintf(err, sizeof(err), "the agent stopped in the upgrade "
		    "(%s) and fleetcast-agent %s is running",
		    upgrade_strstate(u->rec.state), AGENT_VERSION);
		if (u->binary != NULL)
			(void)unlink(u->staged);
		(void)upgrade_fsm(u, UPGRADE_EV_FAIL, NULL, err, sizeof(err));
	}
	if (u->binary != NULL)
		(void)unlink(u->backup);
	snprintf(msg, sizeof(msg), "agent upgrade to %s failed, "
	    "fleetcast-agent %s restored: %s", u->rec.to, AGENT_VERSION,
	    u->rec.reason);
	log_warnx("upgrade: run %" PRIu64 ": %s", u->rec.run_id, msg);
	upgrade_outcome(u, UPGRADE_OUT_FAILED, msg);
	(void)upgrade_fsm(u, UPGRADE_EV_CLEAR, NULL, err, sizeof(err));
}

/* The new agent reached the server: the upgrade holds. */
void
upgrade_online(struct upgrade *u)
{
	char	err[512];

	if (u->confirm_fd != -1) {
		upgrade_tell(u, "online\n");
		close(u->confirm_fd);
		u->confirm_fd = -1;
	}
	if (u->rec.state == UPGRADE_STARTED)
		(void)upgrade_fsm(u, UPGRADE_EV_ONLINE, NULL, err,
		    sizeof(err));
}

/*
 * run_exec.c's agent package, delivered and verified: stage it, swap it
 * in and have the agent execute it.  -1 with err when a step failed
 * (nothing replaced); the package then fails like any other.
 */
int
upgrade_begin(struct upgrade *u, uint64_t run_id, size_t pkg,
    const char *pkgdir, const struct pkg_manifest *m, char *err,
    size_t errlen)
{
	char	v[AGENTPKG_VERSION_MAX + 1];

	if (upgrade_check(u, m, err, errlen) != 1)
		return (-1);
	(void)agentpkg_version(m->id, v, sizeof(v));
	memset(&u->rec, 0, sizeof(u->rec));
	u->rec.run_id = run_id;
	u->rec.pkg = (unsigned)pkg;
	snprintf(u->rec.from, sizeof(u->rec.from), "%s", AGENT_VERSION);
	snprintf(u->rec.to, sizeof(u->rec.to), "%s", v);
	return (upgrade_fsm(u, UPGRADE_EV_BEGIN, pkgdir, err, errlen));
}

/*
 * The watchdog, in the old agent's image: wait for the new agent's
 * "online" line until the deadline.  On EOF or timeout, stop the new
 * agent, put the old binary back, record why and start it.
 */
static _Noreturn void
upgrade_watch(struct upgrade *u, int fd)
{
	struct pollfd	 pfd;
	char		 buf[256], line[256], path[4096], err[512];
	size_t		 len = 0;
	ssize_t		 n;
	long		 pid = 0;
	int		 ms, lk, i;
	int64_t		 left;

	for (;;) {
		left = u->rec.deadline - (int64_t)time(NULL);
		if (left <= 0) {
			snprintf(err, sizeof(err), "fleetcast-agent %s did not "
			    "come online within %u s", u->rec.to, u->timeout);
			break;
		}
		ms = left > 3600 ? 3600000 : (int)left * 1000;
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, sizeof(err), "watchdog: poll: %s",
			    strerror(errno));
			break;
		}
		if (pfd.revents == 0)
			continue;
		if ((n = read(fd, buf, sizeof(buf))) == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, sizeof(err), "fleetcast-agent %s ended "
			    "before it came online (crashed or refused to "
			    "start: see its log)", u->rec.to);
			break;
		}
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (len < sizeof(line) - 1)
					line[len++] = buf[i];
				continue;
			}
			line[len] = '\0';
			len = 0;
			if (strcmp(line, "online") == 0)
				_exit(0);
			if (strncmp(line, "pid ", 4) == 0)
				pid = strtol(line + 4, NULL, 10);
		}
	}
	close(fd);
	log_warnx("upgrade: watchdog: %s; restoring fleetcast-agent %s",
	    err, u->rec.from);
	if (pid > 1 && kill((pid_t)pid, SIGTERM) == 0) {
		for (i = 0; i < UPGRADE_KILL_GRACE * 10 &&
		    kill((pid_t)pid, 0) == 0; i++)
			usleep(100000);
		(void)kill((pid_t)pid, SIGKILL);
	}
	if (rename(u->backup, u->binary) == -1)
		log_warn("upgrade: watchdog: rename %s to %s", u->backup,
		    u->binary);
	upgrade_dirname(u->binary, path, sizeof(path));
	(void)fsync_dir(path);
	(void)upgrade_fsm(u, UPGRADE_EV_FAIL, NULL, err, sizeof(err));
	/* The new agent's lock goes with its last descriptor. */
	snprintf(path, sizeof(path), "%s/lock", u->state_dir);
	if ((lk = open(path, O_RDWR | O_CLOEXEC)) != -1) {
		for (i = 0; i < UPGRADE_LOCK_WAIT * 10 &&
		    flock(lk, LOCK_EX | LOCK_NB) == -1; i++)
			usleep(100000);
		close(lk);
	}
	execv(u->binary, u->argv);
	log_warn("upgrade: watchdog: executing %s", u->binary);
	_exit(1);
}

/*
 * Called by main() once the agent has stopped cleanly after the swap:
 * fork the watchdog, then become the new binary with the same arguments.
 * The state_dir lock (lockfd) must not stay with the watchdog, or the new
 * agent could not take it.
 */
void
upgrade_exec(struct upgrade *u, int lockfd)
{
	int	fds[2];
	pid_t	pid;
	char	num[16];

	if (pipe(fds) == -1)
		fatal("upgrade: pipe");
	if ((pid = fork()) == -1)
		fatal("upgrade: fork");
	if (pid == 0) {
		close(lockfd);
		close(fds[1]);
		(void)setsid();
		upgrade_watch(u, fds[0]);
	}
	close(fds[0]);
	close(lockfd);
	snprintf(num, sizeof(num), "%d", fds[1]);
	if (setenv(UPGRADE_ENV_FD, num, 1) == -1)
		fatal("upgrade: setenv");
	execv(u->binary, u->argv);
	/* The watchdog sees the pipe close and restores the old binary. */
	log_warn("upgrade: executing %s", u->binary);
	_exit(1);
}
