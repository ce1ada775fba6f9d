"""JUnit XML for CI systems: a test suite per run, a test case per check.

The shape is the one pytest's ``--junitxml`` writes (its default family, xunit2), which
GitLab, Jenkins and GitHub's test-report actions read: properties belong to a suite,
never to a case, and times are seconds with at most three decimals. A run that ended in
an error before it was judged is one case with an ``error`` element.
"""

from __future__ import annotations

import socket
import xml.etree.ElementTree as ET
from pathlib import Path

from kit.core.checks import Check, Verdict, unjudged
from kit.core.interrupts import deferred_interrupt
from kit.core.progress import say
from kit.core.record import RunRecord
from kit.core.results import atomic_write


def seconds(value: float | None) -> str:
    return f"{value or 0.0:.3f}"


def case(suite: ET.Element, classname: str, check: Check) -> None:
    element = ET.SubElement(suite, "testcase", classname=classname, name=check.name,
                            time="0.000")
    if not check.judged:
        ET.SubElement(element, "skipped", message=f"not judged: {check.observed}")
    elif not check.passed:
        failure = ET.SubElement(element, "failure",
                                message=f"expected: {check.expected}; observed: "
                                        f"{check.observed}")
        failure.text = (f"claim {check.claim}\nexpected: {check.expected}\n"
                        f"observed: {check.observed}")


def error_case(suite: ET.Element, classname: str, record: RunRecord) -> None:
    element = ET.SubElement(suite, "testcase", classname=classname, name="run",
                            time=seconds(record.timings_s.get("total")))
    message = record.error or "the run ended before its checks were judged"
    ET.SubElement(element, "error", message=message).text = message


def suite(directory: Path, record: RunRecord, hostname: str) -> ET.Element:
    errored = record.verdict == Verdict.ERROR or not record.checks
    failed = len(record.failed_checks)
    name = f"{record.scenario}/{record.variant}"
    if record.experiment:   # a study's cells share scenario and variant: the cell tells
        name = f"{record.experiment.get('name')}/{record.experiment.get('cell')}"
    if record.testbed == "kernel":   # the same runs on several kernels: which one
        name += f" on Linux {', '.join(record.kernels())}"
    element = ET.Element("testsuite", {
        "name": name,
        "tests": str(len(record.checks) + int(errored)),
        "failures": str(failed), "errors": str(int(errored)),
        "skipped": str(len(unjudged(record.checks))),
        "time": seconds(record.timings_s.get("total")),
        "timestamp": record.started_at, "hostname": hostname})
    properties = ET.SubElement(element, "properties")
    for name, value in (("run_id", record.run_id), ("run_directory", str(directory)),
                        ("report", str(directory / "report.html")),
                        ("verdict", record.verdict), ("testbed", record.testbed or ""),
                        ("kernel", ", ".join(record.kernels()))):
        ET.SubElement(properties, "property", name=name, value=value)
    classname = f"netkit.{record.scenario}.{record.variant}"
    for check in record.checks:
        case(element, classname, check)
    if errored:
        error_case(element, classname, record)
    return element


def junit_xml(directories: list[Path]) -> bytes:
    """The JUnit document of these run directories, in their order."""
    hostname = socket.gethostname()
    # As pytest's: the root carries a name only; readers total the suites themselves.
    root = ET.Element("testsuites", name="netkit")
    for directory in directories:
        root.append(suite(directory.resolve(), RunRecord.load(directory), hostname))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def write_junit(path: Path, directories: list[Path]) -> Path:
    """Write the report (a second Ctrl-C waits for it) and say where it is."""
    with deferred_interrupt():
        atomic_write(path, junit_xml(directories))
    say(f"JUnit report: {path}")
    return path
