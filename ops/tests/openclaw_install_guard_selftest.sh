#!/usr/bin/env bash
# Hermetic self-test of ops/openclaw_install_guard.sh: every run installs
# under OPENCLAW_GUARD_INSTALL_ROOT (a scratch directory), with stub
# `systemctl` and `sysctl` first on PATH that record their argv and fail on
# request. No root, no network, nothing on the host touched.
# Prints `ok - …`/`not ok - …`/`skip - …`, then `N passed, M failed`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ops="$here/.."
# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/openclaw_install_guard_selftest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
# Readable by nobody, for the not-root case (nothing secret in here).
chmod 0755 "$tmp"

# A copy of the installer and its sources, so a case can remove one.
mkdir -p "$tmp/ops/systemd" "$tmp/ops/logrotate" "$tmp/ops/sysctl" "$tmp/bin"
cp "$ops/openclaw_install_guard.sh" "$tmp/ops/"
cp "$ops/systemd/openclaw-guard.service" "$ops/systemd/openclaw-guard.timer" "$tmp/ops/systemd/"
cp "$ops/logrotate/openclaw-guard" "$tmp/ops/logrotate/"
cp "$ops/sysctl/60-openclaw-guard.conf" "$tmp/ops/sysctl/"
chmod -R a+rX "$tmp/ops"
installer="$tmp/ops/openclaw_install_guard.sh"

bash_bin="$(type -P bash)"
# The stubs append `<tool> <argv>` to $STUB_CALLS; STUB_FAIL=<tool> makes
# that one print an error and exit 1.
for tool in systemctl sysctl; do
  cat >"$tmp/bin/$tool" <<STUB
#!$bash_bin
printf '%s %s\n' "$tool" "\$*" >>"\$STUB_CALLS"
if [[ "\${STUB_FAIL:-}" == "$tool" ]]; then
  echo "$tool: stub failure: Access denied" >&2
  exit 1
fi
if [[ "$tool" == sysctl && "\$1" == -p && -f "\$2" ]]; then echo "net.ipv4.ip_nonlocal_bind = 1"; fi
exit 0
STUB
  chmod 0755 "$tmp/bin/$tool"
done

# fresh NAME: a new install root $root with the three binaries in place, and
# an empty call log $calls.
fresh() {
  root="$tmp/$1/root"
  calls="$tmp/$1/calls"
  mkdir -p "$root/usr/local/bin"
  : >"$calls"
  local b
  for b in openclaw-guard openclaw-doctor openclaw-notify; do
    printf '#!/bin/sh\nexit 0\n' >"$root/usr/local/bin/$b"
    chmod 0755 "$root/usr/local/bin/$b"
  done
}

# inst [VAR=VALUE...]: runs the installer into $root; sets $rc, $out, $err.
inst() {
  rc=0
  env PATH="$tmp/bin:/usr/bin:/bin" OPENCLAW_GUARD_INSTALL_ROOT="$root" STUB_CALLS="$calls" "$@" \
    "$bash_bin" "$installer" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
  out="$(cat "$tmp/out")"
  err="$(cat "$tmp/err")"
}

# Installed path -> source file.
declare -A files=(
  [etc/systemd/system/openclaw-guard.service]="$tmp/ops/systemd/openclaw-guard.service"
  [etc/systemd/system/openclaw-guard.timer]="$tmp/ops/systemd/openclaw-guard.timer"
  [etc/logrotate.d/openclaw-guard]="$tmp/ops/logrotate/openclaw-guard"
  [etc/sysctl.d/60-openclaw-guard.conf]="$tmp/ops/sysctl/60-openclaw-guard.conf"
)
log_rel=var/log/openclaw_guard.log

# nothing_installed: no file under $root/etc or $root/var, no command run.
nothing_installed() {
  [[ -z "$(find "$root" -path "$root/usr" -prune -o -type f -print)" && ! -s "$calls" ]]
}

# --- fresh install -------------------------------------------------------------

fresh fresh
inst
name="fresh install: exit 0, every file in place, 0644, same bytes as its source"
bad=()
[[ $rc -eq 0 ]] || bad+=("exit $rc: $err")
for rel in "${!files[@]}"; do
  f="$root/$rel"
  if [[ ! -f "$f" ]]; then
    bad+=("missing: $rel")
    continue
  fi
  [[ "$(stat -c %a "$f")" == 644 ]] || bad+=("$rel is mode $(stat -c %a "$f")")
  cmp -s "$f" "${files[$rel]}" || bad+=("$rel differs from its source")
  grep -qxF "installed: $f" <<<"$out" || bad+=("no 'installed: $f'")
done
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

name="fresh install: the guard log is created empty, 0600, owned by the caller"
f="$root/$log_rel"
if [[ -f "$f" && ! -s "$f" && "$(stat -c '%a %u' "$f")" == "600 $(id -u)" ]] && grep -qxF "created: $f" <<<"$out"; then
  ok "$name"
else
  not_ok "$name" "$(stat -c '%a %u %s' "$f" 2>&1)" "$out"
fi

name="sysctl -p is given the installed file, before systemctl"
expected_calls="sysctl -p $root/etc/sysctl.d/60-openclaw-guard.conf
systemctl daemon-reload
systemctl enable --now openclaw-guard.timer"
if [[ "$(cat "$calls")" == "$expected_calls" ]]; then
  ok "$name"
  ok "systemctl: daemon-reload, then enable --now openclaw-guard.timer, nothing else"
else
  not_ok "$name" "calls:" "$(cat "$calls")"
  not_ok "systemctl: daemon-reload, then enable --now openclaw-guard.timer, nothing else" "calls:" "$(cat "$calls")"
fi

# --- second run ---------------------------------------------------------------

# Snapshot bytes, mode and inode (a rewrite, even of the same bytes, makes a
# new inode: the installer renames a temporary file over the target).
snapshot() {
  local rel
  for rel in "${!files[@]}" "$log_rel"; do
    printf '%s %s %s\n' "$rel" "$(stat -c '%a %i' "$root/$rel")" "$(sha256sum <"$root/$rel")"
  done | sort
}
before="$(snapshot)"
: >"$calls"
inst
name="second run: exit 0, nothing rewritten, 'unchanged' for every file"
bad=()
[[ $rc -eq 0 ]] || bad+=("exit $rc: $err")
[[ "$(snapshot)" == "$before" ]] || bad+=("files changed:" "$(diff <(echo "$before") <(snapshot) || true)")
for rel in "${!files[@]}" "$log_rel"; do
  grep -qxF "unchanged: $root/$rel" <<<"$out" || bad+=("no 'unchanged: $root/$rel'")
done
if grep -Eq '^(installed|updated|created):' <<<"$out"; then bad+=("claims a change:" "$out"); fi
[[ "$(cat "$calls")" == "$expected_calls" ]] || bad+=("calls:" "$(cat "$calls")")
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

name="a changed or loosened file is put back ('updated')"
unit="$root/etc/systemd/system/openclaw-guard.service"
printf '# local edit\n' >>"$unit"
chmod 0666 "$root/etc/logrotate.d/openclaw-guard"
inst
bad=()
[[ $rc -eq 0 ]] || bad+=("exit $rc: $err")
cmp -s "$unit" "${files[etc/systemd/system/openclaw-guard.service]}" || bad+=("the service was not restored")
[[ "$(stat -c %a "$root/etc/logrotate.d/openclaw-guard")" == 644 ]] || bad+=("the snippet's mode was not restored")
grep -qxF "updated: $unit" <<<"$out" || bad+=("no 'updated: $unit'")
grep -qxF "updated: $root/etc/logrotate.d/openclaw-guard" <<<"$out" || bad+=("no 'updated: …/openclaw-guard'")
leftovers="$(find "$root/etc" -name '.*' -type f)"
[[ -z "$leftovers" ]] || bad+=("temporary files left: $leftovers")
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

# --- refusals -------------------------------------------------------------------

fresh nobin
rm "$root/usr/local/bin/openclaw-doctor"
inst
name="missing binary: exit 1, names it and how to install it, nothing installed"
if [[ $rc -eq 1 ]] && grep -qF "$root/usr/local/bin/openclaw-doctor" <<<"$err" && grep -qF "cargo install" <<<"$err" && nothing_installed; then
  ok "$name"
else
  not_ok "$name" "exit $rc" "$err" "$(find "$root" -type f)"
fi

fresh nosrc
mv "$tmp/ops/logrotate/openclaw-guard" "$tmp/ops/logrotate/openclaw-guard.away"
inst
mv "$tmp/ops/logrotate/openclaw-guard.away" "$tmp/ops/logrotate/openclaw-guard"
name="missing source file: exit 1 naming it, nothing installed"
if [[ $rc -eq 1 ]] && grep -qF "$tmp/ops/logrotate/openclaw-guard" <<<"$err" && nothing_installed; then
  ok "$name"
else
  not_ok "$name" "exit $rc" "$err"
fi

fresh systemctl_fails
inst STUB_FAIL=systemctl
name="systemctl failing: exit 1 with its stderr shown"
if [[ $rc -eq 1 ]] && grep -qF "systemctl daemon-reload" <<<"$err" && grep -qF "stub failure: Access denied" <<<"$err" &&
  ! grep -qF "enable --now" "$calls"; then
  ok "$name"
else
  not_ok "$name" "exit $rc" "$err" "calls: $(cat "$calls")"
fi

fresh sysctl_fails
inst STUB_FAIL=sysctl
name="sysctl failing: exit 1 with its stderr shown, the timer not enabled"
if [[ $rc -eq 1 ]] && grep -qF "sysctl: stub failure" <<<"$err" && ! grep -q '^systemctl' "$calls"; then
  ok "$name"
else
  not_ok "$name" "exit $rc" "$err" "calls: $(cat "$calls")"
fi

fresh badlog
mkdir -p "$root/var/log"
printf 'old\n' >"$root/$log_rel"
chmod 0644 "$root/$log_rel"
inst
name="an existing guard log that is not 0600: exit 1 with the fix, left as it was"
if [[ $rc -eq 1 ]] && grep -qF "chmod 0600" <<<"$err" && [[ "$(stat -c %a "$root/$log_rel")" == 644 && "$(cat "$root/$log_rel")" == old ]]; then
  ok "$name"
else
  not_ok "$name" "exit $rc" "$err"
fi

fresh linklog
mkdir -p "$root/var/log"
ln -s "$tmp/elsewhere" "$root/$log_rel"
inst
name="a symlink in the guard log's place: exit 1, never followed"
if [[ $rc -eq 1 && ! -e "$tmp/elsewhere" ]] && grep -qF "not a regular file" <<<"$err"; then
  ok "$name"
else
  not_ok "$name" "exit $rc" "$err"
fi

fresh relprefix
root_saved="$root"
root="relative/path"
inst
root="$root_saved"
name="a relative OPENCLAW_GUARD_INSTALL_ROOT: exit 1, nothing installed"
if [[ $rc -eq 1 ]] && grep -qF "absolute" <<<"$err" && nothing_installed && [[ ! -e "$tmp/relative" && ! -e relative ]]; then
  ok "$name"
else
  not_ok "$name" "exit $rc" "$err"
fi

# Not root and no prefix: refused before anything is looked at. As root,
# drop to nobody with setpriv (as nobody the host's /etc is not writable
# either, so even a broken check could not install anything).
name="not root and no prefix: exit 1, 'must run as root'"
fresh notroot
runner=()
if [[ "$(id -u)" -ne 0 ]]; then
  runner=(env)
elif command -v setpriv >/dev/null 2>&1 && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
  runner=(setpriv --reuid=65534 --regid=65534 --clear-groups env)
fi
if ((${#runner[@]} == 0)); then
  skip "$name (running as root and setpriv cannot drop to uid 65534)"
else
  rc=0
  err="$("${runner[@]}" -u OPENCLAW_GUARD_INSTALL_ROOT PATH="$tmp/bin:/usr/bin:/bin" STUB_CALLS="$calls" \
    "$bash_bin" "$installer" 2>&1 >/dev/null </dev/null)" || rc=$?
  if [[ $rc -eq 1 ]] && grep -qF "must run as root" <<<"$err" && [[ ! -s "$calls" ]]; then
    ok "$name"
  else
    not_ok "$name" "exit $rc" "$err"
  fi
fi

summary
[[ $failed -eq 0 ]]
