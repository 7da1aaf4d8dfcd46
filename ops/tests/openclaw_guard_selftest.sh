#!/usr/bin/env bash
# Hermetic self-test of ops/openclaw_guard.sh with a stub openclaw-guard:
# no network, no root, nothing on the host touched. Prints `ok - …`/`not ok -
# …` and closes with `N passed, M failed`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wrapper="$here/../openclaw_guard.sh"
# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/openclaw_guard_selftest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/empty"

# The stub records its argv (one per line) and exits $STUB_EXIT.
cat >"$tmp/bin/openclaw-guard" <<STUB
#!$(type -P bash)
printf '%s\n' "\$@" >"$tmp/argv"
echo "stub stdout"
exit "\${STUB_EXIT:-0}"
STUB
chmod +x "$tmp/bin/openclaw-guard"

bash_bin="$(type -P bash)"
guard() { PATH="$tmp/bin:/usr/bin:/bin" "$wrapper" "$@"; }

for code in 0 1 2; do
  STUB_EXIT=$code guard run </dev/null >/dev/null && rc=0 || rc=$?
  if [[ $rc -eq $code ]]; then ok "exit code $code passes through"; else not_ok "exit code $code passes through" "got $rc"; fi
done

out="$(guard run --dry-run --format json </dev/null)"
printf '%s\n' run --dry-run --format json >"$tmp/expected"
if cmp -s "$tmp/argv" "$tmp/expected" && [[ "$out" == "stub stdout" ]]; then
  ok "arguments and stdout pass through unchanged"
else
  not_ok "arguments and stdout pass through unchanged" "$(cat "$tmp/argv")"
fi

out="$(PATH="$tmp/empty" OPENCLAW_GUARD_FALLBACK="$tmp/nope" "$bash_bin" "$wrapper" run 2>"$tmp/err" </dev/null)" && rc=0 || rc=$?
if [[ $rc -eq 2 && -z "$out" ]] && grep -q "openclaw-guard not found" "$tmp/err"; then
  ok "no binary anywhere: exit 2 with the message on stderr"
else
  not_ok "no binary anywhere: exit 2 with the message on stderr" "rc=$rc"
fi

OPENCLAW_GUARD_BIN="$tmp/bin/openclaw-guard" PATH="$tmp/empty" "$bash_bin" "$wrapper" status </dev/null >/dev/null && rc=0 || rc=$?
if [[ $rc -eq 0 ]]; then ok "OPENCLAW_GUARD_BIN is honoured"; else not_ok "OPENCLAW_GUARD_BIN is honoured" "rc=$rc"; fi

summary
