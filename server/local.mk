# server/: fleetcastd, and the control-channel codec it shares with the
# agent (common/ctl.c goes into libcommon from here, so that common/local.mk
# stays untouched by this part).
common_libcommon_a_SOURCES += common/ctl.c common/ctl.h

# fleetcastd is a system daemon: sbin.  The scheduler (server/sched.c) is
# another part's module, compiled in here.
sbin_PROGRAMS += server/fleetcastd
server_fleetcastd_CFLAGS = $(AM_CFLAGS) \
	$(OPENSSL_CFLAGS) $(LIBEVENT_CFLAGS) $(SQLITE_CFLAGS) $(JANSSON_CFLAGS) \
	$(LIBARCHIVE_CFLAGS)
server_fleetcastd_SOURCES = \
	server/server.h \
	server/fleetcastd.c \
	server/db.c \
	server/ca.c \
	server/control.c \
	server/api.c \
	server/runs.c \
	server/auto.c \
	server/sched.c server/sched.h
server_fleetcastd_LDADD = $(COMMON_LIBS) $(SQLITE_LIBS)

# Unit tests of the server's modules.
SERVER_TEST_CFLAGS = $(UNIT_CFLAGS) -iquote $(top_srcdir)/server $(SQLITE_CFLAGS) \
	$(JANSSON_CFLAGS) $(LIBEVENT_CFLAGS)
check_PROGRAMS += tests/unit/test_db
TESTS += tests/unit/test_db
tests_unit_test_db_CFLAGS = $(SERVER_TEST_CFLAGS)
tests_unit_test_db_SOURCES = tests/unit/test_db.c tests/unit/unit.h \
	server/db.c server/server.h
tests_unit_test_db_LDADD = $(UNIT_LIBS) $(SQLITE_LIBS)

# End to end: fleetcastd, the CLI and a scripted agent in a network
# namespace (root only, skipped otherwise).
check_PROGRAMS += tests/unit/test_api
TESTS += tests/unit/test_api
tests_unit_test_api_CFLAGS = $(UNIT_CFLAGS) $(JANSSON_CFLAGS) \
	$(LIBEVENT_CFLAGS)
tests_unit_test_api_SOURCES = tests/unit/test_api.c tests/unit/unit.h
tests_unit_test_api_LDADD = $(UNIT_LIBS)

check_PROGRAMS += tests/unit/test_ctl
TESTS += tests/unit/test_ctl
tests_unit_test_ctl_CFLAGS = $(UNIT_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_ctl_SOURCES = tests/unit/test_ctl.c tests/unit/unit.h
tests_unit_test_ctl_LDADD = $(UNIT_LIBS)

# Fuzz target for the control-channel decoder: with --enable-fuzzing a
# libFuzzer program that make check runs briefly on a copy of its seed
# corpus, otherwise a plain program replaying the corpus (and every
# truncation and some byte flips of each seed).
if FUZZING
check_PROGRAMS += tests/fuzz/fuzz_ctl
TESTS += tests/fuzz/run-fuzz-ctl.sh
tests_fuzz_fuzz_ctl_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS) -DFUZZING \
	-fsanitize=fuzzer
tests_fuzz_fuzz_ctl_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
# The decoder itself is compiled into the target so that libFuzzer sees
# its coverage (libcommon.a is built without instrumentation).
tests_fuzz_fuzz_ctl_SOURCES = tests/fuzz/fuzz_ctl.c common/ctl.c common/wire.c
else
tests_fuzz_fuzz_ctl_SOURCES = tests/fuzz/fuzz_ctl.c
check_PROGRAMS += tests/fuzz/fuzz_ctl
TESTS += tests/fuzz/fuzz_ctl
tests_fuzz_fuzz_ctl_CFLAGS = $(AM_CFLAGS) $(LIBEVENT_CFLAGS)
endif
tests_fuzz_fuzz_ctl_LDADD = $(COMMON_LIBS)
EXTRA_DIST += tests/fuzz/run-fuzz-ctl.sh

dist_doc_DATA += doc/control-protocol.md
dist_man_MANS += doc/fleetcastd.8
dist_examples_DATA += doc/fleetcastd.conf.example

# Scheduling end to end with the real agent (uses agent_lib.sh; root and
# network namespaces, skipped otherwise outside CI).
TESTS += tests/integration/server_sched.sh

# The unicast fallback across a router (issue #6): fleetcastd and six real
# agents in the routed namespace lab (tests/lab/lab.sh); root only,
# skipped otherwise outside CI.
TESTS += tests/integration/unicast_routed.sh \
	tests/integration/unicast_fallback.sh
