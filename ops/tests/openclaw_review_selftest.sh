#!/usr/bin/env bash
# Hermetic self-test of ops/openclaw_review.sh with a stub openclaw-reviewgate:
# no network, no root, nothing on the host touched. Prints `ok - …`/`not ok -
# …` and closes with `N passed, M failed`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wrapper="$here/../openclaw_review.sh"
# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/openclaw_review_selftest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/empty"

# The stub records its argv (one per line) and its stdin, and exits $STUB_EXIT.
cat >"$tmp/bin/openclaw-reviewgate" <<STUB
#!$(type -P bash)
printf '%s\n' "\$@" >"$tmp/argv"
/bin/cat >"$tmp/stdin"
echo "stub stdout"
exit "\${STUB_EXIT:-0}"
STUB
chmod +x "$tmp/bin/openclaw-reviewgate"

bash_bin="$(type -P bash)"
review() { PATH="$tmp/bin:/usr/bin:/bin" "$wrapper" "$@"; }

for code in 0 1 2; do
  STUB_EXIT=$code review verify --rev HEAD </dev/null >/dev/null && rc=0 || rc=$?
  if [[ $rc -eq $code ]]; then ok "exit code $code passes through"; else not_ok "exit code $code passes through" "got $rc"; fi
done

out="$(review verify --rev 'origin/main' --allowed-signers '/etc/openclaw/allowed signers' --format json </dev/null)"
printf '%s\n' verify --rev origin/main --allowed-signers '/etc/openclaw/allowed signers' --format json >"$tmp/expected"
if cmp -s "$tmp/argv" "$tmp/expected" && [[ "$out" == "stub stdout" ]]; then
  ok "arguments (spaces included) and stdout pass through unchanged"
else
  not_ok "arguments (spaces included) and stdout pass through unchanged" "$(cat "$tmp/argv")"
fi

# The pre-push hook reads git's ref lines on stdin: they must reach the binary.
refs="refs/heads/main 1111111111111111111111111111111111111111 refs/heads/main 2222222222222222222222222222222222222222"
printf '%s\n' "$refs" | review hook pre-push origin git@example.invalid:o/r.git >/dev/null && rc=0 || rc=$?
if [[ $rc -eq 0 && "$(cat "$tmp/stdin")" == "$refs" && "$(sed -n 1,2p "$tmp/argv")" == $'hook\npre-push' ]]; then
  ok "hook pre-push: stdin passes through"
else
  not_ok "hook pre-push: stdin passes through" "rc=$rc" "$(cat "$tmp/stdin")"
fi

out="$(PATH="$tmp/empty" OPENCLAW_REVIEWGATE_FALLBACK="$tmp/nope" "$bash_bin" "$wrapper" verify --rev HEAD 2>"$tmp/err" </dev/null)" && rc=0 || rc=$?
if [[ $rc -eq 2 && -z "$out" ]] && grep -q "openclaw-reviewgate not found" "$tmp/err"; then
  ok "no binary anywhere: exit 2 with the message on stderr"
else
  not_ok "no binary anywhere: exit 2 with the message on stderr" "rc=$rc"
fi

OPENCLAW_REVIEWGATE_BIN="$tmp/bin/openclaw-reviewgate" PATH="$tmp/empty" "$bash_bin" "$wrapper" install-hook </dev/null >/dev/null && rc=0 || rc=$?
if [[ $rc -eq 0 && "$(cat "$tmp/argv")" == install-hook ]]; then ok "OPENCLAW_REVIEWGATE_BIN is honoured"; else not_ok "OPENCLAW_REVIEWGATE_BIN is honoured" "rc=$rc"; fi

OPENCLAW_REVIEWGATE_BIN="$tmp/nope" OPENCLAW_REVIEWGATE_FALLBACK="$tmp/bin/openclaw-reviewgate" PATH="$tmp/empty" \
  "$bash_bin" "$wrapper" bundle --base HEAD~1 </dev/null >/dev/null 2>"$tmp/err" && rc=0 || rc=$?
if [[ $rc -eq 0 ]] && grep -q "OPENCLAW_REVIEWGATE_BIN=.* is not an executable file" "$tmp/err"; then
  ok "a bad OPENCLAW_REVIEWGATE_BIN is warned about and the fallback runs"
else
  not_ok "a bad OPENCLAW_REVIEWGATE_BIN is warned about and the fallback runs" "rc=$rc" "$(cat "$tmp/err")"
fi

summary
