#!/usr/bin/env python3
"""Counts test cases and prints 'N passed, N failed, N skipped' for one pass of tools/test.

  test_report.py [--name NAME] [--counts-out FILE] BAZEL_LOG TESTLOGS_DIR TARGET...
  test_report.py [--name NAME] [--counts-out FILE] --fuzz-log FUZZ_LOG

Bazel pass: each target's GoogleTest XML gives its cases (a sharded target's XML is one per
shard). A target Bazel did not report as PASSED counts at least one failure, even without
XML (it failed to build, crashed or timed out).
Fuzz pass: tools/fuzz's closing line "fuzz: N passed, M failed" counts one case per fuzzer;
without that line (tools/fuzz did not finish) one failure.
--counts-out writes "passed failed skipped" for tools/test to add up. Exits 1 when anything
failed.
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


def count_cases(xml_path):
    passed = failed = skipped = 0
    root = ElementTree.parse(xml_path).getroot()
    for case in root.iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
        elif case.get("result") == "skipped" or case.find("skipped") is not None:
            skipped += 1
        else:
            passed += 1
    return [passed, failed, skipped]


def target_counts(testlogs, target, log_text):
    package, name = target.lstrip("/").split(":")
    directory = testlogs / package / name
    xml_paths = [directory / "test.xml"] if (directory / "test.xml").exists() else sorted(
        directory.glob("shard_*_of_*/test.xml"))
    counts = [0, 0, 0]
    for xml_path in xml_paths:
        try:
            counts = [a + b for a, b in zip(counts, count_cases(xml_path))]
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
    return counts


def fuzz_counts(fuzz_log):
    text = Path(fuzz_log).read_text(errors="replace") if Path(fuzz_log).exists() else ""
    matches = re.findall(r"^fuzz: (\d+) passed, (\d+) failed$", text, re.MULTILINE)
    if not matches:
        print("test_report: tools/fuzz did not finish (no \"fuzz: N passed, M failed\" line)",
              file=sys.stderr)
        return [0, 1, 0]
    passed, failed = matches[-1]
    return [int(passed), int(failed), 0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="")
    parser.add_argument("--counts-out")
    parser.add_argument("--fuzz-log")
    parser.add_argument("bazel_log", nargs="?")
    parser.add_argument("testlogs", nargs="?")
    parser.add_argument("targets", nargs="*")
    args = parser.parse_args()

    if args.fuzz_log:
        totals = fuzz_counts(args.fuzz_log)
    else:
        log_text = Path(args.bazel_log).read_text(errors="replace")
        totals = [0, 0, 0]
        for target in args.targets:
            totals = [a + b for a, b in zip(totals, target_counts(Path(args.testlogs), target, log_text))]
    prefix = args.name + ": " if args.name else ""
    print("%s%d passed, %d failed, %d skipped" % ((prefix,) + tuple(totals)))
    if args.counts_out:
        Path(args.counts_out).write_text("%d %d %d\n" % tuple(totals))
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
