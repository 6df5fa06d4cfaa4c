# bench/lib.sh: helpers shared by the benchmark scripts in bench/.  They find
# the lab script and the fleetcast binary (installed or in the source tree),
# run one tool's process inside a lab host under a time limit and
# /usr/bin/time, and turn what those leave behind (exit status, end time,
# peak RSS) into numbers.  Sourced, never run; it sources tests/lab/lab.sh.

# bench_here: directory of the calling benchmark script.
bench_here=$(cd "${BASH_SOURCE[0]%/*}" && pwd)

# bench_handed_back_mib: MiB of freed memory this VM has handed back to its
# host so far (virtio free page reporting: the guest's page_reporting
# counter), or "-" where the kernel keeps no such counter.  Memory handed
# back is slow to touch again (doc/performance.md, "The lab"), and every
# received copy is written into newly allocated tmpfs pages.
bench_handed_back_mib()
{
	local f=/sys/module/page_reporting/parameters/reported_kib kib
	if [ -r "$f" ] && kib=$(cat "$f" 2>/dev/null) && [ -n "$kib" ]; then
		echo $((kib / 1024))
	else
		echo -
	fi
}

# bench_handed_back_since MIB: the MiB handed back since bench_handed_back_mib
# printed MIB ("-" without the counter).
bench_handed_back_since()
{
	local now
	now=$(bench_handed_back_mib)
	if [ "$1" = - ] || [ "$now" = - ]; then
		echo -
	else
		echo $((now - $1))
	fi
}

bench_die()
{
	echo "${0##*/}: $*" >&2
	exit 1
}

bench_usage_die()
{
	echo "${0##*/}: $*" >&2
	echo "see: ${0##*/} --help" >&2
	exit 2
}

# bench_find_lab: the lab script, from $FLEETCAST_LAB, next to an installed
# bench directory ($(pkgdatadir)/lab), or in the source tree (tests/lab).
bench_find_lab()
{
	local c
	for c in "${FLEETCAST_LAB:-}" "$bench_here/../lab/lab.sh" \
	    "$bench_here/../tests/lab/lab.sh"; do
		if [ -n "$c" ] && [ -r "$c" ]; then
			echo "$c"
			return 0
		fi
	done
	return 1
}

# bench_find_fleetcast: the fleetcast binary to measure: $FLEETCAST (set by
# `fleetcast bench` to itself), else one built in the tree next to bench/
# (in-tree build), else the one on $PATH.
bench_find_fleetcast()
{
	local c
	for c in "${FLEETCAST:-}" "$bench_here/../server/cli/fleetcast"; do
		if [ -n "$c" ] && [ -x "$c" ]; then
			echo "$c"
			return 0
		fi
	done
	command -v fleetcast
}

# bench_bytes SIZE: SIZE (N, NK, NM, NG; binary units) in bytes.
bench_bytes()
{
	local s=$1 n m
	case $s in
	*[0-9][Gg]) n=${s%?}; m=$((1 << 30));;
	*[0-9][Mm]) n=${s%?}; m=$((1 << 20));;
	*[0-9][Kk]) n=${s%?}; m=$((1 << 10));;
	*) n=$s; m=1;;
	esac
	case $n in ''|*[!0-9]*) return 1;; esac
	[ "$n" -gt 0 ] || return 1
	echo $((n * m))
}

# bench_list_check NAME LIST MIN MAX: LIST is comma-separated integers in
# [MIN, MAX].
bench_list_check()
{
	local name=$1 list=$2 min=$3 max=$4 v
	[ -n "$list" ] || bench_usage_die "$name: empty list"
	for v in ${list//,/ }; do
		case $v in
		''|*[!0-9]*) bench_usage_die "$name: '$v': not a whole number";;
		esac
		[ "$v" -ge "$min" ] && [ "$v" -le "$max" ] ||
		    bench_usage_die "$name: $v, must be $min-$max"
	done
}

# bench_calc EXPR: floating-point arithmetic through awk.
bench_calc()
{
	awk "BEGIN { printf \"%.6f\", $1 }"
}

# bench_fmt DIGITS VALUE: VALUE rounded, or "n/a" when it is empty.
bench_fmt()
{
	if [ -z "$2" ] || [ "$2" = n/a ]; then
		echo n/a
	else
		awk -v v="$2" -v d="$1" 'BEGIN { printf "%.*f", d, v }'
	fi
}

# bench_rss_mib FILE: peak RSS in MiB from /usr/bin/time -v output, or
# empty when the process did not end normally.
bench_rss_mib()
{
	[ -r "$1" ] || return 0
	awk -F: '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"
}

# bench_run DIR TAG HOST LIMIT CMD...: start CMD in HOST in the background
# under timeout(1) (TERM at LIMIT seconds, KILL 5 s later) and
# /usr/bin/time -v (peak RSS into DIR/TAG.time).  Leaves the process group
# in LAB_LAST_PID; DIR/TAG.rc and DIR/TAG.end appear when it ends.
bench_run()
{
	local dir=$1 tag=$2 h=$3 limit=$4
	shift 4
	lab_spawn "$dir" "$tag" "$h" timeout -k 5 "$limit" \
	    /usr/bin/time -v -o "$dir/$tag.time" "$@"
}

# bench_daemon DIR TAG HOST CMD...: as bench_run for a daemon that runs
# until stopped (lab_stop PGID INT lets /usr/bin/time report it).
bench_daemon()
{
	local dir=$1 tag=$2 h=$3
	shift 3
	lab_spawn "$dir" "$tag" "$h" /usr/bin/time -v -o "$dir/$tag.time" "$@"
}

# bench_done DIR TAG: the process has ended.
bench_done()
{
	[ -s "$1/$2.rc" ]
}

# bench_rc DIR TAG: its exit status (124 = timed out, 137 = killed).
bench_rc()
{
	cat "$1/$2.rc" 2>/dev/null || echo none
}

# bench_end DIR TAG: when it ended ($EPOCHREALTIME).
bench_end()
{
	cat "$1/$2.end" 2>/dev/null
}

# bench_last_line FILE: the last non-empty line of a log, made safe for a
# CSV/JSON field (printable ASCII without quotes, commas and bars, at most
# 160 bytes), or "(no message)".
bench_last_line()
{
	local l=''
	[ -r "$1" ] && l=$(tr '\r' '\n' <"$1" | tr -cd '\n -~' | tr -d '"\\,|' |
	    awk 'NF { l = $0 } END { print substr(l, 1, 160) }')
	echo "${l:-(no message)}"
}

# bench_json_str S: S as a JSON string.
bench_json_str()
{
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '"%s"' "$(printf '%s' "$s" | tr -d '\000-\037')"
}

# bench_json_num V: V as a JSON number, or null.
bench_json_num()
{
	if [ -z "$1" ] || [ "$1" = n/a ]; then
		printf null
	else
		printf '%s' "$1"
	fi
}
