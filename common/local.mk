# common/: libcommon.a, linked by every program and test.
noinst_LIBRARIES += common/libcommon.a
common_libcommon_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(LIBARCHIVE_CFLAGS) $(JANSSON_CFLAGS) $(ISAL_CFLAGS)
common_libcommon_a_SOURCES = \
	common/log.c common/log.h \
	common/xmalloc.c common/xmalloc.h \
	common/wire.c common/wire.h \
	common/conf.c common/conf.h \
	common/crypto.c common/crypto.h \
	common/fsutil.c common/fsutil.h

# Everything a program needs to link against libcommon.
COMMON_LIBS = common/libcommon.a $(LIBARCHIVE_LIBS) $(JANSSON_LIBS) \
	$(LIBEVENT_LIBS) $(OPENSSL_LIBS) $(ISAL_LIBS)
