# shellcheck shell=bash
# Shared harness for ops/tests/*_selftest.sh: sourced, never run.
# Each case prints `ok - <name>` or `not ok - <name>` (with `#   ` detail
# lines); `summary` prints the closing `N passed, M failed` line CI reads.

passed=0
failed=0
ok() { printf 'ok - %s\n' "$1"; passed=$((passed + 1)); }
not_ok() {
  printf 'not ok - %s\n' "$1"
  shift
  local line
  for line in "$@"; do printf '#   %s\n' "$line"; done
  failed=$((failed + 1))
}
skip() { printf 'skip - %s\n' "$1"; }
summary() { printf '%d passed, %d failed\n' "$passed" "$failed"; }
