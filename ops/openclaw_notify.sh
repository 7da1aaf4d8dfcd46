#!/usr/bin/env bash
# openclaw_notify.sh: the ops entry point for Pushover alerts (contract §7).
#
# Keeps the reference interface of ai-ops-runner's ops/openclaw_notify.sh and
# runs `openclaw-notify` underneath:
#
#   ops/openclaw_notify.sh [--priority low|normal|high|emergency] [--title T]
#                          [--rate-key K | --check-id K] [--resolved]
#                          [--dry-run] [--test] [--] "message"
#
#   --rate-key K   the rate-limit key; it becomes `--check-id K`. One alert
#                  per key per 30 minutes (OPENCLAW_NOTIFY_RATE_LIMIT_SEC).
#                  Without it the key is `ops-notify`, so unkeyed callers
#                  share one window: give every caller its own key.
#   --test         validate the keys with Pushover (`openclaw-notify test`);
#                  with --dry-run only check they are present.
#   --resolved     the check recovered: one recovery message, window closed.
#   -h, --help     this text, exit 0.
#   The last positional argument is the message (a warning if there are
#   several: quote the message); `-` reads it from stdin.
#   An unknown priority word is sent as normal, with a warning (an alert is
#   never lost to a typo). The title defaults to "OpenClaw".
#
# Differences from the reference, on purpose: rate limiting is always on
# and keyed per check, state lives in the private state directory (never
# /tmp), emergency alerts carry retry/expire, failures are retried and
# queued, and bad usage exits 2 (the reference used 1).
#
# Exit codes (the binary's): 0 sent, dry run, rate-limited or queued (the
# output says which); 1 rejected by Pushover (4xx, quota); 2 bad usage,
# missing key, unusable state directory, or the binary not found.
#
# Environment: OPENCLAW_NOTIFY_BIN (binary to run; wins over PATH),
# OPENCLAW_NOTIFY_FALLBACK (default /usr/local/bin/openclaw-notify); the
# binary reads PUSHOVER_APP_TOKEN/PUSHOVER_USER_KEY (or their files),
# OPENCLAW_STATE_DIR, OPENCLAW_NOTIFY_API_BASE, OPENCLAW_NOTIFY_RATE_LIMIT_SEC.
# Keys never pass through this script's arguments.
set -euo pipefail

usage() {
  printf '%s\n' \
    "usage: ${0##*/} [--priority low|normal|high|emergency] [--title T] [--rate-key K] [--resolved] [--dry-run] [--test] [--] MESSAGE" \
    "       MESSAGE '-' reads stdin. Exit: 0 sent/dry-run/rate-limited/queued, 1 rejected, 2 usage or setup error." \
    "       See docs/notifier.md and openclaw-notify --help."
}

die_usage() {
  printf '%s: %s\n' "${0##*/}" "$1" >&2
  usage >&2
  exit 2
}

priority="normal"
title="OpenClaw"
key="ops-notify"
dry_run=()
resolved=()
test_mode=0
message=""
have_message=0

while (($# > 0)); do
  case "$1" in
    -h | --help)
      usage
      exit 0
      ;;
    --priority | --title | --rate-key | --check-id)
      (($# >= 2)) || die_usage "$1 needs a value"
      case "$1" in
        --priority) priority="$2" ;;
        --title) title="$2" ;;
        *) key="$2" ;;
      esac
      shift 2
      ;;
    --dry-run) dry_run=(--dry-run); shift ;;
    --resolved) resolved=(--resolved); shift ;;
    --test) test_mode=1; shift ;;
    --)
      shift
      if (($# > 0)); then
        # The last positional wins, as in the reference.
        message="${!#}"
        have_message=1
      fi
      break
      ;;
    -?*) die_usage "unknown option $1" ;;
    *)
      ((have_message)) && printf '%s: warning: several messages given; sending the last one, as the reference did (quote the message)\n' "${0##*/}" >&2
      message="$1"
      have_message=1
      shift
      ;;
  esac
done

case "$priority" in
  low | normal | high | emergency) ;;
  *)
    printf '%s: warning: unknown priority %q; sending as normal\n' "${0##*/}" "$priority" >&2
    priority="normal"
    ;;
esac

# Pure bash from here on: the wrapper needs no external command to find its tool.
here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here="."
# shellcheck source=ops/lib/exec_tool.sh
source "$here/lib/exec_tool.sh" || {
  printf '%s: cannot load %s/lib/exec_tool.sh (run the wrapper from its ops/ directory, not through a symlink elsewhere)\n' "${0##*/}" "$here" >&2
  exit 2
}

# `--flag=value` so a value starting with a dash is never read as a flag;
# `${a[@]+...}` so an empty array is fine under `set -u` on bash < 4.4.
if ((test_mode)); then
  exec_tool openclaw-notify OPENCLAW_NOTIFY test ${dry_run[@]+"${dry_run[@]}"}
fi
((have_message)) || die_usage "no message given"
exec_tool openclaw-notify OPENCLAW_NOTIFY send "--check-id=$key" "--priority=$priority" "--title=$title" \
  ${resolved[@]+"${resolved[@]}"} ${dry_run[@]+"${dry_run[@]}"} -- "$message"
