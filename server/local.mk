# server/: fleetcastd, a system daemon (sbin).  The scheduler and the
# simulator of this directory are also linked into the CLI (see
# server/cli/local.mk).

# The inventory, also linked by the server's unit tests.
DB_SOURCES = server/db.c server/db_int.h server/db_machine.c server/db_run.c \
	server/db_auto.c server/db_feed.c

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
	server/api_package.c server/api_sim.c server/api_tls.c \
	server/console.c server/console.h \
	server/metrics.c server/metrics.h \
	server/runs.c \
	server/runs_batch.c server/runs_batch.h \
	server/scenario.c \
	server/segment.c \
	server/xfer.c \
	server/auto.c \
	server/feed.c \
	server/agentup.c \
	server/liveness.c \
	server/sched.c server/sched_group.c server/sched.h \
	server/sim.c server/sim.h server/sim_int.h server/sim_input.c \
	server/sim_input.h server/sim_report.c server/sim_svg.c
server_fleetcastd_LDADD = $(COMMON_LIBS) $(SQLITE_LIBS) $(LIBSYSTEMD_LIBS) -lm
# The package feed (server/feed.c).
server_fleetcastd_CFLAGS += $(LIBCURL_CFLAGS)
server_fleetcastd_LDADD += $(LIBCURL_LIBS)

# The web console (server/console.c): its files are installed under
# $(pkgdatadir)/console and compiled in as well, so that a bare binary
# serves them; console_files.c is written from them at build time.
consoledir = $(pkgdatadir)/console
console_DATA = server/console/index.html server/console/console.css \
	server/console/app.js server/console/api.js server/console/dom.js \
	server/console/overview.js server/console/machines.js \
	server/console/packages.js server/console/scenarios.js \
	server/console/runs.js server/console/simulate.js server/console/icon.svg
EXTRA_DIST += $(console_DATA) server/console_embed.sh
nodist_server_fleetcastd_SOURCES = server/console_files.c
CLEANFILES += server/console_files.c
server/console_files.c: $(console_DATA) $(srcdir)/server/console_embed.sh
	$(AM_V_GEN)mkdir -p server && $(SHELL) $(srcdir)/server/console_embed.sh \
	    $@ $(srcdir) $(console_DATA)

# What `fleetcast sim` runs: the server's own scheduler against a virtual
# clock.
SIM_SOURCES = server/sched.c server/sched_group.c server/sched.h server/sim.c server/sim.h \
	server/sim_int.h server/sim_input.c server/sim_input.h server/sim_report.c \
	server/sim_svg.c
