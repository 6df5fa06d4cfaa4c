# tests/: CUnit unit tests, integration tests, fuzz targets.
UNIT_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(OPENSSL_CFLAGS)
UNIT_LIBS = $(COMMON_LIBS) $(CUNIT_LIBS)

check_PROGRAMS += tests/unit/test_wire
TESTS += tests/unit/test_wire
tests_unit_test_wire_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_wire_SOURCES = tests/unit/test_wire.c tests/unit/unit.h
tests_unit_test_wire_LDADD = $(UNIT_LIBS)
