#!/usr/bin/env bash
# Hermetic self-test of ops/openclaw_doctor.sh.
#
# Runs the real wrapper against stub `openclaw-doctor` executables in a temp
# directory, under `env -i` with PATH limited to the stubs and a directory
# holding only `bash` (the wrapper's shebang needs it; the wrapper itself uses
# only builtins). The real binary is never looked at: every run points
# OPENCLAW_DOCTOR_FALLBACK at a path inside the temp directory.
# No network, no secrets, no root.
#
# Prints `ok - <case>` / `not ok - <case>` per case, then `N passed, M failed`.
# Exit status: 0 when every case passed, 1 otherwise.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
wrapper="$here/../openclaw_doctor.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/openclaw_doctor_selftest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

# --- fixtures ---------------------------------------------------------------

bash_path="$(type -P bash)"
sysbin="$tmp/sysbin"        # only what the wrapper's shebang needs
mkdir -p "$sysbin" "$tmp/home" "$tmp/cwd" "$tmp/rec"
ln -s "$bash_path" "$sysbin/bash"
# Files in the working directory, so that an unquoted * would visibly expand.
: >"$tmp/cwd/a-file"
: >"$tmp/cwd/b-file"
missing="$tmp/does-not-exist/openclaw-doctor"

# make_stub DIR ID: writes DIR/openclaw-doctor, which records its id and pid,
# its argument count and argv (NUL-separated), its stdin, and selected environment, then prints
# a line on stdout and on stderr and exits with $STUB_EXIT (default 0).
# It uses only bash builtins, so it runs under the restricted PATH.
make_stub() {
  local dir="$1" id="$2"
  mkdir -p "$dir"
  {
    printf '#!%s\n' "$bash_path"
    printf 'rec=%q\n' "$tmp/rec"
    printf 'id=%q\n' "$id"
    cat <<'EOF'
printf '%s %s\n' "$id" "$$" >"$rec/ran"
printf '%s\n' "$#" >"$rec/argc"
: >"$rec/argv"
if (($#)); then printf '%s\0' "$@" >"$rec/argv"; fi
stdin=""
IFS= read -r -d '' stdin || true
printf '%s' "$stdin" >"$rec/stdin"
printf 'OPENCLAW_CONFIG=%s\n' "${OPENCLAW_CONFIG-<unset>}" >"$rec/env"
printf 'stub %s stdout\n' "$id"
printf 'stub %s stderr\n' "$id" >&2
exit "${STUB_EXIT:-0}"
EOF
  } >"$dir/openclaw-doctor"
  chmod 0755 "$dir/openclaw-doctor"
}

make_stub "$tmp/explicit" explicit
make_stub "$tmp/onpath" onpath
make_stub "$tmp/fallback" fallback
explicit="$tmp/explicit/openclaw-doctor"

# run [VAR=value ...] -- [ARG ...]: runs the wrapper from $tmp/cwd with a
# scrubbed environment plus the given assignments; stdin from $stdin_file.
# Sets rc, and leaves stdout/stderr in $tmp/out and $tmp/err.
stdin_file=/dev/null
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
    exec env -i PATH="$sysbin" HOME="$tmp/home" \
      OPENCLAW_DOCTOR_FALLBACK="$missing" "${assigns[@]}" \
      "$wrapper" "$@"
  ) <"$stdin_file" >"$tmp/out" 2>"$tmp/err" || rc=$?
}

ran_id() { [[ -f "$tmp/rec/ran" ]] && read -r id _ <"$tmp/rec/ran" && printf '%s' "$id"; }
out() { cat "$tmp/out"; }
err() { cat "$tmp/err"; }

# --- cases ------------------------------------------------------------------

# (a) exit codes pass through, and so do the binary's stdout and stderr.
for code in 0 1 2; do
  run STUB_EXIT="$code" OPENCLAW_DOCTOR_BIN="$explicit" -- --format human
  if [[ $rc -eq $code && "$(ran_id)" == explicit ]]; then
    ok "exit code $code passes through"
  else
    not_ok "exit code $code passes through" "rc=$rc ran=$(ran_id)" "stderr: $(err)"
  fi
done

run STUB_EXIT=1 OPENCLAW_DOCTOR_BIN="$explicit" --
if [[ "$(out)" == "stub explicit stdout" && "$(err)" == "stub explicit stderr" ]]; then
  ok "stdout and stderr are the binary's own, with nothing added"
else
  not_ok "stdout and stderr are the binary's own, with nothing added" "stdout: $(out)" "stderr: $(err)"
fi

# (b) awkward arguments arrive unchanged and in order.
# The $ and backticks are meant literally: they must reach the binary as is.
# shellcheck disable=SC2016
args=(
  "two words" "it's" 'say "hi"' '*' '' '$HOME' '`id`' '$(id)' "tab	in" $'new\nline'
  '--' '-' '--format' 'json' ' leading and trailing ' '\back\slash' 'ünï©ødé' '*.md' '?'
)
run OPENCLAW_DOCTOR_BIN="$explicit" -- "${args[@]}"
got=()
if [[ -f "$tmp/rec/argv" ]]; then
  mapfile -d '' -t got <"$tmp/rec/argv"
fi
same=0
if [[ $rc -eq 0 && ${#got[@]} -eq ${#args[@]} && "$(cat "$tmp/rec/argc")" == "${#args[@]}" ]]; then
  same=1
  for i in "${!args[@]}"; do
    [[ "${got[i]}" == "${args[i]}" ]] || same=0
  done
fi
if [[ $same -eq 1 ]]; then
  ok "arguments with spaces, quotes, globs, newlines and an empty string arrive unchanged and in order"
else
  not_ok "arguments with spaces, quotes, globs, newlines and an empty string arrive unchanged and in order" \
    "rc=$rc, expected ${#args[@]} args, got ${#got[@]}: $(printf '[%q] ' "${got[@]}")"
fi

run OPENCLAW_DOCTOR_BIN="$explicit" --
if [[ $rc -eq 0 && "$(cat "$tmp/rec/argc" 2>/dev/null)" == 0 && -f "$tmp/rec/argv" && ! -s "$tmp/rec/argv" ]]; then
  ok "no arguments give the binary no arguments"
else
  not_ok "no arguments give the binary no arguments" "rc=$rc stderr: $(err)"
fi

run OPENCLAW_DOCTOR_BIN="$explicit" -- --help
if [[ $rc -eq 0 && "$(tr '\0' ' ' <"$tmp/rec/argv")" == "--help " && "$(out)" == "stub explicit stdout" ]]; then
  ok "--help goes to the binary"
else
  not_ok "--help goes to the binary" "rc=$rc stdout: $(out)"
fi

# (c) lookup order: OPENCLAW_DOCTOR_BIN, then PATH, then the fallback.
run OPENCLAW_DOCTOR_BIN="$explicit" PATH="$tmp/onpath:$sysbin" OPENCLAW_DOCTOR_FALLBACK="$tmp/fallback/openclaw-doctor" --
if [[ $rc -eq 0 && "$(ran_id)" == explicit ]]; then
  ok "OPENCLAW_DOCTOR_BIN wins over PATH and the fallback"
else
  not_ok "OPENCLAW_DOCTOR_BIN wins over PATH and the fallback" "rc=$rc ran=$(ran_id)"
fi

run PATH="$tmp/onpath:$sysbin" OPENCLAW_DOCTOR_FALLBACK="$tmp/fallback/openclaw-doctor" --
if [[ $rc -eq 0 && "$(ran_id)" == onpath && "$(err)" == "stub onpath stderr" ]]; then
  ok "without OPENCLAW_DOCTOR_BIN, PATH wins over the fallback"
else
  not_ok "without OPENCLAW_DOCTOR_BIN, PATH wins over the fallback" "rc=$rc ran=$(ran_id)"
fi

run OPENCLAW_DOCTOR_FALLBACK="$tmp/fallback/openclaw-doctor" --
if [[ $rc -eq 0 && "$(ran_id)" == fallback ]]; then
  ok "with nothing on PATH, the fallback runs"
else
  not_ok "with nothing on PATH, the fallback runs" "rc=$rc ran=$(ran_id)"
fi

run OPENCLAW_DOCTOR_BIN="$missing" PATH="$tmp/onpath:$sysbin" --
if [[ $rc -eq 0 && "$(ran_id)" == onpath ]] && grep -q 'OPENCLAW_DOCTOR_BIN=.*is not an executable file' "$tmp/err"; then
  ok "an unusable OPENCLAW_DOCTOR_BIN is reported, then PATH is used"
else
  not_ok "an unusable OPENCLAW_DOCTOR_BIN is reported, then PATH is used" "rc=$rc ran=$(ran_id)" "stderr: $(err)"
fi

# (d) no binary anywhere: exit 2, one line on stderr, nothing on stdout.
not_found='openclaw_doctor.sh: openclaw-doctor not found (set OPENCLAW_DOCTOR_BIN or install it to /usr/local/bin)'
run --
if [[ $rc -eq 2 && ! -s "$tmp/out" && "$(err)" == "$not_found" && ! -e "$tmp/rec/ran" ]]; then
  ok "no binary anywhere: exit 2, the message on stderr, nothing on stdout"
else
  not_ok "no binary anywhere: exit 2, the message on stderr, nothing on stdout" "rc=$rc" "stdout: $(out)" "stderr: $(err)"
fi

run OPENCLAW_DOCTOR_BIN="$missing" --
if [[ $rc -eq 2 && ! -s "$tmp/out" && "$(tail -n 1 "$tmp/err")" == "$not_found" && $(wc -l <"$tmp/err") -eq 2 ]]; then
  ok "OPENCLAW_DOCTOR_BIN pointing nowhere and nothing else: exit 2, warning then the message"
else
  not_ok "OPENCLAW_DOCTOR_BIN pointing nowhere and nothing else: exit 2, warning then the message" "rc=$rc" "stdout: $(out)" "stderr: $(err)"
fi

# Things named openclaw-doctor that cannot be run do not count.
mkdir -p "$tmp/noexec" "$tmp/dirbin/openclaw-doctor"
cp "$explicit" "$tmp/noexec/openclaw-doctor"
chmod 0644 "$tmp/noexec/openclaw-doctor"
run OPENCLAW_DOCTOR_BIN="$tmp/dirbin/openclaw-doctor" PATH="$tmp/noexec:$tmp/dirbin:$sysbin" OPENCLAW_DOCTOR_FALLBACK="$tmp/dirbin/openclaw-doctor" --
if [[ $rc -eq 2 && ! -s "$tmp/out" && "$(tail -n 1 "$tmp/err")" == "$not_found" && ! -e "$tmp/rec/ran" ]]; then
  ok "a non-executable file or a directory named openclaw-doctor is not run"
else
  not_ok "a non-executable file or a directory named openclaw-doctor is not run" "rc=$rc ran=$(ran_id)" "stderr: $(err)"
fi

# A bare name in OPENCLAW_DOCTOR_BIN means the file in the working directory,
# never a PATH search.
cp "$tmp/explicit/openclaw-doctor" "$tmp/cwd/my-doctor"
run OPENCLAW_DOCTOR_BIN=my-doctor PATH="$tmp/onpath:$sysbin" --
if [[ $rc -eq 0 && "$(ran_id)" == explicit ]]; then
  ok "a relative OPENCLAW_DOCTOR_BIN runs the file that was checked"
else
  not_ok "a relative OPENCLAW_DOCTOR_BIN runs the file that was checked" "rc=$rc ran=$(ran_id)" "stderr: $(err)"
fi
rm -f "$tmp/cwd/my-doctor"

# (e) stdin reaches the binary byte for byte.
printf 'line one\n  indented * glob\n\tlast line without newline' >"$tmp/stdin"
stdin_file="$tmp/stdin"
run OPENCLAW_DOCTOR_BIN="$explicit" --
stdin_file=/dev/null
if [[ $rc -eq 0 && -f "$tmp/rec/stdin" ]] && cmp -s "$tmp/stdin" "$tmp/rec/stdin"; then
  ok "stdin is passed through"
else
  not_ok "stdin is passed through" "rc=$rc"
fi

# The environment reaches the binary (OPENCLAW_CONFIG and friends).
run OPENCLAW_DOCTOR_BIN="$explicit" OPENCLAW_CONFIG="$tmp/some config.toml" --
if [[ "$(cat "$tmp/rec/env" 2>/dev/null)" == "OPENCLAW_CONFIG=$tmp/some config.toml" ]]; then
  ok "the environment is passed through"
else
  not_ok "the environment is passed through" "recorded: $(cat "$tmp/rec/env" 2>/dev/null)"
fi

# The wrapper execs: the binary runs in the wrapper's own process, so
# signals from systemd or a terminal reach the doctor directly.
rm -f "$tmp/rec/"*
(
  cd "$tmp/cwd"
  exec env -i PATH="$sysbin" HOME="$tmp/home" OPENCLAW_DOCTOR_FALLBACK="$missing" \
    OPENCLAW_DOCTOR_BIN="$explicit" "$wrapper"
) </dev/null >/dev/null 2>&1 &
pid=$!
rc=0
wait "$pid" || rc=$?
stub_pid=""
[[ -f "$tmp/rec/ran" ]] && read -r _ stub_pid <"$tmp/rec/ran"
if [[ $rc -eq 0 && "$stub_pid" == "$pid" ]]; then
  ok "the wrapper execs the binary (same process)"
else
  not_ok "the wrapper execs the binary (same process)" "wrapper pid=$pid, binary pid=${stub_pid:-none}, rc=$rc"
fi

summary
[[ $failed -eq 0 ]]
