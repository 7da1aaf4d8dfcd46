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

readonly me="openclaw_doctor.sh"

# True when $1 is a regular file (after symlinks) that we may execute.
is_runnable() {
  [[ -n "$1" && -f "$1" && -x "$1" ]]
}

bin=""
if [[ -n "${OPENCLAW_DOCTOR_BIN:-}" ]]; then
  if is_runnable "$OPENCLAW_DOCTOR_BIN"; then
    bin="$OPENCLAW_DOCTOR_BIN"
  else
    printf '%s: OPENCLAW_DOCTOR_BIN=%q is not an executable file; ignoring it\n' \
      "$me" "$OPENCLAW_DOCTOR_BIN" >&2
  fi
fi
if [[ -z "$bin" ]]; then
  # `type -P` finds only files on PATH: no functions, aliases or builtins.
  bin="$(type -P openclaw-doctor || true)"
  is_runnable "$bin" || bin=""
fi
if [[ -z "$bin" ]]; then
  fallback="${OPENCLAW_DOCTOR_FALLBACK:-/usr/local/bin/openclaw-doctor}"
  is_runnable "$fallback" && bin="$fallback"
fi
if [[ -z "$bin" ]]; then
  printf '%s: openclaw-doctor not found (set OPENCLAW_DOCTOR_BIN or install it to /usr/local/bin)\n' "$me" >&2
  exit 2
fi
# A name without a slash would make exec search PATH instead of running the
# file that was just checked.
[[ "$bin" == */* ]] || bin="./$bin"

exec "$bin" "$@"
