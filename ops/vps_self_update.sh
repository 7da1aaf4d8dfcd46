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
#   2. `openclaw-reviewgate verify --rev TARGET --repo REPO` with the host's
#      allowed_signers (the binary's own resolution; `--allowed-signers
#      "$OPENCLAW_ALLOWED_SIGNERS"` only when that variable is set). Verified
#      by full commit id, and that same id is merged: origin/<branch> moving
#      in between cannot slip an unverified commit in. Exit 1 or 2 is a
#      REFUSAL: `deploy.refused` notified, nothing changed;
#   3. fast-forward only (`git merge --ff-only TARGET`); a rewritten origin
#      (HEAD not an ancestor of TARGET) is a refusal too;
#   4. `docker compose up -d --build` in the compose directory;
#   5. health probe: `curl -fsS --max-time 5 URL` until it answers, for up to
#      OPENCLAW_DEPLOY_HEALTH_WAIT seconds (skipped, with a message, when no
#      URL is set);
#   6. a failed build or probe: `git reset --hard PREVIOUS` (the commit that
#      was deployed before this run, never an unverified one), rebuild,
#      notify `deploy.failed` (emergency), exit 1.
# The checkout must be on <branch> with no tracked changes (a modified tree
# is not the verified one): otherwise refused. Every deploy, refusal and
# rollback is a record in the shared audit log (`openclaw-reviewgate
# record-deploy --outcome complete|refuse|rollback`, as deploy.complete,
# deploy.refuse, deploy.rollback); a record that cannot be written makes the
# run exit 2 once everything else is done.
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

# refuse CODE MESSAGE: nothing was changed; audit, notify deploy.refused and exit CODE.
refuse() {
  err "REFUSED: $2"
  record refuse "${target:-unknown}" "$2"
  notify deploy.refused high "OpenClaw deploy refused" "$(hostname 2>/dev/null || echo vps): $2"
  ((audit_failed == 0)) || exit 2
  exit "$1"
}

# cannot MESSAGE: could not run; nothing was changed.
cannot() {
  err "CANNOT RUN: $1"
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
g fetch --quiet origin || cannot "git fetch origin failed"
target="$(g rev-parse --verify --quiet "refs/remotes/origin/$branch^{commit}")" ||
  cannot "origin/$branch does not exist after the fetch"
log "HEAD is $previous; origin/$branch is $target"
if [[ "$target" == "$previous" ]]; then
  log "up to date: nothing to do"
  exit 0
fi
[[ -z "$(g status --porcelain --untracked-files=no --ignore-submodules=none)" ]] ||
  refuse 1 "$repo has modified tracked files: the checkout is not a verified tree (HEAD $previous)"
# Files git was told not to look at (assume-unchanged: lowercase tag; skip-worktree: S) can differ unseen.
[[ -z "$(g ls-files -v | grep -E '^([a-z]|S) ' || true)" ]] ||
  refuse 1 "$repo has files marked assume-unchanged or skip-worktree: git status cannot vouch for them (HEAD $previous)"

# 2. Verify the exact commit that would be deployed.
verify=(openclaw-reviewgate verify --rev "$target" --repo "$repo")
[[ -n "${OPENCLAW_ALLOWED_SIGNERS:-}" ]] && verify+=(--allowed-signers "$OPENCLAW_ALLOWED_SIGNERS")
rc=0
"${verify[@]}" || rc=$?
case $rc in
  0) log "verified: $target carries a valid review verdict" ;;
  1) refuse 1 "$target (origin/$branch) carries no valid review verdict; HEAD stays $previous" ;;
  *) refuse 2 "could not decide whether $target (origin/$branch) is reviewed (verify exit $rc); HEAD stays $previous" ;;
esac

# 3. Fast-forward only.
g merge-base --is-ancestor "$previous" "$target" ||
  refuse 1 "origin/$branch ($target) is not a fast-forward of HEAD $previous: history was rewritten"
g merge --ff-only --quiet "$target" || refuse 1 "git merge --ff-only $target failed; HEAD stays $previous"
now="$(g rev-parse --verify --quiet 'HEAD^{commit}')" || now=""
[[ "$now" == "$target" ]] || cannot "after the merge HEAD is '$now', not $target"
log "fast-forwarded $previous -> $target"

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
  if ! g reset --hard --quiet "$previous"; then
    how="git reset --hard $previous FAILED: the checkout is at $(g rev-parse HEAD 2>/dev/null || echo '?')"
  elif ! build; then
    how="reset to $previous but the rebuild FAILED: the service may be down"
  fi
  err "$how"
  record rollback "$target" "$why; $how"
  notify deploy.failed emergency "OpenClaw deploy failed" "$(hostname 2>/dev/null || echo vps): deploy of $target: $why; $how"
  ((audit_failed == 0)) || exit 2
  exit 1
}

# 4. Build and start.
log "docker compose up -d --build in $compose_dir"
build || rollback "docker compose up -d --build failed"
# 5. Health.
probe || rollback "health probe failed"
record complete "$target" "from $previous"
log "deployed $target"
((audit_failed == 0)) || exit 2
