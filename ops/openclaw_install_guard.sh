#!/usr/bin/env bash
# openclaw_install_guard.sh: installs the guard's timer loop on this host.
#
#   sudo ops/openclaw_install_guard.sh
#
# Installs, each only when it differs from what is there:
#   ops/systemd/openclaw-guard.service  -> /etc/systemd/system/   (0644)
#   ops/systemd/openclaw-guard.timer    -> /etc/systemd/system/   (0644)
#   ops/logrotate/openclaw-guard        -> /etc/logrotate.d/openclaw-guard (0644)
#   ops/sysctl/60-openclaw-guard.conf   -> /etc/sysctl.d/60-openclaw-guard.conf (0644)
# creates /var/log/openclaw_guard.log (0600, root) when it does not exist
# (the unit can write that one file in /var/log, not create it), then runs
#   sysctl -p /etc/sysctl.d/60-openclaw-guard.conf   (net.ipv4.ip_nonlocal_bind = 1)
#   systemctl daemon-reload
#   systemctl enable --now openclaw-guard.timer
# It needs the binaries openclaw-guard, openclaw-doctor and openclaw-notify in
# /usr/local/bin already (the unit runs them from there) and installs nothing
# if one is missing. Idempotent: a second run rewrites nothing and prints
# `unchanged: <path>` per file; the three commands are rerun (harmless).
#
# Exit status: 0 everything installed and the timer enabled; 1 anything
# failed (not root, a source file or binary missing, a file not writable, a
# failing sysctl or systemctl, whose output is shown). Never 0 on a failure.
# Files installed before a failure stay; fix the cause and run it again.
#
# Environment:
#   OPENCLAW_GUARD_INSTALL_ROOT  install under this prefix instead of /
#                                (absolute path): every path above is taken
#                                under it, root is not required, and
#                                `systemctl` / `sysctl` are whatever is first
#                                on PATH (the self-test puts stubs there).
#
# It handles no secrets and prints only paths and the commands' output.

set -euo pipefail
umask 022

me="${0##*/}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# die MESSAGE [DETAIL...]: the message, then each detail line indented, on
# stderr; exit 1.
die() {
  printf '%s: %s\n' "$me" "$1" >&2
  shift
  local arg line
  for arg in "$@"; do
    while IFS= read -r line; do printf '  %s\n' "$line" >&2; done <<<"$arg"
  done
  exit 1
}

case "${1:-}" in
  '') ;;
  -h | --help)
    sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
    ;;
  *) die "takes no arguments (got '$1'); see --help" ;;
esac

# --- where -------------------------------------------------------------------

prefix="${OPENCLAW_GUARD_INSTALL_ROOT:-}"
if [[ -n "$prefix" ]]; then
  [[ "$prefix" == /* ]] || die "OPENCLAW_GUARD_INSTALL_ROOT must be an absolute path, got '$prefix'"
  # "/" (or "//") means the real root: no prefix, and root is required.
  while [[ "$prefix" == */ ]]; do prefix="${prefix%/}"; done
fi
if [[ -z "$prefix" && "$(id -u)" -ne 0 ]]; then
  die "must run as root (it writes /etc and runs systemctl and sysctl)" \
    "to try it without root: OPENCLAW_GUARD_INSTALL_ROOT=<dir> $0"
fi

unit_dir="$prefix/etc/systemd/system"
logrotate_dest="$prefix/etc/logrotate.d/openclaw-guard"
sysctl_dest="$prefix/etc/sysctl.d/60-openclaw-guard.conf"
bin_dir="$prefix/usr/local/bin"
guard_log="$prefix/var/log/openclaw_guard.log"

# --- preflight: nothing is written before all of this passes ---------------

sources=(
  "$here/systemd/openclaw-guard.service"
  "$here/systemd/openclaw-guard.timer"
  "$here/logrotate/openclaw-guard"
  "$here/sysctl/60-openclaw-guard.conf"
)
for src in "${sources[@]}"; do
  [[ -f "$src" ]] || die "source file missing: $src" "run the installer from a complete checkout (ops/ with systemd/, logrotate/, sysctl/)"
done

missing=()
for bin in openclaw-guard openclaw-doctor openclaw-notify; do
  [[ -f "$bin_dir/$bin" && -x "$bin_dir/$bin" ]] || missing+=("$bin_dir/$bin")
done
if ((${#missing[@]})); then
  die "the units run the guard, doctor and notifier from $bin_dir; missing: ${missing[*]}" \
    "install them first, from a checkout of this repository:" \
    "  cargo install --locked --root /usr/local --path guard" \
    "  cargo install --locked --root /usr/local --path doctor" \
    "  cargo install --locked --root /usr/local --path notifier" \
    "or build once and copy: cargo build --release -p guard -p doctor -p notifier &&" \
    "  install -m 0755 target/release/openclaw-{guard,doctor,notify} /usr/local/bin/" \
    "or install the OpenClaw package that ships them there; then run $me again."
fi

for tool in systemctl sysctl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH"
done

# --- files -------------------------------------------------------------------

# The owner an installed file must have: root, or the caller under a prefix
# (who cannot give files away).
if [[ -z "$prefix" ]]; then
  want_uid=0
  want_owner=root:root
else
  want_uid="$(id -u)"
  want_owner="$(id -un):$(id -gn)"
fi

# install_file SRC DEST MODE: puts SRC at DEST with MODE, atomically (a
# temporary file in the same directory, renamed over DEST), unless DEST is
# already a regular file with the same bytes, mode and owner.
install_file() {
  local src="$1" dest="$2" mode="$3" dir tmp verb=installed
  dir="$(dirname "$dest")"
  if [[ -e "$dest" || -L "$dest" ]]; then
    if [[ -f "$dest" && ! -L "$dest" ]] && cmp -s -- "$src" "$dest" &&
      [[ "$(stat -c '%a %u' -- "$dest")" == "${mode#0} $want_uid" ]]; then
      printf 'unchanged: %s\n' "$dest"
      return
    fi
    verb=updated
  fi
  mkdir -p -- "$dir" || die "cannot create $dir"
  tmp="$(mktemp "$dir/.${dest##*/}.XXXXXX")" || die "cannot write in $dir"
  if ! cp -- "$src" "$tmp" || ! chmod "$mode" -- "$tmp" || ! mv -f -T -- "$tmp" "$dest"; then
    rm -f -- "$tmp"
    die "cannot install $dest"
  fi
  printf '%s: %s\n' "$verb" "$dest"
}

install_file "$here/systemd/openclaw-guard.service" "$unit_dir/openclaw-guard.service" 0644
install_file "$here/systemd/openclaw-guard.timer" "$unit_dir/openclaw-guard.timer" 0644
install_file "$here/logrotate/openclaw-guard" "$logrotate_dest" 0644
install_file "$here/sysctl/60-openclaw-guard.conf" "$sysctl_dest" 0644

# The guard log: the unit may write this one file in /var/log but not create
# it, and the guard refuses a log that is not a regular 0600 file of root's.
# Created with O_EXCL (noclobber), so an existing name, a symlink included,
# is never followed; an existing log is checked, never changed.
mkdir -p -- "$(dirname "$guard_log")" || die "cannot create $(dirname "$guard_log")"
if [[ -L "$guard_log" || (-e "$guard_log" && ! -f "$guard_log") ]]; then
  die "$guard_log exists but is not a regular file; the guard refuses it" "remove it and run $me again"
elif [[ -f "$guard_log" ]]; then
  log_meta="$(stat -c '%a %u' -- "$guard_log")"
  if [[ "$log_meta" != "600 $want_uid" ]]; then
    die "$guard_log has mode/owner '$log_meta', the guard requires '600 $want_uid'" \
      "fix it with: chmod 0600 $guard_log && chown $want_owner $guard_log"
  fi
  printf 'unchanged: %s\n' "$guard_log"
else
  (umask 077 && set -C && : >"$guard_log") || die "cannot create $guard_log"
  printf 'created: %s\n' "$guard_log"
fi

# --- apply -------------------------------------------------------------------

# run CMD...: runs CMD and shows its output; a failure is exit 1 with the
# command, its status and its output.
run() {
  local out rc=0
  out="$("$@" 2>&1)" || rc=$?
  if ((rc != 0)); then
    die "\`$*\` failed (exit $rc)${out:+:}" ${out:+"$out"}
  fi
  if [[ -n "$out" ]]; then printf '%s\n' "$out"; fi
}

# The sysctl before the timer: the guard refuses ssh-tailnet-only while
# net.ipv4.ip_nonlocal_bind is 0.
run sysctl -p "$sysctl_dest"
run systemctl daemon-reload
run systemctl enable --now openclaw-guard.timer
printf '%s\n' 'enabled: openclaw-guard.timer (check: systemctl list-timers openclaw-guard.timer; openclaw-guard status)'
