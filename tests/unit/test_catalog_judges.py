"""Every scenario's judge, fed the evidence of runs recorded from a real lab
(tests/data/catalog: 'invoke run --scenario all', its run directories without reports and
raw copies). A judge must reach the recorded verdict on its own run, and must fail on
evidence that shows another outcome: a sibling variant's run, or its own run with one
fact taken away."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest

from kit.run.evidence_files import load_run
from kit.scenarios import CATALOG
from kit.scenarios.checks import run_checks

CATALOG_DATA = Path(__file__).resolve().parent.parent / "data" / "catalog"
RUNS = sorted(p.name for p in CATALOG_DATA.iterdir())


def judge(name: str, variant: str | None = None, evidence=None):
    record, params, recorded = load_run(CATALOG_DATA / name)
    scenario = CATALOG[record.scenario]
    variant = variant or record.variant
    if record.scenario == "sigpipe":
        params = dataclasses.replace(params, sigpipe=variant)
    return run_checks(scenario, variant, params,
                      evidence if evidence is not None else recorded)


def test_the_recorded_catalog_covers_every_variant():
    assert sorted(f"{s.name}-{v}" for s in CATALOG.values() for v in s.variants) == RUNS


@pytest.mark.parametrize("name", RUNS)
def test_each_judge_reaches_the_recorded_checks_on_its_own_run(name):
    record, _, _ = load_run(CATALOG_DATA / name)
    assert record.verdict == "pass"
    # The link's own checks (a scenario that shapes its link) are the session's, not the
    # scenario's: see test_replayed_run and the impairment tests.
    scenario_checks = [c.to_json() for c in record.checks if not c.name.startswith("link-")]
    assert [c.to_json() for c in judge(name)] == scenario_checks


def sibling_pairs() -> list[tuple[str, str]]:
    pairs = []
    for scenario in CATALOG.values():
        for mine in scenario.variants:
            pairs += [(f"{scenario.name}-{other}", mine) for other in scenario.variants
                      if other != mine]
    return pairs


@pytest.mark.parametrize("name, variant", sibling_pairs())
def test_a_judge_fails_the_evidence_of_another_variant(name, variant):
    """Each variant's run, judged as if it were a sibling variant: some check must fail."""
    record, _, evidence = load_run(CATALOG_DATA / name)
    scenario = record.scenario
    failed = [c.name for c in judge(f"{scenario}-{variant}", variant, evidence)
              if not c.passed]
    assert failed, f"{name}'s evidence passes every check of {scenario}/{variant}"


def without(evidence, **changes):
    changed = copy.deepcopy(evidence)
    for name, value in changes.items():
        setattr(changed, name, value)
    return changed


@pytest.mark.parametrize("name", RUNS)
def test_a_run_without_its_packets_or_its_events_fails(name):
    _, _, evidence = load_run(CATALOG_DATA / name)
    for missing in ({"packets": []}, {"events": {"client": [], "server": []}},
                    {"capture_counts": {}}):
        assert not all(c.passed for c in judge(name, evidence=without(evidence, **missing))), \
            f"{name} passes with {missing} taken away"


def test_the_abrupt_kernel_path_is_not_the_graceful_one():
    """The graceful server goes CLOSE-WAIT -> LAST-ACK -> CLOSE; the abrupt one's path
    (CLOSE-WAIT -> CLOSE) must not be found in it as a subsequence."""
    _, _, graceful = load_run(CATALOG_DATA / "close-graceful")
    verdicts = {c.name: c.passed for c in judge("close-abrupt", "abrupt", graceful)}
    assert verdicts["server-kernel-transitions"] is False


def test_the_kernel_rst_check_needs_the_kernel_and_the_counter():
    _, _, abrupt = load_run(CATALOG_DATA / "close-abrupt")

    def rst_check(evidence):
        return next(c for c in judge("close-abrupt", evidence=evidence)
                    if c.name == "client-kernel-sent-rst")

    assert rst_check(abrupt).passed
    no_reset_traced = without(abrupt, kernel=[r for r in abrupt.kernel
                                              if r["event"] != "tcp_send_reset"])
    assert not rst_check(no_reset_traced).passed
    assert "no tcp_send_reset traced" in rst_check(no_reset_traced).observed
    counters = copy.deepcopy(abrupt.counters)
    counters["client"].pop("TcpOutRsts", None)
    assert not rst_check(without(abrupt, counters=counters)).passed
    untraced = rst_check(without(abrupt, kernel=None))
    assert untraced.passed and "the capture and the counter decided" in untraced.observed


def test_an_exit_that_lingered_or_left_no_trace_fails():
    """linger-timeout/exit, one fact changed at a time: the check needs the child's exit,
    its reaping within the limit, the FIN and its late ACK, and no RST."""
    _, _, evidence = load_run(CATALOG_DATA / "linger-timeout-exit")

    def verdict(change) -> bool:
        changed = copy.deepcopy(evidence)
        change(changed)
        (check,) = [c for c in judge("linger-timeout-exit", evidence=changed)
                    if c.name == "exit-does-not-linger"]
        return check.passed

    def events(ev):
        return ev.events["client"]

    def reaped(ev):
        return next(e for e in events(ev) if e["event"] == "reaped")

    def child_exit(ev):
        return next(e for e in events(ev) if e["event"] == "exit" and e["prog"] == "client-child")

    assert verdict(lambda ev: None)
    assert not verdict(lambda ev: events(ev).remove(reaped(ev)))
    assert not verdict(lambda ev: reaped(ev).update(ret=-1))
    assert not verdict(lambda ev: events(ev).remove(child_exit(ev)))
    # The parent's own exit is not the child's.
    assert not verdict(lambda ev: child_exit(ev).update(prog="client"))
    assert not verdict(lambda ev: reaped(ev).update(t=child_exit(ev)["t"] + 0.31))
    assert verdict(lambda ev: reaped(ev).update(t=child_exit(ev)["t"] + 0.29))
    assert not verdict(lambda ev: ev.packets.append({**ev.packets[-1], "from": "client",
                                                     "flags": ["RST"]}))
    assert not verdict(lambda ev: setattr(ev, "packets", [s for s in ev.packets
                                                          if "FIN" not in s["flags"]]))
