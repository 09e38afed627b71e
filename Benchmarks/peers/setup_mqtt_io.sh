#!/usr/bin/env bash
# Sets up the mqtt-io peer for the benchmark harness: a venv holding a pinned
# mqtt-io (https://github.com/flyte/mqtt-io), the Python daemon that exposes
# GPIO over MQTT. Used by Benchmarks/peers/mqtt_io_peer.py.
#
#   Benchmarks/peers/setup_mqtt_io.sh [VENV_DIR]
#
# VENV_DIR defaults to $HOME/.cache/parkguard-bench/mqtt-io-venv. Prints the
# venv path on stdout (progress goes to stderr). A no-op when the venv already
# imports the pinned mqtt-io. PYTHON=/path/to/python3 picks the interpreter
# (default: python3 on PATH; the benchmark targets Debian 12's Python 3.11).
#
# Debian 12 packages this needs (for CI: apt-get install -y ...):
#   python3 python3-venv          # venv + ensurepip (pulls python3.11-venv,
#                                 # python3-pip-whl, python3-setuptools-whl)
#   mosquitto mosquitto-clients   # broker + mosquitto_sub, used by the peer script
# python3-dev is NOT needed: every dependency is pure Python or ships a
# manylinux wheel for CPython 3.11; confp 0.4.1 is an sdist, but pure Python
# (built with setuptools fetched from PyPI, no compiler).
# Network: PyPI only.
set -euo pipefail

MQTT_IO_VERSION=2.7.0
# The whole resolved set, pinned, so two machines measure the same code.
PINS=(
  "mqtt-io==${MQTT_IO_VERSION}"
  "aiomqtt==2.5.1"
  "paho-mqtt==2.2.0"
  "backoff==2.2.1"
  "Cerberus==1.3.8"
  "confp==0.4.1"
  "docutils==0.18.1"
  "Jinja2==3.1.6"
  "MarkupSafe==3.0.4"
  "packaging==26.4"
  "PyYAML==6.0.4"
  "typing_extensions==4.16.0"
)

VENV="${1:-${HOME}/.cache/parkguard-bench/mqtt-io-venv}"
PY="${PYTHON:-python3}"

installed() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "$MQTT_IO_VERSION" >/dev/null 2>&1 <<'EOF'
import sys, importlib.metadata as md
import mqtt_io, mqtt_io.__main__  # the second one pulls in cerberus, aiomqtt, paho
sys.exit(0 if md.version("mqtt-io") == sys.argv[1] else 1)
EOF
}

if installed; then
  echo "$VENV"
  exit 0
fi

if ! command -v "$PY" >/dev/null 2>&1; then
  echo "setup_mqtt_io: no $PY; install it: apt-get install -y python3 python3-venv" >&2
  exit 69
fi
if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo 3)"
  echo "setup_mqtt_io: $PY has no working venv/ensurepip; install it: apt-get install -y python3-venv (python${pyver}-venv)" >&2
  exit 69
fi

mkdir -p "$(dirname "$VENV")"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
  # A half-made venv (no pip, say from an earlier ensurepip failure) is remade.
  rm -rf "$VENV"
  echo "setup_mqtt_io: creating venv $VENV with $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')" >&2
  "$PY" -m venv "$VENV" >&2
fi

echo "setup_mqtt_io: installing mqtt-io ${MQTT_IO_VERSION} into $VENV" >&2
"$VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q "${PINS[@]}" >&2

if ! installed; then
  echo "setup_mqtt_io: mqtt-io ${MQTT_IO_VERSION} still does not import from $VENV" >&2
  "$VENV/bin/python" -c 'import mqtt_io.__main__' >&2 || true
  exit 1
fi
echo "$VENV"
