# tests/integration/selftest_lib.sh: the frame that the quick self-tests of
# the namespace lab (lab_selftest.sh) and of the benchmark (bench_selftest.sh)
# share: skip unless root (fail in CI), fail on a missing command, source
# tests/lab/lab.sh with a pid-named lab, a scratch directory and traps that
# take both away on any exit, ok/fail lines counted, and the verdict.
# Sourced, never run.

selftest_here=$(cd "${BASH_SOURCE[0]%/*}" && pwd)

# selftest_begin NAME LABPREFIX CMD...: as above; leaves LAB_NAME, tmp and
# fails set.  Exits 77 (skip) or 1 when the test cannot run.
selftest_begin()
{
	local name=$1 pfx=$2 c
	shift 2
	if [ "$(id -u)" != 0 ]; then
		if [ -n "${CI:-}" ]; then
			echo "FAIL: $name needs root (network namespaces) and CI is set"
			exit 1
		fi
		echo "SKIP: $name needs root to create network namespaces"
		exit 77
	fi
	for c in "$@"; do
		if ! command -v "$c" >/dev/null 2>&1; then
			echo "FAIL: $c not found (run scripts/install-deps)"
			exit 1
		fi
	done
	. "$selftest_here/../lab/lab.sh" || exit 1
	LAB_NAME=$pfx$$
	tmp=$(mktemp -d) || exit 1
	# Whatever happens, the lab's namespaces go away with the test.
	trap 'rc=$?; trap - EXIT; [ -n "$LAB_NAME" ] && lab_down >/dev/null 2>&1; rm -rf "$tmp"; exit $rc' EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	fails=0
}

ok()
{
	echo "ok: $*"
}

fail()
{
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# selftest_end NAME: the verdict, and the exit status with it.
selftest_end()
{
	rm -rf "$tmp"
	if [ "$fails" -gt 0 ]; then
		echo "$1: $fails failure(s)"
		exit 1
	fi
	echo "$1: pass"
	exit 0
}
