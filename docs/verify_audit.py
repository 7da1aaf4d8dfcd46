#!/usr/bin/env python3
"""Independent verifier for the OpenClaw audit log (docs/audit-log.md).

Usage: verify_audit.py LOG [--checkpoint FILE] [--checkpoint-line LINE]

Exit 0 when the chain is intact and reaches every checkpoint given,
1 when it is tampered, truncated or torn, 2 when the input is unreadable.
Standard library only; written from the documented format, not our code.
"""
import hashlib
import json
import sys

GENESIS = "0" * 64
FIELDS = {"seq", "ts", "tool", "actor", "action", "params_hash",
          "exit_code", "duration_ms", "prev", "hash"}


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def parse_checkpoint(line):
    parts = line.strip().split(" ")
    if len(parts) != 4 or parts[0] != "openclaw-audit-checkpoint/v1":
        raise ValueError("bad checkpoint line")
    kv = dict(p.split("=", 1) for p in parts[1:])
    return int(kv["seq"]), kv["hash"]


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    checkpoints = []
    args = argv[2:]
    try:
        while args:
            flag, value, args = args[0], args[1], args[2:]
            if flag == "--checkpoint":
                with open(value, encoding="utf-8") as f:
                    checkpoints.append(parse_checkpoint(f.read()))
            elif flag == "--checkpoint-line":
                checkpoints.append(parse_checkpoint(value))
            else:
                raise ValueError("unknown flag " + flag)
        with open(argv[1], "rb") as f:
            data = f.read()
    except (OSError, ValueError, KeyError, IndexError) as e:
        print("unreadable input: %s" % e, file=sys.stderr)
        return 2

    problems = []
    if data and not data.endswith(b"\n"):
        problems.append("torn final line (no newline)")
        data = data[: data.rfind(b"\n") + 1]
    prev, expected, seen = GENESIS, 1, {}
    for n, raw in enumerate(data.splitlines(), 1):
        try:
            rec = json.loads(raw.decode("utf-8"))
            if not isinstance(rec, dict) or set(rec) != FIELDS:
                raise ValueError("wrong fields")
            if canonical(rec) != raw:
                raise ValueError("not in canonical form")
        except ValueError as e:
            problems.append("line %d: malformed (%s)" % (n, e))
            continue
        if rec["seq"] != expected:
            problems.append("line %d: seq %s, expected %d" % (n, rec["seq"], expected))
        if rec["prev"] != prev:
            problems.append("line %d: broken link" % n)
        body = {k: v for k, v in rec.items() if k != "hash"}
        if hashlib.sha256(canonical(body)).hexdigest() != rec["hash"]:
            problems.append("line %d: hash mismatch" % n)
        prev, expected = rec["hash"], rec["seq"] + 1
        seen[rec["seq"]] = rec["hash"]
    for seq, digest in checkpoints:
        if seq not in seen:
            problems.append("truncated: checkpoint seq %d not in log" % seq)
        elif seen[seq] != digest:
            problems.append("checkpoint mismatch at seq %d" % seq)
    for p in problems:
        print(p)
    print("%d records, %s" % (len(seen), "INTACT" if not problems else "TAMPERED"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
