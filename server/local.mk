# server/: fleetcastd, a system daemon (sbin).  The scheduler and the
# simulator of this directory are also linked into the CLI (see
# server/cli/local.mk).

# The inventory, also linked by the server's unit tests.
DB_SOURCES = server/db.c server/db_int.h server/db_machine.c server/db_run.c

sbin_PROGRAMS += server/fleetcastd
server_fleetcastd_CFLAGS = $(AM_CFLAGS) \
	$(OPENSSL_CFLAGS) $(LIBEVENT_CFLAGS) $(SQLITE_CFLAGS) $(JANSSON_CFLAGS) \
	$(LIBARCHIVE_CFLAGS) $(LIBSYSTEMD_CFLAGS)
server_fleetcastd_SOURCES = \
	server/server.h \
	server/fleetcastd.c \
	server/server.c \
	$(DB_SOURCES) \
	server/ca.c \
	server/control.c \
	server/api.c server/api_int.h \
	server/api_package.c \
	server/runs.c \
	server/scenario.c \
	server/segment.c \
	server/xfer.c \
	server/auto.c \
	server/sched.c server/sched_group.c server/sched.h
server_fleetcastd_LDADD = $(COMMON_LIBS) $(SQLITE_LIBS) $(LIBSYSTEMD_LIBS)

# What `fleetcast sim` runs: the server's own scheduler against a virtual
# clock.
SIM_SOURCES = server/sched.c server/sched_group.c server/sched.h server/sim.c server/sim.h \
	server/sim_int.h server/sim_input.c server/sim_input.h server/sim_report.c \
	server/sim_svg.c
