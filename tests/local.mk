# tests/: CUnit unit tests, integration tests, fuzz targets.
UNIT_CFLAGS = $(AM_CFLAGS) $(CUNIT_CFLAGS) $(OPENSSL_CFLAGS)
UNIT_LIBS = $(COMMON_LIBS) $(CUNIT_LIBS)

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

# A real sender and receiver on loopback: resuming on a new session skips
# the blocks the receiver holds (doc/protocol.md, Skipping held blocks).
check_PROGRAMS += tests/unit/test_xresume
TESTS += tests/unit/test_xresume
tests_unit_test_xresume_CFLAGS = $(UNIT_CFLAGS) $(LIBEVENT_CFLAGS)
tests_unit_test_xresume_SOURCES = tests/unit/test_xresume.c tests/unit/unit.h
tests_unit_test_xresume_LDADD = $(UNIT_LIBS)
# What test_xsend, test_xrecv and test_xresume share (header-only).
EXTRA_DIST += tests/unit/xpeer.h

# A receiver that expects the digest (receive --sha256) resumes on a new
# session of the same content.
TESTS += tests/integration/transport_resume_new.sh

# The unicast fallback through a short outage of the control connection:
# the agent asks again on reconnection (needs root and the namespace lab).
TESTS += tests/integration/unicast_reconnect.sh

# The server's rate shared by its streams (unicast and multicast at once).
TESTS += tests/integration/unicast_share.sh

# A unicast fallback that waits longer than 30 s for a free unicast stream.
TESTS += tests/integration/unicast_queue.sh
