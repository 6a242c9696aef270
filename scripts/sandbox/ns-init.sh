#!/bin/bash
# First process of a sandbox host, started by scripts/sandbox.sh as
#   ip netns exec NETNS unshare --uts --ipc --mount --pid --fork bash ns-init.sh ...
# so it already runs in the host's private network, UTS, IPC, mount and PID
# namespaces (it is PID 1 of the new PID namespace). It mounts the chroot's
# pseudo filesystems, which stay inside this private mount namespace, writes its
# host-visible PID to PIDFILE and then turns into the sandbox's init.
#
# usage: ns-init.sh ROOTFS HOSTNAME PIDFILE CAPDROP
set -euo pipefail

rootfs=$1 hostname=$2 pidfile=$3 capdrop=$4

# unshare already made every mount private; repeat it so that even a changed
# launcher can never propagate a sandbox mount back into the host.
mount --make-rprivate /

# Only this UTS namespace sees the new name; the host's hostname is untouched.
hostname "$hostname"

# /proc mounted from inside the new PID namespace shows only the sandbox's
# processes. sysfs mounted from inside the netns shows only its interfaces.
mount -t proc -o nosuid,nodev,noexec proc "$rootfs/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$rootfs/sys"

# A private /dev with only harmless nodes, rather than a bind of the host's
# /dev (which would expose the host's disks to the sandbox).
mount -t tmpfs -o nosuid,noexec,mode=0755,size=1m tmpfs "$rootfs/dev"
for node in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r name major minor <<<"$node"
  mknod -m 0666 "$rootfs/dev/$name" c "$major" "$minor"
done
mkdir -m 0755 "$rootfs/dev/pts"
mkdir -m 1777 "$rootfs/dev/shm"
# newinstance: the sandbox gets its own pty numbering, sshd sessions need it.
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$rootfs/dev/pts"
ln -s pts/ptmx "$rootfs/dev/ptmx"
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs "$rootfs/dev/shm"
ln -s /proc/self/fd "$rootfs/dev/fd"
ln -s /proc/self/fd/0 "$rootfs/dev/stdin"
ln -s /proc/self/fd/1 "$rootfs/dev/stdout"
ln -s /proc/self/fd/2 "$rootfs/dev/stderr"

# /run is a tmpfs on a real host too: pid files (/run/sshd.pid) start empty.
mount -t tmpfs -o nosuid,nodev,mode=0755,size=64m tmpfs "$rootfs/run"
mkdir -m 1777 "$rootfs/run/lock"

# /proc here is still the host's procfs (the new one is under $rootfs/proc),
# so /proc/self/stat, read by this very shell, starts with our host PID.
# That is the PID the host uses for nsenter and kill.
read -r host_pid _ </proc/self/stat
echo "$host_pid" >"$pidfile.tmp"
mv "$pidfile.tmp" "$pidfile"

# PID 1 of the namespace: a bash loop. bash reaps every child, including the
# daemons (sshd, ...) that get re-parented to it; SIGTERM ends it, and with it
# every process of the namespace. The bounding-set drop keeps sandboxed root
# from loading kernel modules or setting the host's clock.
# shellcheck disable=SC2016  # the loop is expanded by the sandbox's bash
exec setpriv --bounding-set "$capdrop" \
  chroot "$rootfs" /usr/bin/env -i \
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root LANG=C.UTF-8 \
  /bin/bash -c 'trap "exit 0" TERM INT; while :; do sleep infinity & wait $!; done'
