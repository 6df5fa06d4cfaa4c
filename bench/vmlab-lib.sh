# bench/vmlab-lib.sh: the machinery of bench/vmlab, the lab of real virtual
# machines: the fleetcast-agent .deb (built from the source tree with
# dpkg-buildpackage unless one is given), the Debian 12 image made from it
# with mmdebstrap and cached, the network namespace with its bridge, taps
# and the fleetcastd inside it, the QEMU machines (the image's own kernel
# and initrd, a copy-on-write overlay each, KVM when it works, TCG
# otherwise), their guest agents, and the teardown of all of it.  Sourced by
# bench/vmlab, never run; every name here starts with vl_.

VL_SUITE=bookworm
VL_MIRROR=${FLEETCAST_VMLAB_MIRROR:-http://deb.debian.org/debian}
# What the image holds besides the agent's own dependencies: systemd as
# init, the cloud kernel (virtio drivers built in, small, boots quickly
# under TCG), the guest agent the lab acts through, and ip(8).
VL_INCLUDE="systemd,systemd-sysv,udev,linux-image-cloud-amd64,qemu-guest-agent,iproute2"
VL_NET=10.213.0
VL_SERVER_IP=$VL_NET.1
VL_CONTROL_PORT=56022
VL_API=http://127.0.0.1:56080
# Bump when the image's lab files below change: it is part of the cache key.
VL_IMAGE_REV=4

vl_log()
{
	printf '%s vmlab: %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

vl_die()
{
	vl_log "error: $*"
	exit 1
}

# vl_need CMD PACKAGE: the tool or a clear word on what to install.
vl_need()
{
	command -v "$1" >/dev/null 2>&1 ||
	    vl_die "$1 not found: install the Debian package $2 (scripts/install-deps)"
}

# ---- the agent package ------------------------------------------------

# vl_build_deb SRCDIR OUTDIR: dpkg-buildpackage on a copy of the source
# tree (the tree itself is left as it is); prints the agent .deb's path.
vl_build_deb()
{
	local src=$1 out=$2 copy=$2/src/fleetcast
	[ -f "$src/debian/control" ] ||
	    vl_die "$src/debian/control: no Debian packaging to build the agent from (give --deb FILE)"
	vl_need dpkg-buildpackage dpkg-dev
	rm -rf "$out/src"
	mkdir -p "$copy"
	if git -C "$src" rev-parse --git-dir >/dev/null 2>&1; then
		(cd "$src" && git ls-files -co --exclude-standard -z |
		    tar --null -cf - -T -) | tar -C "$copy" -xf - ||
		    vl_die "copying the source tree to $copy"
	else
		tar -C "$src" --exclude=./build --exclude='./obj-*' -cf - . |
		    tar -C "$copy" -xf - || vl_die "copying the source tree"
	fi
	vl_log "building the Debian packages (log: $out/dpkg-buildpackage.log)"
	(cd "$copy" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	    dpkg-buildpackage -us -uc -b) > "$out/dpkg-buildpackage.log" 2>&1 ||
	    vl_die "dpkg-buildpackage failed (see $out/dpkg-buildpackage.log)"
	ls "$out"/src/fleetcast-agent_*.deb 2>/dev/null | head -n 1
}

# vl_deb_key DEB: what the image depends on in the .deb: its name, version
# and the content of every file it installs (not the .deb's own bytes,
# which change with every build's time stamps).
vl_deb_key()
{
	{
		dpkg-deb -f "$1" Package Version Depends
		dpkg-deb --fsys-tarfile "$1" | tar -xOf - | sha256sum
	} | sha256sum | cut -c1-16
}

# ---- the image ----------------------------------------------------------

# vl_lab_files ROOT: what makes the image a lab machine.  The agent's
# configuration comes from the kernel command line of each VM
# (fleetcast.server=, fleetcast.token=, fleetcast.keys=), written by a
# oneshot unit before fleetcast-agent.service at every boot, so one cached
# image serves every lab run and every server.  The image holds the
# fleetcast-server package too (when it was built): with
# fleetcast.role=server the same unit writes fleetcastd.conf instead, and
# the kernel command line masks the unit a machine is not for (see
# vl_vm_start).
vl_lab_files()
{
	local r=$1
	echo "LABEL=fcroot / ext4 defaults 0 1" > "$r/etc/fstab"
	mkdir -p "$r/usr/local/sbin" "$r/etc/fleetcast/facts.d"
	cat > "$r/usr/local/sbin/fleetcast-vmlab-config" <<'EOF'
#!/bin/sh
# fleetcast VM lab: the agent's configuration from the kernel command line.
set -e
server= token= keys= role=agent
for w in $(cat /proc/cmdline); do
	case $w in
	fleetcast.role=*) role=${w#*=} ;;
	fleetcast.server=*) server=${w#*=} ;;
	fleetcast.token=*) token=${w#*=} ;;
	fleetcast.keys=*) keys=${w#*=} ;;
	esac
done
umask 077
mkdir -p /etc/fleetcast
if [ -n "$keys" ]; then
	echo "$keys" | base64 -d > /etc/fleetcast/trusted_keys.pub.tmp
	mv /etc/fleetcast/trusted_keys.pub.tmp /etc/fleetcast/trusted_keys.pub
fi
if [ "$role" = server ]; then
	# The server VM: what an admin edits in the shipped fleetcastd.conf.
	# The API leaves the machine, so it is TLS with the server CA's
	# certificate (it names fleetcastd).
	cat > /etc/fleetcast/fleetcastd.conf.tmp <<CONF
# written at boot by /usr/local/sbin/fleetcast-vmlab-config
state_dir = /var/lib/fleetcast
control_listen = 0.0.0.0:56022
api_listen = 0.0.0.0:56080
api_tls = ca
interface = eth0
trusted_keys = /etc/fleetcast/trusted_keys.pub
CONF
	mv /etc/fleetcast/fleetcastd.conf.tmp /etc/fleetcast/fleetcastd.conf
	exit 0
fi
[ -n "$server" ] || { echo "no fleetcast.server= on the command line"; exit 0; }
cat > /etc/fleetcast/fleetcast-agent.conf.tmp <<CONF
# written at boot by /usr/local/sbin/fleetcast-vmlab-config
server = $server
enroll_token = $token
trusted_keys = /etc/fleetcast/trusted_keys.pub
facts_command = /usr/local/sbin/fleetcast-vmlab-facts
CONF
mv /etc/fleetcast/fleetcast-agent.conf.tmp /etc/fleetcast/fleetcast-agent.conf
EOF
	cat > "$r/usr/local/sbin/fleetcast-vmlab-facts" <<'EOF'
#!/bin/sh
# fleetcast VM lab: facts that installed packages leave in facts.d.
cat /etc/fleetcast/facts.d/*.facts 2>/dev/null
exit 0
EOF
	chmod 755 "$r/usr/local/sbin/fleetcast-vmlab-config" \
	    "$r/usr/local/sbin/fleetcast-vmlab-facts"
	cat > "$r/etc/systemd/system/fleetcast-vmlab-config.service" <<'EOF'
[Unit]
Description=fleetcast VM lab: agent configuration from the kernel command line
DefaultDependencies=no
After=local-fs.target
Before=fleetcast-agent.service fleetcastd.service

[Service]
Type=oneshot
# Once a boot: a later start of the agent (case 9 points it at another
# server by hand) must not write the command line's server back.
RemainAfterExit=yes
ExecStart=/usr/local/sbin/fleetcast-vmlab-config
EOF
	mkdir -p "$r/etc/systemd/system/fleetcast-agent.service.wants"
	ln -sf ../fleetcast-vmlab-config.service \
	    "$r/etc/systemd/system/fleetcast-agent.service.wants/"
	mkdir -p "$r/etc/systemd/system/fleetcastd.service.wants"
	ln -sf ../fleetcast-vmlab-config.service \
	    "$r/etc/systemd/system/fleetcastd.service.wants/"
	# Nothing at boot that is not the test: no apt runs, no scrubbing.
	local t
	for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
	    fstrim.timer e2scrub_reap.service; do
		ln -sf /dev/null "$r/etc/systemd/system/$t"
	done
	# network-online.target is eth0's IPv4 address: waiting for IPv6
	# router advertisements nobody sends costs seconds under TCG.
	mkdir -p "$r/etc/systemd/system/systemd-networkd-wait-online.service.d"
	cat > "$r/etc/systemd/system/systemd-networkd-wait-online.service.d/vmlab.conf" <<'EOF'
[Service]
ExecStart=
ExecStart=/lib/systemd/systemd-networkd-wait-online --interface=eth0 --ipv4 --timeout=60
EOF
	# systemd-network-generator turns ip= into a .network file;
	# networkd (and its wait-online) brings eth0 up before the agent.
	chroot "$r" systemctl enable systemd-networkd.service \
	    systemd-network-generator.service >/dev/null 2>&1 ||
	    vl_die "enabling systemd-networkd in the image"
}

# vl_image CACHE DEB [SERVER-DEB]: make sure the image for DEB (and the
# fleetcast-server SERVER-DEB, when given) is in CACHE; sets VL_IMG (raw
# root file system), VL_KERNEL, VL_INITRD, VL_IMAGE_KEY.  The base (a
# mmdebstrap tarball) is keyed by the suite and package list; the image by
# the base and the packages' content.
vl_image()
{
	local cache=$1 deb=$2 sdeb=${3:-} deps basekey key base dir t0 d
	vl_need mmdebstrap mmdebstrap
	vl_need mkfs.ext4 e2fsprogs
	mkdir -p "$cache"
	deps=$(for d in "$deb" $sdeb; do dpkg-deb -f "$d" Depends; echo ,; done |
	    tr ',' '\n' |
	    sed -e 's/(.*)//' -e 's/|.*//' -e 's/[[:space:]]//g' |
	    grep -v '^$' | sort -u | tr '\n' ',')
	basekey=$(echo "$VL_SUITE $VL_MIRROR $VL_INCLUDE,$deps" | sha256sum |
	    cut -c1-16)
	base=$cache/base-$basekey.tar
	if [ ! -s "$base" ]; then
		vl_log "building the Debian 12 base with mmdebstrap ($base)"
		t0=$SECONDS
		mmdebstrap --variant=minbase --format=tar --include="$VL_INCLUDE,${deps%,}" \
		    "$VL_SUITE" "$base.tmp" "$VL_MIRROR" \
		    > "$cache/mmdebstrap.log" 2>&1 ||
		    vl_die "mmdebstrap failed (see $cache/mmdebstrap.log)"
		mv "$base.tmp" "$base"
		vl_log "base built in $((SECONDS - t0)) s"
	fi
	key=$(echo "$basekey $(vl_deb_key "$deb") ${sdeb:+$(vl_deb_key "$sdeb")}" \
	    "$VL_IMAGE_REV" | sha256sum | cut -c1-16)
	VL_IMAGE_KEY=$key
	dir=$cache/image-$key
	if [ ! -s "$dir/root.raw" ]; then
		vl_log "making the image $dir from the base and $(basename "$deb")"
		t0=$SECONDS
		rm -rf "$dir.tmp"
		mkdir -p "$dir.tmp/root"
		tar -C "$dir.tmp/root" -xf "$base" || vl_die "unpacking $base"
		cp "$deb" "$dir.tmp/root/tmp/agent.deb"
		[ -z "$sdeb" ] || cp "$sdeb" "$dir.tmp/root/tmp/server.deb"
		# As an admin installs them: the postinsts enable both units
		# (the machine's command line masks one, vl_vm_start).
		chroot "$dir.tmp/root" dpkg -i /tmp/agent.deb \
		    ${sdeb:+/tmp/server.deb} > "$dir.tmp/dpkg.log" 2>&1 ||
		    vl_die "installing the packages in the image ($dir.tmp/dpkg.log)"
		rm -f "$dir.tmp/root/tmp/agent.deb" "$dir.tmp/root/tmp/server.deb"
		vl_lab_files "$dir.tmp/root"
		chroot "$dir.tmp/root" dpkg-query -W > "$dir.tmp/versions"
		cp "$dir.tmp/root"/boot/vmlinuz-* "$dir.tmp/vmlinuz"
		cp "$dir.tmp/root"/boot/initrd.img-* "$dir.tmp/initrd"
		# Its "Creating regular file" goes to the log, not to stdout
		# (which is --json's).
		mkfs.ext4 -q -L fcroot -d "$dir.tmp/root" "$dir.tmp/root.raw" 2G \
		    > "$dir.tmp/mkfs.log" 2>&1 ||
		    vl_die "mkfs.ext4 of the image"
		rm -rf "$dir.tmp/root"
		rm -rf "$dir"
		mv "$dir.tmp" "$dir"
		vl_log "image made in $((SECONDS - t0)) s"
	fi
	VL_IMG=$dir/root.raw
	VL_KERNEL=$dir/vmlinuz
	VL_INITRD=$dir/initrd
}

# ---- acceleration -------------------------------------------------------

# vl_accel DIR: "kvm" when a KVM guest gets as far as the kernel's first
# line within a few seconds, else "tcg".  /dev/kvm can exist and open and
# still hang a guest before its first instruction (nested virtualisation
# that does not work): only a real start shows.
vl_accel()
{
	local out=$1/kvm-probe.console i
	if [ -n "${FLEETCAST_VMLAB_ACCEL:-}" ]; then
		echo "$FLEETCAST_VMLAB_ACCEL"
		return
	fi
	if [ ! -w /dev/kvm ]; then
		echo tcg
		return
	fi
	rm -f "$out"
	timeout -s KILL 8 qemu-system-x86_64 -accel kvm -cpu host -m 128 \
	    -nodefaults -no-user-config -display none -no-reboot \
	    -serial "file:$out" -kernel "$VL_KERNEL" \
	    -append "console=ttyS0 panic=-1 rdinit=/vmlab-probe" \
	    > "$1/kvm-probe.log" 2>&1 &
	local pid=$!
	for ((i = 0; i < 60; i++)); do
		grep -q "Linux version" "$out" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if grep -q "Linux version" "$out" 2>/dev/null; then
		echo kvm
	else
		echo tcg
	fi
}

# ---- the network namespace and the server -----------------------------

# vl_net_up NS N: the namespace, its bridge (the server's address) and one
# tap a VM.  Multicast snooping is off: without a querier the bridge
# would otherwise stop flooding groups once it had seen some reports.
vl_net_up()
{
	local ns=$1 n=$2 i
	ip netns add "$ns" || vl_die "ip netns add $ns"
	VL_NS=$ns
	ip -n "$ns" link set lo up &&
	ip -n "$ns" link add fcbr0 type bridge mcast_snooping 0 &&
	ip -n "$ns" addr add "$VL_SERVER_IP/24" dev fcbr0 &&
	ip -n "$ns" link set fcbr0 up || vl_die "bridge in $ns"
	for ((i = 1; i <= n; i++)); do
		vl_net_tap "$i"
	done
}

# vl_net_tap I: VM I's tap fctapI on the bridge.
vl_net_tap()
{
	ip -n "$VL_NS" tuntap add dev "fctap$1" mode tap &&
	ip -n "$VL_NS" link set "fctap$1" master fcbr0 &&
	ip -n "$VL_NS" link set "fctap$1" up || vl_die "tap fctap$1"
}

# vl_fc ARGS...: the CLI against the lab's server.
vl_fc()
{
	ip netns exec "$VL_NS" env FLEETCAST_API=$VL_API \
	    FLEETCAST_TOKEN_FILE="$VL_OUT/srv/api.token" "$VL_FC" "$@"
}

# The server shares the host's file system: a large package (case 8) is
# added by its path in work/ (package_dirs) rather than uploaded.
vl_server_start()
{
	local i
	ip netns exec "$VL_NS" "$VL_FCD" -d -v --state_dir "$VL_OUT/srv" \
	    --control_listen "$VL_SERVER_IP:$VL_CONTROL_PORT" \
	    --api_listen "${VL_API#http://}" --interface fcbr0 \
	    --trusted_keys "$VL_OUT/sign.pub" --package_dirs "$VL_OUT/work" \
	    "$@" \
	    >> "$VL_OUT/fleetcastd.log" 2>&1 &
	VL_SERVER_PID=$!
	for ((i = 0; i < 100; i++)); do
		[ -s "$VL_OUT/srv/api.token" ] && [ -s "$VL_OUT/srv/enroll.token" ] &&
		    vl_fc machine list >/dev/null 2>&1 && return 0
		kill -0 "$VL_SERVER_PID" 2>/dev/null || break
		sleep 0.1
	done
	vl_die "fleetcastd did not come up (see $VL_OUT/fleetcastd.log)"
}

# ---- the machines -------------------------------------------------------

# vl_vm_name I: vmI; 0 is the server VM (vmsrv, case 9).
vl_vm_name()
{
	if [ "$1" = 0 ]; then echo vmsrv; else echo "vm$1"; fi
}

# vl_vm_start I: boot VM I (vmI) from its overlay, made on its first start
# only, so that a restart keeps the machine's disk.  VM 0 is vmsrv, which
# runs the fleetcast-server package's fleetcastd.service instead of the
# agent; the agents' machines mask fleetcastd.service (both are enabled
# in the image, as their postinsts leave them).
vl_vm_start()
{
	local i=$1 name ov accel cmdline
	name=$(vl_vm_name "$i")
	ov=$VL_OUT/$name.qcow2
	if [ ! -f "$ov" ]; then
		qemu-img create -q -f qcow2 -b "$VL_IMG" -F raw "$ov" ||
		    vl_die "qemu-img create $ov"
	fi
	if [ "$VL_ACCEL" = kvm ]; then
		accel="-accel kvm -cpu host"
	else
		accel="-accel tcg"
	fi
	cmdline="console=ttyS0 root=LABEL=fcroot rw net.ifnames=0"
	cmdline="$cmdline systemd.hostname=$name"
	cmdline="$cmdline ip=$VL_NET.$((10 + i))::$VL_SERVER_IP:255.255.255.0::eth0:off"
	cmdline="$cmdline systemd.journald.forward_to_console=1"
	cmdline="$cmdline fleetcast.keys=$(base64 -w0 < "$VL_OUT/sign.pub")"
	if [ "$i" = 0 ]; then
		cmdline="$cmdline fleetcast.role=server"
		cmdline="$cmdline systemd.mask=fleetcast-agent.service"
	else
		cmdline="$cmdline fleetcast.server=$VL_SERVER_IP:$VL_CONTROL_PORT"
		cmdline="$cmdline fleetcast.token=$(cat "$VL_OUT/srv/enroll.token")"
		cmdline="$cmdline systemd.mask=fleetcastd.service"
	fi
	echo "==== start $(date -u +%FT%TZ)" >> "$VL_OUT/$name.console"
	# shellcheck disable=SC2086
	ip netns exec "$VL_NS" qemu-system-x86_64 -name "$name" $accel \
	    -m "$VL_MEMORY" -smp 1 -nodefaults -no-user-config -display none \
	    -kernel "$VL_KERNEL" -initrd "$VL_INITRD" -append "$cmdline" \
	    -drive "file=$ov,if=virtio,format=qcow2,cache=unsafe" \
	    -netdev "tap,id=n0,ifname=fctap$i,script=no,downscript=no" \
	    -device "virtio-net-pci,netdev=n0,mac=52:54:00:fc:00:$(printf %02x "$i")" \
	    -device virtio-rng-pci \
	    -chardev "socket,id=ga,path=$VL_OUT/$name.ga,server=on,wait=off" \
	    -device virtio-serial-pci \
	    -device "virtserialport,chardev=ga,name=org.qemu.guest_agent.0" \
	    -chardev "file,id=con,path=$VL_OUT/$name.console,append=on" \
	    -serial chardev:con \
	    >> "$VL_OUT/$name.qemu.log" 2>&1 &
	eval "VL_QEMU_$i=$!"
	disown $!
}

vl_vm_pid()
{
	eval "echo \${VL_QEMU_$1:-}"
}

# vl_vm_running I: its QEMU has not exited.
vl_vm_running()
{
	local pid
	pid=$(vl_vm_pid "$1")
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# vl_vm_stop I: QEMU is told to quit (the lab's end, not a test case).
vl_vm_stop()
{
	local pid j
	pid=$(vl_vm_pid "$1")
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for ((j = 0; j < 50; j++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null
	eval "VL_QEMU_$1="
}

# vl_ga I [--timeout S] COMMAND...: run COMMAND in VM I (guest agent).
vl_ga()
{
	local i=$1 t=30
	shift
	if [ "$1" = --timeout ]; then
		t=$2
		shift 2
	fi
	"$VL_HERE/vmlab-ga.py" "$VL_OUT/$(vl_vm_name "$i").ga" --timeout "$t" \
	    -- "$@"
}

# vl_ga_wait I SECONDS: until VM I's guest agent answers.
vl_ga_wait()
{
	local i=$1 end=$((SECONDS + $2))
	while [ $SECONDS -lt $end ]; do
		"$VL_HERE/vmlab-ga.py" "$VL_OUT/$(vl_vm_name "$i").ga" --timeout 3 --ping \
		    2>/dev/null && return 0
		vl_vm_running "$i" || return 1
		sleep 1
	done
	return 1
}

# vl_teardown: every QEMU, the server, the namespace; the overlays unless
# --keep.  Runs on exit, Ctrl-C and TERM alike.
vl_teardown()
{
	local i
	trap - EXIT INT TERM HUP
	for ((i = 0; i <= ${VL_VMS:-0}; i++)); do
		vl_vm_stop "$i"
	done
	if [ -n "${VL_SERVER_PID:-}" ]; then
		kill -TERM "$VL_SERVER_PID" 2>/dev/null
		wait "$VL_SERVER_PID" 2>/dev/null
	fi
	if [ -n "${VL_NS:-}" ]; then
		ip netns del "$VL_NS" 2>/dev/null
		# The namespace's /etc/hosts (case 9's name of the server VM).
		rm -rf "/etc/netns/$VL_NS"
		[ "${VL_NETNS_ETC_MADE:-0}" = 1 ] && rmdir /etc/netns 2>/dev/null
	fi
	if [ -n "${VL_OUT:-}" ] && [ "${VL_KEEP:-0}" != 1 ]; then
		rm -f "$VL_OUT"/vm*.qcow2 "$VL_OUT"/vm*.ga
		rm -rf "$VL_OUT/src"
	fi
}
