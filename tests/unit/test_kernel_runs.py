"""Real runs of the kit on Debian's own kernels (tests/data/kernel-runs: 'invoke run
--scenario all --kernel 5.10 --kernel 6.1 --kernel 6.12' under qemu, the variants whose
checks read the RSTs and the errors): each judge reaches the recorded checks on its own
run; what the kernel could not trace is said, and the capture and counters decide; with
the RST taken off the wire the abrupt close fails on every kernel."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kit.core.checks import verdict_of
from kit.run.evidence_files import load_run
from kit.scenarios import CATALOG
from kit.scenarios.checks import run_checks

DATA = Path(__file__).resolve().parent.parent / "data" / "kernel-runs"
KERNELS = sorted(p.name for p in DATA.iterdir())
RUNS = [(kernel, run.name) for kernel in KERNELS for run in sorted((DATA / kernel).iterdir())]
BEFORE_6_10 = ("5.10", "6.1")


def judged(kernel: str, name: str, evidence=None):
    record, params, recorded = load_run(DATA / kernel / name)
    return record, run_checks(CATALOG[record.scenario], record.variant, params,
                              recorded if evidence is None else evidence)


def test_every_supported_older_kernel_is_recorded():
    assert KERNELS == ["5.10", "6.1", "6.12"]


@pytest.mark.parametrize("kernel, name", RUNS)
def test_each_judge_reaches_the_recorded_checks_on_a_real_run_of_that_kernel(kernel, name):
    record, checks = judged(kernel, name)
    assert record.testbed == "kernel" and record.environment["kernel_vm"]["kernel"] == kernel
    assert all(release.startswith(kernel + ".") for release in record.kernels())
    assert record.verdict == "pass" and verdict_of(checks) == "pass"
    assert all(check.judged for check in record.checks)
    scenario_checks = [c.to_json() for c in record.checks if not c.name.startswith("link-")]
    assert [c.to_json() for c in checks] == scenario_checks


@pytest.mark.parametrize("kernel", KERNELS)
def test_the_abrupt_close_s_rst_is_traced_from_6_10_and_else_said_not_traced(kernel):
    record, checks = judged(kernel, "close-abrupt")
    sent = next(c for c in checks if c.name == "client-kernel-sent-rst")
    limits = " ".join(record.trace_limits())
    if kernel in BEFORE_6_10:
        assert "not traced" in sent.observed and "capture and the counter decided" in \
            sent.observed
        assert "19822a980e19" in limits
    else:
        assert "reason TCP_TIMEWAIT_SOCKET" in sent.observed and not limits
    assert ("inet_sk_error_report" in limits) == (kernel == "5.10")


@pytest.mark.parametrize("kernel", KERNELS)
def test_without_the_rst_on_the_wire_the_abrupt_close_fails_on_every_kernel(kernel):
    _, _, evidence = load_run(DATA / kernel / "close-abrupt")
    no_rst = dataclasses.replace(evidence, packets=[p for p in evidence.packets
                                                    if "RST" not in p["flags"]])
    _, checks = judged(kernel, "close-abrupt", no_rst)
    assert {c.name: c for c in checks}["client-kernel-sent-rst"].failed


@pytest.mark.parametrize("kernel", BEFORE_6_10)
def test_fin_timeout_s_variants_are_told_apart_by_ss_where_the_rst_is_not_traced(kernel):
    for variant, seen in (("expired", "ss saw no client socket"),
                          ("alive", "ss saw the client's socket in FIN-WAIT-2")):
        _, checks = judged(kernel, f"fin-timeout-{variant}")
        reset_from = next(c for c in checks if c.name == "reset-from")
        assert reset_from.passed and "ss saw" in reset_from.observed, reset_from
        assert seen in reset_from.observed, reset_from
