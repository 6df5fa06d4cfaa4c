# common/: libcommon.a, linked by every program and test: the wire codec,
# crypto, config and log, the signed package format, the control-channel
# codec and the multicast transport engine (sender and receiver).
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(LIBARCHIVE_CFLAGS) $(JANSSON_CFLAGS) $(ISAL_CFLAGS)
common_libcommon_a_SOURCES = \
	common/log.c common/log.h \
	common/xmalloc.c common/xmalloc.h \
	common/wire.c common/wire.h \
	common/conf.c common/conf.h \
	common/crypto.c common/crypto.h \
	common/fsutil.c common/fsutil.h \
	common/mono.h \
	common/psk.c common/psk.h \
	common/etoken.c common/etoken.h \
	common/vis.c common/vis.h \
	common/agentpkg.c common/agentpkg.h

# The signed package format (.fcpkg, doc/package-format.md).
common_libcommon_a_SOURCES += \
	common/pkg.h \
	common/pkg_field.c \
	common/pkg_manifest.c \
	common/pkg_cond.c \
	common/pkg_applic.c \
	common/pkg_build.c \
	common/pkg_read.c \
	common/pkg_stream.c common/pkg_stream.h

# The control channel between fleetcastd and its agents.
common_libcommon_a_SOURCES += common/ctl.c common/ctl.h

# The multicast transport engine (doc/protocol.md).
common_libcommon_a_SOURCES += \
	common/proto.c common/proto.h \
	common/udp.c common/udp.h \
	common/fec.c common/fec.h \
	common/xsend.c common/xsend.h common/xsend_int.h \
	common/xsend_rate.c common/xsend_repair.c common/xsend_ring.c \
	common/xsend_admit.c \
	common/xsend_sock.c \
	common/xrecv.c common/xrecv.h common/xrecv_int.h \
	common/xrecv_join.c common/xrecv_store.c

# Everything a program needs to link against libcommon.
COMMON_LIBS = common/libcommon.a $(LIBARCHIVE_LIBS) $(JANSSON_LIBS) \
	$(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(ISAL_LIBS)

# The package feed's signed index (MISSION.md P12), for the CLI and the server.
common_libcommon_a_SOURCES += common/feed_index.c common/feed_index.h
