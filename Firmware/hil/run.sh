#!/usr/bin/env bash
# The real-kernel GPIO test: boots a small kernel with gpio-sim under QEMU (TCG), runs the
# production parkguardd with the gpiod backend against a real GPIO character device, drives
# presses through the simulated pulls, and checks on the host — against a mosquitto on the host's
# loopback, reached through QEMU's user networking — the alarms, states, outputs and the kernel's
# event timestamps. One command on a fresh Debian 12 machine: Firmware/hil/run.sh
#
#   Firmware/hil/run.sh [--binary PATH --libs DIR --api v2]
#
# By default it builds parkguardd here (Debian 12: libgpiod 1.6, the v1 API). --binary boots one
# built elsewhere, with the shared libraries collect-libs.sh gathered beside it (DIR), and --api
# names the libgpiod API it was built for, which decides what the overflow burst must show.
set -euo pipefail
binary="" libs="" api=v1
while (($#)); do
  case $1 in
    --binary) binary=${2:?}; shift 2 ;;
    --libs) libs=${2:?}; shift 2 ;;
    --api) api=${2:?}; shift 2 ;;
    *) echo "hil: unknown argument '$1'" >&2; exit 64 ;;
  esac
done
[[ $api == v1 || $api == v2 ]] || { echo "hil: --api must be v1 or v2" >&2; exit 64; }
[[ -z $binary || -n $libs ]] || { echo "hil: --binary needs --libs (collect-libs.sh)" >&2; exit 64; }
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export PATH="/opt/swift/usr/bin:$PATH"
PARKGUARD_EXTRA_PACKAGES="$("$root/.ci/install-deps" --list hil)" "$root/.ci/install-deps"
started=$(date +%s)

kernel=$("$here/build-kernel.sh")
echo "== kernel: $kernel ($(( $(date +%s) - started )) s so far)"

if [[ -z $binary ]]; then
  echo "== parkguardd with the static Swift stdlib"
  (cd "$root" && swift build -c release --static-swift-stdlib --product parkguardd --scratch-path .build-static 2>&1 | tail -1)
  binary="$root/.build-static/release/parkguardd"
fi
echo "== booting $binary (libgpiod $api API)"

work=$(mktemp -d /tmp/parkguard-hil-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; [[ -n ${KEEP:-} ]] || rm -rf "$work"; }
trap cleanup EXIT

echo "== initramfs"
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,sbin,proc,sys,dev,tmp,etc,lib64,usr/lib/x86_64-linux-gnu,lib/x86_64-linux-gnu}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $("$rootfs/bin/busybox" --list); do [[ $applet == busybox ]] || ln -sf busybox "$rootfs/bin/$applet"; done
cp "$binary" "$rootfs/bin/parkguardd"
if [[ -n $libs ]]; then
  cp -a "$libs/." "$rootfs/"
else
  for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
fi
cp "$here/init.sh" "$rootfs/init"
(cd "$rootfs" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.gz"
echo "initramfs: $(du -h "$work/initramfs.gz" | cut -f1)"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n' "$port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 & pids+=($!)
sleep 0.5
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'parkguard/#' -F '%j' -V mqttv5 -q 1 > "$work/messages.jsonl" & pids+=($!)
# The hub: acknowledges b1's first press.
(
  for _ in $(seq 600); do
    if grep -q '"kind\\":\\"press\\",' "$work/messages.jsonl" 2>/dev/null && grep -q 'bell/b1/alarm' "$work/messages.jsonl"; then
      mosquitto_pub -h 127.0.0.1 -p "$port" -t parkguard/v1/hil/qemu/cmd/ack -m '{"bell":"b1","by":"hil"}' -q 1
      break
    fi
    sleep 0.2
  done
) & pids+=($!)

echo "== booting (TCG)"
boot=$(date +%s.%N)
timeout 180 qemu-system-x86_64 -kernel "$kernel" -initrd "$work/initramfs.gz" -m 512M -smp 1 \
  -append "console=ttyS0 panic=-1 pgport=$port" -nographic -no-reboot \
  -netdev user,id=n0 -device e1000,netdev=n0 > "$work/console.log" 2>&1 || true
echo "guest ran $(python3 -c "import time; print(round(time.time() - $boot, 1))") s; total $(( $(date +%s) - started )) s"
sleep 1
grep -E '^(HIL|AGENT)' "$work/console.log" | tr -d '\r' | head -60
python3 "$here/check.py" "$work/console.log" "$work/messages.jsonl" "$api"
python3 "$root/Tests/contract/validate.py" "$root/docs/asyncapi.yaml" <(python3 -c "
import json,sys
for line in open('$work/messages.jsonl'):
    o=json.loads(line)
    if '/cmd/' in o['topic'] and not o['topic'].endswith('/result'): continue
    print(json.dumps({'topic': o['topic'], 'payload': o['payload'] or ''}))")
