#!/usr/bin/env bash
# Runs a command inside a Debian build root of another release (Debian 13 "trixie" by default),
# with this machine's Swift toolchain, its Swift package mirror and the project bind-mounted at
# the same paths: the project builds there against that release's libgpiod, libmosquitto and
# OpenSSL, exactly as it would on a unit running it. Needs root (debootstrap, chroot, mounts).
#
#   Firmware/buildroot/run.sh [--suite trixie] -- swift build --scratch-path .build-trixie
#
# The root (debootstrap --variant=minbase plus the build and test packages below) is cached as a
# tarball in ~/.cache/parkguard-deb (PARKGUARD_DEB_CACHE), keyed by suite and package list and
# rebuilt weekly; it is unpacked under /tmp for each run and removed after. The command runs in
# the project folder with PATH=/opt/swift/usr/bin:..., HOME=/root (the root's own) and the
# host's git settings (which map github.com to the package mirror).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
project=$(cd "$here/../.." && pwd)
suite=trixie
while [[ $# -gt 0 ]]; do
  case $1 in
    --suite) suite=$2; shift 2 ;;
    --) shift; break ;;
    *) echo "buildroot: unknown option '$1' (usage: run.sh [--suite NAME] -- COMMAND...)" >&2; exit 64 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "buildroot: no command (usage: run.sh [--suite NAME] -- COMMAND...)" >&2; exit 64; }
[[ $(id -u) -eq 0 ]] || { echo "buildroot: needs root (debootstrap, chroot, mounts)" >&2; exit 77; }
command -v debootstrap >/dev/null || { echo "buildroot: debootstrap is missing (apt-get install debootstrap)" >&2; exit 69; }

# What the project needs to build and run its unit-side tests on that release: the Swift
# toolchain's runtime needs (libcurl, libxml2, libsqlite3, ncurses, libedit, gcc's crt files and
# libstdc++), the C libraries of the agent, and the real peers of its tests.
packages=ca-certificates,git,pkg-config,gcc,g++,libc6-dev,binutils,libcurl4t64,libxml2,libsqlite3-dev,zlib1g-dev,libncurses6,libedit2,tzdata,python3,procps,util-linux,
packages+=libgpiod-dev,gpiod,dpkg-dev,chrpath,libmosquitto-dev,libssl-dev,libturbojpeg0-dev,libyaml-dev,mosquitto,mosquitto-clients,file
# Installed with apt after debootstrap, whose simple resolver trips over lintian's Perl modules.
later="lintian python3-jsonschema python3-yaml"
mirror=${PARKGUARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${PARKGUARD_DEB_CACHE:-$HOME/.cache/parkguard-deb}
key=$(printf '%s\n' "$suite" "$packages" "$later" "$mirror" | sha256sum | cut -c1-12)
tarball="$cache/$suite-build-$key.tar.gz"
mkdir -p "$cache"

rootfs=$(mktemp -d /tmp/parkguard-buildroot-XXXXXX)
chmod 0755 "$rootfs"  # mosquitto, run as root, drops to its own user, which must reach /
mounts=()
cleanup() {
  for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
  rm -rf --one-file-system "$rootfs"
}
trap cleanup EXIT

if [[ -f $tarball ]] && [[ -n $(find "$tarball" -mtime -7) ]]; then
  tar -C "$rootfs" -xzf "$tarball"
else
  echo "buildroot: debootstrap $suite with the build packages (the cached root is missing or older than a week)" >&2
  started=$(date +%s)
  debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" "$mirror" > "$rootfs.log" 2>&1 \
    || { tail -20 "$rootfs.log" >&2; echo "buildroot: debootstrap $suite failed" >&2; exit 1; }
  cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
  chroot "$rootfs" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends $later > "$rootfs.log" 2>&1 < /dev/null \
    || { tail -20 "$rootfs.log" >&2; echo "buildroot: apt-get install $later failed" >&2; exit 1; }
  chroot "$rootfs" apt-get clean
  rm -f "$rootfs.log" "$cache/$suite-build-"*.tar.gz
  tar -C "$rootfs" -czf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
  echo "buildroot: $suite root made in $(( $(date +%s) - started )) s, cached as $tarball" >&2
fi
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$rootfs/etc/hosts"
[[ -f /etc/gitconfig ]] && cp /etc/gitconfig "$rootfs/etc/gitconfig"

bind() {  # bind SOURCE: the same path inside the root
  [[ -e $1 ]] || return 0
  mkdir -p "$rootfs$1"
  mount --bind "$1" "$rootfs$1"
  mounts+=("$rootfs$1")
}
mount -t proc proc "$rootfs/proc"; mounts+=("$rootfs/proc")
mount -t sysfs sys "$rootfs/sys"; mounts+=("$rootfs/sys")
bind /dev
bind /dev/pts
bind /dev/shm
bind /opt/swift
bind /opt/swift-packages
bind "$project"
# SwiftPM's clones of the package mirror, shared with this machine's builds (only the clones: its
# manifest cache would hand the root this machine's evaluation, libgpiod probe included).
bind "$HOME/.cache/org.swift.swiftpm/repositories"

chroot "$rootfs" env -i PATH=/opt/swift/usr/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
  TERM="${TERM:-dumb}" CI="${CI:-}" ${PARKGUARD_BUILDROOT_ENV:-} \
  bash -c 'cd "$0" && exec "$@"' "$project" "$@"
