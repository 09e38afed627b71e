#!/usr/bin/python3
"""The hub console in headless Chromium with a large fleet online and pressing: what issue 18 asks
of a console that scales.

    Benchmarks/console_load.py --units 15000 [--seconds 60] [--bin .build/release]

Starts its own mosquitto, `parkguard-sim fleet` (one process per 4,000 units, --rate presses per
second over the fleet), and `parkguard-hub run --console`, then drives the page with Debian's
chromium + chromium-driver through python3-selenium and prints one JSON object:

- loginMilliseconds: the time of a whole login (bcrypt check of the password included), p50 of 5;
- secondsUntilFleetOnline: from starting the fleet to the page's "N of N online" (the fleet's
  own start-up, on the same cores);
- secondsFromLoginUntilAllShown: then a fresh login until every unit shows again (the page's
  cost: the login, the snapshot, the first drawing);
- snapshotBytes: the live stream's first event (every unit);
- unitsEvents: the batches of changed units while the fleet runs: how many a second, bytes each
  (p50, max) and units each (p50);
- pressToScreen: for each incident the fleet opened while the page watched, the time from the
  press (the unit's own clock, on this machine) to its card on the page: count, p50, p99, max, in
  milliseconds (target: at most 1 s);
- baselinePressToSubscriber: the same window's presses at a bare mosquitto_sub on the same broker
  (press to arrival, the unit's clock against the subscriber's, both this machine's): the floor
  under the console's figure on this loaded machine;
- page: the JavaScript heap (Chromium's Performance.getMetrics) and the DOM's element count at
  the end, with the rows the unit table drew.

The page's own functions are wrapped from outside (nothing in the console is there for the bench).
"""
import argparse
import datetime
import json
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def percentile(values, q):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def rnd(value):
    return None if value is None else round(value, 1)


def login_milliseconds(url, name, password, times=5):
    spent = []
    for _ in range(times):
        request = urllib.request.Request(url + "api/login", data=json.dumps({"name": name, "password": password}).encode(),
                                         headers={"Content-Type": "application/json"})
        started = time.perf_counter()
        urllib.request.urlopen(request, timeout=30).read()
        spent.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(spent), 1)


# Wraps the page's applyUnits and incidentCard (global function declarations of console.js).
INSTRUMENT = """
window.__bench = {units: [], latencies: [], seen: new Set(), since: Date.now()};
const applyUnits0 = window.applyUnits;
window.applyUnits = function (data, replace) {
  if (!replace) __bench.units.push({bytes: data.length, units: (data.match(/"key":/g) || []).length, at: Date.now()});
  return applyUnits0(data, replace);
};
const incidentCard0 = window.incidentCard;
window.incidentCard = function (incident, key) {
  if (!incident.acknowledgedAt && !__bench.seen.has(incident.id)) {
    __bench.seen.add(incident.id);
    const raised = Date.parse(incident.raisedAt);
    if (raised >= __bench.since) __bench.latencies.push(Date.now() - raised);
  }
  return incidentCard0(incident, key);
};
"""


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--units", type=int, default=15000)
    p.add_argument("--seconds", type=int, default=60, help="how long the page watches the running fleet")
    p.add_argument("--rate", type=float, default=2.0, help="presses per second over the fleet")
    p.add_argument("--bin", default=".build/release")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="parkguard-console-load-")
    procs = []
    try:
        port = free_port()
        with open(f"{work}/m.conf", "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n")
        procs.append(subprocess.Popen(["mosquitto", "-c", f"{work}/m.conf"], stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        # The console needs a login: one viewer, logged in by the page's form below.
        subprocess.run([f"{args.bin}/parkguard-hub", "operator", "add", "load", "--role", "viewer", "--db", f"{work}/hub.sqlite"],
                       input="console load password\n", text=True, check=True, stdout=subprocess.DEVNULL)
        hub = subprocess.Popen([f"{args.bin}/parkguard-hub", "run", "--broker", f"127.0.0.1:{port}", "--db", f"{work}/hub.sqlite",
                                "--console", "127.0.0.1:0", "--log-level", "error"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(hub)
        url = hub.stdout.readline().strip().removeprefix("console: ")
        login_ms = login_milliseconds(url, "load", "console load password")
        per = 4000
        first = 0
        while first < args.units:
            count = min(per, args.units - first)
            share = args.rate * count / args.units
            procs.append(subprocess.Popen([f"{args.bin}/parkguard-sim", "fleet", "--units", str(count), "--first-unit", str(first),
                                           "--broker", f"127.0.0.1:{port}", "--state-dir", f"{work}/fleet-{first}", "--cameras", "8",
                                           "--rate", str(share), "--duration", "0", "--heartbeat", "30"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            first += count
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
            options.add_argument(a)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            started = time.time()
            driver.get(url)
            driver.execute_script(INSTRUMENT)
            WebDriverWait(driver, 20).until(EC.visibility_of_element_located((By.ID, "login-form")))
            driver.find_element(By.ID, "login-name").send_keys("load")
            driver.find_element(By.ID, "login-password").send_keys("console load password")
            driver.find_element(By.ID, "login-submit").click()
            target = f"{args.units} of {args.units} online"
            while target not in driver.find_element(By.ID, "unit-summary").text:
                if time.time() - started > 300:
                    raise SystemExit("not every unit shown after 300 s: " + driver.find_element(By.ID, "unit-summary").text)
                time.sleep(0.2)
            fleet_online = time.time() - started
            # The page's own cost: log out, and time a fresh login until every unit shows.
            driver.find_element(By.ID, "logout").click()
            WebDriverWait(driver, 20).until(EC.visibility_of_element_located((By.ID, "login-form")))
            driver.find_element(By.ID, "login-name").clear()
            started = time.time()
            driver.find_element(By.ID, "login-name").send_keys("load")
            driver.find_element(By.ID, "login-password").send_keys("console load password")
            driver.find_element(By.ID, "login-submit").click()
            while target not in driver.find_element(By.ID, "unit-summary").text:
                if time.time() - started > 120:
                    raise SystemExit("not every unit shown again after 120 s: " + driver.find_element(By.ID, "unit-summary").text)
                time.sleep(0.05)
            all_shown = time.time() - started
            # The stream's first event: its size as the server sends it.
            snapshot_bytes = driver.execute_async_script("""
                const done = arguments[0];
                const source = new EventSource('/api/events');
                source.addEventListener('snapshot', (e) => { source.close(); done(e.data.length); });
                setTimeout(() => { source.close(); done(null); }, 60000);
            """)
            driver.execute_script("__bench.units = []; __bench.since = Date.now();")
            # The baseline of the same run: the same presses at a bare subscriber on the same
            # broker (mosquitto_sub), the floor for any consumer on this loaded machine.
            watch_started = time.time()
            subscriber = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", "parkguard/v1/+/+/bell/+/alarm",
                                           "-F", "%U %p", "-q", "1"], stdout=subprocess.PIPE, text=True)
            procs.append(subscriber)
            time.sleep(args.seconds)
            subscriber.terminate()
            floor = []
            for line in subscriber.communicate(timeout=10)[0].splitlines():
                stamp, _, payload = line.partition(" ")
                try:
                    alarm = json.loads(payload)
                except ValueError:
                    continue
                raised = datetime.datetime.fromisoformat(alarm["time"].replace("Z", "+00:00")).timestamp()
                if alarm.get("kind") in ("press", "stuck", "lineFault", "tamper") and raised >= watch_started:
                    floor.append((float(stamp) - raised) * 1000)
            bench = driver.execute_script("return {units: __bench.units, latencies: __bench.latencies};")
            driver.execute_cdp_cmd("Performance.enable", {})
            metrics = {m["name"]: m["value"] for m in driver.execute_cdp_cmd("Performance.getMetrics", {})["metrics"]}
            elements = driver.execute_script("return document.getElementsByTagName('*').length;")
            rows = len(driver.find_elements(By.CSS_SELECTOR, "#units tr.unit"))
            batches = bench["units"]
            latencies = bench["latencies"]
            print(json.dumps({
                "units": args.units, "ratePerSecond": args.rate, "watchedSeconds": args.seconds,
                "loginMilliseconds": login_ms,
                "secondsUntilFleetOnline": round(fleet_online, 1),
                "secondsFromLoginUntilAllShown": round(all_shown, 2),
                "snapshotBytes": snapshot_bytes,
                "unitsEvents": {"perSecond": round(len(batches) / args.seconds, 2),
                                "bytesP50": percentile([b["bytes"] for b in batches], 0.5),
                                "bytesMax": max((b["bytes"] for b in batches), default=None),
                                "unitsP50": percentile([b["units"] for b in batches], 0.5)},
                "pressToScreen": {"count": len(latencies), "p50": percentile(latencies, 0.5), "p99": percentile(latencies, 0.99),
                                  "max": max(latencies, default=None)},
                "baselinePressToSubscriber": {"count": len(floor), "p50": rnd(percentile(floor, 0.5)), "p99": rnd(percentile(floor, 0.99)),
                                              "max": rnd(max(floor, default=None))},
                "page": {"jsHeapUsedMiB": round(metrics.get("JSHeapUsedSize", 0) / 1048576, 1), "domElements": elements, "unitRowsDrawn": rows},
            }))
        finally:
            driver.quit()
    finally:
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
