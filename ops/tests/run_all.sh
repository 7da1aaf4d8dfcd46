#!/usr/bin/env bash
# Runs every ops/tests/*_selftest.sh, shows each one's output, and ends with
# one total line `N passed, M failed` (summed from each test's closing
# `N passed, M failed` line).
#
# A self-test that exits non-zero while claiming no failures, or that ends
# without a summary line, counts as one failure of its own.
# Exit status: 0 when nothing failed, 1 otherwise.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/openclaw_run_all.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

total_passed=0
total_failed=0
shopt -s nullglob
tests=("$here"/*_selftest.sh)
if ((${#tests[@]} == 0)); then
  printf 'not ok - no *_selftest.sh found in %s\n' "$here"
  printf '0 passed, 1 failed\n'
  exit 1
fi

for t in "${tests[@]}"; do
  name="${t##*/}"
  printf '# %s\n' "$name"
  out_file="$tmp/$name.out"
  rc=0
  bash "$t" >"$out_file" 2>&1 </dev/null || rc=$?
  cat "$out_file"
  last="$(tail -n 1 "$out_file")"
  if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    p="${BASH_REMATCH[1]}"
    f="${BASH_REMATCH[2]}"
    if [[ $rc -ne 0 && $f -eq 0 ]]; then
      printf 'not ok - %s exited %d but reported no failures\n' "$name" "$rc"
      f=1
    fi
  else
    printf 'not ok - %s ended without a summary line (exit %d)\n' "$name" "$rc"
    p=0
    f=1
  fi
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
done

printf '%d passed, %d failed\n' "$total_passed" "$total_failed"
[[ $total_failed -eq 0 ]]
