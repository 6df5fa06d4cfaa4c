# bench/vmlab-server.sh: case 9 of bench/vmlab, fleetcastd as an admin
# runs it.  A fourth machine, vmsrv, boots the image with the
# fleetcast-server package's fleetcastd.service (enabled by its postinst,
# Type=notify, hardened) instead of the agent.  The case checks that the
# unit reaches READY under real systemd with its sandbox (the capability
# bounding set, no new privileges, its state in /var/lib/fleetcast), that
# the agents of vm1..vmN enroll with it over the bridge, that a scenario
# reaches them by multicast from inside the sandbox, and that a kill -9 of
# fleetcastd is restarted by systemd with its state intact.  The agents
# are pointed back at the lab's own server afterwards, so cases after
# this one find them as before.  Sourced by bench/vmlab after
# vmlab-cases.sh, whose helpers it uses with VC_CLI=vcs_fc.

VCS_IP=$VL_NET.10		# vmsrv's address (VM 0, vl_vm_start)
VCS_API=https://fleetcastd:56080	# the name its certificate has
# CapBnd of /proc/PID/status for CAP_NET_BIND_SERVICE (10) and
# CAP_NET_ADMIN (12): what fleetcastd.service's CapabilityBoundingSet says.
VCS_CAPBND=0000000000001400

# vcs_fc ARGS...: the CLI against vmsrv's fleetcastd, over TLS with the
# certificate of its CA.  The namespace's /etc/hosts (ip netns exec binds
# /etc/netns/NS/hosts over it) gives "fleetcastd" vmsrv's address.
vcs_fc()
{
	ip netns exec "$VL_NS" env FLEETCAST_API=$VCS_API \
	    FLEETCAST_API_CA="$VL_OUT/work/vmsrv-ca.crt" \
	    FLEETCAST_TOKEN_FILE="$VL_OUT/work/vmsrv-api.token" "$VL_FC" "$@"
}

# vcs_prop UNIT PROPERTY: a property of a unit in vmsrv.
vcs_prop()
{
	vl_ga 0 systemctl show -p "$2" --value "$1" 2>/dev/null
}

# vcs_wait_active SECONDS: until fleetcastd.service is active (for
# Type=notify: after READY=1) or has failed; 0 when active.
vcs_wait_active()
{
	local end=$((SECONDS + $1)) s
	while [ $SECONDS -lt $end ]; do
		s=$(vcs_prop fleetcastd.service ActiveState)
		case $s in
		active) return 0 ;;
		failed) return 1 ;;
		esac
		sleep 1
	done
	return 1
}

vcs_journal()
{
	vl_ga 0 --timeout 20 journalctl -b -u fleetcastd.service --no-pager \
	    > "$VL_OUT/vmsrv.fleetcastd.journal" 2>&1
}

# vcs_point I SERVER TOKEN: vmI's agent, enrolled anew with SERVER: its
# state and configuration are kept aside and put back by vcs_restore.
vcs_point()
{
	vl_ga "$1" --timeout 60 sh -c "
set -e
systemctl stop fleetcast-agent.service
c=/etc/fleetcast/fleetcast-agent.conf
[ -f \$c.lab ] || cp -p \$c \$c.lab
[ -d /var/lib/fleetcast-agent.lab ] ||
    mv /var/lib/fleetcast-agent /var/lib/fleetcast-agent.lab
rm -rf /var/lib/fleetcast-agent
sed -e 's|^server = .*|server = $2|' -e 's|^enroll_token = .*|enroll_token = $3|' \
    \$c.lab > \$c
systemctl start fleetcast-agent.service" >/dev/null
}

# vcs_restore I: vmI's agent with its own state and configuration again.
vcs_restore()
{
	vl_ga "$1" --timeout 60 sh -c '
set -e
c=/etc/fleetcast/fleetcast-agent.conf
[ -f $c.lab ] || exit 0
systemctl stop fleetcast-agent.service
rm -rf /var/lib/fleetcast-agent
mv /var/lib/fleetcast-agent.lab /var/lib/fleetcast-agent
mv $c.lab $c
systemctl start fleetcast-agent.service' >/dev/null
}

vc_server_unit()
{
	local rc i
	VC_CLI=vcs_fc
	vcs_case
	rc=$?
	VC_CLI=vl_fc
	vl_vm_running 0 && vcs_journal
	vl_vm_stop 0
	# shellcheck disable=SC2046
	for i in $(vc_seq "$VC_NM"); do
		vcs_restore "$i" || {
			VL_DETAIL="$VL_DETAIL; vm$i: its agent could not be put back"
			rc=1
		}
	done
	# shellcheck disable=SC2046
	vc_wait_online 120 $(vc_seq "$VC_NM") || {
		VL_DETAIL="$VL_DETAIL; not every agent back online with the lab's server"
		rc=1
	}
	return $rc
}

vcs_case()
{
	local t0=$SECONDS t_ready typ res st pid0 pid1 cap nnp n i bad="" r t_kill
	[ -n "${VL_SERVER_DEB:-}" ] ||
	    vc_fail "no fleetcast-server .deb beside $VL_DEB: the image has no server" ||
	    return 1
	# /etc/netns itself goes at teardown too when this made it.
	[ -d /etc/netns ] || VL_NETNS_ETC_MADE=1
	mkdir -p "/etc/netns/$VL_NS"
	echo "$VCS_IP fleetcastd" > "/etc/netns/$VL_NS/hosts"
	vl_net_tap 0
	vl_vm_start 0
	vl_ga_wait 0 "$VC_BOOT" ||
	    vc_fail "vmsrv: no guest agent after $VC_BOOT s" || return 1
	vcs_wait_active 120 || {
		vcs_journal
		vc_fail "vmsrv: fleetcastd.service $(vcs_prop fleetcastd.service ActiveState)/$(vcs_prop fleetcastd.service Result) (see vmsrv.fleetcastd.journal)"
		return 1
	}
	t_ready=$((SECONDS - t0))
	typ=$(vcs_prop fleetcastd.service Type)
	res=$(vcs_prop fleetcastd.service Result)
	[ "$typ" = notify ] && [ "$res" = success ] ||
	    vc_fail "vmsrv: fleetcastd.service Type=$typ Result=$res, want notify, success" ||
	    return 1
	pid0=$(vcs_prop fleetcastd.service MainPID)
	# The sandbox really applied: what the kernel says of the process.
	cap=$(vl_ga 0 sh -c "sed -n 's/^CapBnd:[[:space:]]*//p' /proc/$pid0/status")
	nnp=$(vl_ga 0 sh -c "sed -n 's/^NoNewPrivs:[[:space:]]*//p' /proc/$pid0/status")
	[ "$cap" = "$VCS_CAPBND" ] && [ "$nnp" = 1 ] ||
	    vc_fail "vmsrv: fleetcastd CapBnd $cap NoNewPrivs $nnp, want $VCS_CAPBND 1" ||
	    return 1
	st=$(vl_ga 0 stat -c '%a %U' /var/lib/fleetcast)
	[ "$st" = "700 root" ] ||
	    vc_fail "vmsrv: /var/lib/fleetcast is '$st', want '700 root'" ||
	    return 1
	vl_ga 0 cat /var/lib/fleetcast/api.token > "$VL_OUT/work/vmsrv-api.token" &&
	vl_ga 0 cat /var/lib/fleetcast/ca.crt > "$VL_OUT/work/vmsrv-ca.crt" &&
	vl_ga 0 cat /var/lib/fleetcast/enroll.token > "$VL_OUT/work/vmsrv-enroll.token" ||
	    vc_fail "vmsrv: no api.token, ca.crt or enroll.token in /var/lib/fleetcast" ||
	    return 1
	chmod 600 "$VL_OUT/work/vmsrv-api.token"
	vcs_fc machine list >/dev/null 2>"$VL_OUT/work/vmsrv-api.err" ||
	    vc_fail "vmsrv: the API at $VCS_API: $(head -c 300 "$VL_OUT/work/vmsrv-api.err")" ||
	    return 1
	# shellcheck disable=SC2046
	set -- $(vc_seq "$VC_NM")
	for i in "$@"; do
		vcs_point "$i" "$VCS_IP:$VL_CONTROL_PORT" \
		    "$(cat "$VL_OUT/work/vmsrv-enroll.token")" ||
		    bad="$bad vm$i(not pointed at vmsrv)"
	done
	[ -z "$bad" ] || vc_fail "$bad" || return 1
	vc_wait_online 120 "$@" ||
	    vc_fail "not every agent online with vmsrv after 120 s: $(vcs_fc machine list 2>&1 | tr '\n' ';')" ||
	    return 1
	for i in "$@"; do
		[ "$(vc_mfield "vm$i" enrollment)" = enrolled ] ||
		    bad="$bad vm$i(not enrolled)"
	done
	[ -z "$bad" ] || vc_fail "online with vmsrv, but:$bad" || return 1
	vc_pkg SV1 ":" --type hotfix &&
	vcs_fc scenario create sv1 --package SV1 >/dev/null 2>&1 ||
	    vc_fail "vmsrv: package SV1 or scenario sv1" || return 1
	r=$(vc_run sv1 "$@") && vc_wait_state "$r" succeeded 180 "$@" ||
	    vc_fail "vmsrv run: ${VC_WHY:-scenario run}" || return 1
	for i in "$@"; do
		[ "$(vc_mstate "$r" "$i" path)" = multicast ] ||
		    bad="$bad vm$i(path $(vc_mstate "$r" "$i" path))"
		[ "$(vc_order "$i" | grep -o 'SV1@' | wc -l)" = 1 ] ||
		    bad="$bad vm$i(SV1 ran '$(vc_order "$i")')"
	done
	[ -z "$bad" ] || vc_fail "run $r succeeded, but:$bad" || return 1
	# kill -9: Restart=on-failure must bring it back, READY again, with
	# its database (the machines) as it was.
	t_kill=$SECONDS
	vl_ga 0 sh -c "kill -KILL $pid0" ||
	    vc_fail "vmsrv: kill -9 $pid0" || return 1
	pid1=$pid0
	for ((n = 0; n < 60; n++)); do
		sleep 1
		pid1=$(vcs_prop fleetcastd.service MainPID)
		[ "$pid1" != "$pid0" ] && [ "$pid1" != 0 ] &&
		    [ "$(vcs_prop fleetcastd.service ActiveState)" = active ] && break
	done
	[ "$pid1" != "$pid0" ] && [ "$pid1" != 0 ] ||
	    vc_fail "vmsrv: fleetcastd not restarted after kill -9 ($(vcs_prop fleetcastd.service ActiveState)/$(vcs_prop fleetcastd.service Result))" ||
	    return 1
	n=$(vcs_prop fleetcastd.service NRestarts)
	res=$(vcs_prop fleetcastd.service Result)
	t_kill=$((SECONDS - t_kill))
	vc_wait_online 120 "$@" ||
	    vc_fail "after the restart not every agent online with vmsrv" ||
	    return 1
	[ "$(vc_mstate "$r" 1)" = succeeded ] ||
	    vc_fail "after the restart run $r has vm1 $(vc_mstate "$r" 1)" ||
	    return 1
	vcs_journal
	VL_DETAIL="vmsrv: fleetcastd.service (Type=notify) active $t_ready s after power-on, CapBnd $cap, NoNewPrivs 1, /var/lib/fleetcast 0700; $# agents enrolled, run $r by multicast succeeded; kill -9 of pid $pid0: active again as pid $pid1 in $t_kill s (NRestarts $n, Result $res), agents back, run kept"
}
