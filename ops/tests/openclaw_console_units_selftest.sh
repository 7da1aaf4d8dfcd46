#!/usr/bin/env bash
# Hermetic self-test of ops/systemd/openclaw-console.service, read by systemd
# itself (`systemd-analyze` against a private root, so the host's units never
# leak in): verify, offline security exposure, and the settings the console
# depends on (the token as a credential only, loopback-only IP, an
# unprivileged identity, its own writable directories, the shutdown order).
# No network, no secrets, no root, no running systemd needed.
# Prints `ok - …`/`not ok - …`/`skip - …`, then `N passed, M failed`.

set -euo pipefail

# Highest acceptable exposure. The unit scores 0.9 with systemd 252; the
# console must never score above 1.5.
readonly max_exposure=1.5
# [console] shutdown_grace_secs default, and the console's wait for killed
# children to be audited after it.
readonly grace_secs=20 kill_wait_secs=10

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
service="$here/../systemd/openclaw-console.service"

# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"
# shellcheck source=ops/tests/units_lib.sh
source "$here/units_lib.sh"

make_roots "$service" openclaw-console

svc() { ini_values "$service" Service "$1"; }
last() { svc "$1" | tail -n 1; }
seconds() { systemd-analyze timespan "$1" 2>/dev/null | sed -n 's/^ *μs: //p; s/^ *us: //p' | head -n 1; }

verify_case "service passes systemd-analyze verify with no warnings" openclaw-console.service
security_case openclaw-console.service "$max_exposure"
printf '# exposure: %s\n' "$(sed -n 's/.*Overall exposure level for [^:]*: //p' "$tmp/security")"

name="type notify, runs openclaw-console serve with no token on the command line"
bad=()
exec_start="$(last ExecStart)"
[[ "$exec_start" == "/usr/local/bin/openclaw-console serve" ]] || bad+=("ExecStart=$exec_start")
while IFS= read -r line; do
  [[ "${line,,}" == *token* ]] && bad+=("token on an Exec line: $line")
done < <(grep -E '^[[:space:]]*Exec[A-Za-z]*=' "$service")
[[ "$(last Type)" == notify ]] || bad+=("Type=$(last Type)")
[[ "$(last NotifyAccess)" == main ]] || bad+=("NotifyAccess=$(last NotifyAccess)")
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

name="the token comes only as the credential OPENCLAW_CONSOLE_TOKEN from its 0600 file"
bad=()
creds="$(svc LoadCredential)"
[[ "$creds" == "OPENCLAW_CONSOLE_TOKEN:/etc/ai-ops-runner/secrets/openclaw_console_token" ]] || bad+=("LoadCredential: $creds")
# common::secrets names the file after the key, lowercased.
[[ "${creds##*/}" == "$(tr '[:upper:]' '[:lower:]' <<<"OPENCLAW_CONSOLE_TOKEN")" ]] || bad+=("credential source is not the key's file name")
for key in Environment EnvironmentFile PassEnvironment SetCredential SetCredentialEncrypted UnsetEnvironment; do
  while IFS= read -r v; do
    [[ "$v" == *OPENCLAW_CONSOLE_TOKEN* || "${v,,}" == *console_token* ]] && bad+=("$key=$v")
  done < <(svc "$key")
done
grep -Eq '^[[:space:]]*Environment[A-Za-z]*=.*(OPENCLAW_CONSOLE_TOKEN|console_token)' "$service" && bad+=("the token in an Environment line")
# Root's secrets directory is unreadable to the console: it must be hidden,
# or the token lookup fails on it instead of moving on.
[[ " $(svc TemporaryFileSystem | words | tr '\n' ' ')" == *" /etc/ai-ops-runner:ro "* ]] || bad+=("/etc/ai-ops-runner is not hidden")
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

name="unprivileged: a dynamic user with no capabilities"
bad=()
is_true "$(last DynamicUser)" || bad+=("DynamicUser=$(last DynamicUser)")
[[ "$(row 'User=/DynamicUser=')" == *"non-root"* ]] || bad+=("$(row 'User=/DynamicUser=')")
[[ -z "$(svc CapabilityBoundingSet)" ]] && grep -Eq '^CapabilityBoundingSet=$' "$service" || bad+=("CapabilityBoundingSet is not empty")
while read -r m n _; do
  [[ "$n" == CapabilityBoundingSet=~* && "$m" != + ]] && bad+=("$n is kept")
done <"$tmp/security"
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

name="network: IP to and from localhost only; AF_UNIX, AF_INET, AF_INET6 only"
bad=()
[[ "$(svc IPAddressAllow | words | tr '\n' ' ')" == "localhost " ]] || bad+=("IPAddressAllow: $(svc IPAddressAllow)")
[[ "$(svc IPAddressDeny | words | tr '\n' ' ')" == "any " ]] || bad+=("IPAddressDeny: $(svc IPAddressDeny)")
[[ "$(row IPAddressDeny=)" == *"only localhost"* ]] || bad+=("$(row IPAddressDeny=)")
families="$(svc RestrictAddressFamilies | words | tr '\n' ' ')"
[[ "$families" == "AF_INET AF_INET6 AF_UNIX " ]] || bad+=("RestrictAddressFamilies is '$families'")
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

name="its own state, logs and runtime directories, with every path variable inside them"
bad=()
state="$(last StateDirectory)" logs="$(last LogsDirectory)" runtime="$(last RuntimeDirectory)"
[[ "$state" == openclaw-console && "$logs" == openclaw-console && "$runtime" == openclaw-console ]] \
  || bad+=("StateDirectory=$state LogsDirectory=$logs RuntimeDirectory=$runtime")
for d in StateDirectoryMode LogsDirectoryMode RuntimeDirectoryMode; do
  [[ "$(last "$d")" == 0700 ]] || bad+=("$d=$(last "$d")")
done
declare -A env=()
while IFS= read -r assignment; do
  for word in $assignment; do env["${word%%=*}"]="${word#*=}"; done
done < <(svc Environment)
# With DynamicUser= the state and logs directories are links into private/;
# the console refuses links among its private paths, so the real ones are named.
[[ "${env[OPENCLAW_STATE_DIR]-}" == "/var/lib/private/$state" ]] || bad+=("OPENCLAW_STATE_DIR=${env[OPENCLAW_STATE_DIR]-<unset>}")
[[ "${env[OPENCLAW_ARTIFACTS_ROOT]-}" == "/var/lib/private/$state/"* ]] || bad+=("OPENCLAW_ARTIFACTS_ROOT=${env[OPENCLAW_ARTIFACTS_ROOT]-<unset>}")
[[ "${env[OPENCLAW_AUDIT_LOG]-}" == "/var/log/private/$logs/"*.jsonl ]] || bad+=("OPENCLAW_AUDIT_LOG=${env[OPENCLAW_AUDIT_LOG]-<unset>}")
[[ "${env[OPENCLAW_RUN_DIR]-}" == "/run/$runtime" ]] || bad+=("OPENCLAW_RUN_DIR=${env[OPENCLAW_RUN_DIR]-<unset>}")
[[ -z "$(svc ReadWritePaths)" ]] || bad+=("ReadWritePaths: $(svc ReadWritePaths | tr '\n' ' ')")
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

name="shutdown: SIGTERM to the console, no child outlives the unit, stop timeout above the grace"
bad=()
[[ "$(last KillMode)" == mixed ]] || bad+=("KillMode=$(last KillMode) (mixed: SIGTERM to the console only, SIGKILL to the whole cgroup)")
stop="$(last TimeoutStopSec)"
stop_us="$(seconds "${stop:-90s}")"
want_us=$(((grace_secs + kill_wait_secs) * 1000000))
[[ -n "$stop_us" ]] && ((stop_us > want_us)) || bad+=("TimeoutStopSec=${stop:-<unset>} is not above ${grace_secs}+${kill_wait_secs} s")
[[ " $(svc RestartPreventExitStatus | words | tr '\n' ' ')" == *" 2 "* ]] || bad+=("exit 2 (refused to start) is restarted")
if ((${#bad[@]} == 0)); then ok "$name (TimeoutStopSec=$stop)"; else not_ok "$name" "${bad[@]}"; fi

name="sandbox: read-only system, hidden homes and processes, private tmp/dev/users, syscalls restricted"
bad=()
for n in NoNewPrivileges= ProtectSystem= ProtectHome= PrivateTmp= PrivateDevices= PrivateMounts= PrivateUsers= \
  ProtectProc= ProtectKernelTunables= ProtectKernelModules= ProtectKernelLogs= ProtectControlGroups= \
  ProtectClock= ProtectHostname= RestrictRealtime= RestrictSUIDSGID= LockPersonality= MemoryDenyWriteExecute= \
  SystemCallArchitectures= UMask= KeyringMode= RemoveIPC= AmbientCapabilities= NotifyAccess= Delegate= \
  RestrictAddressFamilies=~AF_PACKET RestrictAddressFamilies=~AF_NETLINK; do
  [[ "$(mark "$n")" == + ]] || bad+=("$n: $(row "$n")")
done
[[ "$(row ProtectSystem=)" == *strict* ]] || bad+=("ProtectSystem not strict: $(row ProtectSystem=)")
[[ "$(last ProtectProc)" == invisible ]] || bad+=("ProtectProc=$(last ProtectProc)")
[[ "$(last UMask)" == 0077 ]] || bad+=("UMask=$(last UMask)")
while read -r m n _; do
  case "$n" in
    RestrictNamespaces=~* | SystemCallFilter=~*) [[ "$m" == + ]] || bad+=("$n is open") ;;
  esac
done <"$tmp/security"
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

name="installed, not enabled: the header says to create the token, then enable"
bad=()
header="$(sed -n '/^\[Unit\]/q;p' "$service")"
grep -q 'openclaw-keyctl .*OPENCLAW_CONSOLE_TOKEN' <<<"$header" || bad+=("no token command in the header")
grep -q 'systemctl enable --now openclaw-console.service' <<<"$header" || bad+=("no enable command in the header")
ini_values "$service" Install WantedBy | words | grep -qx 'multi-user\.target' || bad+=("WantedBy is not multi-user.target")
if ((${#bad[@]} == 0)); then ok "$name"; else not_ok "$name" "${bad[@]}"; fi

summary
[[ $failed -eq 0 ]]
