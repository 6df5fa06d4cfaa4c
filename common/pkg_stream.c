/*
 * A package checked while it is received (pkg_stream.h): the first
 * 16 + L + 64 bytes are compared with the header (package-format.md: magic,
 * version, reserved 0, manifest length), the manifest and the signature
 * the caller verified, the rest is hashed and compared with the signed
 * payload_sha256 at the end.  Bytes must come in order, each once: a gap
 * or an overlap is refused rather than guessed around.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>

#include "crypto.h"
#include "pkg.h"
#include "pkg_stream.h"
#include "wire.h"
#include "xmalloc.h"

struct pkg_stream {
	uint8_t		*prefix;	/* header || manifest || signature */
	size_t		 prefix_len;	/* = the payload's offset */
	uint64_t	 payload_size;
	uint8_t		 payload_sha256[SHA256_LEN];
	struct sha256	*sha;
	uint64_t	 seen;		/* bytes so far */
	uint64_t	 bad_at;	/* first byte found wrong */
	int		 bad;		/* 1: differs, 2: out of order */
};

/*
 * The manifest (raw, as signed, length mlen) and its signature, with the
 * payload digest and size of the decoded manifest: the caller has
 * verified both, this only compares bytes with them.
 */
struct pkg_stream *
pkg_stream_new(const uint8_t *raw, size_t mlen,
    const uint8_t sig[ED25519_SIG_LEN], const uint8_t sha[SHA256_LEN],
    uint64_t payload_size)
{
	struct pkg_stream	*s;

	if (mlen == 0 || mlen > PKG_MANIFEST_MAX)
		return (NULL);
	s = xcalloc(1, sizeof(*s));
	s->prefix_len = PKG_HEADER_LEN + mlen + ED25519_SIG_LEN;
	s->prefix = xmalloc(s->prefix_len);
	memcpy(s->prefix, PKG_MAGIC, PKG_MAGIC_LEN);
	wire_store16(s->prefix + 8, PKG_FORMAT_VERSION);
	wire_store16(s->prefix + 10, 0);
	wire_store32(s->prefix + 12, (uint32_t)mlen);
	memcpy(s->prefix + PKG_HEADER_LEN, raw, mlen);
	memcpy(s->prefix + PKG_HEADER_LEN + mlen, sig, ED25519_SIG_LEN);
	memcpy(s->payload_sha256, sha, SHA256_LEN);
	s->payload_size = payload_size;
	s->sha = sha256_new();
	return (s);
}

/* Bytes [off, off + len) of the file. */
void
pkg_stream_update(struct pkg_stream *s, uint64_t off, const uint8_t *buf,
    size_t len)
{
	size_t	n, i;

	if (s->bad == 2)
		return;
	if (off != s->seen) {
		s->bad = 2;
		s->bad_at = off;
		return;
	}
	s->seen += len;
	if (off < s->prefix_len) {
		n = s->prefix_len - off < len ? (size_t)(s->prefix_len - off) :
		    len;
		if (!s->bad && memcmp(buf, s->prefix + off, n) != 0) {
			for (i = 0; i < n && buf[i] == s->prefix[off + i]; i++)
				;
			s->bad = 1;
			s->bad_at = off + i;
		}
		buf += n;
		len -= n;
	}
	/* Past the declared end: counted (refused at the end), not hashed. */
	if (len > 0 && s->seen <= s->prefix_len + s->payload_size)
		sha256_update(s->sha, buf, len);
}

/* Every byte came and is right: 0; else -1 and what is wrong. */
int
pkg_stream_final(struct pkg_stream *s, char *err, size_t errlen)
{
	uint8_t	md[SHA256_LEN];
	char	hex[2 * SHA256_LEN + 1];

	if (s->bad == 2) {
		snprintf(err, errlen, "bytes from offset %" PRIu64 " came "
		    "before those from %" PRIu64 ": out of order", s->bad_at,
		    s->seen);
		return (-1);
	}
	if (s->bad) {
		snprintf(err, errlen, "%s: byte %" PRIu64 " is not the one "
		    "of the verified manifest and signature",
		    s->bad_at < PKG_HEADER_LEN ? "header" : s->bad_at <
		    s->prefix_len - ED25519_SIG_LEN ? "manifest" : "signature",
		    s->bad_at);
		return (-1);
	}
	if (s->seen != s->prefix_len + s->payload_size) {
		snprintf(err, errlen, "size: %" PRIu64 " bytes, the signed "
		    "manifest makes the package %" PRIu64, s->seen,
		    s->prefix_len + s->payload_size);
		return (-1);
	}
	/* Once: the context is freed with the stream. */
	sha256_final(s->sha, md);
	if (memcmp(md, s->payload_sha256, SHA256_LEN) != 0) {
		hex_encode(md, SHA256_LEN, hex);
		snprintf(err, errlen, "payload: SHA-256 %s does not match the "
		    "signed manifest (the payload was altered)", hex);
		return (-1);
	}
	return (0);
}

void
pkg_stream_free(struct pkg_stream *s)
{
	if (s == NULL)
		return;
	sha256_free(s->sha);
	free(s->prefix);
	free(s);
}
