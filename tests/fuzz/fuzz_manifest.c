/*
 * Fuzz target for the package manifest codec (common/pkg_manifest.c), the
 * bytes an agent gets in ASSIGN and the server in an upload.  The input is
 * one encoded manifest.  Whatever decodes must encode back to the same
 * bytes (one manifest, one encoding) and give JSON; then the raw bytes go
 * through pkg_manifest_verify three ways: as they are (their key id is
 * most likely unknown), with the fixed signing key's id put in the last
 * field and signed by it (must verify exactly when the bytes decode), and
 * with that signature altered (must never verify).
 */
#include <jansson.h>

#include "pkg.h"
#include "wire.h"

#define FUZZ_NAME	"manifest"
#define FUZZ_MAX_LEN	PKG_MANIFEST_MAX
#include "fuzz.h"

static void
check_verify(const uint8_t *data, size_t size, int decodes)
{
	static const char	 domain[] = PKG_SIG_DOMAIN;
	static uint8_t		 priv[ED25519_PRIV_LEN], pub[1][ED25519_PUB_LEN];
	static int		 init;
	struct pkg_manifest	 m;
	uint8_t			 sig[ED25519_SIG_LEN], *buf, *msg;
	char			 err[512];
	int			 rv;

	if (!init) {
		fuzz_signing_key(priv, pub[0]);
		init = 1;
	}
	memset(sig, 0, sizeof(sig));
	if (pkg_manifest_verify(&m, data, size, sig, pub, 1, err,
	    sizeof(err)) == 0)
		fuzz_die("a zero signature verified");
	if (size < KEYID_LEN)
		return;
	/* The key id is the last field: make it the trusted key's. */
	buf = malloc(size);
	memcpy(buf, data, size);
	ed25519_keyid(pub[0], buf + size - KEYID_LEN);
	msg = malloc(sizeof(domain) + size);
	memcpy(msg, domain, sizeof(domain));
	memcpy(msg + sizeof(domain), buf, size);
	if (ed25519_sign(priv, msg, sizeof(domain) + size, sig) == -1)
		fuzz_die("ed25519_sign failed");
	free(msg);
	rv = pkg_manifest_verify(&m, buf, size, sig, pub, 1, err, sizeof(err));
	if (rv == 0)
		pkg_manifest_free(&m);
	/* The key id takes no part in decoding, so the outcome must match. */
	if ((rv == 0) != decodes)
		fuzz_die("signed manifest: verify %d, decode %d (%s)", rv,
		    decodes, rv == 0 ? "" : err);
	sig[size % ED25519_SIG_LEN] ^= 0x01;
	if (pkg_manifest_verify(&m, buf, size, sig, pub, 1, err,
	    sizeof(err)) == 0)
		fuzz_die("an altered signature verified");
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pkg_manifest	 m;
	struct wire_w		 w;
	json_t			*j;
	char			 err[512];
	int			 decodes;

	err[0] = '\0';
	decodes = pkg_manifest_decode(&m, data, size, err, sizeof(err)) == 0;
	if (decodes) {
		wire_w_grow(&w, 256);
		pkg_manifest_encode(&m, &w);
		if (w.len != size || memcmp(w.buf, data, size) != 0)
			fuzz_die("decoded manifest does not re-encode to the "
			    "same %zu bytes (%zu)", size, w.len);
		wire_w_free(&w);
		if ((j = pkg_manifest_to_json(&m)) == NULL)
			fuzz_die("decoded manifest has no JSON form");
		json_decref(j);
		pkg_manifest_free(&m);
	} else if (err[0] == '\0')
		fuzz_die("decode failed without a message");
	check_verify(data, size, decodes);
	return (0);
}
