#!/usr/bin/env python3
"""Checks a HIL run: the guest's console (HIL lines) and the messages the host's broker saw."""
import json
import sys

console_path, messages_path = sys.argv[1], sys.argv[2]
# The libgpiod API the guest's parkguardd was built against: v1 (1.6) or v2 (2.x).
api = sys.argv[3] if len(sys.argv) > 3 else "v1"
console = [l.strip().replace("\r", "") for l in open(console_path, errors="replace")]
hil = [l for l in console if l.startswith("HIL ")]
messages = []
for line in open(messages_path):
    o = json.loads(line)
    try:
        payload = json.loads(o["payload"]) if o["payload"] else {}
    except ValueError:
        payload = {}
    messages.append((o["topic"], payload))

failures = []
passed = 0


def check(condition, what):
    global passed
    if condition:
        passed += 1
        print("ok   " + what)
    else:
        failures.append(what)
        print("FAIL " + what)


root = "parkguard/v1/hil/qemu/"
alarms = {}
seen = set()
for topic, p in messages:
    # At least once: without a hub sending receipts the unit publishes an alarm again (same id)
    # after its receipt timeout; a copy is not another alarm.
    if topic.endswith("/alarm") and p.get("id") not in seen:
        seen.add(p.get("id"))
        alarms.setdefault(topic[len(root):].split("/")[1], []).append(p)

def kinds(bell):
    return [a["kind"] for a in alarms.get(bell, [])]

check(any(l.startswith("HIL chip ") for l in hil), "gpio-sim chip created in the guest")
check(any(t == root + "status" and p.get("state") == "online" for t, p in messages), "status online from the guest")
check("HIL idle outputs strobe=0 siren=0 accepted=0" in hil, "outputs off at rest (read from gpio-sim)")
check("HIL outputs strobe=1 siren=1" in hil, "strobe and siren switched on by the press (read from gpio-sim)")
check("HIL accepted=1" in hil, "call-accepted output lit by the hub's ack")
b1 = kinds("b1")
check(b1[:3] == ["press", "hold", "release"], "b1: press, hold, release (got %s)" % b1[:3])
check(kinds("b2") == ["press", "release"], "b2: a bounce train of 7 is one press and one release (got %s)" % kinds("b2"))
check(["tamper", "tamperRestored"] == [k for k in b1 if k.startswith("tamper")], "tamper and restore on b1's topic")
press = next((a for a in alarms.get("b1", []) if a["kind"] == "press"), None)
hold = next((a for a in alarms.get("b1", []) if a["kind"] == "hold"), None)
release = next((a for a in alarms.get("b1", []) if a["kind"] == "release"), None)
if press and hold and release:
    held = release["edgeMono"] - press["edgeMono"]
    check(1700 <= held <= 2600, "kernel timestamps: the press lasted %d ms (the guest held it ~2 s)" % held)
    check(abs(hold["edgeMono"] - press["edgeMono"] - 1000) <= 2, "hold reported holdAfter (1 s) after the kernel's press timestamp")
    check(press["mono"] >= press["edgeMono"], "alarm published after its edge (mono %d >= edge %d)" % (press["mono"], press["edgeMono"]))
states = [p.get("state") for t, p in messages if t == root + "bell/b1/state"]
check("acknowledged" in states, "b1 went to acknowledged (states %s)" % states)
check(any(t == root + "status" and p.get("state") == "offline" and p.get("reason") == "clean shutdown" for t, p in messages),
      "clean offline on SIGTERM in the guest")
burst = next((int(l.split()[3]) for l in hil if l.startswith("HIL burst b3 ")), None)
lost = [p for t, p in messages if t == root + "event" and p.get("event") == "edgesLost"]
if burst is None:
    check(False, "the overflow burst ran")
elif api == "v2":
    data = lost[0].get("data", {}) if lost else {}
    check(len(lost) == 1 and data.get("bell") == "b3" and data.get("count") == str(burst - 1024),
          "v2 overflow: %d edges in a full 1024-event buffer are reported as %d lost (got %s)"
          % (burst, burst - 1024, [p.get("message") for p in lost]))
    if lost:
        print("     event edgesLost: " + json.dumps(lost[0].get("data"), sort_keys=True) + " - " + lost[0].get("message", ""))
    figures = [p.get("edgesLost") for t, p in messages if t == root + "telemetry" and "edgesLost" in p]
    check(figures and figures[-1] == burst - 1024, "v2 telemetry counts the lost edges (edgesLost %s)" % (figures[-1:] or None))
else:
    check(not lost, "v1: the kernel kept 16 of the %d edges and dropped the rest unseen (no sequence numbers: no report is possible)" % burst)
check("HIL done" in hil, "the guest script ran to the end")
print("hil: %d passed, %d failed" % (passed, len(failures)))
sys.exit(1 if failures else 0)
