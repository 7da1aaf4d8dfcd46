#!/usr/bin/env bash
# openclaw_console.sh: the ops entry point for the OpenClaw console, the
# loopback-only HTTP API that runs the registered actions (contract §2).
#
# A thin wrapper over `openclaw-console`: it finds the binary and execs it
# with every argument passed through unchanged, so stdin, stdout, stderr,
# signals (SIGTERM starts the graceful shutdown) and the exit code are the
# binary's own:
#   ops/openclaw_console.sh serve [--listen 127.0.0.1:8787] [--registry FILE]
#                                 [--public-hostname box.tailnet.ts.net]
#   ops/openclaw_console.sh check-registry [--registry FILE] [--format human|json]
# plus the shared --secrets-dir/--state-dir/--artifacts-root/--audit-log.
# As a service, use ops/systemd/openclaw-console.service (it runs the binary
# directly, as an unprivileged dynamic user).
#
# The token OPENCLAW_CONSOLE_TOKEN is never an argument: the binary resolves
# it itself (environment, keychain, systemd credential, then the 0600 file
# in the secrets directory). Create it with
#   ops/openclaw_keys.sh rotate OPENCLAW_CONSOLE_TOKEN
#
# Exit codes (the binary's): 0 served and shut down cleanly, or the registry
# is valid; 2 refused to start (no token, non-loopback address, bad config or
# registry, unusable audit log) or the registry is invalid, including this
# wrapper not finding the binary.
#
# Environment: OPENCLAW_CONSOLE_BIN (binary to run; wins over PATH),
# OPENCLAW_CONSOLE_FALLBACK (default /usr/local/bin/openclaw-console); the
# binary reads OPENCLAW_CONFIG, OPENCLAW_SECRETS_DIR, OPENCLAW_STATE_DIR,
# OPENCLAW_ARTIFACTS_ROOT, OPENCLAW_AUDIT_LOG, OPENCLAW_RUN_DIR.
# The wrapper prints nothing but its own diagnostics and never echoes
# arguments or the environment.
set -euo pipefail

# Pure bash from here on: the wrapper needs no external command to find its tool.
here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here="."
# shellcheck source=ops/lib/exec_tool.sh
source "$here/lib/exec_tool.sh" || {
  printf '%s: cannot load %s/lib/exec_tool.sh (run the wrapper from its ops/ directory, not through a symlink elsewhere)\n' "${0##*/}" "$here" >&2
  exit 2
}
exec_tool openclaw-console OPENCLAW_CONSOLE "$@"
