#!/usr/bin/env bash
# Regenerates Sources/parkguardd/link/parkguardd.order, the list of functions the daemon runs,
# which its release link places first and together (Package.swift, daemonReleaseLink; issue 21).
#
# Runs the benchmark's unit scenarios with the static daemon under valgrind's callgrind, which
# records every function executed: start-up, 40 s idle with 16 cameras, camera probes with the
# video flow check, presses with PTZ moves and pictures, an outbox drain. The functions found in
# the daemon's own symbol table are the list. Takes about 3 minutes; needs valgrind.
#
#   Benchmarks/link-order.sh            regenerate, relink, and print the binary's figures
#
# Run it after changes that move much of the daemon's code; a function that is missing from the
# list still works, it only sits among the code the daemon does not run (memory, not behaviour).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
command -v valgrind >/dev/null || { echo "link-order.sh: valgrind is needed (apt-get install valgrind)" >&2; exit 2; }
order=Sources/parkguardd/link/parkguardd.order
work=$(mktemp -d /tmp/parkguard-link-order.XXXXXX)
trap 'kill "${dumper:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

swift build -c release --product parkguard-bench 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\] ' || true; }
swift build -c release --static-swift-stdlib --product parkguardd --scratch-path .build-static 2>&1 | { grep -vE '^\[[0-9]+/[0-9]+\] ' || true; }
bin=$(swift build -c release --show-bin-path)
daemon=$(cd .build-static/release && pwd)/parkguardd

# The bench measures the daemon's binary (objcopy), so it is given an ELF program that runs the
# daemon under callgrind, not a shell script. Dumps every 5M blocks and every second keep what a
# daemon ran even when the bench stops it with SIGKILL.
cat > "$work/wrap.c" <<EOF
#include <unistd.h>
int main(int argc, char **argv) {
    char *args[argc + 8]; int n = 0;
    args[n++] = "valgrind"; args[n++] = "--tool=callgrind"; args[n++] = "--demangle=no";
    args[n++] = "--dump-instr=no"; args[n++] = "--compress-strings=no"; args[n++] = "--dump-every-bb=5000000";
    args[n++] = "--callgrind-out-file=$work/cg.%p"; args[n++] = "$daemon";
    for (int i = 1; i < argc; i++) args[n++] = argv[i];
    args[n] = 0;
    execvp("valgrind", args);
    return 127;
}
EOF
cc -O2 -o "$work/parkguardd-callgrind" "$work/wrap.c"
( while true; do callgrind_control -d >/dev/null 2>&1 || true; sleep 1; done ) &
dumper=$!
# Under valgrind the daemon is too slow for the latency figure's 5 s deadline: presses come from
# the PTZ and picture scenarios instead.
"$bin/parkguard-bench" --bin-dir "$bin" --daemon "$work/parkguardd-callgrind" --no-peer \
  --presses 0 --baseline 10 --outbox-records 0 --drain-records 200 --idle-seconds 40 \
  --cameras 4 --camera-interval 5 --camera-seconds 20 --fleet-sizes "" --hub-messages 0 \
  --ptz-presses 10 --snapshot-presses 10 > "$work/bench.log" 2>&1 || { tail -20 "$work/bench.log" >&2; exit 1; }
kill "$dumper" 2>/dev/null || true

# Every function callgrind saw (a recursion level shows as name'N) that the daemon defines. A name
# several objects define locally (value witnesses, outlined copies, merged functions) moves every
# copy: it is kept unless that would bring much cold code forward with it, as the one text
# section of a prebuilt object without a section per function (the linker map says which).
cat "$work"/cg.* | sed -n "s/^c\{0,1\}fn=//p" | sed "s/'[0-9]*\$//" | sort -u > "$work/ran"
swift build -c release --static-swift-stdlib --product parkguardd --scratch-path .build-static \
  -Xlinker "-Map=$work/parkguardd.map" -Xlinker --no-demangle 2>&1 | tail -1
python3 - "$work/ran" "$work/parkguardd.map" > "$order" <<'PY'
import re, sys
ran = set(line.strip() for line in open(sys.argv[1]))
sections = {}   # symbol name -> sizes of the input sections that define it
section = None
for line in open(sys.argv[2]):
    m = re.match(r"^\s*[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+\s+(\S.*)$", line)
    if not m:
        continue
    if ":(" in m.group(2):
        section = (m.group(2), int(m.group(1), 16)) if ":(.text" in m.group(2) else None
    elif section and m.group(2) in ran:
        sections.setdefault(m.group(2), set()).add(section)
# A section is hot already if a function defined nowhere else in it ran.
hot = set(next(iter(copies)) for copies in sections.values() if len(copies) == 1)
# The rest of a name's copies may bring at most 64 KiB of cold code forward: what one copy run
# from among the cold code costs, as the kernel maps 64 KiB around each page fault.
for name in sorted(sections):
    if sum(size for copy in sections[name] if copy not in hot for _, size in [copy]) <= 65536:
        print(name)
PY
echo "$(wc -l < "$order") functions in $order"
swift build -c release --static-swift-stdlib --product parkguardd --scratch-path .build-static 2>&1 | tail -1
strip -o "$work/parkguardd.stripped" "$daemon"
echo "stripped parkguardd: $(( $(stat -c %s "$work/parkguardd.stripped") / 1024 )) KiB"
