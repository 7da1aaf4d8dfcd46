#!/usr/bin/env bash
# systemd_boot_test.sh: runs INSIDE the Debian root that `cargo xtask
# systemd-test` boots under a real systemd (never on a host: it installs,
# upgrades, removes and purges the package and enables every unit). Beside
# it: lib.sh, openclaw_N.deb (the just-built package) and openclaw_N1.deb
# (the same with its version bumped).
#
# Every wait has a timeout. Prints `ok - …` / `not ok - …` per check and
# `N passed, M failed` last; exit 1 if anything failed.

set -uo pipefail

here="${BASH_SOURCE[0]%/*}"
[[ "$here" == "${BASH_SOURCE[0]}" ]] && here="."
# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

if [[ "$(cat /proc/1/comm 2>/dev/null)" != systemd || ! -d "$here" || "$here" != /srv/openclaw-test ]]; then
  printf 'systemd_boot_test.sh: runs only inside the container of cargo xtask systemd-test\n' >&2
  exit 2
fi

units=/usr/lib/systemd/system
console_state=/var/lib/private/openclaw-console
tmp="$(mktemp -d)"
token_header="$tmp/token-header"

check() {
  local name="$1"
  shift
  if "$@" >"$tmp/out" 2>&1; then ok "$name"; else not_ok "$name" "$(tail -n 5 "$tmp/out")"; fi
}
# expect NAME WANT GOT
expect() {
  if [[ "$2" == "$3" ]]; then ok "$1 ($3)"; else not_ok "$1" "want: $2" "got:  $3"; fi
}
prop() { systemctl show -p "$2" --value "$1"; }
# start UNIT [SECONDS]: a blocking start (oneshot units run to the end).
start() { timeout "${2:-300}" systemctl start "$1" >"$tmp/start" 2>&1 || true; }
journal() { journalctl -q -o cat --no-pager -u "$1" 2>/dev/null; }
section() { printf '# --- %s\n' "$1"; }
# failed_units: the failed units, or `systemctl-failed` when it cannot tell
# (never an empty answer on missing input).
failed_units() {
  local out
  out="$(systemctl list-units --failed --plain --no-legend --no-pager)" || { echo systemctl-failed; return; }
  awk '{print $1}' <<<"$out" | sed '/^$/d' | sort | tr '\n' ' '
}
# next_elapse TIMER: a real next elapse (not empty, 0 or infinity).
next_elapse() {
  local v
  for v in "$(prop "$1" NextElapseUSecRealtime)" "$(prop "$1" NextElapseUSecMonotonic)"; do
    case "$v" in "" | 0 | infinity | n/a) ;; *) return 0 ;; esac
  done
  return 1
}
mode() { stat -c %a "$1" 2>/dev/null; }
# exposure UNIT FILE: the running system's score equals the offline score of the unit file.
exposure() {
  local unit="$1" file="$2" online offline dir
  online="$(systemd-analyze security --no-pager "$unit" 2>&1 | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
  dir="$tmp/offline/$unit"
  mkdir -p "$dir/etc/systemd/system"
  cp "$file" "$dir/etc/systemd/system/$unit"
  offline="$(systemd-analyze security --offline=true --root="$dir" --no-pager "$unit" 2>&1 |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')"
  if [[ -n "$online" && "$online" == "$offline" ]]; then
    ok "exposure of $unit booted equals the offline score ($online)"
  else
    not_ok "exposure of $unit booted equals the offline score" "online ${online:-none}, offline ${offline:-none}"
  fi
}

section "install"
expect "the system booted with no failed unit" "" "$(failed_units)"
check "dpkg -i the package (version N)" timeout 300 dpkg -i "$here/openclaw_N.deb"
version_n="$(dpkg-query -W -f='${Version}' openclaw)"
expect "no failed unit after the install" "" "$(failed_units)"
for file in "$units"/openclaw-*; do
  name="${file##*/}"
  case "$name" in *@.*) name="${name/@./@selftest.}" ;; esac
  out="$(systemd-analyze verify --man=no "$name" 2>&1)" && rc=0 || rc=$?
  if ((rc == 0)) && ! grep -q openclaw <<<"$out"; then ok "systemd-analyze verify $name"; else not_ok "systemd-analyze verify $name" "exit $rc" "$out"; fi
done
for t in openclaw-doctor.timer openclaw-notify-flush.timer; do
  expect "$t is active after the install" active "$(systemctl is-active "$t")"
  check "$t has a next elapse" next_elapse "$t"
done

section "doctor"
prom_dir=/var/lib/prometheus/node-exporter
start openclaw-doctor.service 120
status="$(prop openclaw-doctor.service ExecMainStatus)"
result="$(prop openclaw-doctor.service Result)"
check "the doctor exited 0 or 1, never 2 (exit $status)" test "$status" = 0 -o "$status" = 1
# A failed check fails the unit (visible in systemctl --failed); a pass does not.
case "$status" in
  0) expect "a passing doctor leaves the unit successful" success "$result" ;;
  *) expect "a failing check leaves the unit failed (exit $status)" exit-code "$result" ;;
esac
check "the journal says the textfile was skipped" grep -q "textfile skipped" <(journal openclaw-doctor.service)
report="$(find /var/lib/openclaw/artifacts/doctor -name doctor.json 2>/dev/null | sort | tail -n 1)"
check "the doctor wrote its report" test -n "$report" -a -s "$report"
if [[ -n "$report" ]]; then
  expect "the report is 0600" 600 "$(mode "$report")"
  expect "its run directory is 0700" 700 "$(mode "${report%/*}")"
  expect "the artifacts root is 0700" 700 "$(mode /var/lib/openclaw/artifacts)"
  expect "/var/lib/openclaw is 0700" 700 "$(mode /var/lib/openclaw)"
  if [[ "$status" == 1 ]]; then
    check "exit 1 comes with a FAIL report" grep -q '"result": *"FAIL"' "$report"
  else
    check "exit 0 comes with no FAIL in the report" test -z "$(grep '"result": *"FAIL"' "$report")"
  fi
fi
# A doctor that cannot run (an unknown key in its config: exit 2) is a unit
# failure, not a success.
printf 'no_such_key = 1\n' >/etc/openclaw/openclaw.toml
start openclaw-doctor.service 120
expect "a doctor that cannot run fails the unit (exit 2)" "exit-code 2" \
  "$(prop openclaw-doctor.service Result) $(prop openclaw-doctor.service ExecMainStatus)"
rm -f /etc/openclaw/openclaw.toml
systemctl reset-failed openclaw-doctor.service
install -d -m 0755 "$prom_dir"
start openclaw-doctor.service 120
expect "openclaw-doctor.service with node-exporter's directory: exit 0 or 1, never 2" yes \
  "$(case "$(prop openclaw-doctor.service ExecMainStatus)" in 0 | 1) echo yes ;; *) echo no ;; esac)"
check "the textfile is written" test -s "$prom_dir/openclaw_doctor.prom"
expect "the textfile is 0644 (node-exporter reads it)" 644 "$(mode "$prom_dir/openclaw_doctor.prom")"
check "the textfile has the doctor's metrics" grep -q '^openclaw_doctor_' "$prom_dir/openclaw_doctor.prom"
expect "openclaw-doctor.timer is still active" active "$(systemctl is-active openclaw-doctor.timer)"

section "notifier"
# Test secrets (canaries), never real keys. `send` finds them in the secrets
# directory, queues the alert when delivery fails (no network here), and the
# files are then deleted so that the flush unit can only have them through
# LoadCredential=.
# Shaped like Pushover's (30 letters and digits), so keyctl's check takes them.
app_canary="$(od -An -N15 -tx1 /dev/urandom | tr -d ' \n')"
user_canary="$(od -An -N15 -tx1 /dev/urandom | tr -d ' \n')"
install -d -m 0700 "$tmp/creds"
printf '%s' "$app_canary" >"$tmp/creds/app"
printf '%s' "$user_canary" >"$tmp/creds/user"
chmod 0600 "$tmp/creds/app" "$tmp/creds/user"
check "openclaw-keyctl set PUSHOVER_APP_TOKEN (stdin)" openclaw-keyctl set PUSHOVER_APP_TOKEN <"$tmp/creds/app"
check "openclaw-keyctl set PUSHOVER_USER_KEY (stdin)" openclaw-keyctl set PUSHOVER_USER_KEY <"$tmp/creds/user"
timeout 120 openclaw-notify send --check-id systemd.test "boot test alert" >"$tmp/send" 2>&1
rc=$?
if ((rc == 0)); then ok "openclaw-notify send with no network exits 0 (queued)"; else
  not_ok "openclaw-notify send with no network exits 0 (queued)" "exit $rc" "$(tail -n 3 "$tmp/send")"
fi
outbox=/var/lib/openclaw/notifier/outbox
before="$(find "$outbox" -maxdepth 1 -name '*.json' -printf '%f\n' 2>/dev/null | sort)"
check "the alert is in the outbox" test -n "$before"
check "openclaw-keyctl delete PUSHOVER_APP_TOKEN" openclaw-keyctl delete PUSHOVER_APP_TOKEN
check "openclaw-keyctl delete PUSHOVER_USER_KEY" openclaw-keyctl delete PUSHOVER_USER_KEY
mkdir -p /etc/systemd/system/openclaw-notify-flush.service.d
cat >/etc/systemd/system/openclaw-notify-flush.service.d/credentials.conf <<EOF
[Service]
LoadCredential=PUSHOVER_APP_TOKEN:$tmp/creds/app
LoadCredential=PUSHOVER_USER_KEY:$tmp/creds/user
EOF
systemctl daemon-reload
start openclaw-notify-flush.service 300
# The key files are gone: a success means the keys came from the credentials.
expect "openclaw-notify-flush.service with credentials and no network: result" success "$(prop openclaw-notify-flush.service Result)"
after="$(find "$outbox" -maxdepth 1 -name '*.json' -printf '%f\n' 2>/dev/null | sort)"
expect "the flush kept the outbox" "$before" "$after"
journalctl -q --no-pager >"$tmp/journal" 2>&1
if [[ -s "$tmp/journal" ]] && ! grep -q -e "$app_canary" -e "$user_canary" "$tmp/journal"; then
  ok "no test secret in the journal"
else
  not_ok "no test secret in the journal" "(or no journal to read)"
fi
expect "openclaw-notify-flush.timer is active" active "$(systemctl is-active openclaw-notify-flush.timer)"

section "guard"
ssh_pid="$(prop ssh.service MainPID)"
ssh_sum="$(find /etc/ssh -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)"
check "sshd is running before the guard" test "$ssh_pid" -gt 0
# As docs/install.md says: the sysctl file (only this file: a container
# must not set the host's kernel-wide sysctls), then the timer.
install -m 0644 /usr/lib/openclaw/sysctl/60-openclaw-guard.conf /etc/sysctl.d/
check "sysctl -p 60-openclaw-guard.conf" sysctl -q -p /etc/sysctl.d/60-openclaw-guard.conf
check "systemctl enable --now openclaw-guard.timer" timeout 60 systemctl enable --now openclaw-guard.timer
check "openclaw-guard.timer has a next elapse" next_elapse openclaw-guard.timer
# What a group that may write /var/log could plant there: neither the unit's
# ExecStartPre= (root, outside the sandbox) nor the tick may follow a link,
# or adopt, chown or chmod a file someone else made.
rm -f /var/log/openclaw_guard.log
ln -s /etc/openclaw-planted /var/log/openclaw_guard.log
start openclaw-guard.service 480
expect "a link for the guard log: the tick does not start" "exit-code 0" \
  "$(prop openclaw-guard.service Result) $(prop openclaw-guard.service ExecMainPID)"
check "nothing was created through the link" test ! -e /etc/openclaw-planted
rm -f /var/log/openclaw_guard.log
printf 'FORGED: RESULT: PASS\n' >/var/log/openclaw_guard.log
chmod 0600 /var/log/openclaw_guard.log
chown nobody:nogroup /var/log/openclaw_guard.log
start openclaw-guard.service 480
expect "a planted guard log: the tick does not start" "exit-code 0" \
  "$(prop openclaw-guard.service Result) $(prop openclaw-guard.service ExecMainPID)"
expect "the planted file is never adopted or changed" "nobody 600 FORGED: RESULT: PASS" \
  "$(stat -c '%U %a' /var/log/openclaw_guard.log) $(cat /var/log/openclaw_guard.log)"
rm -f /var/log/openclaw_guard.log
# A log deleted by hand is made again by the next tick.
start openclaw-guard.service 480
expect "one guard tick with no Tailscale: exit status 1" 1 "$(prop openclaw-guard.service ExecMainStatus)"
expect "the tick's unit is failed with result exit-code (docs/guard.md)" exit-code "$(prop openclaw-guard.service Result)"
check "the guard log is written" test -s /var/log/openclaw_guard.log
expect "the guard log is 0600" 600 "$(mode /var/log/openclaw_guard.log)"
check "the guard log says the interlock is closed" grep -q "INTERLOCK CLOSED" /var/log/openclaw_guard.log
expect "sshd's main pid is unchanged" "$ssh_pid" "$(prop ssh.service MainPID)"
expect "sshd's configuration is byte for byte unchanged" "$ssh_sum" "$(find /etc/ssh -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum)"
expect "openclaw-guard.timer is still active" active "$(systemctl is-active openclaw-guard.timer)"

section "console"
token="$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s' "$token" | openclaw-keyctl set OPENCLAW_CONSOLE_TOKEN >/dev/null 2>&1
check "the console token is stored" test -s /etc/ai-ops-runner/secrets/openclaw_console_token
check "systemctl enable --now openclaw-console.service" timeout 60 systemctl enable --now openclaw-console.service
expect "openclaw-console.service is active" active "$(systemctl is-active openclaw-console.service)"
printf 'X-OpenClaw-Token: %s\n' "$token" >"$token_header"
url=http://127.0.0.1:8787
code() { curl -s -o "$tmp/body" -w '%{http_code}' --max-time 30 "$@"; }
expect "GET /api/actions without the token" 401 "$(code "$url/api/actions")"
expect "GET /api/actions with the token and a foreign Host" 403 "$(code -H @"$token_header" -H 'Host: evil.example' "$url/api/actions")"
expect "GET /api/actions with the token" 200 "$(code -H @"$token_header" "$url/api/actions")"
cp "$tmp/body" "$tmp/actions"
expect "POST /api/exec with the token and a foreign Origin" 403 \
  "$(code -H @"$token_header" -H 'Origin: https://evil.example' -H 'Content-Type: application/json' \
    -d '{"action":"doctor","params":{}}' "$url/api/exec")"
cp "$tmp/actions" "$tmp/body"
pid="$(prop openclaw-console.service MainPID)"
uid="$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null)"
check "the console runs as a dynamic user, not root (uid $uid)" test -n "$uid" -a "$uid" != 0
environ="$(tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null)"
cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)"
if [[ "$pid" -gt 0 && -n "$environ" && -n "$cmdline" && "$environ$cmdline" != *"$token"* ]]; then
  ok "the token is in neither the console's environment nor its argv"
else
  not_ok "the token is in neither the console's environment nor its argv" "pid ${pid:-none}"
fi
actions="$(grep -o '"id":"[a-z_]*"' "$tmp/body" | cut -d'"' -f4 | sort | tr '\n' ' ')"
# The DynamicUser console offers what it can see; the actions over root-only
# state are left out and named in its journal (docs/console.md).
expect "the built-in actions a DynamicUser console offers" "doctor evidence port_audit verify_audit " "$actions"
for action in guard_status keyctl_status notify_status tail_guard_log; do
  check "the journal names $action as left out" grep -q "built-in action \`$action\` left out: it reports root-only state" \
    <(journal openclaw-console.service)
done
for action in doctor port_audit verify_audit evidence; do
  http="$(code -H @"$token_header" -H "Origin: $url" -H 'Content-Type: application/json' \
    --max-time 180 -d "{\"action\":\"$action\",\"params\":{}}" "$url/api/exec")"
  run_id="$(grep -o '"run_id":"[^"]*"' "$tmp/body" | cut -d'"' -f4)"
  if [[ "$http" == 202 && -n "$run_id" ]]; then
    # long-running: poll the run until it ends
    for _ in $(seq 180); do
      code -H @"$token_header" "$url/api/runs/$run_id" >/dev/null
      grep -q '"status":"running"' "$tmp/body" || break
      sleep 1
    done
    http=polled
  fi
  exit_code="$(grep -o '"exit_\{0,1\}[cC]ode":-\{0,1\}[0-9]*' "$tmp/body" | head -n 1 | cut -d: -f2)"
  # The console's own audit log is intact: only 0. The doctor actions find
  # what this container lacks (Tailscale, a firewall): 0 or 1, never 2.
  allowed=" 0 1 "
  [[ "$action" == verify_audit ]] && allowed=" 0 "
  if [[ -n "$exit_code" && "$allowed" == *" $exit_code "* ]]; then
    ok "built-in action $action runs under the console's user ($http, exit $exit_code)"
  else
    not_ok "built-in action $action runs under the console's user" "HTTP $http, exit ${exit_code:-none}" "$(head -c 600 "$tmp/body")"
  fi
  if [[ "$action" == doctor && -n "$run_id" ]]; then
    run_dir="$console_state/artifacts/console/$run_id"
    check "the doctor action's run directory has result.json" test -s "$run_dir/result.json"
    expect "the run directory belongs to the console's user" "$uid" "$(stat -c %u "$run_dir" 2>/dev/null)"
    expect "the run directory is 0700" 700 "$(mode "$run_dir")"
    report="$(find "$console_state/artifacts/doctor" -name doctor.json 2>/dev/null | sort | tail -n 1)"
    check "the doctor child wrote its report under the console's artifacts" test -s "$report"
  fi
done

section "runner"
# The bridge before its allowlist exists: skipped, not started and failing
# every 5 s.
timeout 60 systemctl start openclaw-runner-bridge.service
expect "the bridge without /etc/openclaw/runner.toml is skipped (condition)" "no inactive 0" \
  "$(prop openclaw-runner-bridge.service ConditionResult) $(systemctl is-active openclaw-runner-bridge.service) $(prop openclaw-runner-bridge.service NRestarts)"
# ConditionResult is `no` before any start too: systemd must say it skipped it.
check "systemd says the bridge was skipped for the missing allowlist" \
  grep -q 'ConditionPathExists=/etc/openclaw/runner.toml' <(journalctl -q -o cat --no-pager -u openclaw-runner-bridge.service)
git_env=(env HOME="$tmp" GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@t GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@t)
mkdir -p /srv/git
"${git_env[@]}" git init -q --bare -b main /srv/git/app.git
"${git_env[@]}" git init -q -b main "$tmp/app"
printf 'hello\n' >"$tmp/app/README"
"${git_env[@]}" git -C "$tmp/app" add README
"${git_env[@]}" git -C "$tmp/app" commit -q -m one
"${git_env[@]}" git -C "$tmp/app" push -q /srv/git/app.git main
sha="$("${git_env[@]}" git -C "$tmp/app" rev-parse HEAD)"
check "the package made no job user (jobs get a uid per run)" test -z "$(getent passwd openclaw-job)"
# A named job user, as an older allowlist may still name one.
adduser --system --quiet --group --no-create-home --home /nonexistent --shell /usr/sbin/nologin openclaw-job
cat >/etc/openclaw/runner.toml <<'EOF'
[[repo]]
name = "app"
url = "file:///srv/git/app.git"
allowed_branches = ["main"]

[[job]]
name = "whoami"
argv = ["/bin/sh", "-c", "id -u; grep CapBnd /proc/self/status"]
timeout_sec = 60
run_as = "openclaw-job"

[[job]]
name = "mutate"
argv = ["/usr/bin/touch", "planted"]
timeout_sec = 60
run_as = "root"

[[job]]
name = "dynamic"
argv = ["/bin/sh", "-c", "id -u; ls -A /run | tr '\\n' ' '; echo; keyctl show @s >/dev/null 2>&1 || echo no-keyring; echo written > $ARTIFACT_DIR/w"]
timeout_sec = 60
EOF
chmod 0644 /etc/openclaw/runner.toml
check "openclaw-runner check-config accepts the test config" openclaw-runner check-config
check "systemctl enable --now openclaw-runner-bridge.service" timeout 60 systemctl enable --now openclaw-runner-bridge.service
timeout 60 systemctl restart openclaw-runner-bridge.service
sock=/run/openclaw-runner/runner.sock
for _ in $(seq 100); do [[ -S "$sock" ]] && break; sleep 0.1; done
expect "the bridge socket is root:openclaw-runner 0660" "socket root:openclaw-runner 660" \
  "$(stat -c '%F %U:%G %a' "$sock" 2>&1)"
expect "the bridge is active" active "$(systemctl is-active openclaw-runner-bridge.service)"
for job in whoami mutate dynamic; do
  mkdir -p "/etc/systemd/system/openclaw-runner@$job.service.d"
  printf '[Service]\nExecStart=\nExecStart=/usr/bin/openclaw-runner run --job %s --repo app --sha %s --format json\n' \
    "$job" "$sha" >"/etc/systemd/system/openclaw-runner@$job.service.d/repo.conf"
done
systemctl daemon-reload
start openclaw-runner@whoami.service 300
expect "openclaw-runner@whoami.service: result" success "$(prop openclaw-runner@whoami.service Result)"
job_uid="$(id -u openclaw-job)"
job_id="$(journalctl -q -o cat --no-pager -u openclaw-runner@whoami.service | sed -n 's/^ *"job_id": "\([0-9a-f]*\)".*/\1/p' | tail -n 1)"
out="/var/lib/openclaw/artifacts/runner/$job_id/stdout.log"
expect "the job ran as openclaw-job" "$job_uid" "$(head -n 1 "$out" 2>&1)"
expect "the job's bounding set is empty" "CapBnd:	0000000000000000" "$(sed -n 2p "$out" 2>&1)"
check "setpriv did not warn about the bounding set" test -z "$(journal openclaw-runner@whoami.service | grep -i 'bounding set')"
start openclaw-runner@mutate.service 300
expect "openclaw-runner@mutate.service exits 1" 1 "$(prop openclaw-runner@mutate.service ExecMainStatus)"
check "a job that writes into its worktree ends MUTATION_DETECTED" \
  grep -q '"reason": "MUTATION_DETECTED' <(journalctl -q -o cat --no-pager -u openclaw-runner@mutate.service)
start openclaw-runner@dynamic.service 300
expect "openclaw-runner@dynamic.service: result" success "$(prop openclaw-runner@dynamic.service Result)"
job_id="$(journalctl -q -o cat --no-pager -u openclaw-runner@dynamic.service | sed -n 's/^ *"job_id": "\([0-9a-f]*\)".*/\1/p' | tail -n 1)"
out="/var/lib/openclaw/artifacts/runner/$job_id/stdout.log"
dyn_uid="$(head -n 1 "$out" 2>&1)"
check "a run_as = dynamic job ran as a leased uid (61184-65519), not openclaw-job" \
  test "$dyn_uid" -ge 61184 -a "$dyn_uid" -le 65519
expect "the dynamic job's /run is its own (lock, and the way to its job directory)" "lock openclaw " "$(sed -n 2p "$out" 2>&1)"
check "the dynamic uid's lease was let go (systemd's registry file unlinked)" test ! -e "/run/systemd/dynamic-uid/$dyn_uid"
expect "the dynamic job has no keyring calls" no-keyring "$(sed -n 3p "$out" 2>&1)"
check "nothing runs as the dynamic uid after its run" test -z "$(ps -o pid= -u "$dyn_uid" 2>/dev/null)"
expect "the dynamic job wrote its ARTIFACT_DIR under the unit's UMask=0077" written \
  "$(cat "/var/lib/openclaw/artifacts/runner/$job_id/outputs/w" 2>&1)"

section "exposure"
exposure openclaw-doctor.service "$units/openclaw-doctor.service"
exposure openclaw-guard.service "$units/openclaw-guard.service"
exposure openclaw-notify-flush.service "$units/openclaw-notify-flush.service"
exposure openclaw-console.service "$units/openclaw-console.service"
exposure openclaw-runner-bridge.service "$units/openclaw-runner-bridge.service"
exposure openclaw-runner@selftest.service "$units/openclaw-runner@.service"

section "upgrade"
check "dpkg -i the package again with version N+1" timeout 300 dpkg -i "$here/openclaw_N1.deb"
check "the installed version is N+1" test "$(dpkg-query -W -f='${Version}' openclaw)" = "$version_n+systemdtest1"
for t in openclaw-doctor.timer openclaw-notify-flush.timer openclaw-guard.timer; do
  expect "$t is still enabled after the upgrade" enabled "$(systemctl is-enabled "$t" 2>&1)"
  expect "$t is still active after the upgrade" active "$(systemctl is-active "$t")"
done
expect "the console still runs after the upgrade" active "$(systemctl is-active openclaw-console.service)"

section "remove and purge"
check "dpkg --remove openclaw" timeout 300 dpkg --remove openclaw
for u in openclaw-doctor.timer openclaw-notify-flush.timer openclaw-guard.timer openclaw-console.service openclaw-runner-bridge.service; do
  expect "$u is stopped after the remove" inactive "$(systemctl is-active "$u")"
done
check "the secrets directory survives the remove" test -s /etc/ai-ops-runner/secrets/openclaw_console_token
check "dpkg --purge openclaw" timeout 300 dpkg --purge openclaw
for t in openclaw-doctor.timer openclaw-notify-flush.timer openclaw-guard.timer; do
  check "$t is no longer enabled after the purge" test ! -e "/etc/systemd/system/timers.target.wants/$t"
  expect "systemd knows $t no more after the purge" "inactive not-found" \
    "$(systemctl is-active "$t") $(systemctl show -p LoadState --value "$t")"
done
check "the secrets directory survives the purge" test -s /etc/ai-ops-runner/secrets/openclaw_console_token
expect "the secrets directory is still 0700" 700 "$(mode /etc/ai-ops-runner/secrets)"

summary
((failed == 0))
