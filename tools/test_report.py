#!/usr/bin/env python3
"""Counts test cases and prints 'N passed, N failed, N skipped' for one pass of tools/test.

  test_report.py [--name NAME] [--counts-out FILE] [--failures-out FILE] BAZEL_LOG TESTLOGS_DIR TARGET...
  test_report.py [--name NAME] [--counts-out FILE] [--failures-out FILE] --fuzz-log FUZZ_LOG

Bazel pass: each target's GoogleTest XML gives its cases (a sharded target's XML is one per
shard). A target Bazel did not report as PASSED counts at least one failure, even without
XML (it failed to build, crashed or timed out).
Fuzz pass: tools/fuzz's closing line "fuzz: N passed, M failed" counts one case per fuzzer;
without that line (tools/fuzz did not finish) one failure.
--counts-out writes "passed failed skipped" for tools/test to add up; --failures-out appends
a line per failed case (pass, target, case, the start of its message), which tools/test repeats
at the very end, where a reader of only CI's last lines sees them. Exits 1 when anything failed.
"""
import argparse
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def target_status(log_text, target):
    match = re.search(r"^%s\s+(?:\(cached\)\s+)?([A-Z ]+?)(?:,|\s+in\s|\s*$)" % re.escape(target),
                      log_text, re.MULTILINE)
    return match.group(1).strip() if match else "NO STATUS"


def count_cases(xml_path, failures):
    passed = failed = skipped = 0
    root = ElementTree.parse(xml_path).getroot()
    for case in root.iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            failed += 1
            # GoogleTest's message: "file:line" then what was expected; three lines do.
            message = (problem.get("message") or problem.text or "").strip().splitlines()
            failures.append("%s.%s: %s" % (case.get("classname"), case.get("name"),
                                           " | ".join(message[:3])[:300] or "(no message)"))
        elif case.get("result") == "skipped" or case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return [passed, failed, skipped]


def target_counts(testlogs, target, log_text, failures):
    package, name = target.lstrip("/").split(":")
    directory = testlogs / package / name
    xml_paths = [directory / "test.xml"] if (directory / "test.xml").exists() else sorted(
        directory.glob("shard_*_of_*/test.xml"))
    counts = [0, 0, 0]
    cases = []
    for xml_path in xml_paths:
        try:
            counts = [a + b for a, b in zip(counts, count_cases(xml_path, cases))]
        except ElementTree.ParseError:
            pass
    status = target_status(log_text, target)
    if status == "FLAKY":
        # Passed on a retry (a target marked flaky = True): its last attempt's cases count.
        print("test_report: %s passed on a retry (FLAKY); the failed attempts' logs are in "
              "its test_attempts/" % target, file=sys.stderr)
    elif status != "PASSED" and counts[1] == 0:
        print("test_report: %s %s" % (target, status), file=sys.stderr)
        counts[1] = 1
        cases.append("%s (no failed case in its XML)" % status)
    failures.extend("%s %s" % (target, case) for case in cases)
    return counts


def fuzz_counts(fuzz_log, failures):
    text = Path(fuzz_log).read_text(errors="replace") if Path(fuzz_log).exists() else ""
    failures.extend(re.findall(r"^fuzz: (\S+\s+FAILED.*)$", text, re.MULTILINE))
    matches = re.findall(r"^fuzz: (\d+) passed, (\d+) failed$", text, re.MULTILINE)
    if not matches:
        print("test_report: tools/fuzz did not finish (no \"fuzz: N passed, M failed\" line)",
              file=sys.stderr)
        failures.append("tools/fuzz did not finish")
        return [0, 1, 0]
    passed, failed = matches[-1]
    return [int(passed), int(failed), 0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="")
    parser.add_argument("--counts-out")
    parser.add_argument("--failures-out")
    parser.add_argument("--fuzz-log")
    parser.add_argument("bazel_log", nargs="?")
    parser.add_argument("testlogs", nargs="?")
    parser.add_argument("targets", nargs="*")
    args = parser.parse_args()

    failures = []
    if args.fuzz_log:
        totals = fuzz_counts(args.fuzz_log, failures)
    else:
        log_text = Path(args.bazel_log).read_text(errors="replace")
        totals = [0, 0, 0]
        for target in args.targets:
            totals = [a + b for a, b in zip(totals, target_counts(Path(args.testlogs), target, log_text,
                                                                failures))]
    prefix = args.name + ": " if args.name else ""
    print("%s%d passed, %d failed, %d skipped" % ((prefix,) + tuple(totals)))
    if args.counts_out:
        Path(args.counts_out).write_text("%d %d %d\n" % tuple(totals))
    if args.failures_out:
        with open(args.failures_out, "a") as out:
            out.writelines("%s%s\n" % (prefix, failure) for failure in failures)
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
