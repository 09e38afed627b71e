#!/usr/bin/env bash
# Static checks of a built package and the files in it, without installing it:
#   lintian (no errors), the systemd unit (systemd-analyze verify; security exposure <= 2.0),
#   the binary (stripped, no run path, runs), the man page, the udev rule, and the device-tree
#   overlay (compiles with dtc; applies with fdtoverlay to the Raspberry Pi 4 device tree from
#   linux-source-6.1 when that is at hand).
#
#   Firmware/package/check-files.sh .build-deb/parkguard_VERSION_ARCH.deb
#
# Needs lintian, systemd (systemd-analyze), device-tree-compiler, man-db, binutils.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=checks.sh
source "$here/checks.sh"
deb=${1:?usage: check-files.sh PACKAGE.deb}
deb=$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")
threshold=${PARKGUARD_EXPOSURE_MAX:-2.0}
cache=${PARKGUARD_DEB_CACHE:-$HOME/.cache/parkguard-deb}

work=$(mktemp -d /tmp/parkguard-check-XXXXXX)
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$deb" "$work/root"
arch=$(dpkg-deb -f "$deb" Architecture)

echo "== lintian $(basename "$deb")"
# As root lintian prints a warning about it; it needs no privileges, so run it as nobody
# when the package is readable by others.
# --fail-on error: the exit status is non-zero for an error tag, or when lintian itself fails.
# (Not --show-overrides: with it lintian 2.116 exits 2 whenever an error tag is overridden.)
lintian_cmd=(lintian --fail-on error --display-info --pedantic --tag-display-limit 0)
lintian_rc=0
if [[ $(id -u) -eq 0 ]] && command -v runuser >/dev/null; then
  cp "$deb" "$work/lintian.deb"; chmod 0755 "$work"; chmod 0644 "$work/lintian.deb"
  (cd /tmp && runuser -u nobody -- env HOME=/tmp "${lintian_cmd[@]}" "$work/lintian.deb") > "$work/lintian.log" 2>&1 || lintian_rc=$?
else
  "${lintian_cmd[@]}" "$deb" > "$work/lintian.log" 2>&1 || lintian_rc=$?
fi
# The spelling tags are about third-party strings inside the Swift runtime and ICU data.
grep -v 'spelling-error-in-binary' "$work/lintian.log" | sed 's/^/  /' || true
spelling=$(grep -c 'spelling-error-in-binary' "$work/lintian.log" || true)
((spelling == 0)) || echo "  (and $spelling I: spelling-error-in-binary tags on strings of the Swift runtime and ICU)"
errors=$(grep -c '^E:' "$work/lintian.log" || true)
warnings=$(grep -c '^W:' "$work/lintian.log" || true)
infos=$(grep -c '^I:' "$work/lintian.log" || true)
overrides=$(grep -c '^parkguard: ' "$work/root/usr/share/lintian/overrides/parkguard" || true)
echo "  lintian: $errors error(s), $warnings warning(s), $infos info(s); $overrides tag(s) overridden with a reason in /usr/share/lintian/overrides/parkguard"
if ((errors == 0 && lintian_rc == 0)); then
  pass "lintian: no errors ($warnings warnings)"
else
  fail "lintian: no errors" "$errors error(s), exit status $lintian_rc"
fi

echo "== the binary"
bin="$work/root/usr/sbin/parkguardd"
sections=$(LC_ALL=C readelf -S -W "$bin" | grep -cE ' \.(symtab|debug_info) ' || true)
expect "binary is stripped (no .symtab, no .debug_info)" "$sections" 0
runpath=$(LC_ALL=C readelf -d "$bin" | grep -cE 'RPATH|RUNPATH' || true)
expect "binary has no RPATH/RUNPATH" "$runpath" 0
missing=$(LC_ALL=C ldd "$bin" 2>/dev/null | awk '/=> not found/ {print $1}' | tr '\n' ' ' || true)
if [[ -n $missing ]]; then
  skip "stripped binary runs" "built for another Debian release (this one lacks ${missing% }); install-test.sh runs it in that release's root"
elif [[ $arch == "$(dpkg --print-architecture)" ]]; then
  check "stripped binary runs (--version)" "$bin" --version
  check "stripped binary validates the packaged agent.yaml (--check-config)" \
    "$bin" --check-config --config "$work/root/etc/parkguard/agent.yaml"
else
  skip "stripped binary runs" "a $arch binary on $(dpkg --print-architecture)"
fi

echo "== systemd unit"
# /lib on Debian 12, /usr/lib on Debian 13 (merged /usr).
unit=$(ls "$work"/root{,/usr}/lib/systemd/system/parkguardd.service 2>/dev/null | head -1 || true)
# verify checks that ExecStart= is executable and that man:parkguardd(8) exists: point both at
# the unpacked package.
mkdir -p "$work/unit"
sed "s|^ExecStart=/usr/sbin/parkguardd|ExecStart=$bin|" "$unit" > "$work/unit/parkguardd.service"
if out=$(cd "$work/unit" && MANPATH="$work/root/usr/share/man" systemd-analyze verify parkguardd.service 2>&1) && [[ -z $out ]]; then
  pass "systemd-analyze verify parkguardd.service: clean"
else
  fail "systemd-analyze verify parkguardd.service" "$out"
fi
systemd-analyze security --offline=true --no-pager "$work/unit/parkguardd.service" > "$work/security.txt" 2>&1 || true
exposure=$(sed -n 's/.*Overall exposure level for parkguardd.service: \([0-9.]*\).*/\1/p' "$work/security.txt")
grep '✗' "$work/security.txt" | sed -E 's/ {2,}/  /g; s/^/  /'
echo "  exposure: ${exposure:-?}"
tenths=${threshold/./}
if systemd-analyze security --offline=true --threshold="$tenths" --no-pager "$work/unit/parkguardd.service" >/dev/null 2>&1; then
  pass "systemd-analyze security exposure $exposure <= $threshold"
else
  fail "systemd-analyze security exposure <= $threshold" "exposure ${exposure:-unknown}"
fi

echo "== man page, udev rule"
man_warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$work/root/usr/share/man/man8/parkguardd.8.gz" 2>&1 >/dev/null || true)
expect "man page renders without warnings" "${man_warnings:-none}" none
rule=$(ls "$work"/root{,/usr}/lib/udev/rules.d/60-parkguard-gpio.rules 2>/dev/null | head -1 || true)
rule_line=$(grep -v '^#' "$rule" | grep -v '^$' || true)
expect "udev rule: gpiochip devices to group gpio, 0660" "$rule_line" 'SUBSYSTEM=="gpio", KERNEL=="gpiochip[0-9]*", GROUP="gpio", MODE="0660"'

echo "== device-tree overlay"
overlay="$work/root/usr/share/parkguard/parkguard-bells-overlay.dts"
if dtc_out=$(dtc -@ -I dts -O dtb -o "$work/bells.dtbo" "$overlay" 2>&1) && [[ -z $dtc_out ]]; then
  pass "overlay compiles with dtc -@ without warnings"
else
  fail "overlay compiles with dtc -@" "$dtc_out"
fi
# The Raspberry Pi 4 tree from Debian's kernel sources: the HIL rig's unpacked tree, or a subset
# unpacked once from /usr/src/linux-source-6.1.tar.xz into the cache.
src=""
for candidate in "${PARKGUARD_HIL_CACHE:-$HOME/.cache/parkguard-hil}/linux-source-6.1" "$cache/linux-dts/linux-source-6.1"; do
  [[ -f $candidate/arch/arm/boot/dts/bcm2711-rpi-4-b.dts ]] && { src=$candidate; break; }
done
if [[ -z $src && -f /usr/src/linux-source-6.1.tar.xz ]]; then
  mkdir -p "$cache/linux-dts"
  tar -C "$cache/linux-dts" -xJf /usr/src/linux-source-6.1.tar.xz --wildcards \
    'linux-source-6.1/arch/arm/boot/dts/bcm*' 'linux-source-6.1/include/dt-bindings/*'
  src="$cache/linux-dts/linux-source-6.1"
fi
if [[ -n $src && -f $work/bells.dtbo ]]; then
  cpp -nostdinc -undef -x assembler-with-cpp -D__DTS__ -I "$src/include" -I "$src/arch/arm/boot/dts" \
    "$src/arch/arm/boot/dts/bcm2711-rpi-4-b.dts" -o "$work/rpi4.dts"
  dtc -@ -q -I dts -O dtb -o "$work/rpi4.dtb" "$work/rpi4.dts"
  if fdtoverlay -i "$work/rpi4.dtb" -o "$work/rpi4-bells.dtb" "$work/bells.dtbo" 2>"$work/fdtoverlay.log"; then
    pins=$(fdtget "$work/rpi4-bells.dtb" /soc/gpio@7e200000/parkguard_bell_pins brcm,pins 2>/dev/null || true)
    pull=$(fdtget "$work/rpi4-bells.dtb" /soc/gpio@7e200000/parkguard_bell_pins brcm,pull 2>/dev/null || true)
    phandle=$(fdtget -tx "$work/rpi4-bells.dtb" /soc/gpio@7e200000/parkguard_bell_pins phandle 2>/dev/null || echo none)
    ref=$(fdtget -tx "$work/rpi4-bells.dtb" /parkguard-bells pinctrl-0 2>/dev/null || echo missing)
    expect "overlay applied to bcm2711-rpi-4-b.dtb: pins under the GPIO controller" "$pins/$pull" "17 27 22/2"
    expect "overlay applied: /parkguard-bells pinctrl-0 points at them" "$ref" "$phandle"
  else
    fail "overlay applies to bcm2711-rpi-4-b.dtb (fdtoverlay)" "$(cat "$work/fdtoverlay.log")"
  fi
else
  skip "overlay applies to the Raspberry Pi 4 device tree" "linux-source-6.1 is not installed"
fi

summary check-files
