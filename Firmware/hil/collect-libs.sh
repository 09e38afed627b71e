#!/usr/bin/env bash
# Copies the shared libraries BINARY needs (as ldd resolves them here) into DEST at their
# absolute paths, for the rig's initramfs. Run inside another release's root
# (Firmware/buildroot/run.sh) to boot a binary built there: run.sh --libs DEST.
#
#   Firmware/hil/collect-libs.sh BINARY DEST
set -euo pipefail
[[ $# -eq 2 ]] || { echo "usage: collect-libs.sh BINARY DEST" >&2; exit 64; }
binary=$1 dest=$2
rm -rf "$dest"
mkdir -p "$dest"
for lib in $(ldd "$binary" | grep -o '/[^ ]*'); do
  mkdir -p "$dest$(dirname "$lib")"
  cp -L "$lib" "$dest$lib"
done
echo "collect-libs: $(find "$dest" -type f | wc -l) libraries for $(basename "$binary") in $dest"
