# tests/: every test of the tree is registered here.  CUnit unit tests in
# tests/unit/ link their module plus libcommon; integration tests in
# tests/integration/ run the real programs in private network namespaces
# (root and unshare; outside CI they skip with 77); fuzz targets in
# tests/fuzz/ replay their seed corpora (or fuzz briefly with
# --enable-fuzzing).

# AM_TESTS_ENVIRONMENT may be set only once in the whole Makefile.
AM_TESTS_ENVIRONMENT = top_builddir=$(abs_top_builddir) \
	top_srcdir=$(abs_top_srcdir); export top_builddir top_srcdir;

UNIT_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(OPENSSL_CFLAGS)
UNIT_LIBS = $(COMMON_LIBS) $(CUNIT_LIBS)
# Scratch-directory, agent-database, loopback-peer, log-capture and loop
# helpers shared by the unit tests (header-only).
EXTRA_DIST += tests/unit/unit_tmp.h tests/unit/unit_state.h tests/unit/xpeer.h \
	tests/unit/unit_log.h tests/unit/unit_loop.h

## common/: codecs, config, crypto.
check_PROGRAMS += tests/unit/test_wire tests/unit/test_conf tests/unit/test_crypto
TESTS += tests/unit/test_wire tests/unit/test_conf tests/unit/test_crypto
tests_unit_test_wire_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_wire_SOURCES = tests/unit/test_wire.c tests/unit/unit.h
tests_unit_test_wire_LDADD = $(UNIT_LIBS)
tests_unit_test_conf_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_conf_SOURCES = tests/unit/test_conf.c tests/unit/unit.h
tests_unit_test_conf_LDADD = $(UNIT_LIBS)
tests_unit_test_crypto_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_crypto_SOURCES = tests/unit/test_crypto.c tests/unit/unit.h
tests_unit_test_crypto_LDADD = $(UNIT_LIBS)
# Escaping a peer's words (issue #12).
check_PROGRAMS += tests/unit/test_vis
TESTS += tests/unit/test_vis
tests_unit_test_vis_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_vis_SOURCES = tests/unit/test_vis.c tests/unit/unit.h
tests_unit_test_vis_LDADD = $(UNIT_LIBS)

## common/pkg_*: the package format.  test_pkg_large builds a package past
## 2 GiB (sparse, fast).
PKG_TEST_CFLAGS = $(UNIT_CFLAGS) $(JANSSON_CFLAGS) $(LIBARCHIVE_CFLAGS)
check_PROGRAMS += tests/unit/test_pkg_manifest tests/unit/test_pkg \
	tests/unit/test_pkg_large tests/unit/test_pkg_stream
TESTS += tests/unit/test_pkg_manifest tests/unit/test_pkg \
	tests/unit/test_pkg_large tests/unit/test_pkg_stream
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
tests_unit_test_pkg_stream_CFLAGS = $(PKG_TEST_CFLAGS)
tests_unit_test_pkg_stream_SOURCES = tests/unit/test_pkg_stream.c \
	tests/unit/unit.h
tests_unit_test_pkg_stream_LDADD = $(UNIT_LIBS)

## common/feed_index.c: the package feed's index, its signature and checks.
check_PROGRAMS += tests/unit/test_feed
TESTS += tests/unit/test_feed
tests_unit_test_feed_CFLAGS = $(UNIT_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_feed_SOURCES = tests/unit/test_feed.c tests/unit/unit.h
tests_unit_test_feed_LDADD = $(UNIT_LIBS)

## common/: the multicast transport.  test_xsend and test_xrecv script the
## other side over unicast loopback; test_xresume runs a real sender and
## receiver (doc/protocol.md, Skipping held blocks).
check_PROGRAMS += tests/unit/test_proto tests/unit/test_fec tests/unit/test_udp \
	tests/unit/test_xrecv tests/unit/test_xsend tests/unit/test_xresume
TESTS += tests/unit/test_proto tests/unit/test_fec tests/unit/test_udp \
	tests/unit/test_xrecv tests/unit/test_xsend tests/unit/test_xresume
tests_unit_test_proto_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_proto_SOURCES = tests/unit/test_proto.c tests/unit/unit.h
tests_unit_test_proto_LDADD = $(UNIT_LIBS)
tests_unit_test_fec_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_fec_SOURCES = tests/unit/test_fec.c tests/unit/unit.h
tests_unit_test_fec_LDADD = $(UNIT_LIBS)
tests_unit_test_udp_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_udp_SOURCES = tests/unit/test_udp.c tests/unit/unit.h
tests_unit_test_udp_LDADD = $(UNIT_LIBS)
tests_unit_test_xrecv_CFLAGS = $(UNIT_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_xrecv_SOURCES = tests/unit/test_xrecv.c tests/unit/unit.h
tests_unit_test_xrecv_LDADD = $(UNIT_LIBS)
tests_unit_test_xsend_CFLAGS = $(UNIT_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_xsend_SOURCES = tests/unit/test_xsend.c tests/unit/unit.h
tests_unit_test_xsend_LDADD = $(UNIT_LIBS)
tests_unit_test_xresume_CFLAGS = $(UNIT_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_xresume_SOURCES = tests/unit/test_xresume.c tests/unit/unit.h
tests_unit_test_xresume_LDADD = $(UNIT_LIBS)
## The sender's rate control and proactive parity on virtual time.
check_PROGRAMS += tests/unit/test_xsend_rate
TESTS += tests/unit/test_xsend_rate
tests_unit_test_xsend_rate_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_xsend_rate_SOURCES = tests/unit/test_xsend_rate.c \
	tests/unit/unit.h
tests_unit_test_xsend_rate_LDADD = $(UNIT_LIBS)

## common/ctl.c: the control-channel codec.
check_PROGRAMS += tests/unit/test_ctl
TESTS += tests/unit/test_ctl
tests_unit_test_ctl_CFLAGS = $(UNIT_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_ctl_SOURCES = tests/unit/test_ctl.c tests/unit/unit.h
tests_unit_test_ctl_LDADD = $(UNIT_LIBS)

## server/: the inventory database, the agent channel, the scheduler and the
## simulator.
SERVER_TEST_CFLAGS = $(UNIT_CFLAGS) -iquote $(top_srcdir)/server $(SQLITE_CFLAGS) \
	$(JANSSON_CFLAGS) $(LIBEVENT_CFLAGS)
check_PROGRAMS += tests/unit/test_db tests/unit/test_sched tests/unit/test_sim
TESTS += tests/unit/test_db tests/unit/test_sched tests/unit/test_sim
tests_unit_test_db_CFLAGS = $(SERVER_TEST_CFLAGS)
tests_unit_test_db_SOURCES = tests/unit/test_db.c tests/unit/unit.h \
	$(DB_SOURCES) server/scenario.c server/sched.c server/sched_group.c server/server.h
tests_unit_test_db_LDADD = $(UNIT_LIBS) $(SQLITE_LIBS)
# The feed's state in the inventory (server/db_feed.c, issue #16).
check_PROGRAMS += tests/unit/test_db_feed
TESTS += tests/unit/test_db_feed
tests_unit_test_db_feed_CFLAGS = $(SERVER_TEST_CFLAGS)
tests_unit_test_db_feed_SOURCES = tests/unit/test_db_feed.c tests/unit/unit.h \
	$(DB_SOURCES) server/scenario.c server/sched.c server/sched_group.c server/server.h
tests_unit_test_db_feed_LDADD = $(UNIT_LIBS) $(SQLITE_LIBS)
# test_control includes server/control.c to reach its static fsm.
check_PROGRAMS += tests/unit/test_control
TESTS += tests/unit/test_control
tests_unit_test_control_CFLAGS = $(SERVER_TEST_CFLAGS)
tests_unit_test_control_SOURCES = tests/unit/test_control.c tests/unit/unit.h \
	$(DB_SOURCES) server/ca.c server/scenario.c server/sched.c server/sched_group.c \
	server/server.c server/server.h
tests_unit_test_control_LDADD = $(UNIT_LIBS) $(SQLITE_LIBS)
tests_unit_test_sched_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/server
tests_unit_test_sched_SOURCES = tests/unit/test_sched.c tests/unit/unit.h \
	server/sched.c server/sched_group.c server/sched.h
tests_unit_test_sched_LDADD = $(UNIT_LIBS)
tests_unit_test_sim_CFLAGS = $(UNIT_CFLAGS) $(JANSSON_CFLAGS) \
	-I$(top_srcdir)/server
tests_unit_test_sim_SOURCES = tests/unit/test_sim.c tests/unit/unit.h \
	$(SIM_SOURCES)
tests_unit_test_sim_LDADD = $(UNIT_LIBS) -lm
## test_auto: automatic update (server/auto.c) on a real inventory, with
## the runs recorded (the test defines runs_create_sc and runs_machine_busy)
## and a fake wall clock.
check_PROGRAMS += tests/unit/test_auto
TESTS += tests/unit/test_auto
tests_unit_test_auto_CFLAGS = $(SERVER_TEST_CFLAGS)
tests_unit_test_auto_SOURCES = tests/unit/test_auto.c tests/unit/unit.h \
	tests/unit/unit_tmp.h server/auto.c $(DB_SOURCES) server/scenario.c \
	server/sched.c server/sched_group.c server/server.c server/server.h
tests_unit_test_auto_LDADD = $(UNIT_LIBS) $(SQLITE_LIBS)
## test_xfer: the transfers' state machine, with a fake sender (the test
## defines the xsend_* functions xfer.c calls) and fake callbacks.
check_PROGRAMS += tests/unit/test_xfer
TESTS += tests/unit/test_xfer
tests_unit_test_xfer_CFLAGS = $(UNIT_CFLAGS) $(LIBEVENT_CFLAGS) \
	-iquote $(top_srcdir)/server
tests_unit_test_xfer_SOURCES = tests/unit/test_xfer.c tests/unit/unit.h \
	server/xfer.c server/server.h
tests_unit_test_xfer_LDADD = $(UNIT_LIBS)

## agent/: each test links its module (and what it stands on).
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
	agent/applic.c agent/facts.c agent/state.c agent/exec.c
tests_unit_test_applic_LDADD = $(UNIT_LIBS) $(SQLITE_LIBS)
tests_unit_test_exec_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_exec_SOURCES = tests/unit/test_exec.c tests/unit/unit.h \
	agent/exec.c
tests_unit_test_exec_LDADD = $(UNIT_LIBS)
## test_run: the run and transfer state machines (run.c, run_recv.c) with
## a fake channel and a fake receiver (the test defines the agent_conn_*
## and xrecv_* functions the runs call, so the linker takes those), real
## packages and real child processes.
AGENT_RUN_SOURCES = agent/run.c agent/run_recv.c agent/run_exec.c \
	agent/run_report.c agent/boot.c agent/run_int.h agent/state.c \
	agent/pending.c agent/applic.c agent/facts.c agent/exec.c \
	agent/upgrade.c
check_PROGRAMS += tests/unit/test_run
TESTS += tests/unit/test_run
tests_unit_test_run_CFLAGS = $(AGENT_TEST_CFLAGS)
tests_unit_test_run_SOURCES = tests/unit/test_run.c tests/unit/unit.h \
	tests/unit/unit_log.h tests/unit/unit_loop.h \
	$(AGENT_RUN_SOURCES)
tests_unit_test_run_LDADD = $(UNIT_LIBS) $(SQLITE_LIBS)
## test_agent_conn: the connection's life (agent_conn_fsm) against a
## scripted TLS server on loopback, with certificates from the server's
## own CA code; it includes agent/agent_conn.c to reach the static fsm.
check_PROGRAMS += tests/unit/test_agent_conn
TESTS += tests/unit/test_agent_conn
tests_unit_test_agent_conn_CFLAGS = $(AGENT_TEST_CFLAGS) \
	-iquote $(top_srcdir)/server
tests_unit_test_agent_conn_SOURCES = tests/unit/test_agent_conn.c \
	tests/unit/unit.h tests/unit/unit_log.h tests/unit/unit_loop.h \
	agent/state.c agent/facts.c agent/exec.c server/ca.c
tests_unit_test_agent_conn_LDADD = $(UNIT_LIBS) $(SQLITE_LIBS)

## Fuzz targets (tests/fuzz/fuzz_NAME.c, seeds in tests/fuzz/corpus/NAME,
## dictionary tests/fuzz/NAME.dict, shared harness tests/fuzz/fuzz.h).  With
## --enable-fuzzing they are libFuzzer programs that make check runs for a
## few seconds each on a copy of their corpus (the test is the dictionary,
## run by run-fuzz.sh), and scripts/fuzz runs for longer; otherwise plain
## programs replaying the corpus.  For libFuzzer the code under test is
## compiled into the target, so that it sees its coverage (libcommon.a is
## not instrumented).  mkseeds writes the binary seeds (see its top).
FUZZ_CFLAGS = $(AM_CFLAGS) -iquote $(top_srcdir)/server $(OPENSSL_CFLAGS) \
	$(LIBEVENT_CFLAGS) $(JANSSON_CFLAGS) $(LIBARCHIVE_CFLAGS)
FUZZ_LINKFLAGS = $(AM_LDFLAGS)
FUZZ_LIBS = $(COMMON_LIBS)
FUZZ_PROGS = tests/fuzz/fuzz_proto tests/fuzz/fuzz_ctl \
	tests/fuzz/fuzz_manifest tests/fuzz/fuzz_pkg tests/fuzz/fuzz_xrstore \
	tests/fuzz/fuzz_conf tests/fuzz/fuzz_cond tests/fuzz/fuzz_pubkey \
	tests/fuzz/fuzz_csr tests/fuzz/fuzz_scenario tests/fuzz/fuzz_xrecv
# The package feed's index (issue #16).
FUZZ_PROGS += tests/fuzz/fuzz_feed
FUZZ_PROGS += tests/fuzz/fuzz_xsend
FUZZ_DICTS = tests/fuzz/proto.dict tests/fuzz/ctl.dict \
	tests/fuzz/manifest.dict tests/fuzz/pkg.dict tests/fuzz/xrstore.dict \
	tests/fuzz/conf.dict tests/fuzz/cond.dict tests/fuzz/pubkey.dict \
	tests/fuzz/csr.dict tests/fuzz/scenario.dict tests/fuzz/xrecv.dict
FUZZ_DICTS += tests/fuzz/feed.dict
FUZZ_DICTS += tests/fuzz/xsend.dict
check_PROGRAMS += $(FUZZ_PROGS) tests/fuzz/mkseeds
TEST_EXTENSIONS = .dict
DICT_LOG_COMPILER = $(SHELL) $(top_srcdir)/tests/fuzz/run-fuzz.sh
if FUZZING
FUZZ_CFLAGS += -DFUZZING -fsanitize=fuzzer,address
FUZZ_LINKFLAGS += -fsanitize=fuzzer,address
TESTS += $(FUZZ_DICTS)
else
TESTS += $(FUZZ_PROGS)
endif
EXTRA_DIST += tests/fuzz/run-fuzz.sh $(FUZZ_DICTS)

tests_fuzz_fuzz_proto_SOURCES = tests/fuzz/fuzz_proto.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_ctl_SOURCES = tests/fuzz/fuzz_ctl.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_manifest_SOURCES = tests/fuzz/fuzz_manifest.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_pkg_SOURCES = tests/fuzz/fuzz_pkg.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_xrstore_SOURCES = tests/fuzz/fuzz_xrstore.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_conf_SOURCES = tests/fuzz/fuzz_conf.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_cond_SOURCES = tests/fuzz/fuzz_cond.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_pubkey_SOURCES = tests/fuzz/fuzz_pubkey.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_xrecv_SOURCES = tests/fuzz/fuzz_xrecv.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_feed_SOURCES = tests/fuzz/fuzz_feed.c tests/fuzz/fuzz.h
tests_fuzz_fuzz_feed_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_feed_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_feed_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_xsend_SOURCES = tests/fuzz/fuzz_xsend.c tests/fuzz/fuzz.h \
	common/xsend.c common/xsend_admit.c common/xsend_rate.c \
	common/xsend_repair.c common/xsend_ring.c common/xsend_sock.c \
	common/proto.c
tests_fuzz_fuzz_xsend_CFLAGS = $(FUZZ_CFLAGS) $(LIBEVENT_CFLAGS)
tests_fuzz_fuzz_xsend_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_xsend_LDADD = $(FUZZ_LIBS)
# server/ code is in no library: these two always compile it in.
tests_fuzz_fuzz_csr_SOURCES = tests/fuzz/fuzz_csr.c tests/fuzz/fuzz.h \
	server/ca.c
tests_fuzz_fuzz_scenario_SOURCES = tests/fuzz/fuzz_scenario.c \
	tests/fuzz/fuzz.h server/scenario.c server/sched.c server/sched_group.c
if FUZZING
tests_fuzz_fuzz_proto_SOURCES += common/proto.c common/wire.c
tests_fuzz_fuzz_ctl_SOURCES += common/ctl.c common/wire.c
tests_fuzz_fuzz_manifest_SOURCES += common/pkg_manifest.c common/pkg_field.c \
	common/pkg_cond.c common/wire.c
tests_fuzz_fuzz_pkg_SOURCES += common/pkg_read.c common/pkg_manifest.c \
	common/pkg_field.c common/pkg_cond.c
tests_fuzz_fuzz_xrstore_SOURCES += common/xrecv_store.c
tests_fuzz_fuzz_conf_SOURCES += common/conf.c
tests_fuzz_fuzz_cond_SOURCES += common/pkg_cond.c common/pkg_field.c \
	common/wire.c
tests_fuzz_fuzz_pubkey_SOURCES += common/crypto.c
tests_fuzz_fuzz_feed_SOURCES += common/feed_index.c
tests_fuzz_fuzz_xrecv_SOURCES += common/xrecv.c common/xrecv_join.c \
	common/xrecv_store.c common/proto.c
endif
tests_fuzz_fuzz_proto_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_ctl_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_manifest_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_pkg_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_xrstore_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_conf_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_cond_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_pubkey_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_csr_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_scenario_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_xrecv_CFLAGS = $(FUZZ_CFLAGS)
tests_fuzz_fuzz_proto_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_ctl_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_manifest_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_pkg_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_xrstore_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_conf_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_cond_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_pubkey_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_csr_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_scenario_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_xrecv_LDFLAGS = $(FUZZ_LINKFLAGS)
tests_fuzz_fuzz_proto_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_ctl_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_manifest_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_pkg_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_xrstore_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_conf_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_cond_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_pubkey_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_csr_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_scenario_LDADD = $(FUZZ_LIBS)
tests_fuzz_fuzz_xrecv_LDADD = $(FUZZ_LIBS)
# The seed writer: a plain program, never a libFuzzer one.
tests_fuzz_mkseeds_SOURCES = tests/fuzz/mkseeds.c tests/fuzz/fuzz.h
tests_fuzz_mkseeds_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(JANSSON_CFLAGS) $(LIBARCHIVE_CFLAGS)
tests_fuzz_mkseeds_LDADD = $(COMMON_LIBS)

## The CLI: `fleetcast key` / `fleetcast package`, and every command's
## --help (SPEC.md); the simulator's golden cases.
TESTS += tests/integration/package_cli.sh tests/integration/cli_help.sh \
	tests/sim/golden.sh
EXTRA_DIST += tests/sim

## End to end: fleetcastd, the CLI and a scripted agent in a network
## namespace (root only, skipped otherwise).  The scripted agent
## (tests/integration/sagent.c) is bench/fakeagents' too.
check_PROGRAMS += tests/integration/test_api
TESTS += tests/integration/test_api
tests_integration_test_api_CFLAGS = $(UNIT_CFLAGS) $(JANSSON_CFLAGS) \
	$(LIBEVENT_CFLAGS) -iquote $(top_srcdir)/tests/unit
tests_integration_test_api_SOURCES = tests/integration/test_api.c \
	tests/integration/sagent.c tests/integration/sagent.h tests/unit/unit.h
tests_integration_test_api_LDADD = $(UNIT_LIBS)

## The transport: real multicast on the loopback of a private network
## namespace; inject sends crafted datagrams.
check_PROGRAMS += tests/integration/inject
tests_integration_inject_SOURCES = tests/integration/inject.c
tests_integration_inject_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_integration_inject_LDADD = $(COMMON_LIBS)
TESTS += \
	tests/integration/transport_clean.sh \
	tests/integration/transport_loss.sh \
	tests/integration/transport_resume.sh \
	tests/integration/transport_resume_new.sh \
	tests/integration/transport_late.sh \
	tests/integration/transport_gate.sh \
	tests/integration/transport_hostile.sh \
	tests/integration/transport_fulldisk.sh \
	tests/integration/transport_fillup.sh \
	tests/integration/transport_drop.sh \
	tests/integration/transport_firewall.sh \
	tests/integration/transport_port.sh
EXTRA_DIST += tests/integration/transport_lib.sh

## The agent with a real fleetcastd (agent_lib.sh), scheduling end to end.
TESTS += \
	tests/integration/agent_immediate.sh \
	tests/integration/agent_nextboot.sh \
	tests/integration/agent_cap.sh \
	tests/integration/agent_hooks.sh \
	tests/integration/agent_crash.sh \
	tests/integration/agent_corrupt_state.sh \
	tests/integration/agent_fulldisk.sh \
	tests/integration/agent_enroll.sh \
	tests/integration/server_sched.sh \
	tests/integration/auto_sp.sh \
	tests/integration/auto_pkg.sh \
	tests/integration/state_lock.sh \
	tests/integration/agent_upgrade.sh \
	tests/integration/machine_power.sh \
	tests/integration/guide_walk.sh
EXTRA_DIST += tests/integration/agent_lib.sh

## Issue #12: a fake server and a stranger at enrollment, idle sockets that
## would keep enrolled agents out (agent_lib.sh).
TESTS += \
	tests/integration/sec_enroll.sh \
	tests/integration/sec_idle.sh

## The unicast path and the fallback across a router, in the routed
## namespace lab (tests/lab/lab.sh, unicast_lib.sh): rerouting, outages of
## the control connection, the server's rate shared by its streams, a
## fallback waiting for a free unicast stream.
TESTS += \
	tests/integration/unicast_routed.sh \
	tests/integration/unicast_fallback.sh \
	tests/integration/unicast_reconnect.sh \
	tests/integration/unicast_share.sh \
	tests/integration/unicast_queue.sh \
	tests/integration/unicast_ports.sh

## The package feed (issue #16): nginx over HTTPS, two servers pulling it.
TESTS += tests/integration/feed.sh

## The lab's quick self-test, and the frame it shares with the benchmark's.
TESTS += tests/integration/lab_selftest.sh
EXTRA_DIST += tests/integration/selftest_lib.sh

## The benchmark's own quick self-test: the blast tool of its limit rows in
## a lab, the tbf bucket choice, mcast-report.py's medians and fractions,
## mcast-throughput's new options (bench/blast must be built for it).
TESTS += tests/integration/bench_selftest.sh

## The web console in Debian's chromium, headless, over the DevTools
## protocol (console.py, cdp.py), with a real server and three agents;
## its screenshots go to tests/browser/shots/ in the build tree.
TESTS += tests/browser/console.sh

## GET /metrics read by prometheus_client's parser as a run goes.
TESTS += tests/integration/metrics.sh

## The API off loopback: refused without TLS, served with it.
TESTS += tests/integration/api_tls.sh
EXTRA_DIST += tests/browser
CLEANFILES += tests/browser/shots/*.png
## Real virtual machines (issue 13): the short form of `fleetcast bench
## vmlab`, 3 QEMU machines with the agent .deb of this tree, cases 1-3, 5.
TESTS += tests/integration/vmlab_short.sh
## Its Ctrl-C check types the interrupt on a pseudo-terminal.
EXTRA_DIST += tests/integration/vmlab_pty.py
## Case 10's comparison with the simulator, on a real run's records.
TESTS += tests/integration/vmlab_sim.sh
EXTRA_DIST += tests/integration/vmlab_sim.run.json \
	tests/integration/vmlab_sim.machines.json
