#!/usr/bin/env bash
# openclaw_runner.sh: the ops entry point for the OpenClaw runner, which runs
# allowlisted jobs on a pinned, read-only worktree as an unprivileged uid and
# fails any job that changed the tree (contract §6: MUTATION_DETECTED).
#
# A thin wrapper over `openclaw-runner`: it finds the binary and execs it
# with every argument passed through unchanged, so stdin, stdout, stderr,
# signals and the exit code are the binary's own:
#   ops/openclaw_runner.sh run --job NAME --repo NAME --sha SHA [--param KEY=VALUE]... [--format human|json]
#   ops/openclaw_runner.sh show JOB_ID [--format human|json]
#   ops/openclaw_runner.sh list [--limit N] [--format human|json]
#   ops/openclaw_runner.sh check-config [--format human|json]
# plus --config FILE and the shared --secrets-dir/--state-dir/--artifacts-root/--audit-log.
#
# Exit codes (the binary's): 0 the job succeeded and the tree is clean;
# 1 the job failed, timed out or MUTATION_DETECTED; 2 refused before running
# (unknown job or repo, bad SHA, param not allowed, hostile allowlist) or the
# runner itself failed, including this wrapper not finding the binary.
#
# Environment: OPENCLAW_RUNNER_BIN (binary to run; wins over PATH),
# OPENCLAW_RUNNER_FALLBACK (default /usr/local/bin/openclaw-runner); the
# binary reads OPENCLAW_RUNNER_CONFIG, OPENCLAW_CONFIG, OPENCLAW_STATE_DIR,
# OPENCLAW_ARTIFACTS_ROOT, OPENCLAW_AUDIT_LOG, OPENCLAW_RUN_DIR. No variable
# of this environment reaches a job: the runner clears it.
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
exec_tool openclaw-runner OPENCLAW_RUNNER "$@"
