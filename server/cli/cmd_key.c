/*
 * `fleetcast key`: make the admin's Ed25519 signing key pair (the private
 * half stays offline and signs packages; the public half goes into every
 * trusted_keys file) and PSK files for the standalone transport.  Existing
 * key files are never replaced without --force: losing a signing key
 * would orphan every package signed with it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cli.h"
#include "crypto.h"
#include "psk.h"
#include "xmalloc.h"

static void
key_usage(FILE *f)
{
	fprintf(f,
	    "usage: fleetcast key generate --out PREFIX [--force]\n"
	    "       fleetcast key generate-psk --out FILE [--force]\n"
	    "\n"
	    "generate      write an Ed25519 signing key pair: PREFIX.key "
	    "(private,\n"
	    "              PEM, mode 0600; keep it offline) and PREFIX.pub "
	    "(public, PEM,\n"
	    "              for trusted_keys files and 'package verify "
	    "--pubkey')\n"
	    "generate-psk  write 32 random bytes as 64 hex digits (mode 0600) "
	    "for\n"
	    "              'fleetcast send/receive --psk FILE'\n"
	    "\n"
	    "  --out PATH   where to write (required)\n"
	    "  --force      replace existing files\n");
}

/* Parse --out and --force; returns -1 after printing a usage error. */
static int
key_args(const char *cmd, int argc, char **argv, const char **out, int *force)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "force", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	int	ch;

	*out = NULL;
	*force = 0;
	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":o:f", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			if (*out != NULL) {
				cli_usage_error(cmd, "--out: given twice");
				return (-1);
			}
			if (*optarg == '\0') {
				cli_usage_error(cmd, "--out: empty path");
				return (-1);
			}
			*out = optarg;
			break;
		case 'f':
			*force = 1;
			break;
		default:
			cli_getopt_error(cmd, ch, argv);
			return (-1);
		}
	}
	if (optind < argc) {
		cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
		return (-1);
	}
	if (*out == NULL) {
		cli_usage_error(cmd, "--out: required");
		return (-1);
	}
	return (0);
}

static int
key_generate(int argc, char **argv)
{
	const char	*cmd = "key generate", *prefix;
	uint8_t		 pk[ED25519_PUB_LEN], sk[ED25519_PRIV_LEN];
	uint8_t		 id[KEYID_LEN];
	char		*kpath, *ppath, err[512], hex[2 * KEYID_LEN + 1];
	struct stat	 st;
	int		 force, rv = EXIT_FAIL;

	if (key_args(cmd, argc, argv, &prefix, &force) == -1)
		return (EXIT_USAGE);
	xasprintf(&kpath, "%s.key", prefix);
	xasprintf(&ppath, "%s.pub", prefix);
	if (!force && lstat(kpath, &st) == 0) {
		cli_fail(cmd, "%s: exists; use --force to replace it", kpath);
		goto out;
	}
	if (!force && lstat(ppath, &st) == 0) {
		cli_fail(cmd, "%s: exists; use --force to replace it", ppath);
		goto out;
	}
	if (ed25519_generate(pk, sk) == -1) {
		cli_fail(cmd, "generating the key failed");
		goto out;
	}
	if (ed25519_write_private(kpath, sk, err, sizeof(err)) == -1) {
		cli_fail(cmd, "%s", err);
		goto out;
	}
	if (ed25519_write_public(ppath, pk, err, sizeof(err)) == -1) {
		/* Half a key pair is useless: take the private half back. */
		unlink(kpath);
		cli_fail(cmd, "%s", err);
		goto out;
	}
	ed25519_keyid(pk, id);
	hex_encode(id, sizeof(id), hex);
	printf("wrote %s (private, keep it offline) and %s (public)\n"
	    "key id %s\n", kpath, ppath, hex);
	rv = EXIT_OK;
out:
	explicit_bzero(sk, sizeof(sk));
	free(kpath);
	free(ppath);
	return (rv);
}

static int
key_generate_psk(int argc, char **argv)
{
	const char	*cmd = "key generate-psk", *path;
	char		 err[512];
	int		 force;

	if (key_args(cmd, argc, argv, &path, &force) == -1)
		return (EXIT_USAGE);
	if (psk_generate(path, force, err, sizeof(err)) == -1)
		return (cli_fail(cmd, "%s", err));
	printf("wrote %s (32-byte PSK, mode 0600)\n", path);
	return (EXIT_OK);
}

static int
cmd_key(int argc, char **argv)
{
	if (argc < 2) {
		key_usage(stderr);
		return (EXIT_USAGE);
	}
	if (cli_wants_help(argc, argv)) {
		key_usage(stdout);
		return (EXIT_OK);
	}
	if (strcmp(argv[1], "generate") == 0)
		return (key_generate(argc - 1, argv + 1));
	if (strcmp(argv[1], "generate-psk") == 0)
		return (key_generate_psk(argc - 1, argv + 1));
	cli_usage_error("key", "unknown subcommand '%s'", argv[1]);
	key_usage(stderr);
	return (EXIT_USAGE);
}

const struct cli_entry cmd_key_entries[] = {
	{ "key", NULL, cmd_key,
	    "generate signing keys and transport PSKs", NULL, NULL },
	{ NULL, NULL, NULL, NULL, NULL, NULL }
};
