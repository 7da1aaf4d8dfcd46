#!/usr/bin/env bash
# Hermetic self-test of ops/prometheus/openclaw.rules.yml.
#
# `promtool check rules` on the rules file, `promtool test rules` on its unit
# tests (openclaw.rules.test.yml), a check that every alert is tested both
# firing and not firing, and mutants of the rules (each threshold or
# selector broken on purpose, in a temp copy) that the unit tests must
# reject. promtool comes from Debian's `prometheus` package; without it the
# promtool cases are skipped, except under CI=true, where they fail.
# No network, no secrets, no root.
#
# Prints `ok - <case>` / `not ok - <case>` / `skip - <reason>` lines, then
# `N passed, M failed`. Exit status: 0 when nothing failed, 1 otherwise.

set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
prom="$here/../prometheus"
rules="$prom/openclaw.rules.yml"
tests="$prom/openclaw.rules.test.yml"

# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/openclaw_prometheus.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

# --- every alert tested firing and not firing (no promtool needed) ----------

mapfile -t alerts < <(sed -n 's/^ *- alert: *\([A-Za-z0-9_]*\) *$/\1/p' "$rules")
if ((${#alerts[@]} >= 6)); then
  ok "rules file names its alerts (${#alerts[@]})"
else
  not_ok "rules file names its alerts" "found: ${alerts[*]:-none}"
fi
for alert in "${alerts[@]}"; do
  # For each `alertname: X`, the next line says `exp_alerts: []` (not firing)
  # or `exp_alerts:` with a list below (firing).
  kinds="$(awk -v a="$alert" '
    $1 == "alertname:" { hit = ($2 == a); next }
    hit && $1 == "exp_alerts:" { print ($2 == "[]" ? "quiet" : "firing"); hit = 0 }
  ' "$tests" | sort -u | tr '\n' ' ')"
  if [[ "$kinds" == "firing quiet " ]]; then
    ok "$alert is tested firing and not firing"
  else
    not_ok "$alert is tested firing and not firing" "found: ${kinds:-no test}"
  fi
done

# --- promtool ----------------------------------------------------------------

if ! command -v promtool >/dev/null 2>&1; then
  if [[ "${CI:-}" == true ]]; then
    not_ok "promtool is installed (CI=true)" "apt-get install -y --no-install-recommends prometheus"
  else
    skip "promtool cases (promtool not installed: apt-get install -y --no-install-recommends prometheus)"
  fi
  summary
  [[ $failed -eq 0 ]]
  exit
fi

name="promtool check rules accepts the rules file"
if out="$(promtool check rules "$rules" 2>&1)" && grep -q "SUCCESS: ${#alerts[@]} rules found" <<<"$out"; then
  ok "$name"
else
  not_ok "$name" "$out"
fi

name="promtool test rules passes"
if out="$(cd "$prom" && promtool test rules "$(basename "$tests")" 2>&1)"; then
  ok "$name"
else
  not_ok "$name" "$out"
fi

# Each mutant: a sed expression applied to a copy of the rules; the unit
# tests must fail on it, or they do not pin what the rule says.
mutants=(
  's/check!="guard"/check!="none"/'
  's/status=~"fail|error"/status="fail"/'
  's/for: 10m/for: 20m/'
  's/> 7200/> 9000/'
  's/^\( *\)absent(openclaw_doctor_last_run_timestamp_seconds)/\1vector(0) == 1/'
  's/\[1d\]/[1m]/'
  's/> 1800/> 3600/'
  's/check="guard",status="fail"/check="guard",status=~"fail|warn"/'
  's/unless openclaw_notifier_outbox_entries/unless openclaw_doctor_success/'
)
for mutant in "${mutants[@]}"; do
  name="unit tests reject the mutant $mutant"
  rm -rf "$tmp/m" && mkdir "$tmp/m"
  cp "$tests" "$tmp/m/"
  sed "$mutant" "$rules" >"$tmp/m/openclaw.rules.yml"
  if cmp -s "$rules" "$tmp/m/openclaw.rules.yml"; then
    not_ok "$name" "the expression changed nothing: the rules file no longer has that text"
  elif (cd "$tmp/m" && promtool test rules "$(basename "$tests")") >/dev/null 2>&1; then
    not_ok "$name" "promtool test rules still passes"
  else
    ok "$name"
  fi
done

summary
[[ $failed -eq 0 ]]
