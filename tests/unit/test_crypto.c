/*
 * Known-answer tests for the crypto wrappers: Ed25519 against RFC 8032
 * section 7.1, AES-256-GCM against the GCM specification's test cases
 * 13-16 (the AES-256 ones NIST publishes), SHA-256 against FIPS 180-2, plus
 * key-file round trips and the failure paths (flipped bits, wrong keys).
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto.h"
#include "unit.h"

static void
unhex(const char *s, uint8_t *out, size_t len)
{
	CU_ASSERT_FATAL(hex_decode(s, out, len) == 0);
}

struct ed_vector {
	const char	*sk, *pk, *msg, *sig;
};

/* RFC 8032, 7.1: TEST 1, 2 and 3. */
static const struct ed_vector ed_vectors[] = {
	{ "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
	  "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
	  "",
	  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
	  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b" },
	{ "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
	  "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
	  "72",
	  "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"
	  "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00" },
	{ "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
	  "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
	  "af82",
	  "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac"
	  "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a" },
};

static void
test_ed25519_rfc8032(void)
{
	uint8_t	sk[32], pk[32], pk2[32], msg[8], sig[64], sig2[64];
	size_t	i, mlen;

	for (i = 0; i < sizeof(ed_vectors) / sizeof(ed_vectors[0]); i++) {
		unhex(ed_vectors[i].sk, sk, 32);
		unhex(ed_vectors[i].pk, pk, 32);
		unhex(ed_vectors[i].sig, sig, 64);
		mlen = strlen(ed_vectors[i].msg) / 2;
		unhex(ed_vectors[i].msg, msg, mlen);

		CU_ASSERT(ed25519_public(sk, pk2) == 0);
		CU_ASSERT(memcmp(pk, pk2, 32) == 0);
		CU_ASSERT(ed25519_sign(sk, msg, mlen, sig2) == 0);
		CU_ASSERT(memcmp(sig, sig2, 64) == 0);
		CU_ASSERT(ed25519_verify(pk, msg, mlen, sig) == 0);

		/* Any flipped bit in signature or message must fail. */
		sig2[i * 7] ^= 0x01;
		CU_ASSERT(ed25519_verify(pk, msg, mlen, sig2) == -1);
		if (mlen > 0) {
			msg[0] ^= 0x80;
			CU_ASSERT(ed25519_verify(pk, msg, mlen, sig) == -1);
		}
	}
}

static void
test_ed25519_wrong_key(void)
{
	uint8_t	pk1[32], sk1[32], pk2[32], sk2[32], sig[64];

	CU_ASSERT(ed25519_generate(pk1, sk1) == 0);
	CU_ASSERT(ed25519_generate(pk2, sk2) == 0);
	CU_ASSERT(memcmp(pk1, pk2, 32) != 0);
	CU_ASSERT(ed25519_sign(sk1, "hello", 5, sig) == 0);
	CU_ASSERT(ed25519_verify(pk1, "hello", 5, sig) == 0);
	CU_ASSERT(ed25519_verify(pk2, "hello", 5, sig) == -1);
}

static void
test_ed25519_files(void)
{
	char	dir[] = "/tmp/fc-test-crypto.XXXXXX", priv[128], pub[128];
	char	err[256];
	uint8_t	pk[32], sk[32], sk2[32], keys[4][32];
	size_t	n;
	struct stat st;
	FILE	*f;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(priv, sizeof(priv), "%s/k.key", dir);
	snprintf(pub, sizeof(pub), "%s/k.pub", dir);
	CU_ASSERT_FATAL(ed25519_generate(pk, sk) == 0);
	CU_ASSERT(ed25519_write_private(priv, sk, err, sizeof(err)) == 0);
	CU_ASSERT(ed25519_write_public(pub, pk, err, sizeof(err)) == 0);
	CU_ASSERT(stat(priv, &st) == 0 && (st.st_mode & 0777) == 0600);
	CU_ASSERT(ed25519_read_private(priv, sk2, err, sizeof(err)) == 0);
	CU_ASSERT(memcmp(sk, sk2, 32) == 0);
	CU_ASSERT(ed25519_read_public(pub, keys, 4, &n, err, sizeof(err)) == 0);
	CU_ASSERT(n == 1 && memcmp(keys[0], pk, 32) == 0);

	/* Two keys in one trusted_keys file, then garbage after them. */
	f = fopen(pub, "a");
	CU_ASSERT_FATAL(f != NULL);
	fclose(f);
	CU_ASSERT(ed25519_write_public(priv, pk, err, sizeof(err)) == 0);
	{
		char	cmd[512];

		snprintf(cmd, sizeof(cmd), "cat %s >> %s", priv, pub);
		CU_ASSERT(system(cmd) == 0);
	}
	CU_ASSERT(ed25519_read_public(pub, keys, 4, &n, err, sizeof(err)) == 0);
	CU_ASSERT(n == 2);
	CU_ASSERT(ed25519_read_public(pub, keys, 1, &n, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "more than 1") != NULL);
	/* A public key is not a private key: clear error, no crash. */
	CU_ASSERT(ed25519_read_private(pub, sk2, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "not an Ed25519 private key") != NULL);
	f = fopen(pub, "w");
	fputs("not a key\n", f);
	fclose(f);
	CU_ASSERT(ed25519_read_public(pub, keys, 4, &n, err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "key 1") != NULL);
	CU_ASSERT(ed25519_read_public("/nonexistent/x", keys, 4, &n, err,
	    sizeof(err)) == -1);

	unlink(priv);
	unlink(pub);
	rmdir(dir);
}

struct gcm_vector {
	const char	*key, *iv, *aad, *pt, *ct, *tag;
};

/* The GCM specification's AES-256 test cases 13, 14, 15 and 16. */
static const struct gcm_vector gcm_vectors[] = {
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "", "", "",
	  "530f8afbc74536b9a963b4f1c4cb738b" },
	{ "0000000000000000000000000000000000000000000000000000000000000000",
	  "000000000000000000000000", "",
	  "00000000000000000000000000000000",
	  "cea7403d4d606b6e074ec5d3baf39d18",
	  "d0d1c8a799996bf0265b98b5d48ab919" },
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888", "",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
	  "b094dac5d93471bdec1a502270e3cc6c" },
	{ "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
	  "cafebabefacedbaddecaf888",
	  "feedfacedeadbeeffeedfacedeadbeefabaddad2",
	  "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
	  "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
	  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
	  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
	  "76fc6ece0f4e1768cddf8853bb2d551b" },
};

static void
test_aes_gcm_vectors(void)
{
	uint8_t		 key[32], iv[12], aad[64], pt[64], ct[64], tag[16];
	uint8_t		 out[64], tag2[16];
	size_t		 i, alen, plen;
	struct aead	*a;

	for (i = 0; i < sizeof(gcm_vectors) / sizeof(gcm_vectors[0]); i++) {
		const struct gcm_vector *v = &gcm_vectors[i];

		unhex(v->key, key, 32);
		unhex(v->iv, iv, 12);
		alen = strlen(v->aad) / 2;
		plen = strlen(v->pt) / 2;
		unhex(v->aad, aad, alen);
		unhex(v->pt, pt, plen);
		unhex(v->ct, ct, plen);
		unhex(v->tag, tag, 16);

		a = aead_new(key);
		CU_ASSERT(aead_seal(a, iv, aad, alen, pt, plen, out, tag2) == 0);
		CU_ASSERT(memcmp(out, ct, plen) == 0);
		CU_ASSERT(memcmp(tag, tag2, 16) == 0);
		/* The same context seals again with the same result. */
		CU_ASSERT(aead_seal(a, iv, aad, alen, pt, plen, out, tag2) == 0);
		CU_ASSERT(memcmp(tag, tag2, 16) == 0);
		CU_ASSERT(aead_open(a, iv, aad, alen, ct, plen, out, tag) == 0);
		CU_ASSERT(memcmp(out, pt, plen) == 0);

		/* A flipped bit anywhere fails authentication. */
		tag2[15] ^= 1;
		CU_ASSERT(aead_open(a, iv, aad, alen, ct, plen, out, tag2) == -1);
		if (plen > 0) {
			ct[plen - 1] ^= 0x40;
			CU_ASSERT(aead_open(a, iv, aad, alen, ct, plen, out,
			    tag) == -1);
			ct[plen - 1] ^= 0x40;
		}
		if (alen > 0) {
			aad[0] ^= 1;
			CU_ASSERT(aead_open(a, iv, aad, alen, ct, plen, out,
			    tag) == -1);
			aad[0] ^= 1;
		}
		iv[0] ^= 1;
		CU_ASSERT(aead_open(a, iv, aad, alen, ct, plen, out, tag) == -1);
		/* The context recovers after a failure. */
		iv[0] ^= 1;
		CU_ASSERT(aead_open(a, iv, aad, alen, ct, plen, out, tag) == 0);
		aead_free(a);
	}
}

static void
test_aes_gcm_inplace(void)
{
	uint8_t		 key[32], iv[12] = { 0 }, buf[1400], copy[1400], tag[16];
	struct aead	*a;

	CU_ASSERT(crypto_random(key, sizeof(key)) == 0);
	CU_ASSERT(crypto_random(buf, sizeof(buf)) == 0);
	memcpy(copy, buf, sizeof(buf));
	a = aead_new(key);
	CU_ASSERT(aead_seal(a, iv, "h", 1, buf, sizeof(buf), buf, tag) == 0);
	CU_ASSERT(memcmp(buf, copy, sizeof(buf)) != 0);
	CU_ASSERT(aead_open(a, iv, "h", 1, buf, sizeof(buf), buf, tag) == 0);
	CU_ASSERT(memcmp(buf, copy, sizeof(buf)) == 0);
	aead_free(a);
}

/*
 * One context seals and opens many packets, as the transport does: each
 * result equals that of a fresh context (nothing of the previous nonce,
 * AAD or tag carries over), the tag of the previous packet never opens
 * the next one, and a failed open leaves the context usable.
 */
static void
test_aes_gcm_reuse(void)
{
	static const size_t	 lens[] = { 0, 1, 15, 16, 17, 96, 288, 1424,
				    1423, 4000 };
	uint8_t			 key[32], iv[12], aad[40], pt[4000];
	uint8_t			 ct[4000], ct2[4000], out[4000];
	uint8_t			 tag[16], tag2[16], prev[16] = { 0 };
	struct aead		*a, *fresh;
	size_t			 i, len, alen;

	CU_ASSERT(crypto_random(key, sizeof(key)) == 0);
	a = aead_new(key);
	for (i = 0; i < 3 * sizeof(lens) / sizeof(lens[0]); i++) {
		len = lens[i % (sizeof(lens) / sizeof(lens[0]))];
		alen = i % 3 == 0 ? 0 : 8 + i % 33;
		CU_ASSERT(crypto_random(iv, sizeof(iv)) == 0);
		CU_ASSERT(crypto_random(aad, sizeof(aad)) == 0);
		CU_ASSERT(crypto_random(pt, sizeof(pt)) == 0);
		CU_ASSERT(aead_seal(a, iv, aad, alen, pt, len, ct, tag) == 0);
		fresh = aead_new(key);
		CU_ASSERT(aead_seal(fresh, iv, aad, alen, pt, len, ct2,
		    tag2) == 0);
		CU_ASSERT(memcmp(ct, ct2, len) == 0);
		CU_ASSERT(memcmp(tag, tag2, 16) == 0);
		CU_ASSERT(aead_open(fresh, iv, aad, alen, ct, len, out,
		    tag) == 0);
		aead_free(fresh);
		/* The previous packet's tag, then a corrupt one, then right. */
		CU_ASSERT(aead_open(a, iv, aad, alen, ct, len, out, prev) == -1);
		tag2[i % 16] ^= (uint8_t)(1 << (i % 8));
		CU_ASSERT(aead_open(a, iv, aad, alen, ct, len, out, tag2) == -1);
		memset(out, 0, sizeof(out));
		CU_ASSERT(aead_open(a, iv, aad, alen, ct, len, out, tag) == 0);
		CU_ASSERT(memcmp(out, pt, len) == 0);
		memcpy(prev, tag, 16);
	}
	aead_free(a);
}

static void
test_sha256(void)
{
	uint8_t		 h[32], want[32];
	char		 hex[65];
	struct sha256	*s;
	char		 path[] = "/tmp/fc-test-sha.XXXXXX";
	int		 fd, i;

	/* FIPS 180-2 "abc" and the two-block message. */
	sha256("abc", 3, h);
	hex_encode(h, 32, hex);
	CU_ASSERT_STRING_EQUAL(hex,
	    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56,
	    h);
	hex_encode(h, 32, hex);
	CU_ASSERT_STRING_EQUAL(hex,
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

	/* Streaming in pieces equals one shot; sha256_fd equals both. */
	s = sha256_new();
	sha256_update(s, "abcdbcdecdefdefg", 16);
	sha256_update(s, "efghfghighijhijkijkljklmklmnlmnomnopnopq", 40);
	sha256_final(s, want);
	sha256_free(s);
	CU_ASSERT(memcmp(h, want, 32) == 0);

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd != -1);
	CU_ASSERT(write(fd, "xxabcdbcdecdefdefgefghfghighijhijkijkljklmklmn"
	    "lmnomnopnopqyy", 60) == 60);
	CU_ASSERT(sha256_fd(fd, 2, 56, want) == 0);
	CU_ASSERT(memcmp(h, want, 32) == 0);
	/* Asking for more than the file holds is an error, not a short hash. */
	CU_ASSERT(sha256_fd(fd, 2, 59, want) == -1);
	close(fd);
	unlink(path);

	/* A million 'a's, through the streaming path in odd chunks. */
	s = sha256_new();
	for (i = 0; i < 1000000 / 1000; i++) {
		char	a[1000];

		memset(a, 'a', sizeof(a));
		sha256_update(s, a, sizeof(a));
	}
	sha256_final(s, h);
	sha256_free(s);
	hex_encode(h, 32, hex);
	CU_ASSERT_STRING_EQUAL(hex,
	    "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

static void
test_hex(void)
{
	uint8_t	b[4];
	char	s[9];

	CU_ASSERT(hex_decode("00ff7Fa0", b, 4) == 0);
	CU_ASSERT(b[0] == 0 && b[1] == 0xff && b[2] == 0x7f && b[3] == 0xa0);
	hex_encode(b, 4, s);
	CU_ASSERT_STRING_EQUAL(s, "00ff7fa0");
	CU_ASSERT(hex_decode("00ff7fa", b, 4) == -1);	/* odd length */
	CU_ASSERT(hex_decode("00ff7fa0aa", b, 4) == -1);	/* too long */
	CU_ASSERT(hex_decode("00ff7fg0", b, 4) == -1);	/* not hex */
}

static void
test_keyid(void)
{
	uint8_t	pk[32], id[KEYID_LEN], h[32];

	unhex(ed_vectors[0].pk, pk, 32);
	ed25519_keyid(pk, id);
	sha256(pk, 32, h);
	CU_ASSERT(memcmp(id, h, KEYID_LEN) == 0);
}

static CU_TestInfo tests[] = {
	{ "Ed25519 RFC 8032 vectors", test_ed25519_rfc8032 },
	{ "Ed25519 wrong key", test_ed25519_wrong_key },
	{ "Ed25519 key files", test_ed25519_files },
	{ "AES-256-GCM NIST vectors", test_aes_gcm_vectors },
	{ "AES-256-GCM in place", test_aes_gcm_inplace },
	{ "AES-256-GCM context reuse", test_aes_gcm_reuse },
	{ "SHA-256 FIPS 180-2", test_sha256 },
	{ "hex", test_hex },
	{ "key id", test_keyid },
	CU_TEST_INFO_NULL,
};

int
main(void)
{
	return (unit_main("crypto", tests));
}
