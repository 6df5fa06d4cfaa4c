# common/mcast.mk: the multicast transport engine (wire format, sockets,
# FEC, sender, receiver), its tests, fuzz target and integration tests.
common_libcommon_a_SOURCES += \
	common/proto.c common/proto.h \
	common/udp.c common/udp.h \
	common/fec.c common/fec.h \
	common/xsend.c common/xsend.h \
	common/xrecv.c common/xrecv.h

check_PROGRAMS += tests/unit/test_proto tests/unit/test_fec tests/unit/test_udp
TESTS += tests/unit/test_proto tests/unit/test_fec tests/unit/test_udp
tests_unit_test_proto_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_proto_SOURCES = tests/unit/test_proto.c tests/unit/unit.h
tests_unit_test_proto_LDADD = $(UNIT_LIBS)
tests_unit_test_fec_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_fec_SOURCES = tests/unit/test_fec.c tests/unit/unit.h
tests_unit_test_fec_LDADD = $(UNIT_LIBS)
tests_unit_test_udp_CFLAGS = $(UNIT_CFLAGS)
tests_unit_test_udp_SOURCES = tests/unit/test_udp.c tests/unit/unit.h
tests_unit_test_udp_LDADD = $(UNIT_LIBS)
# The receiver against a scripted sender over unicast loopback.
check_PROGRAMS += tests/unit/test_xrecv
TESTS += tests/unit/test_xrecv
tests_unit_test_xrecv_CFLAGS = $(UNIT_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_xrecv_SOURCES = tests/unit/test_xrecv.c tests/unit/unit.h
tests_unit_test_xrecv_LDADD = $(UNIT_LIBS)
# The sender against scripted receivers over unicast loopback.
check_PROGRAMS += tests/unit/test_xsend
TESTS += tests/unit/test_xsend
tests_unit_test_xsend_CFLAGS = $(UNIT_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_xsend_SOURCES = tests/unit/test_xsend.c tests/unit/unit.h
tests_unit_test_xsend_LDADD = $(UNIT_LIBS)

# Fuzz target for the datagram decoder: with --enable-fuzzing a libFuzzer
# program that make check runs briefly on a copy of its seed corpus,
# otherwise a plain program replaying the corpus.
if FUZZING
check_PROGRAMS += tests/fuzz/fuzz_proto
TESTS += tests/fuzz/run-fuzz-proto.sh
tests_fuzz_fuzz_proto_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) -DFUZZING \
	-fsanitize=fuzzer,address
tests_fuzz_fuzz_proto_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer,address
# The decoder and the readers it uses are compiled into the target, so
# that libFuzzer sees their coverage (libcommon.a is not instrumented:
# linked from there, the fuzzer was blind; review finding 7).
tests_fuzz_fuzz_proto_SOURCES = tests/fuzz/fuzz_proto.c common/proto.c \
	common/wire.c
else
check_PROGRAMS += tests/fuzz/fuzz_proto
TESTS += tests/fuzz/fuzz_proto
tests_fuzz_fuzz_proto_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
tests_fuzz_fuzz_proto_SOURCES = tests/fuzz/fuzz_proto.c
endif
tests_fuzz_fuzz_proto_LDADD = $(COMMON_LIBS)
EXTRA_DIST += tests/fuzz/run-fuzz-proto.sh

# Integration tests: real multicast on the loopback of a private network
# namespace (root and unshare; they skip outside CI without them).
check_PROGRAMS += tests/integration/inject
tests_integration_inject_SOURCES = tests/integration/inject.c
TESTS += \
	tests/integration/transport_clean.sh \
	tests/integration/transport_loss.sh \
	tests/integration/transport_resume.sh \
	tests/integration/transport_late.sh \
	tests/integration/transport_gate.sh \
	tests/integration/transport_hostile.sh \
	tests/integration/transport_fulldisk.sh \
	tests/integration/transport_drop.sh \
	tests/integration/transport_firewall.sh
EXTRA_DIST += tests/integration/transport_lib.sh
