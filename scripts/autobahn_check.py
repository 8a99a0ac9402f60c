#!/usr/bin/env python3
"""Compares a kosoku/Autobahn index.json with the expected verdicts kept in the repo.

Usage: autobahn_check.py INDEX_JSON EXPECTED_JSON [--write]

Fails (exit 1) when a case is FAILED, missing, or worse than expected (OK or
INFORMATIONAL -> NON-STRICT, anything -> FAILED/UNIMPLEMENTED). Cases better than
expected are reported so the file can be updated (--write rewrites it from this run).
"""
import json
import sys

RANK = {"OK": 0, "INFORMATIONAL": 0, "NON-STRICT": 1, "UNIMPLEMENTED": 2, "FAILED": 3}
ACCEPTABLE = {"OK", "NON-STRICT", "INFORMATIONAL"}


def case_key(case):
    return [int(p) for p in case.split(".")]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    write = "--write" in sys.argv
    index_path, expected_path = args
    with open(index_path) as f:
        index = json.load(f)
    results = next(iter(index.values()))
    with open(expected_path) as f:
        expected = json.load(f)

    problems, improved = [], []
    counts = {}
    for case, verdict in sorted(results.items(), key=lambda kv: case_key(kv[0])):
        behavior = verdict.get("behavior", "FAILED")
        close = verdict.get("behaviorClose", "FAILED")
        counts[behavior] = counts.get(behavior, 0) + 1
        if behavior not in ACCEPTABLE:
            problems.append(f"{case}: behavior {behavior}")
        if close not in ACCEPTABLE:
            problems.append(f"{case}: behaviorClose {close}")
        want = expected["cases"].get(case)
        if want is None:
            problems.append(f"{case}: not in the expected file")
        elif RANK.get(behavior, 3) > RANK[want]:
            problems.append(f"{case}: regressed from {want} to {behavior}")
        elif RANK.get(behavior, 3) < RANK[want]:
            improved.append(f"{case}: {want} -> {behavior}")
    for case in expected["cases"]:
        if case not in results:
            problems.append(f"{case}: expected but not run")

    summary = ", ".join(f"{n} {b}" for b, n in sorted(counts.items()))
    print(f"autobahn: {len(results)} cases: {summary}; excluded: "
          + "; ".join(f"{k} ({v})" for k, v in expected["excluded"].items()))
    for line in improved:
        print("improved (update the expected file):", line)
    if write:
        expected["cases"] = {c: v["behavior"] for c, v in
                             sorted(results.items(), key=lambda kv: case_key(kv[0]))}
        with open(expected_path, "w") as f:
            json.dump(expected, f, indent=1, sort_keys=False)
            f.write("\n")
        print("wrote", expected_path)
    if problems:
        print("autobahn: FAILED")
        for line in problems:
            print("  " + line)
        sys.exit(1)
    print("autobahn: no regressions")


if __name__ == "__main__":
    main()
