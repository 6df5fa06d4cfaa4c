/*
 * `fleetcast package build-agent': the signed agent package of MISSION.md
 * M4.  It takes the installed fleetcast-agent (or another binary, or the
 * one inside a Debian package), asks the binary for its version unless
 * --version says it, and builds an ordinary signed package around it:
 * id fleetcast-agent-VERSION (agentpkg.h), type application, urgency
 * normal (automatic update leaves it to the agent upgrade), the binary as
 * its executable.  Registered with `package add', it tells the server
 * which agent version it ships; the agents install it themselves instead
 * of running it (agent/upgrade.c).
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "agentpkg.h"
#include "cli.h"
#include "crypto.h"
#include "fsutil.h"
#include "pkg.h"

#define AGENTPKG_CMD		"package build-agent"
#define AGENTPKG_DEFAULT_BIN	FC_SBINDIR "/fleetcast-agent"
#define AGENTPKG_ASK_TIMEOUT	10	/* s for BINARY --version */

enum {
	OPT_BINARY = 256,
	OPT_DEB,
	OPT_VERSION,
	OPT_SIGNKEY,
};

static const struct option agentpkg_opts[] = {
	{ "binary", required_argument, NULL, OPT_BINARY },
	{ "deb", required_argument, NULL, OPT_DEB },
	{ "version", required_argument, NULL, OPT_VERSION },
	{ "sign-key", required_argument, NULL, OPT_SIGNKEY },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/*
 * Ask a binary for its version: `BINARY --version' must print
 * "fleetcast-agent VERSION" within AGENTPKG_ASK_TIMEOUT seconds and exit
 * 0.  No shell: the path is run as it is.
 */
static int
agentpkg_ask(const char *bin, char *v, size_t vlen, char *err, size_t errlen)
{
	char	 buf[256];
	size_t	 n = 0;
	ssize_t	 r;
	pid_t	 pid;
	int	 fds[2], st;

	if (pipe(fds) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return (-1);
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(fds[0]);
		close(fds[1]);
		return (-1);
	}
	if (pid == 0) {
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		alarm(AGENTPKG_ASK_TIMEOUT);	/* survives exec */
		execl(bin, bin, "--version", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	while (n < sizeof(buf) - 1 && (r = read(fds[0], buf + n,
	    sizeof(buf) - 1 - n)) != 0) {
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(fds[0]);
	while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
		;
	buf[strcspn(buf, "\r\n")] = '\0';
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 ||
	    strncmp(buf, AGENTPKG_EXEC " ", strlen(AGENTPKG_EXEC) + 1) != 0) {
		snprintf(err, errlen, "%s --version did not answer "
		    "'fleetcast-agent VERSION' (%s%.60s); give --version V if it "
		    "cannot run here", bin, WIFEXITED(st) ? "said: " :
		    "killed by a signal", WIFEXITED(st) ? buf : "");
		return (-1);
	}
	snprintf(v, vlen, "%s", buf + strlen(AGENTPKG_EXEC) + 1);
	return (0);
}

/*
 * The binary inside a Debian package: its data.tar.* member holds
 * ./usr/sbin/fleetcast-agent.  libarchive reads the ar container and,
 * from memory, the compressed tar inside it (bounded by the member's
 * size, at most AGENTPKG_BIN_MAX).
 */
static int
agentpkg_from_deb(const char *deb, const char *dst, char *err, size_t errlen)
{
	struct archive		*a, *t = NULL;
	struct archive_entry	*e;
	const char		*name;
	char			*data = NULL, buf[65536];
	la_ssize_t		 r;
	size_t			 len = 0;
	int			 out, rv = -1, found = 0;
	int64_t			 size;

	a = archive_read_new();
	archive_read_support_format_ar(a);
	if (archive_read_open_filename(a, deb, 65536) != ARCHIVE_OK) {
		snprintf(err, errlen, "--deb: %s: %s", deb,
		    archive_error_string(a));
		goto out;
	}
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		name = archive_entry_pathname(e);
		if (name == NULL || strncmp(name, "data.tar", 8) != 0)
			continue;
		size = archive_entry_size(e);
		if (size <= 0 || (uint64_t)size > AGENTPKG_BIN_MAX) {
			snprintf(err, errlen, "--deb: %s: %s is %lld bytes, "
			    "limit %llu MiB", deb, name, (long long)size,
			    AGENTPKG_BIN_MAX >> 20);
			goto out;
		}
		data = malloc((size_t)size);
		if (data == NULL || (r = archive_read_data(a, data,
		    (size_t)size)) != size) {
			snprintf(err, errlen, "--deb: %s: %s: short read",
			    deb, name);
			goto out;
		}
		len = (size_t)size;
		break;
	}
	if (data == NULL) {
		snprintf(err, errlen, "--deb: %s: no data.tar member: not a "
		    "Debian package", deb);
		goto out;
	}
	t = archive_read_new();
	archive_read_support_format_tar(t);
	archive_read_support_filter_all(t);
	if (archive_read_open_memory(t, data, len) != ARCHIVE_OK) {
		snprintf(err, errlen, "--deb: %s: data.tar: %s", deb,
		    archive_error_string(t));
		goto out;
	}
	while (archive_read_next_header(t, &e) == ARCHIVE_OK) {
		name = archive_entry_pathname(e);
		if (name == NULL || archive_entry_filetype(e) != AE_IFREG)
			continue;
		if (strcmp(name, "./usr/sbin/fleetcast-agent") != 0 &&
		    strcmp(name, "usr/sbin/fleetcast-agent") != 0)
			continue;
		if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0755)) == -1) {
			snprintf(err, errlen, "%s: %s", dst, strerror(errno));
			goto out;
		}
		while ((r = archive_read_data(t, buf, sizeof(buf))) > 0)
			if (write_all(out, buf, (size_t)r) == -1) {
				r = -1;
				break;
			}
		if (close(out) == -1 || r < 0) {
			snprintf(err, errlen, "--deb: %s: extracting "
			    "usr/sbin/fleetcast-agent failed", deb);
			goto out;
		}
		found = 1;
		break;
	}
	if (!found) {
		snprintf(err, errlen, "--deb: %s holds no usr/sbin/"
		    "fleetcast-agent", deb);
		goto out;
	}
	rv = 0;
out:
	if (t != NULL)
		archive_read_free(t);
	archive_read_free(a);
	free(data);
	return (rv);
}

static void
agentpkg_usage(FILE *f)
{
	fprintf(f, "usage: fleetcast package build-agent [--binary PATH | "
	    "--deb FILE.deb] [--version V]\n"
	    "           --sign-key PREFIX.key -o FILE.fcpkg\n"
	    "  --binary PATH  the agent binary (default %s)\n"
	    "  --deb FILE     take usr/sbin/fleetcast-agent from a Debian "
	    "package\n"
	    "  --version V    the agent version (default: what the binary's "
	    "--version says)\n", AGENTPKG_DEFAULT_BIN);
}

/* Remove the temp folder and what is in it (one file at most). */
static void
agentpkg_cleanup(const char *dir, const char *bin)
{
	unlink(bin);
	rmdir(dir);
}

static int
agentpkg_build(int argc, char **argv)
{
	const char		*bin = NULL, *deb = NULL, *version = NULL;
	const char		*signkey = NULL, *out = NULL, *tmp;
	struct pkg_manifest	 m;
	uint8_t			 sk[ED25519_PRIV_LEN];
	char			 dir[4096], file[4200], v[256], asked[256];
	char			 err[8192], hex[2 * SHA256_LEN + 1];
	int			 ch, rv;

	/* argv[0] is "package": getopt starts after "build-agent". */
	argc--;
	argv++;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":o:h", agentpkg_opts,
	    NULL)) != -1) {
		switch (ch) {
		case 'h':
			agentpkg_usage(stdout);
			return (EXIT_OK);
		case OPT_BINARY:
			bin = optarg;
			break;
		case OPT_DEB:
			deb = optarg;
			break;
		case OPT_VERSION:
			version = optarg;
			break;
		case OPT_SIGNKEY:
			signkey = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			return (cli_getopt_error(AGENTPKG_CMD, ch, argv));
		}
	}
	if (optind < argc)
		return (cli_usage_error(AGENTPKG_CMD, "unexpected argument "
		    "'%s'", argv[optind]));
	if (bin != NULL && deb != NULL)
		return (cli_usage_error(AGENTPKG_CMD, "--binary and --deb: "
		    "give one of them"));
	if (signkey == NULL || out == NULL || *out == '\0')
		return (cli_usage_error(AGENTPKG_CMD, "%s: required",
		    signkey == NULL ? "--sign-key" : "-o"));
	if (deb != NULL && version == NULL)
		return (cli_usage_error(AGENTPKG_CMD, "--deb: needs --version "
		    "V (the binary inside is not run here)"));
	if (bin == NULL && deb == NULL)
		bin = AGENTPKG_DEFAULT_BIN;
	if (version != NULL && agentpkg_id(version, v, sizeof(v), err,
	    sizeof(err)) == -1)
		return (cli_usage_error(AGENTPKG_CMD, "--version: %s", err));
	if (bin != NULL && agentpkg_ask(bin, asked, sizeof(asked), err,
	    sizeof(err)) == -1) {
		if (version == NULL)
			return (cli_usage_error(AGENTPKG_CMD, "--binary: %s",
			    err));
		fprintf(stderr, "fleetcast: %s: warning: %s; building it as "
		    "version %s\n", AGENTPKG_CMD, err, version);
	} else if (bin != NULL && version != NULL &&
	    strcmp(asked, version) != 0)
		return (cli_usage_error(AGENTPKG_CMD, "--version %s: %s says "
		    "it is %s", version, bin, asked));
	snprintf(v, sizeof(v), "%s", version != NULL ? version : asked);

	pkg_manifest_init(&m);
	if (agentpkg_id(v, m.id, sizeof(m.id), err, sizeof(err)) == -1) {
		rv = cli_usage_error(AGENTPKG_CMD, "%s: %s", bin, err);
		goto out;
	}
	m.type = PKG_APPLICATION;
	m.urgency = PKG_URGENCY_NORMAL;
	m.exec = strdup(AGENTPKG_EXEC);
	snprintf(m.summary, sizeof(m.summary), "fleetcast-agent %s", v);
	snprintf(m.company, sizeof(m.company), "fleetcast");
	if (m.exec == NULL || pkg_manifest_check(&m, 1, err,
	    sizeof(err)) == -1) {
		rv = cli_fail(AGENTPKG_CMD, "%s", m.exec == NULL ?
		    "out of memory" : err);
		goto out;
	}
	if (ed25519_read_private(signkey, sk, err, sizeof(err)) == -1) {
		rv = cli_usage_error(AGENTPKG_CMD, "--sign-key: %s", err);
		goto out;
	}
	tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/fleetcast-agentpkg.XXXXXX",
	    tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		explicit_bzero(sk, sizeof(sk));
		rv = cli_fail(AGENTPKG_CMD, "%s: %s", dir, strerror(errno));
		goto out;
	}
	snprintf(file, sizeof(file), "%s/%s", dir, AGENTPKG_EXEC);
	if ((deb != NULL ? agentpkg_from_deb(deb, file, err, sizeof(err)) :
	    agentpkg_copy(bin, file, 0, err, sizeof(err))) == -1) {
		explicit_bzero(sk, sizeof(sk));
		agentpkg_cleanup(dir, file);
		rv = cli_usage_error(AGENTPKG_CMD, "%s", err);
		goto out;
	}
	rv = pkg_build(&m, dir, out, sk, err, sizeof(err));
	explicit_bzero(sk, sizeof(sk));
	agentpkg_cleanup(dir, file);
	if (rv != 0) {
		rv = rv == PKG_EINPUT ? cli_usage_error(AGENTPKG_CMD, "%s",
		    err) : cli_fail(AGENTPKG_CMD, "%s", err);
		goto out;
	}
	hex_encode(m.payload_sha256, SHA256_LEN, hex);
	printf("built %s: agent package %s (fleetcast-agent %s), payload "
	    "%llu bytes, sha256 %s\n", out, m.id, v,
	    (unsigned long long)m.payload_size, hex);
	rv = EXIT_OK;
out:
	pkg_manifest_free(&m);
	return (rv);
}

const struct cli_entry cmd_agentpkg_entries[] = {
	{ "package", "build-agent", agentpkg_build, "[--binary PATH | --deb "
	    "FILE.deb] [--version V] --sign-key PREFIX.key -o FILE.fcpkg",
	    NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
