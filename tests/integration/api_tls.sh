#!/bin/bash
#
# api_tls.sh: the API off loopback needs TLS (issue #14).  On an address
# that is not loopback fleetcastd refuses to start without a certificate
# for the API, and says which keys to set; half a configuration is
# refused too.  With api_tls = ca it serves the certificate of its own CA
# (a client trusting state_dir/ca.crt gets the API and the console over
# HTTPS, and plain HTTP gets nothing); with api_tls_cert / api_tls_key it
# serves the admin's certificate.
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
stop
al_ok "api_tls = ca: the API and the console over HTTPS, nothing in plain HTTP"

# The admin's own certificate, for the address.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj /CN=10.56.0.1 -addext subjectAltName=IP:10.56.0.1 \
    -keyout "$T/own.key" -out "$T/own.crt" 2>/dev/null ||
    al_fail "openssl req"
start own --api_tls_cert "$T/own.crt" --api_tls_key "$T/own.key"
URL=https://$ADDR
up own --cacert "$T/own.crt"
grep -q '"version"' "$T/own.status" || al_fail "own: GET /v1/status"
stop
al_ok "api_tls_cert / api_tls_key: the admin's certificate served"
exit 0
