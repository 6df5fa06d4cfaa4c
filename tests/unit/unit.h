/*
 * A small frame for the CUnit tests: each test file lists its tests in a
 * NULL-terminated CU_TestInfo array and calls unit_main() with it.  The run
 * fails (exit 1) when any assertion fails, so make check sees it.
 */
#ifndef FC_UNIT_H
#define FC_UNIT_H

#include <stdio.h>
#include <stdlib.h>

#ifdef FC_NO_CUNIT
#error "the unit tests need CUnit: install the Debian package libcunit1-dev (or run scripts/install-deps), then configure again"
#endif
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>

static inline int
unit_main(const char *suite, CU_TestInfo *tests)
{
	CU_SuiteInfo	suites[] = {
		{ (char *)suite, NULL, NULL, NULL, NULL, tests },
		CU_SUITE_INFO_NULL,
	};
	unsigned	failed;

	if (CU_initialize_registry() != CUE_SUCCESS)
		return (1);
	if (CU_register_suites(suites) != CUE_SUCCESS) {
		fprintf(stderr, "%s\n", CU_get_error_msg());
		return (1);
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failed = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
	if (CU_get_number_of_tests_run() == 0)
		failed = 1;
	CU_cleanup_registry();
	return (failed == 0 ? 0 : 1);
}

#endif
