# server/cli/: the admin CLI, fleetcast.  It links the scheduler and the
# simulator of server/ for `fleetcast sim` (SIM_SOURCES, server/local.mk).
bin_PROGRAMS += server/cli/fleetcast
server_cli_fleetcast_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) \
	$(LIBARCHIVE_CFLAGS) $(LIBEVENT_CFLAGS) -iquote $(top_srcdir)/server
server_cli_fleetcast_SOURCES = \
	server/cli/cli.h \
	server/cli/fleetcast.c \
	server/cli/cli.c \
	server/cli/http.c \
	server/cli/http_tls.c \
	server/cli/show.c \
	server/cli/cmd_key.c \
	server/cli/cmd_package.c \
	server/cli/cmd_feed.c \
	server/cli/cmd_agentpkg.c \
	server/cli/cmd_machine.c \
	server/cli/cmd_server.c \
	server/cli/cmd_scenario.c \
	server/cli/cmd_run.c \
	server/cli/cmd_send.c \
	server/cli/cmd_sim.c \
	server/cli/cmd_bench.c \
	$(SIM_SOURCES)
server_cli_fleetcast_LDADD = $(COMMON_LIBS) -lm
# feed show URL
server_cli_fleetcast_CFLAGS += $(LIBCURL_CFLAGS)
server_cli_fleetcast_LDADD += $(LIBCURL_LIBS)
