# agent/: fleetcast-agent, a system daemon (sbin).
sbin_PROGRAMS += agent/fleetcast-agent
agent_fleetcast_agent_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(LIBEVENT_CFLAGS) \
	$(OPENSSL_CFLAGS) $(LIBARCHIVE_CFLAGS) $(JANSSON_CFLAGS)
agent_fleetcast_agent_SOURCES = \
	agent/agent.h \
	agent/fleetcast-agent.c \
	agent/facts.c \
	agent/state.c \
	agent/pending.c \
	agent/applic.c \
	agent/exec.c \
	agent/agent_conn.c \
	agent/run_int.h \
	agent/run_report.c \
	agent/boot.c \
	agent/run_recv.c \
	agent/run_exec.c \
	agent/run.c \
	agent/upgrade.c \
	agent/power.c
agent_fleetcast_agent_LDADD = $(COMMON_LIBS) $(SQLITE_LIBS)
