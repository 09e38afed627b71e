# shellcheck shell=bash
# Sourced by check-files.sh and install-test.sh: one PASS/FAIL/SKIP line per check and a closing
# summary. `check NAME COMMAND...` runs COMMAND quietly and passes when it exits 0; `pass`,
# `fail` and `skip` record a result decided by the caller.
passed=0 failed=0 skipped=0 failures=()
pass() { passed=$((passed + 1)); echo "PASS  $1"; }
fail() { failed=$((failed + 1)); failures+=("$1"); echo "FAIL  $1${2:+: $2}"; }
skip() { skipped=$((skipped + 1)); echo "SKIP  $1${2:+: $2}"; }
check() {
  local name=$1; shift
  local output
  if output=$("$@" 2>&1); then pass "$name"; else fail "$name" "$(echo "$output" | tail -3 | tr '\n' ' ')"; fi
}
# `expect NAME ACTUAL WANTED`: passes when the strings are equal.
expect() { if [[ $2 == "$3" ]]; then pass "$1 ($2)"; else fail "$1" "got '$2', want '$3'"; fi; }
summary() {
  local label=$1
  ((failed == 0)) || printf '%s: failed: %s\n' "$label" "$(IFS=';'; echo "${failures[*]}")"
  echo "$label: $passed passed, $failed failed, $skipped skipped"
  ((failed == 0))
}
