/*
 * The package feed's index (MISSION.md P12), shared by the CLI that
 * publishes a feed (`fleetcast feed publish`) and the server that pulls
 * it (server/feed.c): feed.json lists each package's id, version, type,
 * urgency, size, SHA-256 and path, with the feed's serial number (it
 * only goes up) and its creation and expiry times; feed.json.sig is a
 * detached Ed25519 signature over the exact bytes of feed.json.  This
 * header is the whole interface: the strict decoder (the index comes
 * from a web server and is hostile until its signature holds, and the
 * decoder runs only after that, but it is bounded either way), the
 * canonical encoder, the signature and the checks a puller makes before
 * it acts (expiry against freeze attacks, serial against rollback).
 */
#ifndef FC_FEED_INDEX_H
#define FC_FEED_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "pkg.h"

#define FEED_INDEX_FORMAT	1
#define FEED_INDEX_NAME		"feed.json"
#define FEED_SIG_NAME		"feed.json.sig"
#define FEED_INDEX_MAX		(4 * 1024 * 1024)	/* bytes of feed.json */
#define FEED_SIG_MAX		512	/* bytes of feed.json.sig */
#define FEED_PKGS_MAX		4096	/* entries of one index */
#define FEED_PATH_MAX		255
#define FEED_PKG_SIZE_MAX	(128ULL << 30)	/* as a server takes by path */
/* Bump with FEED_INDEX_FORMAT: what the signature covers besides the bytes. */
#define FEED_SIG_DOMAIN		"fleetcast feed index v1"
/* "ed25519 KEYID SIG\n": 7 + 1 + 16 + 1 + 128 + 1 */
#define FEED_SIG_TEXT_LEN	154

struct feed_entry {
	char		 id[PKG_ID_MAX + 1];
	int		 has_version;
	uint16_t	 major;
	uint16_t	 minor;
	enum pkg_type	 type;
	enum pkg_urgency urgency;
	uint64_t	 size;
	uint8_t		 sha256[SHA256_LEN];
	char		 path[FEED_PATH_MAX + 1];	/* below the index's */
};

struct feed_index {
	uint64_t	 serial;
	int64_t		 created;	/* seconds since the epoch, UTC */
	int64_t		 expires;
	struct feed_entry *pkgs;
	size_t		 npkgs;
};

/* What feed_index_check says about an index that decoded. */
enum feed_verdict {
	FEED_OK = 0,
	FEED_EXPIRED,		/* expires is past: a frozen feed */
	FEED_ROLLBACK,		/* serial below the last one accepted */
	FEED_REUSED,		/* the last serial, other bytes */
};

void	 feed_index_init(struct feed_index *);
void	 feed_index_free(struct feed_index *);
int	 feed_index_decode(struct feed_index *, const void *, size_t, char *,
	    size_t);
char	*feed_index_encode(const struct feed_index *);
const struct feed_entry *feed_index_find(const struct feed_index *,
	    const char *);
void	 feed_index_put(struct feed_index *, const struct feed_entry *);
int	 feed_entry_check_path(const char *, char *, size_t);
int	 feed_entry_version_cmp(const struct feed_entry *, int, uint16_t,
	    uint16_t);
void	 feed_entry_version(const struct feed_entry *, char *, size_t);

enum feed_verdict feed_index_check(const struct feed_index *, int64_t, int,
	    uint64_t, const uint8_t *, const uint8_t [SHA256_LEN], char *,
	    size_t);

int	 feed_time_parse(const char *, int64_t *);
void	 feed_time_format(int64_t, char *, size_t);

/*
 * The detached signature: feed_sig_make writes the text of feed.json.sig
 * (out has FEED_SIG_TEXT_LEN + 1 bytes); feed_sig_verify takes that text
 * as it came (bounded, strict) and holds it against every key given.
 */
int	 feed_sig_make(const uint8_t [ED25519_PRIV_LEN], const void *, size_t,
	    char *);
int	 feed_sig_verify(const void *, size_t, const void *, size_t,
	    const uint8_t (*)[ED25519_PUB_LEN], size_t, char *, size_t);

#endif
