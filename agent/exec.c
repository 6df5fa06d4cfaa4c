/*
 * Child processes of the agent: the executables of packages, the reboot
 * and power-off hooks and the facts_command.  Nothing goes through a
 * shell: a package's setup parameters are signed as an argv list and are
 * handed to execve() as they are, so `;', `$(...)', quotes and newlines
 * reach the program literally.  Each child runs in its own session with
 * an environment we build, stdin on /dev/null and stdout and stderr on one
 * pipe of which the last EXEC_TAIL_MAX bytes are kept (memory is bounded
 * whatever the child prints).  A timeout sends SIGTERM to the child's
 * whole process group and SIGKILL EXEC_KILL_GRACE seconds later.  The
 * event loop learns of exits through one SIGCHLD signal event, which reaps
 * only the pids started here.
 */
#include <sys/queue.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent.h"
#include "fsutil.h"
#include "log.h"
#include "xmalloc.h"

#define EXEC_DEFAULT_PATH \
	"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct exec_job {
	pid_t			 pid;
	int			 outfd;
	struct event		*ev_out;
	struct event		*ev_timeout;
	struct event		*ev_kill;
	exec_cb			 cb;
	void			*arg;
	unsigned		 timeout;
	int			 timedout;
	int			 cancelled;
	char			 ring[EXEC_TAIL_MAX];
	size_t			 rhead;		/* next write position */
	size_t			 rlen;
	uint64_t		 outbytes;
	TAILQ_ENTRY(exec_job)	 entry;
};

static TAILQ_HEAD(, exec_job)	 exec_jobs = TAILQ_HEAD_INITIALIZER(exec_jobs);
static struct event_base	*exec_base;
static struct event		*exec_sigchld;

static void	exec_reap(evutil_socket_t, short, void *);

void
exec_init(struct event_base *base)
{
	exec_base = base;
	exec_sigchld = evsignal_new(base, SIGCHLD, exec_reap, NULL);
	if (exec_sigchld == NULL || evsignal_add(exec_sigchld, NULL) == -1)
		fatalx("exec: cannot watch SIGCHLD");
}

static void
exec_job_free(struct exec_job *job)
{
	if (job->ev_out != NULL)
		event_free(job->ev_out);
	if (job->ev_timeout != NULL)
		event_free(job->ev_timeout);
	if (job->ev_kill != NULL)
		event_free(job->ev_kill);
	if (job->outfd != -1)
		close(job->outfd);
	free(job);
}

/*
 * At exit: children still running get SIGTERM (a package interrupted this
 * way is reported interrupted by the next start), and nothing is waited
 * for.
 */
void
exec_shutdown(void)
{
	struct exec_job	*job;

	while ((job = TAILQ_FIRST(&exec_jobs)) != NULL) {
		TAILQ_REMOVE(&exec_jobs, job, entry);
		(void)kill(-job->pid, SIGTERM);
		exec_job_free(job);
	}
	if (exec_sigchld != NULL)
		event_free(exec_sigchld);
	exec_sigchld = NULL;
	exec_base = NULL;
}

/* Keep the last EXEC_TAIL_MAX bytes of what the child wrote. */
static void
exec_keep(struct exec_job *job, const char *buf, size_t n)
{
	size_t	chunk;

	job->outbytes += n;
	if (n > EXEC_TAIL_MAX) {
		buf += n - EXEC_TAIL_MAX;
		n = EXEC_TAIL_MAX;
	}
	while (n > 0) {
		chunk = EXEC_TAIL_MAX - job->rhead;
		if (chunk > n)
			chunk = n;
		memcpy(job->ring + job->rhead, buf, chunk);
		job->rhead = (job->rhead + chunk) % EXEC_TAIL_MAX;
		job->rlen += chunk;
		if (job->rlen > EXEC_TAIL_MAX)
			job->rlen = EXEC_TAIL_MAX;
		buf += chunk;
		n -= chunk;
	}
}

/* Read what is there without blocking; 1 at end of file. */
static int
exec_drain(struct exec_job *job)
{
	char	buf[8192];
	ssize_t	n;

	if (job->outfd == -1)
		return (1);
	for (;;) {
		n = read(job->outfd, buf, sizeof(buf));
		if (n > 0) {
			exec_keep(job, buf, (size_t)n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			return (0);
		/* End of file, or an error that ends the output alike. */
		event_del(job->ev_out);
		close(job->outfd);
		job->outfd = -1;
		return (1);
	}
}

static void
exec_output(evutil_socket_t fd, short ev, void *arg)
{
	(void)exec_drain(arg);
}

static void
exec_kill_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct exec_job	*job = arg;

	log_warnx("exec: pid %ld still there %d s after SIGTERM: SIGKILL",
	    (long)job->pid, EXEC_KILL_GRACE);
	(void)kill(-job->pid, SIGKILL);
}

static void
exec_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct exec_job	*job = arg;
	struct timeval	 tv = { EXEC_KILL_GRACE, 0 };

	log_warnx("exec: pid %ld timed out after %u s: SIGTERM to its process "
	    "group", (long)job->pid, job->timeout);
	job->timedout = 1;
	(void)kill(-job->pid, SIGTERM);
	job->ev_kill = evtimer_new(exec_base, exec_kill_timer, job);
	if (job->ev_kill == NULL || evtimer_add(job->ev_kill, &tv) == -1)
		(void)kill(-job->pid, SIGKILL);
}

static void
exec_finish(struct exec_job *job, int status)
{
	struct exec_result	*res;
	size_t			 start;

	(void)exec_drain(job);
	TAILQ_REMOVE(&exec_jobs, job, entry);
	if (job->timedout)
		(void)kill(-job->pid, SIGKILL);	/* what the child left */
	if (job->cancelled || job->cb == NULL) {
		exec_job_free(job);
		return;
	}
	res = xcalloc(1, sizeof(*res));
	if (job->timedout) {
		res->how = EXEC_TIMEDOUT;
		res->exit_status = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	} else if (WIFEXITED(status)) {
		res->how = EXEC_EXITED;
		res->exit_status = WEXITSTATUS(status);
	} else {
		res->how = EXEC_SIGNALED;
		res->exit_status = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	}
	start = (job->rhead + EXEC_TAIL_MAX - job->rlen) % EXEC_TAIL_MAX;
	if (start + job->rlen <= EXEC_TAIL_MAX)
		memcpy(res->tail, job->ring + start, job->rlen);
	else {
		memcpy(res->tail, job->ring + start, EXEC_TAIL_MAX - start);
		memcpy(res->tail + (EXEC_TAIL_MAX - start), job->ring,
		    job->rlen - (EXEC_TAIL_MAX - start));
	}
	res->taillen = job->rlen;
	res->tail[res->taillen] = '\0';
	res->outbytes = job->outbytes;
	job->cb(res, job->arg);
	free(res);
	exec_job_free(job);
}

/*
 * SIGCHLD: look for each of our children in turn.  A callback may start
 * or cancel jobs, so the walk starts over after every completion.
 */
static void
exec_reap(evutil_socket_t sig, short ev, void *arg)
{
	struct exec_job	*job;
	pid_t		 pid;
	int		 status;

again:
	TAILQ_FOREACH(job, &exec_jobs, entry) {
		pid = waitpid(job->pid, &status, WNOHANG);
		if (pid == job->pid) {
			exec_finish(job, status);
			goto again;
		}
		if (pid == -1 && errno == ECHILD) {
			log_warnx("exec: pid %ld vanished", (long)job->pid);
			exec_finish(job, W_EXITCODE(127, 0));
			goto again;
		}
	}
}

/* Find a hook program in the default PATH, as execvp would. */
static char *
exec_search(const char *name)
{
	char	*paths, *p, *dir, *full;

	if (strchr(name, '/') != NULL)
		return (xstrdup(name));
	paths = xstrdup(EXEC_DEFAULT_PATH);
	for (p = paths; (dir = strsep(&p, ":")) != NULL; ) {
		xasprintf(&full, "%s/%s", dir, name);
		if (access(full, X_OK) == 0) {
			free(paths);
			return (full);
		}
		free(full);
	}
	free(paths);
	return (NULL);
}

/* The child, between fork and execve: async-signal-safe calls only. */
static _Noreturn void
exec_child(const struct exec_spec *spec, const char *path, int outfd,
    int errfd)
{
	sigset_t	set;
	int		e, null, fd;

	(void)setsid();
	sigemptyset(&set);
	(void)sigprocmask(SIG_SETMASK, &set, NULL);
	/* Ignored signals stay ignored across execve; the child gets its own. */
	(void)signal(SIGPIPE, SIG_DFL);
	if (chdir(spec->cwd != NULL ? spec->cwd : "/") == -1)
		goto fail;
	if ((null = open("/dev/null", O_RDONLY)) == -1)
		goto fail;
	if (dup2(null, 0) == -1 || dup2(outfd, 1) == -1 || dup2(outfd, 2) == -1)
		goto fail;
	/* No descriptor of the agent (database, sockets) may leak. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) == -1) {
		for (fd = 3; fd < 4096; fd++)
			if (fd != errfd)
				(void)close(fd);
	}
	execve(path, spec->argv, spec->envp);
fail:
	e = errno;
	(void)write(errfd, &e, sizeof(e));
	_exit(127);
}

/* The parent's side of a new child: watch its output and its time. */
static struct exec_job *
exec_watch(pid_t pid, int outfd, unsigned timeout, exec_cb cb, void *arg)
{
	struct exec_job	*job;
	struct timeval	 tv;

	job = xcalloc(1, sizeof(*job));
	job->pid = pid;
	job->outfd = outfd;
	job->cb = cb;
	job->arg = arg;
	job->timeout = timeout;
	(void)fcntl(job->outfd, F_SETFL, fcntl(job->outfd, F_GETFL) |
	    O_NONBLOCK);
	job->ev_out = event_new(exec_base, job->outfd, EV_READ | EV_PERSIST,
	    exec_output, job);
	if (job->ev_out == NULL || event_add(job->ev_out, NULL) == -1)
		fatalx("exec: cannot watch the output of pid %ld", (long)pid);
	if (timeout > 0) {
		tv.tv_sec = timeout;
		tv.tv_usec = 0;
		job->ev_timeout = evtimer_new(exec_base, exec_timeout, job);
		if (job->ev_timeout == NULL ||
		    evtimer_add(job->ev_timeout, &tv) == -1)
			fatalx("exec: cannot arm the timeout of pid %ld",
			    (long)pid);
	}
	TAILQ_INSERT_TAIL(&exec_jobs, job, entry);
	/* The child may have exited before we listened: look once now. */
	event_active(exec_sigchld, EV_SIGNAL, 1);
	return (job);
}

/*
 * Start a child.  NULL with err set when it could not be started at all
 * (no such program, not executable, no directory): the caller reports that
 * as a failure of its own.  Otherwise cb gets the result once the child
 * has exited; the result is only valid during the call.
 */
struct exec_job *
exec_start(const struct exec_spec *spec, exec_cb cb, void *arg, char *err,
    size_t errlen)
{
	char		*path;
	int		 out[2], ep[2], e;
	ssize_t		 n;
	pid_t		 pid;

	if (exec_base == NULL)
		fatalx("exec_start before exec_init");
	if (spec->search) {
		if ((path = exec_search(spec->path)) == NULL) {
			snprintf(err, errlen, "%s: not found in %s", spec->path,
			    EXEC_DEFAULT_PATH);
			return (NULL);
		}
	} else
		path = xstrdup(spec->path);
	if (pipe2(out, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		free(path);
		return (NULL);
	}
	if (pipe2(ep, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		free(path);
		return (NULL);
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		close(ep[0]);
		close(ep[1]);
		free(path);
		return (NULL);
	}
	if (pid == 0)
		exec_child(spec, path, out[1], ep[1]);
	close(out[1]);
	close(ep[1]);

	/*
	 * The status pipe closes on a successful execve, or carries errno
	 * when the child could not get there: a short wait, bounded by the
	 * child's few system calls, that tells "cannot run" apart.
	 */
	do {
		n = read(ep[0], &e, sizeof(e));
	} while (n == -1 && errno == EINTR);
	close(ep[0]);
	if (n == sizeof(e)) {
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		(void)waitpid(pid, NULL, 0);
		close(out[0]);
		free(path);
		return (NULL);
	}
	log_debug("exec: started %s as pid %ld", path, (long)pid);
	free(path);
	return (exec_watch(pid, out[0], spec->timeout, cb, arg));
}

/*
 * A command from the configuration (facts_command, reboot_command,
 * poweroff_command), split by exec_split: looked up in PATH, with an
 * environment of its own (a fixed PATH and LANG=C), not the agent's.
 */
struct exec_job *
exec_command(char **argv, unsigned timeout, exec_cb cb, void *arg, char *err,
    size_t errlen)
{
	struct exec_spec	 spec;
	static char		*envp[] = { "PATH=/usr/local/sbin:"
	    "/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL };

	memset(&spec, 0, sizeof(spec));
	spec.path = argv[0];
	spec.argv = argv;
	spec.envp = envp;
	spec.timeout = timeout;
	spec.search = 1;
	return (exec_start(&spec, cb, arg, err, errlen));
}

/*
 * Run a function of ours in a child process, for work that would block
 * the event loop (verifying and extracting a large package).  The child
 * gets the same isolation as an executable; what fn writes into its error
 * buffer on failure becomes the child's output, its return value the exit
 * status (0 success, 1 failure, 2 bad input).
 */
struct exec_job *
exec_fork(int (*fn)(void *, char *, size_t), void *fnarg, unsigned timeout,
    exec_cb cb, void *arg, char *err, size_t errlen)
{
	char		 msg[1024];
	int		 out[2], null, rv;
	sigset_t	 set;
	pid_t		 pid;

	if (exec_base == NULL)
		fatalx("exec_fork before exec_init");
	if (pipe2(out, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return (NULL);
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(out[0]);
		close(out[1]);
		return (NULL);
	}
	if (pid == 0) {
		(void)setsid();
		/*
		 * The parent's signal handlers only feed its event loop:
		 * this child must die of SIGTERM like any other.
		 */
		(void)signal(SIGTERM, SIG_DFL);
		(void)signal(SIGINT, SIG_DFL);
		(void)signal(SIGHUP, SIG_DFL);
		(void)signal(SIGCHLD, SIG_DFL);
		sigemptyset(&set);
		(void)sigprocmask(SIG_SETMASK, &set, NULL);
		if ((null = open("/dev/null", O_RDONLY)) != -1)
			(void)dup2(null, 0);
		(void)dup2(out[1], 1);
		(void)dup2(out[1], 2);
		msg[0] = '\0';
		rv = fn(fnarg, msg, sizeof(msg));
		if (rv != 0)
			(void)write_all(1, msg, strlen(msg));
		_exit(rv == 0 ? 0 : rv == 2 ? 2 : 1);
	}
	close(out[1]);
	log_debug("exec: forked pid %ld", (long)pid);
	return (exec_watch(pid, out[0], timeout, cb, arg));
}

/* Forget a job: its process group is killed and no callback follows. */
void
exec_cancel(struct exec_job *job)
{
	job->cancelled = 1;
	(void)kill(-job->pid, SIGKILL);
}

pid_t
exec_pid(const struct exec_job *job)
{
	return (job->pid);
}

/*
 * The argv of a package's executable: its path inside the extracted
 * payload, then the signed setup parameters unchanged.  The path must be
 * a regular executable file that stays inside the payload directory even
 * once symbolic links are followed.
 */
char **
exec_pkg_argv(const char *dir, const char *rel, const struct pkg_list *args,
    char *err, size_t errlen)
{
	char		*full, rdir[PATH_MAX], rfull[PATH_MAX], **argv;
	struct stat	 sb;
	size_t		 i, n;

	if (rel[0] == '/' || rel[0] == '\0') {
		snprintf(err, errlen, "exec: '%s' is not a path relative to "
		    "the package folder", rel);
		return (NULL);
	}
	xasprintf(&full, "%s/%s", dir, rel);
	if (realpath(dir, rdir) == NULL) {
		snprintf(err, errlen, "exec: %s: %s", dir, strerror(errno));
		free(full);
		return (NULL);
	}
	if (realpath(full, rfull) == NULL) {
		snprintf(err, errlen, "exec: '%s': %s", rel, strerror(errno));
		free(full);
		return (NULL);
	}
	n = strlen(rdir);
	if (strncmp(rfull, rdir, n) != 0 || rfull[n] != '/') {
		snprintf(err, errlen, "exec: '%s' resolves outside the package "
		    "folder", rel);
		free(full);
		return (NULL);
	}
	if (stat(rfull, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "exec: '%s' is not a regular file", rel);
		free(full);
		return (NULL);
	}
	if ((sb.st_mode & 0111) == 0) {
		snprintf(err, errlen, "exec: '%s' is not executable (mode %04o)",
		    rel, (unsigned)(sb.st_mode & 07777));
		free(full);
		return (NULL);
	}
	free(full);
	argv = xcalloc(args->n + 2, sizeof(*argv));
	argv[0] = xstrdup(rfull);
	for (i = 0; i < args->n; i++)
		argv[i + 1] = xstrdup(args->v[i]);
	argv[args->n + 1] = NULL;
	return (argv);
}

/*
 * The whole environment of a package's executable: nothing is inherited
 * from the agent, so what a package sees does not depend on how the agent
 * was started.
 */
char **
exec_env(const char *dir, uint64_t run_id, const char *pkg_id)
{
	char	**envp;

	envp = xcalloc(8, sizeof(*envp));
	envp[0] = xstrdup("PATH=" EXEC_DEFAULT_PATH);
	envp[1] = xstrdup(geteuid() == 0 ? "HOME=/root" : "HOME=/");
	envp[2] = xstrdup("LANG=C.UTF-8");
	envp[3] = xstrdup("SHELL=/bin/sh");
	xasprintf(&envp[4], "FLEETCAST_RUN_ID=%llu",
	    (unsigned long long)run_id);
	xasprintf(&envp[5], "FLEETCAST_PACKAGE=%s", pkg_id);
	xasprintf(&envp[6], "FLEETCAST_STAGING=%s", dir);
	envp[7] = NULL;
	return (envp);
}

/*
 * Split an admin's hook command (reboot_command, poweroff_command,
 * facts_command) into words: blanks separate words; single quotes keep
 * everything literally; double quotes keep blanks, and a backslash in them
 * escapes " and \.  Nothing else is interpreted, and no shell runs.
 */
char **
exec_split(const char *cmd, char *err, size_t errlen)
{
	char		**argv = NULL, *word;
	size_t		  n = 0, wl;
	const char	 *p = cmd;
	char		  q;

	word = xmalloc(strlen(cmd) + 1);
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		wl = 0;
		while (*p != '\0' && *p != ' ' && *p != '\t') {
			if (*p != '"' && *p != '\'') {
				word[wl++] = *p++;
				continue;
			}
			q = *p++;
			while (*p != '\0' && *p != q) {
				if (q == '"' && *p == '\\' &&
				    (p[1] == '"' || p[1] == '\\'))
					p++;
				word[wl++] = *p++;
			}
			if (*p != q) {
				snprintf(err, errlen, "'%s': unterminated %s "
				    "quote", cmd, q == '"' ? "double" :
				    "single");
				free(word);
				argv = xreallocarray(argv, n + 1,
				    sizeof(*argv));
				argv[n] = NULL;
				exec_free_argv(argv);
				return (NULL);
			}
			p++;
		}
		word[wl] = '\0';
		argv = xreallocarray(argv, n + 2, sizeof(*argv));
		argv[n++] = xstrdup(word);
	}
	free(word);
	if (n == 0) {
		snprintf(err, errlen, "'%s': no program to run", cmd);
		free(argv);
		return (NULL);
	}
	argv[n] = NULL;
	return (argv);
}

void
exec_free_argv(char **argv)
{
	size_t	i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/*
 * The tail of the output as text for a report: NUL and other control
 * bytes (except newline and tab) become '?', since the control channel's
 * strings may not hold a NUL.
 */
char *
exec_tail_text(const struct exec_result *res)
{
	char	*s;
	size_t	 i;

	s = xmalloc(res->taillen + 1);
	for (i = 0; i < res->taillen; i++) {
		unsigned char c = (unsigned char)res->tail[i];
		s[i] = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f ?
		    '?' : (char)c;
	}
	s[res->taillen] = '\0';
	return (s);
}

/* One sentence on how a child ended, for logs and reports. */
void
exec_describe(const struct exec_result *res, unsigned timeout, char *buf,
    size_t len)
{
	switch (res->how) {
	case EXEC_EXITED:
		snprintf(buf, len, "exit status %d", res->exit_status);
		break;
	case EXEC_SIGNALED:
		snprintf(buf, len, "killed by signal %d (%s)", res->exit_status,
		    strsignal(res->exit_status));
		break;
	case EXEC_TIMEDOUT:
		snprintf(buf, len, "timed out after %u s and was killed",
		    timeout);
		break;
	}
}
