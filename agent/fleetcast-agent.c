/*
 * fleetcast-agent: the program that runs on every managed machine.  main()
 * reads the configuration (a file of `key = value' lines, each key also
 * given as `--key value'), checks it, opens the state database, collects
 * the machine's facts (facts.c) and then runs everything on one libevent
 * loop: the TLS channel to the server (agent_conn.c), the runs (run.c) and
 * their child processes (exec.c).  It wires them together: the channel
 * hands what the server says to the runs through the callbacks set here.
 * Signals are events of that loop too.  -n checks the configuration and
 * exits; -d stays in the foreground and logs to stderr.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "conf.h"
#include "fsutil.h"
#include "log.h"
#include "xmalloc.h"

#define AGENT_CONF_FILE		FC_SYSCONFDIR "/fleetcast/fleetcast-agent.conf"
#define AGENT_NAME_MAX		CTL_MAX_NAME
#define AGENT_BOOT_ID_MAX	63
#define FACTS_INTERVAL		600	/* seconds between collections */

/* The keys of SPEC.md, with their defaults, plus exec_timeout. */
static const struct conf_def agent_conf_defs[] = {
	{ "server", CONF_HOSTPORT, NULL, 0, 0, NULL },
	{ "name", CONF_STRING, NULL, 0, 0, NULL },
	{ "state_dir", CONF_STRING, "/var/lib/fleetcast-agent", 0, 0, NULL },
	{ "interface", CONF_STRING, NULL, 0, 0, NULL },
	{ "enroll_token", CONF_STRING, NULL, 0, 0, NULL },
	{ "server_fingerprint", CONF_STRING, NULL, 0, 0, NULL },
	{ "enroll_token_file", CONF_STRING, NULL, 0, 0, NULL },
	{ "log_file", CONF_STRING, NULL, 0, 0, NULL },
	{ "pid_file", CONF_STRING, NULL, 0, 0, NULL },
	{ "trusted_keys", CONF_STRING, NULL, 0, 0, NULL },
	{ "reboot_command", CONF_STRING, "systemctl reboot", 0, 0, NULL },
	{ "poweroff_command", CONF_STRING, "systemctl poweroff", 0, 0, NULL },
	{ "boot_id_file", CONF_STRING, "/proc/sys/kernel/random/boot_id", 0,
	    0, NULL },
	{ "facts_command", CONF_STRING, NULL, 0, 0, NULL },
	{ "exec_timeout", CONF_INT, "3600", 1, 7 * 24 * 3600, NULL },
	{ "upgrade_timeout", CONF_INT, "120", 5, 3600, NULL },
	{ NULL, CONF_STRING, NULL, 0, 0, NULL },
};

/* The agent of this process, for the signal and timer events. */
static struct agent	*agent;
static struct event	*facts_timer;
static int		 facts_started;
static int		 reexec;	/* stop, then execute the new binary */
static uint64_t		 reexec_seq;	/* ... once this beat is acked */
static struct event	*reexec_timer;

#define REEXEC_FLUSH_WAIT	5	/* s for the server to hear our reports */

/* Asked for (--help): stdout, exit 0; bad usage: stderr, exit 2. */
static _Noreturn void
usage(FILE *f, int status)
{
	fprintf(f, "usage: fleetcast-agent [-dnv] [-c FILE] "
	    "[--KEY VALUE]...\n"
	    "  -d       stay in the foreground and log to stderr\n"
	    "  -c FILE  configuration file (default %s)\n"
	    "  -n       check the configuration and exit\n"
	    "  -v       log debug messages\n"
	    "  --version  print the version and exit\n"
	    "  keys: server name state_dir interface enroll_token "
	    "server_fingerprint\n        trusted_keys reboot_command "
	    "poweroff_command boot_id_file "
	    "facts_command exec_timeout\n        upgrade_timeout\n",
	    AGENT_CONF_FILE);
	exit(status);
}

/*
 * The boot id: the first line of boot_id_file, 1-63 printable bytes.  A
 * restart of the machine changes it; tests change the file instead.
 */
static int
agent_read_boot_id(const char *path, char **out, char *err, size_t errlen)
{
	FILE	*fp;
	char	 line[256];
	size_t	 n, i;

	if ((fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "boot_id_file: %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	if (fgets(line, sizeof(line), fp) == NULL)
		line[0] = '\0';
	fclose(fp);
	line[strcspn(line, "\r\n")] = '\0';
	n = strlen(line);
	for (i = 0; i < n; i++)
		if (line[i] <= ' ' || line[i] == 0x7f)
			break;
	if (n == 0 || n > AGENT_BOOT_ID_MAX || i != n) {
		snprintf(err, errlen, "boot_id_file: %s: the first line must be "
		    "1-%d printable bytes without blanks", path,
		    AGENT_BOOT_ID_MAX);
		return (-1);
	}
	*out = xstrdup(line);
	return (0);
}

/*
 * The checks that a key's type cannot express.  They run for -n as well,
 * so that `fleetcast-agent -n' finds every mistake an admin can fix.
 */
static int
agent_check_conf(struct conf *c, char **name, char *err, size_t errlen)
{
	static const char	*cmds[] = { "reboot_command",
	    "poweroff_command", "facts_command" };
	char			 host[AGENT_NAME_MAX + 2], e2[512];
	char			 pin[SHA256_LEN * 2 + 1];
	char			**argv, *boot_id;
	uint8_t			 keys[64][ED25519_PUB_LEN];
	size_t			 nkeys, i;
	const char		*v;

	if (conf_str(c, "server") == NULL) {
		snprintf(err, errlen, "server: required: host:port of the "
		    "server's control_listen (port 56022 by default)");
		return (-1);
	}
	if (agent_conn_pin(c, pin, err, errlen) == -1)
		return (-1);
	if ((v = conf_str(c, "trusted_keys")) == NULL) {
		snprintf(err, errlen, "trusted_keys: required: the file of the "
		    "Ed25519 public keys that packages must be signed with");
		return (-1);
	}
	if (ed25519_read_public(v, keys, 64, &nkeys, e2, sizeof(e2)) == -1) {
		snprintf(err, errlen, "trusted_keys (%s): %s",
		    conf_where(c, "trusted_keys"), e2);
		return (-1);
	}
	if (nkeys == 0) {
		snprintf(err, errlen, "trusted_keys: %s holds no public key", v);
		return (-1);
	}
	if ((v = conf_str(c, "name")) == NULL) {
		if (gethostname(host, sizeof(host)) == -1) {
			snprintf(err, errlen, "name: not set, and gethostname: "
			    "%s", strerror(errno));
			return (-1);
		}
		host[sizeof(host) - 1] = '\0';
		v = host;
	}
	if (ctl_check_name("name", v, err, errlen) == -1)
		return (-1);
	if (conf_str(c, "state_dir")[0] != '/') {
		snprintf(err, errlen, "state_dir: '%s' is not an absolute path",
		    conf_str(c, "state_dir"));
		return (-1);
	}
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if ((v = conf_str(c, cmds[i])) == NULL)
			continue;
		if ((argv = exec_split(v, e2, sizeof(e2))) == NULL) {
			snprintf(err, errlen, "%s (%s): %s", cmds[i],
			    conf_where(c, cmds[i]), e2);
			return (-1);
		}
		exec_free_argv(argv);
	}
	if ((v = conf_str(c, "interface")) != NULL &&
	    if_nametoindex(v) == 0)
		log_warnx("interface: '%s': %s (continuing: it may appear "
		    "later)", v, strerror(errno));
	if (agent_read_boot_id(conf_str(c, "boot_id_file"), &boot_id, err,
	    errlen) == -1)
		return (-1);
	free(boot_id);
	*name = xstrdup(conf_str(c, "name") != NULL ? conf_str(c, "name") :
	    host);
	return (0);
}

/*
 * The connection's callbacks: what the server says goes to the runs.  The
 * connection starts only once the runs exist, so a->runs is set.
 */
static void
agent_online(void *arg)
{
	struct agent	*a = arg;

	/* First: the watchdog of an upgrade hears it before any report. */
	upgrade_online(a->upgrade);
	run_online(a->runs);
}

static void
agent_offline(void *arg)
{
	struct agent	*a = arg;

	run_offline(a->runs);
}

static void
agent_synced(void *arg, uint64_t seq)
{
	struct agent	*a = arg;

	run_synced(a->runs, seq);
	if (reexec && seq >= reexec_seq)
		event_base_loopexit(a->base, NULL);
}

static void
agent_message(void *arg, const struct ctl_msg *m)
{
	struct agent	*a = arg;

	if (m->type == CTL_POWER)
		power_request(a->power, m);
	else
		run_message(a->runs, m);
}

/*
 * A facts collection ended.  Applicability needs the facts, so the first
 * one connects; a later one that changed them sends them now.
 */
static void
agent_facts_done(void *arg)
{
	struct agent	*a = arg;

	if (!facts_started) {
		facts_started = 1;
		log_info("%s: fleetcast-agent %s, boot id %s, %zu facts",
		    a->name, AGENT_VERSION, a->boot_id, a->facts.n);
		agent_conn_start(a->conn);
	} else if (a->facts_dirty)
		agent_conn_facts_changed(a->conn);
}

static void
agent_facts_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct timeval	tv = { FACTS_INTERVAL, 0 };

	facts_refresh(&agent->collect);
	evtimer_add(facts_timer, &tv);
}

static void
agent_signal(evutil_socket_t sig, short ev, void *arg)
{
	switch (sig) {
	case SIGTERM:
	case SIGINT:
		log_info("%s: exiting on signal %d", agent->name, (int)sig);
		event_base_loopexit(agent->base, NULL);
		break;
	case SIGHUP:
		log_info("%s: SIGHUP: collecting facts again", agent->name);
		facts_refresh(&agent->collect);
		break;
	}
}

/*
 * upgrade.c swapped in a new binary: stop like on SIGTERM (runs stored,
 * children stopped, the database closed), then main() executes it.
 */
static void
agent_reexec_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct agent	*a = arg;

	log_warnx("upgrade: the server did not acknowledge our reports "
	    "within %d s; executing the new agent anyway", REEXEC_FLUSH_WAIT);
	event_base_loopexit(a->base, NULL);
}

/*
 * The reports queued so far (delivered, running) must reach the server
 * before the connection goes: a heartbeat the server acknowledges comes
 * after them, so its ack is the moment to stop.
 */
static void
agent_reexec(void *arg)
{
	struct agent	*a = arg;
	struct timeval	 tv = { REEXEC_FLUSH_WAIT, 0 };

	reexec = 1;
	if ((reexec_seq = agent_conn_sync(a->conn)) == 0 ||
	    (reexec_timer = evtimer_new(a->base, agent_reexec_timeout,
	    a)) == NULL || evtimer_add(reexec_timer, &tv) == -1)
		event_base_loopexit(a->base, NULL);
}

/*
 * The enrollment token is a secret: from enroll_token_file (which others
 * must not be able to read), or from enroll_token, which is refused in a
 * configuration file that others can read.  A token given on the command
 * line (tests) is the caller's business.
 */
static int
agent_token_conf(struct conf *c, const char *conffile, char *err,
    size_t errlen)
{
	const char	*path = conf_str(c, "enroll_token_file"), *where;
	char		 line[512], e2[256];
	struct stat	 st;
	FILE		*f;

	if (path != NULL) {
		if (conf_str(c, "enroll_token") != NULL) {
			snprintf(err, errlen, "enroll_token (%s) and "
			    "enroll_token_file (%s): set one of them",
			    conf_where(c, "enroll_token"),
			    conf_where(c, "enroll_token_file"));
			return (-1);
		}
		if ((f = fopen(path, "r")) == NULL ||
		    fstat(fileno(f), &st) == -1) {
			snprintf(err, errlen, "enroll_token_file: %s: %s", path,
			    strerror(errno));
			if (f != NULL)
				fclose(f);
			return (-1);
		}
		if ((st.st_mode & 077) != 0) {
			fclose(f);
			snprintf(err, errlen, "enroll_token_file: %s is mode "
			    "%04o: others can read the token; chmod 600 %s",
			    path, (unsigned)(st.st_mode & 07777), path);
			return (-1);
		}
		if (fgets(line, sizeof(line), f) == NULL)
			line[0] = '\0';
		fclose(f);
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0') {
			snprintf(err, errlen, "enroll_token_file: %s is empty",
			    path);
			return (-1);
		}
		snprintf(e2, sizeof(e2), "enroll_token_file %s", path);
		return (conf_set(c, "enroll_token", line, e2, err, errlen));
	}
	if (conf_str(c, "enroll_token") == NULL || conffile == NULL)
		return (0);
	where = conf_where(c, "enroll_token");
	if (strncmp(where, "--", 2) == 0)
		return (0);
	if (stat(conffile, &st) == 0 && (st.st_mode & 077) != 0) {
		snprintf(err, errlen, "enroll_token (%s): %s is mode %04o, so "
		    "any local user can read the token; chmod 600 %s, or put "
		    "the token in a file of its own named by enroll_token_file",
		    where, conffile, (unsigned)(st.st_mode & 07777), conffile);
		return (-1);
	}
	return (0);
}

int
main(int argc, char **argv)
{
	struct conf	*c;
	const char	*conffile = NULL, *a;
	char		 err[1024], **kv;
	int		 foreground = 0, checkonly = 0, verbose = 0, nkv = 0;
	int		 i, j, lockfd;
	char		 pidbuf[4096];
	const char	*pidf;
	struct event	*ev_term, *ev_int, *ev_hup;
	struct timeval	 tv = { FACTS_INTERVAL, 0 };
	char		*name;
	static const struct agent_conn_cb conn_cb = { agent_online,
	    agent_offline, agent_synced, agent_message };

	/*
	 * Short flags first; every `--key value' pair is handed to
	 * conf_args, which knows the keys.
	 */
	kv = xcalloc(argc + 1, sizeof(*kv));
	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
			usage(stdout, 0);
		if (strcmp(a, "--version") == 0) {
			printf("fleetcast-agent %s\n", FC_VERSION);
			exit(0);
		}
		if (strncmp(a, "--", 2) == 0) {
			kv[nkv++] = argv[i];
			if (strchr(a, '=') == NULL && i + 1 < argc)
				kv[nkv++] = argv[++i];
			continue;
		}
		if (a[0] != '-' || a[1] == '\0') {
			fprintf(stderr, "fleetcast-agent: unexpected argument "
			    "'%s'\n", a);
			usage(stderr, 2);
		}
		for (j = 1; a[j] != '\0'; j++) {
			switch (a[j]) {
			case 'd':
				foreground = 1;
				break;
			case 'n':
				checkonly = 1;
				break;
			case 'v':
				verbose++;
				break;
			case 'c':
				if (a[j + 1] != '\0')
					conffile = a + j + 1;
				else if (i + 1 < argc)
					conffile = argv[++i];
				else {
					fprintf(stderr, "fleetcast-agent: -c: "
					    "needs a file\n");
					usage(stderr, 2);
				}
				goto nextarg;
			default:
				fprintf(stderr, "fleetcast-agent: unknown "
				    "option -%c\n", a[j]);
				usage(stderr, 2);
			}
		}
nextarg:
		;
	}
	log_init("fleetcast-agent", 1, verbose);

	c = conf_new(agent_conf_defs);
	/* The file read, if any: the token's check needs it too. */
	if (conffile == NULL && access(AGENT_CONF_FILE, F_OK) == 0)
		conffile = AGENT_CONF_FILE;
	if (conffile != NULL) {
		if (conf_load(c, conffile, err, sizeof(err)) == -1) {
			fprintf(stderr, "fleetcast-agent: %s\n", err);
			return (2);
		}
	}
	if (conf_args(c, nkv, kv, err, sizeof(err)) == -1 ||
	    agent_token_conf(c, conffile, err, sizeof(err)) == -1 ||
	    agent_check_conf(c, &name, err, sizeof(err)) == -1) {
		fprintf(stderr, "fleetcast-agent: %s\n", err);
		return (2);
	}
	free(kv);
	if (checkonly) {
		printf("configuration OK: name %s, server %s, state_dir %s\n",
		    name, conf_str(c, "server"), conf_str(c, "state_dir"));
		return (0);
	}

	agent = xcalloc(1, sizeof(*agent));
	agent->conf = c;
	agent->name = name;
	agent->exec_timeout = (unsigned)conf_int(c, "exec_timeout");
	facts_init(&agent->facts);
	agent->keys = xcalloc(64, sizeof(*agent->keys));
	if (ed25519_read_public(conf_str(c, "trusted_keys"), agent->keys, 64,
	    &agent->nkeys, err, sizeof(err)) == -1)
		fatalx("trusted_keys: %s", err);
	if (agent_read_boot_id(conf_str(c, "boot_id_file"), &agent->boot_id,
	    err, sizeof(err)) == -1)
		fatalx("%s", err);
	/* A daemon's log_file has everything from here on. */
	if (!foreground && conf_str(c, "log_file") != NULL) {
		if (log_file(conf_str(c, "log_file"), err, sizeof(err)) == -1) {
			fprintf(stderr, "fleetcast-agent: %s\n", err);
			return (1);
		}
		log_init("fleetcast-agent", 0, verbose);
	}
	/*
	 * Before anything is touched: one agent per state directory.  Right
	 * after an upgrade's exec the lock may still be held for a moment
	 * by a child the old image forked (it goes when that child exits or
	 * execs), so the new image waits for it a bounded time.
	 */
	for (i = 0; (lockfd = dir_lock(conf_str(c, "state_dir"),
	    "fleetcast-agent", err, sizeof(err))) == -1 &&
	    getenv("FLEETCAST_UPGRADE_FD") != NULL && i < 150; i++)
		usleep(100000);
	if (lockfd == -1) {
		fprintf(stderr, "fleetcast-agent: %s\n", err);
		return (1);
	}
	if (state_open(&agent->state, conf_str(c, "state_dir"), err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "fleetcast-agent: state_dir: %s\n", err);
		return (1);
	}
	if (!foreground) {
		/*
		 * Opened once above so that an unusable state_dir is an exit
		 * status the admin sees; an SQLite connection must not cross
		 * a fork, so the daemon opens it again.
		 */
		state_close(agent->state);
		if (daemon(0, log_needs_stderr()) == -1)
			fatal("daemon");
		log_init("fleetcast-agent", 0, verbose);
		if (dir_lock_pid(lockfd) == -1)
			log_warn("state_dir: the lock file's pid");
		if (state_open(&agent->state, conf_str(c, "state_dir"), err,
		    sizeof(err)) == -1)
			fatalx("state_dir: %s", err);
	}
	pidf = pidfile_path(conf_str(c, "pid_file"), conf_str(c, "state_dir"),
	    "fleetcast-agent", pidbuf, sizeof(pidbuf));
	if (pidfile_write(pidf, err, sizeof(err)) == -1)
		log_warnx("%s", err);
	(void)signal(SIGPIPE, SIG_IGN);
	if ((agent->base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	exec_init(agent->base);
	ev_term = evsignal_new(agent->base, SIGTERM, agent_signal, NULL);
	ev_int = evsignal_new(agent->base, SIGINT, agent_signal, NULL);
	ev_hup = evsignal_new(agent->base, SIGHUP, agent_signal, NULL);
	if (ev_term == NULL || ev_int == NULL || ev_hup == NULL ||
	    evsignal_add(ev_term, NULL) == -1 ||
	    evsignal_add(ev_int, NULL) == -1 ||
	    evsignal_add(ev_hup, NULL) == -1)
		fatalx("cannot watch signals");
	facts_timer = evtimer_new(agent->base, agent_facts_timer, NULL);
	if (facts_timer == NULL || evtimer_add(facts_timer, &tv) == -1)
		fatalx("cannot arm the facts timer");
	agent->collect.state = agent->state;
	agent->collect.command = conf_str(c, "facts_command");
	agent->collect.facts = &agent->facts;
	agent->collect.dirty = &agent->facts_dirty;
	agent->collect.done = agent_facts_done;
	agent->collect.arg = agent;
	if ((agent->conn = agent_conn_new(agent, &conn_cb, agent, err,
	    sizeof(err))) == NULL)
		fatalx("%s", err);
	agent->power = power_new(agent);
	/* An upgrade left half done ends first: its run learns how. */
	agent->upgrade = upgrade_new(agent, argv, (unsigned)conf_int(c,
	    "upgrade_timeout"), agent_reexec, agent);
	upgrade_startup(agent->upgrade);
	/* Runs carry on (and next-boot updates apply) even offline. */
	agent->runs = run_init(agent);
	facts_refresh(&agent->collect);

	event_base_dispatch(agent->base);

	run_shutdown(agent->runs);
	agent_conn_free(agent->conn);
	exec_shutdown();
	event_free(ev_term);
	event_free(ev_int);
	event_free(ev_hup);
	event_free(facts_timer);
	if (reexec_timer != NULL)
		event_free(reexec_timer);
	event_base_free(agent->base);
	state_close(agent->state);
	facts_free(&agent->facts);
	free(agent->keys);
	free(agent->boot_id);
	free(name);
	if (reexec)
		upgrade_exec(agent->upgrade, lockfd);
	upgrade_free(agent->upgrade);
	power_free(agent->power);
	unlink(pidf);
	conf_free(c);
	free(agent);
	return (0);
}
