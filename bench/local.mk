# bench/: benchmark scripts and the namespace lab they build.  They are
# installed into $(pkgdatadir) for `fleetcast bench` (server/cli/cmd_bench.c
# finds them there, or in the source tree when run uninstalled).  Benchmarks
# are run by hand, never by make check: performance is not a timed unit
# test.
benchdir = $(pkgdatadir)/bench
dist_bench_SCRIPTS = bench/mcast-throughput bench/sim-scale \
	bench/unicast-throughput bench/tls-stream.py bench/mcast-report.py \
	bench/vmlab bench/vmlab-ga.py bench/vmlab-sim.py
# bench/unicast-throughput shares its lab setup with the unicast
# integration tests (unicast_lib.sh, installed beside it).
dist_bench_DATA = bench/lib.sh tests/integration/unicast_lib.sh \
	bench/vmlab-lib.sh bench/vmlab-cases.sh bench/vmlab-server.sh \
	bench/vmlab-sim.sh

labdir = $(pkgdatadir)/lab
dist_lab_SCRIPTS = tests/lab/lab.sh tests/lab/mcast-probe.py

# bench/server-scale: fleetcastd's scheduling latency, memory with a
# thousand TLS agents and API latency during a transfer.  It needs the
# build tree (--build DIR) for its scripted agents, bench/fakeagents, which
# is built with the programs but not installed.  Each of them is the
# scripted agent of tests/integration/test_api (sagent.c).
noinst_PROGRAMS += bench/fakeagents
bench_fakeagents_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(LIBEVENT_CFLAGS) \
	-iquote $(top_srcdir)/tests/integration
bench_fakeagents_SOURCES = bench/fakeagents.c tests/integration/sagent.c \
	tests/integration/sagent.h
bench_fakeagents_LDADD = $(COMMON_LIBS)

# bench/blast: the lab's ceiling for mcast-throughput's `limit' rows, a bare
# multicast blast (UDP GSO on send, UDP_GRO + recvmmsg on receive, no
# protocol).  Built with the programs, not installed: mcast-throughput finds
# it in the build tree (--blast PATH) and runs its limit rows only then.
noinst_PROGRAMS += bench/blast
bench_blast_SOURCES = bench/blast.c
