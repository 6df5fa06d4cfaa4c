#!/bin/bash
#
# lab.sh: builds a private test network out of Linux network namespaces, so
# that fleetcast, udpcast and uftp can be run and measured on real multicast
# without touching the host's own network.  A lab is a "switch" namespace
# holding a bridge (segment A), a sender host and N receiver hosts, each
# attached to the bridge by a veth pair; optionally a second switch
# (segment B) with its own receivers, joined to A by a router namespace that
# forwards unicast but has no multicast routing, so multicast stops there.
# Every namespace name starts with the lab's prefix, so parallel runs and
# leftovers of killed runs never collide, and `down` removes exactly what
# `up` made.  Loss is random drop of UDP on a receiver's input (nftables:
# netem is not available on every kernel), shaping is a tbf qdisc on egress.
#
# Used two ways: as a command (`lab.sh up|down|exec|...`, see usage below),
# or sourced by test and benchmark scripts (`. lab.sh`), which then call the
# lab_* functions directly, including lab_spawn/lab_stop to run background
# processes inside hosts and lab_trap to tear everything down on any exit.

LAB_STATE_ROOT=${LAB_STATE_ROOT:-/run/fleetcast-lab}
LAB_NET_A=10.99.1		# segment A, /24
LAB_NET_B=10.99.2		# segment B, /24
LAB_MTU=1500
LAB_MAX_HOSTS=200		# receivers per segment: .11 .. .210
LAB_NAME=${LAB_NAME:-}
LAB_PIDS=()			# process groups started by lab_spawn
LAB_LAST_PID=

lab_die()
{
	echo "lab.sh: $*" >&2
	exit 1
}

lab_usage_die()
{
	echo "lab.sh: $*" >&2
	echo "usage: lab.sh help" >&2
	exit 2
}

lab_usage()
{
	cat <<'EOF'
usage: lab.sh COMMAND [OPTIONS]

  up   --name PFX --receivers N [--remote M] [--loss PCT] [--rate RATE]
       [--snooping]
        Build lab PFX: switch namespace PFX-sw with bridge br0 (segment A,
        10.99.1.0/24), sender PFX-s (10.99.1.1) and receivers PFX-r1..rN
        (10.99.1.11..).  --remote M adds segment B (PFX-swb, 10.99.2.0/24)
        with receivers PFX-b1..bM (10.99.2.11..) behind router PFX-rt
        (.254 on both; unicast forwarding only, no multicast routing).
        --loss drops PCT % of UDP on every receiver's input (nftables);
        --rate shapes the sender's egress (tc tbf, e.g. 1gbit, 300mbit).
        --snooping turns IGMP snooping on, with the bridge as querier.
  down --name PFX          Kill processes inside the lab, delete its
                           namespaces and state.  Idempotent.
  exec --name PFX HOST CMD...
  exec NAMESPACE CMD...    Run CMD inside a host (HOST: s, r1, b2, rt, sw).
  loss --name PFX PCT [HOST...]   Set input UDP loss (0 = none) on HOSTs
                           (default: all receivers).
  shape --name PFX HOST RATE|off [BURST [LATENCY]]
                           tbf egress shaping on HOST's eth0; BURST in
                           bytes (512k) or at the rate (10ms, the default),
                           LATENCY 20ms by default.
  hosts --name PFX         List hosts: name, namespace, address, segment.
  addr --name PFX HOST     Print HOST's address.
  list                     List labs that exist (state and namespaces).

LAB_NAME in the environment may stand for --name.  Needs root.
EOF
}

# --- names and state ------------------------------------------------------

lab_check_name()
{
	case $1 in
	""|*[!A-Za-z0-9_]*)
		lab_usage_die "--name: '$1': use 1-24 of A-Z a-z 0-9 _"
		;;
	esac
	[ ${#1} -le 24 ] || lab_usage_die "--name: ${#1} bytes, limit 24"
}

lab_state()
{
	echo "$LAB_STATE_ROOT/$LAB_NAME"
}

# lab_ns HOST: the namespace of a host of the current lab.
lab_ns()
{
	echo "$LAB_NAME-$1"
}

# lab_host_line HOST: "name ns addr segment" from the state file.
lab_host_line()
{
	local st
	st=$(lab_state)/hosts
	[ -r "$st" ] || lab_die "lab '$LAB_NAME' is not up (no $st)"
	awk -v h="$1" '$1 == h { print; found = 1 } END { exit !found }' "$st" ||
	    lab_die "lab '$LAB_NAME' has no host '$1'"
}

lab_addr()
{
	local l
	l=$(lab_host_line "$1") || return 1
	set -- $l
	echo "${3%/*}"
}

# lab_receivers: the receiver host names, segment A first.
lab_receivers()
{
	awk '$5 == "receiver" { print $1 }' "$(lab_state)/hosts"
}

# lab_nslist PFX: every namespace that belongs to lab PFX, including ones a
# crashed `up` made before it could write its state.
lab_nslist()
{
	ip netns list 2>/dev/null | awk -v p="$1" '
	{
		n = $1
		if (substr(n, 1, length(p) + 1) != p "-")
			next
		s = substr(n, length(p) + 2)
		if (s ~ /^(sw|swb|s|rt|r[0-9]+|b[0-9]+)$/)
			print n
	}'
}

# --- building -------------------------------------------------------------

lab_run()
{
	"$@" || lab_die "failed: $*"
}

# lab_add_switch NS: a namespace with a bridge br0 that floods multicast
# (snooping off) unless LAB_SNOOPING=1, in which case the bridge snoops and
# is itself the IGMP querier, so memberships are learned without a router.
lab_add_switch()
{
	local ns=$1 snoop=0

	[ "${LAB_SNOOPING:-0}" = 1 ] && snoop=1
	lab_run ip netns add "$ns"
	lab_run ip -n "$ns" link set lo up
	lab_run ip -n "$ns" link add br0 type bridge stp_state 0 \
	    mcast_snooping "$snoop" mcast_querier "$snoop"
	lab_run ip -n "$ns" link set br0 mtu "$LAB_MTU" up
}

# lab_add_host NAME SWITCH_NS ADDR/24 SEGMENT ROLE [GATEWAY]
lab_add_host()
{
	local name=$1 sw=$2 addr=$3 seg=$4 role=$5 gw=${6:-}
	local ns port

	ns=$(lab_ns "$name")
	port="p-$name"
	lab_run ip netns add "$ns"
	lab_run ip -n "$ns" link set lo up
	# The veth pair is made inside the switch namespace with its peer
	# created straight in the host's: no end of it ever exists in the
	# namespace this script runs in.
	lab_run ip -n "$sw" link add "$port" mtu "$LAB_MTU" type veth \
	    peer name eth0 mtu "$LAB_MTU" netns "$ns"
	lab_run ip -n "$sw" link set "$port" master br0 up
	lab_host_ifup "$ns" eth0 "$addr"
	if [ -n "$gw" ]; then
		lab_run ip -n "$ns" route add default via "$gw" dev eth0
	fi
	echo "$name $ns $addr $seg $role" >>"$(lab_state)/hosts"
}

# lab_host_ifup NS IF ADDR/24: address with a broadcast and a multicast
# route on the interface.  udpcast needs both: it finds receivers by
# broadcast, and it (like uftp) sends multicast by the routing table.
lab_host_ifup()
{
	local ns=$1 ifc=$2 addr=$3

	lab_run ip -n "$ns" link set "$ifc" multicast on up
	lab_run ip -n "$ns" addr add "$addr" brd + dev "$ifc"
	lab_run ip -n "$ns" route add 224.0.0.0/4 dev "$ifc"
}

# lab_check_free: no lab of this name exists (state or namespaces).
lab_check_free()
{
	if [ -e "$(lab_state)" ] || [ -n "$(lab_nslist "$LAB_NAME")" ]; then
		lab_die "lab '$LAB_NAME' exists already: lab.sh down --name $LAB_NAME"
	fi
}

lab_up()
{
	local nrecv=$1 nremote=${2:-0} loss=${3:-0} rate=${4:-}
	local st i

	lab_check_name "$LAB_NAME"
	[ "$(id -u)" = 0 ] || lab_die "up: needs root (network namespaces)"
	case $nrecv in ''|*[!0-9]*) lab_usage_die "--receivers: '$nrecv': a number 1-$LAB_MAX_HOSTS";; esac
	case $nremote in ''|*[!0-9]*) lab_usage_die "--remote: '$nremote': a number 0-$LAB_MAX_HOSTS";; esac
	[ "$nrecv" -ge 1 ] && [ "$nrecv" -le $LAB_MAX_HOSTS ] ||
	    lab_usage_die "--receivers: $nrecv, must be 1-$LAB_MAX_HOSTS"
	[ "$nremote" -le $LAB_MAX_HOSTS ] ||
	    lab_usage_die "--remote: $nremote, must be 0-$LAB_MAX_HOSTS"
	lab_check_loss "$loss"
	[ -z "$rate" ] || lab_tbf_args "$rate" >/dev/null

	lab_check_free
	st=$(lab_state)
	mkdir -p "$st" || lab_die "cannot create $st"
	: >"$st/hosts"

	lab_add_switch "$(lab_ns sw)"
	if [ "$nremote" -gt 0 ]; then
		lab_add_host s "$(lab_ns sw)" "$LAB_NET_A.1/24" A sender \
		    "$LAB_NET_A.254"
	else
		lab_add_host s "$(lab_ns sw)" "$LAB_NET_A.1/24" A sender
	fi
	for ((i = 1; i <= nrecv; i++)); do
		if [ "$nremote" -gt 0 ]; then
			lab_add_host "r$i" "$(lab_ns sw)" \
			    "$LAB_NET_A.$((10 + i))/24" A receiver "$LAB_NET_A.254"
		else
			lab_add_host "r$i" "$(lab_ns sw)" \
			    "$LAB_NET_A.$((10 + i))/24" A receiver
		fi
	done
	if [ "$nremote" -gt 0 ]; then
		lab_add_router
		for ((i = 1; i <= nremote; i++)); do
			lab_add_host "b$i" "$(lab_ns swb)" \
			    "$LAB_NET_B.$((10 + i))/24" B receiver "$LAB_NET_B.254"
		done
	fi
	if [ "$loss" != 0 ]; then
		lab_loss "$loss"
	fi
	if [ -n "$rate" ]; then
		lab_shape s "$rate"
	fi
}

# lab_add_router: segment B and the router between A and B.  The router has
# ip_forward on and no multicast routing daemon, so multicast (TTL or not)
# never crosses it: that is what the unicast fallback is for.
lab_add_router()
{
	local rt sw swb

	sw=$(lab_ns sw)
	swb=$(lab_ns swb)

	lab_add_switch "$swb"
	rt=$(lab_ns rt)
	lab_run ip netns add "$rt"
	lab_run ip -n "$rt" link set lo up
	lab_run ip -n "$sw" link add p-rt mtu "$LAB_MTU" type veth \
	    peer name eth0 mtu "$LAB_MTU" netns "$rt"
	lab_run ip -n "$swb" link add p-rt mtu "$LAB_MTU" type veth \
	    peer name eth1 mtu "$LAB_MTU" netns "$rt"
	lab_run ip -n "$sw" link set p-rt master br0 up
	lab_run ip -n "$swb" link set p-rt master br0 up
	lab_host_ifup "$rt" eth0 "$LAB_NET_A.254/24"
	lab_run ip -n "$rt" addr add "$LAB_NET_B.254/24" brd + dev eth1
	lab_run ip -n "$rt" link set eth1 multicast on up
	lab_run ip netns exec "$rt" sysctl -q -w net.ipv4.ip_forward=1
	echo "rt $rt $LAB_NET_A.254/24 AB router" >>"$(lab_state)/hosts"
}

lab_down()
{
	local ns pids t st

	lab_check_name "$LAB_NAME"
	lab_stop_all
	for ns in $(lab_nslist "$LAB_NAME"); do
		# Anything still running in a lab host was started by a lab
		# user; it would keep the namespace's sockets alive.
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -TERM $pids 2>/dev/null
	done
	for ((t = 0; t < 20; t++)); do
		pids=
		for ns in $(lab_nslist "$LAB_NAME"); do
			pids="$pids$(ip netns pids "$ns" 2>/dev/null)"
		done
		[ -z "$pids" ] && break
		sleep 0.1
	done
	for ns in $(lab_nslist "$LAB_NAME"); do
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	st=$(lab_state)
	rm -rf "$st"
	[ -z "$(lab_nslist "$LAB_NAME")" ] ||
	    { echo "lab.sh: down: some namespaces of $LAB_NAME remain" >&2; return 1; }
	return 0
}

# --- loss and shaping -----------------------------------------------------

lab_check_loss()
{
	case $1 in
	''|*[!0-9]*) lab_usage_die "--loss: '$1': a whole percentage 0-100";;
	esac
	[ "$1" -le 100 ] || lab_usage_die "--loss: $1, limit 100"
}

# lab_loss PCT [HOST...]: random drop of PCT % of the UDP datagrams a host
# receives.  It sits on input, after the bridge, so each receiver loses
# different packets, as on real links; 0 removes the rule.
lab_loss()
{
	local pct=$1 h ns match
	shift
	lab_check_loss "$pct"
	[ $# -gt 0 ] || set -- $(lab_receivers)
	# numgen yields 0..99, so "< 100" is out of its range: 100 % is a
	# plain drop.
	match="numgen random mod 100 < $pct"
	[ "$pct" = 100 ] && match=
	for h in "$@"; do
		lab_host_line "$h" >/dev/null || return 1
		ns=$(lab_ns "$h")
		ip netns exec "$ns" nft delete table inet fclab 2>/dev/null
		[ "$pct" = 0 ] && continue
		ip netns exec "$ns" nft -f - <<EOF || lab_die "loss: nft failed in $ns"
table inet fclab {
	chain input {
		type filter hook input priority 0; policy accept;
		meta l4proto udp $match counter drop
	}
}
EOF
	done
}

# lab_loss_count HOST: packets the loss rule has dropped so far.
lab_loss_count()
{
	ip netns exec "$(lab_ns "$1")" nft list table inet fclab 2>/dev/null |
	    awk '/counter packets/ { for (i = 1; i < NF; i++) if ($i == "packets") n += $(i + 1) } END { print n + 0 }'
}

# lab_rate_bits RATE: RATE (N, Nkbit, Nmbit, Ngbit) in bit/s.
lab_rate_bits()
{
	local r=$1 n m
	case $r in
	*[0-9]gbit) n=${r%gbit}; m=1000000000;;
	*[0-9]mbit) n=${r%mbit}; m=1000000;;
	*[0-9]kbit) n=${r%kbit}; m=1000;;
	*[0-9]bit) n=${r%bit}; m=1;;
	*) n=$r; m=1;;
	esac
	case $n in ''|*[!0-9]*) return 1;; esac
	echo $((n * m))
}

# lab_tbf_args RATE [BURST [LATENCY]]: tbf parameters.  BURST is the
# bucket, bytes (N, Nk, Nm: binary units) or time at the rate (Nms); the
# default, 10ms, holds 10 ms at the rate (at least 32 KiB, so that GSO
# super-packets pass).  LATENCY (Nms, default 20ms) bounds the queue.
lab_tbf_args()
{
	local bits burst=${2:-10ms} lat=${3:-20ms} n
	bits=$(lab_rate_bits "$1") && [ "$bits" -gt 0 ] ||
	    lab_usage_die "--rate: '$1': use N, Nkbit, Nmbit or Ngbit"
	case $burst in
	*[0-9]ms) n=${burst%ms}; burst=$((bits / 8 * n / 1000));;
	*[0-9][kK]) n=${burst%?}; burst=$((n * 1024));;
	*[0-9][mM]) n=${burst%?}; burst=$((n * 1048576));;
	*) n=$burst;;
	esac
	case $n in
	''|*[!0-9]*) lab_usage_die "--burst: '${2:-}': use N, Nk, Nm (bytes) or Nms (at the rate)";;
	esac
	[ $burst -ge 32768 ] || burst=32768
	case $lat in
	*[0-9]ms) n=${lat%ms};;
	*) n=;;
	esac
	case $n in
	''|*[!0-9]*|0) lab_usage_die "--latency: '$lat': use Nms (N at least 1)";;
	esac
	echo "rate ${bits}bit burst $burst latency ${n}ms"
}

# lab_shape HOST RATE|off [BURST [LATENCY]]: tbf on HOST's eth0 egress
# (lab_tbf_args), or none.
lab_shape()
{
	local h=$1 rate=$2 ns
	lab_host_line "$h" >/dev/null || return 1
	ns=$(lab_ns "$h")
	if [ "$rate" = off ]; then
		tc -n "$ns" qdisc del dev eth0 root 2>/dev/null
		return 0
	fi
	# shellcheck disable=SC2046
	lab_run tc -n "$ns" qdisc replace dev eth0 root tbf \
	    $(lab_tbf_args "$rate" "${3:-}" "${4:-}")
}

# lab_shape_port HOST RATE|off [BURST [LATENCY]]: tbf on the egress of the
# switch's port towards HOST (p-HOST in the switch namespace): a bottleneck
# further on than the sender's own qdisc, a switch port, which refuses
# nothing to the sender (no ENOBUFS) and drops what overflows its queue.
lab_shape_port()
{
	local h=$1 rate=$2 line sw
	line=$(lab_host_line "$h") || return 1
	sw=$(lab_ns sw)
	case $line in
	*" B "*|*" B") sw=$(lab_ns swb);;
	esac
	if [ "$rate" = off ]; then
		tc -n "$sw" qdisc del dev "p-$h" root 2>/dev/null
		return 0
	fi
	# shellcheck disable=SC2046
	lab_run tc -n "$sw" qdisc replace dev "p-$h" root tbf \
	    $(lab_tbf_args "$rate" "${3:-}" "${4:-}")
}

# --- running things inside hosts -----------------------------------------

lab_exec()
{
	local h=$1
	shift
	ip netns exec "$(lab_ns "$h")" "$@"
}

# lab_spawn DIR TAG HOST CMD...: start CMD in HOST in the background, in a
# process group of its own, so that lab_stop can end it and everything it
# started without naming processes.  stdout and stderr go to DIR/TAG.out and
# DIR/TAG.err; when CMD ends, its exit status goes to DIR/TAG.rc and the
# time it ended ($EPOCHREALTIME) to DIR/TAG.end.  The group id is left in
# LAB_LAST_PID (do not call this in a $(...) subshell: it also records the
# group for lab_stop_all).
lab_spawn()
{
	local dir=$1 tag=$2 h=$3 ns
	shift 3
	ns=$(lab_ns "$h")
	rm -f "$dir/$tag.rc" "$dir/$tag.end" "$dir/$tag.ready"
	# setsid from a process that is not a group leader does not fork, so
	# $! is the new group's id.
	# The wrapper shell outlives the signals sent to its group (timeout(1)
	# signals the whole group, and so does lab_stop) so that it can still
	# record how the command ended; its child gets default handlers back.
	setsid bash -c '
		trap : TERM INT HUP
		d=$1 t=$2 ns=$3
		shift 3
		: >"$d/$t.ready"
		ip netns exec "$ns" "$@" >"$d/$t.out" 2>"$d/$t.err" </dev/null
		rc=$?
		echo "$EPOCHREALTIME" >"$d/$t.end"
		echo "$rc" >"$d/$t.rc"
	' lab-spawn "$dir" "$tag" "$ns" "$@" </dev/null &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$!")
	# Return once the wrapper has its trap: a signal sent to the group
	# before that would end the wrapper too, and nothing would record how
	# the command ended.
	local t
	for ((t = 0; t < 100; t++)); do
		[ -e "$dir/$tag.ready" ] && break
		lab_alive "$LAB_LAST_PID" || break
		sleep 0.05
	done
	rm -f "$dir/$tag.ready"
}

# lab_alive PID: the process exists and is not a zombie.
lab_alive()
{
	local s
	[ -r "/proc/$1/stat" ] || return 1
	s=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$s" ] && [ "$s" != Z ] && [ "$s" != X ]
}

# lab_group_alive PGID: some process of the group still runs.
lab_group_alive()
{
	pgrep -g "$1" >/dev/null 2>&1
}

# lab_stop PGID [SIGNAL [GRACE]]: signal a spawned group (default TERM),
# wait up to GRACE seconds (default 3) for it to end, then KILL it.
lab_stop()
{
	local pg=$1 sig=${2:-TERM} grace=${3:-3} t n

	n=$((grace * 10))
	if lab_group_alive "$pg"; then
		kill -s "$sig" -- "-$pg" 2>/dev/null
		for ((t = 0; t < n; t++)); do
			lab_group_alive "$pg" || break
			sleep 0.1
		done
		lab_group_alive "$pg" && kill -KILL -- "-$pg" 2>/dev/null
	fi
	wait "$pg" 2>/dev/null
	# Forget the group: once reaped, its id may be reused by others.
	local keep=() p
	for p in "${LAB_PIDS[@]}"; do
		[ "$p" = "$pg" ] || keep+=("$p")
	done
	LAB_PIDS=("${keep[@]}")
	return 0
}

lab_stop_all()
{
	local pg
	for pg in "${LAB_PIDS[@]}"; do
		lab_stop "$pg" TERM 2
	done
}

# lab_wait_udp HOST PORT [SECONDS]: wait until something in HOST has a UDP
# socket bound to PORT (a receiver is listening).
lab_wait_udp()
{
	local h=$1 port=$2 secs=${3:-5} t
	for ((t = 0; t < secs * 20; t++)); do
		if lab_exec "$h" ss -Hnul "sport = :$port" 2>/dev/null | grep -q .; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# lab_trap: tear the lab down on any exit of the calling script, including
# interruption; the script's own exit status is kept.
lab_trap()
{
	trap 'lab_on_exit' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	trap 'exit 129' HUP
}

lab_on_exit()
{
	local rc=$?
	trap - EXIT INT TERM HUP
	[ -n "$LAB_NAME" ] && lab_down >/dev/null 2>&1
	exit $rc
}

# --- command line ---------------------------------------------------------

lab_list()
{
	local d
	if [ -d "$LAB_STATE_ROOT" ]; then
		for d in "$LAB_STATE_ROOT"/*/; do
			[ -d "$d" ] || continue
			d=${d%/}
			echo "lab ${d##*/}: $(wc -l <"$d/hosts") hosts"
		done
	fi
	ip netns list 2>/dev/null | awk '$1 ~ /-(sw|swb|s|rt|r[0-9]+|b[0-9]+)$/ { print "namespace " $1 }'
}

lab_main()
{
	local cmd=${1:-help} nrecv='' nremote=0 loss=0 rate='' h

	[ $# -gt 0 ] && shift
	# Every command takes --help (SPEC.md), after its arguments too,
	# except that the words after exec's HOST belong to its command.
	if [ "$cmd" = exec ]; then
		h=${1:-}
		[ "$h" = --name ] && h=${3:-}
		case $h in -h|--help) cmd=help;; esac
	else
		for h in "$@"; do
			case $h in -h|--help) cmd=help;; esac
		done
	fi
	case $cmd in
	help|-h|--help)
		lab_usage
		return 0
		;;
	list)
		lab_list
		return 0
		;;
	exec)
		if [ "${1:-}" = --name ]; then
			[ $# -ge 2 ] || lab_usage_die "--name: needs a value"
			LAB_NAME=$2
			shift 2
		fi
		[ $# -ge 2 ] || lab_usage_die "exec: HOST and a command needed"
		h=$1
		shift
		if [ -n "$LAB_NAME" ]; then
			lab_host_line "$h" >/dev/null || return 1
			lab_exec "$h" "$@"
		else
			ip netns exec "$h" "$@"
		fi
		return
		;;
	esac

	while [ $# -gt 0 ]; do
		case $1 in
		--name|--receivers|--remote|--loss|--rate)
			[ $# -ge 2 ] || lab_usage_die "$1: needs a value"
			case $1 in
			--name) LAB_NAME=$2;;
			--receivers) nrecv=$2;;
			--remote) nremote=$2;;
			--loss) loss=$2;;
			--rate) rate=$2;;
			esac
			shift 2
			;;
		--snooping)
			LAB_SNOOPING=1
			shift
			;;
		--)
			shift
			break
			;;
		-*)
			lab_usage_die "$cmd: unknown option $1"
			;;
		*)
			break
			;;
		esac
	done
	[ -n "$LAB_NAME" ] || lab_usage_die "$cmd: --name PFX is required"
	lab_check_name "$LAB_NAME"

	case $cmd in
	up)
		[ -n "$nrecv" ] || lab_usage_die "up: --receivers N is required"
		# A failed build leaves nothing behind; a lab that exists
		# already is refused before anything of it could be touched.
		lab_check_free
		trap 'lab_down >/dev/null 2>&1' EXIT
		lab_up "$nrecv" "$nremote" "$loss" "$rate"
		trap - EXIT
		lab_hosts
		;;
	down)
		lab_down
		;;
	loss)
		[ $# -ge 1 ] || lab_usage_die "loss: PCT is required"
		lab_loss "$@"
		;;
	shape)
		[ $# -ge 2 ] && [ $# -le 4 ] ||
		    lab_usage_die "shape: HOST RATE|off [BURST [LATENCY]]"
		[ "$2" = off ] || lab_tbf_args "$2" "${3:-}" "${4:-}" >/dev/null
		lab_shape "$@"
		;;
	hosts)
		lab_hosts
		;;
	addr)
		[ $# -eq 1 ] || lab_usage_die "addr: HOST"
		lab_addr "$1"
		;;
	*)
		lab_usage_die "unknown command '$cmd'"
		;;
	esac
}

lab_hosts()
{
	local st
	st=$(lab_state)/hosts
	[ -r "$st" ] || lab_die "lab '$LAB_NAME' is not up"
	awk '{ printf "%-4s %-28s %-16s %s\n", $1, $2, $3, $4 }' "$st"
}

# Run as a command unless sourced.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -u
	lab_main "$@"
	exit $?
fi
