# common/mcast.mk: the multicast transport engine (wire format, sockets,
# FEC, sender, receiver), its tests, fuzz target and integration tests.
common_libcommon_a_SOURCES += \
	common/proto.c common/proto.h \
	common/udp.c common/udp.h \
	common/fec.c common/fec.h \
	common/xsend.c common/xsend.h \
	common/xrecv.c common/xrecv.h
