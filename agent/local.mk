# agent/: fleetcast-agent, its unit tests, integration tests and docs.
AGENT_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(OPENSSL_CFLAGS) $(LIBARCHIVE_CFLAGS) $(JANSSON_CFLAGS)

sbin_PROGRAMS += agent/fleetcast-agent
agent_fleetcast_agent_CFLAGS = $(AGENT_CFLAGS)
agent_fleetcast_agent_SOURCES = \
	agent/agent.h \
	agent/fleetcast-agent.c \
	agent/facts.c \
	agent/state.c \
	agent/pending.c \
	agent/applic.c \
	agent/exec.c \
	agent/conn.c \
	agent/run.c
agent_fleetcast_agent_LDADD = $(COMMON_LIBS) $(SQLITE_LIBS)

# Unit tests: each links its module (and what it stands on) plus libcommon.
AGENT_TEST_CFLAGS = $(UNIT_CFLAGS) $(SQLITE_CFLAGS) $(LIBEVENT_CFLAGS) \
	-I$(top_srcdir)/agent
check_PROGRAMS += tests/unit/test_state tests/unit/test_pending \
	tests/unit/test_applic tests/unit/test_exec
TESTS += tests/unit/test_state tests/unit/test_pending tests/unit/test_applic \
	tests/unit/test_exec
tests_unit_test_state_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_state_SOURCES = tests/unit/test_state.c tests/unit/unit.h \
	agent/state.c
tests_unit_test_state_LDADD = $(UNIT_LIBS) $(SQLITE_LIBS)
tests_unit_test_pending_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_pending_SOURCES = tests/unit/test_pending.c tests/unit/unit.h \
	agent/pending.c agent/state.c
tests_unit_test_pending_LDADD = $(UNIT_LIBS) $(SQLITE_LIBS)
tests_unit_test_applic_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_applic_SOURCES = tests/unit/test_applic.c tests/unit/unit.h \
	agent/applic.c agent/facts.c
tests_unit_test_applic_LDADD = $(UNIT_LIBS)
tests_unit_test_exec_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_exec_SOURCES = tests/unit/test_exec.c tests/unit/unit.h \
	agent/exec.c
tests_unit_test_exec_LDADD = $(UNIT_LIBS)

# Integration tests: a real fleetcastd and real agents in private network
# and mount namespaces (root and unshare; outside CI they skip with 77).
TESTS += \
	tests/integration/agent_immediate.sh \
	tests/integration/agent_nextboot.sh \
	tests/integration/agent_cap.sh \
	tests/integration/agent_hooks.sh \
	tests/integration/agent_crash.sh \
	tests/integration/agent_fulldisk.sh \
	tests/integration/agent_enroll.sh

dist_man_MANS += doc/fleetcast-agent.8
dist_examples_DATA += doc/fleetcast-agent.conf.example
