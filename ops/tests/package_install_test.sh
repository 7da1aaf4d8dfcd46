#!/usr/bin/env bash
# package_install_test.sh DEB: installs the openclaw .deb on THIS machine,
# checks what it installed, removes it, purges it, and checks what each step
# kept. Run by `cargo xtask ci` (step "package install") after `xtask dist`.
#
# Needs root and dpkg; refuses to run if an openclaw package is already
# installed (it would be purged at the end). Whatever happens, the EXIT trap
# purges the package. What a purge deletes (the state, /run/openclaw, the
# console's state) is moved aside first if it exists, as <dir>.before-package-test,
# and moved back by the trap. A secrets directory that existed before the test
# is never touched; one the package created is removed only if still empty.
#
# Prints `ok - …` / `not ok - …` per check and `N passed, M failed` last;
# exit 1 if anything failed.

set -euo pipefail

here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here="."
# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

deb="${1:?usage: package_install_test.sh PATH/openclaw_VERSION_ARCH.deb}"
[[ -f "$deb" ]] || { printf 'not ok - %s is not a file\n0 passed, 1 failed\n' "$deb"; exit 1; }
if [[ "$(id -u)" != 0 ]] || ! command -v dpkg >/dev/null; then
  printf 'package_install_test.sh: needs root and dpkg\n' >&2
  exit 2
fi
# Only a package dpkg has never heard of, or one fully purged, may be
# touched: a removed one keeps its configuration, which the trap would purge.
status="$(dpkg-query -W -f='${db:Status-Abbrev}' openclaw 2>/dev/null || true)"
if [[ -n "$status" && "$status" != un* && "$status" != pn* ]]; then
  printf 'package_install_test.sh: an openclaw package is known to dpkg (%s); not touching it\n' "$status" >&2
  exit 2
fi

# An openclaw-job user an earlier version made stays (system accounts are
# never deleted); this version must not make one.
job_user_before="$(getent passwd openclaw-job || true)"
secrets=/etc/ai-ops-runner/secrets
state=/var/lib/openclaw
logs=/var/log/openclaw
secrets_existed=0
[[ -e "$secrets" ]] && secrets_existed=1
ai_ops_existed=0
[[ -e /etc/ai-ops-runner ]] && ai_ops_existed=1
etc_openclaw_existed=0
[[ -e /etc/openclaw ]] && etc_openclaw_existed=1
logs_existed=0
[[ -e "$logs" ]] && logs_existed=1

# A purge deletes these; any that exist now are moved aside and restored.
purged=("$state" /run/openclaw /var/lib/private/openclaw-console)
moved=()

cleanup() {
  local d
  dpkg --purge openclaw >/dev/null 2>&1 || true
  for d in "${moved[@]}"; do
    rm -rf "$d"
    mv "$d.before-package-test" "$d"
  done
  # What this test made: the log directory (the doctor's writes), the empty
  # config directory; the secrets directory only if still empty (rmdir).
  ((logs_existed)) || rm -rf "$logs"
  # The guard backups a purge keeps, in a state directory this test made.
  [[ " ${moved[*]} " == *" $state "* ]] || rm -rf "$state"
  ((etc_openclaw_existed)) || rmdir /etc/openclaw 2>/dev/null || true
  ((secrets_existed)) || rmdir "$secrets" 2>/dev/null || true
  ((ai_ops_existed)) || rmdir /etc/ai-ops-runner 2>/dev/null || true
}
trap cleanup EXIT
for d in "${purged[@]}"; do
  if [[ -e "$d" ]]; then
    if [[ -e "$d.before-package-test" ]]; then
      printf 'package_install_test.sh: %s.before-package-test exists (an earlier run was killed?); restore it first\n' "$d" >&2
      exit 2
    fi
    mv "$d" "$d.before-package-test"
    moved+=("$d")
  fi
done

# check NAME COMMAND...: ok when COMMAND succeeds, else not ok with its output.
check() {
  local name="$1" out rc=0
  shift
  out="$("$@" 2>&1)" || rc=$?
  if ((rc == 0)); then ok "$name"; else not_ok "$name" "exit $rc: $*" "$out"; fi
}

# mode_owner PATH MODE OWNER:GROUP
mode_owner() {
  local got
  got="$(stat -c '%a %U:%G' "$1" 2>&1)" || true
  if [[ "$got" == "$2 $3" ]]; then ok "$1 is $2 $3"; else not_ok "$1 is $2 $3" "got: $got"; fi
}

version="$(dpkg-deb -f "$deb" Version)"
if ((logs_existed)); then
  printf '# skip - a symbolic link at %s (the directory exists already)\n' "$logs"
else
  # A link planted where a private directory goes stops the install, and
  # its target keeps its mode.
  bait="$(mktemp -d)"
  chmod 0755 "$bait"
  ln -s "$bait" "$logs"
  out="$(dpkg -i "$deb" 2>&1)" && rc=0 || rc=$?
  if ((rc != 0)) && grep -q "$logs is a symbolic link" <<<"$out"; then ok "a link at $logs stops the install"; else not_ok "a link at $logs stops the install" "exit $rc" "$out"; fi
  check "the link's target kept its mode" test "$(stat -c %a "$bait")" = 755
  rm -f "$logs"
  rmdir "$bait"
  check "with the link gone the install completes (dpkg --configure)" dpkg --configure openclaw
fi
printf '# installing %s (version %s)\n' "$deb" "$version"
check "dpkg -i installs the package" dpkg -i "$deb"

mapfile -t bins < <(dpkg -L openclaw | grep '^/usr/bin/openclaw-' | sort)
if ((${#bins[@]} == 7)); then ok "seven binaries in /usr/bin"; else not_ok "seven binaries in /usr/bin" "${bins[@]}"; fi
for bin in "${bins[@]}"; do
  name="${bin##*/}"
  out="$("$bin" --version 2>&1)" || true
  if [[ "$out" == "$name $version" ]]; then ok "$name --version says $version"; else not_ok "$name --version" "$out"; fi
  check "man -w $name finds the installed page" test "$(man -w "$name" 2>/dev/null)" = "/usr/share/man/man1/$name.1.gz"
  check "bash completion for $name loads" bash -c "source /usr/share/bash-completion/completions/$name && complete -p $name"
  check "zsh and fish completions for $name exist" test -s "/usr/share/zsh/vendor-completions/_$name" -a -s "/usr/share/fish/vendor_completions.d/$name.fish"
done
mapfile -t pages < <(dpkg -L openclaw | grep '^/usr/share/man/man1/.*\.1\.gz$' | sort)
if ((${#pages[@]} > ${#bins[@]})); then ok "${#pages[@]} man pages (tools and subcommands)"; else not_ok "man pages for subcommands" "${pages[@]}"; fi
for page in "${pages[@]}"; do
  name="${page##*/}"
  name="${name%.1.gz}"
  check "man -w $name" test "$(man -w "$name" 2>/dev/null)" = "$page"
done

mapfile -t units < <(dpkg -L openclaw | grep '^/usr/lib/systemd/system/' | grep -v '/system$' | sort)
for unit in "${units[@]}"; do
  name="${unit##*/}"
  if [[ "$name" == *.service ]]; then
    check "$name starts /usr/bin/openclaw-*" grep -q '^ExecStart=/usr/bin/openclaw-' "$unit"
  fi
  check "$name names no /usr/local/bin in an Exec line" test -z "$(grep '^Exec.*/usr/local/bin' "$unit")"
  case "$name" in
    *@.*) name="${name/@./@disk-report.}" ;;
  esac
  out="$(systemd-analyze verify --man=no "$name" 2>&1)" && rc=0 || rc=$?
  if ((rc == 0)) && ! grep -q 'openclaw' <<<"$out"; then ok "systemd-analyze verify $name"; else not_ok "systemd-analyze verify $name" "exit $rc" "$out"; fi
done

wants=/etc/systemd/system
for t in openclaw-doctor.timer openclaw-notify-flush.timer; do
  check "$t is enabled" test -L "$wants/timers.target.wants/$t"
done
for u in timers.target.wants/openclaw-guard.timer multi-user.target.wants/openclaw-console.service \
  multi-user.target.wants/openclaw-runner-bridge.service; do
  check "${u#*/} is not enabled" test ! -e "$wants/$u"
done

mode_owner "$state" 700 root:root
mode_owner "$logs" 700 root:root
if ((secrets_existed)); then
  check "$secrets (pre-existing) is root-only" test -z "$(find "$secrets" -maxdepth 0 -perm /077)"
else
  mode_owner "$secrets" 700 root:root
fi
mode_owner /etc/openclaw 755 root:root
check "system group openclaw-runner exists" getent group openclaw-runner
check "no job user is made (runner jobs get a uid per run)" test "$(getent passwd openclaw-job || true)" = "$job_user_before"
check "logrotate snippet is a conffile" grep -q '/etc/logrotate.d/openclaw-guard' /var/lib/dpkg/info/openclaw.conffiles
check "the ops wrapper finds its lib from /usr/lib/openclaw/ops" /usr/lib/openclaw/ops/openclaw_doctor.sh --version
check "the example runner.toml is a valid allowlist" openclaw-runner check-config --config /usr/share/doc/openclaw/examples/runner.toml
# The example shows every key commented out; with them uncommented, the tools
# that own the tables must accept it (unknown keys are errors).
scratch="$(mktemp -d)"
chmod 0755 "$scratch"
sed -E 's/^# ([a-z0-9_]+ = |\[)/\1/' /usr/share/doc/openclaw/examples/openclaw.toml >"$scratch/openclaw.toml"
check "the example openclaw.toml, uncommented, is accepted (guard)" env OPENCLAW_CONFIG="$scratch/openclaw.toml" openclaw-guard status
check "the example openclaw.toml, uncommented, is accepted (notify)" env OPENCLAW_CONFIG="$scratch/openclaw.toml" openclaw-notify status
rc=0
OPENCLAW_CONFIG="$scratch/openclaw.toml" openclaw-doctor >/dev/null 2>&1 || rc=$?
if ((rc <= 1)); then ok "the example openclaw.toml, uncommented, is accepted (doctor, exit $rc)"; else not_ok "the example openclaw.toml, uncommented, is accepted (doctor)" "exit $rc"; fi
rm -rf "$scratch"
rc=0
openclaw-doctor >/dev/null 2>&1 || rc=$?
if ((rc <= 1)); then ok "openclaw-doctor runs (exit $rc)"; else not_ok "openclaw-doctor runs" "exit $rc"; fi

# An administrator's own mode on /etc/openclaw survives a reinstall.
chmod 0750 /etc/openclaw
check "dpkg -i of the same version again succeeds" dpkg -i "$deb"
check "a reinstall kept /etc/openclaw at the administrator's 0750" test "$(stat -c %a /etc/openclaw)" = 750
chmod 0755 /etc/openclaw

marker="$state/package-install-test"
: >"$marker"
backup="$state/guard/backups/package-test-1"
mkdir -p "$backup"
echo "sshd_config before the guard" >"$backup/sshd_config"
check "dpkg --remove succeeds" dpkg --remove openclaw
check "remove took the binaries" test ! -e /usr/bin/openclaw-doctor
check "remove kept the state" test -f "$marker"
check "remove kept the secrets dir" test -d "$secrets"
check "dpkg -i after a remove succeeds" dpkg -i "$deb"
check "after remove and reinstall the guard timer is not masked" test ! -L "$wants/openclaw-guard.timer"
check "after remove and reinstall the guard timer is not enabled" test ! -e "$wants/timers.target.wants/openclaw-guard.timer"
check "the guard timer can be enabled by hand" systemctl enable openclaw-guard.timer
check "... and is then enabled" test -L "$wants/timers.target.wants/openclaw-guard.timer"
out="$(dpkg --purge openclaw 2>&1)" && rc=0 || rc=$?
if ((rc == 0)); then ok "dpkg --purge succeeds"; else not_ok "dpkg --purge succeeds" "$out"; fi
check "purge removed the state" test ! -e "$marker"
check "purge kept the guard's backups" test -f "$backup/sshd_config"
check "purge said it kept the guard's backups" grep -q "kept $state/guard/backups" <<<"$out"
check "purge kept the secrets dir" test -d "$secrets"
check "purge said it kept the secrets dir" grep -q "kept $secrets" <<<"$out"
check "purge removed the administrator's enablement of the guard" test ! -e "$wants/timers.target.wants/openclaw-guard.timer"
check "dpkg -i after a purge succeeds" dpkg -i "$deb"
check "after purge and reinstall the guard timer is not enabled" test ! -e "$wants/timers.target.wants/openclaw-guard.timer"

summary
((failed == 0))
