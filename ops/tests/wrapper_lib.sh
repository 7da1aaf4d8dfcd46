# shellcheck shell=bash
# The caller sets $wrapper and reads the globals set here ($canary, $explicit, …).
# shellcheck disable=SC2034,SC2154
# Shared harness for the self-tests of the thin wrappers over
# ops/lib/exec_tool.sh (ops/openclaw_console.sh, ops/openclaw_runner.sh):
# stub binaries, a scrubbed `run`, and the cases every such wrapper must
# pass. Sourced after lib.sh, never run.
#
# wrapper_setup TOOL PREFIX SECRET_VAR (with $wrapper set) makes a temp
# directory ($tmp, removed on exit) holding $sysbin (only bash), stubs of
# TOOL in $tmp/explicit ($explicit) and $tmp/onpath, $missing (a path that
# does not exist) and $canary. Each stub records its id and pid, argc, argv
# (NUL-separated) and the value of SECRET_VAR in its environment (the
# "token" file), prints a line on stdout and stderr and exits $STUB_EXIT
# (default 0). Builtins only.
#
# run [VAR=value ...] -- [ARG ...]: the wrapper from $tmp/cwd with a
# scrubbed environment (PREFIX_FALLBACK=$missing) plus the assignments.
# Sets rc; output in $tmp/out, $tmp/err. ran_id and argv_is read what the
# stub recorded.

wrapper_setup() {
  w_tool="$1"
  w_prefix="$2"
  w_secret_var="$3"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/${w_tool//-/_}_selftest.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  bash_path="$(type -P bash)"
  sysbin="$tmp/sysbin"
  mkdir -p "$sysbin" "$tmp/home" "$tmp/cwd" "$tmp/rec" "$tmp/empty"
  ln -s "$bash_path" "$sysbin/bash"
  : >"$tmp/cwd/a-file"
  missing="$tmp/does-not-exist/$w_tool"
  canary="selftest-${w_tool#openclaw-}-secret-$$-do-not-leak-0123456789"
  w_make_stub "$tmp/explicit" explicit
  w_make_stub "$tmp/onpath" onpath
  explicit="$tmp/explicit/$w_tool"
  rc=0
}

w_make_stub() {
  local dir="$1" id="$2"
  mkdir -p "$dir"
  {
    printf '#!%s\n' "$bash_path"
    printf 'rec=%q\n' "$tmp/rec"
    printf 'id=%q\n' "$id"
    printf 'secret_var=%q\n' "$w_secret_var"
    cat <<'STUB'
printf '%s %s\n' "$id" "$$" >"$rec/ran"
printf '%s\n' "$#" >"$rec/argc"
: >"$rec/argv"
if (($#)); then printf '%s\0' "$@" >"$rec/argv"; fi
printf '%s' "${!secret_var-<unset>}" >"$rec/token"
printf 'stub %s stdout\n' "$id"
printf 'stub %s stderr\n' "$id" >&2
exit "${STUB_EXIT:-0}"
STUB
  } >"$dir/$w_tool"
  chmod 0755 "$dir/$w_tool"
}

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
    cd "$tmp/cwd" || exit 2
    exec env -i PATH="$sysbin" HOME="$tmp/home" "${w_prefix}_FALLBACK=$missing" "${assigns[@]}" \
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

# wrapper_exit_cases ARG...: the binary's exit codes (0 1 2 143), stdout and
# stderr come back unchanged, with ARG... as the arguments.
wrapper_exit_cases() {
  local code
  for code in 0 1 2 143; do
    run STUB_EXIT="$code" "${w_prefix}_BIN=$explicit" -- "$@"
    if [[ $rc -eq $code && "$(ran_id)" == explicit ]]; then
      ok "exit code $code passes through"
    else
      not_ok "exit code $code passes through" "rc=$rc ran=$(ran_id)" "stderr: $(cat "$tmp/err")"
    fi
  done
  run STUB_EXIT=2 "${w_prefix}_BIN=$explicit" -- "$@"
  if [[ "$(cat "$tmp/out")" == "stub explicit stdout" && "$(cat "$tmp/err")" == "stub explicit stderr" ]]; then
    ok "stdout and stderr are the binary's own, with nothing added"
  else
    not_ok "stdout and stderr are the binary's own, with nothing added" "stdout: $(cat "$tmp/out")" "stderr: $(cat "$tmp/err")"
  fi
}

# wrapper_lookup_cases ARG...: PREFIX_BIN wins over PATH, PATH is used
# without it (and after an unusable one, which is reported), no binary
# anywhere is exit 2 with one line, and the wrapper execs the binary in its
# own process (so a SIGTERM reaches it).
wrapper_lookup_cases() {
  local bin="${w_prefix}_BIN"
  run "$bin=$explicit" PATH="$tmp/onpath:$sysbin" --
  if [[ $rc -eq 0 && "$(ran_id)" == explicit ]]; then
    ok "$bin wins over PATH"
  else
    not_ok "$bin wins over PATH" "rc=$rc ran=$(ran_id)"
  fi

  run PATH="$tmp/onpath:$sysbin" --
  if [[ $rc -eq 0 && "$(ran_id)" == onpath ]]; then
    ok "without $bin, the binary on PATH runs"
  else
    not_ok "without $bin, the binary on PATH runs" "rc=$rc ran=$(ran_id)"
  fi

  run "$bin=$missing" PATH="$tmp/onpath:$sysbin" --
  if [[ $rc -eq 0 && "$(ran_id)" == onpath ]] && grep -q "$bin=.*is not an executable file" "$tmp/err"; then
    ok "an unusable $bin is reported, then PATH is used"
  else
    not_ok "an unusable $bin is reported, then PATH is used" "rc=$rc" "stderr: $(cat "$tmp/err")"
  fi

  run -- "$@"
  if [[ $rc -eq 2 && ! -s "$tmp/out" && ! -e "$tmp/rec/ran" ]] \
    && [[ "$(cat "$tmp/err")" == "${wrapper##*/}: $w_tool not found (set $bin or install it to /usr/local/bin)" ]]; then
    ok "no binary anywhere: exit 2, one line on stderr, nothing on stdout"
  else
    not_ok "no binary anywhere: exit 2, one line on stderr, nothing on stdout" "rc=$rc" "stderr: $(cat "$tmp/err")"
  fi

  rm -f "$tmp/rec/"*
  (
    cd "$tmp/cwd" || exit 2
    exec env -i PATH="$sysbin" HOME="$tmp/home" "${w_prefix}_FALLBACK=$missing" \
      "$bin=$explicit" "$wrapper" "$@"
  ) </dev/null >/dev/null 2>&1 &
  local pid=$! stub_pid=""
  rc=0
  wait "$pid" || rc=$?
  [[ -f "$tmp/rec/ran" ]] && read -r _ stub_pid <"$tmp/rec/ran"
  if [[ $rc -eq 0 && "$stub_pid" == "$pid" ]]; then
    ok "the wrapper execs the binary (same process)"
  else
    not_ok "the wrapper execs the binary (same process)" "wrapper pid=$pid, binary pid=${stub_pid:-none}"
  fi
}
