#!/usr/bin/env python3
"""Formats `mosquitto_sub -F '%t %p'` lines for the demo: one readable line per message."""
import json
import sys
import time


def describe(short, p, payload):
    if short.startswith("snapshot/"):
        # snapshot/{alarmId}/{camera}/{stage}, given with its size (`-F '%t %l'`).
        _, alarm, camera, stage = (short.split("/") + ["", "", ""])[:4]
        return "PICTURE %-8s %s, %s bytes, alarm %s" % (stage, camera, payload, alarm[:8])
    if short.endswith("/alarm"):
        cameras = ["%s(%s)" % (c.get("id"), c.get("health", "?")) for c in p.get("cameras", [])]
        return "ALARM  %-14s bell=%s seq=%s state=%s cameras=%s" % (
            p.get("kind"), p.get("bell"), p.get("seq"), p.get("state"), cameras)
    if short.endswith("/health"):
        checks = p.get("checks", {})
        measured = []
        if "codec" in checks:
            measured.append("video=%s" % checks["codec"])
        if "rtspDescribeMs" in checks:
            measured.append("describe=%sms" % checks["rtspDescribeMs"])
        if "snapshot" in checks:
            measured.append("snapshot=%sx%s luma=%s" % (checks["snapshot"]["width"], checks["snapshot"]["height"],
                                                       checks["snapshot"]["meanLuma"]))
        reasons = "; ".join("%s: %s" % (r.get("code"), r.get("detail")) for r in p.get("reasons", []))
        return "CAMERA %-8s %s %s" % (p.get("status"), " ".join(measured), reasons)
    if short.endswith("/state"):
        return "state  %s -> %s" % (p.get("bell"), p.get("state"))
    if short == "status":
        return "status %s session=%s %s" % (p.get("state"), p.get("session"), p.get("reason") or "")
    if short == "telemetry":
        rtt = p.get("brokerRttMs")
        return "telemetry rss=%sKiB brokerRtt=%s queued=%s" % (
            (p.get("agentRssBytes") or 0) // 1024, "%.2fms" % rtt if rtt is not None else "-", p.get("outboxDepth"))
    if short.endswith("/result"):
        error = (p.get("error") or {}).get("message", "")
        return "result ok=%s %s %s" % (p.get("ok"), p.get("state") or "", error)
    if short == "event":
        return "event  %s: %s" % (p.get("event"), p.get("message"))
    if short == "selftest":
        drives = ["%s(%s)" % (d.get("bell"), "ok" if d.get("ok") else "FAILED") for d in p.get("testDrives", [])]
        return "SELFTEST %s passed=%s drives=%s" % (p.get("trigger"), p.get("passed"), drives)
    return payload[:120]


def main():
    for line in sys.stdin:
        topic, _, payload = line.rstrip("\n").partition(" ")
        short = "/".join(topic.split("/")[4:])
        if short == "rtt" or (short.startswith("cmd/") and not short.endswith("/result")):
            continue
        try:
            p = json.loads(payload)
        except ValueError:
            p = {}
        print("%s  %-26s %s" % (time.strftime("%H:%M:%S"), short, describe(short, p, payload)), flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--outputs":
        print(", ".join("%s=%s" % (o["name"], "on" if o.get("on") else "off") for o in json.load(sys.stdin)))
    else:
        main()
