# server/sched.mk: the scenario scheduler (server/sched.c), the simulator
# that runs it against a virtual clock (server/sim.c, `fleetcast sim`), their
# tests and the simulation documentation.  fleetcastd adds server/sched.c to
# its own sources in server/local.mk.
server_cli_fleetcast_SOURCES += server/sched.c server/sched.h \
	server/sim.c server/sim.h
server_cli_fleetcast_CFLAGS += -I$(top_srcdir)/server

check_PROGRAMS += tests/unit/test_sched tests/unit/test_sim
TESTS += tests/unit/test_sched tests/unit/test_sim tests/sim/golden.sh

tests_unit_test_sched_CFLAGS = $(UNIT_CFLAGS) -I$(top_srcdir)/server
tests_unit_test_sched_SOURCES = tests/unit/test_sched.c tests/unit/unit.h \
	server/sched.c server/sched.h
tests_unit_test_sched_LDADD = $(UNIT_LIBS)

tests_unit_test_sim_CFLAGS = $(UNIT_CFLAGS) $(JANSSON_CFLAGS) \
	-I$(top_srcdir)/server
tests_unit_test_sim_SOURCES = tests/unit/test_sim.c tests/unit/unit.h \
	server/sched.c server/sched.h server/sim.c server/sim.h
tests_unit_test_sim_LDADD = $(UNIT_LIBS) -lm

server_cli_fleetcast_LDADD += -lm

EXTRA_DIST += tests/sim

# doc/simulation.md and its worked examples (inputs and the plots they make).
dist_doc_DATA += doc/simulation.md doc/sim-example-first-wave.svg \
	doc/sim-example-queue.svg
dist_examples_DATA += doc/examples/first-wave.scenario.json \
	doc/examples/office50.fleet.json doc/examples/rollout.scenario.json \
	doc/examples/site500.fleet.json
