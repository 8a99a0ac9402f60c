#!/usr/bin/env python3
"""Compares a kosoku/Autobahn index.json with the verdicts kept in the repo.

Usage:
  autobahn_check.py INDEX_JSON EXPECTED_JSON            check
  autobahn_check.py INDEX_JSON EXPECTED_JSON --write    check, then record this run
  autobahn_check.py --exclude-args EXPECTED_JSON        the runner's -x arguments

EXPECTED_JSON holds, per case, the pair [behavior, behaviorClose] and, under
"excluded", the case patterns not run (with why). Those patterns are the one list of
exclusions: the runner takes its -x arguments from them, so enabling a group of cases
(say 12.* and 13.*, permessage-deflate) is removing its pattern, then a --write run.

The check passes only when every case run matches its expected pair exactly and every
expected case ran. Any difference fails:
  - a verdict other than OK, NON-STRICT, INFORMATIONAL (FAILED, UNIMPLEMENTED, missing),
    even if the expected file records it;
  - a regression (either verdict worse than expected);
  - an improvement (record it deliberately with --write);
  - a case expected but not run, or run but not expected, or run though excluded.

--write records the run only when nothing regressed, every verdict is acceptable and
every expected case ran (a partial run never shrinks the file). New cases (a group
just enabled) and improvements are written in.

Exit status: 0 passed, 1 check failed, 2 unreadable input. Unreadable input is
reported in one line, never a traceback.
"""
import fnmatch
import json
import os
import sys

ACCEPTABLE = ("OK", "NON-STRICT", "INFORMATIONAL")
# Lower is better. INFORMATIONAL is below OK: a case that was OK must stay OK.
RANK = {"OK": 0, "INFORMATIONAL": 1, "NON-STRICT": 2, "UNIMPLEMENTED": 3, "FAILED": 4}
WORST = 5  # anything else: missing or unknown


class Unreadable(Exception):
    """Input that cannot be used; its text is the one line printed."""


def case_key(case):
    try:
        return [int(p) for p in case.split(".")]
    except ValueError:
        return [1 << 30, case]


def load_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise Unreadable(f"{what} {path}: cannot read: {e.strerror}")
    if not text.strip():
        raise Unreadable(f"{what} {path}: empty file (did the runner finish?)")
    try:
        return json.loads(text)
    except ValueError as e:
        raise Unreadable(f"{what} {path}: not valid JSON (truncated?): {e}")


def load_results(path):
    """{case: (behavior, behaviorClose)} from the runner's index.json."""
    index = load_json(path, "report")
    if not isinstance(index, dict) or len(index) != 1:
        raise Unreadable(f"report {path}: expected one agent's results, found "
                         f"{len(index) if isinstance(index, dict) else type(index).__name__}")
    agent = next(iter(index.values()))
    if not isinstance(agent, dict) or not agent:
        raise Unreadable(f"report {path}: no case results")
    results = {}
    for case, verdict in agent.items():
        if not isinstance(verdict, dict):
            raise Unreadable(f"report {path}: case {case}: not an object")
        results[case] = (str(verdict.get("behavior", "MISSING")),
                         str(verdict.get("behaviorClose", "MISSING")))
    return results


def load_expected(path):
    expected = load_json(path, "expected file")
    if not isinstance(expected, dict):
        raise Unreadable(f"expected file {path}: not an object")
    cases = expected.get("cases")
    excluded = expected.get("excluded", {})
    if not isinstance(cases, dict) or not isinstance(excluded, dict):
        raise Unreadable(f"expected file {path}: needs \"cases\" and \"excluded\" objects")
    for case, pair in cases.items():
        if (not isinstance(pair, list) or len(pair) != 2
                or not all(isinstance(v, str) for v in pair)):
            raise Unreadable(f"expected file {path}: case {case}: want "
                             f"[behavior, behaviorClose], found {pair!r}")
    return expected


def is_excluded(case, patterns):
    return any(fnmatch.fnmatchcase(case, p) for p in patterns)


def compare(results, expected):
    """(problems, improvements, regressions): lists of lines."""
    cases, patterns = expected["cases"], list(expected["excluded"])
    problems, improvements, regressions = [], [], []
    for case in sorted(results, key=case_key):
        got = list(results[case])
        for name, verdict in zip(("behavior", "behaviorClose"), got):
            if verdict not in ACCEPTABLE:
                problems.append(f"{case}: {name} {verdict}")
        if is_excluded(case, patterns):
            problems.append(f"{case}: ran, but the expected file excludes it")
            continue
        want = cases.get(case)
        if want is None:
            improvements.append(f"{case}: new case {got} (not in the expected file)")
            continue
        if got == want:
            continue
        worse = any(RANK.get(g, WORST) > RANK.get(w, WORST) for g, w in zip(got, want))
        line = f"{case}: expected {want}, got {got}"
        (regressions if worse else improvements).append(line)
    for case in sorted(cases, key=case_key):
        if case not in results and not is_excluded(case, patterns):
            problems.append(f"{case}: expected but not run")
    return problems, improvements, regressions


def summary(results, expected):
    counts = {}
    for pair in results.values():
        counts[pair] = counts.get(pair, 0) + 1
    parts = ", ".join(f"{n} {b}/{c}" for (b, c), n in sorted(counts.items()))
    excluded = "; ".join(f"{k} ({v})" for k, v in expected["excluded"].items()) or "none"
    return (f"autobahn: {len(results)} cases run, {len(expected['cases'])} expected "
            f"(behavior/behaviorClose: {parts}); excluded: {excluded}")


def write(expected_path, expected, results):
    patterns = list(expected["excluded"])
    expected["cases"] = {c: list(results[c]) for c in sorted(results, key=case_key)
                         if not is_excluded(c, patterns)}
    tmp = expected_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(dump_expected(expected))
    os.replace(tmp, expected_path)


def dump_expected(expected):
    """JSON with one case per line, so a diff shows each changed verdict."""
    def obj(d, inline):
        if not d:
            return "{}"
        items = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}"
                 for k, v in (sorted(d.items(), key=lambda kv: case_key(kv[0]))
                              if inline else d.items())]
        return "{\n " + ",\n ".join(items) + "\n }"
    parts = [f" {json.dumps(k)}: {obj(v, k == 'cases') if isinstance(v, dict) else json.dumps(v)}"
             for k, v in expected.items()]
    return "{\n" + ",\n".join(parts) + "\n}\n"


def main(argv):
    if len(argv) == 2 and argv[0] == "--exclude-args":
        expected = load_expected(argv[1])
        print(" ".join(f"-x {p}" for p in expected["excluded"]))
        return 0
    flags = [a for a in argv if a.startswith("--")]
    args = [a for a in argv if not a.startswith("--")]
    if len(args) != 2 or set(flags) - {"--write"}:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    index_path, expected_path = args
    results = load_results(index_path)
    expected = load_expected(expected_path)
    problems, improvements, regressions = compare(results, expected)
    print(summary(results, expected))

    if "--write" in flags:
        refused = problems + regressions
        if refused:
            print("autobahn: --write refused: this run has regressions, unacceptable "
                  "verdicts or missing cases; nothing was written")
            for line in refused:
                print("  " + line)
            return 1
        write(expected_path, expected, results)
        for line in improvements:
            print("  recorded:", line)
        print(f"autobahn: wrote {expected_path} ({len(expected['cases'])} cases)")
        return 0

    if not (problems or regressions or improvements):
        print("autobahn: every case matches the expected file")
        return 0
    print("autobahn: FAILED")
    for line in problems:
        print("  " + line)
    for line in regressions:
        print("  regressed: " + line)
    for line in improvements:
        print("  improved: " + line)
    if improvements and not (problems or regressions):
        print("autobahn: only improvements: record them with scripts/autobahn.sh --write")
    return 1


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Unreadable as e:
        print(f"autobahn: {e}")
        sys.exit(2)
