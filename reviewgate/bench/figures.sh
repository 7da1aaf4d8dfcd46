#!/usr/bin/env bash
# figures.sh: the review gate's two figures (docs/reviewgate.md "Figures"):
#   1. `verify --rev HEAD` on a repository with 10,000 commits;
#   2. `bundle` of a range whose diff is about 5 MB.
# Real git, keys and signatures from real ssh-keygen. No network, no root.
#
# Usage: reviewgate/bench/figures.sh [BIN_DIR]   (default target/release;
# build first: cargo build --release -p reviewgate)
set -euo pipefail

bin="$(cd "${1:-target/release}" && pwd)/openclaw-reviewgate"
[[ -x "$bin" ]] || { echo "build first: cargo build --release -p reviewgate" >&2; exit 2; }
tmp="$(mktemp -d /tmp/reviewgate_figures.XXXXXX)"
trap 'rm -rf "$tmp"' EXIT
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@e.invalid GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@e.invalid
export HOME="$tmp" GIT_CONFIG_NOSYSTEM=1 OPENCLAW_STATE_DIR="$tmp/state" OPENCLAW_AUDIT_LOG="$tmp/audit/a.jsonl"
export OPENCLAW_ARTIFACTS_ROOT="$tmp/art" OPENCLAW_RUN_DIR="$tmp/run" OPENCLAW_SECRETS_DIR="$tmp/secrets"
export OPENCLAW_CONFIG="$tmp/openclaw.toml"
: >"$OPENCLAW_CONFIG"
ms() { date +%s%3N; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ssh-keygen -q -t ed25519 -N '' -C reviewer -f "$tmp/key"
printf 'reviewer@openclaw namespaces="openclaw-review-verdict" %s\n' "$(cut -d' ' -f1,2 "$tmp/key.pub")" >"$tmp/allowed_signers"
export OPENCLAW_ALLOWED_SIGNERS="$tmp/allowed_signers"

# 1. 10,000 commits through fast-import, then a signed verdict for the head.
git init -q -b main "$tmp/repo"
{
  for i in $(seq 1 10000); do
    printf 'commit refs/heads/main\ncommitter b <b@e.invalid> %d +0000\ndata 4\nc%03d\n' $((1700000000 + i)) $((i % 1000))
    printf 'M 644 inline f%d.txt\ndata %d\n%d\n\n' $((i % 50)) $((${#i} + 1)) "$i"
  done
} | git -C "$tmp/repo" fast-import --quiet
git -C "$tmp/repo" checkout -q main
head=$(git -C "$tmp/repo" rev-parse HEAD)
tree=$(git -C "$tmp/repo" rev-parse 'HEAD^{tree}')
base=$(git -C "$tmp/repo" rev-parse HEAD~1)
mkdir -p "$tmp/repo/docs"
python3 - "$tmp/repo/docs/LAST_APPROVED_VERDICT.json" "$base" "$head" "$tree" <<'PY'
import json, sys, time
out, base, head, tree = sys.argv[1:]
v = {"schema": "openclaw-review-verdict/v1", "repo": "bench", "base": base, "head": head, "tree": tree,
     "verdict": "APPROVED", "policy": {"id": "openclaw-default/v1", "min_confidence": 0.6, "max_priority_allowed": 2},
     "engine": {"name": "codex", "version": "x", "model": "m"}, "bundle_sha256": "d" * 64,
     "findings_summary": "0 findings", "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "simulated": False}
open(out, "w").write(json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False))
PY
ssh-keygen -Y sign -f "$tmp/key" -n openclaw-review-verdict "$tmp/repo/docs/LAST_APPROVED_VERDICT.json" 2>/dev/null
git -C "$tmp/repo" add docs && git -C "$tmp/repo" commit -qm verdict
echo "commits: $(git -C "$tmp/repo" rev-list --count HEAD)"
times=()
for _ in 1 2 3 4 5 6 7; do
  t0=$(ms); "$bin" verify --rev HEAD --repo "$tmp/repo" >/dev/null; t1=$(ms); times+=($((t1 - t0)))
done
printf 'verify --rev HEAD, 10,001 commits: median %s ms (runs: %s)\n' "$(printf '%s\n' "${times[@]}" | median)" "${times[*]}"

# 2. A range with a diff of about 5 MB (100 files of 50 KB).
git init -q -b main "$tmp/big"
echo seed >"$tmp/big/seed" && git -C "$tmp/big" add . && git -C "$tmp/big" commit -qm seed
for i in $(seq 1 100); do
  python3 -c "import sys; sys.stdout.write(''.join('line %d of file $i with some text\n' % n for n in range(1600)))" >"$tmp/big/file$i.txt"
done
git -C "$tmp/big" add . && git -C "$tmp/big" commit -qm big
size=$(git -C "$tmp/big" diff HEAD~1 HEAD | wc -c)
times=()
for _ in 1 2 3 4 5; do
  t0=$(ms); "$bin" bundle --repo "$tmp/big" --base HEAD~1 --out "$tmp/bundle.md" >/dev/null; t1=$(ms); times+=($((t1 - t0)))
done
packets=$(ls "$tmp"/bundle.md* | wc -l)
printf 'bundle of a %s-byte diff (100 files) into %s packets of <= 200 KiB: median %s ms (runs: %s)\n' \
  "$size" "$packets" "$(printf '%s\n' "${times[@]}" | median)" "${times[*]}"
