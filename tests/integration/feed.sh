#!/bin/bash
#
# feed.sh: the package feed (MISSION.md P12, issue #16) with a real web
# server.  Debian's nginx serves a feed over HTTPS (HTTP/2) with a test
# CA made here by openssl, in this test's own network namespace; two
# fleetcastd servers, each in a namespace of its own behind a veth pair
# and each with one agent, pull it every 2 s.  Checks: both register the
# feed's packages within a few intervals, and the highest-urgency one
# reaches the agent of each server without an admin (automatic update);
# a package altered on the web server (hash), one signed by an untrusted
# key (signature), one larger than the index says (oversized), a
# rolled-back index and an expired index are each refused on both
# servers with the reason, and leave their packages as they were; a
# truncated one is retried and completes once the web server has it all; nginx stopped in the middle of a large (rate-limited)
# download: both servers resume it with Range and register the package.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare/nginx, outside CI).

FD_TIMEOUT=${FD_TIMEOUT:-30}
FD_PORT=8443

fd_skip()
{
	if [ "${CI:-}" = true ]; then
		echo "FAIL (CI=true, cannot skip): $*" >&2
		exit 1
	fi
	echo "SKIP: $*" >&2
	exit 77
}

fd_fail()
{
	local f
	echo "FAIL: $*" >&2
	for f in "$T"/*.log; do
		[ -f "$f" ] || continue
		echo "---- ${f##*/} (last 40 lines)" >&2
		tail -n 40 "$f" >&2
	done
	exit 1
}

fd_ok()
{
	echo "ok: $* (${SECONDS} s)"
}

if [ "${FD_INNER:-}" != 1 ]; then
	[ "$(id -u)" = 0 ] || fd_skip "needs root (network namespaces)"
	for c in unshare ip nginx openssl python3 timeout; do
		command -v $c >/dev/null 2>&1 || PATH=$PATH:/usr/sbin
		command -v $c >/dev/null 2>&1 || fd_skip "needs $c"
	done
	unshare -n -m true 2>/dev/null ||
	    fd_skip "unshare -n -m refused (container without CAP_SYS_ADMIN?)"
	PATH=$PATH:/usr/sbin FD_INNER=1 exec unshare -n -m bash "$0" "$@"
fi

FC=${FLEETCAST:-$PWD/server/cli/fleetcast}
FCD=${FLEETCASTD:-$PWD/server/fleetcastd}
AGENT=${FLEETCAST_AGENT:-$PWD/agent/fleetcast-agent}
for b in "$FC" "$FCD" "$AGENT"; do
	[ -x "$b" ] || fd_fail "$b: not built"
done
T=$(mktemp -d "${TMPDIR:-/tmp}/fc-feed.XXXXXX") || exit 1
chmod 755 "$T"
NS1=fcfeed$$-s1
NS2=fcfeed$$-s2
PIDS=""
cleanup()
{
	local p
	{
		# nginx's workers outlive a KILLed master: TERM first (the
		# master stops them), then KILL whatever is left of it.
		if [ -n "${NGINX:-}" ]; then
			kill -TERM "$NGINX" && sleep 0.3
			pkill -9 -P "$NGINX"
		fi
		for p in $PIDS $NGINX; do
			kill -9 "$p"
		done
		wait
	} 2>/dev/null
	ip netns del "$NS1" 2>/dev/null
	ip netns del "$NS2" 2>/dev/null
	[ -n "${FD_KEEP:-}" ] && { echo "kept $T" >&2; return; }
	rm -rf "$T"
}
trap cleanup EXIT

# ---- the network: this namespace has the web server; s1 and s2 a server
# and an agent each, 10.56.N.2 behind a veth to 10.56.N.1 here.
ip link set lo up || fd_fail "lo"
for n in 1 2; do
	ns=fcfeed$$-s$n
	ip netns add "$ns" || fd_fail "ip netns add $ns"
	ip link add "fw$n" type veth peer name "fs$n" netns "$ns" ||
	    fd_fail "veth $n"
	ip addr add "10.56.$n.1/24" dev "fw$n" && ip link set "fw$n" up ||
	    fd_fail "fw$n"
	ip netns exec "$ns" sh -c "
	    ip link set lo up && ip link set lo multicast on &&
	    ip route add 224.0.0.0/4 dev lo &&
	    ip addr add 10.56.$n.2/24 dev fs$n && ip link set fs$n up" ||
	    fd_fail "namespace $ns"
done

# ---- keys: the package signer's (trusted_keys on servers and agents),
# the feed signer's (feed_keys on the servers), one nobody trusts.
"$FC" key generate --out "$T/sign" >/dev/null &&
    "$FC" key generate --out "$T/feedsign" >/dev/null &&
    "$FC" key generate --out "$T/other" >/dev/null || fd_fail "key generate"

# ---- the test CA and the web server's certificate, for both addresses.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/ca.key" -out "$T/ca.crt" -days 2 -subj "/CN=fleetcast test CA" \
    2>"$T/openssl.log" &&
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/web.key" -out "$T/web.csr" -subj "/CN=feed" \
    2>>"$T/openssl.log" &&
printf 'subjectAltName=IP:10.56.1.1,IP:10.56.2.1\n' > "$T/web.ext" &&
openssl x509 -req -in "$T/web.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" \
    -CAcreateserial -days 2 -extfile "$T/web.ext" -out "$T/web.crt" \
    2>>"$T/openssl.log" || fd_fail "openssl: $(cat "$T/openssl.log")"

# ---- nginx, in the foreground, with its own prefix; the large package is
# sent slowly so that it can be interrupted.
FEED=$T/www/feed
mkdir -p "$FEED" "$T/nginx/logs" "$T/nginx/tmp"
cat > "$T/nginx/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx.log info;
events { worker_connections 64; }
http {
	access_log $T/nginx-access.log;
	client_body_temp_path $T/nginx/tmp/body;
	proxy_temp_path $T/nginx/tmp/proxy;
	fastcgi_temp_path $T/nginx/tmp/fastcgi;
	uwsgi_temp_path $T/nginx/tmp/uwsgi;
	scgi_temp_path $T/nginx/tmp/scgi;
	types { application/json json; }
	default_type application/octet-stream;
	server {
		listen $FD_PORT ssl http2;
		ssl_certificate $T/web.crt;
		ssl_certificate_key $T/web.key;
		root $T/www;
		location ~ /BIG- { limit_rate 1m; }
	}
}
EOF
nginx_start()
{
	nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" >>"$T/nginx.log" 2>&1 &
	NGINX=$!
	local i
	for ((i = 0; i < 50; i++)); do
		[ -s "$T/nginx/nginx.pid" ] && return 0
		sleep 0.1
	done
	fd_fail "nginx did not start"
}
nginx_stop()
{
	kill -TERM "$NGINX" 2>/dev/null
	wait "$NGINX" 2>/dev/null
	rm -f "$T/nginx/nginx.pid"
}
nginx_start

# ---- the two servers, each pulling the feed every 2 s, and their agents.
for n in 1 2; do
	ip netns exec "fcfeed$$-s$n" "$FCD" -d -v --state_dir "$T/s$n" \
	    --auto_approve yes --trusted_keys "$T/sign.pub" --interface lo \
	    --feed_url "https://10.56.$n.1:$FD_PORT/feed/" --feed_interval 2 \
	    --feed_keys "$T/feedsign.pub" --feed_ca "$T/ca.crt" \
	    >>"$T/server$n.log" 2>&1 &
	PIDS="$PIDS $!"
done
# fc N ARGS: the CLI against server N.
fc()
{
	local n=$1
	shift
	ip netns exec "fcfeed$$-s$n" env FLEETCAST_TOKEN_FILE="$T/s$n/api.token" \
	    "$FC" "$@"
}
for n in 1 2; do
	for ((i = 0; i < 100; i++)); do
		[ -s "$T/s$n/api.token" ] && fc $n machine list >/dev/null 2>&1 &&
		    break
		sleep 0.1
	done
	[ $i -lt 100 ] || fd_fail "fleetcastd $n did not come up"
	echo boot-1 > "$T/m$n.boot"
	ip netns exec "fcfeed$$-s$n" "$AGENT" -d -v --server 127.0.0.1:56022 \
	    --name "m$n" --state_dir "$T/m$n" --trusted_keys "$T/sign.pub" \
	    --boot_id_file "$T/m$n.boot" --interface lo \
	    --reboot_command /bin/true --poweroff_command /bin/true \
	    >>"$T/m$n.log" 2>&1 &
	PIDS="$PIDS $!"
done
for n in 1 2; do
	for ((i = 0; i < FD_TIMEOUT * 10; i++)); do
		fc $n machine show "m$n" --json 2>/dev/null |
		    grep -q '"online": true' && break
		sleep 0.1
	done
	[ $i -lt $((FD_TIMEOUT * 10)) ] || fd_fail "agent m$n not online"
done
fd_ok "nginx (https), two servers and an agent on each"

# wait_log N PATTERN: until server N's log has a line matching PATTERN.
wait_log()
{
	local i
	for ((i = 0; i < FD_TIMEOUT * 10; i++)); do
		grep -Eq -- "$2" "$T/server$1.log" && return 0
		sleep 0.1
	done
	fd_fail "server $1: no log line matching '$2'"
}
# both PATTERN: on both servers.
both()
{
	wait_log 1 "$1"
	wait_log 2 "$1"
}
# pkg ID KEY [build options]: a package whose setup appends to $T/ran.ID.
pkg()
{
	local id=$1 key=$2
	shift 2
	mkdir -p "$T/p-$id"
	printf '#!/bin/sh\necho ran >> %s/ran.%s\n' "$T" "$id" \
	    > "$T/p-$id/setup.sh"
	chmod 755 "$T/p-$id/setup.sh"
	"$FC" package build --dir "$T/p-$id" --exec setup.sh --id "$id" \
	    --sign-key "$T/$key.key" -o "$T/$id.fcpkg" "$@" >/dev/null ||
	    fd_fail "package build $id"
}
publish()
{
	"$FC" feed publish --dir "$1" --sign-key "$T/feedsign.key" "${@:2}" \
	    >>"$T/publish.log" || fd_fail "feed publish ${*:2}"
}
# stage: a copy of the feed to change before it is swapped in whole.
stage()
{
	rm -rf "$T/stage"
	cp -a "$FEED" "$T/stage"
}
swap_in()
{
	rm -rf "$T/www/old"
	mv "$FEED" "$T/www/old" && mv "$T/stage" "$FEED" || fd_fail "swap"
}
registered()
{
	fc "$1" package show "$2" --json >/dev/null 2>&1
}

# ---- 1. Two packages, one of urgency highest: both servers register
# them, and the highest one runs on each agent without a scenario.
pkg HF1 sign --type hotfix --major 1 --minor 0
pkg URG sign --type application --urgency highest --major 1 --minor 0
publish "$FEED" "$T/HF1.fcpkg" "$T/URG.fcpkg"
"$FC" feed show "$FEED" --pubkey "$T/feedsign.pub" > "$T/show.out" ||
    fd_fail "feed show DIR"
grep -q "^signature: *OK" "$T/show.out" && grep -q "^serial: *1$" \
    "$T/show.out" || fd_fail "feed show: $(cat "$T/show.out")"
both "package HF1 1.0 registered from index serial 1"
both "package URG 1.0 registered from index serial 1, automatic update"
for ((i = 0; i < FD_TIMEOUT * 10; i++)); do
	[ -f "$T/ran.URG" ] && [ "$(wc -l < "$T/ran.URG")" = 2 ] && break
	sleep 0.1
done
[ "$(wc -l < "$T/ran.URG" 2>/dev/null)" = 2 ] ||
    fd_fail "URG ran $(cat "$T/ran.URG" 2>/dev/null | wc -l) times, want 2"
[ ! -e "$T/ran.HF1" ] || fd_fail "HF1 (urgency normal) ran without a scenario"
for n in 1 2; do
	fc $n feed status --json > "$T/status$n" || fd_fail "feed status $n"
	python3 - "$T/status$n" <<'EOF' || fd_fail "feed status $n: $(cat "$T/status$n")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["serial"] == 1 and s["registered"] == 2, s
assert s["last_fetch"] and s["next_fetch"], s
EOF
done
ip netns exec "$NS1" "$FC" feed show "https://10.56.1.1:$FD_PORT/feed" \
    --ca "$T/ca.crt" --pubkey "$T/feedsign.pub" > "$T/show.url" ||
    fd_fail "feed show URL: $(cat "$T/show.url")"
grep -q "URG" "$T/show.url" || fd_fail "feed show URL: $(cat "$T/show.url")"
ip netns exec "$NS1" "$FC" feed show "https://10.56.1.1:$FD_PORT/feed" \
    >/dev/null 2>"$T/show.err" &&
    fd_fail "feed show over https without the test CA succeeded"
fd_ok "both servers registered HF1 and URG; URG ran on m1 and m2 by itself"
# GET /metrics on server 1 shows the feed as feed status does: the
# published serial, the packages registered, fetch times set.
ip netns exec "$NS1" curl -sf -H "Authorization: Bearer $(cat \
    "$T/s1/api.token")" http://127.0.0.1:56080/metrics > "$T/metrics1" ||
    fd_fail "GET /metrics on server 1"
/usr/bin/python3 - "$T/metrics1" "$T/status1" <<'EOF' ||
import json, sys
from prometheus_client.parser import text_string_to_metric_families
v = {}
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        v[(s.name, tuple(sorted(s.labels.items())))] = s.value
def get(name, **labels):
    k = (name, tuple(sorted(labels.items())))
    if k not in v:
        raise SystemExit("no sample %s%r" % (name, labels))
    return v[k]
assert get("fleetcast_feed_serial") == 1, get("fleetcast_feed_serial")
assert get("fleetcast_feed_registered_total") == 2
assert get("fleetcast_feed_failures") == 0
assert get("fleetcast_feed_last_fetch_timestamp_seconds") > 1e9
assert get("fleetcast_feed_last_success_timestamp_seconds") > 1e9
assert get("fleetcast_feed_next_fetch_timestamp_seconds") > 1e9
assert get("fleetcast_feed_fetches_total", result="ok") >= 1
info = [k for k in v if k[0] == "fleetcast_feed_info"]
assert len(info) == 1, info
l = dict(info[0][1])
# The same as feed status (the last error stays after a success there too).
st = json.load(open(sys.argv[2]))
assert l["url"] == st["feed_url"], (l, st)
assert get("fleetcast_feed_serial") == st["serial"], st
assert l["last_error"] == (st["last_error"] or ""), (l, st)
EOF
    fd_fail "feed metrics on server 1"
fd_ok "GET /metrics on server 1: fleetcast_feed_serial 1, 2 registered"
mkdir -p "$T/serial1"
cp "$FEED/feed.json" "$FEED/feed.json.sig" "$T/serial1/"

# ---- 2. A package altered on the web server after publishing: refused
# for its hash on both, nothing registered; then one signed by a key
# the servers do not trust: refused for its signature.
pkg HF2 sign --type hotfix --major 1 --minor 0
stage
publish "$T/stage" "$T/HF2.fcpkg"
f=$(ls "$T"/stage/packages/HF2-*.fcpkg)
printf 'X' | dd of="$f" bs=1 seek=$(( $(stat -c %s "$f") - 10 )) conv=notrunc \
    2>/dev/null
swap_in
both "package HF2 refused: its SHA-256 is not the index's"
pkg HF3 other --type hotfix --major 1 --minor 0
stage
publish "$T/stage" "$T/HF3.fcpkg"
swap_in
both "package HF3 refused: key: signed by key [0-9a-f]+, which is not among"
# A package larger on the web server than the index says (oversized):
# refused; one shorter (truncated): retried, and registered once the web
# server has the whole file, the download resumed from what it had.
pkg HF4 sign --type hotfix --major 1 --minor 0
stage
publish "$T/stage" "$T/HF4.fcpkg"
printf 'trailing bytes' >> "$(ls "$T"/stage/packages/HF4-*.fcpkg)"
swap_in
both "package HF4 refused: more than the [0-9]+ bytes allowed \(oversized\)"
pkg HF5 sign --type hotfix --major 1 --minor 0
stage
publish "$T/stage" "$T/HF5.fcpkg"
f=$(ls "$T"/stage/packages/HF5-*.fcpkg)
cp "$f" "$T/HF5.whole"
truncate -s -10 "$f"
swap_in
both "package HF5: download failed: truncated: the web server sent [0-9]+ of"
cp "$T/HF5.whole" "$FEED/packages/${f##*/}"
both "package HF5 1.0 registered from index serial 5"
mkdir -p "$T/serial5"
cp "$FEED/feed.json" "$FEED/feed.json.sig" "$T/serial5/"
for n in 1 2; do
	registered $n HF2 && fd_fail "server $n registered the altered HF2"
	registered $n HF3 && fd_fail "server $n registered the untrusted HF3"
	registered $n HF4 && fd_fail "server $n registered the oversized HF4"
	registered $n HF1 || fd_fail "server $n lost HF1"
done
fc 1 feed status > "$T/status1.txt"
grep -q "refused" "$T/status1.txt" ||
    fd_fail "feed status does not show the refusal: $(cat "$T/status1.txt")"
fd_ok "altered, untrusted, oversized packages refused on both servers; a truncated one retried"

# ---- 3. The serial-1 index put back (a rollback), then an index that
# has expired: both refused, with the reason.
stage
cp "$T/serial1/feed.json" "$T/serial1/feed.json.sig" "$T/stage/"
swap_in
both "index refused: index serial 1 is below 5"
stage
cp "$T/serial5/feed.json" "$T/serial5/feed.json.sig" "$T/stage/"
publish "$T/stage" --expires 1s
grep -q "serial 6" "$T/publish.log" || fd_fail "publish: $(tail -n 1 "$T/publish.log")"
sleep 1.2
swap_in
both "index refused: index serial 6 expired at"
fd_ok "a rolled-back index and an expired index refused on both servers"

# ---- 4. A large package; nginx stops in the middle of its download and
# comes back: both servers resume it and register it.
mkdir -p "$T/p-BIG"
head -c $((6 * 1024 * 1024)) /dev/urandom > "$T/p-BIG/payload"
pkg BIG sign --type application --major 1 --minor 0
stage
publish "$T/stage" "$T/BIG.fcpkg"
swap_in
both "package BIG: downloading"
sleep 1.5
nginx_stop
both "package BIG: download failed"
sleep 1
nginx_start
both "package BIG: resuming the download at [1-9]"
both "package BIG 1.0 registered from index serial 7"
for n in 1 2; do
	grep -q "^10.56.$n.2 .*GET /feed/packages/BIG-.* 206 " \
	    "$T/nginx-access.log" ||
	    fd_fail "server $n did not resume BIG with a range request (206)"
done
for n in 1 2; do
	registered $n BIG || fd_fail "server $n: BIG not registered"
	registered $n HF2 && fd_fail "server $n registered HF2"
	# Removed off the loop, by a process of their own: soon, not at once.
	for ((i = 0; i < 50; i++)); do
		[ -z "$(ls "$T/s$n/feed/")" ] && break
		sleep 0.1
	done
	[ -z "$(ls "$T/s$n/feed/")" ] ||
	    fd_fail "server $n left downloads: $(ls "$T/s$n/feed/")"
done
fd_ok "nginx stopped mid-download: both servers resumed and registered BIG"

# ---- 5. The event log of each server has the fetches' outcomes.
for n in 1 2; do
	python3 - "$T/s$n/fleetcast.db" <<'EOF' || fd_fail "server $n: event log"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
ev = [r[0] for r in db.execute("SELECT message FROM events WHERE kind = 'feed'")]
for want in ("index serial 1 accepted", "fetch done: index serial 1, 2 packages registered", "package URG 1.0 (highest) registered",
             "package HF2 refused: its SHA-256", "package HF3 refused: key: signed by key",
             "index serial 1 is below 5", "index serial 6 expired",
             "package HF4 refused: more than", "package HF5: download failed: truncated",
             "package BIG: download failed", "package BIG 1.0 (normal) registered"):
    if not any(want in m for m in ev):
        sys.exit("no feed event with '%s' in %s" % (want, ev))
EOF
done
fd_ok "the event logs hold every fetch's outcome"
exit 0
