# common/pkg.mk: the signed package format (.fcpkg), PSK files, their unit
# tests and the shell test of `fleetcast key` / `fleetcast package`.
common_libcommon_a_SOURCES += \
	common/pkg.h \
	common/pkg_manifest.c \
	common/pkg_cond.c \
	common/pkg_build.c \
	common/pkg_read.c \
	common/psk.c common/psk.h
