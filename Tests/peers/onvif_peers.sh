#!/usr/bin/env bash
# The ONVIF peers nobody here wrote, from PyPI, in a venv cached in ~/.cache/parkguard-peers:
#   ipycam            a virtual ONVIF PTZ camera (presets, GotoPreset, WS-Security, snapshots)
#   onvif-zeep-async  an ONVIF client (zeep with the standard WSDLs), against the simulator
# Prints the venv's python. The tests that need them look for it there and are skipped without.
set -euo pipefail
venv=${PARKGUARD_PEERS_CACHE:-$HOME/.cache/parkguard-peers}/onvif
want="ipycam==1.3.0 onvif-zeep-async==4.3.0"
if [[ ! -x $venv/bin/python || $(cat "$venv/.pins" 2>/dev/null) != "$want" ]]; then
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check $want >&2
  echo "$want" > "$venv/.pins"
fi
echo "$venv/bin/python"
