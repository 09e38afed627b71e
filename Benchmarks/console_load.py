#!/usr/bin/python3
"""The hub console in headless Chromium with a large fleet: how long the page takes to show every
unit, how long one refresh (fetch /api/state + render) takes, and how long a press takes to appear
as an open incident while the fleet keeps running.

    Benchmarks/console_load.py --units 5000 [--bin .build/release]

Starts its own mosquitto, `parkguard-sim fleet` (one process per 4,000 units), and
`parkguard-hub run --console`, then drives the page with Debian's chromium + chromium-driver
through python3-selenium. Prints one JSON object.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--units", type=int, default=5000)
    p.add_argument("--bin", default=".build/release")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="parkguard-console-load-")
    procs = []
    try:
        port = free_port()
        with open(f"{work}/m.conf", "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        procs.append(subprocess.Popen(["mosquitto", "-c", f"{work}/m.conf"], stderr=subprocess.DEVNULL))
        time.sleep(0.5)
        # The console needs a login: one viewer, logged in by the page's form below.
        subprocess.run([f"{args.bin}/parkguard-hub", "operator", "add", "load", "--role", "viewer", "--db", f"{work}/hub.sqlite"],
                       input="console load password\n", text=True, check=True, stdout=subprocess.DEVNULL)
        hub = subprocess.Popen([f"{args.bin}/parkguard-hub", "run", "--broker", f"127.0.0.1:{port}", "--db", f"{work}/hub.sqlite",
                                "--console", "127.0.0.1:0", "--log-level", "error"], stdout=subprocess.PIPE, text=True)
        procs.append(hub)
        url = hub.stdout.readline().strip().removeprefix("console: ")
        per = 4000
        first = 0
        while first < args.units:
            count = min(per, args.units - first)
            procs.append(subprocess.Popen([f"{args.bin}/parkguard-sim", "fleet", "--units", str(count), "--first-unit", str(first),
                                           "--broker", f"127.0.0.1:{port}", "--state-dir", f"{work}/fleet-{first}", "--cameras", "8",
                                           "--rate", "2", "--duration", "0", "--heartbeat", "30"],
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
            WebDriverWait(driver, 20).until(EC.visibility_of_element_located((By.ID, "login-form")))
            driver.find_element(By.ID, "login-name").send_keys("load")
            driver.find_element(By.ID, "login-password").send_keys("console load password")
            driver.find_element(By.ID, "login-submit").click()
            target = f"{args.units} of {args.units} online"
            while target not in driver.find_element(By.ID, "unit-summary").text:
                if time.time() - started > 180:
                    raise SystemExit("not every unit shown after 180 s: " + driver.find_element(By.ID, "unit-summary").text)
                time.sleep(0.5)
            all_shown = time.time() - started
            refreshes = []
            for _ in range(5):
                refreshes.append(driver.execute_async_script(
                    "const done = arguments[0]; const t = performance.now(); refresh().then(() => done(performance.now() - t));"))
                time.sleep(1)
            # A press on a unit while the fleet runs: time until the page lists it.
            alarms_before = int(driver.find_element(By.ID, "incident-count").text)
            t = time.time()
            while int(driver.find_element(By.ID, "incident-count").text) <= alarms_before and time.time() - t < 30:
                time.sleep(0.05)
            new_alarm = time.time() - t
            print(json.dumps({"units": args.units, "secondsUntilAllShown": round(all_shown, 1),
                              "refreshMs": [round(r) for r in refreshes],
                              "secondsUntilNextFleetPressShown": round(new_alarm, 2),
                              "openIncidents": int(driver.find_element(By.ID, "incident-count").text)}))
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
