"""The JUnit report (--junit): recorded runs written as the JUnit XML that CI systems read,
checked against the format's schema (tests/data/junit/junit.xsd) and against what pytest's
own --junitxml writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kit.report.junit import junit_xml, write_junit
from tests.schemas import JUNIT as SCHEMA

DATA = Path(__file__).resolve().parent.parent / "data"


def recorded(tmp_path: Path, name: str, change=None) -> Path:
    """A copy of a recorded catalog run, its run.json changed by ``change``."""
    directory = tmp_path / name
    shutil.copytree(DATA / "catalog" / name, directory)
    if change:
        path = directory / "run.json"
        record = json.loads(path.read_text())
        change(record)
        path.write_text(json.dumps(record))
    return directory


def fail_first_check(record: dict) -> None:
    record["checks"][0].update(passed=False, observed="the FIN never came")
    record["verdict"] = "fail"


def run_error(record: dict) -> None:
    record.update(verdict="error", checks=[], complete=False,
                  error="the lab did not start: no such image")


def parsed(directories: list[Path]) -> ET.Element:
    document = junit_xml(directories)
    SCHEMA.validate(document.decode())
    return ET.fromstring(document)


def test_a_passing_run_is_a_suite_of_passed_cases(tmp_path):
    directory = recorded(tmp_path, "close-graceful")
    record = json.loads((directory / "run.json").read_text())
    (suite,) = parsed([directory])
    assert suite.get("name") == "close/graceful"
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == \
        (str(len(record["checks"])), "0", "0")
    assert [c.get("name") for c in suite.iter("testcase")] == \
        [c["name"] for c in record["checks"]]
    assert not list(suite.iter("failure"))
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["run_directory"] == str(directory.resolve())
    assert properties["report"] == str(directory.resolve() / "report.html")
    assert properties["verdict"] == "pass"


def test_a_failed_check_carries_expected_and_observed(tmp_path):
    directory = recorded(tmp_path, "close-graceful", fail_first_check)
    check = json.loads((directory / "run.json").read_text())["checks"][0]
    root = parsed([directory])
    assert root.find("testsuite").get("failures") == "1"
    (failure,) = root.iter("failure")
    assert failure.get("message") == \
        f"expected: {check['expected']}; observed: the FIN never came"
    assert f"claim {check['claim']}" in failure.text


def test_a_run_that_ended_in_an_error_is_one_errored_case(tmp_path):
    root = parsed([recorded(tmp_path, "close-abrupt", run_error),
                   recorded(tmp_path, "close-graceful")])
    errored, passed = root.findall("testsuite")
    (error,) = errored.iter("error")
    assert "the lab did not start" in error.get("message")
    assert (errored.get("tests"), errored.get("errors")) == ("1", "1")
    assert passed.get("errors") == "0"
    assert len(list(root.iter("testcase"))) == 1 + int(passed.get("tests"))


def test_a_study_names_its_suites_by_cell(tmp_path):
    directory = recorded(tmp_path, "close-graceful",
                         lambda r: r.update(experiment={"name": "loss", "cell": "c-003"}))
    (suite,) = parsed([directory])
    assert suite.get("name") == "loss/c-003"


def test_the_file_is_replaced_whole(tmp_path):
    target = tmp_path / "netkit.xml"
    target.write_text("old")
    write_junit(target, [recorded(tmp_path, "close-graceful")])
    SCHEMA.validate(str(target))


@pytest.fixture(scope="module")
def pytest_junit(tmp_path_factory) -> ET.Element:
    """What pytest's own --junitxml writes for a passing and a failing test."""
    root = tmp_path_factory.mktemp("pytest-junit")
    (root / "test_sample.py").write_text(
        "def test_passes(record_testsuite_property):\n"
        "    record_testsuite_property('run_directory', '/tmp/x')\n\n"
        "def test_fails():\n    assert 1 == 2\n")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                    "--junitxml", str(root / "out.xml"), str(root / "test_sample.py")],
                   cwd=root, capture_output=True, timeout=120)
    return ET.parse(root / "out.xml").getroot()


def shape(root: ET.Element) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for element in root.iter():
        found.setdefault(element.tag, set()).update(element.attrib)
    return found


def test_pytest_s_own_report_meets_the_same_schema(pytest_junit):
    SCHEMA.validate(ET.tostring(pytest_junit, encoding="unicode"))


def test_the_report_uses_only_what_pytest_s_report_uses(tmp_path, pytest_junit):
    ours = shape(parsed([recorded(tmp_path, "close-graceful", fail_first_check)]))
    theirs = shape(pytest_junit)
    for tag, attributes in ours.items():
        assert tag in theirs, f"pytest writes no <{tag}>"
        assert attributes <= theirs[tag], f"<{tag}>: {attributes - theirs[tag]}"


def leave_one_unjudged(record: dict) -> None:
    record["checks"][-1].update(passed=False, judged=False,
                                observed="client: this kernel (6.1.0-50-amd64) cannot show it")


def test_a_check_not_judged_is_a_skipped_case_and_the_run_still_passes(tmp_path):
    root = parsed([recorded(tmp_path, "close-abrupt", leave_one_unjudged)])
    (suite,) = root
    assert suite.get("skipped") == "1" and suite.get("failures") == "0"
    cases = suite.findall("testcase")
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert [c.get("name") for c in skipped] == [cases[-1].get("name")]
    assert "6.1.0-50-amd64" in skipped[0].find("skipped").get("message")
    assert all(c.find("failure") is None for c in cases)


def on_a_kernel_vm(record: dict) -> None:
    record["testbed"] = "kernel"
    record["kernel_trace"]["hosts"] = {role: {"kernel": "6.1.0-50-amd64"}
                                       for role in ("client", "server")}


def test_the_same_run_on_several_kernels_names_each_suite_s_kernel(tmp_path):
    root = parsed([recorded(tmp_path / "host", "close-abrupt"),
                   recorded(tmp_path / "vm", "close-abrupt", on_a_kernel_vm)])
    assert [suite.get("name") for suite in root] == [
        "close/abrupt", "close/abrupt on Linux 6.1.0-50-amd64"]
