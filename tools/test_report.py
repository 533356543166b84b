#!/usr/bin/env python3
"""Counts test cases across Bazel test targets and prints 'N passed, N failed, N skipped'.

Usage: test_report.py BAZEL_LOG TESTLOGS_DIR TARGET...
Each target's GoogleTest XML gives its cases. A target Bazel did not report as PASSED counts
at least one failure, even if its XML is missing (it failed to build, crashed or timed out).
Exits 1 when anything failed.
"""
import re
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def target_status(log_text, target):
    match = re.search(r"^%s\s+(?:\(cached\)\s+)?([A-Z ]+?)(?:\s+in\s|\s*$)" % re.escape(target),
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
    return passed, failed, skipped


def main():
    log_text = Path(sys.argv[1]).read_text(errors="replace")
    testlogs = Path(sys.argv[2])
    totals = [0, 0, 0]
    for target in sys.argv[3:]:
        package, name = target.lstrip("/").split(":")
        xml_path = testlogs / package / name / "test.xml"
        status = target_status(log_text, target)
        counts = [0, 0, 0]
        if xml_path.exists():
            try:
                counts = list(count_cases(xml_path))
            except ElementTree.ParseError:
                pass
        if status != "PASSED" and counts[1] == 0:
            print("test_report: %s %s" % (target, status), file=sys.stderr)
            counts[1] = 1
        totals = [a + b for a, b in zip(totals, counts)]
    print("%d passed, %d failed, %d skipped" % tuple(totals))
    return 1 if totals[1] else 0


if __name__ == "__main__":
    sys.exit(main())
