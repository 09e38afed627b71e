#!/usr/bin/env bash
# Builds the Debian package `parkguard` (the unit: parkguardd and its files) with Debian's own tools
# (dpkg-shlibdeps, dpkg-gencontrol, dpkg-deb) and a staging tree:
#
#   Firmware/package/build-deb.sh [--arch ARCH] [--version VERSION] [--binary PATH]
#                                 [--suite bookworm|trixie] [--config FILE] [--maintainer 'Name <mail>'] [--out DIR]
#
#   --suite    the Debian release the package is for (default bookworm): its changelog's
#              distribution, and for trixie the version suffix +deb13 (0.1.0-1+deb13 sorts above
#              bookworm's 0.1.0-1, so a unit upgraded to Debian 13 takes the trixie build). Run it
#              on that release (Firmware/buildroot/run.sh for trixie): dpkg-shlibdeps writes
#              Depends from the libraries there (libgpiod2 on bookworm, libgpiod3 on trixie).
#   --arch     Debian architecture of the package (default: this machine's, dpkg --print-architecture).
#              A foreign architecture needs --binary: this script never cross-compiles.
#   --version  Debian version (default: the binary's `parkguardd --version` plus "-1"; for a
#              foreign binary, ParkGuardVersion.current from the sources plus "-1").
#   --binary   a prebuilt parkguardd (release, static Swift stdlib). Without it the binary is built
#              here: swift build -c release --static-swift-stdlib --product parkguardd
#              --scratch-path .build-static
#
# parkguardd is the only binary on the unit: the unit's key and signing request are made by
# `parkguardd csr` (libcrypto). parkguard-provision is the district's tool (CA, signing, broker
# configuration) and is not in this package.
#   --config   the agent.yaml to ship as the conffile /etc/parkguard/agent.yaml
#              (default: Firmware/config/agent.example.yaml)
#   --out      output folder (default: .build-deb)
#
# Writes OUT/parkguard_VERSION_ARCH.deb and OUT/parkguardd_VERSION_ARCH.debug (the detached debug
# information of the stripped binary, for symbolising a crash report: `gdb -s FILE.debug`), and
# prints the .deb's path as its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export PATH="/opt/swift/usr/bin:$PATH"

native=$(dpkg --print-architecture)
arch=$native version="" binary="" config="$root/Firmware/config/agent.example.yaml" out="$root/.build-deb"
maintainer="ParkGuard maintainers <parkguard@district.example>" suite=bookworm
die() { echo "build-deb: $*" >&2; exit 1; }
while (($#)); do
  case $1 in
    --arch) arch=${2:?}; shift 2 ;;
    --version) version=${2:?}; shift 2 ;;
    --binary) binary=${2:?}; shift 2 ;;
    --config) config=${2:?}; shift 2 ;;
    --maintainer) maintainer=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --suite) suite=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
for tool in dpkg-deb dpkg-shlibdeps dpkg-gencontrol chrpath; do
  command -v "$tool" >/dev/null || die "$tool is missing: apt-get install dpkg-dev chrpath"
done

if [[ -z $binary ]]; then
  if [[ $arch != "$native" ]]; then
    die "refusing to build for $arch on this $native machine: the binary cannot be cross-built here
(Debian's libmosquitto and libgpiod are glibc libraries; the Swift static Linux SDK links against
musl). Build parkguardd natively on an $arch Debian 12 machine (the board itself, or a VM) with
  swift build -c release --static-swift-stdlib --product parkguardd --scratch-path .build-static
then package it there, or here with: $0 --arch $arch --binary PATH/TO/parkguardd"
  fi
  echo "== swift build -c release --static-swift-stdlib --product parkguardd --scratch-path .build-static" >&2
  (cd "$root" && swift build -c release --static-swift-stdlib --product parkguardd --scratch-path .build-static >&2)
  binary="$root/.build-static/release/parkguardd"
fi
[[ -f $binary ]] || die "no binary at $binary"
[[ -f $config ]] || die "no configuration at $config"

# The binary must be for the package's architecture.
machine=$(LC_ALL=C readelf -h "$binary" | sed -n 's/^ *Machine: *//p')
case $arch in
  amd64) want="X86-64" ;;
  arm64) want="AArch64" ;;
  armhf|armel) want="ARM" ;;
  i386) want="80386" ;;
  *) want="" ;;
esac
[[ -z $want || $machine == *"$want"* ]] || die "$binary is for '$machine', not $arch"

if [[ -z $version ]]; then
  if [[ $arch == "$native" ]]; then
    upstream=$("$binary" --version) || die "$binary --version failed"
  else
    upstream=$(sed -n 's/.*static let current = "\(.*\)".*/\1/p' "$root/Sources/ParkGuardCore/Version.swift")
  fi
  version="$upstream-1"
  [[ $suite == trixie ]] && version+="+deb13"
fi
case $suite in bookworm|trixie) ;; *) die "--suite must be bookworm or trixie" ;; esac
[[ $version =~ ^[0-9][A-Za-z0-9.+~-]*-[A-Za-z0-9.+~]+$ ]] || die "version '$version' is not UPSTREAM-REVISION (like 0.1.0-1)"

# Reproducible: every timestamp is the last commit's.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$root" diff --quiet HEAD 2>/dev/null || commit="$commit (with uncommitted changes)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work="$out/work-$arch"
stage="$work/stage"
rm -rf "$work"
mkdir -p "$work/debian" "$stage/DEBIAN"
umask 022

# --- the binary: stripped, without Swift's $ORIGIN run path (all its libraries are Debian's)
if [[ $arch == "$native" ]]; then
  objcopy=objcopy
else
  triplet=$(dpkg-architecture -a"$arch" -qDEB_HOST_GNU_TYPE 2>/dev/null)
  if command -v "$triplet-objcopy" >/dev/null; then objcopy="$triplet-objcopy"
  elif command -v llvm-objcopy >/dev/null; then objcopy=llvm-objcopy
  else die "no objcopy for $arch: apt-get install binutils-$triplet"; fi
fi
install -d "$stage/usr/sbin"
debug="$out/parkguardd_${version}_${arch}.debug"
"$objcopy" --only-keep-debug "$binary" "$debug"
chmod 0644 "$debug"
"$objcopy" --strip-unneeded --remove-section=.comment --add-gnu-debuglink="$debug" "$binary" "$stage/usr/sbin/parkguardd"
chrpath -d "$stage/usr/sbin/parkguardd" >/dev/null
chmod 0755 "$stage/usr/sbin/parkguardd"
if [[ $arch == "$native" ]]; then
  "$stage/usr/sbin/parkguardd" --version >/dev/null || die "the stripped binary does not run"
fi
binaries=(stage/usr/sbin/parkguardd)

# --- systemd, udev, configuration, overlay, documentation
# Debian 13 has finished merging /usr: units and rules go under /usr/lib there (lintian's
# aliased-location), and under /lib on Debian 12, as its debhelper does.
libdir=/lib; [[ $suite == trixie ]] && libdir=/usr/lib
install -D -m 0644 "$root/Firmware/systemd/parkguardd.service" "$stage$libdir/systemd/system/parkguardd.service"
install -D -m 0644 "$root/Firmware/udev/60-parkguard-gpio.rules" "$stage$libdir/udev/rules.d/60-parkguard-gpio.rules"
install -D -m 0644 "$config" "$stage/etc/parkguard/agent.yaml"
install -D -m 0644 "$root/Firmware/overlays/parkguard-bells-overlay.dts" "$stage/usr/share/parkguard/parkguard-bells-overlay.dts"
doc="$stage/usr/share/doc/parkguard"
install -D -m 0644 "$here/debian/copyright" "$doc/copyright"
install -D -m 0644 "$here/debian/lintian-overrides" "$stage/usr/share/lintian/overrides/parkguard"
for page in install configuration camera-health reliability security; do
  gzip -9n < "$root/docs/$page.md" > "$doc/$page.md.gz"
done
install -d "$stage/usr/share/man/man8"
gzip -9n < "$here/parkguardd.8" > "$stage/usr/share/man/man8/parkguardd.8.gz"

# --- debian/changelog (also the changelog.Debian.gz shipped), control, substvars
cat > "$work/debian/changelog" <<EOF
parkguard ($version) $suite; urgency=medium

  * parkguardd ${version%-*}, built from commit $commit
    of the ParkGuard repository.

 -- $maintainer  $(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
gzip -9n < "$work/debian/changelog" > "$doc/changelog.Debian.gz"
sed "s|@MAINTAINER@|$maintainer|" "$here/debian/control" > "$work/debian/control"

# Depends from the libraries the binary really links (libc6, libgpiod2 or libgpiod3, libmosquitto1, ...).
# A foreign architecture needs those libraries' :ARCH packages installed (multiarch).
if ! (cd "$work" && dpkg-architecture -a"$arch" -f -c \
      dpkg-shlibdeps -Tdebian/substvars "${binaries[@]}" 2>"$work/shlibdeps.log"); then
  cat "$work/shlibdeps.log" >&2
  die "dpkg-shlibdeps could not resolve the libraries for $arch. For a foreign architecture run:
  dpkg --add-architecture $arch && apt-get update
  apt-get install libmosquitto1:$arch libgpiod2:$arch libturbojpeg0:$arch libyaml-0-2:$arch libc6:$arch
or build the package on an $arch machine."
fi
grep -v 'binaries to analyze should already be installed' "$work/shlibdeps.log" >&2 || true

install -m 0644 "$here/debian/conffiles" "$stage/DEBIAN/conffiles"
install -m 0755 "$here/debian/postinst" "$here/debian/prerm" "$here/debian/postrm" "$stage/DEBIAN/"
(cd "$work" && dpkg-architecture -a"$arch" -f -c \
  dpkg-gencontrol -pparkguard -Pstage -Tdebian/substvars -ldebian/changelog -cdebian/control)
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
  > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/md5sums" "$stage/DEBIAN/control"

find "$stage" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb="$out/parkguard_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
rm -rf "$work"
echo "build-deb: $(( $(stat -c %s "$deb") / 1024 )) KiB, Depends: $(dpkg-deb -f "$deb" Depends)" >&2
echo "$deb"
