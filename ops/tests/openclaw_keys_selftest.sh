#!/usr/bin/env bash
# Hermetic self-test of ops/openclaw_keys.sh with a stub openclaw-keyctl:
# no network, no real secrets, no root. Prints `ok - …`/`not ok - …` and
# closes with `N passed, M failed`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wrapper="$here/../openclaw_keys.sh"
# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/openclaw_keys_selftest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
canary="sk-selftest-canary-$$-do-not-leak"

# The stub records its argv (one per line) and its stdin, and exits $STUB_EXIT.
cat >"$tmp/bin/openclaw-keyctl" <<STUB
#!$(type -P bash)
printf '%s\n' "\$@" >"$tmp/argv"
cat >"$tmp/stdin"
exit "\${STUB_EXIT:-0}"
STUB
chmod +x "$tmp/bin/openclaw-keyctl"

bash_bin="$(type -P bash)"
keys() { PATH="$tmp/bin:/usr/bin:/bin" "$wrapper" "$@"; }

printf '%s' "$canary" | keys set PUSHOVER_APP_TOKEN && rc=0 || rc=$?
if [[ $rc -eq 0 && "$(cat "$tmp/stdin")" == "$canary" ]] && ! grep -q "$canary" "$tmp/argv"; then
  ok "a value piped to set reaches the binary on stdin, never in argv"
else
  not_ok "a value piped to set reaches the binary on stdin, never in argv" "rc=$rc"
fi

for code in 0 1 2 7; do
  STUB_EXIT=$code keys exec --key OPENAI_API_KEY -- true </dev/null && rc=0 || rc=$?
  if [[ $rc -eq $code ]]; then ok "exit code $code passes through"; else not_ok "exit code $code passes through" "got $rc"; fi
done

keys status "two words" "" </dev/null
printf '%s\n' status "two words" "" >"$tmp/expected"
if cmp -s "$tmp/argv" "$tmp/expected"; then
  ok "arguments arrive unchanged, including spaces and an empty one"
else
  not_ok "arguments arrive unchanged, including spaces and an empty one" "$(cat "$tmp/argv")"
fi

mkdir -p "$tmp/empty"
out="$(PATH="$tmp/empty" OPENCLAW_KEYCTL_FALLBACK="$tmp/nope" "$bash_bin" "$wrapper" status 2>"$tmp/err" </dev/null)" && rc=0 || rc=$?
if [[ $rc -eq 2 && -z "$out" ]] && grep -q "openclaw-keyctl not found" "$tmp/err"; then
  ok "no binary anywhere: exit 2 with the message on stderr"
else
  not_ok "no binary anywhere: exit 2 with the message on stderr" "rc=$rc"
fi

OPENCLAW_KEYCTL_BIN="$tmp/bin/openclaw-keyctl" PATH="$tmp/empty" "$bash_bin" "$wrapper" status </dev/null && rc=0 || rc=$?
if [[ $rc -eq 0 ]]; then ok "OPENCLAW_KEYCTL_BIN is honoured"; else not_ok "OPENCLAW_KEYCTL_BIN is honoured" "rc=$rc"; fi

summary
[[ $failed -eq 0 ]]
