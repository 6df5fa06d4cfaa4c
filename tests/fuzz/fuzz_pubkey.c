/*
 * Fuzz target for trusted-key files (ed25519_read_public in
 * common/crypto.c): trusted_keys names a file of PEM public keys that an
 * admin writes or copies in.  The input is the file, or DER that the
 * target wraps in PEM (fuzz_pem).  The count returned
 * must stay within the caller's array, and every key read must be written
 * back by ed25519_write_public to a file that reads as that key.
 */
#include "crypto.h"

#define FUZZ_NAME	"pubkey"
#define FUZZ_MAX_LEN	(1 << 16)
#include "fuzz.h"

#define FUZZ_KEYS	4

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t	keys[FUZZ_KEYS][ED25519_PUB_LEN], again[1][ED25519_PUB_LEN];
	char	err[1024], path[sizeof(fuzz_scratch) + 16], *pem;
	const char *path1;
	size_t	n, i, m;

	pem = fuzz_pem("PUBLIC KEY", data, size);
	path1 = fuzz_file("keys.pem", pem, strlen(pem));
	free(pem);
	err[0] = '\0';
	if (ed25519_read_public(path1, keys, FUZZ_KEYS, &n, err,
	    sizeof(err)) == -1) {
		if (err[0] == '\0')
			fuzz_die("a key file was refused without a message");
		return (0);
	}
	if (n > FUZZ_KEYS)
		fuzz_die("%zu keys read into room for %d", n, FUZZ_KEYS);
	snprintf(path, sizeof(path), "%s/one.pem", fuzz_dir());
	for (i = 0; i < n; i++) {
		if (ed25519_write_public(path, keys[i], err,
		    sizeof(err)) == -1 ||
		    ed25519_read_public(path, again, 1, &m, err,
		    sizeof(err)) == -1 || m != 1 ||
		    memcmp(again[0], keys[i], ED25519_PUB_LEN) != 0)
			fuzz_die("key %zu does not survive a write and a "
			    "read: %s", i + 1, err);
	}
	return (0);
}
