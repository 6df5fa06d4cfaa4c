/*
 * Tests for the next-boot queue (MISSION.md S10-S13): the cap of 100 and
 * its exact refusal message, queue order, entries becoming due only under
 * another boot id, the queue surviving a close and reopen (a restart of
 * the agent), and the cap opening again once the queue is drained.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "unit_state.h"

/* Fill the queue to the cap under boot "A", all delivered. */
static void
fill(struct state *st, uint64_t first, size_t n, const char *boot)
{
	char	err[512];
	size_t	i;

	for (i = 0; i < n; i++) {
		CU_ASSERT_FATAL(pending_reserve(st, first + i,
		    PENDING_NEXT_BOOT, boot, err, sizeof(err)) == 0);
		CU_ASSERT_FATAL(pending_commit(st, first + i, boot, err,
		    sizeof(err)) == 0);
	}
}

static void
test_cap(void)
{
	struct state	*st = unit_state_fresh("test_pending");
	char		 err[512];
	size_t		 n;

	fill(st, 1, CTL_PENDING_CAP, "A");
	CU_ASSERT(pending_count(st, &n, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(n, 100);
	/* The 101st is refused with exactly the documented sentence. */
	CU_ASSERT(pending_reserve(st, 101, PENDING_NEXT_BOOT, "A", err,
	    sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, "pending next-boot limit reached (100); "
	    "restart the machine to apply pending updates");
	CU_ASSERT(pending_count(st, &n, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(n, 100);
	/* A repeated ASSIGN of a queued run keeps its place, no error. */
	CU_ASSERT(pending_reserve(st, 50, PENDING_NEXT_BOOT, "A", err,
	    sizeof(err)) == 0);
	CU_ASSERT(pending_count(st, &n, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(n, 100);
	/* Still refused after a restart of the agent in the same boot. */
	st = unit_state_reopen(st);
	CU_ASSERT(pending_reserve(st, 101, PENDING_NEXT_BOOT, "A", err,
	    sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, PENDING_FULL_MSG);
	state_close(st);
}

/* Reservations count against the cap before their packages arrive. */
static void
test_reservations_count(void)
{
	struct state	*st = unit_state_fresh("test_pending");
	char		 err[512];
	uint64_t	 i;

	for (i = 1; i <= CTL_PENDING_CAP; i++)
		CU_ASSERT_FATAL(pending_reserve(st, i, PENDING_NEXT_BOOT, "A",
		    err, sizeof(err)) == 0);
	CU_ASSERT(pending_reserve(st, 1000, PENDING_NEXT_BOOT, "A", err,
	    sizeof(err)) == -1);
	/* A run that gives up its place makes room for one more. */
	CU_ASSERT(pending_remove(st, 7, err, sizeof(err)) == 0);
	CU_ASSERT(pending_reserve(st, 1000, PENDING_NEXT_BOOT, "A", err,
	    sizeof(err)) == 0);
	CU_ASSERT(pending_reserve(st, 1001, PENDING_NEXT_BOOT, "A", err,
	    sizeof(err)) == -1);
	state_close(st);
}

static void
test_due_only_after_boot_change(void)
{
	struct state		*st = unit_state_fresh("test_pending");
	struct pending_entry	 e;
	char			 err[512];

	fill(st, 10, 3, "A");
	/* A reserved entry never becomes due by itself. */
	CU_ASSERT(pending_reserve(st, 99, PENDING_NEXT_BOOT, "A", err,
	    sizeof(err)) == 0);
	CU_ASSERT(pending_next_due(st, "A", &e, err, sizeof(err)) == 0);
	CU_ASSERT(pending_busy(st, "A", err, sizeof(err)) == 0);
	CU_ASSERT(pending_next_due(st, "B", &e, err, sizeof(err)) == 1);
	CU_ASSERT_EQUAL(e.run_id, 10);
	CU_ASSERT_EQUAL(e.state, PENDING_QUEUED);
	CU_ASSERT_STRING_EQUAL(e.boot_id, "A");
	CU_ASSERT(pending_busy(st, "B", err, sizeof(err)) == 1);
	state_close(st);
}

/* Committing records the boot of the delivery, not of the reservation. */
static void
test_commit_boot(void)
{
	struct state		*st = unit_state_fresh("test_pending");
	struct pending_entry	 e;
	char			 err[512];

	CU_ASSERT(pending_reserve(st, 5, PENDING_NEXT_BOOT, "A", err,
	    sizeof(err)) == 0);
	CU_ASSERT(pending_commit(st, 5, "B", err, sizeof(err)) == 0);
	CU_ASSERT(pending_next_due(st, "B", &e, err, sizeof(err)) == 0);
	CU_ASSERT(pending_next_due(st, "C", &e, err, sizeof(err)) == 1);
	CU_ASSERT(pending_commit(st, 6, "B", err, sizeof(err)) == -1);
	CU_ASSERT(strstr(err, "no place") != NULL);
	state_close(st);
}

/*
 * A restart under a new boot id drains the queue in order (a run being
 * applied when the agent stopped comes first again), S12 holds while
 * entries are due, and the cap has room for 100 more afterwards.
 */
static void
test_drain_order_and_reopen(void)
{
	struct state		*st = unit_state_fresh("test_pending");
	struct pending_entry	 e;
	char			 err[512];
	uint64_t		 want;
	size_t			 n;

	fill(st, 1, CTL_PENDING_CAP, "A");
	st = unit_state_reopen(st);
	CU_ASSERT(pending_next_due(st, "B", &e, err, sizeof(err)) == 1);
	CU_ASSERT_EQUAL(e.run_id, 1);
	CU_ASSERT(pending_set_running(st, 1, err, sizeof(err)) == 0);
	/* The agent is killed while run 1 is applied, and restarts. */
	st = unit_state_reopen(st);
	CU_ASSERT(pending_next_due(st, "B", &e, err, sizeof(err)) == 1);
	CU_ASSERT_EQUAL(e.run_id, 1);
	CU_ASSERT_EQUAL(e.state, PENDING_RUNNING);
	for (want = 1; want <= CTL_PENDING_CAP; want++) {
		CU_ASSERT(pending_busy(st, "B", err, sizeof(err)) == 1);
		CU_ASSERT_FATAL(pending_next_due(st, "B", &e, err,
		    sizeof(err)) == 1);
		CU_ASSERT_EQUAL(e.run_id, want);
		CU_ASSERT(pending_remove(st, e.run_id, err, sizeof(err)) == 0);
	}
	CU_ASSERT(pending_busy(st, "B", err, sizeof(err)) == 0);
	CU_ASSERT(pending_count(st, &n, err, sizeof(err)) == 0);
	CU_ASSERT_EQUAL(n, 0);
	fill(st, 201, CTL_PENDING_CAP, "B");
	CU_ASSERT(pending_reserve(st, 301, PENDING_NEXT_BOOT, "B", err,
	    sizeof(err)) == -1);
	CU_ASSERT_STRING_EQUAL(err, PENDING_FULL_MSG);
	/* Order is by acceptance, whatever the run ids. */
	CU_ASSERT(pending_next_due(st, "C", &e, err, sizeof(err)) == 1);
	CU_ASSERT_EQUAL(e.run_id, 201);
	state_close(st);
}

/* Exclusive entries wait in the same queue and keep their kind. */
static void
test_kind(void)
{
	struct state		*st = unit_state_fresh("test_pending");
	struct pending_entry	 e;
	char			 err[512];

	CU_ASSERT(pending_reserve(st, 3, PENDING_EXCLUSIVE, "A", err,
	    sizeof(err)) == 0);
	CU_ASSERT(pending_commit(st, 3, "A", err, sizeof(err)) == 0);
	CU_ASSERT(pending_get(st, 3, &e, err, sizeof(err)) == 1);
	CU_ASSERT_EQUAL(e.kind, PENDING_EXCLUSIVE);
	CU_ASSERT(pending_get(st, 4, &e, err, sizeof(err)) == 0);
	/* They do not count against the cap of at-next-boot scenarios. */
	fill(st, 10, CTL_PENDING_CAP, "A");
	CU_ASSERT(pending_reserve(st, 500, PENDING_NEXT_BOOT, "A", err,
	    sizeof(err)) == -1);
	CU_ASSERT(pending_reserve(st, 501, PENDING_EXCLUSIVE, "A", err,
	    sizeof(err)) == 0);
	/* The queue keeps one order for both kinds. */
	CU_ASSERT(pending_next_due(st, "B", &e, err, sizeof(err)) == 1);
	CU_ASSERT_EQUAL(e.run_id, 3);
	state_close(st);
}

int
main(void)
{
	CU_TestInfo	tests[] = {
		{ "cap of 100, exact message", test_cap },
		{ "reservations count", test_reservations_count },
		{ "due only after a boot change", test_due_only_after_boot_change },
		{ "commit records the delivery boot", test_commit_boot },
		{ "drain in order across restarts", test_drain_order_and_reopen },
		{ "exclusive entries, not capped", test_kind },
		CU_TEST_INFO_NULL,
	};
	int	rv;

	rv = unit_main("pending", tests);
	(void)unit_tmpdir_remove();
	return (rv);
}
