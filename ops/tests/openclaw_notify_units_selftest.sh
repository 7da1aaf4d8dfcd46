#!/usr/bin/env bash
# Hermetic self-test of ops/systemd/openclaw-notify-flush.{service,timer},
# read by systemd itself (`systemd-analyze` against a private root, so the
# host's units never leak in): verify, offline security, calendar.
# No network, no secrets, no root, no running systemd needed.
# Prints `ok - …`/`not ok - …`/`skip - …`, then `N passed, M failed`.

set -euo pipefail

# Highest acceptable exposure (systemd 252 scores 1.5); lower it when the
# unit improves, never raise it to make a change pass.
readonly max_exposure=1.5

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
units="$here/../systemd"
service="$units/openclaw-notify-flush.service"
timer="$units/openclaw-notify-flush.timer"

# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"
# shellcheck source=ops/tests/units_lib.sh
source "$here/units_lib.sh"

make_roots "$service" "$timer" openclaw-notify

# --- timer ------------------------------------------------------------------

verify_case "timer passes systemd-analyze verify with no warnings" openclaw-notify-flush.timer

name="timer is Persistent and fires every five minutes"
calendar="$(ini_values "$timer" Timer OnCalendar)"
persistent="$(ini_values "$timer" Timer Persistent | tail -n 1)"
cal_out="$(systemd-analyze calendar --iterations=3 --base-time='2024-03-30 23:58:00 UTC' "$calendar" 2>&1)" || true
mapfile -t elapses < <(sed -n 's/^ *\(Next elapse\|Iter\. #[0-9]*\): [A-Za-z]* //p' <<<"$cal_out")
epochs=()
for e in "${elapses[@]}"; do epochs+=("$(date -u -d "$e" +%s)"); done
if is_true "$persistent" && [[ ${#epochs[@]} -eq 3 ]] && ((epochs[1] - epochs[0] == 300 && epochs[2] - epochs[1] == 300)); then
  ok "$name"
else
  not_ok "$name" "Persistent=${persistent:-<unset>} OnCalendar=$calendar gives:" "$cal_out"
fi

unit="$(ini_values "$timer" Timer Unit | tail -n 1)"
if [[ "$unit" == openclaw-notify-flush.service ]] && ini_values "$timer" Install WantedBy | words | grep -qx 'timers\.target'; then
  ok "timer starts openclaw-notify-flush.service and is enabled into timers.target"
else
  not_ok "timer starts openclaw-notify-flush.service and is enabled into timers.target" "Unit=$unit"
fi

# --- service ----------------------------------------------------------------

verify_case "service passes systemd-analyze verify with no warnings" openclaw-notify-flush.service
security_case openclaw-notify-flush.service "$max_exposure"

name="runs openclaw-notify flush with no capabilities and no way to listen"
bad=()
exec_start="$(ini_values "$service" Service ExecStart | tail -n 1)"
[[ "$exec_start" == "/usr/local/bin/openclaw-notify flush" ]] || bad+=("ExecStart=$exec_start")
# systemd must see every capability group dropped.
while read -r m n _; do
  [[ "$n" == CapabilityBoundingSet=~* && "$m" != + ]] && bad+=("$n is kept")
done <"$tmp/security"
[[ "$(ini_values "$service" Service SocketBindDeny | tail -n 1)" == any ]] || bad+=("SocketBindDeny is not any")
[[ "$(row 'User=/DynamicUser=')" == *"runs as root"* ]] || bad+=("not root: the state and key files are root-owned")
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

name="sandbox: read-only system, hidden homes and processes, private tmp/dev, syscalls restricted"
bad=()
for n in NoNewPrivileges= ProtectSystem= ProtectHome= PrivateTmp= PrivateDevices= PrivateMounts= PrivateUsers= \
  ProtectProc= ProcSubset= ProtectKernelTunables= ProtectKernelModules= ProtectKernelLogs= \
  ProtectControlGroups= ProtectClock= ProtectHostname= RestrictRealtime= RestrictSUIDSGID= \
  LockPersonality= MemoryDenyWriteExecute= SystemCallArchitectures= UMask= KeyringMode= \
  RestrictAddressFamilies=~AF_PACKET; do
  [[ "$(mark "$n")" == + ]] || bad+=("$n: $(row "$n")")
done
while read -r m n _; do
  case "$n" in
    RestrictNamespaces=~* | SystemCallFilter=~*) [[ "$m" == + ]] || bad+=("$n is open") ;;
  esac
done <"$tmp/security"
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

name="writable: only /var/lib/openclaw (state) and /var/log/openclaw (audit log)"
rw="$(ini_values "$service" Service ReadWritePaths | words | tr '\n' ' ')"
if [[ "$rw" == "/var/lib/openclaw /var/log/openclaw " ]]; then ok "$name"; else not_ok "$name" "ReadWritePaths is '$rw'"; fi

summary
[[ $failed -eq 0 ]]
