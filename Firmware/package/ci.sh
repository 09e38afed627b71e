#!/usr/bin/env bash
# CI entry point for the Debian package: installs the Debian tools it needs, builds the package
# (build-deb.sh: the static-stdlib release binary, stripped), then runs install-test.sh, which
# runs the static checks (lintian, systemd-analyze verify and security, man page, udev rule,
# overlay), installs and upgrades the package in a fresh Debian 12 root and boots it under
# systemd-nspawn. Prints the package and binary sizes. Exits non-zero on any failure.
#
#   Firmware/package/ci.sh            (as root, or with sudo; on a Debian 12 machine)
#
# The minimal root is cached in ~/.cache/parkguard-deb (PARKGUARD_DEB_CACHE); the first run
# debootstraps it from deb.debian.org.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
started=$(date +%s)
sudo=""; [[ $(id -u) -eq 0 ]] || sudo=sudo

packages=(dpkg-dev binutils chrpath lintian debootstrap systemd systemd-container
          device-tree-compiler cpp xz-utils man-db mosquitto mosquitto-clients python3 procps)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== apt-get install: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "== tools ready ($(( $(date +%s) - started )) s)"

echo "== build-deb.sh"
deb=$("$here/build-deb.sh" | tail -1)
echo "== install-test.sh ($(( $(date +%s) - started )) s so far)"
rc=0
$sudo "$here/install-test.sh" --deb "$deb" || rc=$?

echo "== sizes"
version=$(dpkg-deb -f "$deb" Version)
arch=$(dpkg-deb -f "$deb" Architecture)
unstripped="$root/.build-static/release/parkguardd"
installed=$(dpkg-deb -c "$deb" | awk '$NF == "./usr/sbin/parkguardd" {print $3}')
printf '  %-44s %8s KiB\n' "package $(basename "$deb")" "$(( $(stat -c %s "$deb") / 1024 ))"
printf '  %-44s %8s KiB\n' "installed size (Installed-Size)" "$(dpkg-deb -f "$deb" Installed-Size)"
printf '  %-44s %8s KiB\n' "/usr/sbin/parkguardd (stripped, installed)" "$(( installed / 1024 ))"
printf '  %-44s %8s KiB\n' "every binary installed on the unit, stripped" \
  "$(( $(dpkg-deb -c "$deb" | awk '$1 ~ /^-..x/ && $NF ~ /bin\// {s += $3} END {print s}') / 1024 ))"
[[ -f $unstripped ]] && printf '  %-44s %8s KiB\n' "parkguardd before stripping" "$(( $(stat -c %s "$unstripped") / 1024 ))"
debug="$(dirname "$deb")/parkguardd_${version}_${arch}.debug"
[[ -f $debug ]] && printf '  %-44s %8s KiB\n' "detached debug info ($(basename "$debug"))" "$(( $(stat -c %s "$debug") / 1024 ))"
echo "package ci: $(( $(date +%s) - started )) s"
exit "$rc"
