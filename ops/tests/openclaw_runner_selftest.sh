#!/usr/bin/env bash
# Hermetic self-test of ops/openclaw_runner.sh.
#
# Runs the real wrapper against stub `openclaw-runner` executables in a temp
# directory, under `env -i` with PATH limited to the stubs and a directory
# holding only `bash`. Every run points OPENCLAW_RUNNER_FALLBACK inside the
# temp directory, so an installed binary is never run. When a built
# target/debug/openclaw-runner exists, more cases run it through the
# wrapper to check its refusals (a missing or group-writable allowlist, a
# dash-led SHA); it never gets as far as a fetch. No network, no real
# secrets, no root needed.
#
# Prints `ok - …`/`not ok - …`/`skip - …`, then `N passed, M failed`.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wrapper="$here/../openclaw_runner.sh"
real_bin="$here/../../target/debug/openclaw-runner"

# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

# shellcheck source=ops/tests/wrapper_lib.sh
source "$here/wrapper_lib.sh"
wrapper_setup openclaw-runner OPENCLAW_RUNNER OPENCLAW_RUNNER_SECRET

# --- exit codes and output ----------------------------------------------------

wrapper_exit_cases list

# --- argv passthrough ---------------------------------------------------------

# shellcheck disable=SC2016 # the $ and backticks must reach the binary as is
args=(run --job selftest --repo app --sha --upload-pack=x --param 'target=a b' '' '*' '$HOME' '`id`' $'new\nline' -- -)
run OPENCLAW_RUNNER_BIN="$explicit" -- "${args[@]}"
if [[ $rc -eq 0 ]] && argv_is "${args[@]}"; then
  ok "arguments (spaces, an empty one, globs, \$, newlines, --) arrive unchanged and in order"
else
  not_ok "arguments (spaces, an empty one, globs, \$, newlines, --) arrive unchanged and in order" \
    "rc=$rc argv: $(tr '\0' '|' <"$tmp/rec/argv" 2>/dev/null)"
fi

run OPENCLAW_RUNNER_BIN="$explicit" -- --config /x.toml list --limit 3 --format json --state-dir /s --audit-log /a.jsonl
if [[ $rc -eq 0 ]] && argv_is --config /x.toml list --limit 3 --format json --state-dir /s --audit-log /a.jsonl; then
  ok "--config, list and the shared path flags pass through"
else
  not_ok "--config, list and the shared path flags pass through" "rc=$rc"
fi

run OPENCLAW_RUNNER_BIN="$explicit" --
if [[ $rc -eq 0 ]] && argv_is; then
  ok "no arguments give the binary no arguments"
else
  not_ok "no arguments give the binary no arguments" "rc=$rc"
fi

# --- secrets stay out of argv -----------------------------------------------------

run OPENCLAW_RUNNER_BIN="$explicit" OPENCLAW_RUNNER_SECRET="$canary" -- list
if [[ $rc -eq 0 && "$(cat "$tmp/rec/token")" == "$canary" ]] && argv_is list \
  && ! grep -qF "$canary" "$tmp/out" "$tmp/err"; then
  ok "a secret in the environment reaches the binary there (which clears it for jobs), never in argv or the output"
else
  not_ok "a secret in the environment reaches the binary there (which clears it for jobs), never in argv or the output" "rc=$rc"
fi

# --- lookup, and exec in the same process (so a SIGTERM reaches the binary) ----

wrapper_lookup_cases list

# --- the real binary's refusals, through the wrapper ---------------------------

if [[ -x "$real_bin" ]]; then
  mkdir -p "$tmp/etc"
  chmod 0700 "$tmp/etc"
  real_env=(OPENCLAW_RUNNER_BIN="$real_bin" OPENCLAW_CONFIG="$tmp/openclaw.toml"
    OPENCLAW_SECRETS_DIR="$tmp/secrets" OPENCLAW_STATE_DIR="$tmp/state"
    OPENCLAW_ARTIFACTS_ROOT="$tmp/state/artifacts" OPENCLAW_AUDIT_LOG="$tmp/state/audit.jsonl"
    OPENCLAW_RUN_DIR="$tmp/run" OPENCLAW_RUNNER_CONFIG="$tmp/etc/runner.toml")
  : >"$tmp/openclaw.toml"
  run "${real_env[@]}" -- run --job selftest --repo app --sha "$(printf 'a%.0s' {1..40})"
  if [[ $rc -eq 2 ]] && grep -q 'refusing the allowlist' "$tmp/err" && [[ ! -e "$tmp/state/runner" ]]; then
    ok "real binary: no allowlist, nothing runs (exit 2)"
  else
    not_ok "real binary: no allowlist, nothing runs (exit 2)" "rc=$rc" "stderr: $(cat "$tmp/err")"
  fi
  printf '[[job]]\nname = "selftest"\nargv = ["%s"]\ntimeout_sec = 5\nrequires_repo = false\n' "$bash_path" >"$tmp/etc/runner.toml"
  chmod 0660 "$tmp/etc/runner.toml"
  run "${real_env[@]}" -- check-config
  if [[ $rc -eq 2 ]] && grep -q 'writable' "$tmp/err"; then
    ok "real binary: a group-writable allowlist is refused (exit 2)"
  else
    not_ok "real binary: a group-writable allowlist is refused (exit 2)" "rc=$rc" "stderr: $(cat "$tmp/err")"
  fi
  chmod 0600 "$tmp/etc/runner.toml"
  printf 'surprise = 1\n' >>"$tmp/etc/runner.toml"
  run "${real_env[@]}" -- check-config
  # shellcheck disable=SC2016 # the backticks are part of the binary's message
  if [[ $rc -eq 2 ]] && grep -q 'runner.toml:6:1: unknown field `surprise`' "$tmp/err"; then
    ok "real binary: an unknown key is refused with file:line:column (exit 2)"
  else
    not_ok "real binary: an unknown key is refused with file:line:column (exit 2)" "rc=$rc" "stderr: $(cat "$tmp/err")"
  fi
else
  skip "real binary cases (no target/debug/openclaw-runner; cargo build -p openclaw-runner)"
fi

summary
[[ $failed -eq 0 ]]
