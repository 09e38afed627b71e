#!/usr/bin/env bash
# The package's install test, on a fresh Debian 12 root (or, with --suite trixie, Debian 13):
#   1. static checks of the package (check-files.sh: lintian, systemd-analyze verify/security,
#      binary, man page, udev rule, device-tree overlay);
#   2. a minimal bookworm (trixie) root (debootstrap --variant=minbase, cached as a tarball in
#      ~/.cache/parkguard-deb, rebuilt weekly), where `apt-get install ./parkguard.deb` pulls the
#      dependencies from the Debian mirror; checks the version, --check-config, the user and
#      groups, file modes, the enabled unit;
#   3. the installer's edit of /etc/parkguard/agent.yaml, then an upgrade to a higher version whose
#      packaged agent.yaml changed too: the edit survives (the new file lands as .dpkg-dist), a
#      careless secret file gets fixed to parkguard 0600;
#   4. boot: systemd and the unit for real, in the same root under systemd-nspawn, against a
#      mosquitto on this machine's loopback: Type=notify readiness, the retained online status,
#      the sandbox (user, no capabilities, seccomp), journald priorities, camera probing,
#      Restart=always after a SIGKILL, the watchdog, no system call refused by the filter, a clean
#      stop that publishes offline.
#
#   Firmware/package/install-test.sh [--deb PACKAGE.deb | --binary PATH] [--suite bookworm|trixie]
#                                    [--no-boot] [--keep]
#
# The trixie root boots under this machine's systemd-nspawn with its own systemd (257).
#
# Without --deb it builds the package with build-deb.sh (passing --binary on). Needs root,
# debootstrap, systemd-container, mosquitto, mosquitto-clients (ci.sh installs them). Prints one
# PASS/FAIL line per check and exits non-zero when any check fails. Nothing it starts talks to
# anything but the Debian mirror (apt) and 127.0.0.1.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=checks.sh
source "$here/checks.sh"

deb1="" binary="" boot=1 keep="" suite=bookworm
while (($#)); do
  case $1 in
    --deb) deb1=${2:?}; shift 2 ;;
    --binary) binary=${2:?}; shift 2 ;;
    --no-boot) boot=""; shift ;;
    --suite) suite=${2:?}; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-test: unknown argument '$1'" >&2; exit 64 ;;
  esac
done
[[ $(id -u) -eq 0 ]] || { echo "install-test: needs root (debootstrap, chroot, systemd-nspawn)" >&2; exit 1; }
for tool in debootstrap chroot python3 ${boot:+systemd-nspawn nsenter mosquitto mosquitto_sub}; do
  command -v "$tool" >/dev/null || { echo "install-test: $tool is missing (Firmware/package/ci.sh installs what is needed)" >&2; exit 1; }
done
started=$(date +%s)
elapsed() { echo "$(( $(date +%s) - started )) s"; }
cache=${PARKGUARD_DEB_CACHE:-$HOME/.cache/parkguard-deb}
mirror=${PARKGUARD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
case $suite in
  bookworm) release="Debian 12"; libgpiod=libgpiod2; libdir=/lib ;;
  trixie) release="Debian 13"; libgpiod=libgpiod3; libdir=/usr/lib ;;  # merged /usr
  *) echo "install-test: --suite must be bookworm or trixie" >&2; exit 64 ;;
esac

work=$(mktemp -d /tmp/parkguard-install-XXXXXX)
rootfs="$work/root"
pids=() nspawn_pid="" leader=""
cleanup() {
  set +e
  if [[ -n $nspawn_pid ]] && kill -0 "$nspawn_pid" 2>/dev/null; then
    [[ -n $leader ]] && nsenter -t "$leader" -m -u -i -n -p -- systemctl poweroff >/dev/null 2>&1
    for _ in $(seq 40); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
    kill "$nspawn_pid" 2>/dev/null; wait "$nspawn_pid" 2>/dev/null
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  mountpoint -q "$rootfs/proc" && umount "$rootfs/proc"
  if [[ -n $keep ]]; then echo "install-test: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- packages
if [[ -z $deb1 ]]; then
  echo "== build-deb.sh"
  deb1=$("$here/build-deb.sh" ${binary:+--binary "$binary"} | tail -1)
fi
deb1=$(cd "$(dirname "$deb1")" && pwd)/$(basename "$deb1")
arch=$(dpkg-deb -f "$deb1" Architecture)
[[ $arch == "$(dpkg --print-architecture)" ]] || { echo "install-test: $deb1 is for $arch; this machine runs $(dpkg --print-architecture)" >&2; exit 1; }
v1=$(dpkg-deb -f "$deb1" Version)
upstream=${v1%-*}
# The upgrade: the same package repacked with a higher version and a changed agent.yaml, as a
# release that also edits the example configuration would be.
v2="$v1+upgrade1"
dpkg-deb -R "$deb1" "$work/v2"
sed -i "s/^Version: .*/Version: $v2/" "$work/v2/DEBIAN/control"
echo "# $v2: the packaged example changed in this release" >> "$work/v2/etc/parkguard/agent.yaml"
(cd "$work/v2" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$work/v2/DEBIAN/md5sums"
deb2="$work/parkguard_${v2}_$arch.deb"
dpkg-deb --root-owner-group -Zgzip -z1 --build "$work/v2" "$deb2" >/dev/null
rm -rf "$work/v2"
echo "packages: $(basename "$deb1") ($(( $(stat -c %s "$deb1") / 1024 )) KiB) and the upgrade $(basename "$deb2")"

echo "== static checks (check-files.sh)"
if "$here/check-files.sh" "$deb1"; then pass "static checks of the package (check-files.sh)"; else fail "static checks of the package (check-files.sh)"; fi

# ---------------------------------------------------------------- a fresh Debian root
echo "== $release root ($(elapsed) so far)"
mkdir -p "$cache"
key=$(printf '%s\n' "$suite" minbase "$mirror" | sha256sum | cut -c1-12)
tarball="$cache/$suite-minbase-$key.tar.gz"
mkdir -p "$rootfs"
if [[ -f $tarball ]] && [[ -n $(find "$tarball" -mtime -7) ]]; then
  tar -C "$rootfs" -xzf "$tarball"
  echo "root: unpacked from $tarball ($(elapsed) so far)"
else
  echo "root: debootstrap --variant=minbase $suite (the cached root is missing or older than a week)"
  debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" > "$work/debootstrap.log" 2>&1 \
    || { tail -20 "$work/debootstrap.log"; echo "install-test: debootstrap failed" >&2; exit 1; }
  rm -f "$cache/$suite-minbase-"*.tar.gz
  tar -C "$rootfs" -czf "$tarball.partial" . && mv "$tarball.partial" "$tarball"
  echo "root: built and cached as $tarball ($(elapsed) so far)"
fi
cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
# debootstrap writes no /etc/hosts; every installed system has one.
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$rootfs/etc/hosts"
# Nothing starts services inside the chroot.
printf '#!/bin/sh\nexit 101\n' > "$rootfs/usr/sbin/policy-rc.d"; chmod 0755 "$rootfs/usr/sbin/policy-rc.d"
mount -t proc proc "$rootfs/proc"
in_root() { chroot "$rootfs" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
  DEBIAN_FRONTEND=noninteractive "$@"; }
apt_in_root() { in_root apt-get -y -q -o Dpkg::Use-Pty=0 "$@" < /dev/null; }
apt_in_root update > "$work/apt-update.log" 2>&1 || { cat "$work/apt-update.log"; exit 1; }

# ---------------------------------------------------------------- install
echo "== install $v1 ($(elapsed) so far)"
cp "$deb1" "$rootfs/tmp/parkguard-1.deb"
if apt_in_root install /tmp/parkguard-1.deb > "$work/install.log" 2>&1; then
  pass "apt-get install ./$(basename "$deb1") in a minimal $suite root (dependencies from the mirror)"
else
  tail -20 "$work/install.log"; fail "apt-get install of the package"
fi
sed -n 's/^parkguard: /  postinst: /p' "$work/install.log"
expect "dpkg status" "$(in_root dpkg-query -W -f='${Status} ${Version}' parkguard 2>&1)" "install ok installed $v1"
for dep in libmosquitto1 "$libgpiod" libturbojpeg0; do
  expect "dependency $dep installed" "$(in_root dpkg-query -W -f='${Status}' "$dep" 2>&1)" "install ok installed"
done
expect "parkguardd --version" "$(in_root parkguardd --version 2>&1)" "$upstream"
check "parkguardd --check-config --config /etc/parkguard/agent.yaml (the packaged example)" \
  in_root parkguardd --check-config --config /etc/parkguard/agent.yaml
printf 'site: north-park\nunit: B\n' > "$rootfs/tmp/bad.yaml"
rc=0; in_root parkguardd --check-config --config /tmp/bad.yaml > "$work/bad.log" 2>&1 || rc=$?
expect "--check-config on a bad file exits 78" "$rc" 78
check "parkguardd csr on the unit (key 0600, request written, a second run keeps the key: exit 73)" \
  in_root sh -c 'parkguardd csr --site test-park --unit unit-1 --out /tmp/csr && test "$(stat -c %a /tmp/csr/unit.key)" = 600 && grep -q "BEGIN CERTIFICATE REQUEST" /tmp/csr/unit.csr && { parkguardd csr --site test-park --unit unit-1 --out /tmp/csr; test $? = 73; }'
expect "parkguard user: home and shell" "$(in_root getent passwd parkguard | cut -d: -f6,7)" "/var/lib/parkguard:/usr/sbin/nologin"
check "parkguard is a system user (uid < 1000)" test "$(in_root id -u parkguard)" -lt 1000
check "group gpio exists" in_root getent group gpio
expect "parkguard's groups" "$(in_root id -nG parkguard | tr ' ' '\n' | sort | tr '\n' ' ')" "gpio parkguard "
mode() { in_root stat -c '%a %U:%G' "$1" 2>&1; }
expect "mode of /usr/sbin/parkguardd" "$(mode /usr/sbin/parkguardd)" "755 root:root"
expect "mode of /etc/parkguard (dpkg-statoverride)" "$(mode /etc/parkguard)" "750 root:parkguard"
expect "dpkg-statoverride entry" "$(in_root dpkg-statoverride --list /etc/parkguard)" "root parkguard 750 /etc/parkguard"
expect "mode of /etc/parkguard/agent.yaml" "$(mode /etc/parkguard/agent.yaml)" "644 root:root"
expect "mode of /etc/parkguard/tls" "$(mode /etc/parkguard/tls)" "750 root:parkguard"
expect "mode of /etc/parkguard/cameras" "$(mode /etc/parkguard/cameras)" "750 root:parkguard"
expect "mode of /var/lib/parkguard" "$(mode /var/lib/parkguard)" "750 parkguard:parkguard"
expect "mode of the unit file" "$(mode $libdir/systemd/system/parkguardd.service)" "644 root:root"
expect "mode of the udev rule" "$(mode $libdir/udev/rules.d/60-parkguard-gpio.rules)" "644 root:root"
expect "conffile registered" "$(in_root dpkg-query -W -f='${Conffiles}' parkguard | awk 'NF {print $1}')" "/etc/parkguard/agent.yaml"
expect "unit enabled for multi-user.target (deb-systemd-helper)" \
  "$(readlink "$rootfs/etc/systemd/system/multi-user.target.wants/parkguardd.service" || echo missing)" "/lib/systemd/system/parkguardd.service"
for f in /usr/share/man/man8/parkguardd.8.gz /usr/share/doc/parkguard/copyright /usr/share/doc/parkguard/changelog.Debian.gz \
         /usr/share/doc/parkguard/install.md.gz /usr/share/parkguard/parkguard-bells-overlay.dts; do
  check "installed $f" test -s "$rootfs$f"
done

# ---------------------------------------------------------------- the installer edits, then an upgrade
echo "== edit agent.yaml, upgrade to $v2 ($(elapsed) so far)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
marker="# edited on the unit by install-test $(date -u +%FT%TZ)"
# Loopback only: a broker on this machine, and a camera on a closed local port (probes are
# refused). The packaged example names a hub and cameras that must never be contacted from here.
cat > "$rootfs/etc/parkguard/agent.yaml" <<EOF
$marker
site: install-test
unit: nspawn-1
broker:
  host: localhost
  port: $port
  keepalive: 5s
gpio:
  backend: gpiod
  chip: parkguard-absent     # no GPIO chip here: the bell reports a line fault, the agent runs on
cameras:
  - id: cam-loop
    host: 127.0.0.1
    rtsp: {port: $closed, path: /}
    username: parkguard
    passwordFile: /etc/parkguard/cameras/cam-loop.pass
    interval: 2s
cameraHealth:
  failuresToDown: 1
bells:
  - id: gate
    line: 17
    cameras:
      - id: cam-loop
heartbeatInterval: 5s
EOF
# A secret copied in carelessly (root, 0644): the upgrade's postinst gives it to parkguard, 0600.
echo "camera-password" > "$rootfs/etc/parkguard/cameras/cam-loop.pass"
chmod 0644 "$rootfs/etc/parkguard/cameras/cam-loop.pass"
check "the edited agent.yaml is valid" in_root parkguardd --check-config --config /etc/parkguard/agent.yaml
cp "$deb2" "$rootfs/tmp/parkguard-2.deb"
if apt_in_root -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install /tmp/parkguard-2.deb > "$work/upgrade.log" 2>&1; then
  pass "upgrade with apt-get install ./parkguard_$v2 (noninteractive, --force-confold)"
else
  tail -20 "$work/upgrade.log"; fail "upgrade to $v2"
fi
sed -n 's/^parkguard: /  postinst: /p' "$work/upgrade.log"
expect "dpkg status after the upgrade" "$(in_root dpkg-query -W -f='${Status} ${Version}' parkguard 2>&1)" "install ok installed $v2"
check "the installer's edit of agent.yaml survived the upgrade" grep -qxF "$marker" "$rootfs/etc/parkguard/agent.yaml"
check "the new packaged agent.yaml is beside it as agent.yaml.dpkg-dist" grep -q "$v2" "$rootfs/etc/parkguard/agent.yaml.dpkg-dist"
expect "dpkg --verify: only the conffile differs" "$(in_root dpkg --verify parkguard | awk '{print $NF}' | tr '\n' ' ')" "/etc/parkguard/agent.yaml "
expect "careless secret fixed by postinst" "$(mode /etc/parkguard/cameras/cam-loop.pass)" "600 parkguard:parkguard"
expect "the upgraded parkguardd runs" "$(in_root parkguardd --version 2>&1)" "$upstream"
check "the upgraded parkguardd accepts the kept agent.yaml" in_root parkguardd --check-config --config /etc/parkguard/agent.yaml
expect "unit still enabled after the upgrade" \
  "$(readlink "$rootfs/etc/systemd/system/multi-user.target.wants/parkguardd.service" || echo missing)" "/lib/systemd/system/parkguardd.service"

if [[ -z $boot ]]; then
  skip "boot under systemd-nspawn" "--no-boot"
  summary install-test
  echo "install-test: $(elapsed)"
  exit $((failed > 0))
fi

# ---------------------------------------------------------------- boot: the unit under systemd
echo "== boot the root with systemd (systemd-nspawn) ($(elapsed) so far)"
if apt_in_root install --no-install-recommends systemd systemd-sysv dbus > "$work/systemd.log" 2>&1; then
  pass "systemd installed in the root"
else
  tail -20 "$work/systemd.log"; fail "install systemd in the root"
fi
rm -f "$rootfs/usr/sbin/policy-rc.d"
# Keep the booted container quiet: no apt timers.
for timer in apt-daily.timer apt-daily-upgrade.timer; do ln -sf /dev/null "$rootfs/etc/systemd/system/$timer"; done
# The root's own systemd-analyze: that release's systemd reads the unit (Debian 13's knows keys
# that Debian 12's does not, in the root's other units too).
if out=$(in_root systemd-analyze --man=no verify parkguardd.service 2>&1) && [[ -z $out ]]; then
  pass "systemd-analyze --root verify parkguardd.service (installed unit): clean"
else
  fail "systemd-analyze --root verify parkguardd.service" "$out"
fi
umount "$rootfs/proc"
exposure=$(systemd-analyze security --offline=true --root="$rootfs" --no-pager parkguardd.service 2>&1 | sed -n 's/.*Overall exposure level for parkguardd.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security --offline --root (installed unit): exposure $exposure <= 2.0" \
  systemd-analyze security --offline=true --root="$rootfs" --threshold=20 --no-pager parkguardd.service

printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n' "$port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 & pids+=($!)
sleep 0.5
mosquitto_sub -h 127.0.0.1 -p "$port" -V mqttv5 -q 1 -v -t 'parkguard/#' > "$work/messages.log" 2>&1 & pids+=($!)
# The booted container shares this machine's network (no --private-network): it reaches the
# broker on 127.0.0.1 and nothing else is configured. nspawn's own filter refuses adjtimex()
# (the container has no CAP_SYS_TIME); let it through so that the agent's read-only clock check
# meets only the unit's sandbox. Setting the clock still needs CAP_SYS_TIME.
systemd-nspawn -q -D "$rootfs" -b --register=no --keep-unit --machine=parkguard-install-test \
  --system-call-filter='adjtimex clock_adjtime' --console=read-only < /dev/null > "$work/console.log" 2>&1 &
nspawn_pid=$!
# The container's init is the nspawn child running systemd (an earlier child only sets up).
for _ in $(seq 300); do
  leader=$(ps --ppid "$nspawn_pid" -o pid=,comm= 2>/dev/null | awk '$2 == "systemd" {print $1; exit}' || true)
  [[ -n $leader ]] && break
  kill -0 "$nspawn_pid" 2>/dev/null || break
  sleep 0.1
done
if [[ -z $leader ]]; then
  tail -30 "$work/console.log"; fail "the container booted"
  summary install-test; exit 1
fi
ns() { nsenter -t "$leader" -m -u -i -n -p -- "$@"; }
prop() { ns systemctl show parkguardd -p "$1" --value 2>/dev/null || true; }
# wait_until SECONDS COMMAND...: polls every 0.25 s.
wait_until() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do (( $(date +%s) < deadline )) || return 1; sleep 0.25; done
}
# last_payload TOPIC-SUFFIX [FIELD]: the newest message on that topic (or one field of it).
last_payload() {
  python3 - "$work/messages.log" "$1" "${2:-}" <<'PY'
import json, sys
path, suffix, field = sys.argv[1:4]
last = None
for line in open(path, errors="replace"):
    topic, _, payload = line.rstrip("\n").partition(" ")
    if topic.endswith(suffix):
        last = payload
if last is None:
    sys.exit(1)
if field:
    value = json.loads(last)
    for part in field.split("."):
        value = value[part] if not isinstance(value, list) else value[int(part)]
    print(value if not isinstance(value, (dict, list)) else json.dumps(value))
else:
    print(last)
PY
}
has_status() { [[ $(last_payload /status state) == "$1" ]]; }

if wait_until 90 ns systemctl is-active --quiet parkguardd; then
  pass "booted: parkguardd.service started by multi-user.target and active (Type=notify, READY=1)"
else
  fail "parkguardd.service active after boot" "$(ns systemctl status parkguardd --no-pager 2>&1 | tail -5 | tr '\n' ' ')"
fi
echo "  boot to active: $(elapsed) so far"
expect "status text sent with READY=1" "$(prop StatusText)" "watching bells"
expect "watchdog configured" "$(prop WatchdogUSec)" "30s"
main=$(prop MainPID)
status_of() { ns cat "/proc/$main/status" 2>/dev/null | awk -v k="$1:" '$1 == k {$1 = ""; print substr($0, 2)}'; }
uid=$(in_root id -u parkguard)
expect "runs as parkguard (real, effective, saved, fs uid)" "$(status_of Uid)" "$uid $uid $uid $uid"
expect "no capabilities (CapEff)" "$(status_of CapEff)" "0000000000000000"
expect "no new privileges" "$(status_of NoNewPrivs)" "1"
expect "seccomp filter on" "$(status_of Seccomp)" "2"
# The installed binary's footprint on this release, as the unit runs it (issue 21; the benchmark
# measures it idle with 4 bells and 16 cameras on Debian 12: docs/performance.md).
echo "  resident memory of the booted parkguardd ($suite): $(status_of VmRSS), of which own $(status_of RssAnon), mapped files $(status_of RssFile); threads $(status_of Threads)"
expect "supplementary group gpio (by gid)" "$(status_of Groups | tr ' \t' '\n\n' | grep -cx "$(in_root getent group gpio | cut -d: -f3)")" "1"
expect "state directory" "$(ns stat -c '%a %U:%G' /var/lib/parkguard 2>&1)" "750 parkguard:parkguard"
if wait_until 20 has_status online; then pass "retained status online on the broker"; else
  fail "retained status online on the broker"
  echo "  the agent's journal so far:"
  ns journalctl -u parkguardd -o cat --no-pager 2>&1 | tail -25 | sed 's/^/    /'
fi
boot_id=$(last_payload /status bootId || true)
# nspawn gives the container a boot id of its own; the service's sandbox reads the kernel's under
# systemd 252 (Debian 12) and the container's under 257 (Debian 13): either is right.
kernel_boot=$(cat /proc/sys/kernel/random/boot_id) container_boot=$(ns cat /proc/sys/kernel/random/boot_id)
if [[ -n $boot_id && ( $boot_id == "$kernel_boot" || $boot_id == "$container_boot" ) ]]; then
  pass "status carries the boot id, readable in the sandbox ($boot_id)"
else
  fail "status carries the boot id" "got '$boot_id', want the kernel's ($kernel_boot) or the container's ($container_boot)"
fi
check "outbox in the state directory" ns test -e /var/lib/parkguard/outbox
expect "bell without a GPIO chip reports fault" "$(last_payload /bell/gate/state state || echo none)" "fault"
check "journald priorities: the GPIO problem is logged at priority crit" \
  sh -c "nsenter -t $leader -m -u -i -n -p -- journalctl -u parkguardd -p crit -o cat --no-pager | grep -q 'GPIO unavailable'"
if wait_until 20 last_payload /camera/cam-loop/health; then
  reasons=$(last_payload /camera/cam-loop/health reasons || true)
  if [[ $reasons == *refused* ]]; then
    pass "camera probe reached the network under the sandbox (closed port: refused)"
  else
    fail "camera probe reached the network under the sandbox" "health reasons $reasons (expected 'refused' from the closed port $closed)"
  fi
else
  fail "camera health published" "no camera/cam-loop/health message"
fi
expect "control socket for root and the service group only" "$(ns stat -c '%a %U:%G' /run/parkguard/control.sock 2>&1)" "660 parkguard:parkguard"
# The doctor asks the running daemon (it holds the lines): its broker session is up, and the
# missing GPIO chip is the failure it names (exit 1).
doctor=$(ns parkguardd doctor --json --config /etc/parkguard/agent.yaml 2>&1; echo "exit=$?")
check "parkguardd doctor through the control socket: daemon running, broker up, the missing chip named, exit 1" \
  python3 -c '
import json, sys
text = sys.argv[1]
body, _, code = text.rpartition("exit=")
report = json.loads(body)
checks = {c["area"]: c for c in report["checks"]}
assert report["daemonRunning"] and code.strip() == "1", (report["daemonRunning"], code)
assert checks["broker"]["verdict"] == "ok", checks["broker"]
assert checks["gpio"]["verdict"] == "failed" and "parkguard-absent" in checks["gpio"]["summary"], checks["gpio"]
' "$doctor"
[[ $doctor == *'"daemonRunning" : true'* ]] || echo "  doctor said: $(echo "$doctor" | head -c 1500)"
online=$(ns systemd-analyze security parkguardd.service --no-pager 2>/dev/null | sed -n 's/.*Overall exposure level for parkguardd.service: \([0-9.]*\).*/\1/p')
check "systemd-analyze security on the running unit: exposure $online <= 2.0" \
  ns systemd-analyze security parkguardd.service --threshold=20 --no-pager

echo "== Restart=always, watchdog, system call filter ($(elapsed) so far)"
ns sh -c "kill -KILL $main"   # dash's builtin: minbase has no /bin/kill
restarted() { local now; now=$(prop MainPID); [[ $(prop ActiveState) == active && $now != 0 && $now != "$main" ]]; }
if wait_until 20 restarted; then pass "SIGKILL: restarted by Restart=always (RestartSec=2s)"; else fail "restart after SIGKILL" "$(prop ActiveState) $(prop MainPID)"; fi
expect "NRestarts after the kill" "$(prop NRestarts)" "1"
# Test-only drop-in: a 3 s watchdog (the agent pings every 1.5 s) and a filter that kills on any
# refused system call instead of returning EPERM, so that one the agent needs cannot hide. The one
# exception is setpriority: Dispatch tries it once per start, and the shipped unit refuses it
# harmlessly (an unprivileged process could not raise a priority anyway).
# ExecStartPre runs with the agent's credentials and sandbox: it opens a character device that is
# root:gpio 0660, as /dev/gpiochip* are, and one that is root:root 0660 (the negative control).
ns sh -c 'mknod -m 0660 /dev/pg-gpio-probe c 1 3 && chgrp gpio /dev/pg-gpio-probe &&
          mknod -m 0660 /dev/pg-root-probe c 1 3'
mkdir -p "$rootfs/etc/systemd/system/parkguardd.service.d"
cat > "$rootfs/etc/systemd/system/parkguardd.service.d/install-test.conf" <<'EOF'
[Service]
WatchdogSec=3s
SystemCallErrorNumber=kill
SystemCallFilter=setpriority
ExecStartPre=/bin/sh -c 'if true <>/dev/pg-gpio-probe; then echo "probe: gpio-group device opened"; fi; if ! true <>/dev/pg-root-probe; then echo "probe: root-only device refused"; fi; exit 0'
EOF
ns systemctl daemon-reload
since=$(ns date '+%F %T')
ns systemctl restart parkguardd || true
wait_until 20 ns systemctl is-active --quiet parkguardd || true
main=$(prop MainPID); restarts=$(prop NRestarts)
sleep 12
expect "watchdog 3 s: still the same process after 12 s (WATCHDOG=1 arrives)" "$(prop ActiveState) $(prop MainPID) $(prop NRestarts)" "active $main $restarts"
journal=$(ns journalctl -u parkguardd --since "$since" -o cat --no-pager 2>&1)
expect "no watchdog timeout, no SIGSYS in the journal" "$(grep -ciE 'watchdog timeout|status=31|SIGSYS' <<< "$journal")" "0"
expect "PrivateUsers=yes: a root:gpio 0660 device opens by the supplementary group, root:root does not" \
  "$(grep -c -e 'probe: gpio-group device opened' -e 'probe: root-only device refused' <<< "$journal")" "2"
# A hung agent: SIGSTOP stops its pings; the watchdog must get it restarted.
ns sh -c "kill -STOP $main"
if wait_until 30 restarted; then pass "hung agent (SIGSTOP): watchdog timeout, killed, restarted"; else fail "watchdog restarts a hung agent" "$(prop ActiveState) $(prop MainPID)"; fi
check "journal names the watchdog timeout" \
  sh -c "nsenter -t $leader -m -u -i -n -p -- journalctl -u parkguardd --since '$since' -o cat --no-pager | grep -q 'Watchdog timeout'"
rm -rf "$rootfs/etc/systemd/system/parkguardd.service.d"
ns rm -f /dev/pg-gpio-probe /dev/pg-root-probe
ns systemctl daemon-reload

echo "== stop ($(elapsed) so far)"
ns systemctl stop parkguardd
expect "clean stop on SIGTERM (Result, exit status)" "$(prop Result) $(prop ExecMainStatus)" "success 0"
if wait_until 10 has_status offline; then pass "retained status offline published on stop"; else fail "retained status offline on stop" "$(last_payload /status state || true)"; fi
echo "== maintainer scripts with systemd running ($(elapsed) so far)"
# The container's /tmp is its own tmpfs: the packages go to /root.
cp "$deb1" "$rootfs/root/parkguard-1.deb"; cp "$deb2" "$rootfs/root/parkguard-2.deb"
ns systemctl start parkguardd
wait_until 20 ns systemctl is-active --quiet parkguardd || true
main=$(prop MainPID)
ns env DEBIAN_FRONTEND=noninteractive dpkg -i /root/parkguard-2.deb > "$work/reinstall.log" 2>&1 < /dev/null \
  || { tail -5 "$work/reinstall.log"; fail "dpkg -i over the running agent"; }
if wait_until 20 restarted; then pass "upgrade over a running agent: postinst restarts it (try-restart)"; else fail "upgrade restarts the running agent" "$(prop ActiveState) $(prop MainPID)"; fi
ns systemctl stop parkguardd
ns systemctl disable --quiet parkguardd
ns env DEBIAN_FRONTEND=noninteractive dpkg -i /root/parkguard-2.deb > "$work/reinstall2.log" 2>&1 < /dev/null || true
expect "upgrade keeps a unit the administrator disabled disabled, and stopped" \
  "$(ns systemctl is-enabled parkguardd 2>&1) $(prop ActiveState)" "disabled inactive"
ns systemctl enable --quiet parkguardd
ns systemctl start parkguardd
ns env DEBIAN_FRONTEND=noninteractive apt-get -y -q remove parkguard > "$work/remove.log" 2>&1 < /dev/null || { tail -5 "$work/remove.log"; fail "apt-get remove"; }
expect "remove: agent stopped, binary gone, configuration kept" \
  "$(ns sh -c 'grep -qx parkguardd /proc/[0-9]*/comm 2>/dev/null && echo running || echo stopped; test -e /usr/sbin/parkguardd && echo binary || echo no-binary; test -e /etc/parkguard/agent.yaml && echo config || echo no-config' | tr '\n' ' ')" \
  "stopped no-binary config "
ns env DEBIAN_FRONTEND=noninteractive apt-get -y -q purge parkguard > "$work/purge.log" 2>&1 < /dev/null || { tail -5 "$work/purge.log"; fail "apt-get purge"; }
sed -n 's/^parkguard: /  postrm: /p' "$work/purge.log"
expect "purge: packaged config and statoverride gone; state, secrets and user kept" \
  "$(ns sh -c 'test -e /etc/parkguard/agent.yaml && echo config || echo no-config; dpkg-statoverride --list /etc/parkguard >/dev/null && echo override || echo no-override; test -d /var/lib/parkguard && echo state || echo no-state; test -e /etc/parkguard/cameras/cam-loop.pass && echo secret || echo no-secret; getent passwd parkguard >/dev/null && echo user || echo no-user' | tr '\n' ' ')" \
  "no-config no-override state secret user "
ns env DEBIAN_FRONTEND=noninteractive apt-get -y -q install /root/parkguard-1.deb > "$work/reinstall3.log" 2>&1 < /dev/null || { tail -5 "$work/reinstall3.log"; fail "install after purge"; }
expect "install after purge: enabled again, not started (first install)" \
  "$(ns systemctl is-enabled parkguardd 2>&1) $(prop ActiveState)" "enabled inactive"

ns systemctl poweroff >/dev/null 2>&1 || true
for _ in $(seq 60); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$nspawn_pid" 2>/dev/null; then fail "container powered off"; else pass "container powered off"; nspawn_pid=""; fi
echo "messages seen on the broker: $(wc -l < "$work/messages.log")"

summary install-test
echo "install-test: $(elapsed)"
exit $((failed > 0))
