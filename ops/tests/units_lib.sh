# shellcheck shell=bash
# Shared by the ops/tests/*_units_selftest.sh scripts: sourced, never run.
# Needs lib.sh's ok/not_ok/skip/summary.
#
#   ini_values FILE SECTION KEY   effective values of KEY in [SECTION]
#   words                         whitespace-separated words of stdin, sorted
#   is_true VALUE                 systemd's boolean "true" spellings
#   make_roots UNIT_FILE... BIN   skip the whole test without systemd-analyze;
#                                 else a scratch $tmp (removed on exit), C locale
#                                 and UTC, and private roots: $sroot (only these
#                                 units) and $vroot (also the host's stock units
#                                 and a stub BIN)
#   verify_case NAME UNIT         systemd-analyze verify succeeds and says nothing
#   security_case UNIT MAX        exposure score ≤ MAX; the table is left in
#                                 $tmp/security for mark/row
#   mark NAME / row NAME          a row's +/- mark, or the whole row

# ini_values FILE SECTION KEY: prints the effective values of KEY in
# [SECTION], one per line, in order; an empty assignment clears the ones
# before it, as in systemd. Line continuations are refused (exit 2).
ini_values() {
  local file="$1" want_section="$2" want_key="$3" section="" line key value
  local -a values=()
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line#"${line%%[![:space:]]*}"}"
    line="${line%"${line##*[![:space:]]}"}"
    case "$line" in
      '' | '#'* | ';'*) continue ;;
      '['*']')
        section="${line:1:${#line}-2}"
        continue
        ;;
    esac
    if [[ "$line" == *\\ ]]; then
      printf 'ini_values: %s: line continuation not supported: %s\n' "$file" "$line" >&2
      return 2
    fi
    [[ "$section" == "$want_section" && "$line" == *=* ]] || continue
    key="${line%%=*}"
    key="${key%"${key##*[![:space:]]}"}"
    [[ "$key" == "$want_key" ]] || continue
    value="${line#*=}"
    value="${value#"${value%%[![:space:]]*}"}"
    if [[ -z "$value" ]]; then values=(); else values+=("$value"); fi
  done <"$file"
  if ((${#values[@]})); then printf '%s\n' "${values[@]}"; fi
}

# words: the whitespace-separated words of stdin, sorted, one per line.
words() { tr -s '[:space:]' '\n' | sed '/^$/d' | sort -u; }

is_true() { [[ "${1,,}" =~ ^(1|yes|y|true|t|on)$ ]]; }

# make_roots UNIT_FILE... BIN: without systemd-analyze, prints the skip and
# the summary and exits 0. Otherwise makes $tmp (removed on exit) and sets
# LC_ALL=C (ASCII +/- marks in the security table) and TZ=UTC. $sroot holds
# only the given unit files; $vroot also holds the host's stock units, which
# verify needs for default dependencies (sysinit.target, ...), and a stub
# /usr/local/bin/BIN. Sets $stock to the stock unit directory, or empty when
# the host has none.
make_roots() {
  local bin="${*: -1}" r d
  local -a files=("${@:1:$#-1}")
  if ! command -v systemd-analyze >/dev/null 2>&1; then
    skip "systemd-analyze not installed"
    summary
    exit 0
  fi
  export LC_ALL=C TZ=UTC
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/${0##*/}.XXXXXX")"
  # shellcheck disable=SC2064 # expand now: $tmp is fixed from here on
  trap "rm -rf '$tmp'" EXIT
  sroot="$tmp/sroot"
  vroot="$tmp/vroot"
  for r in "$sroot" "$vroot"; do
    mkdir -p "$r/etc/systemd/system"
    cp "${files[@]}" "$r/etc/systemd/system/"
  done
  mkdir -p "$vroot/usr/local/bin"
  printf '#!/bin/sh\nexit 0\n' >"$vroot/usr/local/bin/$bin"
  chmod 0755 "$vroot/usr/local/bin/$bin"
  # The system programs a unit may run before its own (ExecStartPre=).
  mkdir -p "$vroot/bin"
  printf '#!/bin/sh\nexit 0\n' >"$vroot/bin/mkdir"
  chmod 0755 "$vroot/bin/mkdir"
  stock=""
  for d in /usr/lib/systemd/system /lib/systemd/system; do
    if [[ -f "$d/sysinit.target" ]]; then
      stock="$d"
      break
    fi
  done
  if [[ -n "$stock" ]]; then
    mkdir -p "$vroot/usr/lib/systemd"
    cp -R "$stock/." "$vroot/usr/lib/systemd/system"
    # No installed copy of our units, and no type-wide drop-ins, may leak in.
    rm -rf "$vroot/usr/lib/systemd/system/"openclaw-* \
      "$vroot/usr/lib/systemd/system/service.d" "$vroot/usr/lib/systemd/system/timer.d"
  fi
}

# verify_case NAME UNIT: systemd-analyze verify must succeed and say nothing.
verify_case() {
  local name="$1" unit="$2" rc=0 out
  if [[ -z "$stock" ]]; then
    skip "$name (no stock systemd units on this host to verify against)"
    return
  fi
  out="$(systemd-analyze verify --man=no --root="$vroot" "$unit" 2>&1)" || rc=$?
  if [[ $rc -eq 0 && -z "$out" ]]; then
    ok "$name"
  else
    not_ok "$name" "systemd-analyze verify exit $rc:" "$out"
  fi
}

# security_case UNIT MAX: the offline exposure score of UNIT (in $sroot) is
# at most MAX. Leaves the table in $tmp/security for mark and row.
security_case() {
  local unit="$1" max="$2" rc=0 score name
  name="exposure score is at most $max"
  systemd-analyze security --offline=true --root="$sroot" "$unit" >"$tmp/security" 2>&1 || rc=$?
  score="$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9][0-9]*\.[0-9]\).*/\1/p' "$tmp/security")"
  if [[ $rc -eq 0 && -n "$score" ]] && ((10#${score/./} <= 10#${max/./})); then
    ok "$name (scored $score)"
  else
    not_ok "$name" "exit $rc, score ${score:-none}:" "$(tail -n 5 "$tmp/security")"
  fi
}

# mark NAME: + (protected), - (exposed) or nothing (n/a, or no such row).
mark() { awk -v n="$1" '($1 == "+" || $1 == "-") && $2 == n { print $1; exit }' "$tmp/security"; }
# row NAME: the whole table row for NAME.
row() { awk -v n="$1" '$2 == n || $1 == n { print; exit }' "$tmp/security"; }
