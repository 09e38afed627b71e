#!/usr/bin/env python3
"""Peer measurement: mqtt-io (https://github.com/flyte/mqtt-io) idling with 4 inputs.

Runs mqtt-io, the Python daemon that exposes GPIO over MQTT, with its `mock`
GPIO module and 4 polled digital inputs against a broker on 127.0.0.1:PORT,
waits until it is connected and has published its inputs, lets it settle, then
measures its CPU (utime+stime of the whole process, all threads, from
/proc/PID/stat, as % of one core over wall time) and memory (VmRSS at the end
of the window, VmHWM) over --seconds.

    Benchmarks/peers/setup_mqtt_io.sh            # once: venv with pinned mqtt-io
    mosquitto -p 18830 &                          # any broker on loopback
    Benchmarks/peers/mqtt_io_peer.py --broker-port 18830 --seconds 60 --json out.json

Poll interval: mqtt-io polls every digital input that has no `interrupt:`
every `poll_interval` seconds, through a ThreadPoolExecutor (so each poll is a
thread hand-off). The documented default is 0.1 s (config.schema.yml,
digital_inputs.poll_interval); this script sets it explicitly to that default,
which is what a stock Raspberry Pi deployment without interrupts runs.
`--poll-interval` changes it.

Press-to-subscriber latency cannot be measured against the mock module: its
get_pin is `Mock(return_value=True)` fixed in GPIO.__init__ and the interrupt
callback registration is replaced by a Mock too, so nothing outside the
process can change an input (mqtt_io/modules/gpio/mock.py, lines 30-43).

Also note that every poll is recorded by that unittest.mock.Mock
(call_args_list, mock_calls), so the peer's RSS grows slowly with the number
of polls; rssStartKiB and rssGrowthKiBPerMin show by how much. A real GPIO
module would not grow.

Needs: the venv from setup_mqtt_io.sh, mosquitto_sub (Debian: mosquitto-clients).
Exit codes: 0 measured; 1 the peer never connected, died or misbehaved;
2 bad arguments; 69 something needed is missing (venv, mosquitto_sub, broker).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import deque
from pathlib import Path

DEFAULT_VENV = Path.home() / ".cache" / "parkguard-bench" / "mqtt-io-venv"
DEFAULT_POLL_INTERVAL = 0.1  # mqtt-io's documented default for digital_inputs.poll_interval
INPUTS = 4
CLK_TCK = os.sysconf("SC_CLK_TCK")
EX_UNAVAILABLE = 69


class PeerError(Exception):
    """The peer could not be measured; message is for the user."""


def log(msg: str) -> None:
    print(f"mqtt_io_peer: {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc readers

def cpu_ticks(pid: int) -> int:
    """utime+stime of the process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        data = f.read()
    # comm (field 2) may hold spaces or parentheses: split after the last ')'.
    fields = data[data.rindex(b")") + 2:].split()
    # fields[0] is field 3 (state); utime is field 14, stime field 15.
    return int(fields[11]) + int(fields[12])


def proc_status(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    with open(f"/proc/{pid}/status", "r", encoding="utf-8", errors="replace") as f:
        for line in f:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def kib(value: str | None) -> int | None:
    if not value:
        return None
    return int(value.split()[0])  # "12345 kB"


def child_pids(pid: int) -> list[int]:
    """Direct children of pid, found by scanning /proc (no CONFIG_PROC_CHILDREN needed)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rindex(b")") + 2:].split()
        if int(fields[1]) == pid:  # field 4, ppid
            children.append(int(entry))
    return children


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for c in child_pids(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


# ---------------------------------------------------------------- helpers

def tail(path: Path, lines: int = 30) -> str:
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip()
    except OSError:
        return "(no output)"


def broker_reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


def write_config(path: Path, port: int, prefix: str, poll_interval: float) -> None:
    # Written as YAML by hand: keeps this script free of PyYAML.
    lines = [
        "# Written by Benchmarks/peers/mqtt_io_peer.py",
        "mqtt:",
        "  host: 127.0.0.1",
        f"  port: {port}",
        f"  topic_prefix: {prefix}",
        "  client_id: parkguard-bench-mqtt-io",
        "gpio_modules:",
        "  - name: mock",
        "    module: mock",
        "digital_inputs:",
    ]
    for i in range(INPUTS):
        lines += [
            f"  - name: in{i}",
            "    module: mock",
            f"    pin: {i}",
            # No `interrupt:` -> mqtt-io polls the pin. (The mock module claims
            # software-callback interrupts, but its callback setup is a Mock, so an
            # interrupt-configured input would never be read at all.)
            f"    poll_interval: {poll_interval}",
        ]
    lines += [
        "options:",
        "  install_requirements: no",  # never let it pip-install at start-up
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def peer_version(python: Path) -> str:
    r = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; print(m.version('mqtt-io'))"],
        capture_output=True, text=True, timeout=30,
    )
    if r.returncode != 0:
        raise PeerError(f"mqtt-io does not import from {python}: {r.stderr.strip()[-500:]}")
    return r.stdout.strip()


class Subscriber:
    """mosquitto_sub on PREFIX/#, lines collected by a reader thread."""

    def __init__(self, port: int, prefix: str):
        exe = shutil.which("mosquitto_sub")
        if exe is None:
            raise PeerError("mosquitto_sub not found (Debian: apt-get install mosquitto-clients)")
        self.proc = subprocess.Popen(
            [exe, "-h", "127.0.0.1", "-p", str(port), "-i", f"bench-sub-{os.getpid()}",
             "-q", "1", "-v", "-t", f"{prefix}/#"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
        )
        self.messages: list[tuple[float, str, str]] = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            topic, _, payload = line.rstrip("\n").partition(" ")
            with self.cond:
                self.messages.append((time.monotonic(), topic, payload))
                self.cond.notify_all()

    def seen(self, topic: str, payload: str | None = None) -> bool:
        return any(t == topic and (payload is None or p == payload) for _, t, p in self.messages)

    def count_since(self, since: float, until: float) -> int:
        return sum(1 for ts, _, _ in self.messages if since <= ts <= until)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def stop_peer(proc: subprocess.Popen) -> str:
    """SIGTERM, then SIGKILL after 5 s. Returns how it ended."""
    if proc.poll() is not None:
        return f"already exited ({proc.returncode})"
    proc.send_signal(signal.SIGTERM)
    try:
        rc = proc.wait(5)
        return f"SIGTERM, exit {rc}"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "SIGKILL after 5 s"


def clear_retained(port: int, topic: str) -> None:
    exe = shutil.which("mosquitto_pub")
    if exe:
        subprocess.run([exe, "-h", "127.0.0.1", "-p", str(port), "-r", "-n", "-t", topic],
                       capture_output=True, timeout=10, check=False)


# ---------------------------------------------------------------- measurement

def measure(args: argparse.Namespace) -> dict:
    venv = Path(args.venv).expanduser()
    python = venv / "bin" / "python"
    if not python.exists():
        raise PeerError(f"no venv at {venv}; run Benchmarks/peers/setup_mqtt_io.sh {venv}")
    version = peer_version(python)
    if not broker_reachable(args.broker_port):
        raise PeerError(f"no MQTT broker listening on 127.0.0.1:{args.broker_port}")

    # A fresh prefix per run, so a retained 'running' left on the broker by an
    # earlier run cannot pass for this one's.
    prefix = f"{args.topic_prefix.rstrip('/')}/{uuid.uuid4().hex[:8]}"
    status_topic = f"{prefix}/status"
    input_topics = [f"{prefix}/input/in{i}" for i in range(INPUTS)]

    workdir = Path(tempfile.mkdtemp(prefix="mqtt-io-peer-"))
    config = workdir / "config.yml"
    out_log, err_log = workdir / "stdout.log", workdir / "stderr.log"
    write_config(config, args.broker_port, prefix, args.poll_interval)

    sub = Subscriber(args.broker_port, prefix)
    proc: subprocess.Popen | None = None
    try:
        time.sleep(0.3)  # let mosquitto_sub subscribe before the peer publishes
        if sub.proc.poll() is not None:
            raise PeerError(f"mosquitto_sub exited: {sub.proc.stderr.read().strip() if sub.proc.stderr else ''}")

        with open(out_log, "wb") as out, open(err_log, "wb") as err:
            t_start = time.monotonic()
            proc = subprocess.Popen(
                [str(python), "-m", "mqtt_io", str(config)],
                stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=workdir,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

        def died(what: str) -> PeerError:
            return PeerError(f"mqtt-io exited (code {proc.returncode}) {what}; "
                             f"stderr tail:\n{tail(err_log)}")

        # Connected = its retained status 'running' and all 4 inputs' first values
        # have reached a subscriber.
        deadline = t_start + args.connect_timeout
        with sub.cond:
            while not (sub.seen(status_topic, "running") and all(sub.seen(t) for t in input_topics)):
                if proc.poll() is not None:
                    raise died("before it connected")
                if time.monotonic() > deadline:
                    raise PeerError(
                        f"mqtt-io did not connect to 127.0.0.1:{args.broker_port} and publish "
                        f"{status_topic}=running and its {INPUTS} inputs within "
                        f"{args.connect_timeout:g} s; stderr tail:\n{tail(err_log)}")
                sub.cond.wait(0.1)
        startup = time.monotonic() - t_start
        log(f"mqtt-io {version} pid {proc.pid} connected in {startup:.2f} s; settling {args.settle:g} s")

        time.sleep(args.settle)
        if proc.poll() is not None:
            raise died("while settling")

        pid = proc.pid
        status0 = proc_status(pid)
        rss_start = kib(status0.get("VmRSS"))
        threads_max = int(status0.get("Threads", "0"))
        children_max = len(descendants(pid))
        w0, c0 = time.monotonic(), cpu_ticks(pid)
        end = w0 + args.seconds
        while True:
            now = time.monotonic()
            if now >= end:
                break
            time.sleep(min(1.0, end - now))
            if proc.poll() is not None:
                raise died("during the measurement")
            st = proc_status(pid)
            threads_max = max(threads_max, int(st.get("Threads", "0")))
            children_max = max(children_max, len(descendants(pid)))
        c1, w1 = cpu_ticks(pid), time.monotonic()
        status1 = proc_status(pid)
        if proc.poll() is not None:
            raise died("during the measurement")

        wall = w1 - w0
        cpu_s = (c1 - c0) / CLK_TCK
        rss_end = kib(status1.get("VmRSS"))
        result = {
            "peer": "mqtt-io",
            "version": version,
            "inputs": INPUTS,
            "seconds": args.seconds,
            "cpuPercent": round(100.0 * cpu_s / wall, 3),
            "rssKiB": rss_end,
            "peakRssKiB": kib(status1.get("VmHWM")),
            "pollInterval": args.poll_interval,
            # Extras, for reading the figures above.
            "gpioModule": "mock",
            "defaultPollInterval": DEFAULT_POLL_INTERVAL,
            "measuredWallSeconds": round(wall, 3),
            "cpuSeconds": round(cpu_s, 3),
            "clockTicksPerSecond": CLK_TCK,
            "rssStartKiB": rss_start,
            "rssGrowthKiBPerMin": (round((rss_end - rss_start) * 60.0 / wall, 1)
                                   if rss_end is not None and rss_start is not None else None),
            "threads": int(status1.get("Threads", "0")),
            "threadsMax": threads_max,
            "childProcesses": children_max,
            "startupSeconds": round(startup, 3),
            "settleSeconds": args.settle,
            "mqttMessagesInWindow": sub.count_since(w0, w1),
            "pressLatencyMeasurable": False,
        }
    finally:
        how = stop_peer(proc) if proc is not None else "not started"
        if proc is not None:
            log(f"mqtt-io stopped: {how}")
        sub.stop()
        if proc is not None:
            clear_retained(args.broker_port, status_topic)
        if args.keep_workdir:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--broker-port", type=int, required=True, help="MQTT broker port on 127.0.0.1")
    p.add_argument("--seconds", type=float, required=True, help="measurement window")
    p.add_argument("--venv", default=str(DEFAULT_VENV), help=f"venv from setup_mqtt_io.sh (default {DEFAULT_VENV})")
    p.add_argument("--json", metavar="OUT", help="write the result as JSON here")
    p.add_argument("--settle", type=float, default=5.0, help="seconds to wait after connecting (default 5)")
    p.add_argument("--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL,
                   help=f"digital_inputs poll_interval (default {DEFAULT_POLL_INTERVAL}, mqtt-io's own default)")
    p.add_argument("--connect-timeout", type=float, default=30.0, help="seconds to wait for it to connect (default 30)")
    p.add_argument("--topic-prefix", default="bench/mqtt-io", help="a random run id is appended (default bench/mqtt-io)")
    p.add_argument("--keep-workdir", action="store_true", help="keep the temp dir with config and logs")
    args = p.parse_args()
    if args.seconds <= 0 or args.settle < 0 or args.poll_interval <= 0 or not 0 < args.broker_port < 65536:
        p.error("--seconds and --poll-interval must be > 0, --settle >= 0, --broker-port 1..65535")

    try:
        r = measure(args)
    except PeerError as e:
        msg = str(e)
        log(msg)
        missing = msg.startswith(("no venv", "no MQTT broker", "mosquitto_sub not found"))
        return EX_UNAVAILABLE if missing else 1
    except KeyboardInterrupt:
        return 130

    print(f"mqtt-io {r['version']} (mock GPIO, {r['inputs']} inputs polled every {r['pollInterval']:g} s): "
          f"cpu {r['cpuPercent']:.2f}% of one core over {r['measuredWallSeconds']:.1f} s, "
          f"rss {r['rssKiB']} KiB (start {r['rssStartKiB']}, {r['rssGrowthKiBPerMin']:+g} KiB/min), "
          f"peak {r['peakRssKiB']} KiB, {r['threads']} threads (max {r['threadsMax']}), "
          f"{r['childProcesses']} child processes, {r['mqttMessagesInWindow']} MQTT messages in window",
          flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
