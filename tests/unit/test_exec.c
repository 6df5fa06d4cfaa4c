/*
 * Tests for child processes.  The program plays both sides: run as
 * test_exec it is the CUnit suite; copied into a fake staging directory
 * under another name it is the "package executable" (setup: writes its
 * argv, environment and working directory to files; fail, sleeper,
 * stubborn, noisy, killer: exit in the ways a package can).  So the
 * tests can see exactly what reached the program: setup parameters with
 * `;', `$(...)', quotes and newlines arrive literally, and the files a
 * shell would have created by running them never appear.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "unit.h"
#include "agent.h"

extern char	**environ;

static struct event_base	*base;
static char			 dir[64];
static char			 stage[128];

/* The helper programs. */

static void
dump(const char *file, char **v)
{
	FILE	*fp;

	if ((fp = fopen(file, "w")) == NULL)
		exit(90);
	for (; *v != NULL; v++)
		fwrite(*v, 1, strlen(*v) + 1, fp);
	fclose(fp);
}

static int
helper(const char *name, char **argv)
{
	char	 cwd[PATH_MAX], buf[16];
	FILE	*fp;
	int	 fd, nfds = 0, i;

	if (strcmp(name, "setup") == 0) {
		dump("argv.out", argv);
		dump("env.out", environ);
		if (getcwd(cwd, sizeof(cwd)) == NULL ||
		    (fp = fopen("cwd.out", "w")) == NULL)
			return (91);
		fputs(cwd, fp);
		fclose(fp);
		/* What the agent left open, apart from stdin/out/err. */
		for (fd = 3; fd < 1024; fd++)
			if (fcntl(fd, F_GETFD) != -1)
				nfds++;
		fp = fopen("misc.out", "w");
		fprintf(fp, "fds=%d stdin=%zd\n", nfds, read(0, buf,
		    sizeof(buf)));
		fclose(fp);
		printf("stdout line\n");
		fflush(stdout);
		fprintf(stderr, "stderr line\n");
		return (0);
	}
	if (strcmp(name, "fail") == 0) {
		fprintf(stderr, "failing now\n");
		return (3);
	}
	if (strcmp(name, "sleeper") == 0) {
		sleep(60);
		return (0);
	}
	if (strcmp(name, "stubborn") == 0) {
		signal(SIGTERM, SIG_IGN);
		sleep(60);
		return (0);
	}
	if (strcmp(name, "noisy") == 0) {
		for (i = 0; i < 10000; i++)
			printf("line %04d\n", i);
		return (0);
	}
	if (strcmp(name, "killer") == 0) {
		kill(getpid(), SIGUSR1);
		sleep(10);
		return (0);
	}
	return (-1);
}

/* Test plumbing. */

static void
install(const char *name)
{
	char	 path[256], buf[65536];
	int	 in, out;
	ssize_t	 n;

	snprintf(path, sizeof(path), "%s/bin/%s", stage, name);
	CU_ASSERT_FATAL((in = open("/proc/self/exe", O_RDONLY)) != -1);
	CU_ASSERT_FATAL((out = open(path, O_WRONLY | O_CREAT | O_TRUNC,
	    0755)) != -1);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		CU_ASSERT_FATAL(write(out, buf, n) == n);
	close(in);
	close(out);
}

struct outcome {
	int			done;
	struct exec_result	res;
};

static void
on_done(const struct exec_result *res, void *arg)
{
	struct outcome	*o = arg;

	o->done = 1;
	o->res = *res;
	event_base_loopbreak(base);
}

/* Run a package-style program from the staging area and wait for it. */
static void
run(const char *rel, struct pkg_list *args, unsigned timeout,
    struct outcome *o)
{
	struct exec_spec	 spec;
	char			**argv, **envp, err[512];
	struct exec_job		*job;

	memset(o, 0, sizeof(*o));
	argv = exec_pkg_argv(stage, rel, args, err, sizeof(err));
	CU_ASSERT_FATAL(argv != NULL);
	envp = exec_env(stage, 7, "HF1");
	memset(&spec, 0, sizeof(spec));
	spec.path = argv[0];
	spec.argv = argv;
	spec.envp = envp;
	spec.cwd = stage;
	spec.timeout = timeout;
	job = exec_start(&spec, on_done, o, err, sizeof(err));
	CU_ASSERT_FATAL(job != NULL);
	CU_ASSERT(exec_pid(job) > 0);
	while (!o->done)
		event_base_dispatch(base);
	exec_free_argv(argv);
	exec_free_argv(envp);
}

static char *
slurp(const char *name, size_t *len)
{
	char	 path[256], *buf;
	FILE	*fp;

	snprintf(path, sizeof(path), "%s/%s", stage, name);
	if ((fp = fopen(path, "r")) == NULL)
		return (NULL);
	buf = calloc(1, 65536);
	*len = fread(buf, 1, 65535, fp);
	fclose(fp);
	return (buf);
}

static void
test_argv_literal(void)
{
	static const char *nasty[] = {
		"; touch pwned1",
		"$(touch pwned2)",
		"`touch pwned3`",
		"'single' \"double\" \\back",
		"line1\nline2",
		"",
		"*",
		"a b\tc",
		"> pwned4",
		"| touch pwned5",
		"$HOME ${PATH}",
	};
	struct pkg_list	 args = { NULL, 0 };
	struct outcome	 o;
	char		*buf, *p, real[PATH_MAX], path[256];
	size_t		 len, i, n;

	install("setup");
	for (i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++)
		CU_ASSERT_FATAL(pkg_field_list_add("args", &args, nasty[i], 64,
		    path, sizeof(path)) == 0);
	run("bin/setup", &args, 30, &o);
	CU_ASSERT_EQUAL(o.res.how, EXEC_EXITED);
	CU_ASSERT_EQUAL(o.res.exit_status, 0);

	/* argv[0] is the resolved path, then every parameter, byte for byte. */
	buf = slurp("argv.out", &len);
	CU_ASSERT_FATAL(buf != NULL);
	snprintf(path, sizeof(path), "%s/bin/setup", stage);
	CU_ASSERT_FATAL(realpath(path, real) != NULL);
	p = buf;
	CU_ASSERT_STRING_EQUAL(p, real);
	p += strlen(p) + 1;
	for (i = 0, n = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		CU_ASSERT((size_t)(p - buf) < len);
		CU_ASSERT_STRING_EQUAL(p, nasty[i]);
		p += strlen(p) + 1;
		n++;
	}
	CU_ASSERT_EQUAL((size_t)(p - buf), len);
	free(buf);
	/* No shell ran: nothing it would have created exists. */
	for (i = 1; i <= 5; i++) {
		snprintf(path, sizeof(path), "%s/pwned%zu", stage, i);
		CU_ASSERT(access(path, F_OK) == -1);
	}
	pkg_field_list_free(&args);
}

static void
test_env_cwd_fds(void)
{
	struct pkg_list	 args = { NULL, 0 };
	struct outcome	 o;
	char		*buf, *p, real[PATH_MAX];
	size_t		 len, n = 0;
	int		 saw_path = 0, saw_run = 0;

	install("setup");
	setenv("FLEETCAST_TEST_LEAK", "must not pass", 1);
	run("bin/setup", &args, 30, &o);
	CU_ASSERT_EQUAL(o.res.how, EXEC_EXITED);
	buf = slurp("env.out", &len);
	CU_ASSERT_FATAL(buf != NULL);
	for (p = buf; (size_t)(p - buf) < len; p += strlen(p) + 1) {
		n++;
		CU_ASSERT(strncmp(p, "FLEETCAST_TEST_LEAK", 19) != 0);
		if (strncmp(p, "PATH=", 5) == 0)
			saw_path = 1;
		if (strcmp(p, "FLEETCAST_RUN_ID=7") == 0)
			saw_run = 1;
	}
	CU_ASSERT_EQUAL(n, 7);
	CU_ASSERT(saw_path && saw_run);
	free(buf);
	buf = slurp("cwd.out", &len);
	CU_ASSERT_FATAL(buf != NULL);
	CU_ASSERT_FATAL(realpath(stage, real) != NULL);
	CU_ASSERT_STRING_EQUAL(buf, real);
	free(buf);
	/* No descriptor leaked; stdin is /dev/null (read gives 0). */
	buf = slurp("misc.out", &len);
	CU_ASSERT_FATAL(buf != NULL);
	CU_ASSERT_STRING_EQUAL(buf, "fds=0 stdin=0\n");
	free(buf);
	/* stdout and stderr both reach the tail. */
	CU_ASSERT(strstr(o.res.tail, "stdout line\n") != NULL);
	CU_ASSERT(strstr(o.res.tail, "stderr line\n") != NULL);
	unsetenv("FLEETCAST_TEST_LEAK");
}

static void
test_exit_status(void)
{
	struct pkg_list	args = { NULL, 0 };
	struct outcome	o;
	char		how[128];

	install("fail");
	run("bin/fail", &args, 30, &o);
	CU_ASSERT_EQUAL(o.res.how, EXEC_EXITED);
	CU_ASSERT_EQUAL(o.res.exit_status, 3);
	CU_ASSERT_STRING_EQUAL(o.res.tail, "failing now\n");
	exec_describe(&o.res, 30, how, sizeof(how));
	CU_ASSERT_STRING_EQUAL(how, "exit status 3");

	install("killer");
	run("bin/killer", &args, 30, &o);
	CU_ASSERT_EQUAL(o.res.how, EXEC_SIGNALED);
	CU_ASSERT_EQUAL(o.res.exit_status, SIGUSR1);
}

static void
test_timeout(void)
{
	struct pkg_list	args = { NULL, 0 };
	struct outcome	o;
	time_t		t0;
	char		how[128];

	install("sleeper");
	t0 = time(NULL);
	run("bin/sleeper", &args, 1, &o);
	CU_ASSERT_EQUAL(o.res.how, EXEC_TIMEDOUT);
	CU_ASSERT(time(NULL) - t0 < EXEC_KILL_GRACE);
	exec_describe(&o.res, 1, how, sizeof(how));
	CU_ASSERT_STRING_EQUAL(how, "timed out after 1 s and was killed");

	/* One that ignores SIGTERM gets SIGKILL after the grace period. */
	install("stubborn");
	t0 = time(NULL);
	run("bin/stubborn", &args, 1, &o);
	CU_ASSERT_EQUAL(o.res.how, EXEC_TIMEDOUT);
	CU_ASSERT_EQUAL(o.res.exit_status, SIGKILL);
	CU_ASSERT(time(NULL) - t0 >= EXEC_KILL_GRACE);
	CU_ASSERT(time(NULL) - t0 < EXEC_KILL_GRACE + 5);
}

static void
test_tail(void)
{
	struct pkg_list	args = { NULL, 0 };
	struct outcome	o;
	char		*text;

	install("noisy");
	run("bin/noisy", &args, 30, &o);
	CU_ASSERT_EQUAL(o.res.how, EXEC_EXITED);
	CU_ASSERT_EQUAL(o.res.outbytes, 10000 * 10);
	CU_ASSERT_EQUAL(o.res.taillen, EXEC_TAIL_MAX);
	CU_ASSERT(strncmp(o.res.tail, "line 9600\n", 10) == 0);
	CU_ASSERT(strcmp(o.res.tail + EXEC_TAIL_MAX - 10, "line 9999\n") == 0);
	o.res.tail[5] = '\0';
	o.res.tail[6] = '\033';
	text = exec_tail_text(&o.res);
	CU_ASSERT_EQUAL(strlen(text), EXEC_TAIL_MAX);
	CU_ASSERT(text[5] == '?' && text[6] == '?' && text[9] == '\n');
	free(text);
}

static void
test_cannot_start(void)
{
	struct exec_spec	 spec;
	char			*argv[] = { "nope", NULL }, *envp[] = { NULL };
	char			 err[512];
	struct outcome		 o;

	memset(&spec, 0, sizeof(spec));
	spec.path = "/nonexistent/program";
	spec.argv = argv;
	spec.envp = envp;
	CU_ASSERT(exec_start(&spec, on_done, &o, err, sizeof(err)) == NULL);
	CU_ASSERT(strstr(err, "/nonexistent/program") != NULL);
	CU_ASSERT(strstr(err, "No such file") != NULL);
	spec.path = "no-such-hook-program";
	spec.search = 1;
	CU_ASSERT(exec_start(&spec, on_done, &o, err, sizeof(err)) == NULL);
	CU_ASSERT(strstr(err, "not found") != NULL);
	/* A missing working directory is a failure to start, too. */
	spec.path = "/bin/true";
	spec.search = 0;
	spec.cwd = "/nonexistent";
	CU_ASSERT(exec_start(&spec, on_done, &o, err, sizeof(err)) == NULL);
}

static void
test_pkg_argv_checks(void)
{
	struct pkg_list	 args = { NULL, 0 };
	char		 path[256], err[512];
	int		 fd;

	snprintf(path, sizeof(path), "%s/evil", stage);
	CU_ASSERT_FATAL(symlink("/bin/true", path) == 0);
	CU_ASSERT(exec_pkg_argv(stage, "evil", &args, err, sizeof(err)) ==
	    NULL);
	CU_ASSERT(strstr(err, "outside the package folder") != NULL);
	CU_ASSERT(exec_pkg_argv(stage, "../bin/true", &args, err,
	    sizeof(err)) == NULL);
	CU_ASSERT(exec_pkg_argv(stage, "/bin/true", &args, err,
	    sizeof(err)) == NULL);
	CU_ASSERT(strstr(err, "relative") != NULL);
	snprintf(path, sizeof(path), "%s/readme.txt", stage);
	CU_ASSERT_FATAL((fd = open(path, O_WRONLY | O_CREAT, 0644)) != -1);
	close(fd);
	CU_ASSERT(exec_pkg_argv(stage, "readme.txt", &args, err,
	    sizeof(err)) == NULL);
	CU_ASSERT(strstr(err, "not executable") != NULL);
	CU_ASSERT(exec_pkg_argv(stage, "bin", &args, err, sizeof(err)) ==
	    NULL);
	CU_ASSERT(strstr(err, "not a regular file") != NULL);
	CU_ASSERT(exec_pkg_argv(stage, "missing", &args, err, sizeof(err)) ==
	    NULL);
}

static void
test_split(void)
{
	char	**v, err[256];

	v = exec_split("systemctl reboot", err, sizeof(err));
	CU_ASSERT_FATAL(v != NULL);
	CU_ASSERT_STRING_EQUAL(v[0], "systemctl");
	CU_ASSERT_STRING_EQUAL(v[1], "reboot");
	CU_ASSERT(v[2] == NULL);
	exec_free_argv(v);
	v = exec_split("  touch '/tmp/a b' \"c\\\"d\" x;y $(z)  ", err,
	    sizeof(err));
	CU_ASSERT_FATAL(v != NULL);
	CU_ASSERT_STRING_EQUAL(v[0], "touch");
	CU_ASSERT_STRING_EQUAL(v[1], "/tmp/a b");
	CU_ASSERT_STRING_EQUAL(v[2], "c\"d");
	CU_ASSERT_STRING_EQUAL(v[3], "x;y");
	CU_ASSERT_STRING_EQUAL(v[4], "$(z)");
	CU_ASSERT(v[5] == NULL);
	exec_free_argv(v);
	v = exec_split("a''b \"\"", err, sizeof(err));
	CU_ASSERT_FATAL(v != NULL);
	CU_ASSERT_STRING_EQUAL(v[0], "ab");
	CU_ASSERT_STRING_EQUAL(v[1], "");
	exec_free_argv(v);
	CU_ASSERT(exec_split("echo 'open", err, sizeof(err)) == NULL);
	CU_ASSERT(strstr(err, "unterminated single quote") != NULL);
	CU_ASSERT(exec_split("   ", err, sizeof(err)) == NULL);
	CU_ASSERT(strstr(err, "no program") != NULL);
}

int
main(int argc, char **argv)
{
	CU_TestInfo	tests[] = {
		{ "parameters arrive literally", test_argv_literal },
		{ "clean environment, cwd, fds", test_env_cwd_fds },
		{ "exit status and signals", test_exit_status },
		{ "timeout", test_timeout },
		{ "output tail", test_tail },
		{ "cannot start", test_cannot_start },
		{ "executable path checks", test_pkg_argv_checks },
		{ "hook command splitting", test_split },
		CU_TEST_INFO_NULL,
	};
	char	cmd[256];
	int	rv;

	if ((rv = helper(basename(argv[0]), argv)) != -1)
		return (rv);
	snprintf(dir, sizeof(dir), "/tmp/test_exec.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return (1);
	snprintf(stage, sizeof(stage), "%s/stage", dir);
	snprintf(cmd, sizeof(cmd), "%s/bin", stage);
	if (mkdir(stage, 0700) == -1 || mkdir(cmd, 0700) == -1)
		return (1);
	base = event_base_new();
	exec_init(base);
	rv = unit_main("exec", tests);
	exec_shutdown();
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	(void)system(cmd);
	return (rv);
}
