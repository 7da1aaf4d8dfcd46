#!/usr/bin/env bash
# Static self-test of ops/ci/verdict-gate.yml (the CI review gate): parsed
# with python3's `yaml` module when it is installed, else line by line (both
# ways are run when yaml is there). Asserted: it runs on push to main and on
# pull_request; the checkout has full history (fetch-depth 0); the verify
# command is there with --allowed-signers pointing outside $GITHUB_WORKSPACE;
# allowed_signers comes from the repository's settings (secret or variable),
# and no step reads it from the checkout; the verifier is built from the
# commit pinned in vars.OPENCLAW_VERIFIER_COMMIT, never from github.event.before
# or the pull request's base. Each rule is also shown to catch a
# broken copy of the workflow. Prints `ok - …`/`not ok - …`/`skip - …`, then
# `N passed, M failed`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
workflow="$here/../ci/verdict-gate.yml"
# shellcheck source=ops/tests/lib.sh
source "$here/lib.sh"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/verdict_gate_workflow_selftest.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if ! type -P python3 >/dev/null; then
  skip "python3 is not installed"
  summary
  exit 0
fi

# The checker: `check.py FILE` prints one line per broken rule and exits 1,
# or exits 0. NO_YAML=1 forces the line-based checks.
cat >"$tmp/check.py" <<'PY'
import os, re, sys

path = sys.argv[1]
text = open(path, encoding="utf-8").read()
problems = []

# A path naming allowed_signers is trusted only under the runner's temp dir.
TRUSTED = re.compile(r'^(\$RUNNER_TEMP|\$\{RUNNER_TEMP\}|\$\{\{\s*runner\.temp\s*\}\})/')
VERIFY = re.compile(r'openclaw-reviewgate"?\s+verify\b(.*)$')


def signer_paths(line):
    """Every word of a command line that names a lowercase allowed_signers path."""
    out = []
    for word in re.findall(r'\S*allowed_signers\S*', line):
        out.append(word.strip('"\''))
    return out


def check_commands(lines, where):
    verify_seen = False
    for line in lines:
        s = line.strip()
        if not s or s.startswith("#") or re.match(r'-?\s*name\s*:', s):
            continue
        for word in signer_paths(s):
            if not TRUSTED.match(word) or "GITHUB_WORKSPACE" in word or "github.workspace" in word:
                problems.append(f"{where}: allowed_signers read from outside $RUNNER_TEMP: {word}")
        m = VERIFY.search(s)
        if m:
            verify_seen = True
            a = re.search(r'--allowed-signers[ =]"?([^"\s]+)', m.group(1))
            if not a:
                problems.append(f"{where}: verify without --allowed-signers")
            elif not TRUSTED.match(a.group(1)):
                problems.append(f"{where}: --allowed-signers {a.group(1)} is not under $RUNNER_TEMP")
    return verify_seen


def with_yaml(yaml):
    doc = yaml.safe_load(text)
    # YAML 1.1 reads a bare `on` key as true.
    on = doc.get("on", doc.get(True))
    if not isinstance(on, dict) or "pull_request" not in on or "main" not in ((on.get("push") or {}).get("branches") or []):
        problems.append("triggers: not on push to main and pull_request")
    verify_seen = False
    depth_ok = False
    for job_name, job in (doc.get("jobs") or {}).items():
        for i, step in enumerate(job.get("steps") or []):
            where = f"jobs.{job_name}.steps[{i}] ({step.get('name', step.get('uses', '?'))})"
            uses = str(step.get("uses", ""))
            with_ = step.get("with") or {}
            if uses.startswith("actions/checkout@"):
                if with_.get("fetch-depth") == 0:
                    depth_ok = True
                else:
                    problems.append(f"{where}: checkout without fetch-depth: 0")
            for k, v in with_.items():
                if "allowed_signers" in str(v):
                    problems.append(f"{where}: with.{k} names allowed_signers: {v}")
            envs = dict(job.get("env") or {})
            envs.update(step.get("env") or {})
            for k, v in (step.get("env") or {}).items():
                if "ALLOWED_SIGNERS" in str(v) and not re.fullmatch(
                    r'\$\{\{\s*(secrets|vars)\.OPENCLAW_ALLOWED_SIGNERS(\s*\|\|\s*(secrets|vars)\.OPENCLAW_ALLOWED_SIGNERS)?\s*\}\}', str(v)
                ):
                    problems.append(f"{where}: env {k} is not the OPENCLAW_ALLOWED_SIGNERS secret or variable: {v}")
            if "run" in step:
                verify_seen |= check_commands(str(step["run"]).splitlines(), where)
    if not depth_ok:
        problems.append("no actions/checkout step with fetch-depth: 0")
    if not verify_seen:
        problems.append("no `openclaw-reviewgate verify` command")


def by_lines():
    lines = text.splitlines()
    depths = [l.split(":", 1)[1].strip() for l in lines if re.match(r'\s*fetch-depth\s*:', l)]
    if not depths or any(d != "0" for d in depths):
        problems.append(f"fetch-depth is not 0 everywhere: {depths}")
    if not any(re.match(r'\s*pull_request\s*:', l) for l in lines) or not re.search(r'push\s*:\s*\n\s*branches\s*:\s*\[\s*main\s*\]', text):
        problems.append("triggers: not on push to main and pull_request")
    for l in lines:
        if re.search(r'^\s*[A-Za-z_]+\s*:\s*\$\{\{.*ALLOWED_SIGNERS', l) and not re.search(r'(secrets|vars)\.OPENCLAW_ALLOWED_SIGNERS', l):
            problems.append(f"allowed_signers from somewhere else: {l.strip()}")
    if not check_commands(lines, "line"):
        problems.append("no `openclaw-reviewgate verify` command")


# The verifier is built from the pinned commit, never from one nothing verified.
if "vars.OPENCLAW_VERIFIER_COMMIT" not in text:
    problems.append("the verifier is not built from vars.OPENCLAW_VERIFIER_COMMIT")
for unverified in ("github.event.before", "pull_request.base.sha"):
    if unverified in text:
        problems.append(f"the verifier may be built from {unverified}, which nothing verified")

yaml = None
if os.environ.get("NO_YAML") != "1":
    try:
        import yaml
    except ImportError:
        yaml = None
if yaml is not None:
    with_yaml(yaml)
else:
    by_lines()
for p in problems:
    print(p)
sys.exit(1 if problems else 0)
PY

if python3 -c 'import yaml' 2>/dev/null; then modes=(yaml lines); else
  modes=(lines)
  skip "python3 has no yaml module: line-based checks only"
fi

# shellcheck disable=SC2016 # the sed expressions name $RUNNER_TEMP etc. literally
for mode in "${modes[@]}"; do
  no_yaml=0
  [[ $mode == lines ]] && no_yaml=1
  # checker FILE: sets $rc and $out.
  checker() {
    rc=0
    out="$(NO_YAML=$no_yaml python3 "$tmp/check.py" "$1" 2>&1)" || rc=$?
  }

  checker "$workflow"
  if [[ $rc -eq 0 ]]; then
    ok "[$mode] the workflow: push to main and pull_request, fetch-depth 0, verify with --allowed-signers under \$RUNNER_TEMP, nothing read from the checkout"
  else
    not_ok "[$mode] the workflow: push to main and pull_request, fetch-depth 0, verify with --allowed-signers under \$RUNNER_TEMP, nothing read from the checkout" "$out"
  fi

  # broken NAME SED-EXPRESSION: a copy with one rule broken must be caught.
  broken() {
    local name="$1" copy="$tmp/broken.yml"
    sed -e "$2" "$workflow" >"$copy"
    if cmp -s "$copy" "$workflow"; then
      not_ok "[$mode] catches: $name" "the sed expression changed nothing"
      return
    fi
    checker "$copy"
    if [[ $rc -ne 0 ]]; then ok "[$mode] catches: $name"; else not_ok "[$mode] catches: $name" "no problem reported"; fi
  }
  broken "a shallow checkout" 's/fetch-depth: 0/fetch-depth: 1/'
  broken "--allowed-signers inside the workspace" 's|--allowed-signers "$RUNNER_TEMP/allowed_signers"|--allowed-signers "$GITHUB_WORKSPACE/allowed_signers"|'
  broken "--allowed-signers relative to the checkout" 's|--allowed-signers "$RUNNER_TEMP/allowed_signers"|--allowed-signers ops/allowed_signers|'
  broken "verify without --allowed-signers" 's| --allowed-signers "$RUNNER_TEMP/allowed_signers"||'
  broken "no verify step" 's/openclaw-reviewgate" verify/openclaw-reviewgate" bundle/'
  broken "allowed_signers copied from the repository" \
    's|^\( *\)umask 077$|\1cp "$GITHUB_WORKSPACE/docs/allowed_signers" "$RUNNER_TEMP/allowed_signers"|'
  broken "allowed_signers from git show" \
    's|^\( *\)umask 077$|\1git show HEAD:allowed_signers > "$RUNNER_TEMP/allowed_signers"|'
  broken "the signers value from somewhere else" 's/secrets.OPENCLAW_ALLOWED_SIGNERS || vars.OPENCLAW_ALLOWED_SIGNERS/github.event.inputs.ALLOWED_SIGNERS/'
  broken "no pull_request trigger" 's/^  pull_request:$/  workflow_dispatch:/'
  broken "the verifier built from the push's before" 's/vars.OPENCLAW_VERIFIER_COMMIT }}/github.event.before }}/'
  broken "the verifier built from the pull request's base" 's/vars.OPENCLAW_VERIFIER_COMMIT }}/github.event.pull_request.base.sha || vars.OPENCLAW_VERIFIER_COMMIT }}/'
done

summary
