# shellcheck shell=bash
# Shared by the ops/ wrappers: find a tool binary and exec it with the
# caller's arguments unchanged (so stdin, stdout, stderr, signals and the
# exit code are the binary's own). Sourced, never run.
#
#   exec_tool <binary-name> <ENV_PREFIX> "$@"
#
# Lookup order: $<ENV_PREFIX>_BIN (warned about and skipped if not an
# executable file), the binary on PATH, then $<ENV_PREFIX>_FALLBACK
# (default /usr/local/bin/<binary-name>). Nothing found: exit 2.

# True when $1 is a regular file (after symlinks) that we may execute.
is_runnable() {
  [[ -n "$1" && -f "$1" && -x "$1" ]]
}

exec_tool() {
  local name="$1" prefix="$2" me bin="" fallback override_var fallback_var
  shift 2
  me="${0##*/}"
  override_var="${prefix}_BIN"
  fallback_var="${prefix}_FALLBACK"
  if [[ -n "${!override_var:-}" ]]; then
    if is_runnable "${!override_var}"; then
      bin="${!override_var}"
    else
      printf '%s: %s=%q is not an executable file; ignoring it\n' "$me" "$override_var" "${!override_var}" >&2
    fi
  fi
  if [[ -z "$bin" ]]; then
    # `type -P` finds only files on PATH: no functions, aliases or builtins.
    bin="$(type -P "$name" || true)"
    is_runnable "$bin" || bin=""
  fi
  if [[ -z "$bin" ]]; then
    fallback="${!fallback_var:-/usr/local/bin/$name}"
    is_runnable "$fallback" && bin="$fallback"
  fi
  if [[ -z "$bin" ]]; then
    printf '%s: %s not found (set %s or install it to /usr/local/bin)\n' "$me" "$name" "$override_var" >&2
    exit 2
  fi
  # A name without a slash would make exec search PATH instead of running the
  # file that was just checked.
  [[ "$bin" == */* ]] || bin="./$bin"
  exec "$bin" "$@"
}
