#!/bin/sh
# The CLI side of `fleetcast key` and `fleetcast package build | inspect |
# verify`: exit status 0 / 1 / 2 as SPEC.md defines them, the wording of
# field errors, refusing to overwrite keys, and no output file left behind
# by a failed build.  make check runs it with top_builddir set; by hand:
#   top_builddir=build-dir sh tests/integration/package_cli.sh
set -u

top_builddir=${top_builddir:-.}
FC="$top_builddir/server/cli/fleetcast"
if [ ! -x "$FC" ]; then
	echo "package_cli: $FC not built" >&2
	exit 1
fi
T=$(mktemp -d "${TMPDIR:-/tmp}/fc-package-cli.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT INT TERM
fails=0
n=0

fail() {
	echo "FAIL: $*" >&2
	fails=$((fails + 1))
}

# run WANT_STATUS CMD...: run, keep stdout/stderr in $T/out and $T/err.
run() {
	want=$1
	shift
	n=$((n + 1))
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" != "$want" ]; then
		fail "exit $got, wanted $want: $*"
		sed 's/^/    /' "$T/err" >&2
	fi
}

# err_has TEXT: the last command's stderr holds TEXT (fixed string).
err_has() {
	grep -qF -- "$1" "$T/err" || fail "stderr lacks '$1': $(cat "$T/err")"
}

out_has() {
	grep -qF -- "$1" "$T/out" || fail "stdout lacks '$1'"
}

mode_of() {
	stat -c %a "$1"
}

# No package and no temp file of it in $T/pkgs.
no_output() {
	if [ -n "$(ls -A "$T/pkgs")" ]; then
		fail "left behind after a failed build: $(ls -A "$T/pkgs")"
		rm -f "$T/pkgs"/* "$T/pkgs"/.[!.]* 2>/dev/null
	fi
}

rep() {
	printf "%${2}s" "" | tr ' ' "$1"
}

mkdir "$T/pkgs" "$T/dir" "$T/dir/sub"
printf '#!/bin/sh\necho installing "$@"\n' >"$T/dir/setup.sh"
chmod 755 "$T/dir/setup.sh"
echo data >"$T/dir/sub/file"
ln -s ../setup.sh "$T/dir/sub/link"

# --help everywhere, on stdout, exit 0.
for c in "key --help" "key generate --help" "key generate-psk --help" \
    "package --help" "package build --help" "package inspect --help" \
    "package verify --help"; do
	run 0 $FC $c
	out_has "usage: fleetcast"
done
run 2 $FC key
run 2 $FC key frobnicate
run 2 $FC package frobnicate

# Keys.
run 0 $FC key generate --out "$T/k"
[ "$(mode_of "$T/k.key")" = 600 ] || fail "k.key mode $(mode_of "$T/k.key")"
grep -q "BEGIN PRIVATE KEY" "$T/k.key" || fail "k.key is not PEM"
grep -q "BEGIN PUBLIC KEY" "$T/k.pub" || fail "k.pub is not PEM"
cp "$T/k.key" "$T/k.key.orig"
run 1 $FC key generate --out "$T/k"
err_has "exists; use --force"
cmp -s "$T/k.key" "$T/k.key.orig" || fail "k.key replaced without --force"
run 0 $FC key generate --out "$T/other"
run 0 $FC key generate --out "$T/other" --force
run 2 $FC key generate
err_has "--out: required"
run 2 $FC key generate --out "$T/x" extra
run 2 $FC key generate --bogus
run 1 $FC key generate --out "$T/no/such/dir/k"
[ -e "$T/no" ] && fail "key generate created a directory"

run 0 $FC key generate-psk --out "$T/psk"
[ "$(mode_of "$T/psk")" = 600 ] || fail "psk mode $(mode_of "$T/psk")"
[ "$(wc -c <"$T/psk")" -eq 65 ] || fail "psk is not 65 bytes"
grep -qE '^[0-9a-f]{64}$' "$T/psk" || fail "psk is not 64 hex digits"
run 1 $FC key generate-psk --out "$T/psk"
err_has "exists; use --force"
run 0 $FC key generate-psk --out "$T/psk" --force

# A good build, inspect and verify.
B="$FC package build --dir $T/dir --exec setup.sh --sign-key $T/k.key"
run 0 $B --id SP2 --type servicepack --major 2 --minor 0 \
    --args /quiet --args "two words" --company ACME \
    --release-date 2024/02/29 --summary "Service pack 2" --os debian-12 \
    --lang en --requires "kernel >= 6.1" --requires "sp exists" \
    --reboot-after-install --exclusive --idempotent -o "$T/pkgs/sp2.fcpkg"
out_has "built $T/pkgs/sp2.fcpkg"
run 0 $FC package inspect "$T/pkgs/sp2.fcpkg"
out_has "SP2"
out_has "2024/02/29"
out_has "'kernel >= 6.1'"
run 0 $FC package inspect "$T/pkgs/sp2.fcpkg" --json
out_has '"id": "SP2"'
out_has '"urgency": "normal"'
out_has '"release_date": "2024/02/29"'
out_has '"reboot_after_install": true'
run 0 $FC package verify "$T/pkgs/sp2.fcpkg" --pubkey "$T/k.pub"
out_has "OK"
run 1 $FC package verify "$T/pkgs/sp2.fcpkg" --pubkey "$T/other.pub"
err_has "key: signed by key"
# Several trusted keys in one file, as a trusted_keys file.
cat "$T/other.pub" "$T/k.pub" >"$T/both.pub"
run 0 $FC package verify "$T/pkgs/sp2.fcpkg" --pubkey "$T/both.pub"
run 2 $FC package verify "$T/pkgs/sp2.fcpkg"
err_has "--pubkey: required"
run 2 $FC package verify "$T/pkgs/sp2.fcpkg" --pubkey "$T/nope.pub"
run 2 $FC package verify "$T/pkgs/missing.fcpkg" --pubkey "$T/k.pub"
run 2 $FC package inspect
run 2 $FC package inspect "$T/pkgs/sp2.fcpkg" --bogus

# Tampering: one flipped byte in the manifest, signature and payload.
size=$(wc -c <"$T/pkgs/sp2.fcpkg")
mlen=$(od -An -tu1 -j12 -N4 "$T/pkgs/sp2.fcpkg" |
    awk '{ print $1 * 16777216 + $2 * 65536 + $3 * 256 + $4 }')
flip() {	# flip OFFSET CHECK
	cp "$T/pkgs/sp2.fcpkg" "$T/flip.fcpkg"
	b=$(od -An -tu1 -j"$1" -N1 "$T/flip.fcpkg" | tr -d ' ')
	printf "$(printf '\\%03o' $(( (b + 1) % 256 )))" |
	    dd of="$T/flip.fcpkg" bs=1 seek="$1" conv=notrunc 2>/dev/null
	run 1 $FC package verify "$T/flip.fcpkg" --pubkey "$T/k.pub"
	err_has "$2"
	err_has "NOT verified"
}
flip 0 "header: "
flip 20 "signature: "			# inside the manifest (the id)
flip $((16 + mlen - 1)) "key: "		# last byte of the key id
flip $((16 + mlen + 10)) "signature: "
flip $((size - 1)) "payload: SHA-256"
flip $((16 + mlen + 64 + 1)) "payload: SHA-256"
head -c $((size - 1)) "$T/pkgs/sp2.fcpkg" >"$T/trunc.fcpkg"
run 1 $FC package verify "$T/trunc.fcpkg" --pubkey "$T/k.pub"
err_has "truncated: "
head -c 100 "$T/pkgs/sp2.fcpkg" >"$T/trunc.fcpkg"
run 1 $FC package verify "$T/trunc.fcpkg" --pubkey "$T/k.pub"
err_has "truncated: "
run 1 $FC package inspect "$T/trunc.fcpkg"
echo "not a package" >"$T/junk.fcpkg"
run 1 $FC package verify "$T/junk.fcpkg" --pubkey "$T/k.pub"
err_has "not a fleetcast package"
rm -f "$T/pkgs/sp2.fcpkg"

# Limits: the limit passes, one past fails with exit 2 and no file.
ok_build() {
	run 0 $B "$@" -o "$T/pkgs/ok.fcpkg"
	rm -f "$T/pkgs/ok.fcpkg"
}
bad_build() {	# bad_build MESSAGE ARGS...
	msg=$1
	shift
	run 2 $B "$@" -o "$T/pkgs/bad.fcpkg"
	err_has "$msg"
	no_output
}
HF="--type hotfix"
ok_build --id "$(rep a 63)" $HF
bad_build "--id: 64 bytes, limit 63" --id "$(rep a 64)" $HF
bad_build "--id: empty" --id "" $HF
bad_build "--id: a space at byte 2" --id "a b" $HF
ok_build --id x $HF --company "$(rep c 127)"
bad_build "--company: 128 bytes, limit 127" --id x $HF --company "$(rep c 128)"
ok_build --id x $HF --summary "$(rep s 511)"
bad_build "--summary: 512 bytes, limit 511" --id x $HF --summary "$(rep s 512)"
ok_build --id x $HF --kb "$(rep k 31)"
bad_build "--kb: 32 bytes, limit 31" --id x $HF --kb "$(rep k 32)"
ok_build --id x $HF --release-date 2000/02/29
bad_build "--release-date: 2023/02/30 is not a real date (YYYY/MM/DD)" \
    --id x $HF --release-date 2023/02/30
bad_build "--release-date: 1900/02/29 is not a real date" --id x $HF \
    --release-date 1900/02/29
bad_build "--release-date: '2023-01-01' is not YYYY/MM/DD" --id x $HF \
    --release-date 2023-01-01
bad_build "--type: 'sp' is not one of servicepack, hotfix, application" \
    --id x --type sp
bad_build "--urgency: 'urgent' is not one of highest, high, normal, low" \
    --id x $HF --urgency urgent
bad_build "--major/--minor: required for service packs" --id x \
    --type servicepack
bad_build "--major: given without --minor" --id x --type servicepack \
    --major 2
bad_build "--major: '65536' is not a number from 0 to 65535" --id x \
    --type servicepack --major 65536 --minor 0
ok_build --id x --type servicepack --major 65535 --minor 0
bad_build "--kb: not used for service packs" --id x --type servicepack \
    --major 2 --minor 0 --kb KB1
bad_build "--requires: 'kernel <= 6' needs 'exists', '==' or '>='" --id x \
    $HF --requires "kernel <= 6"
bad_build "--supersedes: 'x' is the package's own id" --id x $HF \
    --supersedes x
bad_build "--os: 'a' given twice" --id x $HF --os a --os a
bad_build "--id: given twice" --id x --id y $HF
bad_build "--type: required" --id x
bad_build "unknown option '--bogus'" --id x $HF --bogus
bad_build "--sign-key: " --id x $HF --sign-key "$T/nope.key"

# The executable and the folder.
run 2 $FC package build --dir "$T/dir" --exec ../setup.sh --id x $HF \
    --sign-key "$T/k.key" -o "$T/pkgs/bad.fcpkg"
err_has "--exec: ../setup.sh has a '..' component"
no_output
run 2 $FC package build --dir "$T/dir" --exec missing.sh --id x $HF \
    --sign-key "$T/k.key" -o "$T/pkgs/bad.fcpkg"
err_has "--exec: missing.sh does not exist"
no_output
run 2 $FC package build --dir "$T/dir" --exec sub/file --id x $HF \
    --sign-key "$T/k.key" -o "$T/pkgs/bad.fcpkg"
err_has "is not executable"
no_output
run 0 $FC package build --dir "$T/dir" --exec ./setup.sh --id x $HF \
    --sign-key "$T/k.key" -o "$T/pkgs/ok.fcpkg"
rm -f "$T/pkgs/ok.fcpkg"
mkfifo "$T/dir/sub/fifo"
bad_build "--dir: sub/fifo is a FIFO" --id x $HF
rm -f "$T/dir/sub/fifo"
ln -s /etc/passwd "$T/dir/sub/abs"
bad_build "symlink to the absolute path /etc/passwd" --id x $HF
rm -f "$T/dir/sub/abs"
ln -s ../../outside "$T/dir/sub/up"
bad_build "points outside the package folder" --id x $HF
rm -f "$T/dir/sub/up"
run 2 $FC package build --dir "$T/nodir" --exec setup.sh --id x $HF \
    --sign-key "$T/k.key" -o "$T/pkgs/bad.fcpkg"
err_has "--dir: "
no_output
# An operation failure (the output directory is missing): exit 1.
run 1 $B --id x $HF -o "$T/nodir/x.fcpkg"
no_output

if [ "$fails" -ne 0 ]; then
	echo "package_cli: $fails of $n checks failed" >&2
	exit 1
fi
echo "package_cli: $n commands checked"
exit 0
