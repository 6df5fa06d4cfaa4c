/*
 * Verifying a package file as its bytes arrive, in file order, against a
 * manifest and signature the caller has already verified (the agent: the
 * ones the server assigned, checked with the trusted keys): the header,
 * manifest and signature must be exactly those, the payload must hash to
 * the signed payload_sha256.  Every byte of the file is thus checked in
 * the one pass that receives it, and pkg_open can skip its own
 * (PKG_OPEN_PAYLOAD_VERIFIED).
 */
#ifndef FC_PKG_STREAM_H
#define FC_PKG_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

struct pkg_stream;

struct pkg_stream *pkg_stream_new(const uint8_t *, size_t,
		    const uint8_t [ED25519_SIG_LEN], const uint8_t [SHA256_LEN],
		    uint64_t);
void		 pkg_stream_update(struct pkg_stream *, uint64_t,
		    const uint8_t *, size_t);
int		 pkg_stream_final(struct pkg_stream *, char *, size_t);
void		 pkg_stream_free(struct pkg_stream *);

#endif
