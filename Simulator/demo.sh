#!/usr/bin/env bash
# ParkGuard demo: a local mosquitto on loopback, the simulator, and the real parkguardd with the
# sim GPIO backend, and parkguard-hub with its web console. It presses bells, acknowledges a call
# as the control room would, and prints every
# message the hub receives. Keeps running until Ctrl-C (or exits after the script with --once).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
once=false; [[ ${1:-} == --once ]] && once=true
"$root/.ci/install-deps"
export PATH="/opt/swift/usr/bin:$PATH"
cd "$root"
echo "== building (the first build takes a few minutes)"
swift build --product parkguardd 2>&1 | tail -1
swift build --product parkguard-sim 2>&1 | tail -1
swift build --product parkguard-hub 2>&1 | tail -1
bin="$root/.build/debug"

work=$(mktemp -d /tmp/parkguard-demo-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # The first half of the subscriber pipeline (mosquitto_sub) is not in pids, and with the broker
  # gone it would retry for ever without writing, so it never sees SIGPIPE: end every child.
  pkill -P $$ 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nset_tcp_nodelay true\n' "$port" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 & pids+=($!)

sed -e "s|host: hub.district.example|host: 127.0.0.1|" -e "s|port: 8883|port: $port|" \
    -e "s|^  backend: gpiod .*|  backend: sim|" -e "s|^  chip: .*|  socket: $work/gpio.sock|" \
    -e "s|/var/lib/parkguard|$work/state|g" -e "s|^heartbeatInterval: 30s|heartbeatInterval: 10s|" \
    -e "s|^logLevel: info .*|logLevel: notice|" -e "s|/run/parkguard/control.sock|$work/control.sock|" \
    Firmware/config/agent.example.yaml | python3 -c '
import re, socket, sys
work = sys.argv[1]
def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port
text = sys.stdin.read()
text = re.sub(r"  tls:\n(    .*\n)+", "", text)
# The park cameras become the simulator loopback cameras, probed every 2 s.
text = re.sub(r"host: 10\.20\.0\.\d+", "host: 127.0.0.1", text)
text = re.sub(r"      port: 554\n", lambda m: "      port: %d\n" % free_port(), text)
http = free_port()
text = text.replace("      port: 80\n", "      port: %d\n" % http)
text = text.replace("/etc/parkguard/cameras/cam-gate.pass", work + "/cam-gate.pass")
text = text.replace("    interval: 30s", "    interval: 2s").replace("  failuresToDown: 3 ", "  failuresToDown: 2 ")
print(text, end="")' "$work" > "$work/agent.yaml"
(umask 077; echo "demo-camera-password" > "$work/cam-gate.pass")

"$bin/parkguard-sim" serve --agent-config "$work/agent.yaml" --socket "$work/gpio.sock" --listen 127.0.0.1:0 \
  > "$work/sim.out" 2> "$work/sim.log" & pids+=($!)
for _ in $(seq 50); do grep -q '^control api:' "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
control=$(sed -n 's|^control api: http://||p' "$work/sim.out")
export PARKGUARD_SIM_CONTROL=$control
root_topic=parkguard/v1/north-park/gate-1

# What the hub sees, one line per message; the cameras' pictures (JPEG) by their size only.
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'parkguard/#' -T 'parkguard/v1/+/+/snapshot/#' -F '%t %p' -V mqttv5 \
  | python3 -u Simulator/demo_format.py & pids+=($!)
mosquitto_sub -h 127.0.0.1 -p "$port" -t 'parkguard/v1/+/+/snapshot/#' -F '%t %l' -V mqttv5 | python3 -u Simulator/demo_format.py & pids+=($!)
sleep 0.5

"$bin/parkguardd" --config "$work/agent.yaml" 2> "$work/agent.log" & pids+=($!)
# The control room: parkguard-hub with its alarm log and web console (8480 unless taken).
console_port=$(python3 -c 'import socket
s = socket.socket()
try: s.bind(("127.0.0.1", 8480)); print(8480)
except OSError: print(0)')
# One supervisor for the console, with a password made for this run (operators log in; the
# acting name in the alarm log and the audit trail comes from the session).
console_password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(12))')
echo "$console_password" | "$bin/parkguard-hub" operator add demo --role supervisor --db "$work/hub.sqlite" > /dev/null
"$bin/parkguard-hub" run --broker "127.0.0.1:$port" --db "$work/hub.sqlite" --console "127.0.0.1:$console_port" \
  > "$work/hub.out" 2> "$work/hub.log" & pids+=($!)
for _ in $(seq 50); do grep -q '^console:' "$work/hub.out" 2>/dev/null && break; sleep 0.1; done
printf '\n>>> control-room console: %s  (open it in a browser and log in as demo, password %s)\n' \
  "$(sed -n 's|^console: ||p' "$work/hub.out")" "$console_password"
sleep 2

say() { printf '\n>>> %s\n' "$*"; }
sim() { "$bin/parkguard-sim" "$@" > /dev/null; }
say "somebody presses the gate bell (with contact bounce)"; sim bounce gate --edges 7 --interval-us 800
sleep 1.5
say "they let go";                                          sim release gate
sleep 1
say "the control centre takes the call (cmd/ack)"
mosquitto_pub -h 127.0.0.1 -p "$port" -t "$root_topic/cmd/ack" -m '{"bell":"gate","by":"operator","correlationId":"demo-ack-1"}' -q 1
sleep 1
say "outputs at the bell now: $("$bin/parkguard-sim" outputs | python3 Simulator/demo_format.py --outputs)"
say "a malformed command is refused and changes nothing"
mosquitto_pub -h 127.0.0.1 -p "$port" -t "$root_topic/cmd/ack" -m '{"bell":"nope"}' -q 1
sleep 1
say "the playground bell is held down for 4 s (hold after 3 s)"; sim hold playground --seconds 4
sleep 1
say "someone opens the gate bell's housing (tamper)";  sim press gate-tamper; sleep 0.5; sim release gate-tamper
sleep 1
say "someone covers the gate camera's lens (black snapshot): degraded after 2 probes in a row"
sim camera cam-gate fault black; sleep 6
say "the playground camera loses power (ports closed): offline"
sim camera cam-playground fault offline; sleep 6
say "a bell press now reports the linked camera's health with the alarm"; sim click gate --ms 300
sleep 1
say "both cameras are fixed: ok again after 2 good probes"
sim camera cam-gate clear; sim camera cam-playground clear; sleep 6
say "an installer checks the unit (parkguardd doctor, through the running daemon's control socket):"
"$bin/parkguardd" doctor --config "$work/agent.yaml" --no-press | sed 's/^/    /' || true
say "the hub's alarm log (parkguard-hub alarms):"
"$bin/parkguard-hub" alarms --db "$work/hub.sqlite" --since 1h | cut -c1-160
say "the same alarms as the operators deal with them: one incident per call, fault or tamper (parkguard-hub incidents):"
"$bin/parkguard-hub" incidents --db "$work/hub.sqlite" --since 1h | cut -c1-200
first=$("$bin/parkguard-hub" incidents --db "$work/hub.sqlite" --since 1h --json | head -1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
say "the first call's camera pictures, kept by the hub with its alarms (parkguard-hub snapshots --export):"
"$bin/parkguard-hub" snapshots --db "$work/hub.sqlite" --incident "$first" --export "$work/pictures" | sed "s|$work/||"
if $once; then
  say "stopping the agent (SIGTERM): it publishes offline"
  kill -TERM "${pids[3]}"; sleep 2
  exit 0
fi
say "demo running: press bells yourself in another terminal, e.g."
echo "    PARKGUARD_SIM_CONTROL=$control $bin/parkguard-sim press gate"
echo "    mosquitto_pub -p $port -t $root_topic/cmd/ack -m '{\"bell\":\"gate\"}'"
echo "    $bin/parkguardd doctor --config $work/agent.yaml --outputs     # on a terminal it asks you to press each bell"
echo "    console: $(sed -n 's|^console: ||p' "$work/hub.out")  (log in as demo, password $console_password)"
echo "Ctrl-C stops everything. Agent log: $work/agent.log, hub log: $work/hub.log"
wait
