#!/usr/bin/env bash
# Hermetic self-test of ops/systemd/openclaw-doctor.{service,timer}.
#
# Asks systemd itself, through `systemd-analyze` run against a private root
# directory (so the host's installed units and drop-ins never leak in), how
# it reads the units: verify, security (offline), calendar and timespan.
# A small ini reader covers what systemd-analyze cannot show offline
# (timer settings, the exact capability set, writable paths).
# No network, no secrets, no root, no running systemd needed.
#
# Prints `ok - <case>` / `not ok - <case>` / `skip - <reason>` lines, then
# `N passed, M failed`. Exit status: 0 when nothing failed, 1 otherwise.

set -euo pipefail

# Highest acceptable `systemd-analyze security` exposure for the service.
# 2.5 is what the unit scores with systemd 252 (Debian 12); lower it when the
# unit improves, never raise it to make a change pass.
readonly max_exposure=2.5

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
units="$here/../systemd"
service="$units/openclaw-doctor.service"
timer="$units/openclaw-doctor.timer"

# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"
# shellcheck source=ops/tests/units_lib.sh
source "$here/units_lib.sh"

make_roots "$service" "$timer" openclaw-doctor

# --- timer ------------------------------------------------------------------

verify_case "timer passes systemd-analyze verify with no warnings" openclaw-doctor.timer

persistent="$(ini_values "$timer" Timer Persistent | tail -n 1)"
calendar="$(ini_values "$timer" Timer OnCalendar)"
if is_true "$persistent" && [[ -n "$calendar" ]]; then
  ok "timer is Persistent (and calendar-based, the only kind Persistent= acts on)"
else
  not_ok "timer is Persistent (and calendar-based, the only kind Persistent= acts on)" \
    "Persistent=${persistent:-<unset>} OnCalendar=${calendar:-<unset>}"
fi

# The next three elapses systemd computes must be exactly one hour apart.
name="timer fires every hour"
if [[ -n "$calendar" && $(wc -l <<<"$calendar") -eq 1 ]]; then
  cal_out="$(systemd-analyze calendar --iterations=3 --base-time='2024-03-30 23:30:00 UTC' "$calendar" 2>&1)" || true
  mapfile -t elapses < <(sed -n 's/^ *\(Next elapse\|Iter\. #[0-9]*\): [A-Za-z]* //p' <<<"$cal_out")
  epochs=()
  for e in "${elapses[@]}"; do epochs+=("$(date -u -d "$e" +%s)"); done
  if [[ ${#epochs[@]} -eq 3 ]] && ((epochs[1] - epochs[0] == 3600 && epochs[2] - epochs[1] == 3600)); then
    ok "$name"
  else
    not_ok "$name" "OnCalendar=$calendar gives:" "$cal_out"
  fi
else
  not_ok "$name" "expected exactly one OnCalendar=, got: ${calendar:-none}"
fi

name="timer spreads start times by 60 s"
delay="$(ini_values "$timer" Timer RandomizedDelaySec | tail -n 1)"
delay_us="$(systemd-analyze timespan "${delay:-0}" 2>/dev/null | sed -n 's/^ *us: //p')" || true
if [[ "$delay_us" == 60000000 ]]; then
  ok "$name"
else
  not_ok "$name" "RandomizedDelaySec=${delay:-<unset>} is ${delay_us:-unparseable} us"
fi

unit="$(ini_values "$timer" Timer Unit | tail -n 1)"
if [[ "${unit:-openclaw-doctor.service}" == openclaw-doctor.service ]]; then
  ok "timer starts openclaw-doctor.service"
else
  not_ok "timer starts openclaw-doctor.service" "Unit=$unit"
fi

if ini_values "$timer" Install WantedBy | words | grep -qx 'timers\.target'; then
  ok "timer is enabled into timers.target"
else
  not_ok "timer is enabled into timers.target" "WantedBy=$(ini_values "$timer" Install WantedBy | tr '\n' ' ')"
fi

# --- service ----------------------------------------------------------------

verify_case "service passes systemd-analyze verify with no warnings" openclaw-doctor.service

security_case openclaw-doctor.service "$max_exposure"

# What the doctor needs must stay open: host network (/proc/net), all of
# /proc, real root, home directories readable.
bad=()
for n in PrivateNetwork= ProtectProc= ProcSubset= PrivateUsers=; do
  [[ "$(mark "$n")" == - ]] || bad+=("$n restricted: $(row "$n")")
done
[[ "$(row 'User=/DynamicUser=')" == *"runs as root"* ]] || bad+=("not root: $(row 'User=/DynamicUser=')")
[[ "$(row ProtectHome=)" == *read-only* ]] || bad+=("home not read-only: $(row ProtectHome=)")
if ((${#bad[@]} == 0)); then
  ok "doctor keeps what it needs: host network, full /proc, root, readable homes"
else
  not_ok "doctor keeps what it needs: host network, full /proc, root, readable homes" "${bad[@]}"
fi

# Every sandboxing option that does not get in the doctor's way is in force.
bad=()
for n in NoNewPrivileges= ProtectSystem= PrivateTmp= PrivateDevices= PrivateMounts= \
  ProtectKernelTunables= ProtectKernelModules= ProtectKernelLogs= ProtectControlGroups= \
  ProtectClock= ProtectHostname= RestrictRealtime= RestrictSUIDSGID= LockPersonality= \
  MemoryDenyWriteExecute= SystemCallArchitectures= UMask= AmbientCapabilities= \
  KeyringMode= NotifyAccess= Delegate= RestrictAddressFamilies=~AF_PACKET; do
  [[ "$(mark "$n")" == + ]] || bad+=("$n: $(row "$n")")
done
[[ "$(row ProtectSystem=)" == *strict* ]] || bad+=("ProtectSystem not strict: $(row ProtectSystem=)")
# All namespace types and all dangerous syscall groups.
while read -r m n _; do
  case "$n" in
    RestrictNamespaces=~* | SystemCallFilter=~* | RestrictAddressFamilies=~[!A]*)
      [[ "$m" == + ]] || bad+=("$n is open")
      ;;
  esac
done <"$tmp/security"
if ((${#bad[@]} == 0)); then
  ok "sandbox: read-only system, private tmp/dev/mounts, kernel protected, syscalls and namespaces restricted"
else
  not_ok "sandbox: read-only system, private tmp/dev/mounts, kernel protected, syscalls and namespaces restricted" "${bad[@]}"
fi

# Only the four capabilities the checks need: systemd must see every other
# capability group dropped, and the unit must name exactly these four.
allowed_rows='CapabilityBoundingSet=~CAP_SYS_PTRACE CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER) CapabilityBoundingSet=~CAP_NET_ADMIN CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)'
bad=()
while read -r m n _; do
  [[ "$n" == CapabilityBoundingSet=~* ]] || continue
  if [[ " $allowed_rows " == *" $n "* ]]; then
    [[ "$m" == - ]] || bad+=("$n dropped, but the doctor needs it")
  else
    [[ "$m" == + ]] || bad+=("$n is kept")
  fi
done <"$tmp/security"
caps="$(ini_values "$service" Service CapabilityBoundingSet | words | tr '\n' ' ')"
want="$(words <<<'CAP_DAC_READ_SEARCH CAP_NET_ADMIN CAP_NET_RAW CAP_SYS_PTRACE' | tr '\n' ' ')"
[[ "$caps" == "$want" ]] || bad+=("CapabilityBoundingSet is '$caps', want '$want'")
if ((${#bad[@]} == 0)); then
  ok "capabilities: exactly CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_NET_ADMIN CAP_NET_RAW"
else
  not_ok "capabilities: exactly CAP_SYS_PTRACE CAP_DAC_READ_SEARCH CAP_NET_ADMIN CAP_NET_RAW" "${bad[@]}"
fi

# IP only to loopback; sockets only of the families the doctor uses.
bad=()
[[ "$(row IPAddressDeny=)" == *"only localhost"* ]] || bad+=("IPAddressDeny: $(row IPAddressDeny=)")
families="$(ini_values "$service" Service RestrictAddressFamilies | words | tr '\n' ' ')"
[[ "$families" == "AF_INET AF_INET6 AF_NETLINK AF_UNIX " ]] || bad+=("RestrictAddressFamilies is '$families'")
if ((${#bad[@]} == 0)); then
  ok "network: IP to localhost only; AF_UNIX, AF_INET, AF_INET6, AF_NETLINK only"
else
  not_ok "network: IP to localhost only; AF_UNIX, AF_INET, AF_INET6, AF_NETLINK only" "${bad[@]}"
fi

# Writable: the state directory and the directory of the --textfile target,
# nothing else.
name="writable: only /var/lib/openclaw and the textfile directory"
bad=()
rw="$(ini_values "$service" Service ReadWritePaths | words | sed 's/^[-+]*//' | sort -u | tr '\n' ' ')"
[[ "$rw" == "/var/lib/openclaw /var/lib/prometheus/node-exporter " ]] || bad+=("ReadWritePaths is '$rw'")
[[ "$(ini_values "$service" Service StateDirectory | words | tr '\n' ' ')" == "openclaw " ]] || bad+=("StateDirectory is not openclaw")
exec_start="$(ini_values "$service" Service ExecStart | tail -n 1)"
read -r -a argv <<<"$exec_start"
textfile=""
for i in "${!argv[@]}"; do
  [[ "${argv[i]}" == --textfile ]] && textfile="${argv[i + 1]:-}"
done
[[ "${argv[0]:-}" == /usr/local/bin/openclaw-doctor ]] || bad+=("ExecStart runs '${argv[0]:-}'")
[[ -n "$textfile" && " $rw " == *" ${textfile%/*} "* ]] || bad+=("--textfile '${textfile}' is not in a writable directory")
if ((${#bad[@]} == 0)); then
  ok "$name"
else
  not_ok "$name" "${bad[@]}"
fi

summary
[[ $failed -eq 0 ]]
