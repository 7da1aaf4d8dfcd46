#!/usr/bin/env bash
# vps_self_update.sh: the one deploy path on the VPS (contract §6: "VPS
# updates: review-gated; fail-closed if code not APPROVED";
# docs/reviewgate.md, "Deploy and CI").
#
# Replaces the reference's deploy paths, which either could never pass
# (LAST_REVIEWED_SHA.txt) or hard-reset to origin/main with no verdict check.
# Every step is fail-closed, and every decision is printed with a UTC
# timestamp:
#   0. take the deploy lock (flock on $OPENCLAW_RUN_DIR/deploy.lock, bounded
#      wait): two deploys never overlap;
#   1. `git fetch --quiet origin`; TARGET = the commit origin/<branch> names;
#      TARGET == HEAD: up to date, nothing to do (no verify, no rebuild);
#   2. `openclaw-reviewgate deploy-check --rev TARGET --repo REPO` with the
#      host's allowed_signers (the binary's own resolution; `--allowed-signers
#      "$OPENCLAW_ALLOWED_SIGNERS"` only when that variable is set): TARGET
#      carries a valid verdict, is a fast-forward of HEAD, its reviewed base
#      is HEAD or after it, its verdict is no older than one deployed here,
#      the checkout is byte for byte HEAD, and no untracked file is present
#      unless `[reviewgate] deploy_allow_untracked` names it. Checked by full
#      commit id, and that same id is checked out: origin/<branch> moving in
#      between cannot slip another commit in. Exit 1 or 2 is a REFUSAL:
#      `deploy.refused` notified, nothing changed;
#   3. `openclaw-reviewgate deploy-checkout --rev TARGET`: the checkout moved
#      under the shared git hardening profile with attributes from no source,
#      then every tracked file checked byte for byte against the reviewed
#      tree (a mismatch rolls back);
#   4. `docker compose up -d --build` in the compose directory;
#   5. health probe: `curl -fsS --max-time 5 URL` until it answers, for up to
#      OPENCLAW_DEPLOY_HEALTH_WAIT seconds (skipped, with a message, when no
#      URL is set);
#   6. a failed build or probe: `openclaw-reviewgate deploy-checkout
#      --rollback --rev PREVIOUS` (the commit that was deployed before this
#      run, never an unverified one, checked byte for byte too), rebuild,
#      notify `deploy.failed` (emergency), exit 1.
# The checkout must be on <branch>. `git fetch` keeps the deploy user's HOME
# (its ssh credentials for origin) but runs no hook, fsmonitor or ext
# transport; every later git step runs inside openclaw-reviewgate under the
# shared hardening profile. Every deploy, refusal (exit 1 or 2, once the
# tools are found) and rollback is a record in the shared audit log
# (deploy.complete, deploy.refuse, deploy.rollback; deploy-check and
# deploy-checkout record their own refusals) and every refusal is notified;
# a record that cannot be written makes the run exit 2 once everything else
# is done.
#
# Exit codes: 0 deployed, or already up to date; 1 refused (verify said
# invalid, not a fast-forward, modified checkout) or rolled back (build or
# health probe failed); 2 could not run (a tool missing, the lock held, the
# repository or fetch unusable, verify could not decide: also notified as
# `deploy.refused`).
#
# Environment:
#   OPENCLAW_DEPLOY_REPO         the checkout (default /opt/openclaw)
#   OPENCLAW_DEPLOY_BRANCH       the branch deployed (default main)
#   OPENCLAW_DEPLOY_COMPOSE_DIR  where `docker compose` runs (default: the repo)
#   OPENCLAW_DEPLOY_HEALTH_URL   the health probe's URL (unset: no probe)
#   OPENCLAW_DEPLOY_HEALTH_WAIT  seconds the probe may take (default 60)
#   OPENCLAW_DEPLOY_LOCK_WAIT    seconds to wait for the lock (default 30)
#   OPENCLAW_RUN_DIR             holds deploy.lock (default /run/openclaw)
#   OPENCLAW_ALLOWED_SIGNERS     passed to verify as --allowed-signers when set
# Tools, from PATH: git, docker, flock, openclaw-reviewgate, openclaw-notify,
# and curl when a health URL is set. A missing one: exit 2, nothing done.
set -euo pipefail

me="vps_self_update"
repo="${OPENCLAW_DEPLOY_REPO:-/opt/openclaw}"
branch="${OPENCLAW_DEPLOY_BRANCH:-main}"
compose_dir="${OPENCLAW_DEPLOY_COMPOSE_DIR:-$repo}"
health_url="${OPENCLAW_DEPLOY_HEALTH_URL:-}"
health_wait="${OPENCLAW_DEPLOY_HEALTH_WAIT:-60}"
lock_wait="${OPENCLAW_DEPLOY_LOCK_WAIT:-30}"
run_dir="${OPENCLAW_RUN_DIR:-/run/openclaw}"

log() { printf '%s %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$me" "$*"; }
err() { log "$*" >&2; }

# notify CHECK_ID PRIORITY TITLE MESSAGE: a failed alert is reported, never fatal.
notify() {
  local rc=0
  openclaw-notify send --check-id "$1" --priority "$2" --title "$3" -- "$4" || rc=$?
  if ((rc != 0)); then err "openclaw-notify exited $rc: the $1 alert may not have been sent"; fi
}

# record OUTCOME REV DETAIL: the decision in the shared audit log
# (`openclaw-reviewgate record-deploy`); a failed record makes the run exit 2
# at its end, after everything else was done.
audit_failed=0
record() {
  local rc=0
  openclaw-reviewgate record-deploy --outcome "$1" --rev "$2" --detail "$3" >/dev/null || rc=$?
  if ((rc != 0)); then
    err "the audit record deploy.$1 failed (exit $rc)"
    audit_failed=1
  fi
}

# refuse CODE MESSAGE [recorded]: nothing was changed; audit (unless the
# refusing tool already did), notify deploy.refused and exit CODE.
refuse() {
  err "REFUSED: $2"
  [[ "${3:-}" == recorded ]] || record refuse "${target:-unknown}" "$2"
  notify deploy.refused high "OpenClaw deploy refused" "$(hostname 2>/dev/null || echo vps): $2"
  ((audit_failed == 0)) || exit 2
  exit "$1"
}

# cannot MESSAGE: could not run; nothing was changed. Recorded and notified
# when the tools to do so were found.
tools_ok=0
cannot() {
  err "CANNOT RUN: $1"
  if ((tools_ok == 1)); then
    record refuse "${target:-unknown}" "cannot run: $1"
    notify deploy.refused high "OpenClaw deploy could not run" "$(hostname 2>/dev/null || echo vps): $1"
  fi
  exit 2
}

g() { git -C "$repo" "$@"; }

for v in health_wait lock_wait; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || cannot "$v must be a whole number of seconds, not '${!v}'"
done

tools=(git docker flock openclaw-reviewgate openclaw-notify)
[[ -n "$health_url" ]] && tools+=(curl)
for t in "${tools[@]}"; do
  type -P "$t" >/dev/null || cannot "$t not found on PATH"
done
tools_ok=1
export GIT_TERMINAL_PROMPT=0

# 0. The lock.
mkdir -p "$run_dir" 2>/dev/null || cannot "cannot create $run_dir"
lock="$run_dir/deploy.lock"
exec 9>>"$lock" || cannot "cannot open $lock"
flock -w "$lock_wait" 9 || cannot "another deploy holds $lock (waited ${lock_wait}s)"

log "deploy of $repo ($branch) starting"
g rev-parse --is-inside-work-tree >/dev/null 2>&1 || cannot "$repo is not a git working copy"
previous="$(g rev-parse --verify --quiet 'HEAD^{commit}')" || cannot "$repo has no HEAD commit"
on="$(g symbolic-ref --quiet --short HEAD)" || on="(detached)"
[[ "$on" == "$branch" ]] || cannot "$repo is on $on, not $branch"
[[ -d "$compose_dir" ]] || cannot "compose directory $compose_dir does not exist"

# 1. Fetch.
g --no-replace-objects -c core.hooksPath=/dev/null -c core.fsmonitor=false -c protocol.ext.allow=never \
  fetch --quiet --no-tags origin || cannot "git fetch origin failed"
target="$(g rev-parse --verify --quiet "refs/remotes/origin/$branch^{commit}")" ||
  cannot "origin/$branch does not exist after the fetch"
log "HEAD is $previous; origin/$branch is $target"
if [[ "$target" == "$previous" ]]; then
  log "up to date: nothing to do"
  exit 0
fi

build() { (cd "$compose_dir" && docker compose up -d --build); }

probe() {
  if [[ -z "$health_url" ]]; then
    log "health probe skipped: OPENCLAW_DEPLOY_HEALTH_URL is not set"
    return 0
  fi
  local deadline=$((SECONDS + health_wait)) left
  while :; do
    if curl -fsS --max-time 5 "$health_url" >/dev/null; then
      log "healthy: $health_url answered"
      return 0
    fi
    left=$((deadline - SECONDS))
    ((left > 0)) || break
    sleep $((left < 2 ? left : 2))
  done
  err "unhealthy: $health_url did not answer within ${health_wait}s"
  return 1
}

# 6. Back to the commit that was deployed before this run.
rollback() {
  local why="$1" how="rolled back to $previous and rebuilt"
  err "FAILED: $why; rolling back to $previous"
  if ! openclaw-reviewgate deploy-checkout --rollback --rev "$previous" --repo "$repo"; then
    how="deploy-checkout --rollback $previous FAILED: the checkout is at $(g rev-parse HEAD 2>/dev/null || echo '?')"
  elif ! build; then
    how="reset to $previous but the rebuild FAILED: the service may be down"
  fi
  err "$how"
  record rollback "$target" "$why; $how"
  notify deploy.failed emergency "OpenClaw deploy failed" "$(hostname 2>/dev/null || echo vps): deploy of $target: $why; $how"
  ((audit_failed == 0)) || exit 2
  exit 1
}

# 2. Check the exact commit that would be deployed against what is deployed.
with_signers=()
[[ -n "${OPENCLAW_ALLOWED_SIGNERS:-}" ]] && with_signers=(--allowed-signers "$OPENCLAW_ALLOWED_SIGNERS")
rc=0
openclaw-reviewgate deploy-check --rev "$target" --repo "$repo" "${with_signers[@]}" || rc=$?
case $rc in
  0) log "checked: $target carries a valid review verdict and moves forward from $previous" ;;
  1) refuse 1 "$target (origin/$branch) may not replace $previous (see the rule above); HEAD stays $previous" recorded ;;
  *) refuse 2 "could not decide whether $target (origin/$branch) may be deployed (deploy-check exit $rc); HEAD stays $previous" recorded ;;
esac

# 3. Check out, byte for byte.
rc=0
openclaw-reviewgate deploy-checkout --rev "$target" --repo "$repo" "${with_signers[@]}" || rc=$?
if ((rc != 0)); then
  rollback "deploy-checkout of $target exited $rc"
fi
now="$(g rev-parse --verify --quiet 'HEAD^{commit}')" || now=""
[[ "$now" == "$target" ]] || rollback "after the checkout HEAD is '$now', not $target"
log "checked out $target (from $previous)"

# 4. Build and start.
log "docker compose up -d --build in $compose_dir"
build || rollback "docker compose up -d --build failed"
# 5. Health.
probe || rollback "health probe failed"
record complete "$target" "from $previous"
log "deployed $target"
((audit_failed == 0)) || exit 2
