/*
 * `fleetcast package`: the offline package tools build, inspect and
 * verify, and add, list, show and remove, which talk to the server.  Every
 * option is checked as it is read, so the first bad value stops the build
 * with a message naming the option, the problem and the rule (exit 2)
 * before anything is written.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"
#include "crypto.h"
#include "pkg.h"
#include "xmalloc.h"

#define PKG_CLI_MAXKEYS	64

static void
package_usage(FILE *f)
{
	fprintf(f,
	    "usage: fleetcast package build --dir DIR... --exec REL_PATH --id ID\n"
	    "           --type servicepack|hotfix|application [--args ARG]...\n"
	    "           [--company S] [--release-date YYYY/MM/DD] "
	    "[--summary S]\n"
	    "           [--urgency highest|high|normal|low] [--kb S] "
	    "[--major N --minor N]\n"
	    "           [--reboot-after-install] [--exclusive] [--os S]... "
	    "[--lang S]...\n"
	    "           [--base-sp ID] [--supersedes ID]...\n"
	    "           [--requires 'FACT exists'|'FACT == V'|'FACT >= V']...\n"
	    "           [--idempotent] [--compression zstd|none]\n"
	    "           --sign-key PREFIX.key -o FILE.fcpkg\n"
	    "       fleetcast package inspect FILE.fcpkg [--json]\n"
	    "       fleetcast package verify FILE.fcpkg --pubkey PREFIX.pub\n"
	    "       fleetcast package add FILE.fcpkg | list | show ID | "
	    "remove ID   (server)\n"
	    "\n"
	    "build    sign a package of the folder DIR; the manifest carries "
	    "the options\n"
	    "         (id: 1-63 bytes of A-Z a-z 0-9 - _; company <= 127 "
	    "bytes; summary\n"
	    "         <= 511; kb <= 31, not for service packs; --major/--minor "
	    "required\n"
	    "         for service packs; urgency defaults to normal)\n"
	    "inspect  show the manifest without checking the signature\n"
	    "verify   exit 0 only if the signature (by a key in the --pubkey "
	    "file) and\n"
	    "         the payload's SHA-256 hold\n"
	    "\n"
	    "Exit status: 0 success, 1 the operation or a check failed, 2 bad "
	    "usage or\ninvalid input.  See fleetcast(1).\n");
}

/*
 * What --help of the subcommands that talk to the server says after their
 * usage lines (their entries, at the end of this file).
 */
static void
package_server_help(FILE *f)
{
	fprintf(f,
	    "\n"
	    "add      register a package with the server, which verifies it "
	    "against its\n"
	    "         trusted_keys and refuses a duplicate id or a version "
	    "that is not\n"
	    "         higher (anti-rollback); on the server's own host and "
	    "below its\n"
	    "         package_dirs the server copies the file, else (or with "
	    "--upload)\n"
	    "         it goes in the request (<= 64 MiB)\n"
	    "list     the registered packages: id, type, version, urgency, "
	    "size, added\n"
	    "show     one package with its manifest and SHA-256\n"
	    "remove   remove a package that no scenario uses and no run is "
	    "sending\n"
	    "  --json  print the server's answer as JSON\n"
	    "\n"
	    "The server: %s ('fleetcast --api URL' or $FLEETCAST_API).\n"
	    "Exit status: 0 success, 1 the operation failed, 2 bad usage or "
	    "invalid input.\n", cli_api_url);
}

enum {
	OPT_DIR = 256,
	OPT_EXEC,
	OPT_ID,
	OPT_TYPE,
	OPT_ARGS,
	OPT_COMPANY,
	OPT_DATE,
	OPT_SUMMARY,
	OPT_URGENCY,
	OPT_KB,
	OPT_MAJOR,
	OPT_MINOR,
	OPT_REBOOT,
	OPT_EXCLUSIVE,
	OPT_OS,
	OPT_LANG,
	OPT_BASESP,
	OPT_SUPERSEDES,
	OPT_REQUIRES,
	OPT_IDEMPOTENT,
	OPT_SIGNKEY,
	OPT_COMPRESSION,
	OPT_JSON,
	OPT_PUBKEY,
	OPT_LAST,
};

static const struct option build_opts[] = {
	{ "dir", required_argument, NULL, OPT_DIR },
	{ "exec", required_argument, NULL, OPT_EXEC },
	{ "id", required_argument, NULL, OPT_ID },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "args", required_argument, NULL, OPT_ARGS },
	{ "company", required_argument, NULL, OPT_COMPANY },
	{ "release-date", required_argument, NULL, OPT_DATE },
	{ "summary", required_argument, NULL, OPT_SUMMARY },
	{ "urgency", required_argument, NULL, OPT_URGENCY },
	{ "kb", required_argument, NULL, OPT_KB },
	{ "major", required_argument, NULL, OPT_MAJOR },
	{ "minor", required_argument, NULL, OPT_MINOR },
	{ "reboot-after-install", no_argument, NULL, OPT_REBOOT },
	{ "exclusive", no_argument, NULL, OPT_EXCLUSIVE },
	{ "os", required_argument, NULL, OPT_OS },
	{ "lang", required_argument, NULL, OPT_LANG },
	{ "base-sp", required_argument, NULL, OPT_BASESP },
	{ "supersedes", required_argument, NULL, OPT_SUPERSEDES },
	{ "requires", required_argument, NULL, OPT_REQUIRES },
	{ "idempotent", no_argument, NULL, OPT_IDEMPOTENT },
	{ "sign-key", required_argument, NULL, OPT_SIGNKEY },
	{ "compression", required_argument, NULL, OPT_COMPRESSION },
	{ "out", required_argument, NULL, 'o' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The option's name as the user typed it, for messages. */
static const char *
build_optname(int ch)
{
	size_t	i;

	if (ch == 'o')
		return ("-o");
	for (i = 0; build_opts[i].name != NULL; i++) {
		if (build_opts[i].val == ch) {
			static char	buf[64];

			snprintf(buf, sizeof(buf), "--%s", build_opts[i].name);
			return (buf);
		}
	}
	return ("?");
}

/* Copy a checked text value into a fixed manifest field. */
static int
build_text(const char *opt, const char *v, char *dst, size_t dstlen,
    int multiline, char *err, size_t errlen)
{
	if (pkg_field_check_text(opt, v, dstlen - 1, multiline, err,
	    errlen) == -1)
		return (-1);
	memcpy(dst, v, strlen(v) + 1);
	return (0);
}

static int
build_option(struct pkg_manifest *m, int ch, const char *v,
    const char ***dirs, size_t *ndirs, const char **out,
    const char **signkey, int *have_major, int *have_minor, char *err,
    size_t errlen)
{
	const char	*opt = build_optname(ch);
	struct pkg_cond	 c;

	switch (ch) {
	case OPT_DIR:
		/* Several: each folder under its own name in the payload. */
		if (*ndirs >= PKG_LIST_MAX) {
			snprintf(err, errlen, "%s: more than %d folders", opt,
			    PKG_LIST_MAX);
			return (-1);
		}
		*dirs = xreallocarray(*dirs, *ndirs + 1, sizeof(**dirs));
		(*dirs)[(*ndirs)++] = v;
		return (0);
	case OPT_EXEC:
		/* "./setup.sh" means setup.sh: the path is relative anyway. */
		while (v[0] == '.' && v[1] == '/')
			v += 2;
		if (pkg_field_check_relpath(opt, v, err, errlen) == -1)
			return (-1);
		m->exec = xstrdup(v);
		return (0);
	case OPT_ID:
		if (pkg_field_check_id(opt, v, err, errlen) == -1)
			return (-1);
		memcpy(m->id, v, strlen(v) + 1);
		return (0);
	case OPT_TYPE:
		return (pkg_field_parse_type(opt, v, &m->type, err, errlen));
	case OPT_ARGS:
		if (m->args.n >= PKG_ARGS_MAX) {
			snprintf(err, errlen, "%s: more than %d values, limit %d",
			    opt, PKG_ARGS_MAX, PKG_ARGS_MAX);
			return (-1);
		}
		if (pkg_field_check_text(opt, v, PKG_ARG_MAX, 0, err,
		    errlen) == -1)
			return (-1);
		/* Arguments may repeat: "--args -v --args -v" is legitimate. */
		m->args.v = xreallocarray(m->args.v, m->args.n + 1,
		    sizeof(*m->args.v));
		m->args.v[m->args.n++] = xstrdup(v);
		return (0);
	case OPT_COMPANY:
		return (build_text(opt, v, m->company, sizeof(m->company), 0,
		    err, errlen));
	case OPT_DATE:
		return (pkg_field_parse_date(opt, v, m, err, errlen));
	case OPT_SUMMARY:
		return (build_text(opt, v, m->summary, sizeof(m->summary), 1,
		    err, errlen));
	case OPT_URGENCY:
		return (pkg_field_parse_urgency(opt, v, &m->urgency, err,
		    errlen));
	case OPT_KB:
		return (build_text(opt, v, m->kb, sizeof(m->kb), 0, err,
		    errlen));
	case OPT_MAJOR:
		*have_major = 1;
		return (pkg_field_parse_u16(opt, v, &m->major, err, errlen));
	case OPT_MINOR:
		*have_minor = 1;
		return (pkg_field_parse_u16(opt, v, &m->minor, err, errlen));
	case OPT_REBOOT:
		m->flags |= PKG_F_REBOOT;
		return (0);
	case OPT_EXCLUSIVE:
		m->flags |= PKG_F_EXCLUSIVE;
		return (0);
	case OPT_IDEMPOTENT:
		m->flags |= PKG_F_IDEMPOTENT;
		return (0);
	case OPT_OS:
	case OPT_LANG:
		if (*v == '\0') {
			snprintf(err, errlen, "%s: empty value", opt);
			return (-1);
		}
		if (pkg_field_check_text(opt, v, PKG_NAME_MAX, 0, err,
		    errlen) == -1)
			return (-1);
		return (pkg_field_list_add(opt, ch == OPT_OS ? &m->os :
		    &m->lang, v, PKG_LIST_MAX, err, errlen));
	case OPT_BASESP:
		if (pkg_field_check_id(opt, v, err, errlen) == -1)
			return (-1);
		memcpy(m->base_sp, v, strlen(v) + 1);
		return (0);
	case OPT_SUPERSEDES:
		if (pkg_field_check_id(opt, v, err, errlen) == -1)
			return (-1);
		return (pkg_field_list_add(opt, &m->supersedes, v, PKG_LIST_MAX,
		    err, errlen));
	case OPT_REQUIRES:
		if (m->nrequires >= PKG_LIST_MAX) {
			snprintf(err, errlen, "%s: more than %d conditions, "
			    "limit %d", opt, PKG_LIST_MAX, PKG_LIST_MAX);
			return (-1);
		}
		if (pkg_cond_parse(opt, v, &c, err, errlen) == -1)
			return (-1);
		m->requires = xreallocarray(m->requires, m->nrequires + 1,
		    sizeof(*m->requires));
		m->requires[m->nrequires++] = c;
		return (0);
	case OPT_SIGNKEY:
		*signkey = v;
		return (0);
	case OPT_COMPRESSION:
		if (strcmp(v, "zstd") == 0)
			m->compression = PKG_COMPRESS_ZSTD;
		else if (strcmp(v, "none") == 0)
			m->compression = PKG_COMPRESS_NONE;
		else {
			snprintf(err, errlen, "%s: '%s' is not one of zstd, none",
			    opt, v);
			return (-1);
		}
		return (0);
	case 'o':
		if (*v == '\0') {
			snprintf(err, errlen, "-o: empty path");
			return (-1);
		}
		*out = v;
		return (0);
	}
	snprintf(err, errlen, "unknown option");
	return (-1);
}

static int
package_build(int argc, char **argv)
{
	const char		*cmd = "package build";
	const char		**dirs = NULL, *out = NULL, *signkey = NULL;
	size_t			 ndirs = 0;
	struct pkg_manifest	 m;
	uint8_t			 sk[ED25519_PRIV_LEN];
	char			 err[1024], hex[2 * SHA256_LEN + 1];
	int			 ch, rv, have_major = 0, have_minor = 0;
	int			 urgency_given = 0;
	unsigned char		 seen[OPT_LAST];

	pkg_manifest_init(&m);
	m.type = 0;
	memset(seen, 0, sizeof(seen));
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":o:h", build_opts, NULL)) != -1) {
		if (ch == 'h') {
			package_usage(stdout);
			rv = EXIT_OK;
			goto out;
		}
		if (ch == ':' || ch == '?') {
			rv = cli_getopt_error(cmd, ch, argv);
			goto out;
		}
		/* Single-valued options given twice are almost always typos. */
		if (ch != OPT_ARGS && ch != OPT_OS && ch != OPT_LANG &&
		    ch != OPT_DIR &&
		    ch != OPT_SUPERSEDES && ch != OPT_REQUIRES &&
		    ch < OPT_LAST && seen[ch]++) {
			rv = cli_usage_error(cmd, "%s: given twice",
			    build_optname(ch));
			goto out;
		}
		if (ch == OPT_URGENCY)
			urgency_given = 1;
		if (build_option(&m, ch, optarg, &dirs, &ndirs, &out, &signkey,
		    &have_major, &have_minor, err, sizeof(err)) == -1) {
			rv = cli_usage_error(cmd, "%s", err);
			goto out;
		}
	}
	if (optind < argc) {
		rv = cli_usage_error(cmd, "unexpected argument '%s'",
		    argv[optind]);
		goto out;
	}
	if (ndirs == 0 || m.exec == NULL || m.id[0] == '\0' || m.type == 0 ||
	    signkey == NULL || out == NULL) {
		rv = cli_usage_error(cmd, "%s: required",
		    ndirs == 0 ? "--dir" : m.exec == NULL ? "--exec" :
		    m.id[0] == '\0' ? "--id" : m.type == 0 ? "--type" :
		    signkey == NULL ? "--sign-key" : "-o");
		goto out;
	}
	if (have_major != have_minor) {
		rv = cli_usage_error(cmd, "%s: given without %s",
		    have_major ? "--major" : "--minor",
		    have_major ? "--minor" : "--major");
		goto out;
	}
	m.has_version = have_major;
	/* P5: service packs default to normal; so does everything else. */
	if (!urgency_given)
		m.urgency = PKG_URGENCY_NORMAL;
	if (pkg_manifest_check(&m, 1, err, sizeof(err)) == -1) {
		rv = cli_usage_error(cmd, "%s", err);
		goto out;
	}
	if (ed25519_read_private(signkey, sk, err, sizeof(err)) == -1) {
		rv = cli_usage_error(cmd, "--sign-key: %s", err);
		goto out;
	}
	rv = pkg_build_dirs(&m, dirs, ndirs, out, sk, err, sizeof(err));
	explicit_bzero(sk, sizeof(sk));
	if (rv == PKG_EINPUT) {
		rv = cli_usage_error(cmd, "%s", err);
		goto out;
	}
	if (rv != 0) {
		rv = cli_fail(cmd, "%s", err);
		goto out;
	}
	hex_encode(m.payload_sha256, SHA256_LEN, hex);
	printf("built %s: %s %s, payload %llu bytes (%s, %llu %s), "
	    "sha256 %s\n", out, pkg_field_type_name(m.type), m.id,
	    (unsigned long long)m.payload_size,
	    pkg_field_compression_name(m.compression),
	    (unsigned long long)m.entries, m.entries == 1 ? "entry" :
	    "entries", hex);
	rv = EXIT_OK;
out:
	pkg_manifest_free(&m);
	free(dirs);
	return (rv);
}

static void
print_list(const char *label, const struct pkg_list *l)
{
	size_t	i;

	printf("%-22s", label);
	if (l->n == 0)
		printf("-");
	for (i = 0; i < l->n; i++)
		printf("%s%s", i == 0 ? "" : ", ", l->v[i]);
	printf("\n");
}

static void
print_manifest(const char *file, const struct pkg_manifest *m)
{
	char		 buf[PKG_COND_TEXT_MAX + 1];
	const char	*p;
	struct tm	 tm;
	time_t		 t;
	size_t		 i;

	printf("%-22s%s\n", "file:", file);
	printf("%-22s%s\n", "id:", m->id);
	printf("%-22s%s\n", "type:", pkg_field_type_name(m->type));
	if (m->has_version)
		printf("%-22s%u.%u\n", "version:", m->major, m->minor);
	else
		printf("%-22s-\n", "version:");
	printf("%-22s%s\n", "urgency:", pkg_field_urgency_name(m->urgency));
	printf("%-22s%s\n", "company:", m->company[0] ? m->company : "-");
	pkg_field_format_date(m, buf, sizeof(buf));
	printf("%-22s%s\n", "release date:", buf);
	printf("%-22s", "summary:");
	if (m->summary[0] == '\0')
		printf("-");
	/* Indent continuation lines of a multi-line summary. */
	for (p = m->summary; *p != '\0'; p++) {
		putchar(*p);
		if (*p == '\n')
			printf("%-22s", "");
	}
	printf("\n");
	printf("%-22s%s\n", "kb:", m->kb[0] ? m->kb : "-");
	printf("%-22s%s\n", "exec:", m->exec);
	printf("%-22s", "args:");
	if (m->args.n == 0)
		printf("-");
	for (i = 0; i < m->args.n; i++)
		printf("%s'%s'", i == 0 ? "" : " ", m->args.v[i]);
	printf("\n");
	printf("%-22s%s\n", "reboot after install:",
	    m->flags & PKG_F_REBOOT ? "yes" : "no");
	printf("%-22s%s\n", "exclusive:", m->flags & PKG_F_EXCLUSIVE ?
	    "yes" : "no");
	printf("%-22s%s\n", "idempotent:", m->flags & PKG_F_IDEMPOTENT ?
	    "yes" : "no");
	print_list("os:", &m->os);
	print_list("lang:", &m->lang);
	printf("%-22s%s\n", "base sp:", m->base_sp[0] ? m->base_sp : "-");
	print_list("supersedes:", &m->supersedes);
	printf("%-22s", "requires:");
	if (m->nrequires == 0)
		printf("-");
	for (i = 0; i < m->nrequires; i++) {
		pkg_cond_format(&m->requires[i], buf, sizeof(buf));
		printf("%s'%s'", i == 0 ? "" : ", ", buf);
	}
	printf("\n");
	printf("%-22s%s\n", "compression:",
	    pkg_field_compression_name(m->compression));
	hex_encode(m->payload_sha256, SHA256_LEN, buf);
	printf("%-22s%llu bytes, sha256 %s\n", "payload:",
	    (unsigned long long)m->payload_size, buf);
	printf("%-22s%llu bytes in %llu %s\n", "unpacked:",
	    (unsigned long long)m->unpacked_size,
	    (unsigned long long)m->entries, m->entries == 1 ? "entry" :
	    "entries");
	t = (time_t)m->built_at;
	if (gmtime_r(&t, &tm) != NULL &&
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) > 0)
		printf("%-22s%s\n", "built at:", buf);
	hex_encode(m->key_id, KEYID_LEN, buf);
	printf("%-22s%s\n", "signing key id:", buf);
}

/* A missing package file is bad input (2); a broken one fails (1). */
static int
package_open_status(const char *path)
{
	struct stat	st;

	return (stat(path, &st) == -1 && errno == ENOENT ? EXIT_USAGE :
	    EXIT_FAIL);
}

static int
package_inspect(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char	*cmd = "package inspect", *file;
	struct pkg	*p;
	json_t		*o;
	char		 err[1024];
	int		 ch, json = 0, rv;

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (ch == 'h') {
			package_usage(stdout);
			return (EXIT_OK);
		}
		if (ch == OPT_JSON)
			json = 1;
		else
			return (cli_getopt_error(cmd, ch, argv));
	}
	if (optind != argc - 1)
		return (cli_usage_error(cmd, optind == argc ? "needs a package "
		    "file" : "takes one package file"));
	file = argv[optind];
	if (pkg_open(&p, file, NULL, 0, PKG_OPEN_NOVERIFY, err,
	    sizeof(err)) == -1) {
		rv = package_open_status(file);
		fprintf(stderr, "fleetcast %s: %s: %s\n", cmd, file, err);
		return (rv);
	}
	if (json) {
		o = pkg_manifest_to_json(pkg_get_manifest(p));
		json_object_set_new(o, "file", json_string(file));
		json_object_set_new(o, "signature_checked", json_false());
		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("\n");
		json_decref(o);
	} else {
		print_manifest(file, pkg_get_manifest(p));
		printf("%-22snot checked (use 'fleetcast package verify "
		    "--pubkey')\n", "signature:");
	}
	pkg_close(p);
	return (EXIT_OK);
}

static int
package_verify(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pubkey", required_argument, NULL, OPT_PUBKEY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char		 *cmd = "package verify", *file;
	const struct pkg_manifest *m;
	uint8_t			(*keys)[ED25519_PUB_LEN];
	size_t			  nkeys = 0, n;
	struct pkg		 *p;
	char			  err[1024], hex[2 * SHA256_LEN + 1];
	char			  kid[2 * KEYID_LEN + 1];
	int			  ch, rv = EXIT_USAGE, given = 0;

	keys = xcalloc(PKG_CLI_MAXKEYS, sizeof(*keys));
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (ch == 'h') {
			package_usage(stdout);
			rv = EXIT_OK;
			goto out;
		}
		if (ch != OPT_PUBKEY) {
			cli_getopt_error(cmd, ch, argv);
			goto out;
		}
		given = 1;
		/* --pubkey may be repeated; each file may hold several keys. */
		if (ed25519_read_public(optarg, keys + nkeys,
		    PKG_CLI_MAXKEYS - nkeys, &n, err, sizeof(err)) == -1) {
			cli_usage_error(cmd, "--pubkey: %s", err);
			goto out;
		}
		nkeys += n;
	}
	if (optind != argc - 1) {
		cli_usage_error(cmd, optind == argc ? "needs a package file" :
		    "takes one package file");
		goto out;
	}
	if (!given) {
		cli_usage_error(cmd, "--pubkey: required (the public key file "
		    "of the signer)");
		goto out;
	}
	file = argv[optind];
	if (pkg_open(&p, file, (const uint8_t (*)[ED25519_PUB_LEN])keys, nkeys,
	    0, err, sizeof(err)) == -1) {
		rv = package_open_status(file);
		fprintf(stderr, "fleetcast %s: %s: %s\n", cmd, file, err);
		if (rv == EXIT_FAIL)
			fprintf(stderr, "fleetcast %s: %s: NOT verified\n", cmd,
			    file);
		goto out;
	}
	m = pkg_get_manifest(p);
	hex_encode(m->payload_sha256, SHA256_LEN, hex);
	hex_encode(m->key_id, KEYID_LEN, kid);
	printf("%s: OK: %s %s signed by key %s; payload %llu bytes, "
	    "sha256 %s\n", file, pkg_field_type_name(m->type), m->id, kid,
	    (unsigned long long)m->payload_size, hex);
	pkg_close(p);
	rv = EXIT_OK;
out:
	free(keys);
	return (rv);
}

static int
cmd_package(int argc, char **argv)
{
	if (argc < 2) {
		package_usage(stderr);
		return (EXIT_USAGE);
	}
	/*
	 * add, list, show and remove have entries of their own: they take
	 * no option values, so a --help anywhere on their line is a request
	 * for help, which the command table sees to.
	 *
	 * The others handle --help themselves: scanning the whole line
	 * would take "--args --help", a setup parameter, for a request.
	 */
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		package_usage(stdout);
		return (EXIT_OK);
	}
	if (strcmp(argv[1], "build") == 0)
		return (package_build(argc - 1, argv + 1));
	if (strcmp(argv[1], "inspect") == 0)
		return (package_inspect(argc - 1, argv + 1));
	if (strcmp(argv[1], "verify") == 0)
		return (package_verify(argc - 1, argv + 1));
	cli_usage_error("package", "unknown subcommand '%s'", argv[1]);
	package_usage(stderr);
	return (EXIT_USAGE);
}

/*
 * The subcommands that talk to the server.  It answers package add once
 * it has copied and verified the file, which takes time in proportion to
 * its size: the CLI waits for the answer HTTP_TIMEOUT_MS plus a second per
 * ADD_WAIT_RATE bytes, a rate any disk that holds a state_dir sustains for
 * a copy and two reads.
 */
#define ADD_WAIT_RATE		(16ULL * 1024 * 1024)

/* How long package add waits for the server's answer, milliseconds. */
static int
add_wait_ms(uint64_t size)
{
	uint64_t	ms = HTTP_TIMEOUT_MS + size / ADD_WAIT_RATE * 1000;

	return (ms > INT_MAX ? INT_MAX : (int)ms);
}

/* The server's limit on a package sent in the request (API_MAX_UPLOAD). */
#define PACKAGE_UPLOAD_MAX	(64ULL * 1024 * 1024)


/*
 * What automatic update (P5) does with a package just added: highest goes
 * at once (the run, to follow), high at auto_update_time and at each
 * machine's start.
 */
static void
package_auto_note(json_t *o)
{
	json_t		*ar = json_object_get(o, "automatic_run");
	const char	*urg = show_str(o, "urgency");
	json_int_t	 n;

	if (json_is_object(ar)) {
		n = json_integer_value(json_object_get(ar, "machines"));
		printf("automatic update: run %" JSON_INTEGER_FORMAT " on %"
		    JSON_INTEGER_FORMAT " machine%s (fleetcast run watch %"
		    JSON_INTEGER_FORMAT ")\n", json_integer_value(
		    json_object_get(ar, "id")), n, n == 1 ? "" : "s",
		    json_integer_value(json_object_get(ar, "id")));
	} else if (strcmp(urg, "highest") == 0)
		printf("automatic update: no machine online needs it now; each "
		    "gets it at its next start\n");
	else if (strcmp(urg, "high") == 0)
		printf("automatic update: to the machines that are on at the "
		    "server's auto_update_time, and to each machine at its "
		    "next start\n");
}

static int
package_add(int argc, char **argv)
{
	struct http_res	 res;
	struct stat	 st;
	char		 err[1024], real[PATH_MAX];
	const char	*file = NULL;
	json_t		*body;
	char		*text;
	int		 i, json = 0, upload = 0, sent = 0, fd, rv = EXIT_OK;

	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--upload") == 0)
			upload = 1;
		else if (argv[i][0] == '-')
			return (cli_usage_error("package add", "unknown option "
			    "'%s'", argv[i]));
		else if (file == NULL)
			file = argv[i];
		else
			return (cli_usage_error("package add", "one FILE only"));
	}
	if (file == NULL)
		return (cli_usage_error("package add", "FILE.fcpkg is needed"));
	if (stat(file, &st) == -1 || !S_ISREG(st.st_mode))
		return (cli_usage_error("package add", "%s: %s", file,
		    errno != 0 ? strerror(errno) : "not a regular file"));
	if (!upload && http_is_local() && realpath(file, real) != NULL) {
		/*
		 * Same host: the server copies the file itself (up to its
		 * package size limit) if it is below its package_dirs, and
		 * answers once it has verified it.  Otherwise (403) the file
		 * goes in the request, as far as an upload may be large.
		 */
		body = json_pack("{s:s}", "path", real);
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		rv = http_request("POST", "/v1/packages", "application/json",
		    text, strlen(text), -1, add_wait_ms((uint64_t)st.st_size),
		    &res, err, sizeof(err));
		free(text);
		if (rv == 0 && res.status == 403 &&
		    (uint64_t)st.st_size <= PACKAGE_UPLOAD_MAX) {
			http_res_free(&res);
		} else {
			rv = http_result("package add", rv, err, &res);
			sent = 1;
		}
	}
	if (!sent) {
		if ((fd = open(file, O_RDONLY | O_CLOEXEC)) == -1)
			return (cli_usage_error("package add", "%s: %s", file,
			    strerror(errno)));
		rv = http_request("POST", "/v1/packages",
		    "application/octet-stream", NULL, (size_t)st.st_size, fd,
		    add_wait_ms((uint64_t)st.st_size), &res, err, sizeof(err));
		close(fd);
		rv = http_result("package add", rv, err, &res);
	}
	if (rv != EXIT_OK)
		return (rv);
	if (json)
		show_json(res.json);
	else {
		printf("package %s%s%s added\n", show_str(res.json, "id"),
		    json_is_string(json_object_get(res.json, "version")) ?
		    " " : "", json_is_string(json_object_get(res.json,
		    "version")) ? show_str(res.json, "version") : "");
		package_auto_note(res.json);
	}
	http_res_free(&res);
	return (EXIT_OK);
}

static void
package_rows(json_t *a)
{
	json_t	*o;
	size_t	 i;
	char	 size[32];

	printf("%-24s %-12s %-8s %-8s %10s  %s\n", "ID", "TYPE", "VERSION",
	    "URGENCY", "SIZE", "ADDED");
	json_array_foreach(a, i, o) {
		show_bytes((uint64_t)json_integer_value(json_object_get(o,
		    "size")), size, sizeof(size));
		printf("%-24s %-12s %-8s %-8s %10s  %s\n", show_str(o, "id"),
		    show_str(o, "type"), show_str(o, "version"),
		    show_str(o, "urgency"), size, show_str(o, "added_at"));
	}
}


const struct cli_entry cmd_package_entries[] = {
	{ "package", NULL, cmd_package, "build, inspect, verify packages; add, "
	    "list, show, remove (server)", package_server_help, NULL },
	{ "package", "add", package_add, "FILE.fcpkg [--upload] [--json]", NULL,
	    NULL },
	{ "package", "list", NULL, "[--json]", NULL, &(const struct http_one){
	    "GET", "/v1/packages", NULL, NULL, package_rows } },
	{ "package", "show", NULL, "ID [--json]", NULL, &(const struct
	    http_one){ "GET", "/v1/packages/", "", NULL, NULL } },
	{ "package", "remove", NULL, "ID [--json]", NULL, &(const struct
	    http_one){ "DELETE", "/v1/packages/", "", "removed", NULL } },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
