/*
 * Fuzz target for reading packages (common/pkg_read.c): pkg_open on a file
 * and pkg_extract into a scratch directory, removed after each input.  The
 * first byte picks how the rest is used.  Even: the rest is a whole .fcpkg,
 * opened without and with the signature check (the fixed signing key is
 * trusted) and, when it verifies, extracted.  Odd: the rest is
 *
 *	u8 compression (bit 0: zstd), u16 entries, u32 unpacked size, payload
 *
 * which the target wraps in a manifest declaring those, signed with the
 * fixed key, so that every input reaches the tar reader and the entry
 * checks behind the signature.  Such a file must open; extraction may
 * fail but must leave nothing behind and say why (fuzz_check_err), and
 * what it extracts must stay inside its directory.  Seeds: mkseeds.c,
 * and null_reason, a failure libarchive gave no reason for.
 */
#include <limits.h>

#include "pkg.h"
#include "wire.h"
#include "xmalloc.h"

#define FUZZ_NAME	"pkg"
#define FUZZ_MAX_LEN	(1 << 20)
#include "fuzz.h"

/* Extraction writes at most this much per input. */
#define FUZZ_UNPACKED_MAX	(1 << 20)

static uint8_t	priv[ED25519_PRIV_LEN], pub[1][ED25519_PUB_LEN];

/* Nothing but the input and the output directory in the scratch one. */
static void
check_scratch(void)
{
	DIR		*d;
	struct dirent	*de;

	if ((d = opendir(fuzz_dir())) == NULL)
		fuzz_die("%s: %s", fuzz_dir(), strerror(errno));
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0 &&
		    strcmp(de->d_name, "in.fcpkg") != 0 &&
		    strcmp(de->d_name, "out") != 0)
			fuzz_die("extraction wrote %s outside its directory",
			    de->d_name);
	closedir(d);
}

/*
 * Open, and extract when it verifies; the scratch tree is removed after.
 * data and size are the input, for fuzz_check_err.
 */
static int
open_extract(const char *path, int must_open, const uint8_t *data,
    size_t size)
{
	struct pkg	*p;
	char		 err[1024], out[sizeof(fuzz_scratch) + 16],
			 part[sizeof(out) + 32];
	struct stat	 st;
	int		 rv;

	err[0] = '\0';
	if (pkg_open(&p, path, NULL, 0, PKG_OPEN_NOVERIFY, err,
	    sizeof(err)) == 0)
		pkg_close(p);
	else
		fuzz_check_err("pkg_open", err, data, size);
	err[0] = '\0';
	if (pkg_open(&p, path, pub, 1, 0, err, sizeof(err)) == -1) {
		if (must_open)
			fuzz_die("a package signed by the trusted key does not "
			    "open: %s", err);
		fuzz_check_err("pkg_open", err, data, size);
		return (-1);
	}
	snprintf(out, sizeof(out), "%s/out", fuzz_dir());
	snprintf(part, sizeof(part), "%s.part.%ld", out, (long)getpid());
	err[0] = '\0';
	rv = pkg_extract(p, out, err, sizeof(err));
	pkg_close(p);
	if (rv == -1)
		fuzz_check_err("pkg_extract", err, data, size);
	if (rv == -1 && (lstat(out, &st) == 0 || lstat(part, &st) == 0))
		fuzz_die("a failed extraction left files behind: %s", err);
	check_scratch();
	fuzz_rm(out);
	return (rv);
}

/* Wrap a payload in a signed package, as pkg_build would have. */
static void
crafted(const uint8_t *data, size_t size)
{
	static const char	 domain[] = PKG_SIG_DOMAIN;
	struct pkg_manifest	 m;
	struct wire_w		 man, file;
	uint8_t			 sig[ED25519_SIG_LEN], *msg;
	const uint8_t		*payload = data + 7;

	if (size < 7)
		return;
	pkg_manifest_init(&m);
	strcpy(m.id, "fuzz");
	m.type = PKG_APPLICATION;
	m.urgency = PKG_URGENCY_NORMAL;
	m.exec = xstrdup("setup.sh");
	m.compression = (data[0] & 1) ? PKG_COMPRESS_ZSTD : PKG_COMPRESS_NONE;
	m.entries = wire_load16(data + 1);
	m.unpacked_size = wire_load32(data + 3) % (FUZZ_UNPACKED_MAX + 1);
	m.payload_size = size - 7;
	sha256(payload, size - 7, m.payload_sha256);
	ed25519_keyid(pub[0], m.key_id);
	wire_w_grow(&man, 256);
	pkg_manifest_encode(&m, &man);
	pkg_manifest_free(&m);
	msg = xmalloc(sizeof(domain) + man.len);
	memcpy(msg, domain, sizeof(domain));
	memcpy(msg + sizeof(domain), man.buf, man.len);
	if (ed25519_sign(priv, msg, sizeof(domain) + man.len, sig) == -1)
		fuzz_die("ed25519_sign failed");
	free(msg);
	wire_w_grow(&file, PKG_HEADER_LEN + man.len + sizeof(sig) + size);
	wire_put_bytes(&file, PKG_MAGIC, PKG_MAGIC_LEN);
	wire_put_u16(&file, PKG_FORMAT_VERSION);
	wire_put_u16(&file, 0);
	wire_put_u32(&file, (uint32_t)man.len);
	wire_put_bytes(&file, man.buf, man.len);
	wire_put_bytes(&file, sig, sizeof(sig));
	wire_put_bytes(&file, payload, size - 7);
	(void)open_extract(fuzz_file("in.fcpkg", file.buf, file.len), 1, data,
	    size);
	wire_w_free(&man);
	wire_w_free(&file);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int	init;

	if (!init) {
		fuzz_signing_key(priv, pub[0]);
		init = 1;
	}
	if (size < 1)
		return (0);
	if (data[0] & 1)
		crafted(data + 1, size - 1);
	else
		(void)open_extract(fuzz_file("in.fcpkg", data + 1, size - 1),
		    0, data, size);
	return (0);
}
