#!/bin/bash
#
# console.sh: the web console in Debian's chromium, headless, driven over
# the DevTools protocol by console.py, against a real fleetcastd and three
# real agents in private namespaces (tests/integration/agent_lib.sh).  One
# agent reports a fact holding markup.  Screenshots go to
# tests/browser/shots/ in the build tree (runs.png is doc/console-runs.png).
# Outside CI it skips, saying so, when chromium or python3-websocket is
# missing; with CI=true it fails instead.
# Exit 0 pass, 1 fail, 77 skip.

. "${0%/*}/../integration/agent_lib.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1
[ -x "$PY" ] || PY=python3
if [ "${AL_INNER:-}" != 1 ]; then
	[ -x "$CHROMIUM" ] || al_skip "needs chromium ($CHROMIUM; Debian package chromium)"
	"$PY" -c 'import websocket' 2>/dev/null ||
	    al_skip "needs python3-websocket"
fi
al_init "$0" "$@"

SHOTS=$PWD/tests/browser/shots
mkdir -p "$SHOTS" || al_fail "mkdir $SHOTS"
# A feed nobody serves: the overview shows it and its fetch's error.
al_server_start --feed_url http://127.0.0.1:9/feed/ --feed_interval 10
XSS='<img src=x onerror=alert(1)>'
printf '#!/bin/sh\necho "note=%s"\necho CSDVersion=SP1\n' "$XSS" > "$T/facts.sh"
chmod 755 "$T/facts.sh"
al_agent_start web1
al_agent_start web2 --facts_command "$T/facts.sh"
al_agent_start web3
for m in web1 web2 web3; do
	al_wait_online $m
done
[ "$(al_machine_field web2 facts)" != "" ] || al_fail "no facts"
"$FC" machine show web2 --json | grep -qF 'onerror' ||
    al_fail "the markup fact did not reach the server"
al_ok "server and three agents online"

# The first package is uploaded by the page; the second is added here.
mkdir -p "$T/p1" "$T/p2"
printf '#!/bin/sh\necho "web console package on $(hostname)"\n' > "$T/p1/setup.sh"
printf '#!/bin/sh\necho second\n' > "$T/p2/setup.sh"
chmod 755 "$T/p1/setup.sh" "$T/p2/setup.sh"
"$FC" package build --dir "$T/p1" --exec setup.sh --id WEB1 --type hotfix \
    --major 1 --minor 0 --sign-key "$T/sign.key" -o "$T/WEB1.fcpkg" \
    >/dev/null || al_fail "package build WEB1"
"$FC" package build --dir "$T/p2" --exec setup.sh --id WEB2 --type hotfix \
    --major 1 --minor 0 --sign-key "$T/sign.key" -o "$T/WEB2.fcpkg" \
    >/dev/null || al_fail "package build WEB2"
"$FC" package add "$T/WEB2.fcpkg" >/dev/null || al_fail "package add WEB2"

timeout 100 "$PY" "${0%/*}/console.py" --url "$AL_API" \
    --token-file "$T/srv/api.token" --package "$T/WEB1.fcpkg" \
    --feed-url http://127.0.0.1:9/feed/feed.json \
    --package-id WEB1 --second-package-id WEB2 \
    --machines web1 web2 web3 --xss-machine web2 --shots "$SHOTS" \
    --chromium "$CHROMIUM" --log "$T/chromium.log" ||
    al_fail "the browser test failed (screenshots in $SHOTS)"
al_ok "console in chromium: every step passed (screenshots in $SHOTS)"
exit 0
