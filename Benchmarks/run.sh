#!/usr/bin/env bash
# Reproduces docs/performance.md: builds the daemon, the simulator and the harness in release
# mode, sets up the mqtt-io peer (a venv from PyPI, cached in ~/.cache/parkguard-bench), and
# runs parkguard-bench, which starts its own mosquitto on a free loopback port and writes
# docs/performance.md and docs/performance.json. Takes about 20 minutes on 2 cores, plus the first
# release build (several minutes).
#
#   Benchmarks/run.sh                     the full run (10,000 presses, 60 s idle, fleets up to 15,000)
#   Benchmarks/run.sh --smoke             every benchmark for seconds (CI); debug build, writes .build/bench-smoke.*
#   Benchmarks/run.sh --fleet-sizes 5000  any parkguard-bench option (see --help)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
config=release
for argument in "$@"; do [[ $argument == --smoke ]] && config=debug; done
for product in parkguardd parkguard-sim parkguard-hub parkguard-bench; do
  swift build -c "$config" --product "$product" 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\] ' || true; }
  [[ ${PIPESTATUS[0]} -eq 0 ]]
done
bin=$(swift build -c "$config" --show-bin-path)
peer=()
if ! Benchmarks/peers/setup_mqtt_io.sh >/dev/null; then
  echo "mqtt-io peer unavailable (see above); measuring without it" >&2
  peer=(--no-peer)
fi
if [[ $config == debug ]]; then
  out=(--json .build/bench-smoke.json --markdown .build/bench-smoke.md)
else
  # The daemon as the Debian package ships it: static Swift runtime (Firmware/package/build-deb.sh).
  swift build -c release --static-swift-stdlib --product parkguardd --scratch-path .build-static 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\] ' || true; }
  [[ ${PIPESTATUS[0]} -eq 0 ]]
  out=(--json docs/performance.json --markdown docs/performance.md --daemon .build-static/release/parkguardd)
fi
exec "$bin/parkguard-bench" --bin-dir "$bin" "${out[@]}" "${peer[@]}" "$@"
