#!/usr/bin/env bash
# openclaw_review.sh: the ops entry point for the review gate (contract §6,
# docs/reviewgate.md).
#
# A thin wrapper over `openclaw-reviewgate`: every argument, stdin, stdout,
# stderr and the exit code pass through unchanged.
#   ops/openclaw_review.sh review [--base REV] [--head REV] [--engine codex] [--commit] [--simulate]
#                                        # review the range from approved code, sign and
#                                        # (--commit) commit the verdict
#   ops/openclaw_review.sh bundle --base REV [--head REV] [--max-bytes N] [--out FILE]
#                                        # what the reviewer is shown, deterministic
#   ops/openclaw_review.sh verify --rev REV [--allowed-signers FILE] [--repo DIR] [--format json]
#                                        # does REV carry a valid verdict for its own content
#   ops/openclaw_review.sh hook pre-push REMOTE URL
#                                        # what the installed pre-push hook runs (stdin: git's refs)
#   ops/openclaw_review.sh install-hook [--repo DIR]
#                                        # install the pre-push hook, chaining an existing one
#
# Exit codes (the binary's): 0 approved / valid / written / push allowed;
# 1 blocked / invalid / push blocked; 2 could not decide, including this
# wrapper not finding the binary.
#
# Environment: OPENCLAW_REVIEWGATE_BIN (binary to run; wins over PATH),
# OPENCLAW_REVIEWGATE_FALLBACK (default /usr/local/bin/openclaw-reviewgate);
# the binary reads OPENCLAW_ALLOWED_SIGNERS, OPENCLAW_REVIEW_SIGNING_KEY (by
# name, through the secrets store), OPENCLAW_REVIEW_GENESIS.
set -euo pipefail

# Pure bash from here on: the wrapper needs no external command to find its tool.
here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here="."
# shellcheck source=ops/lib/exec_tool.sh
source "$here/lib/exec_tool.sh" || {
  printf '%s: cannot load %s/lib/exec_tool.sh (run the wrapper from its ops/ directory, not through a symlink elsewhere)\n' "${0##*/}" "$here" >&2
  exit 2
}
exec_tool openclaw-reviewgate OPENCLAW_REVIEWGATE "$@"
