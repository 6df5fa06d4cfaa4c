#!/bin/bash
#
# api_tls.sh: the API off loopback needs TLS (issue #14).  On an address
# that is not loopback fleetcastd refuses to start without a certificate
# for the API, and says which keys to set; half a configuration is
# refused too.  With api_tls = ca it serves the certificate of its own CA
# (a client trusting state_dir/ca.crt gets the API and the console over
# HTTPS, and plain HTTP gets nothing); with api_tls_cert / api_tls_key it
# serves the admin's certificate.
# The CLI speaks https:// too: verified against --ca, $FLEETCAST_API_CA
# or the server CA of the config on this host, refused with a clear error
# for a wrong CA or a wrong name.
# Exit 0 pass, 1 fail, 77 skip (no root/unshare, outside CI).

. "${0%/*}/agent_lib.sh"
al_init "$0" "$@"
command -v curl >/dev/null || al_fail "needs curl"
command -v openssl >/dev/null || al_fail "needs openssl"
# Not a loopback address (the server judges the address, not the link).
ip addr add 10.56.0.1/32 dev lo || al_fail "ip addr add 10.56.0.1"
ADDR=10.56.0.1:56080

# start NAME ARGS...: fleetcastd in the background; its pid in $SRV.
start()
{
	local name=$1
	shift
	"$FCD" -d --state_dir "$T/srv" --control_listen 127.0.0.1:56022 \
	    --api_listen "$ADDR" "$@" > "$T/$name.log" 2>&1 &
	SRV=$!
	AL_PIDS="$AL_PIDS $SRV"
}

# refused NAME PATTERN ARGS...: fleetcastd exits at once, saying PATTERN.
refused()
{
	local name=$1 pat=$2 i
	shift 2
	start "$name" "$@"
	for ((i = 0; i < 100; i++)); do
		kill -0 $SRV 2>/dev/null || break
		sleep 0.05
	done
	kill -0 $SRV 2>/dev/null && al_fail "$name: fleetcastd did not refuse"
	wait $SRV && al_fail "$name: fleetcastd exited 0"
	grep -q -- "$pat" "$T/$name.log" ||
	    al_fail "$name: no '$pat' in: $(cat "$T/$name.log")"
}

# up NAME CURL-ARGS...: until the API answers GET /v1/status over TLS.
up()
{
	local name=$1 i
	shift
	for ((i = 0; i < 100; i++)); do
		[ -s "$T/srv/api.token" ] && curl -sf "$@" -H \
		    "Authorization: Bearer $(cat "$T/srv/api.token")" \
		    "$URL/v1/status" > "$T/$name.status" && return 0
		kill -0 $SRV 2>/dev/null ||
		    al_fail "$name: fleetcastd exited: $(cat "$T/$name.log")"
		sleep 0.1
	done
	al_fail "$name: no answer over TLS: $(cat "$T/$name.log")"
}

stop()
{
	kill -TERM $SRV
	wait $SRV
}

refused plain "api_listen: $ADDR is not a loopback address.*api_tls_cert and api_tls_key.*api_tls = ca"
refused half "api_tls_cert and api_tls_key: set both" --api_tls_cert "$T/x.crt"
refused both "api_tls = ca and api_tls_cert: choose one" --api_tls ca \
    --api_tls_cert "$T/x.crt" --api_tls_key "$T/x.key"
refused missing "api_tls_cert: $T/none.crt" --api_tls_cert "$T/none.crt" \
    --api_tls_key "$T/none.key"
al_ok "off loopback without TLS, or with half of it, fleetcastd refuses to start"

# The server's own CA: the name in its certificate is fleetcastd.
start ca --api_tls ca
URL=https://fleetcastd:56080
CURL="--cacert $T/srv/ca.crt --resolve fleetcastd:56080:10.56.0.1"
up ca $CURL
grep -q '"version"' "$T/ca.status" || al_fail "ca: GET /v1/status: $(cat "$T/ca.status")"
grep -q "api: listening on https://$ADDR" "$T/ca.log" || al_fail "ca: no https in the log"
curl -sf $CURL -D "$T/ca.head" -o "$T/ca.html" "$URL/console/" ||
    al_fail "ca: the console over TLS"
grep -qi "^content-security-policy: .*frame-ancestors 'none'" "$T/ca.head" ||
    al_fail "ca: the console's CSP"
grep -q 'app.js' "$T/ca.html" || al_fail "ca: not the console's page"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://$ADDR/v1/status")
[ "$code" = 000 ] || al_fail "ca: plain HTTP answered $code"
code=$(curl -s -o /dev/null -w '%{http_code}' $CURL "$URL/v1/status")
[ "$code" = 401 ] || al_fail "ca: no token over TLS: $code, want 401"
al_ok "api_tls = ca: the API and the console over HTTPS, nothing in plain HTTP"

# The CLI over https://: the names fleetcastd and the host's (the server
# CA's certificate carries both) resolve to the address through a hosts
# file of this mount namespace.
{ cat /etc/hosts; echo "10.56.0.1 fleetcastd $(hostname)"; } > "$T/hosts"
mount --bind "$T/hosts" /etc/hosts || al_fail "mount the hosts file"
# cli OUT ARGS...: the CLI, stdout and stderr into $T/OUT; its status in $rc.
cli()
{
	local out=$1
	shift
	rc=0
	timeout 30 "$FC" "$@" > "$T/$out" 2>&1 </dev/null || rc=$?
}
cli ca.list --api "$URL" --ca "$T/srv/ca.crt" machine list
[ $rc = 0 ] || al_fail "cli: --ca ca.crt: exit $rc: $(cat "$T/ca.list")"
FLEETCAST_API_CA=$T/srv/ca.crt cli ca.env --api "$URL" machine list
[ $rc = 0 ] || al_fail "cli: FLEETCAST_API_CA: exit $rc: $(cat "$T/ca.env")"
# On the server's host the server CA is trusted without being named.
printf 'state_dir = %s\n' "$T/srv" > "$T/cli.conf"
FLEETCAST_SERVER_CONF=$T/cli.conf cli ca.own --api "$URL" machine list
[ $rc = 0 ] || al_fail "cli: the server's CA by default: exit $rc: $(cat "$T/ca.own")"
# A CA that did not issue the certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj /CN=other -keyout "$T/other.key" -out "$T/other.crt" \
    2>/dev/null || al_fail "openssl req other"
cli ca.wrong --api "$URL" --ca "$T/other.crt" machine list
[ $rc = 1 ] || al_fail "cli: wrong CA: exit $rc, want 1: $(cat "$T/ca.wrong")"
grep -q "certificate verify failed: self-signed certificate in certificate chain" \
    "$T/ca.wrong" || al_fail "cli: wrong CA: $(cat "$T/ca.wrong")"
FLEETCAST_SERVER_CONF=$T/none.conf cli ca.sys --api "$URL" machine list
[ $rc = 1 ] && grep -q "certificate verify failed" "$T/ca.sys" ||
    al_fail "cli: system CAs only: exit $rc: $(cat "$T/ca.sys")"
# The right CA, the wrong name: the certificate is not for the address.
cli ca.name --api https://10.56.0.1:56080 --ca "$T/srv/ca.crt" machine list
[ $rc = 1 ] || al_fail "cli: wrong name: exit $rc, want 1: $(cat "$T/ca.name")"
grep -q "name mismatch: the server's certificate is not for '10.56.0.1'" \
    "$T/ca.name" || al_fail "cli: wrong name: $(cat "$T/ca.name")"
cli ca.plain --api http://fleetcastd:56080 machine list
[ $rc = 1 ] || al_fail "cli: plain http to TLS: exit $rc: $(cat "$T/ca.plain")"
cli ca.bad --api https://fleetcastd:56080 --ca "$T/none.crt" machine list
[ $rc = 1 ] && grep -q -- "--ca: $T/none.crt: cannot load CA certificates" \
    "$T/ca.bad" || al_fail "cli: missing --ca file: $(cat "$T/ca.bad")"
# The URL the CLI derives from a config with api_tls = ca: https, to
# the host's name (which the certificate carries), the server's CA.
printf 'state_dir = %s\napi_listen = %s\napi_tls = ca\n' "$T/srv" \
    "$ADDR" > "$T/cli.conf"
(unset FLEETCAST_API; FLEETCAST_SERVER_CONF=$T/cli.conf cli ca.derived \
    machine list; exit $rc) ||
    al_fail "cli: derived https URL (api_tls = ca): $(cat "$T/ca.derived")"
stop
al_ok "fleetcast --api https://: verified against the CA, refused with a clear error for a wrong CA or name"

# The admin's own certificate, for the address.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj /CN=10.56.0.1 -addext subjectAltName=IP:10.56.0.1 \
    -keyout "$T/own.key" -out "$T/own.crt" 2>/dev/null ||
    al_fail "openssl req"
start own --api_tls_cert "$T/own.crt" --api_tls_key "$T/own.key"
URL=https://$ADDR
up own --cacert "$T/own.crt"
grep -q '"version"' "$T/own.status" || al_fail "own: GET /v1/status"
cli own.list --api "$URL" --ca "$T/own.crt" machine list
[ $rc = 0 ] || al_fail "cli: own certificate: exit $rc: $(cat "$T/own.list")"
# The URL derived from the server's config: https, on the address.
printf 'state_dir = %s\napi_listen = %s\napi_tls_cert = %s\n' "$T/srv" \
    "$ADDR" "$T/own.crt" > "$T/cli.conf"
(unset FLEETCAST_API; FLEETCAST_SERVER_CONF=$T/cli.conf \
    FLEETCAST_API_CA=$T/own.crt cli own.derived machine list; exit $rc) ||
    al_fail "cli: derived https URL: $(cat "$T/own.derived")"
stop
al_ok "api_tls_cert / api_tls_key: the admin's certificate served"
exit 0
