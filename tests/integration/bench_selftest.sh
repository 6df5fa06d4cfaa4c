#!/bin/bash
#
# bench_selftest.sh: a quick check of what bench/mcast-throughput's new rows
# stand on, in seconds and without measuring anything: the blast tool
# (bench/blast) between namespaces of a lab, discarding and writing, with
# the end marker seen, every byte counted and written, loss counted and a
# silent group refused; the tbf bucket choice (lab_shape with a burst and a
# latency) holding the blast to its rate; mcast-report.py's medians, min/max,
# link fractions and FAIL rule on rows made up here; mcast-throughput's
# --help listing the new options and its refusal of bad values; and one
# tiny run of its limit rows with --repeat 2.  Exit 0 pass, 1 fail, 77 skip
# (not root, outside CI).
#   top_builddir=build-dir tests/integration/bench_selftest.sh

here=$(cd "${0%/*}" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
top_builddir=${top_builddir:-.}
blast=$(cd "$top_builddir" && pwd)/bench/blast
mt=$top_srcdir/bench/mcast-throughput
report=$top_srcdir/bench/mcast-report.py

. "$here/selftest_lib.sh" || exit 1
selftest_begin bench_selftest fcbt ip nft tc python3 setsid pgrep
if [ ! -x "$blast" ]; then
	echo "FAIL: $blast not built (make in the build tree)"
	exit 1
fi

# field FILE KEY: a value of blast's JSON line.
field()
{
	python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' \
	    "$1" "$2" 2>/dev/null
}

# --- the blast tool's own checks of its arguments ---------------------------
"$blast" >/dev/null 2>&1; [ $? = 2 ] && ok "blast without a mode: exit 2" ||
    fail "blast without a mode did not exit 2"
msg=$("$blast" send --group 10.1.2.3:5000 --interface lo --size 1 2>&1)
[ $? = 2 ] && echo "$msg" | grep -q -- '--group' &&
    ok "blast refuses a unicast group, naming --group" ||
    fail "blast on a unicast group: $msg"
msg=$("$blast" recv --group 239.1.2.3:5000 --interface lo --size 5 2>&1)
[ $? = 2 ] && ok "blast recv refuses --size" || fail "blast recv --size: $msg"

# --- blast between namespaces ----------------------------------------------
if ! lab_up 2 0 0 "" >"$tmp/up.log" 2>&1; then
	cat "$tmp/up.log"
	echo "FAIL: lab_up"
	exit 1
fi
group=239.192.56.97:56003
size=$((8 << 20))
# The sender rounds up to whole 1472-byte segments.
sent=$(( (size + 1471) / 1472 * 1472 ))

# blast_round TAG SENDER_ARGS...: r1 discards, r2 writes to $tmp/TAG.r2;
# both wait at most 3 s for data.
blast_round()
{
	local tag=$1 h pg1 pg2
	shift
	lab_spawn "$tmp" "$tag-r1" r1 "$blast" recv --group "$group" \
	    --interface eth0 --timeout 3 --idle 1000
	pg1=$LAB_LAST_PID
	lab_spawn "$tmp" "$tag-r2" r2 "$blast" recv --group "$group" \
	    --interface eth0 --timeout 3 --idle 1000 --out "$tmp/$tag.r2"
	pg2=$LAB_LAST_PID
	for h in r1 r2; do
		lab_wait_udp "$h" "${group##*:}" 5 || fail "$tag: $h not listening"
	done
	lab_exec s "$blast" send --group "$group" --interface eth0 "$@" \
	    >"$tmp/$tag-s.out" 2>"$tmp/$tag-s.err" ||
	    fail "$tag: blast send: $(cat "$tmp/$tag-s.err")"
	for pg in $pg1 $pg2; do
		for ((t = 0; t < 100; t++)); do
			lab_group_alive "$pg" || break
			sleep 0.1
		done
		lab_stop "$pg"
	done
}

blast_round clean --size "$size"
[ "$(field "$tmp/clean-s.out" bytes)" = "$sent" ] &&
    ok "blast send: $sent bytes in whole segments" ||
    fail "blast send reported $(field "$tmp/clean-s.out" bytes) bytes, not $sent"
for h in r1 r2; do
	o=$tmp/clean-$h.out
	if [ "$(cat "$tmp/clean-$h.rc" 2>/dev/null)" != 0 ]; then
		fail "blast recv on $h: exit $(cat "$tmp/clean-$h.rc" 2>/dev/null): $(cat "$tmp/clean-$h.err")"
		continue
	fi
	b=$(field "$o" bytes)
	# Without loss a receiver may still be overrun; most must arrive.
	if [ "$(field "$o" end)" = marker ] && [ -n "$b" ] &&
	    [ "$b" -le "$sent" ] && [ "$b" -ge $((sent / 4)) ] &&
	    [ $((b % 1472)) = 0 ]; then
		ok "blast recv on $h: $b of $sent bytes, ended at the marker, gro $(field "$o" gro)"
	else
		fail "blast recv on $h: $(cat "$o")"
	fi
done
b=$(field "$tmp/clean-r2.out" bytes)
[ -n "$b" ] && [ "$(stat -c %s "$tmp/clean.r2" 2>/dev/null)" = "$b" ] &&
    ok "blast recv --out wrote the $b bytes it received" ||
    fail "blast recv --out: file has $(stat -c %s "$tmp/clean.r2" 2>/dev/null) bytes, received $b"

# lab_shape_port: the tbf on the switch's port towards r1, the sender's
# egress untouched (mcast-throughput --shape-at bridge).
lab_shape_port r1 100mbit 512k 20ms
lab_exec s tc qdisc show dev eth0 | grep -q tbf &&
    fail "lab_shape_port r1 shaped the sender"
tc -n "$(lab_ns sw)" qdisc show dev p-r1 | grep -q 'burst 512Kb' &&
    ok "lab_shape_port puts the tbf on the switch's port to r1" ||
    fail "lab_shape_port r1: $(tc -n "$(lab_ns sw)" qdisc show dev p-r1)"
lab_shape_port r1 off

# Shaped to 100 Mbit/s with a 512 KiB bucket: the tbf is there with that
# bucket, and the blast cannot beat it (a load on the machine only slows it).
lab_shape s 100mbit 512k 20ms
lab_exec s tc qdisc show dev eth0 | grep -q 'burst 512Kb' &&
    ok "lab_shape with a 512k bucket" ||
    fail "lab_shape s 100mbit 512k: $(lab_exec s tc qdisc show dev eth0)"
blast_round shaped --size $((4 << 20))
f=$(field "$tmp/shaped-r1.out" first_us)
l=$(field "$tmp/shaped-r1.out" last_us)
b=$(field "$tmp/shaped-r1.out" bytes)
if [ -n "$b" ] && [ "$b" -gt 0 ] && [ "$l" -gt "$f" ]; then
	bps=$(( b * 8 * 1000000 / (l - f) ))
	# tbf lets the bucket through at once: allow it on top of the rate.
	[ $bps -le $(( 100000000 * 3 / 2 + 524288 * 8 * 1000000 / (l - f) )) ] &&
	    ok "blast through the tbf: $((bps / 1000000)) Mbit/s at 100mbit" ||
	    fail "blast beat the 100mbit tbf: $((bps / 1000000)) Mbit/s"
else
	fail "shaped blast: $(cat "$tmp/shaped-r1.out")"
fi
lab_shape s off

# Loss is counted, not repaired: 100 % on r1 leaves it nothing, and a
# receiver that got nothing fails.
lab_loss 100 r1
blast_round lossy --size $((1 << 20))
[ "$(cat "$tmp/lossy-r1.rc" 2>/dev/null)" = 1 ] &&
    [ "$(field "$tmp/lossy-r1.out" bytes)" = 0 ] &&
    ok "blast recv with nothing received: exit 1, 0 bytes" ||
    fail "blast recv under 100% loss: exit $(cat "$tmp/lossy-r1.rc" 2>/dev/null): $(cat "$tmp/lossy-r1.out")"
[ "$(cat "$tmp/lossy-r2.rc" 2>/dev/null)" = 0 ] &&
    ok "the other receiver still got its bytes" ||
    fail "r2 beside a lossy r1: exit $(cat "$tmp/lossy-r2.rc" 2>/dev/null)"
lab_loss 0 r1
lab_down >/dev/null 2>&1
LAB_NAME=

# --- mcast-report.py on rows made up here ----------------------------------
# tool|N|loss|result|wall|MiB/s|retrans|RSS s|RSS r|reason|sender exit|
# shaping|repeat|snd user|snd sys|rcv user|rcv sys|received %
cat >"$tmp/rows.txt" <<'EOF'
limit-discard|2|0|ok|0.1|1000|n/a|1.6|2.0||0.2|none|1|0|0.1|0|0.2|100
limit-write|2|0|ok|0.2|400|n/a|1.6|2.0||0.3|none|1|0|0.1|0.1|0.4|99
fleetcast|2|0|ok|1.0|100|1.0|40|50||1.1|none|1|1.0|0.5|1.2|0.6|
udpcast|2|0|ok|2.0|50|5.0|8|8||2.0|none|1|0|2.0|0.1|1.0|
fleetcast|2|0|ok|1.2|80|3.0|41|52||1.3|none|2|1.2|0.5|1.4|0.6|
udpcast|2|0|FAIL||||8|8|r1: copy has 5 of 10 bytes||none|2|||||
fleetcast|2|0|ok|0.9|120|2.0|42|51||1.0|none|3|0.8|0.5|1.0|0.6|
fleetcast|2|0|ok|0.5|100|0.0|40|50||0.6|1gbit/512k/20ms|1|1|1|1|1|
EOF
if python3 "$report" --rows "$tmp/rows.txt" --out "$tmp" --size 1048576 \
    --tools fleetcast,udpcast,limit-discard,limit-write >/dev/null; then
	python3 - "$tmp/results.json" <<'EOF' && ok "mcast-report: medians, min/max, link fraction, FAIL rule" ||
import json, sys
rows = {(r["tool"], r["rate"]): r for r in json.load(open(sys.argv[1]))}
fc, udp = rows[("fleetcast", "none")], rows[("udpcast", "none")]
shaped, lw = rows[("fleetcast", "1gbit")], rows[("limit-write", "none")]
checks = [
    (fc["mib_s"], 100.0), (fc["mib_s_min"], 80.0), (fc["mib_s_max"], 120.0),
    (fc["wall_s"], 1.0), (fc["repeats"], 3), (fc["retrans_pct"], 2.0),
    (fc["link_fraction"], 0.25), (fc["receiver_user_s_per_gib"], 1.2),
    (fc["sender_rss_mib"], 42.0), (udp["result"], "FAIL"),
    (udp["mib_s"], None), (udp["repeats_ok"], 1), (fc["ratio_to_udpcast"], None),
    (lw["link_fraction"], 0.4), (shaped["link_fraction"], round(100 / 119.2093, 3)),
    (shaped["tbf_burst"], "512k")]
bad = [(i, got, want) for i, (got, want) in enumerate(checks) if got != want]
if bad or "repeat 2: r1: copy has 5 of 10 bytes" not in udp["reason"]:
    print("mcast-report:", bad, udp["reason"])
    sys.exit(1)
EOF
	fail "mcast-report: wrong figures in $tmp/results.json"
	head -1 "$tmp/results.csv" | grep -q '^tool,receivers,loss_pct,size_bytes,result,wall_s,mib_s,retrans_pct,ratio_to_udpcast,sender_rss_mib,receiver_rss_max_mib,sender_exit_s,reason,' &&
	    ok "results.csv keeps the first columns in their order" ||
	    fail "results.csv columns: $(head -1 "$tmp/results.csv")"
else
	fail "mcast-report.py failed"
fi

# --- mcast-throughput's options --------------------------------------------
help=$("$mt" --help)
for o in --rate --burst --latency --shape-at --repeat --preset --blast; do
	echo "$help" | grep -q -- "$o" || fail "--help does not list $o"
done
ok "--help lists the shaping, repeat, preset and blast options"
for bad in "--repeat 0" "--preset nope" "--rate 1gbit --burst 5x" \
    "--rate 1gbit --latency 0ms" "--preset shaped --receivers 2" \
    "--tools limit,bogus" "--rate 1gbit --shape-at switch"; do
	# shellcheck disable=SC2086
	msg=$("$mt" $bad 2>&1)
	[ $? = 2 ] || fail "mcast-throughput $bad: not refused ($msg)"
done
ok "bad --repeat, --preset, --burst, --latency, --tools, --shape-at refused (exit 2)"

# One tiny run of the limit rows alone, twice each.
if "$mt" --tools limit --size 4M --receivers 1 --loss 0 --repeat 2 \
    --blast "$blast" --out "$tmp/run" >"$tmp/run.log" 2>&1; then
	n=$(grep -c '^limit-.*,ok,.*,2,2,' "$tmp/run/results.csv")
	[ "$n" = 2 ] && ok "mcast-throughput --tools limit --repeat 2: both limit rows, 2 of 2 runs" ||
	    fail "mcast-throughput limit rows: $(cat "$tmp/run/results.csv")"
	# env.txt records the command line as given (it was empty once: the
	# option loop had shifted it away).
	grep -q -- '^command: .*--tools limit --size 4M .*--repeat 2' "$tmp/run/env.txt" &&
	    ok "env.txt records the command line" ||
	    fail "env.txt: $(grep '^command:' "$tmp/run/env.txt")"
	if command -v gnuplot >/dev/null; then
		[ -s "$tmp/run/plot.svg" ] && ok "plot.svg written" ||
		    fail "no plot.svg"
	fi
else
	fail "mcast-throughput --tools limit: $(tail -n 5 "$tmp/run.log")"
fi

selftest_end bench_selftest
