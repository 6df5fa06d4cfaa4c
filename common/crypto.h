/*
 * Cryptography, through OpenSSL's EVP interface only: SHA-256 (streaming),
 * Ed25519 signatures for package manifests, AES-256-GCM for multicast
 * packets, and the system's random generator.  Functions return 0 on
 * success and -1 on failure; a failed verification is -1, never a crash.
 */
#ifndef FC_CRYPTO_H
#define FC_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SHA256_LEN		32
#define ED25519_PUB_LEN		32
#define ED25519_PRIV_LEN	32
#define ED25519_SIG_LEN		64
#define AEAD_KEY_LEN		32
#define AEAD_NONCE_LEN		12
#define AEAD_TAG_LEN		16
#define KEYID_LEN		8	/* first bytes of SHA-256(public key) */

struct sha256;
struct aead;

int	 crypto_random(void *, size_t);

struct sha256 *sha256_new(void);
void	 sha256_update(struct sha256 *, const void *, size_t);
void	 sha256_final(struct sha256 *, uint8_t [SHA256_LEN]);
void	 sha256_free(struct sha256 *);
void	 sha256(const void *, size_t, uint8_t [SHA256_LEN]);
int	 sha256_fd(int, off_t, uint64_t, uint8_t [SHA256_LEN]);

int	 ed25519_generate(uint8_t [ED25519_PUB_LEN], uint8_t [ED25519_PRIV_LEN]);
int	 ed25519_public(const uint8_t [ED25519_PRIV_LEN],
	    uint8_t [ED25519_PUB_LEN]);
int	 ed25519_sign(const uint8_t [ED25519_PRIV_LEN], const void *, size_t,
	    uint8_t [ED25519_SIG_LEN]);
int	 ed25519_verify(const uint8_t [ED25519_PUB_LEN], const void *, size_t,
	    const uint8_t [ED25519_SIG_LEN]);
void	 ed25519_keyid(const uint8_t [ED25519_PUB_LEN], uint8_t [KEYID_LEN]);

/*
 * Key files.  A private key is PKCS#8 PEM written 0600 (temp + rename); a
 * public key file holds one or more PEM public keys.  Errors are written
 * into the caller's buffer as a sentence naming the file.
 */
int	 ed25519_write_private(const char *, const uint8_t [ED25519_PRIV_LEN],
	    char *, size_t);
int	 ed25519_write_public(const char *, const uint8_t [ED25519_PUB_LEN],
	    char *, size_t);
int	 ed25519_read_private(const char *, uint8_t [ED25519_PRIV_LEN],
	    char *, size_t);
int	 ed25519_read_public(const char *, uint8_t (*)[ED25519_PUB_LEN],
	    size_t, size_t *, char *, size_t);

/*
 * AES-256-GCM with the key schedule done once per session: seal and open
 * then only set the nonce.  out may equal in.  The tag is separate so that
 * callers choose where it sits on the wire.
 */
struct aead *aead_new(const uint8_t [AEAD_KEY_LEN]);
void	 aead_free(struct aead *);
int	 aead_seal(struct aead *, const uint8_t [AEAD_NONCE_LEN],
	    const void *, size_t, const void *, size_t, void *,
	    uint8_t [AEAD_TAG_LEN]);
int	 aead_open(struct aead *, const uint8_t [AEAD_NONCE_LEN],
	    const void *, size_t, const void *, size_t, void *,
	    const uint8_t [AEAD_TAG_LEN]);

/* Hex helpers for key ids, hashes and PSK files. */
void	 hex_encode(const void *, size_t, char *);
int	 hex_decode(const char *, void *, size_t);

#endif
