/*
 * Enrollment tokens (etoken.h): made, written and read here only, so that
 * the server that mints them, the agent that pins with them and the
 * control channel that checks them agree on one format.  Reading is
 * strict and says which part is wrong; a token of the old format (64 hex
 * digits, no id) is refused with what to do instead.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "crypto.h"
#include "etoken.h"

/* A fresh token with a random id and secret; fp may be NULL. */
int
etoken_new(struct etoken *t, const char *fp)
{
	uint8_t	id[ETOKEN_ID_LEN];

	memset(t, 0, sizeof(*t));
	if (crypto_random(id, sizeof(id)) == -1 ||
	    crypto_random(t->secret, sizeof(t->secret)) == -1)
		return (-1);
	hex_encode(id, sizeof(id), t->id);
	if (fp != NULL)
		snprintf(t->fp, sizeof(t->fp), "%s", fp);
	return (0);
}

/* Lower-case hex of exactly len digits, or -1. */
static int
etoken_hex(const char *s, size_t len, char *out)
{
	size_t	i;

	for (i = 0; i < len; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return (-1);
		out[i] = (char)tolower((unsigned char)s[i]);
	}
	out[len] = '\0';
	return (0);
}

/*
 * A CA fingerprint as an admin writes it: 64 hex digits, either case,
 * optionally after "sha256:"; fp (65 bytes) gets it in lower case.
 */
int
etoken_parse_fp(const char *s, char *fp, char *err, size_t errlen)
{
	if (strncasecmp(s, "sha256:", 7) == 0)
		s += 7;
	if (strlen(s) != ETOKEN_FP_HEX || etoken_hex(s, ETOKEN_FP_HEX,
	    fp) == -1) {
		snprintf(err, errlen, "'%.80s' is not a server fingerprint: "
		    "64 hex digits (the SHA-256 of the server's CA "
		    "certificate), as 'fleetcast server fingerprint' prints",
		    s);
		return (-1);
	}
	return (0);
}

/* ID.SECRET or ID.SECRET.FP, hex, either case. */
int
etoken_parse(const char *s, struct etoken *t, char *err, size_t errlen)
{
	const char	*dot1, *dot2;
	char		 hex[2 * ETOKEN_SECRET_LEN + 1];
	size_t		 len = strlen(s);

	memset(t, 0, sizeof(*t));
	dot1 = strchr(s, '.');
	if (dot1 == NULL) {
		snprintf(err, errlen, "not a token of the form ID.SECRET.FP%s; "
		    "make one with 'fleetcast machine token'",
		    len == 64 ? " (a token of the old format, from before "
		    "tokens had an id and an expiry?)" : "");
		return (-1);
	}
	dot2 = strchr(dot1 + 1, '.');
	if (dot1 - s != 2 * ETOKEN_ID_LEN ||
	    etoken_hex(s, 2 * ETOKEN_ID_LEN, t->id) == -1) {
		snprintf(err, errlen, "its id (before the first '.') must be "
		    "%d hex digits", 2 * ETOKEN_ID_LEN);
		return (-1);
	}
	if ((dot2 != NULL ? (size_t)(dot2 - dot1 - 1) :
	    strlen(dot1 + 1)) != 2 * ETOKEN_SECRET_LEN ||
	    etoken_hex(dot1 + 1, 2 * ETOKEN_SECRET_LEN, hex) == -1 ||
	    hex_decode(hex, t->secret, sizeof(t->secret)) == -1) {
		OPENSSL_cleanse(hex, sizeof(hex));
		snprintf(err, errlen, "its secret (after the id) must be %d "
		    "hex digits", 2 * ETOKEN_SECRET_LEN);
		return (-1);
	}
	OPENSSL_cleanse(hex, sizeof(hex));
	if (dot2 != NULL && etoken_parse_fp(dot2 + 1, t->fp, err,
	    errlen) == -1) {
		snprintf(err, errlen, "its last part must be the server's "
		    "fingerprint, 64 hex digits");
		return (-1);
	}
	return (0);
}

/* ID.SECRET (what goes on the wire) or ID.SECRET.FP (what an admin gets). */
void
etoken_format(const struct etoken *t, int with_fp, char *out, size_t outlen)
{
	char	hex[2 * ETOKEN_SECRET_LEN + 1];

	hex_encode(t->secret, sizeof(t->secret), hex);
	if (with_fp && t->fp[0] != '\0')
		snprintf(out, outlen, "%s.%s.%s", t->id, hex, t->fp);
	else
		snprintf(out, outlen, "%s.%s", t->id, hex);
	OPENSSL_cleanse(hex, sizeof(hex));
}

/* What the server stores: the SHA-256 of the secret, never the secret. */
void
etoken_hash(const struct etoken *t, uint8_t out[32])
{
	sha256(t->secret, sizeof(t->secret), out);
}

void
etoken_clear(struct etoken *t)
{
	OPENSSL_cleanse(t, sizeof(*t));
}
