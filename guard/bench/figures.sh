#!/usr/bin/env bash
# figures.sh: measures the guard's three figures (docs/guard.md "Figures")
# against a real sshd in a network namespace this script creates, the same
# lab as guard/tests/it/sshlab.rs:
#   1. a tick with a full ssh-tailnet-only remediation (restart to verified);
#   2. a tick when everything passes;
#   3. the time from SIGKILL of a guard mid-fix to a completed rollback.
# The doctor is the real one (`--only listeners`); tailscale, systemctl and
# the notifier are stubs, as in the tests. Root only; no network.
#
# Usage: guard/bench/figures.sh [BIN_DIR]   (default target/release; build
# first: cargo build --release -p guard -p doctor)
set -euo pipefail

bin="$(cd "${1:-target/release}" && pwd)"
guard="$bin/openclaw-guard"
doctor="$bin/openclaw-doctor"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
[[ -x "$guard" && -x "$doctor" ]] || { echo "build first: cargo build --release -p guard -p doctor" >&2; exit 2; }
[[ $EUID -eq 0 ]] || { echo "root required (network namespaces, sshd)" >&2; exit 2; }

tmp="$(mktemp -d /tmp/guard_figures.XXXXXX)"
ns="ocgfig$$"
ip_ts=100.101.102.103
cleanup() {
  [[ -f "$tmp/sshd.pid" ]] && kill "$(cat "$tmp/sshd.pid")" 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/bin" "$tmp/ssh/sshd_config.d" "$tmp/sysroot/etc/sysctl.d" /run/sshd
echo 'net.ipv4.ip_nonlocal_bind = 1' >"$tmp/sysroot/etc/sysctl.d/60-openclaw-guard.conf"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/ssh/ssh_host_ed25519_key"
cat >"$tmp/ssh/sshd_config" <<EOF
Include $tmp/ssh/sshd_config.d/*.conf
Port 2222
ListenAddress 0.0.0.0
HostKey $tmp/ssh/ssh_host_ed25519_key
PidFile $tmp/sshd.pid
UsePAM no
PasswordAuthentication no
EOF
cp "$tmp/ssh/sshd_config" "$tmp/sshd_config.orig"
printf 'ssh.service enabled enabled\n' >"$tmp/units"
cat >"$tmp/bin/tailscale" <<EOF
#!/bin/sh
cat '$here/../tests/fixtures/tailscale/running.json'
EOF
printf '#!/bin/sh\nexit 0\n' >"$tmp/bin/notify"
printf '#!/bin/sh\nexec %s --only listeners --format json\n' "$doctor" >"$tmp/bin/doctor"
cat >"$tmp/bin/systemctl" <<EOF
#!/bin/sh
case "\$1" in
  list-unit-files) cat '$tmp/units' ;;
  is-active) exit 1 ;;
  is-enabled) echo enabled ;;
  restart)
    if [ -f '$tmp/sshd.pid' ]; then
      old="\$(cat '$tmp/sshd.pid')"; kill "\$old"; i=0
      while [ -d "/proc/\$old" ] && ! grep -q '^State:.*Z' "/proc/\$old/status" 2>/dev/null && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i+1)); done
    fi
    /usr/sbin/sshd -f '$tmp/ssh/sshd_config' </dev/null >/dev/null 2>&1 || exit 1
    if [ -f '$tmp/hang' ]; then rm -f '$tmp/hang'; touch '$tmp/restarted'; sleep 60; fi ;;
esac
exit 0
EOF
chmod +x "$tmp/bin/"*

ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add tailscale0 type veth peer name ts-peer
ip -n "$ns" link add eth0 type veth peer name eth-peer
ip -n "$ns" addr add "$ip_ts/32" dev tailscale0
ip -n "$ns" addr add 198.51.100.7/24 dev eth0
for l in tailscale0 ts-peer eth0 eth-peer; do ip -n "$ns" link set "$l" up; done
ip netns exec "$ns" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_nonlocal_bind'

config() {
  printf '[guard]\nrollback_after_secs = %s\nverify_secs = 2\ndeadman = "watchdog"\n' "$1" >"$tmp/openclaw.toml"
}
config 120
start_public_sshd() {
  cp "$tmp/sshd_config.orig" "$tmp/ssh/sshd_config"
  rm -f "$tmp/ssh/sshd_config.d/"*
  [[ -f "$tmp/sshd.pid" ]] && kill "$(cat "$tmp/sshd.pid")" 2>/dev/null && sleep 0.3
  ip netns exec "$ns" /usr/sbin/sshd -f "$tmp/ssh/sshd_config"
  sleep 0.3
}
g() {
  exec_g "$@" &
  wait $!
}
# exec: in `exec_g … &` the background job *is* the guard, so $! is its pid.
exec_g() {
  exec ip netns exec "$ns" env -i PATH="$tmp/bin:/usr/sbin:/usr/bin:/bin" HOME="$tmp" \
    OPENCLAW_CONFIG="$tmp/openclaw.toml" OPENCLAW_STATE_DIR="$tmp/state" OPENCLAW_RUN_DIR="$tmp/run" \
    OPENCLAW_ARTIFACTS_ROOT="$tmp/artifacts" OPENCLAW_AUDIT_LOG="$tmp/audit/audit.jsonl" \
    OPENCLAW_SECRETS_DIR="$tmp/secrets" OPENCLAW_GUARD_LOG="$tmp/guard.log" OPENCLAW_SSH_DIR="$tmp/ssh" OPENCLAW_SYSCTL_ROOT="$tmp/sysroot" \
    OPENCLAW_DOCTOR_BIN="$tmp/bin/doctor" OPENCLAW_NOTIFY_BIN="$tmp/bin/notify" "$guard" "$@"
}
ms() { date +%s%3N; }
exec_doctor() {
  ip netns exec "$ns" env -i PATH="$tmp/bin:/usr/sbin:/usr/bin:/bin" HOME="$tmp" OPENCLAW_CONFIG="$tmp/openclaw.toml" \
    OPENCLAW_STATE_DIR="$tmp/state" OPENCLAW_RUN_DIR="$tmp/run" OPENCLAW_ARTIFACTS_ROOT="$tmp/artifacts" \
    OPENCLAW_AUDIT_LOG="$tmp/audit/audit.jsonl" OPENCLAW_SECRETS_DIR="$tmp/secrets" "$doctor" --only listeners --format json
}
last_duration() { grep "\"action\":\"$1\"" "$tmp/audit/audit.jsonl" | tail -n 1 | sed 's/.*"duration_ms":\([0-9]*\).*/\1/'; }

# 1. A tick with a full remediation, five times from a public sshd.
for i in 1 2 3 4 5; do
  start_public_sshd
  rm -rf "$tmp/state" # a fresh budget each time
  t0=$(ms); rc=0; g run >"$tmp/out" || rc=$?; t1=$(ms)
  [[ $rc -eq 0 ]] || { cat "$tmp/out" "$tmp/guard.log" >&2; echo "remediation tick exited $rc" >&2; exit 1; }
  printf 'remediation tick %d: %d ms wall (guard.run %s ms; guard.fix, backup to verified, %s ms)\n' \
    "$i" $((t1 - t0)) "$(last_duration guard.run)" "$(last_duration guard.fix)"
done

# 2. Ticks when everything passes.
for i in 1 2 3 4 5; do
  t0=$(ms); g run >"$tmp/out" || { cat "$tmp/out" >&2; exit 1; }; t1=$(ms)
  printf 'passing tick %d: %d ms wall (guard.run %s ms)\n' "$i" $((t1 - t0)) "$(last_duration guard.run)"
done
t0=$(ms); exec_doctor >/dev/null || true; t1=$(ms)
printf 'of which the doctor alone (--only listeners): %d ms\n' $((t1 - t0))

# 3. SIGKILL between restart and confirm, then the watchdog's rollback.
for after in 5 10; do
  config "$after"
  start_public_sshd
  rm -rf "$tmp/state"
  rm -f "$tmp/restarted"; touch "$tmp/hang"
  exec_g fix ssh-tailnet-only >/dev/null &
  pid=$!
  while [[ ! -f "$tmp/restarted" ]]; do
    kill -0 "$pid" 2>/dev/null || { echo "the fix ended before the restart" >&2; tail "$tmp/guard.log" >&2; exit 1; }
    sleep 0.05
  done
  armed=$(sed -n 's/.*"armed_at": \([0-9]*\).*/\1/p' "$tmp/state/guard/state.json")
  kill -9 "$pid"; t_kill=$(ms); wait "$pid" 2>/dev/null || true
  until grep -q '"pending_rollback": null' "$tmp/state/guard/state.json" && cmp -s "$tmp/sshd_config.orig" "$tmp/ssh/sshd_config"; do sleep 0.05; done
  t_done=$(ms)
  printf 'rollback_after_secs=%s: killed %d ms after arming; rollback complete %d ms after the kill (%d ms after arming)\n' \
    "$after" $((t_kill - armed * 1000)) $((t_done - t_kill)) $((t_done - armed * 1000))
done
