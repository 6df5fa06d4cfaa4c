#!/bin/bash
#
# vmlab_short.sh: the short form of `fleetcast bench vmlab` (issue 13): 3
# real Debian 12 virtual machines (QEMU) with the fleetcast-agent .deb built
# from this tree, started by systemd, and cases 1 (enrollment), 2 (a
# service pack installing a .deb, --requires os.version_id == 12), 3 (two
# next-boot packages across a real systemctl reboot) and 5 (power-off
# after delivery, applied when started again), through the real fleetcastd
# and CLI.  It checks the --json report's shape and that every case passed,
# and that bad options are refused with status 2.  The image is cached in
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
for bad in "--vms 0" "--vms x" "--cases 9" "--memory 10" "--frobnicate"; do
	# shellcheck disable=SC2086
	"$FC" bench vmlab $bad > "$out/bad.out" 2>&1
	rc=$?
	[ $rc = 2 ] || fail "vmlab $bad: status $rc, want 2 ($(cat "$out/bad.out"))"
	grep -q "vmlab: " "$out/bad.out" || fail "vmlab $bad: no message"
done
echo "ok: bad options refused with status 2"

start=$SECONDS
timeout -s INT 900 "$FC" bench vmlab --short --json --out "$out/lab" \
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
echo "PASS: vmlab_short"
exit 0
