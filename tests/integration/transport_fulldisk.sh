#!/bin/sh
# A receiver whose disk is too small (a 4 MiB tmpfs for a 16 MiB file)
# fails at once with an error naming the file and the reason, the sender
# reports that receiver as failed (and exits 1), and the other receiver is
# not held up: it gets the file.
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"
mkdir "$T/small"
mount -t tmpfs -o size=4m tmpfs "$T/small" || tl_skip "cannot mount tmpfs"

tl_file src 16
tl_recv full "$T/small/out"
tl_recv good
sleep 0.3
start=$(date +%s)
tl_send src --min-receivers 2 --max-wait 5
end=$(date +%s)
[ $TL_RC = 1 ] || { tl_show; tl_fail "sender exit $TL_RC, want 1"; }
[ $((end - start)) -lt 20 ] || tl_fail "sender took $((end - start)) s"
tl_wait_recv full
[ $TL_RC = 1 ] || tl_fail "full receiver exit $TL_RC, want 1"
grep -q "No space left on device" "$T/full.err" ||
    { cat "$T/full.err"; tl_fail "no clear disk-full error"; }
[ ! -e "$T/small/out" ] && [ ! -e "$T/small/out.fcpart" ] ||
    tl_fail "the full receiver left a file behind"
tl_others_served src
echo "ok: $(tl_jq full.json .error)"
