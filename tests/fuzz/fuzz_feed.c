/*
 * Fuzz target for the package feed's index (feed_index_decode in
 * common/feed_index.c): fleetcastd reads feed.json from a web server, and
 * `fleetcast feed show` from any URL or directory.  The server checks the
 * signature first, but the decoder must hold on any bytes, and `feed
 * show` decodes an index without a key.  An index that decodes must
 * survive the publisher's round trip: encoding it and decoding that gives
 * the same entries and the same bytes again; its signature checks must
 * not crash on the input taken as a signature file either.
 */
#include <jansson.h>

#include "feed_index.h"

#define FUZZ_NAME	"feed"
#define FUZZ_MAX_LEN	(1 << 18)
#include "fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct feed_index	 idx, back;
	uint8_t			 key[1][ED25519_PUB_LEN];
	char			 err[1024], *text, *again;

	memset(key, 0x5a, sizeof(key));
	(void)feed_sig_verify("x", 1, data, size,
	    (const uint8_t (*)[ED25519_PUB_LEN])key, 1, err, sizeof(err));
	err[0] = '\0';
	if (feed_index_decode(&idx, data, size, err, sizeof(err)) == -1) {
		if (err[0] == '\0')
			fuzz_die("an index was refused without a message");
		if (idx.pkgs != NULL || idx.npkgs != 0)
			fuzz_die("a refused index kept entries");
		return (0);
	}
	if (idx.npkgs > FEED_PKGS_MAX)
		fuzz_die("%zu entries, limit %d", idx.npkgs, FEED_PKGS_MAX);
	if ((text = feed_index_encode(&idx)) == NULL)
		fuzz_die("a decoded index does not encode");
	if (feed_index_decode(&back, text, strlen(text), err,
	    sizeof(err)) == -1)
		fuzz_die("the encoded index does not decode: %s", err);
	if (back.serial != idx.serial || back.created != idx.created ||
	    back.expires != idx.expires || back.npkgs != idx.npkgs ||
	    (idx.npkgs > 0 && memcmp(back.pkgs, idx.pkgs, idx.npkgs *
	    sizeof(*idx.pkgs)) != 0))
		fuzz_die("the index changed in a round trip");
	if ((again = feed_index_encode(&back)) == NULL ||
	    strcmp(again, text) != 0)
		fuzz_die("encoding is not canonical");
	free(again);
	free(text);
	feed_index_free(&back);
	feed_index_free(&idx);
	return (0);
}
