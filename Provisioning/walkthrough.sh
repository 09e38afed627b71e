#!/usr/bin/env bash
# The README's "Provision a district", run end to end on one machine: district CA, broker
# configuration, a unit bundle, mosquitto on the rendered configuration, and parkguardd connected
# over mutual TLS — watched by a hub identity. Usage: Provisioning/walkthrough.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export PATH="/opt/swift/usr/bin:$PATH"
cd "$root"
swift build --product parkguard-provision 2>&1 | tail -1
swift build --product parkguardd 2>&1 | tail -1
bin="$root/.build/debug"
work=$(mktemp -d /tmp/parkguard-district-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
step() { printf '\n$ %s\n' "$*"; "$@"; }

# 1. The district CA (keep district/ offline: ca.key signs everything).
step "$bin/parkguard-provision" ca init --district district --name "North District"
# 2. A hub identity for the control room, and the broker's configuration.
step "$bin/parkguard-provision" hub create --district district --name control --out hub
# 3. A unit: on the unit, make the key and a request; at the district, sign it and bundle.
step "$bin/parkguardd" csr --site north-park --unit gate-1 --out unit/tls
step "$bin/parkguard-provision" unit sign --district district --site north-park --unit gate-1 --csr unit/tls/unit.csr --out gate-1.crt
step "$bin/parkguard-provision" unit bundle --district district --site north-park --unit gate-1 --cert gate-1.crt \
  --broker "localhost:$port" --out bundle --etc "$work/unit"
step "$bin/parkguard-provision" broker config --district district --host localhost --port "$port" --bind 127.0.0.1 --out broker
# On a real unit: cp -r bundle/* /etc/parkguard/ (the key is already in /etc/parkguard/tls).
cp bundle/tls/ca.crt bundle/tls/unit.crt unit/tls/
# This machine has no GPIO chip: the unit reports a line fault but connects and publishes.
sed -e "s|^stateDirectory:.*||" bundle/agent.yaml > unit/agent.yaml
printf 'stateDirectory: %s/unit/state\n' "$work" >> unit/agent.yaml

# 4. The broker on the rendered configuration (user root: this demo runs as root with 0600 keys).
if [[ $(id -u) -eq 0 ]]; then (echo "user root"; cat broker/parkguard.conf) > broker/run.conf; else cp broker/parkguard.conf broker/run.conf; fi
mosquitto -c broker/run.conf > broker/mosquitto.log 2>&1 & pids+=($!)
sleep 0.5
# 5. The hub watches; the unit connects over mutual TLS.
mosquitto_sub -h localhost -p "$port" --cafile hub/ca.crt --cert hub/hub.crt --key hub/hub.key -t 'parkguard/#' -v -V mqttv5 > hub.log & pids+=($!)
sleep 0.5
"$bin/parkguardd" --config unit/agent.yaml 2> unit.log & pids+=($!)
for _ in $(seq 50); do grep -q '"state":"online"' hub.log 2>/dev/null && break; sleep 0.2; done
printf '\nthe hub sees:\n'; grep -E '/status|/state' hub.log | cut -c1-160
if ! grep -q '"state":"online"' hub.log; then echo "FAILED: the unit did not connect; its log:" >&2; cat unit.log >&2; exit 1; fi
# 6. Revoke it: after re-rendering and a broker restart, its handshake is refused.
step "$bin/parkguard-provision" unit revoke --district district --site north-park --unit gate-1
step "$bin/parkguard-provision" broker config --district district --host localhost --port "$port" --bind 127.0.0.1 --out broker
if mosquitto_pub -h localhost -p "$port" --cafile unit/tls/ca.crt --cert unit/tls/unit.crt --key unit/tls/unit.key -t x -m y 2>/dev/null; then
  echo "note: the running broker still has the old CRL (restart it to apply the revocation)"
fi
echo "walkthrough: ok (unit connected over mutual TLS; revoked)"
