/*
 * Fuzz target for the CSR check that runs before authentication
 * (ca_csr_fingerprint in server/ca.c): an ENROLL carries a PEM CSR from
 * anyone who can reach the control port.  The input is the PEM text, or
 * DER that the target wraps in PEM (fuzz_pem).  A
 * CSR that passes must give a fingerprint of 64 lowercase hex digits, the
 * same twice; one that fails must say why.
 */
#include "server.h"

#define FUZZ_NAME	"csr"
#define FUZZ_MAX_LEN	(1 << 16)
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*pem, hex[2 * SHA256_LEN + 1], hex2[sizeof(hex)], err[1024];
	size_t	 i;

	pem = fuzz_pem("CERTIFICATE REQUEST", data, size);
	err[0] = '\0';
	if (ca_csr_fingerprint(pem, hex, err, sizeof(err)) == 0) {
		for (i = 0; i < 2 * SHA256_LEN; i++)
			if (!((hex[i] >= '0' && hex[i] <= '9') ||
			    (hex[i] >= 'a' && hex[i] <= 'f')))
				fuzz_die("fingerprint '%.64s' is not hex", hex);
		if (hex[2 * SHA256_LEN] != '\0' ||
		    ca_csr_fingerprint(pem, hex2, err, sizeof(err)) == -1 ||
		    strcmp(hex, hex2) != 0)
			fuzz_die("fingerprint not stable");
	} else if (err[0] == '\0')
		fuzz_die("a CSR was refused without a message");
	free(pem);
	return (0);
}
