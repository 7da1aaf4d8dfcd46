#!/usr/bin/env python3
"""Independent verifier for the OpenClaw audit log (docs/audit-log.md).

Usage: verify_audit.py LOG [--checkpoint FILE] [--checkpoint-line LINE]

Exit 0 when the chain is intact and reaches every checkpoint given,
1 when it is tampered, truncated or torn, 2 when the input is unreadable.
Standard library only; written from the documented format, not our code.
"""
import datetime
import hashlib
import json
import re
import sys
import unicodedata

GENESIS = "0" * 64
FIELDS = {"seq", "ts", "tool", "actor", "action", "params_hash",
          "exit_code", "duration_ms", "prev", "hash"}
MAX_LINE = 64 * 1024
MAX_FIELD = 256
HEX64 = re.compile(r"[0-9a-f]{64}\Z")
# The one form records and checkpoints carry: UTC, whole seconds, from 1970.
TS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")
CHECKPOINT = re.compile(r"openclaw-audit-checkpoint/v1 seq=([0-9]+) "
                        r"hash=([0-9a-f]{64}) ts=(\S+)\Z")


def is_int(v, lo, hi):
    # bool is an int in Python; JSON true/1.0 are not integers in the format.
    return type(v) is int and lo <= v <= hi


def check_ts(ts):
    if not TS.match(ts):
        return False
    try:
        t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return t.year >= 1970


def check_record(rec):
    """The documented shape of one record; raises ValueError."""
    if not is_int(rec["seq"], 1, 2**64 - 1):
        raise ValueError("seq is not an integer >= 1")
    if not is_int(rec["exit_code"], -2**31, 2**31 - 1):
        raise ValueError("exit_code is not a 32-bit integer")
    if not is_int(rec["duration_ms"], 0, 2**64 - 1):
        raise ValueError("duration_ms is not an unsigned integer")
    for k in ("tool", "actor", "action"):
        v = rec[k]
        if not isinstance(v, str) or not v or len(v.encode("utf-8")) > MAX_FIELD:
            raise ValueError("%s must be 1 to %d bytes" % (k, MAX_FIELD))
        if any(unicodedata.category(c) == "Cc" for c in v):
            raise ValueError("%s contains a control character" % k)
    for k in ("params_hash", "prev", "hash"):
        if not isinstance(rec[k], str) or not HEX64.match(rec[k]):
            raise ValueError("%s is not 64 lowercase hex characters" % k)
    if not isinstance(rec["ts"], str) or not check_ts(rec["ts"]):
        raise ValueError("ts is not an RFC 3339 timestamp")


def canonical(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def parse_checkpoint(line):
    if line.endswith("\n"):
        line = line[:-1]
    m = CHECKPOINT.match(line)
    if not m or not check_ts(m.group(3)) or int(m.group(1)) == 0 \
            or int(m.group(1)) > 2**64 - 1:
        raise ValueError("bad checkpoint line")
    return int(m.group(1)), m.group(2)


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
    # Records end with "\n" only: a "\r" (CRLF or bare) is part of the line,
    # which then is not canonical. bytes.splitlines() would also split on "\r".
    lines = data[:-1].split(b"\n") if data else []
    for n, raw in enumerate(lines, 1):
        try:
            if len(raw) > MAX_LINE:
                raise ValueError("line longer than %d bytes" % MAX_LINE)
            rec = json.loads(raw.decode("utf-8"))
            if not isinstance(rec, dict) or set(rec) != FIELDS:
                raise ValueError("wrong fields")
            if canonical(rec) != raw:
                raise ValueError("not in canonical form")
            check_record(rec)
        except (ValueError, RecursionError) as e:
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
