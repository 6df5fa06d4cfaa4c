/*
 * The inventory's package feed state (schema step feed_state, issue #16):
 * one row that says which index the server last accepted from which URL
 * (the serial a rollback is judged against), the validators for the next
 * conditional GET, and how the last fetch ended.  server/feed.c stores
 * the accepted serial here before it downloads or registers anything
 * the index names, so that a crash in between cannot let an older index
 * in afterwards.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_int.h"
#include "server.h"
#include "xmalloc.h"

void
db_feed_clear(struct db_feed_state *fs)
{
	free(fs->url);
	free(fs->etag);
	free(fs->last_modified);
	free(fs->last_error);
	memset(fs, 0, sizeof(*fs));
}

/* The row, or an empty state when there is none yet; 0 or -1. */
int
db_feed_get(struct db *db, struct db_feed_state *fs)
{
	sqlite3_stmt	*st;
	const void	*sha;
	int		 rv;

	memset(fs, 0, sizeof(*fs));
	st = db_prep(db, "SELECT url, serial, index_sha256, etag, "
	    "last_modified, last_fetch, last_ok, last_error, failures, expires "
	    "FROM feed_state WHERE id = 1", NULL);
	if ((rv = db_step_row(db, st, "feed state")) != 1)
		return (rv);
	fs->url = db_col_strdup(st, 0);
	if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
		fs->have_serial = 1;
		fs->serial = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sha = sqlite3_column_blob(st, 2);
	if (sha != NULL && sqlite3_column_bytes(st, 2) == SHA256_LEN) {
		memcpy(fs->index_sha256, sha, SHA256_LEN);
		fs->have_sha = 1;
	}
	fs->etag = db_col_strdup(st, 3);
	fs->last_modified = db_col_strdup(st, 4);
	fs->last_fetch = (uint64_t)sqlite3_column_int64(st, 5);
	fs->last_ok = (uint64_t)sqlite3_column_int64(st, 6);
	fs->last_error = db_col_strdup(st, 7);
	fs->failures = sqlite3_column_int(st, 8);
	fs->expires = sqlite3_column_int64(st, 9);
	sqlite3_finalize(st);
	return (0);
}

/* db_exec says how many rows changed; these say only 0 or -1. */
static int
db_feed_done(int rv)
{
	return (rv == -1 ? -1 : 0);
}

static int
db_feed_row(struct db *db)
{
	return (db_feed_done(db_exec(db, "INSERT OR IGNORE INTO feed_state "
	    "(id) VALUES (1)", NULL)));
}

/*
 * A new feed URL starts afresh: its serials are its own.  The validators
 * and the serial of the old one are dropped.
 */
int
db_feed_reset(struct db *db, const char *url)
{
	if (db_feed_row(db) == -1)
		return (-1);
	return (db_feed_done(db_exec(db, "UPDATE feed_state SET url = ?, "
	    "serial = NULL, index_sha256 = NULL, expires = NULL, etag = NULL, "
	    "last_modified = NULL, failures = 0 WHERE id = 1", "s", url)));
}

/* An index passed its checks: this serial is the floor from now on. */
int
db_feed_accept(struct db *db, uint64_t serial, const uint8_t *sha,
    int64_t expires)
{
	if (db_feed_row(db) == -1)
		return (-1);
	return (db_feed_done(db_exec(db, "UPDATE feed_state SET serial = ?, "
	    "index_sha256 = ?, expires = ? WHERE id = 1", "ibi",
	    (int64_t)serial, sha, (size_t)SHA256_LEN, expires)));
}

/*
 * How a fetch ended: error NULL for success, which also keeps the
 * validators of the index it processed in full (NULL ones clear them,
 * so that the next GET is unconditional); last_error stays, for status.
 */
int
db_feed_outcome(struct db *db, uint64_t now, const char *error, int failures,
    const char *etag, const char *last_modified)
{
	if (db_feed_row(db) == -1)
		return (-1);
	if (error != NULL)
		return (db_feed_done(db_exec(db, "UPDATE feed_state SET "
		    "last_fetch = ?, last_error = ?, failures = ? WHERE id = 1",
		    "usd", now, error, failures)));
	return (db_feed_done(db_exec(db, "UPDATE feed_state SET "
	    "last_fetch = ?, last_ok = ?, failures = 0, etag = ?, "
	    "last_modified = ? WHERE id = 1", "uuss", now, now, etag,
	    last_modified)));
}
