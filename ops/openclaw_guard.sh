#!/usr/bin/env bash
# openclaw_guard.sh: the ops entry point for the guard's regression loop
# (contract §1, §6).
#
# A thin wrapper over `openclaw-guard`: every argument, stdout, stderr and the
# exit code pass through unchanged.
#   ops/openclaw_guard.sh run            # one tick: doctor, decide, notify, log
#   ops/openclaw_guard.sh run --dry-run  # decide only; no log, state, alert or audit
#   ops/openclaw_guard.sh status --format json
#   ops/openclaw_guard.sh fix ssh-tailnet-only|cups-localhost [--verify] [--dry-run]
#                                        # one remediation by hand (--verify: only check that
#                                        # it is in place; --dry-run: print what would change)
#   ops/openclaw_guard.sh confirm        # keep the last fix: disarm its dead-man rollback
#   ops/openclaw_guard.sh rollback       # undo the pending fix (what the dead-man timer runs)
#
# Exit codes (the binary's): 0 the doctor passes; 1 findings remain; 2 the
# guard could not run, including this wrapper not finding the binary.
#
# Environment: OPENCLAW_GUARD_BIN (binary to run; wins over PATH),
# OPENCLAW_GUARD_FALLBACK (default /usr/local/bin/openclaw-guard).
set -euo pipefail

# Pure bash from here on: the wrapper needs no external command to find its tool.
here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here="."
# shellcheck source=ops/lib/exec_tool.sh
source "$here/lib/exec_tool.sh" || {
  printf '%s: cannot load %s/lib/exec_tool.sh (run the wrapper from its ops/ directory, not through a symlink elsewhere)\n' "${0##*/}" "$here" >&2
  exit 2
}
exec_tool openclaw-guard OPENCLAW_GUARD "$@"
