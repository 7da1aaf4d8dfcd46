#!/usr/bin/env bash
# Hermetic self-test of ops/openclaw_notify.sh with a stub openclaw-notify:
# no network, no real keys, no root. Checks that the reference interface
# (--priority, --title, --rate-key, --test, --dry-run, message) maps onto
# the binary's arguments exactly. Prints `ok - …`/`not ok - …` and closes
# with `N passed, M failed`. (The wrapper against the real binary and a
# fake Pushover is covered by notifier/tests.)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wrapper="$here/../openclaw_notify.sh"
# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/openclaw_notify_selftest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"

# The stub records its argv (one per line) and its stdin, and exits $STUB_EXIT.
cat >"$tmp/bin/openclaw-notify" <<STUB
#!$(type -P bash)
printf '%s\n' "\$@" >"$tmp/argv"
cat >"$tmp/stdin"
exit "\${STUB_EXIT:-0}"
STUB
chmod +x "$tmp/bin/openclaw-notify"

notify() { rm -f "$tmp/argv"; PATH="$tmp/bin:/usr/bin:/bin" "$wrapper" "$@"; }

# expect_argv NAME EXPECTED_ARG... : the stub's recorded argv equals the list.
expect_argv() {
  local name="$1"
  shift
  printf '%s\n' "$@" >"$tmp/expected"
  if [[ -f "$tmp/argv" ]] && cmp -s "$tmp/argv" "$tmp/expected"; then
    ok "$name"
  else
    not_ok "$name" "got: $(tr '\n' ' ' <"$tmp/argv" 2>/dev/null || echo '(not run)')" "want: $*"
  fi
}

notify --priority high --title "Doctor" --rate-key doctor_fail "2 checks failed" </dev/null
expect_argv "reference flags map to send --check-id/--priority/--title" \
  send --check-id=doctor_fail --priority=high --title=Doctor -- "2 checks failed"

notify "plain message" </dev/null
expect_argv "defaults: priority normal, title OpenClaw, key ops-notify" \
  send --check-id=ops-notify --priority=normal --title=OpenClaw -- "plain message"

notify first second </dev/null 2>"$tmp/err"
expect_argv "the last positional argument is the message" \
  send --check-id=ops-notify --priority=normal --title=OpenClaw -- second
if grep -q "several messages" "$tmp/err"; then ok "several messages warn on stderr"; else not_ok "several messages warn on stderr"; fi

notify --title "--- DISK ---" --rate-key "-odd" "m" </dev/null
expect_argv "values starting with a dash stay values" \
  send --check-id=-odd --priority=normal "--title=--- DISK ---" -- m

notify --priority emergency --check-id guard_remediation_fail --resolved "fixed" </dev/null 2>"$tmp/err" || true
expect_argv "--check-id is an alias of --rate-key; --resolved passes through" \
  send --check-id=guard_remediation_fail --priority=emergency --title=OpenClaw --resolved -- fixed

notify --priority critical --dry-run -- "-5 degrees" </dev/null 2>"$tmp/err"
expect_argv "unknown priority is sent as normal; a message after -- may start with a dash" \
  send --check-id=ops-notify --priority=normal --title=OpenClaw --dry-run -- "-5 degrees"
if grep -q "unknown priority" "$tmp/err"; then ok "unknown priority warns on stderr"; else not_ok "unknown priority warns on stderr"; fi

notify --test </dev/null
expect_argv "--test runs the credential check" test
notify --test --dry-run </dev/null
expect_argv "--test --dry-run checks presence only" test --dry-run

printf 'from stdin' | notify --rate-key k -
if [[ "$(cat "$tmp/stdin")" == "from stdin" ]]; then
  expect_argv "message - reads stdin, which reaches the binary" send --check-id=k --priority=normal --title=OpenClaw -- -
else
  not_ok "message - reads stdin, which reaches the binary" "stdin: $(cat "$tmp/stdin")"
fi

for args in "--bogus x" "--priority" "--dry-run"; do
  # shellcheck disable=SC2086 # word splitting of the case is intended
  notify $args </dev/null >"$tmp/out" 2>"$tmp/err" && rc=0 || rc=$?
  if [[ $rc -eq 2 && ! -f "$tmp/argv" ]] && grep -q "usage:" "$tmp/err"; then
    ok "bad usage ($args): exit 2 with usage, binary not run"
  else
    not_ok "bad usage ($args): exit 2 with usage, binary not run" "rc=$rc"
  fi
done

notify --help >"$tmp/out" </dev/null && rc=0 || rc=$?
if [[ $rc -eq 0 && ! -f "$tmp/argv" ]] && grep -q "usage:" "$tmp/out"; then
  ok "--help prints usage on stdout, exit 0"
else
  not_ok "--help prints usage on stdout, exit 0" "rc=$rc"
fi

for code in 0 1 2; do
  STUB_EXIT=$code notify --rate-key k "m" </dev/null && rc=0 || rc=$?
  if [[ $rc -eq $code ]]; then ok "exit code $code passes through"; else not_ok "exit code $code passes through" "got $rc"; fi
done

mkdir -p "$tmp/empty"
bash_bin="$(type -P bash)"
PATH="$tmp/empty" OPENCLAW_NOTIFY_FALLBACK="$tmp/nope" "$bash_bin" "$wrapper" "m" </dev/null 2>"$tmp/err" && rc=0 || rc=$?
if [[ $rc -eq 2 ]] && grep -q "openclaw-notify not found" "$tmp/err"; then
  ok "no binary anywhere: exit 2 with the message on stderr"
else
  not_ok "no binary anywhere: exit 2 with the message on stderr" "rc=$rc"
fi

summary
