#!/bin/sh
# A disk that another writer fills during the transfer.  The receiver
# checks the free space when it opens its staging file and claims the
# space ahead of its writes (32 MiB at first, then in steps), not all at
# once (claiming a whole file on tmpfs held the sender back).  Here a
# 40 MiB file goes to a 48 MiB tmpfs: the space is there at the start,
# then a filler takes what the first claim left.  The receiver must fail
# at its next claim, with an error naming the file, the disk's reason and
# what was claimed, never with a short write or a signal; the sender
# reports it as failed and the other receiver gets the file.
. "${srcdir:-.}/tests/integration/transport_lib.sh"
tl_init "$0" "$@"
mkdir "$T/small"
mount -t tmpfs -o size=48m tmpfs "$T/small" || tl_skip "cannot mount tmpfs"

tl_file src 40
tl_recv full "$T/small/out"
tl_recv good
sleep 0.3
# A third receiver that never comes: the sender waits 2 s before it
# starts, and the filler runs in that time, after the first claim.
tl_send_bg src --min-receivers 3 --max-wait 2
tl_wait_for "[ -e '$T/small/out.fcpart' ]" 10 ||
    { tl_show; tl_fail "the receiver never opened its staging file"; }
claimed=$(du -k "$T/small/out.fcpart" | cut -f1)
[ "$claimed" -lt 40960 ] ||
    tl_fail "the whole file was claimed at once ($claimed KiB)"
head -c 64m /dev/zero > "$T/small/filler" 2>/dev/null
[ "$(df -k "$T/small" | awk 'NR == 2 { print $4 }')" -lt 1024 ] ||
    tl_fail "the filler left room on the disk"
wait "$tl_pid_send"
TL_RC=$?
[ $TL_RC = 1 ] || { tl_show; tl_fail "sender exit $TL_RC, want 1"; }
tl_wait_recv full
[ $TL_RC = 1 ] || { tl_show; tl_fail "full receiver exit $TL_RC, want 1"; }
grep -q "out.fcpart: cannot store 41943040 bytes: No space left on device (32 MiB claimed)" \
    "$T/full.err" || { cat "$T/full.err"; tl_fail "no clear disk-full error"; }
grep -qi "signal\|short write" "$T/full.err" &&
    tl_fail "the receiver failed with a signal or a short write"
tl_others_served src
echo "ok: $(tl_jq full.json .error)"
