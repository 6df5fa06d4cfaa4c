/*
 * The feed index (common/feed_index.c): an index encodes and decodes to
 * the same entries; the decoder refuses each kind of bad field with a
 * message naming it; the signature holds for the bytes signed and for no
 * other bytes, key or text; and the checks a server makes refuse an
 * expired index, a lower serial (rollback) and a reused one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "feed_index.h"
#include "unit.h"

#define T0	1767225600	/* 2026-01-01T00:00:00Z */

static void
entry(struct feed_entry *e, const char *id, int major, int minor)
{
	memset(e, 0, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->has_version = major >= 0;
	e->major = major >= 0 ? (uint16_t)major : 0;
	e->minor = (uint16_t)minor;
	e->type = PKG_HOTFIX;
	e->urgency = PKG_URGENCY_HIGHEST;
	e->size = 12345;
	memset(e->sha256, 0xab, SHA256_LEN);
	snprintf(e->path, sizeof(e->path), "packages/%s.fcpkg", id);
}

static void
sample(struct feed_index *idx)
{
	struct feed_entry	e;

	feed_index_init(idx);
	idx->serial = 7;
	idx->created = T0;
	idx->expires = T0 + 86400;
	entry(&e, "SP2", 2, 0);
	e.type = PKG_SERVICEPACK;
	feed_index_put(idx, &e);
	entry(&e, "tool_x", -1, 0);
	e.urgency = PKG_URGENCY_LOW;
	e.type = PKG_APPLICATION;
	feed_index_put(idx, &e);
}

static void
test_roundtrip(void)
{
	struct feed_index	idx, back;
	struct feed_entry	e;
	char			err[512], *text, *again;

	sample(&idx);
	text = feed_index_encode(&idx);
	CU_ASSERT_PTR_NOT_NULL_FATAL(text);
	CU_ASSERT_EQUAL_FATAL(feed_index_decode(&back, text, strlen(text), err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(back.serial, 7);
	CU_ASSERT_EQUAL(back.created, T0);
	CU_ASSERT_EQUAL(back.expires, T0 + 86400);
	CU_ASSERT_EQUAL_FATAL(back.npkgs, 2);
	CU_ASSERT_EQUAL(memcmp(back.pkgs, idx.pkgs, 2 * sizeof(*idx.pkgs)), 0);
	CU_ASSERT_PTR_NULL(feed_index_find(&back, "nope"));
	CU_ASSERT_PTR_NOT_NULL(feed_index_find(&back, "tool_x"));
	/* Canonical: encoding what was decoded gives the same bytes. */
	again = feed_index_encode(&back);
	CU_ASSERT_STRING_EQUAL(again, text);
	/* put replaces an entry of the same id instead of adding one. */
	entry(&e, "SP2", 3, 1);
	feed_index_put(&back, &e);
	CU_ASSERT_EQUAL(back.npkgs, 2);
	CU_ASSERT_EQUAL(feed_index_find(&back, "SP2")->major, 3);
	free(text);
	free(again);
	feed_index_free(&idx);
	feed_index_free(&back);
}

/* Replace the first occurrence of what in the sample's text by with. */
static void
expect_refused(const char *what, const char *with, const char *msg)
{
	struct feed_index	 idx;
	char			 err[512], *text, *p, buf[8192];

	sample(&idx);
	text = feed_index_encode(&idx);
	feed_index_free(&idx);
	p = strstr(text, what);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(p - text), text, with,
	    p + strlen(what));
	free(text);
	err[0] = '\0';
	CU_ASSERT_EQUAL(feed_index_decode(&idx, buf, strlen(buf), err,
	    sizeof(err)), -1);
	if (strstr(err, msg) == NULL)
		fprintf(stderr, "\n%s -> %s: error '%s', wanted '%s'\n", what,
		    with, err, msg);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, msg));
	CU_ASSERT_EQUAL(idx.npkgs, 0);
	CU_ASSERT_PTR_NULL(idx.pkgs);
}

static void
test_decode_refuses(void)
{
	expect_refused("\"format\":1", "\"format\":2", "format:");
	expect_refused("\"serial\":7", "\"serial\":0", "serial:");
	expect_refused("\"serial\":7", "\"serial\":\"7\"", "serial:");
	expect_refused("2026-01-02T00:00:00Z", "2025-12-31T00:00:00Z",
	    "expires: not after created");
	expect_refused("2026-01-01T00:00:00Z", "2026-02-30T00:00:00Z",
	    "created:");
	expect_refused("2026-01-01T00:00:00Z", "2026-01-01 00:00:00Z",
	    "created:");
	expect_refused("\"format\":1", "\"format\":1,\"extra\":1",
	    "unknown field 'extra'");
	expect_refused("\"id\":\"SP2\"", "\"id\":\"S P2\"", "packages[0]");
	expect_refused("\"id\":\"tool_x\"", "\"id\":\"SP2\"",
	    "is also packages[0]'s");
	expect_refused("\"version\":\"2.0\"", "\"version\":\"2\"", "version:");
	expect_refused("\"version\":\"2.0\"", "\"version\":\"2.70000\"",
	    "version:");
	expect_refused("\"type\":\"servicepack\"", "\"type\":\"patch\"",
	    "type:");
	expect_refused("\"urgency\":\"highest\"", "\"urgency\":\"now\"",
	    "urgency:");
	expect_refused("\"size\":12345", "\"size\":0", "size:");
	expect_refused("\"size\":12345", "\"size\":-5", "size:");
	expect_refused("\"size\":12345", "\"size\":9999999999999999",
	    "size:");
	expect_refused("abababab", "ABABABAB", "sha256:");
	expect_refused("abababab", "abab", "sha256:");
	expect_refused("\"packages/SP2.fcpkg\"", "\"../SP2.fcpkg\"", "'..'");
	expect_refused("\"packages/SP2.fcpkg\"", "\"/etc/passwd\"",
	    "absolute");
	expect_refused("\"packages/SP2.fcpkg\"", "\"a b\"", "may hold only");
	expect_refused("\"packages/SP2.fcpkg\"", "\"packages//x\"", "empty");
	expect_refused("{\"format\"", "[{\"format\"", "not JSON");
	expect_refused("\"serial\":7", "\"serial\":7,\"serial\":8", "not JSON");
}

static void
test_decode_bounds(void)
{
	struct feed_index	 idx;
	char			 err[512], *big;
	const char		*j;
	size_t			 len = FEED_INDEX_MAX + 1;

	/* Bounded before anything is parsed. */
	big = calloc(1, len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	memset(big, ' ', len);
	CU_ASSERT_EQUAL(feed_index_decode(&idx, big, len, err, sizeof(err)),
	    -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "limit"));
	free(big);
	CU_ASSERT_EQUAL(feed_index_decode(&idx, "{\"a\":\0}", 7, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "NUL"));
	CU_ASSERT_EQUAL(feed_index_decode(&idx, "", 0, err, sizeof(err)), -1);
	j = "{\"format\":1,\"serial\":1,\"created\":\"2026-01-01T00:00:00Z\","
	    "\"expires\":\"2026-01-02T00:00:00Z\",\"packages\":{}}";
	CU_ASSERT_EQUAL(feed_index_decode(&idx, j, strlen(j), err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "packages: an array"));
	j = "{\"format\":1,\"serial\":1,\"created\":\"2026-01-01T00:00:00Z\","
	    "\"expires\":\"2026-01-02T00:00:00Z\",\"packages\":[]}";
	CU_ASSERT_EQUAL(feed_index_decode(&idx, j, strlen(j), err,
	    sizeof(err)), 0);
	CU_ASSERT_EQUAL(idx.npkgs, 0);
	feed_index_free(&idx);
}

static void
test_signature(void)
{
	uint8_t		pub[1][ED25519_PUB_LEN], priv[ED25519_PRIV_LEN];
	uint8_t		opub[2][ED25519_PUB_LEN], opriv[ED25519_PRIV_LEN];
	char		sig[FEED_SIG_TEXT_LEN + 1], bad[FEED_SIG_TEXT_LEN + 1];
	char		err[512];
	const char	*msg = "{\"format\":1}\n";

	CU_ASSERT_EQUAL_FATAL(ed25519_generate(pub[0], priv), 0);
	CU_ASSERT_EQUAL_FATAL(ed25519_generate(opub[0], opriv), 0);
	memcpy(opub[1], pub[0], ED25519_PUB_LEN);
	CU_ASSERT_EQUAL_FATAL(feed_sig_make(priv, msg, strlen(msg), sig), 0);
	CU_ASSERT_EQUAL(strlen(sig), FEED_SIG_TEXT_LEN);
	CU_ASSERT_EQUAL(feed_sig_verify(msg, strlen(msg), sig, strlen(sig),
	    (const uint8_t (*)[ED25519_PUB_LEN])pub, 1, err, sizeof(err)), 0);
	/* Without its newline, and among other keys, too. */
	CU_ASSERT_EQUAL(feed_sig_verify(msg, strlen(msg), sig, strlen(sig) - 1,
	    (const uint8_t (*)[ED25519_PUB_LEN])opub, 2, err, sizeof(err)), 0);
	/* Other bytes. */
	CU_ASSERT_EQUAL(feed_sig_verify("{\"format\":2}\n", strlen(msg), sig,
	    strlen(sig), (const uint8_t (*)[ED25519_PUB_LEN])pub, 1, err,
	    sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "does not match"));
	/* A key that is not trusted. */
	CU_ASSERT_EQUAL(feed_sig_verify(msg, strlen(msg), sig, strlen(sig),
	    (const uint8_t (*)[ED25519_PUB_LEN])opub, 1, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not among"));
	/* A flipped signature digit, a bad layout, trailing junk. */
	memcpy(bad, sig, sizeof(bad));
	bad[40] = bad[40] == '0' ? '1' : '0';
	CU_ASSERT_EQUAL(feed_sig_verify(msg, strlen(msg), bad, strlen(bad),
	    (const uint8_t (*)[ED25519_PUB_LEN])pub, 1, err, sizeof(err)), -1);
	memcpy(bad, sig, sizeof(bad));
	bad[7] = '_';
	CU_ASSERT_EQUAL(feed_sig_verify(msg, strlen(msg), bad, strlen(bad),
	    (const uint8_t (*)[ED25519_PUB_LEN])pub, 1, err, sizeof(err)), -1);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not one line"));
	CU_ASSERT_EQUAL(feed_sig_verify(msg, strlen(msg), sig, 20,
	    (const uint8_t (*)[ED25519_PUB_LEN])pub, 1, err, sizeof(err)), -1);
	/* It covers a domain: a bare signature of the bytes fails. */
	{
		uint8_t	raw[ED25519_SIG_LEN];
		char	hex[ED25519_SIG_LEN * 2 + 1];

		CU_ASSERT_EQUAL(ed25519_sign(priv, msg, strlen(msg), raw), 0);
		hex_encode(raw, ED25519_SIG_LEN, hex);
		memcpy(bad, sig, sizeof(bad));
		memcpy(bad + 9 + KEYID_LEN * 2, hex, ED25519_SIG_LEN * 2);
		CU_ASSERT_EQUAL(feed_sig_verify(msg, strlen(msg), bad,
		    strlen(bad), (const uint8_t (*)[ED25519_PUB_LEN])pub, 1,
		    err, sizeof(err)), -1);
	}
}

static void
test_check(void)
{
	struct feed_index	idx;
	uint8_t			a[SHA256_LEN], b[SHA256_LEN];
	char			err[512];

	sample(&idx);
	memset(a, 1, sizeof(a));
	memset(b, 2, sizeof(b));
	CU_ASSERT_EQUAL(feed_index_check(&idx, T0 + 10, 0, 0, NULL, a, err,
	    sizeof(err)), FEED_OK);
	CU_ASSERT_EQUAL(feed_index_check(&idx, T0 + 86400, 0, 0, NULL, a, err,
	    sizeof(err)), FEED_EXPIRED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "expired at 2026-01-02T00:00:00Z"));
	CU_ASSERT_EQUAL(feed_index_check(&idx, T0 + 10, 1, 8, b, a, err,
	    sizeof(err)), FEED_ROLLBACK);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "below 8"));
	CU_ASSERT_EQUAL(feed_index_check(&idx, T0 + 10, 1, 7, b, a, err,
	    sizeof(err)), FEED_REUSED);
	CU_ASSERT_EQUAL(feed_index_check(&idx, T0 + 10, 1, 7, a, a, err,
	    sizeof(err)), FEED_OK);
	CU_ASSERT_EQUAL(feed_index_check(&idx, T0 + 10, 1, 6, b, a, err,
	    sizeof(err)), FEED_OK);
	feed_index_free(&idx);
}

static void
test_version_cmp(void)
{
	struct feed_entry	e;
	char			buf[16];

	entry(&e, "X", 2, 5);
	CU_ASSERT(feed_entry_version_cmp(&e, 1, 2, 4) > 0);
	CU_ASSERT(feed_entry_version_cmp(&e, 1, 2, 5) == 0);
	CU_ASSERT(feed_entry_version_cmp(&e, 1, 3, 0) < 0);
	CU_ASSERT(feed_entry_version_cmp(&e, 0, 9, 9) == 0);
	feed_entry_version(&e, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "2.5");
	entry(&e, "X", -1, 0);
	feed_entry_version(&e, buf, sizeof(buf));
	CU_ASSERT_STRING_EQUAL(buf, "none");
}

int
main(void)
{
	CU_TestInfo	tests[] = {
		{ "encode and decode", test_roundtrip },
		{ "bad fields are refused", test_decode_refuses },
		{ "sizes are bounded", test_decode_bounds },
		{ "detached signature", test_signature },
		{ "expiry, rollback, reuse", test_check },
		{ "versions", test_version_cmp },
		CU_TEST_INFO_NULL,
	};

	return (unit_main("feed", tests));
}
