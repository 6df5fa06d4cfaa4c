/*
 * OpenSSL EVP wrappers.  Raw 32-byte keys are the in-memory form; PEM is
 * only the on-disk form so that the standard openssl tools can read the
 * admin's keys too.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "crypto.h"
#include "fsutil.h"
#include "log.h"
#include "xmalloc.h"

struct sha256 {
	EVP_MD_CTX	*ctx;
};

struct aead {
	EVP_CIPHER_CTX	*enc;
	EVP_CIPHER_CTX	*dec;
};

int
crypto_random(void *buf, size_t len)
{
	while (len > 0) {
		int n = len > 1 << 20 ? 1 << 20 : (int)len;

		if (RAND_bytes(buf, n) != 1)
			return (-1);
		buf = (uint8_t *)buf + n;
		len -= n;
	}
	return (0);
}

struct sha256 *
sha256_new(void)
{
	struct sha256	*h;

	h = xcalloc(1, sizeof(*h));
	if ((h->ctx = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
		fatalx("sha256_new: EVP_DigestInit_ex failed");
	return (h);
}

void
sha256_update(struct sha256 *h, const void *data, size_t len)
{
	if (len > 0 && EVP_DigestUpdate(h->ctx, data, len) != 1)
		fatalx("sha256_update: EVP_DigestUpdate failed");
}

void
sha256_final(struct sha256 *h, uint8_t out[SHA256_LEN])
{
	unsigned int	n = SHA256_LEN;

	if (EVP_DigestFinal_ex(h->ctx, out, &n) != 1 || n != SHA256_LEN)
		fatalx("sha256_final: EVP_DigestFinal_ex failed");
}

void
sha256_free(struct sha256 *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	free(h);
}

void
sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	struct sha256	*h;

	h = sha256_new();
	sha256_update(h, data, len);
	sha256_final(h, out);
	sha256_free(h);
}

/* Hash len bytes of fd from off, in bounded chunks. */
int
sha256_fd(int fd, off_t off, uint64_t len, uint8_t out[SHA256_LEN])
{
	struct sha256	*h;
	uint8_t		*buf;
	size_t		 bufsz = 1 << 20, want;
	ssize_t		 n;

	buf = xmalloc(bufsz);
	h = sha256_new();
	while (len > 0) {
		want = len < bufsz ? (size_t)len : bufsz;
		n = pread(fd, buf, want, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			sha256_free(h);
			free(buf);
			return (-1);
		}
		sha256_update(h, buf, n);
		off += n;
		len -= n;
	}
	sha256_final(h, out);
	sha256_free(h);
	free(buf);
	return (0);
}

static EVP_PKEY *
ed25519_pkey_private(const uint8_t sk[ED25519_PRIV_LEN])
{
	return (EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, sk,
	    ED25519_PRIV_LEN));
}

static EVP_PKEY *
ed25519_pkey_public(const uint8_t pk[ED25519_PUB_LEN])
{
	return (EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk,
	    ED25519_PUB_LEN));
}

int
ed25519_generate(uint8_t pk[ED25519_PUB_LEN], uint8_t sk[ED25519_PRIV_LEN])
{
	if (crypto_random(sk, ED25519_PRIV_LEN) == -1)
		return (-1);
	return (ed25519_public(sk, pk));
}

int
ed25519_public(const uint8_t sk[ED25519_PRIV_LEN], uint8_t pk[ED25519_PUB_LEN])
{
	EVP_PKEY	*k;
	size_t		 n = ED25519_PUB_LEN;
	int		 rv = -1;

	if ((k = ed25519_pkey_private(sk)) == NULL)
		return (-1);
	if (EVP_PKEY_get_raw_public_key(k, pk, &n) == 1 &&
	    n == ED25519_PUB_LEN)
		rv = 0;
	EVP_PKEY_free(k);
	return (rv);
}

int
ed25519_sign(const uint8_t sk[ED25519_PRIV_LEN], const void *msg, size_t len,
    uint8_t sig[ED25519_SIG_LEN])
{
	EVP_PKEY	*k;
	EVP_MD_CTX	*ctx;
	size_t		 n = ED25519_SIG_LEN;
	int		 rv = -1;

	if ((k = ed25519_pkey_private(sk)) == NULL)
		return (-1);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("ed25519_sign: out of memory");
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(ctx, sig, &n, msg, len) == 1 &&
	    n == ED25519_SIG_LEN)
		rv = 0;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	return (rv);
}

int
ed25519_verify(const uint8_t pk[ED25519_PUB_LEN], const void *msg, size_t len,
    const uint8_t sig[ED25519_SIG_LEN])
{
	EVP_PKEY	*k;
	EVP_MD_CTX	*ctx;
	int		 rv = -1;

	if ((k = ed25519_pkey_public(pk)) == NULL)
		return (-1);
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		fatalx("ed25519_verify: out of memory");
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestVerify(ctx, sig, ED25519_SIG_LEN, msg, len) == 1)
		rv = 0;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(k);
	ERR_clear_error();
	return (rv);
}

void
ed25519_keyid(const uint8_t pk[ED25519_PUB_LEN], uint8_t id[KEYID_LEN])
{
	uint8_t	h[SHA256_LEN];

	sha256(pk, ED25519_PUB_LEN, h);
	memcpy(id, h, KEYID_LEN);
}

/* Write a PEM key through a temporary file, then rename it into place. */
static int
ed25519_write_pem(const char *path, EVP_PKEY *k, int private, char *err,
    size_t errlen)
{
	BIO	*b;
	char	*data;
	long	 len;
	int	 ok, rv;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		fatalx("ed25519_write_pem: out of memory");
	if (private)
		ok = PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	else
		ok = PEM_write_bio_PUBKEY(b, k);
	if (!ok || (len = BIO_get_mem_data(b, &data)) <= 0) {
		snprintf(err, errlen, "%s: encoding the key failed", path);
		BIO_free(b);
		return (-1);
	}
	rv = atomic_write_file(path, data, (size_t)len, private ? 0600 : 0644,
	    err, errlen);
	BIO_free(b);
	return (rv);
}

int
ed25519_write_private(const char *path, const uint8_t sk[ED25519_PRIV_LEN],
    char *err, size_t errlen)
{
	EVP_PKEY	*k;
	int		 rv;

	if ((k = ed25519_pkey_private(sk)) == NULL) {
		snprintf(err, errlen, "%s: invalid private key", path);
		return (-1);
	}
	rv = ed25519_write_pem(path, k, 1, err, errlen);
	EVP_PKEY_free(k);
	return (rv);
}

int
ed25519_write_public(const char *path, const uint8_t pk[ED25519_PUB_LEN],
    char *err, size_t errlen)
{
	EVP_PKEY	*k;
	int		 rv;

	if ((k = ed25519_pkey_public(pk)) == NULL) {
		snprintf(err, errlen, "%s: invalid public key", path);
		return (-1);
	}
	rv = ed25519_write_pem(path, k, 0, err, errlen);
	EVP_PKEY_free(k);
	return (rv);
}

int
ed25519_read_private(const char *path, uint8_t sk[ED25519_PRIV_LEN],
    char *err, size_t errlen)
{
	FILE		*f;
	EVP_PKEY	*k;
	size_t		 n = ED25519_PRIV_LEN;
	int		 rv = -1;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	ERR_clear_error();
	if (k == NULL || EVP_PKEY_get_id(k) != EVP_PKEY_ED25519) {
		snprintf(err, errlen, "%s: not an Ed25519 private key in PEM "
		    "form (make one with 'fleetcast key generate')", path);
		EVP_PKEY_free(k);
		return (-1);
	}
	if (EVP_PKEY_get_raw_private_key(k, sk, &n) == 1 &&
	    n == ED25519_PRIV_LEN)
		rv = 0;
	else
		snprintf(err, errlen, "%s: cannot read the raw key", path);
	EVP_PKEY_free(k);
	return (rv);
}

/*
 * Read every PEM public key in a file (a trusted_keys file may list many).
 * Keys of another type are an error, not silently skipped: an admin who put
 * an RSA key there expects it to be trusted and must be told it is not.
 * The file is read whole (it is small and bounded) and cut at each PEM
 * block, so that the end of the file is never mistaken for a bad key.
 */
#define PUBKEY_FILE_MAX	(1 << 20)

static int
ed25519_decode_pubkey(const char *pem, size_t len, uint8_t pk[ED25519_PUB_LEN])
{
	BIO		*b;
	EVP_PKEY	*k;
	size_t		 n = ED25519_PUB_LEN;
	int		 rv = -1;

	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL)
		fatalx("ed25519_decode_pubkey: out of memory");
	k = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	BIO_free(b);
	ERR_clear_error();
	if (k == NULL)
		return (-1);
	if (EVP_PKEY_get_id(k) == EVP_PKEY_ED25519 &&
	    EVP_PKEY_get_raw_public_key(k, pk, &n) == 1 &&
	    n == ED25519_PUB_LEN)
		rv = 0;
	else
		rv = -2;
	EVP_PKEY_free(k);
	return (rv);
}

int
ed25519_read_public(const char *path, uint8_t (*keys)[ED25519_PUB_LEN],
    size_t max, size_t *nkeys, char *err, size_t errlen)
{
	static const char	 endmark[] = "-----END PUBLIC KEY-----";
	FILE			*f;
	char			*buf, *p, *end;
	size_t			 len;
	int			 rv = -1, r;

	*nkeys = 0;
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (-1);
	}
	buf = xmalloc(PUBKEY_FILE_MAX + 1);
	len = fread(buf, 1, PUBKEY_FILE_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (len > PUBKEY_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    PUBKEY_FILE_MAX);
		goto out;
	}
	buf[len] = '\0';
	p = buf;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0')
			break;
		if ((end = strstr(p, endmark)) == NULL) {
			snprintf(err, errlen, "%s: key %zu: not a PEM public "
			    "key", path, *nkeys + 1);
			goto out;
		}
		end += sizeof(endmark) - 1;
		if (*nkeys == max) {
			snprintf(err, errlen, "%s: more than %zu keys", path,
			    max);
			goto out;
		}
		r = ed25519_decode_pubkey(p, end - p, keys[*nkeys]);
		if (r == -1) {
			snprintf(err, errlen, "%s: key %zu: not a PEM public "
			    "key", path, *nkeys + 1);
			goto out;
		}
		if (r == -2) {
			snprintf(err, errlen, "%s: key %zu: not an Ed25519 key",
			    path, *nkeys + 1);
			goto out;
		}
		(*nkeys)++;
		p = end;
	}
	if (*nkeys == 0) {
		snprintf(err, errlen, "%s: no public key in the file", path);
		goto out;
	}
	rv = 0;
out:
	free(buf);
	fclose(f);
	return (rv);
}

struct aead *
aead_new(const uint8_t key[AEAD_KEY_LEN])
{
	struct aead	*a;

	a = xcalloc(1, sizeof(*a));
	if ((a->enc = EVP_CIPHER_CTX_new()) == NULL ||
	    (a->dec = EVP_CIPHER_CTX_new()) == NULL)
		fatalx("aead_new: out of memory");
	if (EVP_EncryptInit_ex(a->enc, EVP_aes_256_gcm(), NULL, key, NULL) != 1 ||
	    EVP_DecryptInit_ex(a->dec, EVP_aes_256_gcm(), NULL, key, NULL) != 1)
		fatalx("aead_new: AES-256-GCM init failed");
	return (a);
}

void
aead_free(struct aead *a)
{
	if (a == NULL)
		return;
	EVP_CIPHER_CTX_free(a->enc);
	EVP_CIPHER_CTX_free(a->dec);
	free(a);
}

int
aead_seal(struct aead *a, const uint8_t nonce[AEAD_NONCE_LEN],
    const void *aad, size_t aadlen, const void *in, size_t len, void *out,
    uint8_t tag[AEAD_TAG_LEN])
{
	int	n;

	if (len > INT32_MAX || aadlen > INT32_MAX)
		return (-1);
	if (EVP_EncryptInit_ex(a->enc, NULL, NULL, NULL, nonce) != 1)
		return (-1);
	if (aadlen > 0 &&
	    EVP_EncryptUpdate(a->enc, NULL, &n, aad, (int)aadlen) != 1)
		return (-1);
	if (len > 0 && EVP_EncryptUpdate(a->enc, out, &n, in, (int)len) != 1)
		return (-1);
	if (EVP_EncryptFinal_ex(a->enc, (uint8_t *)out + len, &n) != 1)
		return (-1);
	if (EVP_CIPHER_CTX_ctrl(a->enc, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_LEN,
	    tag) != 1)
		return (-1);
	return (0);
}

int
aead_open(struct aead *a, const uint8_t nonce[AEAD_NONCE_LEN],
    const void *aad, size_t aadlen, const void *in, size_t len, void *out,
    const uint8_t tag[AEAD_TAG_LEN])
{
	int	n;

	if (len > INT32_MAX || aadlen > INT32_MAX)
		return (-1);
	if (EVP_DecryptInit_ex(a->dec, NULL, NULL, NULL, nonce) != 1)
		return (-1);
	if (aadlen > 0 &&
	    EVP_DecryptUpdate(a->dec, NULL, &n, aad, (int)aadlen) != 1)
		return (-1);
	if (len > 0 && EVP_DecryptUpdate(a->dec, out, &n, in, (int)len) != 1)
		return (-1);
	if (EVP_CIPHER_CTX_ctrl(a->dec, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_LEN,
	    (void *)tag) != 1)
		return (-1);
	if (EVP_DecryptFinal_ex(a->dec, (uint8_t *)out + len, &n) != 1)
		return (-1);
	return (0);
}

void
hex_encode(const void *data, size_t len, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	const uint8_t		*p = data;
	size_t			 i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return (c - '0');
	if (c >= 'a' && c <= 'f')
		return (c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (c - 'A' + 10);
	return (-1);
}

/* Decode exactly len bytes from 2*len hex digits; anything else is -1. */
int
hex_decode(const char *s, void *out, size_t len)
{
	uint8_t	*p = out;
	size_t	 i;
	int	 hi, lo;

	if (strlen(s) != 2 * len)
		return (-1);
	for (i = 0; i < len; i++) {
		if ((hi = hex_digit(s[2 * i])) == -1 ||
		    (lo = hex_digit(s[2 * i + 1])) == -1)
			return (-1);
		p[i] = (uint8_t)(hi << 4 | lo);
	}
	return (0);
}
