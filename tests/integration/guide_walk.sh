#!/bin/bash
#
# guide_walk.sh: doc/guide.md's own commands, in the order the guide gives
# them, against a real fleetcastd and four real agents (vm1-vm3 enrolled
# with a token, vm4 waiting for approval), so that the guide cannot drift
# from the programs again.  Every `$ fleetcast ...` line of the guide runs
# as written (continuation lines joined), in a directory where the guide's
# own `fleetcast key generate --out admin` made the key; the root lines
# that install, copy or edit files stand for the lab's own set-up (the
# server starts at `# fleetcastd -c`, the agents at `# fleetcast-agent -c`).
# Checks: no command is refused as bad usage (exit 2); each exits 0 unless
# the guide shows it failing (`sp2-mt` exceeds its max targets); the first
# run succeeds on every machine; a one-line answer the guide shows (created,
# changed, added, cleared, approved...) is what the program prints.  Two
# values that only a real fleet knows are taken from it: the REQUEST KEY
# given to `machine approve --fingerprint`, and the run of `run show N`
# (the last run).  Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside
# CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"
GUIDE=${top_srcdir:-$PWD/..}/doc/guide.md
[ -r "$GUIDE" ] || al_fail "no guide at $GUIDE"

# The guide's commands: one record per command, NUL-separated fields
# (line number, prompt, command, the first line the guide shows after it).
python3 - "$GUIDE" > "$T/cmds" <<'PY' || al_fail "reading the guide"
import re, sys
lines = open(sys.argv[1]).read().split("\n")
out = sys.stdout
i = 0
while i < len(lines):
    m = re.match(r"^\s+([$#]) (.*)$", lines[i])
    if not m:
        i += 1
        continue
    n, prompt, cmd = i + 1, m.group(1), m.group(2)
    while cmd.endswith("\\") and i + 1 < len(lines):
        i += 1
        cmd = cmd[:-1] + " " + lines[i].strip()
    nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
    if re.match(r"^[$#] ", nxt) or nxt in ("", "...") or nxt.startswith("```"):
        nxt = ""
    # A comment after the command belongs to the guide, not to the shell.
    cmd = re.sub(r"\s{2,}#.*$", "", cmd).strip()
    out.write("%d\0%s\0%s\0%s\0" % (n, prompt, cmd, nxt))
    i += 1
PY

mkdir -p "$T/guide/sp2" "$T/guide/sp3" "$T/guide/hf"
printf '#!/bin/sh\necho "service pack 2 $*"\n' > "$T/guide/sp2/install.sh"
printf '#!/bin/sh\necho "service pack 3 $*"\n' > "$T/guide/sp3/install.sh"
printf '#!/bin/sh\necho "hotfix"\nexit 3\n' > "$T/guide/hf/fix.sh"
head -c 500000 /dev/urandom > "$T/guide/sp2/data.bin"
chmod 755 "$T/guide/sp2/install.sh" "$T/guide/sp3/install.sh" \
    "$T/guide/hf/fix.sh"
cd "$T/guide" || al_fail "cd"

fails=0
ran=0
last_run()
{
	"$FC" run list --json | python3 -c 'import json,sys; a=json.load(sys.stdin); print(a[-1]["id"] if a else 1)'
}
vm4_key()
{
	"$FC" machine list --json | python3 -c 'import json,sys; print([m["request_fingerprint"] for m in json.load(sys.stdin) if m["name"]=="vm4"][0])'
}

while IFS= read -r -d '' n && IFS= read -r -d '' prompt &&
    IFS= read -r -d '' cmd && IFS= read -r -d '' shown; do
	case "$cmd" in
	"fleetcastd -c "*)
		cp admin.pub "$T/sign.pub"
		al_server_start --auto_approve no --trusted_keys "$T/guide/admin.pub"
		continue;;
	"fleetcastd -n "*)
		out=$("$FCD" -n --state_dir "$T/srv" --trusted_keys admin.pub 2>&1)
		[ "$out" = "$shown" ] || al_fail "guide:$n: '$cmd' says '$out', the guide '$shown'"
		continue;;
	"fleetcast-agent -c "*)
		tok=$("$FC" machine token --uses 3) || al_fail "machine token"
		for m in vm1 vm2 vm3; do
			al_agent_start $m --enroll_token "$tok"
		done
		al_agent_start vm4
		for m in vm1 vm2 vm3; do al_wait_online $m; done
		al_wait_field vm4 enrollment pending
		continue;;
	fleetcast\ *) ;;
	*)	continue;;	# install, copy, edit, build: the lab's own set-up
	esac
	# What only the real fleet knows.
	if [[ "$cmd" == *"machine approve vm4 --fingerprint "* ]]; then
		cmd="fleetcast machine approve vm4 --fingerprint $(vm4_key)"
	fi
	if [[ "$cmd" =~ ^(fleetcast\ run\ show\ )[0-9]+(.*)$ ]]; then
		cmd="${BASH_REMATCH[1]}$(last_run)${BASH_REMATCH[2]}"
	fi
	# Which machine S6 refuses is the one that was ready last: the
	# guide's vm1 stands for it.
	if [ -n "${ERRM:-}" ] && [[ "$cmd" == "fleetcast machine clear-error vm1" ||
	    "$cmd" == "fleetcast scenario run sp2-mt --machine vm1" ]]; then
		cmd=${cmd/vm1/$ERRM}
		shown=${shown//vm1/$ERRM}
	fi
	want=0
	case "$cmd" in
	"fleetcast scenario run sp2-mt --machine vm1 --machine vm2 --machine vm3 --wait")
		want=1;;	# one machine beyond max targets: error (S6)
	esac
	ran=$((ran + 1))
	eval "\"\$FC\" ${cmd#fleetcast }" > "$T/out" 2> "$T/err" < /dev/null
	rc=$?
	if [ "$rc" != "$want" ]; then
		echo "FAIL: guide:$n: '$cmd': exit $rc, wanted $want" >&2
		sed 's/^/    /' "$T/err" | head -5 >&2
		fails=$((fails + 1))
		continue
	fi
	# A one-line answer the guide shows must be the program's.
	case "$shown" in
	"scenario "*" created"|"scenario "*" changed"|"package "*" added"|\
	*" error cleared"|*" has no error to clear"|*" approved"*|\
	"configuration OK"*)
		got=$(head -1 "$T/out")
		case "$shown" in
		*" approved"*) ok=0; [[ "$got" == "${shown%% (*}"* ]] && ok=1;;
		*) ok=0; [ "$got" = "$shown" ] && ok=1;;
		esac
		if [ $ok != 1 ]; then
			echo "FAIL: guide:$n: '$cmd' printed '$got', the guide shows '$shown'" >&2
			fails=$((fails + 1))
		fi;;
	esac
	if [[ "$cmd" == "fleetcast scenario run sp2-mt --machine vm1 --machine vm2 --machine vm3 --wait" ]]; then
		r=$(tail -1 "$T/out")
		for m in vm1 vm2 vm3; do
			[ "$(al_mstate "$r" $m)" = error ] && ERRM=$m
		done
		[ -n "${ERRM:-}" ] || {
			echo "FAIL: guide:$n: no machine beyond max targets" >&2
			fails=$((fails + 1))
		}
	fi
	# The guide's first run succeeds on a fresh fleet.
	if [[ "$cmd" == "fleetcast scenario run sp2-rollout "* ]]; then
		r=$(tail -1 "$T/out")
		for m in vm1 vm2 vm3; do
			[ "$(al_mstate "$r" $m)" = succeeded ] || {
				echo "FAIL: guide:$n: $m is '$(al_mstate "$r" $m)': $(al_mstate "$r" $m error)" >&2
				fails=$((fails + 1))
			}
		done
	fi
done < "$T/cmds"

[ "$ran" -ge 30 ] || al_fail "only $ran of the guide's commands found"
[ "$fails" = 0 ] || al_fail "$fails of the guide's $ran commands did not do what it says"
al_ok "the guide's $ran fleetcast commands do what it says"
exit 0
