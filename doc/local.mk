# doc/: man pages and documents installed with the programs.
dist_man_MANS += doc/fleetcast.1 doc/fleetcastd.8 doc/fleetcast-agent.8
dist_doc_DATA += doc/package-format.md doc/protocol.md doc/guide.md \
	doc/control-protocol.md doc/security.md doc/performance.md \
	doc/performance-mcast.svg \
	doc/simulation.md doc/sim-example-first-wave.svg \
	doc/sim-example-queue.svg
dist_examples_DATA += doc/fleetcastd.conf.example \
	doc/fleetcast-agent.conf.example \
	doc/examples/first-wave.scenario.json \
	doc/examples/office50.fleet.json doc/examples/rollout.scenario.json \
	doc/examples/site500.fleet.json doc/examples/prometheus.yml \
	doc/examples/grafana-dashboard.json
