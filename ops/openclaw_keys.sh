#!/usr/bin/env bash
# openclaw_keys.sh: the ops entry point for key handling (contract §3).
#
# A thin wrapper over `openclaw-keyctl`: every argument, stdin (where new
# values arrive), stdout, stderr and the exit code pass through unchanged.
# Never pass a key as an argument; pipe it:
#   ops/openclaw_keys.sh set PUSHOVER_APP_TOKEN < /path/to/token
#   ops/openclaw_keys.sh status
#   ops/openclaw_keys.sh exec --key OPENAI_API_KEY -- some-command
#
# Exit codes (the binary's): 0 clean; 1 a key missing/unsafe or a leak found;
# 2 could not decide, including this wrapper not finding the binary.
# `exec` passes the child's exit code through.
#
# Environment: OPENCLAW_KEYCTL_BIN (binary to run; wins over PATH),
# OPENCLAW_KEYCTL_FALLBACK (default /usr/local/bin/openclaw-keyctl).
set -euo pipefail

# Pure bash from here on: the wrapper needs no external command to find its tool.
here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here="."
# shellcheck source=ops/lib/exec_tool.sh
source "$here/lib/exec_tool.sh" || {
  printf '%s: cannot load %s/lib/exec_tool.sh (run the wrapper from its ops/ directory, not through a symlink elsewhere)\n' "${0##*/}" "$here" >&2
  exit 2
}
exec_tool openclaw-keyctl OPENCLAW_KEYCTL "$@"
