"""A run is judged only on the conditions it asked for: when the lab did not hold them
(a check of the evidence failed: captures incomplete, link late, programs kept waiting
for a CPU), the verdict is inconclusive, whatever the kernel's checks say."""

from __future__ import annotations

import copy
from pathlib import Path

from kit.core.checks import LAB, Check, verdict_of, why_inconclusive
from kit.core.parameters import RunParameters
from kit.run.evidence_files import load_run
from kit.scenarios.checks import cpu_wait_limit, programs_got_the_cpu

CATALOG = Path(__file__).resolve().parent.parent / "data" / "catalog"


def check(name: str, claim: str, passed: bool) -> Check:
    return Check(name, claim, passed, "expected", "observed")


def test_the_verdict_of_kernel_and_lab_checks():
    kernel_ok, kernel_bad = check("no-rst", "C1", True), check("no-rst", "C1", False)
    lab_ok, lab_bad = check("captures-complete", LAB, True), check("link", LAB, False)
    assert verdict_of([lab_ok, kernel_ok]) == "pass"
    assert verdict_of([lab_ok, kernel_bad]) == "fail"
    assert verdict_of([lab_bad, kernel_ok]) == "inconclusive"
    assert verdict_of([lab_bad, kernel_bad]) == "inconclusive"
    assert "(link)" in why_inconclusive([lab_ok, lab_bad, kernel_bad])


def with_waits(waits_ms: dict[str, float]):
    """The graceful run's evidence, its programs' run-queue wait growing to ``waits_ms``
    between their first and last event."""
    _, _, evidence = load_run(CATALOG / "close-graceful")
    changed = copy.deepcopy(evidence)
    for events in changed.events.values():
        for index, event in enumerate(events):
            total = waits_ms.get(event["prog"], 0) * 1000
            event["rq_us"] = 5000 + int(total * index / max(1, len(events) - 1))
    return changed


def test_programs_that_got_the_cpu_pass():
    result = programs_got_the_cpu(with_waits({"client": 2, "server": 0.6}), RunParameters())
    assert result is not None and result.passed and result.claim == LAB
    assert result.observed == "client waited 2.0 ms; server waited 0.6 ms"


def test_a_program_kept_waiting_fails_and_is_named():
    result = programs_got_the_cpu(with_waits({"client": 2, "server": 300}), RunParameters())
    assert result is not None and not result.passed
    assert "server waited 300.0 ms" in result.observed and "at most 62 ms" in result.expected


def test_the_limit_follows_the_script_s_gap():
    assert cpu_wait_limit(RunParameters(server_delay=1.0)) == 0.0625
    assert cpu_wait_limit(RunParameters(server_delay=5.0)) == 0.125
    assert cpu_wait_limit(RunParameters(server_delay=0.3)) == 0.030
    result = programs_got_the_cpu(with_waits({"server": 100}), RunParameters(server_delay=5.0))
    assert result is not None and result.passed


def test_programs_that_do_not_log_their_wait_get_no_such_check():
    _, _, evidence = load_run(CATALOG / "close-graceful")
    assert programs_got_the_cpu(evidence, RunParameters()) is None


def test_the_check_s_name_and_promise_and_its_limit_inclusive():
    limit_ms = cpu_wait_limit(RunParameters()) * 1000
    result = programs_got_the_cpu(with_waits({"server": limit_ms}), RunParameters())
    assert result is not None and result.passed and result.name == "programs-got-the-cpu"
    assert result.expected == ("each program waits at most 62 ms for a CPU in all of the "
                               "run (a busier machine shifts the run's timing)")
    assert result.observed == "client waited 0.0 ms; server waited 62.5 ms"


def test_a_wait_counts_from_zero_and_unknown_waits_are_left_out():
    _, _, evidence = load_run(CATALOG / "close-graceful")
    changed = copy.deepcopy(evidence)
    for role, events in changed.events.items():
        for index, event in enumerate(events):
            event["rq_us"] = -1 if role == "client" else (0 if index == 0 else 70_000)
    result = programs_got_the_cpu(changed, RunParameters())
    assert result is not None and not result.passed
    assert result.observed == "server waited 70.0 ms"   # the client's -1: not known
