#!/usr/bin/env bash
# Hermetic self-test of ops/openclaw_console.sh.
#
# Runs the real wrapper against stub `openclaw-console` executables in a temp
# directory, under `env -i` with PATH limited to the stubs and a directory
# holding only `bash`. Every run points OPENCLAW_CONSOLE_FALLBACK inside the
# temp directory, so an installed binary is never run. When a built
# target/debug/openclaw-console exists, two more cases run it through the
# wrapper to check its refusals (no token, non-loopback address); it never
# gets far enough to listen. No network, no real secrets, no root needed.
#
# Prints `ok - …`/`not ok - …`/`skip - …`, then `N passed, M failed`.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wrapper="$here/../openclaw_console.sh"
real_bin="$here/../../target/debug/openclaw-console"

# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

# shellcheck source=ops/tests/wrapper_lib.sh
source "$here/wrapper_lib.sh"
wrapper_setup openclaw-console OPENCLAW_CONSOLE OPENCLAW_CONSOLE_TOKEN

# --- exit codes and output ----------------------------------------------------

wrapper_exit_cases serve

# --- argv passthrough ---------------------------------------------------------

# shellcheck disable=SC2016 # the $ and backticks must reach the binary as is
args=(serve --listen 127.0.0.1:8787 --registry '/etc/openclaw/console actions.toml'
  --public-hostname box.tailnet.ts.net '' '*' '$HOME' '`id`' $'new\nline' -- -)
run OPENCLAW_CONSOLE_BIN="$explicit" -- "${args[@]}"
if [[ $rc -eq 0 ]] && argv_is "${args[@]}"; then
  ok "arguments (spaces, an empty one, globs, \$, newlines, --) arrive unchanged and in order"
else
  not_ok "arguments (spaces, an empty one, globs, \$, newlines, --) arrive unchanged and in order" \
    "rc=$rc argv: $(tr '\0' '|' <"$tmp/rec/argv" 2>/dev/null)"
fi

run OPENCLAW_CONSOLE_BIN="$explicit" -- check-registry --registry /x.toml --format json --state-dir /s --audit-log /a.jsonl
if [[ $rc -eq 0 ]] && argv_is check-registry --registry /x.toml --format json --state-dir /s --audit-log /a.jsonl; then
  ok "check-registry and the shared path flags pass through"
else
  not_ok "check-registry and the shared path flags pass through" "rc=$rc"
fi

run OPENCLAW_CONSOLE_BIN="$explicit" --
if [[ $rc -eq 0 ]] && argv_is; then
  ok "no arguments give the binary no arguments"
else
  not_ok "no arguments give the binary no arguments" "rc=$rc"
fi

# --- the token stays out of argv -------------------------------------------------

run OPENCLAW_CONSOLE_BIN="$explicit" OPENCLAW_CONSOLE_TOKEN="$canary" -- serve
if [[ $rc -eq 0 && "$(cat "$tmp/rec/token")" == "$canary" ]] && argv_is serve \
  && ! grep -qF "$canary" "$tmp/out" "$tmp/err"; then
  ok "a token in the environment reaches the binary there, never in argv or the output"
else
  not_ok "a token in the environment reaches the binary there, never in argv or the output" "rc=$rc"
fi

if ! grep -Eiq 'token[^ ]*=|--token' "$wrapper"; then
  ok "the wrapper never builds a token argument"
else
  not_ok "the wrapper never builds a token argument" "$(grep -Ein 'token[^ ]*=|--token' "$wrapper")"
fi

# --- lookup, and exec in the same process (so a SIGTERM reaches the binary) ----

wrapper_lookup_cases serve

# --- the real binary's refusals, through the wrapper ---------------------------

if [[ -x "$real_bin" ]]; then
  real_env=(OPENCLAW_CONSOLE_BIN="$real_bin" OPENCLAW_CONFIG="$tmp/openclaw.toml"
    OPENCLAW_SECRETS_DIR="$tmp/secrets" OPENCLAW_STATE_DIR="$tmp/state"
    OPENCLAW_ARTIFACTS_ROOT="$tmp/state/artifacts" OPENCLAW_AUDIT_LOG="$tmp/state/audit.jsonl"
    OPENCLAW_RUN_DIR="$tmp/run")
  : >"$tmp/openclaw.toml"
  run "${real_env[@]}" -- serve --listen 127.0.0.1:1
  if [[ $rc -eq 2 ]] && grep -q 'refusing to start without a console token (OPENCLAW_CONSOLE_TOKEN)' "$tmp/err"; then
    ok "real binary: no token, no start (exit 2)"
  else
    not_ok "real binary: no token, no start (exit 2)" "rc=$rc" "stderr: $(cat "$tmp/err")"
  fi
  run "${real_env[@]}" OPENCLAW_CONSOLE_TOKEN="$canary" -- serve --listen 0.0.0.0:8787
  if [[ $rc -eq 2 ]] && grep -q 'loopback only' "$tmp/err" && ! grep -qF "$canary" "$tmp/out" "$tmp/err"; then
    ok "real binary: a wildcard listen address is refused (exit 2), the token never printed"
  else
    not_ok "real binary: a wildcard listen address is refused (exit 2), the token never printed" "rc=$rc" "stderr: $(cat "$tmp/err")"
  fi
else
  skip "real binary cases (no target/debug/openclaw-console; cargo build -p openclaw-console)"
fi

summary
[[ $failed -eq 0 ]]
