#!/bin/bash
#
# vmlab_short.sh: the short form of `fleetcast bench vmlab` (issue 13): 3
# real Debian 12 virtual machines (QEMU) with the fleetcast-agent .deb built
# from this tree, started by systemd, and cases 1 (enrollment), 2 (a
# service pack installing a .deb, --requires os.version_id == 12), 3 (two
# next-boot packages across a real systemctl reboot) and 5 (power-off
# after delivery, applied when started again), through the real fleetcastd
# and CLI.  It checks the --json report's shape and that every case passed,
# and that bad options are refused with status 2.  Then a Ctrl-C typed on
# a terminal (vmlab_pty.py) while 2 machines boot must leave nothing of
# that run behind and exit 130.  The image is cached in
# $FLEETCAST_VMLAB_CACHE (default /var/cache/fleetcast/vmlab): the first run
# needs a Debian mirror.  Outside CI it skips (77) only when QEMU cannot run
# here, saying why; with CI=true it fails instead.  Exit 0 pass, 1 fail.

here=$(cd "${0%/*}" && pwd)
top_srcdir=${top_srcdir:-$here/../..}
top_builddir=${top_builddir:-.}
FC=$(cd "$top_builddir" && pwd)/server/cli/fleetcast

skip()
{
	if [ "${CI:-}" = true ]; then
		echo "FAIL (CI=true, cannot skip): $*"
		exit 1
	fi
	echo "SKIP: $*"
	exit 77
}

fail()
{
	echo "FAIL: $*"
	[ -f "$out/run.log" ] && tail -n 40 "$out/run.log"
	exit 1
}

[ "$(id -u)" = 0 ] || skip "needs root (network namespace, taps, chroot)"
for c in qemu-system-x86_64 qemu-img mmdebstrap dpkg-buildpackage python3; do
	command -v $c >/dev/null 2>&1 || skip "$c not installed (scripts/install-deps)"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun: QEMU cannot have a tap"
if ! timeout 10 qemu-system-x86_64 -accel tcg -machine none -nodefaults \
    -display none -monitor none -serial none -no-user-config \
    -device help >/dev/null 2>&1; then
	skip "qemu-system-x86_64 does not start here"
fi
[ -x "$FC" ] || fail "$FC: not built"

out=$(mktemp -d "${TMPDIR:-/tmp}/fc-vmlab.XXXXXX") || exit 1
trap 'rm -rf "$out"' EXIT

# Bad usage is refused before anything is built.
for bad in "--vms 0" "--vms x" "--cases 11" "--cases 0" "--memory 10" "--frobnicate"; do
	# shellcheck disable=SC2086
	"$FC" bench vmlab $bad > "$out/bad.out" 2>&1
	rc=$?
	[ $rc = 2 ] || fail "vmlab $bad: status $rc, want 2 ($(cat "$out/bad.out"))"
	grep -q "vmlab: " "$out/bad.out" || fail "vmlab $bad: no message"
done
echo "ok: bad options refused with status 2"

start=$SECONDS
timeout -s INT 900 "$FC" bench vmlab --short --json --keep --out "$out/lab" \
    > "$out/result.json" 2> "$out/run.log"
rc=$?
echo "vmlab --short: status $rc in $((SECONDS - start)) s (load $(cut -d' ' -f1-3 /proc/loadavg))"
cat "$out/result.json"
python3 - "$out/result.json" <<'PY' || fail "the --json report"
import json, sys
d = json.load(open(sys.argv[1]))
assert set(d) == {"vms", "accel", "cases", "boot_ids"}, sorted(d)
assert d["vms"] == 3 and d["accel"] in ("kvm", "tcg"), d
names = [c["name"] for c in d["cases"]]
assert names == ["enroll", "servicepack", "next-boot", "poweroff-after"], names
for c in d["cases"]:
    assert set(c) == {"name", "ok", "seconds", "detail"}, c
    assert isinstance(c["ok"], bool) and isinstance(c["seconds"], int), c
    assert c["ok"], "case %s failed: %s" % (c["name"], c["detail"])
b = d["boot_ids"]
assert sorted(b) == ["vm1", "vm2", "vm3"], b
# vm1 rebooted (case 3) and was powered off and started (case 5); the
# others rebooted once.
assert len(set(b["vm1"])) >= 3 and len(b["vm1"]) == len(set(b["vm1"])), b
for vm in ("vm2", "vm3"):
    assert len(set(b[vm])) >= 2, b
PY
[ $rc = 0 ] || fail "vmlab --short exited $rc although every case passed"
echo "ok: 3 VMs, cases enroll, servicepack, next-boot, poweroff-after"

# Ctrl-C while the machines boot (the interrupt goes once the second
# one's kernel runs), typed on a terminal: everything of that run is torn
# down and the status says it was interrupted.  The .deb of
# the run above (--keep) makes it start from the cached image.
deb=$(ls "$out"/lab/src/fleetcast-agent_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] || fail "no fleetcast-agent .deb kept in $out/lab/src"
rm -rf "$out/lab"/vm*.qcow2
intr=$out/intr
mkdir -p "$intr"
start=$SECONDS
st=$(python3 "$here/vmlab_pty.py" "$out/intr.log" "$intr/vm2.console" \
    "Linux version" 300 -- "$FC" bench vmlab --vms 2 --cases 1 --deb "$deb" \
    --out "$intr") || { cat "$out/intr.log"; fail "Ctrl-C run: $st"; }
echo "Ctrl-C run: $st in $((SECONDS - start)) s"
pid=$(echo "$st" | awk '{ print $2 }')
[ "$(echo "$st" | awk '{ print $4 }')" = 130 ] ||
    { tail -n 20 "$out/intr.log"; fail "Ctrl-C run: $st, want status 130"; }
grep -q "interrupted: tearing down" "$out/intr.log" ||
    fail "Ctrl-C run: no 'interrupted: tearing down' in its output"
for f in "$intr/vm1.console" "$intr/vm2.console"; do
	grep -q "^==== start" "$f" || fail "Ctrl-C run: interrupted before ${f##*/} started"
done
left=""
for p in /proc/[0-9]*; do
	tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qF "$intr/" &&
	    left="$left process ${p#/proc/}($(tr '\0' ' ' < "$p/cmdline" | cut -c1-60))"
done
ip netns list | grep -qw "fcvm$pid" && left="$left namespace fcvm$pid"
[ -e "/run/netns/fcvm$pid" ] && left="$left /run/netns/fcvm$pid"
[ -e "/etc/netns/fcvm$pid" ] && left="$left /etc/netns/fcvm$pid"
grep -qE "fcvm$pid|$intr" /proc/self/mountinfo && left="$left mount"
# The taps and the bridge live in the namespace; none may be out here.
ip -o link show | grep -qE ': (fctap[0-9]+|fcbr0)[:@]' &&
    left="$left $(ip -o link show | grep -oE '(fctap[0-9]+|fcbr0)' | tr '\n' ' ')"
for f in "$intr"/*.qcow2 "$intr"/*.ga "$intr/src"; do
	[ -e "$f" ] && left="$left ${f#"$out"/}"
done
[ -z "$left" ] || fail "left after Ctrl-C:$left"
echo "ok: Ctrl-C while booting: status 130, no QEMU, namespace, tap, mount or overlay left"
echo "PASS: vmlab_short"
exit 0
