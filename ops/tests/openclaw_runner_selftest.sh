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

tmp="$(mktemp -d "${TMPDIR:-/tmp}/openclaw_runner_selftest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

bash_path="$(type -P bash)"
sysbin="$tmp/sysbin"
mkdir -p "$sysbin" "$tmp/home" "$tmp/cwd" "$tmp/rec" "$tmp/empty"
ln -s "$bash_path" "$sysbin/bash"
: >"$tmp/cwd/a-file"
missing="$tmp/does-not-exist/openclaw-runner"
canary="selftest-runner-secret-$$-do-not-leak-0123456789"

# make_stub DIR ID: DIR/openclaw-runner records its id and pid, argc, argv
# (NUL-separated), the canary variable of its environment, then prints a
# line on stdout and stderr and exits $STUB_EXIT (default 0). Builtins only.
# (The "token" file records a canary variable, which the wrapper must leave
# in the environment and never turn into an argument.)
make_stub() {
  local dir="$1" id="$2"
  mkdir -p "$dir"
  {
    printf '#!%s\n' "$bash_path"
    printf 'rec=%q\n' "$tmp/rec"
    printf 'id=%q\n' "$id"
    cat <<'STUB'
printf '%s %s\n' "$id" "$$" >"$rec/ran"
printf '%s\n' "$#" >"$rec/argc"
: >"$rec/argv"
if (($#)); then printf '%s\0' "$@" >"$rec/argv"; fi
printf '%s' "${OPENCLAW_RUNNER_SECRET-<unset>}" >"$rec/token"
printf 'stub %s stdout\n' "$id"
printf 'stub %s stderr\n' "$id" >&2
exit "${STUB_EXIT:-0}"
STUB
  } >"$dir/openclaw-runner"
  chmod 0755 "$dir/openclaw-runner"
}

make_stub "$tmp/explicit" explicit
make_stub "$tmp/onpath" onpath
explicit="$tmp/explicit/openclaw-runner"

# run [VAR=value ...] -- [ARG ...]: the wrapper from $tmp/cwd with a scrubbed
# environment plus the assignments. Sets rc; output in $tmp/out, $tmp/err.
rc=0
run() {
  local -a assigns=()
  while [[ "$1" != -- ]]; do
    assigns+=("$1")
    shift
  done
  shift
  rm -f "$tmp/rec/"*
  rc=0
  (
    cd "$tmp/cwd"
    exec env -i PATH="$sysbin" HOME="$tmp/home" OPENCLAW_RUNNER_FALLBACK="$missing" "${assigns[@]}" \
      "$wrapper" "$@"
  ) </dev/null >"$tmp/out" 2>"$tmp/err" || rc=$?
}
ran_id() { [[ -f "$tmp/rec/ran" ]] && read -r id _ <"$tmp/rec/ran" && printf '%s' "$id"; }
argv_is() {
  local -a got=()
  [[ -f "$tmp/rec/argv" ]] && mapfile -d '' -t got <"$tmp/rec/argv"
  [[ "$(cat "$tmp/rec/argc" 2>/dev/null)" == "$#" && ${#got[@]} -eq $# ]] || return 1
  local i=0 a
  for a in "$@"; do
    [[ "${got[i]}" == "$a" ]] || return 1
    i=$((i + 1))
  done
}

# --- exit codes and output ----------------------------------------------------

for code in 0 1 2 143; do
  run STUB_EXIT="$code" OPENCLAW_RUNNER_BIN="$explicit" -- list
  if [[ $rc -eq $code && "$(ran_id)" == explicit ]]; then
    ok "exit code $code passes through"
  else
    not_ok "exit code $code passes through" "rc=$rc ran=$(ran_id)" "stderr: $(cat "$tmp/err")"
  fi
done

run STUB_EXIT=2 OPENCLAW_RUNNER_BIN="$explicit" -- show x
if [[ "$(cat "$tmp/out")" == "stub explicit stdout" && "$(cat "$tmp/err")" == "stub explicit stderr" ]]; then
  ok "stdout and stderr are the binary's own, with nothing added"
else
  not_ok "stdout and stderr are the binary's own, with nothing added" "stdout: $(cat "$tmp/out")" "stderr: $(cat "$tmp/err")"
fi

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

# --- lookup ----------------------------------------------------------------------

run OPENCLAW_RUNNER_BIN="$explicit" PATH="$tmp/onpath:$sysbin" --
if [[ $rc -eq 0 && "$(ran_id)" == explicit ]]; then
  ok "OPENCLAW_RUNNER_BIN wins over PATH"
else
  not_ok "OPENCLAW_RUNNER_BIN wins over PATH" "rc=$rc ran=$(ran_id)"
fi

run PATH="$tmp/onpath:$sysbin" --
if [[ $rc -eq 0 && "$(ran_id)" == onpath ]]; then
  ok "without OPENCLAW_RUNNER_BIN, the binary on PATH runs"
else
  not_ok "without OPENCLAW_RUNNER_BIN, the binary on PATH runs" "rc=$rc ran=$(ran_id)"
fi

run OPENCLAW_RUNNER_BIN="$missing" PATH="$tmp/onpath:$sysbin" --
if [[ $rc -eq 0 && "$(ran_id)" == onpath ]] && grep -q 'OPENCLAW_RUNNER_BIN=.*is not an executable file' "$tmp/err"; then
  ok "an unusable OPENCLAW_RUNNER_BIN is reported, then PATH is used"
else
  not_ok "an unusable OPENCLAW_RUNNER_BIN is reported, then PATH is used" "rc=$rc" "stderr: $(cat "$tmp/err")"
fi

run -- list
if [[ $rc -eq 2 && ! -s "$tmp/out" && ! -e "$tmp/rec/ran" ]] \
  && [[ "$(cat "$tmp/err")" == 'openclaw_runner.sh: openclaw-runner not found (set OPENCLAW_RUNNER_BIN or install it to /usr/local/bin)' ]]; then
  ok "no binary anywhere: exit 2, one line on stderr, nothing on stdout"
else
  not_ok "no binary anywhere: exit 2, one line on stderr, nothing on stdout" "rc=$rc" "stderr: $(cat "$tmp/err")"
fi

# --- exec: same process, so systemd's or a terminal's SIGTERM reaches it --------

rm -f "$tmp/rec/"*
(
  cd "$tmp/cwd"
  exec env -i PATH="$sysbin" HOME="$tmp/home" OPENCLAW_RUNNER_FALLBACK="$missing" \
    OPENCLAW_RUNNER_BIN="$explicit" "$wrapper" list
) </dev/null >/dev/null 2>&1 &
pid=$!
rc=0
wait "$pid" || rc=$?
stub_pid=""
[[ -f "$tmp/rec/ran" ]] && read -r _ stub_pid <"$tmp/rec/ran"
if [[ $rc -eq 0 && "$stub_pid" == "$pid" ]]; then
  ok "the wrapper execs the binary (same process)"
else
  not_ok "the wrapper execs the binary (same process)" "wrapper pid=$pid, binary pid=${stub_pid:-none}"
fi

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
