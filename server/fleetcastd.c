/*
 * fleetcastd: the server's start-up and main loop.  It reads the config
 * (file, then --KEY value overrides), checks every value and the ones that
 * depend on each other, and with -n stops there.  Otherwise it prepares
 * state_dir (0700) with the database, the CA, the admin token (written
 * 0600 on the first start) and a fresh enrollment token of bounded uses and
 * lifetime (every start), prints the fingerprint agents pin, opens the agent channel and the
 * HTTP API on one libevent event_base, restores the runs that were in
 * flight, and runs the loop until SIGTERM or SIGINT.  Errors at start-up go
 * to stderr before it detaches, so an admin sees why it did not start.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <arpa/inet.h>
#include <net/if.h>

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "conf.h"
#include "crypto.h"
#include "etoken.h"
#include "fsutil.h"
#include "log.h"
#include "sched.h"
#include "server.h"
#include "xmalloc.h"

#define DEFAULT_CONFIG	FC_SYSCONFDIR "/fleetcast/fleetcastd.conf"

static const struct conf_def server_keys[] = {
	{ "state_dir", CONF_STRING, "/var/lib/fleetcast", 0, 0, NULL },
	{ "control_listen", CONF_HOSTPORT, "0.0.0.0:56022", 0, 0, NULL },
	{ "api_listen", CONF_HOSTPORT, "127.0.0.1:56080", 0, 0, NULL },
	{ "interface", CONF_STRING, NULL, 0, 0, NULL },
	{ "data_port", CONF_INT, "56001", 1, 65535, NULL },
	{ "group_range", CONF_STRING, "239.192.56.0/24", 0, 0, NULL },
	{ "max_concurrent_machines", CONF_INT, "256", 1, 1000000, NULL },
	{ "on_concurrency_limit", CONF_ENUM, "queue", 0, 0, "queue|error" },
	{ "max_unicast_streams", CONF_INT, "16", 1, 4096, NULL },
	{ "auto_approve", CONF_BOOL, "no", 0, 0, NULL },
	{ "enroll_token_uses", CONF_INT, "100", 0, 1000000, NULL },
	{ "enroll_token_lifetime", CONF_INT, "86400", 1, 366 * 86400, NULL },
	{ "trusted_keys", CONF_STRING, NULL, 0, 0, NULL },
	{ "rate", CONF_STRING, "auto", 0, 0, NULL },
	{ "heartbeat", CONF_INT, "10", 1, 3600, NULL },
	{ "auto_update_time", CONF_STRING, "03:00", 0, 0, NULL },
	{ "log_file", CONF_STRING, NULL, 0, 0, NULL },
	{ "pid_file", CONF_STRING, NULL, 0, 0, NULL },
	{ "package_dirs", CONF_STRING, NULL, 0, 0, NULL },
	/* The package feed (server/feed.c, issue #16). */
	{ "feed_url", CONF_STRING, NULL, 0, 0, NULL },
	{ "feed_interval", CONF_INT, "3600", 1, 7 * 86400, NULL },
	{ "feed_keys", CONF_STRING, NULL, 0, 0, NULL },
	{ "feed_ca", CONF_STRING, NULL, 0, 0, NULL },
	{ "agent_upgrade_window", CONF_INT, "10", 0, 3600, NULL },
	{ "liveness_interval", CONF_INT, "60", 1, 86400, NULL },
	{ "liveness_port", CONF_INT, "22", 0, 65535, NULL },
	{ "metrics_listen", CONF_HOSTPORT, NULL, 0, 0, NULL },
	{ "api_tls", CONF_ENUM, "auto", 0, 0, "auto|ca" },
	{ "api_tls_cert", CONF_STRING, NULL, 0, 0, NULL },
	{ "api_tls_key", CONF_STRING, NULL, 0, 0, NULL },
	{ NULL, 0, NULL, 0, 0, NULL },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: fleetcastd [-d] [-v] [-c FILE] [-n] [--KEY VALUE]"
	    "...\n"
	    "  -d       stay in the foreground and log to stderr\n"
	    "  -v       more verbose logging (repeat for more)\n"
	    "  -c FILE  config file (default %s)\n"
	    "  -n       check the configuration and exit\n"
	    "  --KEY V  set a config key, overriding the file\n"
	    "  --version  print the version and exit\n",
	    DEFAULT_CONFIG);
}

/*
 * package_dirs: directories, separated by ':', each absolute and an
 * existing directory, below which `package add` by path may read.
 */
static int
check_package_dirs(struct conf *c, char *err, size_t errlen)
{
	const char	*v = conf_str(c, "package_dirs");
	char		*copy, *p, *word;
	struct stat	 sb;
	int		 rv = 0;

	if (v == NULL)
		return (0);
	copy = xstrdup(v);
	for (p = copy; rv == 0 && (word = strsep(&p, ":")) != NULL; ) {
		if (word[0] != '/') {
			snprintf(err, errlen, "%s: package_dirs: '%s' must be "
			    "an absolute path (directories are separated by "
			    "':')", conf_where(c, "package_dirs"), word);
			rv = -1;
		} else if (stat(word, &sb) == -1) {
			snprintf(err, errlen, "%s: package_dirs: %s: %s",
			    conf_where(c, "package_dirs"), word,
			    strerror(errno));
			rv = -1;
		} else if (!S_ISDIR(sb.st_mode)) {
			snprintf(err, errlen, "%s: package_dirs: %s: not a "
			    "directory", conf_where(c, "package_dirs"), word);
			rv = -1;
		}
	}
	free(copy);
	return (rv);
}

/* Checks that involve more than one key's syntax. */
static int
check_conf(struct conf *c, char *err, size_t errlen)
{
	uint32_t	base;
	unsigned	prefix;
	uint64_t	rate;
	int		h, m;
	char		msg[256];
	const char	*sd = conf_str(c, "state_dir");

	if (sd[0] != '/') {
		snprintf(err, errlen, "%s: state_dir: '%s' must be an absolute "
		    "path", conf_where(c, "state_dir"), sd);
		return (-1);
	}
	if (sched_group_parse_range(conf_str(c, "group_range"), &base, &prefix,
	    msg, sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: %s", conf_where(c, "group_range"),
		    msg);
		return (-1);
	}
	if (server_parse_rate(conf_str(c, "rate"), &rate, msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "%s: %s", conf_where(c, "rate"), msg);
		return (-1);
	}
	if (auto_parse_time(conf_str(c, "auto_update_time"), &h, &m) == -1) {
		snprintf(err, errlen, "%s: auto_update_time: '%s' is not HH:MM "
		    "(00:00 to 23:59)", conf_where(c, "auto_update_time"),
		    conf_str(c, "auto_update_time"));
		return (-1);
	}
	if (conf_str(c, "interface") != NULL &&
	    if_nametoindex(conf_str(c, "interface")) == 0) {
		snprintf(err, errlen, "%s: interface: '%s' is not a network "
		    "interface of this host", conf_where(c, "interface"),
		    conf_str(c, "interface"));
		return (-1);
	}
	if (conf_str(c, "trusted_keys") != NULL &&
	    access(conf_str(c, "trusted_keys"), R_OK) == -1) {
		snprintf(err, errlen, "%s: trusted_keys: %s: %s",
		    conf_where(c, "trusted_keys"), conf_str(c, "trusted_keys"),
		    strerror(errno));
		return (-1);
	}
	if (check_package_dirs(c, err, errlen) == -1)
		return (-1);
	if (feed_check_conf(c, err, errlen) == -1)
		return (-1);
	return (0);
}

/* Read a token file, or create it with a new random token (0600). */
static int
load_token(const char *dir, const char *file, char *out, size_t outlen,
    char *err, size_t errlen)
{
	char		 path[4096], buf[256];
	uint8_t		 raw[SERVER_TOKEN_LEN];
	FILE		*f;
	struct stat	 st;
	size_t		 len;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((f = fopen(path, "r")) != NULL) {
		if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077) != 0) {
			fclose(f);
			snprintf(err, errlen, "%s: mode %03o, must not be "
			    "readable by group or others", path,
			    (unsigned)(st.st_mode & 0777));
			return (-1);
		}
		if (fgets(buf, sizeof(buf), f) == NULL)
			buf[0] = '\0';
		fclose(f);
		buf[strcspn(buf, "\r\n")] = '\0';
		len = strlen(buf);
		if (len < 16 || len >= outlen) {
			snprintf(err, errlen, "%s: a token of 16 to %zu "
			    "characters expected", path, outlen - 1);
			return (-1);
		}
		memcpy(out, buf, len + 1);
		return (0);
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	if (crypto_random(raw, sizeof(raw)) == -1) {
		snprintf(err, errlen, "%s: no random bytes", path);
		return (-1);
	}
	hex_encode(raw, sizeof(raw), out);
	explicit_bzero(raw, sizeof(raw));
	snprintf(buf, sizeof(buf), "%s\n", out);
	if (atomic_write_file(path, buf, strlen(buf), 0600, err,
	    errlen) == -1)
		return (-1);
	log_info("wrote %s", path);
	return (0);
}

/*
 * Is the token in path still good: this server's (its fingerprint), known
 * to the database with uses left and not expired?  1 yes, 0 no (missing,
 * unreadable, revoked, used up, expired: a new one is written).
 */
static int
enroll_token_still_good(struct server *srv, const char *path)
{
	struct etoken	t;
	uint8_t		hash[SHA256_LEN];
	char		buf[ETOKEN_MAX + 2], why[512];
	FILE		*f;
	int		rv;

	if ((f = fopen(path, "r")) == NULL)
		return (0);
	if (fgets(buf, sizeof(buf), f) == NULL)
		buf[0] = '\0';
	fclose(f);
	buf[strcspn(buf, "\r\n")] = '\0';
	rv = etoken_parse(buf, &t, why, sizeof(why));
	explicit_bzero(buf, sizeof(buf));
	if (rv == -1)
		return (0);
	if (strcmp(t.fp, ca_fingerprint(srv->ca)) != 0) {
		etoken_clear(&t);
		return (0);
	}
	etoken_hash(&t, hash);
	rv = db_token_check(srv->db, t.id, hash, "", server_now_ms(), why,
	    sizeof(why));
	if (rv == 1)
		log_info("%s: token %s kept (uses left, not expired)", path,
		    t.id);
	else if (rv == 0)
		log_info("%s: token %s replaced: %s", path, t.id, why);
	etoken_clear(&t);
	return (rv == 1);
}

/*
 * state_dir/enroll.token: a token (ID.SECRET.FP, with the server's
 * fingerprint) good for enroll_token_uses enrollments within
 * enroll_token_lifetime seconds, for the admin on this host and the tests;
 * 0 uses: no such file.  A start keeps the file's token while it is good
 * (a restart after a crash, systemd's Restart=, must not take the token
 * from agents not yet enrolled), and otherwise writes a fresh one in its
 * place; deleting the file gets a fresh one at the next start.  Tokens of
 * their own limits come from 'fleetcast machine token'.
 */
static int
write_enroll_token(struct server *srv, char *err, size_t errlen)
{
	char	path[4096], tok[ETOKEN_MAX + 1], msg[512];
	int64_t	uses = conf_int(srv->conf, "enroll_token_uses");
	int	rv;

	snprintf(path, sizeof(path), "%s/enroll.token", srv->state_dir);
	if (uses != 0 && enroll_token_still_good(srv, path))
		return (0);
	if (db_token_drop_origin(srv->db, "file") == -1) {
		snprintf(err, errlen, "enroll.token: database error");
		return (-1);
	}
	if (uses == 0) {
		if (unlink(path) == -1 && errno != ENOENT) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			return (-1);
		}
		return (0);
	}
	if (control_token_new(srv, NULL, uses, conf_int(srv->conf,
	    "enroll_token_lifetime"), "file", tok, sizeof(tok) - 1, msg,
	    sizeof(msg)) == -1) {
		snprintf(err, errlen, "enroll.token: %s", msg);
		return (-1);
	}
	strcat(tok, "\n");
	rv = atomic_write_file(path, tok, strlen(tok), 0600, err, errlen);
	explicit_bzero(tok, sizeof(tok));
	if (rv == 0)
		log_info("wrote %s: a token for %" PRId64 " enrollments "
		    "within %" PRId64 " s", path, uses,
		    conf_int(srv->conf, "enroll_token_lifetime"));
	return (rv);
}

static int
prepare_state_dir(const char *dir, char *err, size_t errlen)
{
	struct stat	st;
	char		path[4096];

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "state_dir: %s: %s", dir,
		    strerror(errno));
		return (-1);
	}
	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "state_dir: %s: not a directory", dir);
		return (-1);
	}
	if ((st.st_mode & 077) != 0 && chmod(dir, 0700) == -1) {
		snprintf(err, errlen, "state_dir: %s: %s", dir,
		    strerror(errno));
		return (-1);
	}
	snprintf(path, sizeof(path), "%s/packages", dir);
	if (mkdir(path, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "state_dir: %s: %s", path,
		    strerror(errno));
		return (-1);
	}
	return (0);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server	*srv = arg;

	switch (sig) {
	case SIGTERM:
	case SIGINT:
		log_info("signal %d: shutting down", (int)sig);
		event_base_loopexit(srv->base, NULL);
		break;
	case SIGHUP:
		log_info("SIGHUP: trusted_keys is read at each use; other "
		    "settings need a restart");
		break;
	}
}

/*
 * Every agent holds one TLS connection open, so a fleet of a thousand needs
 * more descriptors than the usual soft limit of 1024 (systemd's default for
 * services).  Raise the soft limit to the hard one; if that is still low,
 * say so at start rather than failing accepts later.
 */
static void
raise_nofile(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1) {
		log_warn("getrlimit(RLIMIT_NOFILE)");
		return;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit(RLIMIT_NOFILE, %llu)",
			    (unsigned long long)rl.rlim_max);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < 4096)
		log_warnx("open files limited to %llu: at most about %llu agents "
		    "can be connected (raise LimitNOFILE)",
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)(rl.rlim_cur > 64 ? rl.rlim_cur - 64 : 0));
}

/*
 * The agent channel's events, for the parts above it: control.c knows
 * neither the runs nor the automatic update.
 */
static void
fleetcastd_online(void *arg, const char *name)
{
	struct server	*srv = arg;

	runs_machine_online(srv->runs, name);
	liveness_agent(srv->liveness, name, 1);
	agentup_machine_online(srv->agentup, name);
}

static void
fleetcastd_offline(void *arg, const char *name)
{
	struct server	*srv = arg;

	runs_machine_offline(srv->runs, name);
	liveness_agent(srv->liveness, name, 0);
}

static void
fleetcastd_report(void *arg, const char *name, const struct ctl_msg *m)
{
	struct server	*srv = arg;

	runs_report(srv->runs, name, m);
}

static void
fleetcastd_started(void *arg, const char *name)
{
	struct server	*srv = arg;

	auto_machine_started(srv->autoupd, name);
}

static int
fleetcastd_on_segment(void *arg, const char *addr, char *why, size_t len)
{
	struct server	*srv = arg;

	return (runs_on_segment(srv->runs, addr, why, len));
}

static const struct control_cb fleetcastd_control_cb = {
	fleetcastd_online,
	fleetcastd_offline,
	fleetcastd_report,
	fleetcastd_started,
	fleetcastd_on_segment,
};

int
main(int argc, char **argv)
{
	struct server	 srv;
	const char	*cfile = NULL;
	char		 err[8192], path[4096];
	int		 foreground = 0, check = 0, verbose = 0, i, nkv = 0;
	int		 lockfd;
	char		 pidbuf[4096];
	const char	*pidf;
	char		**kv;
	const char	*opt;
	struct event	*sigs[3];
	static const int signums[3] = { SIGTERM, SIGINT, SIGHUP };

	memset(&srv, 0, sizeof(srv));
	log_init("fleetcastd", 1, 0);
	/*
	 * Our flags (-d -v -n -c FILE, also grouped as -dv) and --KEY VALUE
	 * pairs may come in any order; the pairs are collected for
	 * conf_args, which checks them once the file has been read.
	 */
	kv = xcalloc(argc + 1, sizeof(*kv));
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			free(kv);
			return (0);
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("fleetcastd %s\n", FC_VERSION);
			free(kv);
			return (0);
		}
		if (strncmp(argv[i], "--", 2) == 0 && argv[i][2] != '\0') {
			kv[nkv++] = argv[i];
			if (strchr(argv[i], '=') == NULL && i + 1 < argc)
				kv[nkv++] = argv[++i];
			continue;
		}
		if (argv[i][0] != '-' || argv[i][1] == '\0') {
			fprintf(stderr, "fleetcastd: unexpected argument "
			    "'%s'\n", argv[i]);
			usage(stderr);
			free(kv);
			return (2);
		}
		for (opt = argv[i] + 1; *opt != '\0'; opt++) {
			if (*opt == 'd')
				foreground = 1;
			else if (*opt == 'v')
				verbose++;
			else if (*opt == 'n')
				check = 1;
			else if (*opt == 'c') {
				/* -cFILE or -c FILE; the rest is the file. */
				if (opt[1] != '\0')
					cfile = opt + 1;
				else if (i + 1 < argc)
					cfile = argv[++i];
				else {
					fprintf(stderr, "fleetcastd: -c needs "
					    "a file\n");
					free(kv);
					return (2);
				}
				break;
			} else {
				fprintf(stderr, "fleetcastd: unknown option "
				    "'-%c'\n", *opt);
				usage(stderr);
				free(kv);
				return (2);
			}
		}
	}
	log_setverbose(verbose);

	srv.conf = conf_new(server_keys);
	if (cfile != NULL || access(DEFAULT_CONFIG, F_OK) == 0) {
		if (conf_load(srv.conf, cfile != NULL ? cfile : DEFAULT_CONFIG,
		    err, sizeof(err)) == -1) {
			fprintf(stderr, "fleetcastd: %s\n", err);
			return (2);
		}
	}
	if (conf_args(srv.conf, nkv, kv, err, sizeof(err)) == -1 ||
	    check_conf(srv.conf, err, sizeof(err)) == -1) {
		fprintf(stderr, "fleetcastd: %s\n", err);
		return (2);
	}
	/* Legal, but the admin should hear it before the first upload. */
	if (conf_str(srv.conf, "trusted_keys") == NULL)
		fprintf(stderr, "fleetcastd: warning: trusted_keys is not set: "
		    "no package can be verified, so package add and automatic "
		    "update refuse everything (set it to the file of the "
		    "admin's public keys, fleetcast key generate's PREFIX.pub)"
		    "\n");
	if (check) {
		fprintf(stderr, "fleetcastd: configuration OK\n");
		return (0);
	}
	srv.state_dir = conf_str(srv.conf, "state_dir");
	srv.heartbeat = (int)conf_int(srv.conf, "heartbeat");

	signal(SIGPIPE, SIG_IGN);
	umask(077);
	/* A daemon's log_file has everything from here on. */
	if (!foreground && conf_str(srv.conf, "log_file") != NULL) {
		if (log_file(conf_str(srv.conf, "log_file"), err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "fleetcastd: %s\n", err);
			return (1);
		}
		log_init("fleetcastd", 0, verbose);
	}
	/* Before anything is touched: one server per state directory. */
	if ((lockfd = dir_lock(srv.state_dir, "fleetcastd", err,
	    sizeof(err))) == -1) {
		fprintf(stderr, "fleetcastd: %s\n", err);
		return (1);
	}
	if (prepare_state_dir(srv.state_dir, err, sizeof(err)) == -1)
		fatalx("%s", err);
	snprintf(path, sizeof(path), "%s/fleetcast.db", srv.state_dir);
	if ((srv.db = db_open(path, err, sizeof(err))) == NULL)
		fatalx("database: %s", err);
	db_machines_offline(srv.db);
	if (load_token(srv.state_dir, "api.token", srv.api_token,
	    sizeof(srv.api_token), err, sizeof(err)) == -1)
		fatalx("%s", err);
	if ((srv.ca = ca_open(srv.state_dir, err, sizeof(err))) == NULL)
		fatalx("CA: %s", err);
	if (write_enroll_token(&srv, err, sizeof(err)) == -1)
		fatalx("%s", err);
	/*
	 * What an agent pins before it enrolls: in the log, and as a config
	 * line on stdout in the foreground, to paste into the agent's.
	 */
	log_info("server fingerprint (SHA-256 of %s/ca.crt): %s",
	    srv.state_dir, ca_fingerprint(srv.ca));
	if (foreground) {
		printf("server_fingerprint = %s\n", ca_fingerprint(srv.ca));
		fflush(stdout);
	}

	raise_nofile();
	if ((srv.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	if ((srv.runs = runs_new(&srv, err, sizeof(err))) == NULL)
		fatalx("runs: %s", err);
	if ((srv.autoupd = auto_new(&srv, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((srv.agentup = agentup_new(&srv, (int)conf_int(srv.conf,
	    "agent_upgrade_window"), err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((srv.control = control_new(&srv, &fleetcastd_control_cb, &srv,
	    err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((srv.liveness = liveness_new(&srv, (int)conf_int(srv.conf,
	    "liveness_interval"), (int)conf_int(srv.conf, "liveness_port"),
	    err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if ((srv.api = api_new(&srv, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	err[0] = '\0';
	if ((srv.feed = feed_new(&srv, err, sizeof(err))) == NULL &&
	    err[0] != '\0')
		fatalx("%s", err);
	for (i = 0; i < 3; i++) {
		sigs[i] = evsignal_new(srv.base, signums[i], signal_cb, &srv);
		if (sigs[i] == NULL || evsignal_add(sigs[i], NULL) == -1)
			fatalx("signal %d: cannot add the event", signums[i]);
	}

	/* Sockets are bound: from here on errors go to the log. */
	if (!foreground) {
		if (daemon(0, log_needs_stderr()) == -1)
			fatal("daemon");
		log_init("fleetcastd", 0, verbose);
		if (dir_lock_pid(lockfd) == -1)
			log_warn("state_dir: the lock file's pid");
		/* libevent's epoll does not survive fork: start afresh. */
		if (event_reinit(srv.base) == -1)
			fatalx("event_reinit failed");
	}
	pidf = pidfile_path(conf_str(srv.conf, "pid_file"), srv.state_dir,
	    "fleetcastd", pidbuf, sizeof(pidbuf));
	if (pidfile_write(pidf, err, sizeof(err)) == -1)
		log_warnx("%s", err);
	if (runs_restore(srv.runs) == -1)
		fatalx("runs: restoring the runs in flight failed");
	log_info("fleetcastd %s started, state in %s", SERVER_VERSION,
	    srv.state_dir);
#ifdef HAVE_LIBSYSTEMD
	/*
	 * Under systemd (Type=notify) the unit counts as started only now,
	 * with the sockets bound and the runs in flight restored, so that a
	 * unit ordered after fleetcastd.service finds the API answering.
	 * Outside systemd NOTIFY_SOCKET is unset and this does nothing.
	 */
	if ((i = sd_notify(0, "READY=1")) < 0)
		log_warnx("sd_notify READY=1: %s", strerror(-i));
#endif

	event_base_dispatch(srv.base);
	unlink(pidf);

	for (i = 0; i < 3; i++)
		event_free(sigs[i]);
	feed_free(srv.feed);
	api_free(srv.api);
	liveness_free(srv.liveness);
	control_free(srv.control);
	auto_free(srv.autoupd);
	agentup_free(srv.agentup);
	runs_free(srv.runs);
	event_base_free(srv.base);
	ca_free(srv.ca);
	db_close(srv.db);
	conf_free(srv.conf);
	free(kv);
	explicit_bzero(srv.api_token, sizeof(srv.api_token));
	log_info("stopped");
	return (0);
}
