# common/pkg.mk: the signed package format (.fcpkg), PSK files, their unit
# tests and the shell test of `fleetcast key` / `fleetcast package`.
common_libcommon_a_SOURCES += \
	common/pkg.h \
	common/pkg_manifest.c \
	common/pkg_cond.c \
	common/pkg_build.c \
	common/pkg_read.c \
	common/psk.c common/psk.h

# Unit tests.  test_pkg_large builds a package past 2 GiB (sparse, fast).
PKG_TEST_CFLAGS = $(UNIT_CFLAGS) $(JANSSON_CFLAGS) $(LIBARCHIVE_CFLAGS)
check_PROGRAMS += tests/unit/test_pkg_manifest tests/unit/test_pkg \
	tests/unit/test_pkg_large
TESTS += tests/unit/test_pkg_manifest tests/unit/test_pkg \
	tests/unit/test_pkg_large
tests_unit_test_pkg_manifest_CFLAGS = $(PKG_TEST_CFLAGS)
tests_unit_test_pkg_manifest_SOURCES = tests/unit/test_pkg_manifest.c \
	tests/unit/unit.h
tests_unit_test_pkg_manifest_LDADD = $(UNIT_LIBS)
tests_unit_test_pkg_CFLAGS = $(PKG_TEST_CFLAGS)
tests_unit_test_pkg_SOURCES = tests/unit/test_pkg.c tests/unit/unit.h
tests_unit_test_pkg_LDADD = $(UNIT_LIBS)
tests_unit_test_pkg_large_CFLAGS = $(PKG_TEST_CFLAGS)
tests_unit_test_pkg_large_SOURCES = tests/unit/test_pkg_large.c \
	tests/unit/unit.h
tests_unit_test_pkg_large_LDADD = $(UNIT_LIBS)

# The CLI test.  AM_TESTS_ENVIRONMENT may be set only once in the whole
# Makefile: it is set here, for every test script of the tree.
AM_TESTS_ENVIRONMENT = top_builddir=$(abs_top_builddir) \
	top_srcdir=$(abs_top_srcdir); export top_builddir top_srcdir;
TESTS += tests/integration/package_cli.sh
# Every command answers --help (SPEC.md).
TESTS += tests/integration/cli_help.sh
# Scratch-directory and agent-database helpers shared by the unit tests.
EXTRA_DIST += tests/unit/unit_tmp.h tests/unit/unit_state.h
