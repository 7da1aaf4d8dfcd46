#!/usr/bin/env bash
# Hermetic self-test of ops/vps_self_update.sh: a real bare origin, a real
# developer clone that pushes to it and a real deploy clone, all made with git
# in a scratch directory; stub `openclaw-reviewgate`, `docker`, `curl` and
# `openclaw-notify` first on PATH, recording their argv (the real git and
# flock do the rest). No network, no root, nothing on the host touched.
# Prints `ok - …`/`not ok - …`/`skip - …`, then `N passed, M failed`.
#
# Each case's conditions are single-quoted strings that `check` evaluates
# later (so they see that case's variables): hence, file-wide, SC2016 (no
# expansion in single quotes, on purpose) and SC2034 ($first and $second are
# read only inside those strings) are off.
# shellcheck disable=SC2016,SC2034
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
script="$here/../vps_self_update.sh"
# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/vps_self_update_selftest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/home"

bash_bin="$(type -P bash)"
# No user or system git configuration leaks in.
export HOME="$tmp/home" GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.invalid GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.invalid

# The stubs append one line per call to $STUB_LOG/<tool>: their argv, and for
# docker the directory it ran in and the HEAD there. The reviewgate stub's
# deploy-checkout really moves the checkout (git reset --hard), unless
# CHECKOUT_EXIT makes a forward one fail. VERIFY_EXIT (deploy-check) and
# CURL_EXIT choose exit codes; DOCKER_FAIL lists the docker call numbers
# (1-based, space separated) that fail.
cat >"$tmp/bin/openclaw-reviewgate" <<STUB
#!$bash_bin
printf '%s\n' "\$*" >>"\$STUB_LOG/reviewgate"
case "\$1" in
  record-deploy) exit "\${RECORD_EXIT:-0}" ;;
  deploy-check) exit "\${VERIFY_EXIT:-0}" ;;
  deploy-checkout)
    rev='' repo='' rollback=0
    shift
    while [[ \$# -gt 0 ]]; do
      case "\$1" in --rev) rev="\$2"; shift ;; --repo) repo="\$2"; shift ;; --rollback) rollback=1 ;; esac
      shift
    done
    if [[ \$rollback -eq 0 && "\${CHECKOUT_EXIT:-0}" != 0 ]]; then exit "\$CHECKOUT_EXIT"; fi
    git -C "\$repo" reset --hard --quiet "\$rev"
    exit ;;
esac
exit 2
STUB
cat >"$tmp/bin/docker" <<STUB
#!$bash_bin
printf '%s | %s | %s\n' "\$*" "\$PWD" "\$(git -C "\$PWD" rev-parse HEAD 2>/dev/null)" >>"\$STUB_LOG/docker"
n=\$(wc -l <"\$STUB_LOG/docker")
for f in \${DOCKER_FAIL:-}; do
  if [[ "\$f" == "\$n" ]]; then echo "docker: stub build failure" >&2; exit 1; fi
done
exit 0
STUB
cat >"$tmp/bin/curl" <<STUB
#!$bash_bin
printf '%s\n' "\$*" >>"\$STUB_LOG/curl"
exit "\${CURL_EXIT:-0}"
STUB
cat >"$tmp/bin/openclaw-notify" <<STUB
#!$bash_bin
printf '%s\n' "\$*" >>"\$STUB_LOG/notify"
exit 0
STUB
chmod 0755 "$tmp/bin"/*

# fresh NAME: origin (bare), dev (a clone with one commit pushed), deploy (a
# clone at that commit, the VPS checkout), an empty stub log and run dir.
fresh() {
  base="$tmp/$1"
  origin="$base/origin.git"
  dev="$base/dev"
  deploy="$base/deploy"
  logs="$base/logs"
  run="$base/run"
  mkdir -p "$logs" "$run"
  git init --quiet --bare --initial-branch=main "$origin"
  git clone --quiet "$origin" "$dev" 2>/dev/null
  git -C "$dev" checkout --quiet -B main
  printf 'services: {}\n' >"$dev/compose.yaml"
  git -C "$dev" add compose.yaml
  git -C "$dev" commit --quiet -m first
  git -C "$dev" push --quiet origin main
  git clone --quiet --branch main "$origin" "$deploy"
  first="$(git -C "$deploy" rev-parse HEAD)"
}

# advance: one new commit on dev, pushed; $second is its id.
advance() {
  printf 'x%s\n' "$RANDOM" >>"$dev/app.txt"
  git -C "$dev" add app.txt
  git -C "$dev" commit --quiet -m change
  git -C "$dev" push --quiet origin main
  second="$(git -C "$dev" rev-parse HEAD)"
}

# deploy_run [VAR=VALUE...]: runs the script against $deploy; sets $rc, $out.
deploy_run() {
  rc=0
  env -u OPENCLAW_ALLOWED_SIGNERS -u OPENCLAW_DEPLOY_HEALTH_URL PATH="$tmp/bin:/usr/bin:/bin" STUB_LOG="$logs" \
    OPENCLAW_DEPLOY_REPO="$deploy" OPENCLAW_RUN_DIR="$run" OPENCLAW_DEPLOY_LOCK_WAIT=0 "$@" \
    "$bash_bin" "$script" >"$base/out" 2>&1 </dev/null || rc=$?
  out="$(cat "$base/out")"
}

head_of() { git -C "$deploy" rev-parse HEAD; }
calls() { if [[ -f "$logs/$1" ]]; then wc -l <"$logs/$1"; else echo 0; fi; }
verifies() { if [[ -f "$logs/reviewgate" ]]; then grep -c '^deploy-check ' "$logs/reviewgate" || true; else echo 0; fi; }
records() { grep -o -- '^record-deploy --outcome [a-z]*' "$logs/reviewgate" 2>/dev/null | awk '{print $3}' | paste -sd, - || true; }
log_of() { cat "$logs/$1" 2>/dev/null || true; }

# check NAME CONDITION...: each condition is a string evaluated in order; the
# first false one is reported with the script's output.
check() {
  local name="$1" c
  shift
  for c in "$@"; do
    if ! eval "$c"; then
      not_ok "$name" "failed: $c" "exit $rc" "$out" "docker: $(log_of docker)" "notify: $(log_of notify)"
      return
    fi
  done
  ok "$name"
}

# --- verified update --------------------------------------------------------

fresh update
advance
deploy_run
check "verified update: fast-forwarded, rebuilt, exit 0" \
  '[[ $rc -eq 0 ]]' '[[ "$(head_of)" == "$second" ]]' '[[ "$(calls docker)" == 1 ]]' \
  '[[ "$(log_of docker)" == "compose up -d --build | $deploy | $second" ]]' '[[ "$(calls notify)" == 0 ]]'
check "deploy-check and deploy-checkout are given the exact commit, the repo, and no --allowed-signers when unset" \
  '[[ "$(grep "^deploy-check " "$logs/reviewgate")" == "deploy-check --rev $second --repo $deploy" ]]' \
  '[[ "$(grep "^deploy-checkout " "$logs/reviewgate")" == "deploy-checkout --rev $second --repo $deploy" ]]'
check "the deploy is recorded in the audit log (record-deploy --outcome complete)" '[[ "$(records)" == complete ]]'
check "every line printed starts with a UTC timestamp" \
  '[[ -n "$out" ]]' '! grep -vqE "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z vps_self_update: " <<<"$out"' \
  'grep -q "health probe skipped" <<<"$out"'

fresh signers
advance
mkdir -p "$base/compose"
deploy_run OPENCLAW_ALLOWED_SIGNERS="$base/allowed signers" OPENCLAW_DEPLOY_COMPOSE_DIR="$base/compose" \
  OPENCLAW_DEPLOY_HEALTH_URL=http://127.0.0.1:9/healthz
check "OPENCLAW_ALLOWED_SIGNERS, the compose dir and the health URL are used" \
  '[[ $rc -eq 0 ]]' '[[ "$(grep "^deploy-check " "$logs/reviewgate")" == "deploy-check --rev $second --repo $deploy --allowed-signers $base/allowed signers" ]]' \
  '[[ "$(log_of docker)" == "compose up -d --build | $base/compose | " ]]' \
  '[[ "$(log_of curl)" == "-fsS --max-time 5 http://127.0.0.1:9/healthz" ]]'

# --- nothing to do ----------------------------------------------------------

fresh uptodate
deploy_run
check "already up to date: exit 0, no verify, no docker, HEAD unchanged" \
  '[[ $rc -eq 0 ]]' '[[ "$(head_of)" == "$first" ]]' '[[ "$(calls docker)" == 0 ]]' \
  '[[ "$(verifies)" == 0 ]]' 'grep -q "up to date" <<<"$out"'

# --- refusals ---------------------------------------------------------------

fresh invalid
advance
deploy_run VERIFY_EXIT=1
check "deploy-check exit 1: refused (exit 1), HEAD unchanged, no docker, deploy.refused notified high, recorded once (by deploy-check)" \
  '[[ $rc -eq 1 ]]' '[[ "$(head_of)" == "$first" ]]' '[[ "$(calls docker)" == 0 ]]' \
  'grep -q "^send --check-id deploy.refused --priority high .* -- " "$logs/notify"' 'grep -q REFUSED <<<"$out"' \
  '[[ "$(records)" == "" ]]'

fresh undecided
advance
deploy_run VERIFY_EXIT=2
check "deploy-check exit 2: refused (exit 2), HEAD unchanged, no docker, deploy.refused notified" \
  '[[ $rc -eq 2 ]]' '[[ "$(head_of)" == "$first" ]]' '[[ "$(calls docker)" == 0 ]]' \
  'grep -q "^send --check-id deploy.refused --priority high" "$logs/notify"'

fresh badcheckout
advance
deploy_run CHECKOUT_EXIT=1
check "deploy-checkout refuses the bytes on disk: rolled back to the previous commit, exit 1, deploy.failed notified" \
  '[[ $rc -eq 1 ]]' '[[ "$(head_of)" == "$first" ]]' \
  'grep -q "^deploy-checkout --rollback --rev $first --repo $deploy" "$logs/reviewgate"' \
  'grep -q "^send --check-id deploy.failed --priority emergency" "$logs/notify"' '[[ "$(records)" == rollback ]]'

# --- rollbacks --------------------------------------------------------------

fresh buildfail
advance
deploy_run DOCKER_FAIL=1
check "build failure: reset to the previous commit, rebuilt there, deploy.failed notified emergency, exit 1" \
  '[[ $rc -eq 1 ]]' '[[ "$(head_of)" == "$first" ]]' '[[ "$(calls docker)" == 2 ]]' \
  '[[ "$(sed -n 1p "$logs/docker")" == "compose up -d --build | $deploy | $second" ]]' \
  '[[ "$(sed -n 2p "$logs/docker")" == "compose up -d --build | $deploy | $first" ]]' \
  'grep -q "^send --check-id deploy.failed --priority emergency" "$logs/notify"' '[[ "$(records)" == rollback ]]'

fresh auditfail
advance
deploy_run RECORD_EXIT=1
check "an audit record that fails: the deploy still completes, then exit 2" \
  '[[ $rc -eq 2 ]]' '[[ "$(head_of)" == "$second" ]]' 'grep -q "audit record deploy.complete failed" <<<"$out"'

fresh unhealthy
advance
deploy_run CURL_EXIT=22 OPENCLAW_DEPLOY_HEALTH_URL=http://127.0.0.1:9/healthz OPENCLAW_DEPLOY_HEALTH_WAIT=0
check "health probe failure: rolled back and rebuilt, deploy.failed notified, exit 1" \
  '[[ $rc -eq 1 ]]' '[[ "$(head_of)" == "$first" ]]' '[[ "$(calls docker)" == 2 ]]' \
  '[[ "$(sed -n 2p "$logs/docker")" == "compose up -d --build | $deploy | $first" ]]' \
  '[[ "$(calls curl)" -ge 1 ]]' 'grep -q "^send --check-id deploy.failed --priority emergency" "$logs/notify"'

fresh retry
advance
deploy_run CURL_EXIT=22 OPENCLAW_DEPLOY_HEALTH_URL=http://127.0.0.1:9/healthz OPENCLAW_DEPLOY_HEALTH_WAIT=1
check "health probe is retried within OPENCLAW_DEPLOY_HEALTH_WAIT" '[[ $rc -eq 1 ]]' '[[ "$(calls curl)" -ge 2 ]]'

fresh rebuildfail
advance
deploy_run DOCKER_FAIL="1 2"
check "the rebuild after a rollback fails too: still reset, exit 1, the alert says so" \
  '[[ $rc -eq 1 ]]' '[[ "$(head_of)" == "$first" ]]' 'grep -q "rebuild FAILED" "$logs/notify"'

# --- could not run ----------------------------------------------------------

fresh locked
advance
exec 8>>"$run/deploy.lock"
flock 8
deploy_run
exec 8>&-
check "lock held by another deploy: exit 2, nothing run, recorded and notified as a refusal" \
  '[[ $rc -eq 2 ]]' '[[ "$(head_of)" == "$first" ]]' '[[ "$(calls docker)" == 0 ]]' \
  '[[ "$(verifies)" == 0 ]]' 'grep -q "another deploy holds" <<<"$out"' \
  '[[ "$(records)" == refuse ]]' 'grep -q "^send --check-id deploy.refused --priority high" "$logs/notify"'

deploy_run
check "the lock released: the same deploy then goes through" '[[ $rc -eq 0 ]]' '[[ "$(head_of)" == "$second" ]]'

if PATH=/usr/bin:/bin type -P openclaw-reviewgate >/dev/null; then
  skip "missing tool: openclaw-reviewgate is installed in /usr/bin or /bin"
else
  fresh missing
  advance
  mv "$tmp/bin/openclaw-reviewgate" "$tmp/reviewgate.away"
  deploy_run
  mv "$tmp/reviewgate.away" "$tmp/bin/openclaw-reviewgate"
  check "a missing tool (openclaw-reviewgate): exit 2, nothing run, HEAD unchanged" \
    '[[ $rc -eq 2 ]]' '[[ "$(head_of)" == "$first" ]]' '[[ "$(calls docker)" == 0 ]]' \
    'grep -q "openclaw-reviewgate not found" <<<"$out"'
fi

fresh nofetch
advance
rm -rf "$origin"
deploy_run
check "fetch fails: exit 2, nothing run, recorded" '[[ $rc -eq 2 ]]' '[[ "$(head_of)" == "$first" ]]' '[[ "$(calls docker)" == 0 ]]' \
  '[[ "$(records)" == refuse ]]'

fresh detached
advance
git -C "$deploy" checkout --quiet --detach
deploy_run
check "checkout not on the branch: exit 2, nothing run" '[[ $rc -eq 2 ]]' '[[ "$(calls docker)" == 0 ]]'

summary
