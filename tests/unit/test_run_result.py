"""The typed run result the pytest plugin hands a test, over recorded runs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kit.run.result import RunFailed, RunResult

CATALOG = Path(__file__).resolve().parent.parent / "data" / "catalog"


def test_the_abrupt_close_as_a_test_sees_it():
    run = RunResult.load(CATALOG / "close-abrupt")
    assert run.verdict == "pass" and not run.failed_checks
    assert run.packets.resets(from_="client") and not run.packets.resets(from_="server")
    assert run.packets.fins(from_="client") and not run.packets.fins(from_="server")
    assert len(run.packets.sent_by("client")) + len(run.packets.sent_by("server")) == \
        len(run.packets)
    assert [s["length"] for s in run.packets.with_data(from_="client")] == [5, 5]
    assert run.states("client")[0] == "ESTAB"
    assert run.transitions("server") == ["LISTEN", "SYN-RECV", "ESTAB", "CLOSE-WAIT", "CLOSE"]
    assert run.exit_status("server") == 1
    assert "Broken pipe" in run.output("server")
    assert [e["ret"] for e in run.events("server", "write")][-1] < 0
    assert run.check("client-kernel-sent-rst").passed
    with pytest.raises(KeyError, match="no check 'nope'"):
        run.check("nope")


def test_a_failed_run_describes_its_failed_checks_and_report():
    run = RunResult.load(CATALOG / "close-graceful")
    failed = dataclasses.replace(run.checks[0], passed=False, observed="nothing")
    record = dataclasses.replace(run.record, verdict="fail", checks=[failed, *run.checks[1:]])
    text = dataclasses.replace(run, record=record).describe()
    assert text.splitlines()[0] == "close/graceful: FAIL"
    assert f"FAIL {failed.name}: expected {failed.expected}; observed nothing" in text
    assert str(CATALOG / "close-graceful" / "report.html") in text


def test_requiring_a_pass_raises_an_error_that_carries_the_failed_run():
    run = RunResult.load(CATALOG / "close-graceful")
    assert run.check_passed() is run
    failed = dataclasses.replace(run, record=dataclasses.replace(run.record, verdict="fail"))
    with pytest.raises(RunFailed) as raised:
        failed.check_passed()
    assert raised.value.result is failed
    assert isinstance(raised.value, AssertionError)       # pytest shows it as a failure
    assert str(raised.value) == failed.describe()
