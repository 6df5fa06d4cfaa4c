#!/bin/bash
#
# sec_enroll.sh: enrollment against a man in the middle and a stranger
# (issue #12 findings 1 and 9), with a real fleetcastd that does not
# approve by itself and real agents.  Checks: an agent given the server's
# token (which carries its fingerprint), or only server_fingerprint,
# refuses a fake TLS server with a self-signed certificate and sends it
# nothing, the token least of all, saying why; the token does not enroll
# a second key under a name that is enrolled (the request waits for an
# admin, the machine keeps its identity); a one-use token is used up by
# its first enrollment, an expired one and one made for another name are
# refused, each with the reason; a second agent asking for a waiting name
# with another key does not replace the first request, which the admin
# then approves.  Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside
# CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"
command -v openssl >/dev/null 2>&1 || al_skip "needs openssl"

FAKE=127.0.0.1:56023

# A TLS 1.3 server with a self-signed certificate that keeps every byte a
# client sends it, in $T/fake.bytes.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -keyout "$T/fake.key" -out "$T/fake.crt" -days 2 -subj /CN=fleetcastd \
    >/dev/null 2>&1 || al_fail "openssl req"
: > "$T/fake.bytes"
python3 - "$T/fake.crt" "$T/fake.key" "$T/fake.bytes" <<'PY' \
    >> "$T/fake.log" 2>&1 &
import socket, ssl, sys, time
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 56023))
s.listen(16)
while True:
    c, _ = s.accept()
    c.settimeout(3)
    try:
        t = ctx.wrap_socket(c, server_side=True)
        print("handshake done", flush=True)
        while True:
            d = t.recv(65536)
            if not d:
                break
            with open(sys.argv[3], "ab") as f:
                f.write(d)
    except Exception as e:
        print("fake:", e, flush=True)
    c.close()
PY
AL_PIDS="$AL_PIDS $!"

al_server_start --auto_approve no
token=$(cat "$T/srv/enroll.token")
secret=$(cut -d. -f1,2 <<< "$token")
fp=$("$FC" server fingerprint | sed 's/^server_fingerprint = //')
[ "${token##*.}" = "$fp" ] || al_fail "enroll.token does not end in $fp"

# 1. The man in the middle: nothing reaches it.
al_agent_start mitm --server $FAKE --enroll_token "$token"
al_agent_start mitm2 --server $FAKE --server_fingerprint "$fp"
al_wait_log "$T/mitm.log" "not enrolling with this server, nothing sent: \
.*pinned fingerprint"
al_wait_log "$T/mitm2.log" "not enrolling with this server, nothing sent"
sleep 1
grep -q "handshake done" "$T/fake.log" || al_fail "no handshake with the fake"
grep -qF "$secret" "$T/fake.bytes" && al_fail "the fake server got the token"
[ -s "$T/fake.bytes" ] && al_fail "the fake server got $(wc -c < \
    "$T/fake.bytes") bytes"
[ -e "$T/mitm/ca.crt" ] && al_fail "mitm pinned the fake server"
al_agent_stop mitm
al_agent_stop mitm2
al_ok "a fake server gets nothing, the agent says why"

# 2. The token does not enroll another key as an enrolled machine.
al_agent_start m1 --enroll_token "$token"
al_wait_online m1
cert1=$(openssl x509 -in "$T/m1/agent.crt" -noout -fingerprint -sha256)
al_agent_start m1b --name m1 --enroll_token "$token"
al_wait_log "$T/m1b.log" "enrollment pending"
[ -e "$T/m1b/agent.crt" ] && al_fail "the token enrolled m1 again"
[ "$(al_machine_field m1 enrollment)" = enrolled ] ||
    al_fail "m1: '$(al_machine_field m1 enrollment)'"
[ "$(al_machine_field m1 reenrollment)" = requested ] ||
    al_fail "m1: no re-enrollment request"
grep -q "enroll_token .* does not enroll m1 again" "$T/server.log" ||
    al_fail "server: no reason logged"
al_agent_stop m1b
al_agent_stop m1
al_agent_start m1
al_wait_online m1
[ "$(openssl x509 -in "$T/m1/agent.crt" -noout -fingerprint -sha256)" = \
    "$cert1" ] || al_fail "m1's certificate changed"
al_ok "a token does not enroll an enrolled name"

# 3. Used up, expired, for another name.
one=$("$FC" machine token --uses 1 2>/dev/null) || al_fail "machine token"
short=$("$FC" machine token --expires 1s 2>/dev/null) || al_fail "token"
named=$("$FC" machine token --name n1 2>/dev/null) || al_fail "token --name"
"$FC" machine token --uses 0 >/dev/null 2>&1 && al_fail "--uses 0 accepted"
"$FC" machine token --expires soon >/dev/null 2>&1 &&
    al_fail "--expires soon accepted"
"$FC" machine tokens | grep -q "^${named%%.*} *n1 " ||
    al_fail "machine tokens does not list the named token"
al_agent_start u1 --enroll_token "$one"
al_wait_online u1
al_agent_start u2 --enroll_token "$one"
sleep 1.5
al_agent_start e1 --enroll_token "$short"
al_agent_start n2 --enroll_token "$named"
for w in "u2:used up \(1 uses\)" "e1:expired at" "n2:for machine n1, not n2"; do
	al_wait_log "$T/${w%%:*}.log" "enrollment refused: enroll_token .*${w#*:}"
	[ -e "$T/${w%%:*}/agent.crt" ] && al_fail "${w%%:*} enrolled"
done
al_agent_start n1 --enroll_token "$named"
al_wait_online n1
al_ok "used-up, expired and other names' tokens are refused"

# 4. A second key for a waiting name is another request.
al_agent_start p1
al_wait_field p1 enrollment pending
fp1=$(al_machine_field p1 request_fingerprint)
[ ${#fp1} = 64 ] || al_fail "p1: request fingerprint '$fp1'"
grep -q "enrolling as p1, key fingerprint $fp1" "$T/p1.log" ||
    al_fail "p1 does not log the key fingerprint the admin sees"
al_agent_start p1b --name p1
al_wait_log "$T/p1b.log" "enrollment pending"
[ "$(al_machine_field p1 request_fingerprint)" = "$fp1" ] ||
    al_fail "the second key replaced the first request"
"$FC" machine show p1 --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
o = d["other_requests"]
sys.exit(0 if len(o) == 1 and o[0]["fingerprint"] != sys.argv[1] else 1)
' "$fp1" || al_fail "p1: the other request is not listed"
"$FC" machine list | grep -q "^p1 .*other_request" ||
    al_fail "machine list does not show the other request"
"$FC" machine approve p1 --fingerprint "$fp1" >/dev/null ||
    al_fail "approve p1"
al_wait_online p1
[ -e "$T/p1b/agent.crt" ] && al_fail "p1b got a certificate"
al_ok "a second key does not replace a waiting request"

echo "PASS: sec_enroll"
exit 0
