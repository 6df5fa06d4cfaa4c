#!/bin/bash
#
# metrics.sh: GET /metrics (issue #14) with a real fleetcastd and two real
# agents.  The exposition is read by a real Prometheus parser
# (python3-prometheus-client's text_string_to_metric_families) before and
# after a run: every family has the type its name says, and the counters
# move as the run goes (transfers started and finished, bytes sent by
# multicast, API requests, commits); machines and runs are counted by
# state.  On api_listen it needs the token; on metrics_listen it needs
# none and answers nothing else.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if [ "${AL_INNER:-}" != 1 ]; then
	"$PY" -c 'import prometheus_client' 2>/dev/null ||
	    al_skip "needs python3-prometheus-client"
fi
al_init "$0" "$@"

al_server_start --metrics_listen 127.0.0.1:56090
al_agent_start mx1
al_agent_start mx2
al_wait_online mx1
al_wait_online mx2
al_ok "server and two agents online"

TOKEN=$(cat "$T/srv/api.token")
scrape()
{
	curl -sf -H "Authorization: Bearer $TOKEN" "$AL_API/metrics" > "$1" ||
	    al_fail "GET /metrics with the token"
}
code=$(curl -s -o /dev/null -w '%{http_code}' "$AL_API/metrics")
[ "$code" = 401 ] || al_fail "GET /metrics without the token: $code, want 401"
scrape "$T/m0"

# The parser, and the checks of one exposition or of two (before, after).
cat > "$T/check.py" <<'PYEOF'
import sys
from prometheus_client.parser import text_string_to_metric_families

def load(path):
    with open(path) as f:
        text = f.read()
    fams = {}
    for fam in text_string_to_metric_families(text):
        fams[fam.name] = fam
    return fams

def value(fams, name, default=None, **labels):
    for fam in fams.values():
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v
                                      for k, v in labels.items()):
                return s.value
    if default is not None:
        return default
    raise SystemExit("no sample %s%r" % (name, labels))

def check_types(fams):
    for name, fam in fams.items():
        if name.endswith("_total") and fam.type != "counter":
            raise SystemExit("%s: type %s" % (name, fam.type))
        if fam.type == "counter" and not name.startswith("fleetcast_"):
            raise SystemExit("%s: not fleetcast_" % name)
    # The parser drops _total from a counter's family name.
    for want in ("fleetcast_machines", "fleetcast_runs",
                 "fleetcast_transfers_started", "fleetcast_sent_bytes",
                 "fleetcast_send_rate_bytes", "fleetcast_repair_packets",
                 "fleetcast_resent_packets", "fleetcast_dropped_packets",
                 "fleetcast_unicast_streams_active",
                 "fleetcast_unicast_streams_queued",
                 "fleetcast_api_requests", "fleetcast_control_connections",
                 "fleetcast_heartbeat_lag_seconds",
                 "fleetcast_sqlite_commit_seconds"):
        if want not in fams:
            raise SystemExit("no family %s" % want)

mode = sys.argv[1]
a = load(sys.argv[2])
check_types(a)
if mode == "one":
    # No feed_url on this server: no feed series at all.
    feed = [n for n in a if n.startswith("fleetcast_feed_")]
    if feed:
        raise SystemExit("feed metrics without feed_url: %r" % feed)
    if value(a, "fleetcast_machines", state="online") != 2:
        raise SystemExit("machines online: %r" %
                         value(a, "fleetcast_machines", state="online"))
    if value(a, "fleetcast_control_connections", state="online") != 2:
        raise SystemExit("control connections online")
    lag = value(a, "fleetcast_heartbeat_lag_seconds")
    if not 0 <= lag < 30:
        raise SystemExit("heartbeat lag %r" % lag)
else:
    b = load(sys.argv[3])
    check_types(b)
    def moved(name, least, **labels):
        # A series of requests appears with its first request.
        d = value(b, name, **labels) - value(a, name, 0, **labels)
        if d < least:
            raise SystemExit("%s%r moved by %r, want >= %r"
                             % (name, labels, d, least))
    moved("fleetcast_transfers_started_total", 1)
    moved("fleetcast_transfers_finished_total", 1)
    moved("fleetcast_sent_bytes_total", 100000, path="multicast")
    moved("fleetcast_runs", 1, state="finished")
    moved("fleetcast_api_requests_total", 1, route="scenarios", status="201")
    moved("fleetcast_api_requests_total", 1, route="metrics", status="200")
    moved("fleetcast_sqlite_commit_seconds_count", 5)
    # Every stream that started ended one way or the other.
    ended = value(b, "fleetcast_transfers_finished_total") + \
        value(b, "fleetcast_transfers_failed_total")
    if ended != value(b, "fleetcast_transfers_started_total"):
        raise SystemExit("transfers started %r, ended %r" % (value(
            b, "fleetcast_transfers_started_total"), ended))
print("parsed: %d families" % len(a))
PYEOF
"$PY" "$T/check.py" one "$T/m0" || al_fail "the first exposition"
al_ok "exposition parsed by prometheus_client; 2 online, lag small"

# A package of some size: the folder is the payload.
mkdir -p "$T/p-MX1"
head -c 300000 /dev/urandom > "$T/p-MX1/data.bin"
al_pkg MX1 'exit 0' --type hotfix --major 1 --minor 0
"$FC" scenario create s-mx --package MX1 >/dev/null || al_fail "scenario"
run=$(al_run s-mx mx1 mx2)
al_wait_state "$run" mx1 succeeded
al_wait_state "$run" mx2 succeeded
for ((i = 0; i < 50; i++)); do
	[ "$("$FC" run show "$run" --json | al_json state)" = finished ] && break
	sleep 0.1
done
scrape "$T/m1"
"$PY" "$T/check.py" two "$T/m0" "$T/m1" || {
	cat "$T/m1" >&2
	al_fail "the counters did not move as the run went"
}
al_ok "counters moved with the run (transfers, bytes, runs, requests, commits)"

# metrics_listen: no token, GET /metrics only.
curl -sf http://127.0.0.1:56090/metrics > "$T/m2" ||
    al_fail "metrics_listen: GET /metrics without a token"
"$PY" "$T/check.py" one "$T/m2" >/dev/null || al_fail "metrics_listen's exposition"
code=$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:56090/v1/machines)
[ "$code" = 404 ] || al_fail "metrics_listen answered /v1/machines: $code"
al_ok "metrics_listen: the exposition without a token, nothing else"
exit 0
