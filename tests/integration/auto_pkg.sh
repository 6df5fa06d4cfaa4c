#!/bin/bash
#
# auto_pkg.sh: package build --dir several times (P8) and --requires with
# any() and not (P10; issue #15), with a real fleetcastd and two real
# agents.  A package built from two folders holds each under its own name,
# and its program, in one, reads a file of the other on the agent; two
# folders of the same name are refused.  SP3 requiring any(pkg.SP1,
# pkg.SP2) is refused on a bare machine with both terms named and applied
# on the one that has SP2; a package requiring not pkg.SP2 goes the other
# way, the refusal saying that the term holds.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"

al_server_start
al_agent_start m1
al_agent_start m2
al_wait_online m1
al_wait_online m2
al_ok "server and two agents online"

# 1. Two folders, each under its own name.
mkdir -p "$T/src/app" "$T/assets/data" "$T/other/app"
cat > "$T/src/app/setup.sh" <<EOF2
#!/bin/sh
cat "\$(dirname "\$0")/../data/greeting" > "$T/greeted"
echo ran >> "$T/ran.TWO"
EOF2
chmod 755 "$T/src/app/setup.sh"
echo "hello from data" > "$T/assets/data/greeting"
"$FC" package build --dir "$T/src/app" --dir "$T/assets/data/" \
    --exec app/setup.sh --id TWO --type hotfix --sign-key "$T/sign.key" \
    -o "$T/TWO.fcpkg" > "$T/build.out" || al_fail "package build, two --dir"
# app/, app/setup.sh, data/, data/greeting
grep -q "4 entries" "$T/build.out" || al_fail "entries: $(cat "$T/build.out")"
out=$("$FC" package build --dir "$T/src/app" --dir "$T/other/app" \
    --exec app/setup.sh --id TWO --type hotfix --sign-key "$T/sign.key" \
    -o "$T/dup.fcpkg" 2>&1) && al_fail "two folders named app accepted"
grep -q "have the same name 'app'" <<< "$out" || al_fail "message: $out"
[ ! -e "$T/dup.fcpkg" ] || al_fail "a refused build left a file"
"$FC" package add "$T/TWO.fcpkg" >/dev/null || al_fail "package add TWO"
"$FC" scenario create s-two --package TWO >/dev/null || al_fail "scenario"
run=$(al_run s-two m1)
al_wait_state "$run" m1 succeeded
[ "$(cat "$T/greeted")" = "hello from data" ] ||
    al_fail "the program did not find the other folder: $(cat "$T/greeted" 2>&1)"
al_ok "two --dir: each under its own name, one read from the other"

# applies ID REQUIRES YES NO REASON: a package requiring REQUIRES is
# applied on machine YES and refused on NO with REASON (grep -E).
applies()
{
	local run
	al_pkg "$1" 'exit 0' --type hotfix --requires "$2"
	"$FC" scenario create "s-$1" --package "$1" >/dev/null ||
	    al_fail "scenario $1"
	run=$(al_run "s-$1" "$3" "$4")
	al_wait_state "$run" "$3" succeeded
	al_wait_state "$run" "$4" error
	al_has "$run" "$4" error "$1: not applicable: $5" ||
	    al_fail "reason: $(al_mstate "$run" "$4" error)"
	"$FC" machine clear-error "$4" >/dev/null || al_fail "clear-error"
}

# 2. any(): SP3 needs SP1 or SP2; m2 has SP2, m1 neither.
al_pkg SP2 'exit 0' --type servicepack --major 2 --minor 0
"$FC" scenario create s-sp2 --package SP2 >/dev/null || al_fail "scenario"
run=$(al_run s-sp2 m2)
al_wait_state "$run" m2 succeeded
applies SP3 'any(pkg.SP1, pkg.SP2)' m2 m1 "requires 'any\(pkg.SP1 exists, pkg.SP2 exists\)': none of its terms holds: 'pkg.SP1 exists': the machine has no fact pkg.SP1; 'pkg.SP2 exists': the machine has no fact pkg.SP2"
al_ok "any(): refused on the bare m1 naming both terms, applied on m2"

# 3. not: the other way round.
applies NOSP2 'not pkg.SP2' m1 m2 "requires 'not pkg.SP2 exists': 'pkg.SP2 exists' holds: pkg.SP2 is '2.0'"
al_ok "not: applied on m1, refused on m2 saying the term holds"

echo "PASS: auto_pkg"
exit 0
