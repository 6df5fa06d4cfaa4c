/*
 * The inventory's feed state (server/db_feed.c): a new database has no
 * accepted index; an accepted serial, its hash and expiry survive a
 * close and reopen (the floor a rollback is judged against); a failed
 * fetch keeps the validators and the serial and counts the failures, a
 * successful one stores its validators and keeps the last error for
 * status; a new feed URL starts afresh.
 */
#include <string.h>

#include "server.h"
#include "unit.h"
#include "unit_tmp.h"

static struct db *
reopen(struct db *db)
{
	char	err[256];

	if (db != NULL)
		db_close(db);
	db = db_open(unit_path("fleetcast.db"), err, sizeof(err));
	CU_ASSERT_PTR_NOT_NULL_FATAL(db);
	return (db);
}

static void
test_feed_state(void)
{
	struct db_feed_state	 fs;
	struct db		*db;
	uint8_t			 sha[SHA256_LEN];

	CU_ASSERT_FATAL(unit_tmpdir("test_db_feed") == 0);
	db = reopen(NULL);
	CU_ASSERT_EQUAL(db_feed_get(db, &fs), 0);
	CU_ASSERT_FALSE(fs.have_serial);
	CU_ASSERT_PTR_NULL(fs.url);
	db_feed_clear(&fs);

	memset(sha, 0x42, sizeof(sha));
	CU_ASSERT_EQUAL(db_feed_reset(db, "https://a/feed.json"), 0);
	CU_ASSERT_EQUAL(db_feed_accept(db, 12, sha, 1767225600), 0);
	CU_ASSERT_EQUAL(db_feed_outcome(db, 5000, NULL, 0, "\"etag-1\"",
	    "Thu, 01 Jan 2026 00:00:00 GMT"), 0);
	db = reopen(db);
	CU_ASSERT_EQUAL(db_feed_get(db, &fs), 0);
	CU_ASSERT_STRING_EQUAL(fs.url, "https://a/feed.json");
	CU_ASSERT_TRUE(fs.have_serial);
	CU_ASSERT_EQUAL(fs.serial, 12);
	CU_ASSERT_TRUE(fs.have_sha);
	CU_ASSERT_EQUAL(memcmp(fs.index_sha256, sha, SHA256_LEN), 0);
	CU_ASSERT_EQUAL(fs.expires, 1767225600);
	CU_ASSERT_STRING_EQUAL(fs.etag, "\"etag-1\"");
	CU_ASSERT_EQUAL(fs.last_ok, 5000);
	CU_ASSERT_PTR_NULL(fs.last_error);
	db_feed_clear(&fs);

	/* A failure: counted, the error kept, serial and validators too. */
	CU_ASSERT_EQUAL(db_feed_outcome(db, 6000, "index refused: x", 3, NULL,
	    NULL), 0);
	CU_ASSERT_EQUAL(db_feed_get(db, &fs), 0);
	CU_ASSERT_EQUAL(fs.failures, 3);
	CU_ASSERT_STRING_EQUAL(fs.last_error, "index refused: x");
	CU_ASSERT_EQUAL(fs.last_fetch, 6000);
	CU_ASSERT_EQUAL(fs.last_ok, 5000);
	CU_ASSERT_EQUAL(fs.serial, 12);
	CU_ASSERT_STRING_EQUAL(fs.etag, "\"etag-1\"");
	db_feed_clear(&fs);

	/* A success after it: failures back to 0, the last error stays. */
	CU_ASSERT_EQUAL(db_feed_outcome(db, 7000, NULL, 0, NULL, NULL), 0);
	CU_ASSERT_EQUAL(db_feed_get(db, &fs), 0);
	CU_ASSERT_EQUAL(fs.failures, 0);
	CU_ASSERT_EQUAL(fs.last_ok, 7000);
	CU_ASSERT_PTR_NULL(fs.etag);
	CU_ASSERT_STRING_EQUAL(fs.last_error, "index refused: x");
	db_feed_clear(&fs);

	/* Another feed: its serials are its own. */
	CU_ASSERT_EQUAL(db_feed_reset(db, "https://b/feed.json"), 0);
	CU_ASSERT_EQUAL(db_feed_get(db, &fs), 0);
	CU_ASSERT_STRING_EQUAL(fs.url, "https://b/feed.json");
	CU_ASSERT_FALSE(fs.have_serial);
	CU_ASSERT_FALSE(fs.have_sha);
	CU_ASSERT_EQUAL(fs.expires, 0);
	db_feed_clear(&fs);
	db_close(db);
	CU_ASSERT(unit_tmpdir_remove() == 0);
}

int
main(void)
{
	CU_TestInfo	tests[] = {
		{ "feed state", test_feed_state },
		CU_TEST_INFO_NULL,
	};

	return (unit_main("db_feed", tests));
}
