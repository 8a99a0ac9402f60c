#!/usr/bin/env python3
"""Tests of scripts/autobahn_check.py on made-up reports: each hole the gate once had
(a behaviorClose change unnoticed, OK -> INFORMATIONAL ranked equal, --write recording
a regression or a partial run, a traceback on a broken report) stays closed.

Usage: test_check.py   (exits non-zero when a check fails; scripts/test runs it)
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "scripts", "autobahn_check.py")

EXPECTED = {
    "excluded": {"12.*": "deflate", "13.*": "deflate"},
    "notes": {},
    "cases": {
        "1.1.1": ["OK", "OK"],
        "1.1.2": ["OK", "OK"],
        "6.4.3": ["NON-STRICT", "OK"],
        "7.1.6": ["INFORMATIONAL", "INFORMATIONAL"],
    },
}


def report(cases):
    return {"wsview": {c: {"behavior": b, "behaviorClose": bc, "duration": 1}
                       for c, (b, bc) in cases.items()}}


class Gate(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.index = os.path.join(self.dir.name, "index.json")
        self.expected = os.path.join(self.dir.name, "expected.json")
        with open(self.expected, "w") as f:
            json.dump(EXPECTED, f)

    def tearDown(self):
        self.dir.cleanup()

    def run_check(self, cases=None, raw=None, write=False):
        with open(self.index, "w") as f:
            f.write(raw if raw is not None else json.dumps(report(cases)))
        args = [sys.executable, CHECK, self.index, self.expected] + (["--write"] if write else [])
        done = subprocess.run(args, capture_output=True, text=True, timeout=60)
        return done.returncode, done.stdout + done.stderr

    def expected_now(self):
        with open(self.expected) as f:
            return json.load(f)["cases"]

    def same(self, **changes):
        cases = {c: tuple(v) for c, v in EXPECTED["cases"].items()}
        cases.update(changes)
        return cases

    def test_an_exact_match_passes(self):
        code, out = self.run_check(self.same())
        self.assertEqual(code, 0, out)
        self.assertIn("every case matches", out)

    def test_behavior_close_regression_fails(self):
        code, out = self.run_check(self.same(**{"1.1.1": ("OK", "NON-STRICT")}))
        self.assertEqual(code, 1, out)
        self.assertIn("regressed: 1.1.1: expected ['OK', 'OK'], got ['OK', 'NON-STRICT']", out)

    def test_ok_to_informational_is_a_regression(self):
        code, out = self.run_check(self.same(**{"1.1.2": ("INFORMATIONAL", "OK")}))
        self.assertEqual(code, 1, out)
        self.assertIn("regressed: 1.1.2", out)

    def test_failed_fails_even_when_expected(self):
        with open(self.expected, "w") as f:
            json.dump(dict(EXPECTED, cases=dict(EXPECTED["cases"], **{"1.1.1": ["FAILED", "OK"]})), f)
        code, out = self.run_check(self.same(**{"1.1.1": ("FAILED", "OK")}))
        self.assertEqual(code, 1, out)
        self.assertIn("1.1.1: behavior FAILED", out)

    def test_an_improvement_fails_until_written(self):
        cases = self.same(**{"6.4.3": ("OK", "OK")})
        code, out = self.run_check(cases)
        self.assertEqual(code, 1, out)
        self.assertIn("improved: 6.4.3", out)
        self.assertIn("--write", out)
        code, out = self.run_check(cases, write=True)
        self.assertEqual(code, 0, out)
        self.assertEqual(self.expected_now()["6.4.3"], ["OK", "OK"])
        code, out = self.run_check(cases)
        self.assertEqual(code, 0, out)

    def test_write_refuses_a_regression_and_writes_nothing(self):
        before = self.expected_now()
        code, out = self.run_check(self.same(**{"1.1.1": ("NON-STRICT", "OK")}), write=True)
        self.assertEqual(code, 1, out)
        self.assertIn("--write refused", out)
        self.assertEqual(self.expected_now(), before)

    def test_write_refuses_a_partial_run(self):
        before = self.expected_now()
        partial = {"1.1.1": ("OK", "OK")}
        code, out = self.run_check(partial, write=True)
        self.assertEqual(code, 1, out)
        self.assertIn("1.1.2: expected but not run", out)
        self.assertEqual(self.expected_now(), before)

    def test_a_missing_case_fails(self):
        cases = self.same()
        del cases["7.1.6"]
        code, out = self.run_check(cases)
        self.assertEqual(code, 1, out)
        self.assertIn("7.1.6: expected but not run", out)

    def test_a_missing_verdict_fails(self):
        raw = json.dumps({"wsview": dict(report(self.same())["wsview"], **{"1.1.1": {"behavior": "OK"}})})
        code, out = self.run_check(raw=raw)
        self.assertEqual(code, 1, out)
        self.assertIn("1.1.1: behaviorClose MISSING", out)

    def test_an_excluded_case_that_ran_fails(self):
        code, out = self.run_check(self.same(**{"12.1.1": ("OK", "OK")}))
        self.assertEqual(code, 1, out)
        self.assertIn("12.1.1: ran, but the expected file excludes it", out)

    def test_enabling_a_group_records_its_new_cases(self):
        with open(self.expected, "w") as f:
            json.dump(dict(EXPECTED, excluded={"13.*": "deflate"}), f)
        cases = self.same(**{"12.1.1": ("OK", "OK")})
        code, out = self.run_check(cases)
        self.assertEqual(code, 1, out)
        self.assertIn("new case", out)
        code, out = self.run_check(cases, write=True)
        self.assertEqual(code, 0, out)
        self.assertEqual(self.expected_now()["12.1.1"], ["OK", "OK"])

    def test_unreadable_reports_fail_in_one_line(self):
        whole = json.dumps(report(self.same()))
        for raw, words in [("", "empty file"), ("   \n", "empty file"),
                           (whole[: len(whole) // 2], "not valid JSON"),
                           ("[]", "one agent"), ('{"wsview": {}}', "no case results")]:
            code, out = self.run_check(raw=raw)
            self.assertEqual(code, 2, (raw, out))
            self.assertEqual(len(out.strip().splitlines()), 1, out)
            self.assertIn(words, out)
            self.assertNotIn("Traceback", out)
        os.remove(self.index)
        done = subprocess.run([sys.executable, CHECK, self.index, self.expected],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.returncode, 2, done.stdout + done.stderr)
        self.assertIn("cannot read", done.stdout)

    def test_exclude_args_come_from_the_expected_file(self):
        done = subprocess.run([sys.executable, CHECK, "--exclude-args", self.expected],
                              capture_output=True, text=True, timeout=60)
        self.assertEqual(done.stdout.split(), ["-x", "12.*", "-x", "13.*"])


if __name__ == "__main__":
    unittest.main(verbosity=1)
