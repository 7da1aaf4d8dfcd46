#!/usr/bin/env bash
# openclaw_doctor.sh: the ops entry point for the OpenClaw posture audit.
#
# A thin wrapper over the `openclaw-doctor` binary: it finds the binary and
# execs it with every argument passed through unchanged, so stdin, stdout,
# stderr, signals and the exit code are the binary's own. All options
# (`--format human|json`, `--textfile PATH`, `--help`, ...) belong to the
# binary; see `openclaw-doctor --help` and docs/doctor.md.
#
# Exit codes (the binary's, passed through):
#   0  all checks passed
#   1  a check failed
#   2  the doctor could not run (bad usage, unreadable input, timeout),
#      including this wrapper not finding the binary
#
# Environment:
#   OPENCLAW_DOCTOR_BIN       path of the binary to run; wins over PATH. If it
#                             is set but not an executable file, a warning is
#                             printed and the search goes on.
#   OPENCLAW_DOCTOR_FALLBACK  last place looked, after PATH
#                             (default /usr/local/bin/openclaw-doctor)
#   Everything else (OPENCLAW_CONFIG, OPENCLAW_ARTIFACTS_ROOT, ...) is read
#   by the binary itself.
#
# The wrapper takes no secrets and prints nothing except its own two
# diagnostics below; it never echoes arguments or the environment.

set -euo pipefail

# Pure bash from here on: the wrapper needs no external command to find its tool.
here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here="."
# shellcheck source=ops/lib/exec_tool.sh
source "$here/lib/exec_tool.sh" || {
  printf '%s: cannot load %s/lib/exec_tool.sh (run the wrapper from its ops/ directory, not through a symlink elsewhere)\n' "${0##*/}" "$here" >&2
  exit 2
}
exec_tool openclaw-doctor OPENCLAW_DOCTOR "$@"
