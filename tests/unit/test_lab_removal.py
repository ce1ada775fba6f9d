"""Removing a lab whose start was cut short: what a killed Compose had asked the engine
for may appear after the first removal, and is removed too (a stand-in engine)."""

from __future__ import annotations

import time

from kit.testbeds.docker import lab as labs


class StandInEngine:
    """Resources of one run that appear at given moments after the first removal."""

    def __init__(self, appear_after: list[float]):
        self.started = time.monotonic()
        self.pending = sorted(appear_after)
        self.present = 0
        self.removals = 0

    def _arrive(self) -> None:
        now = time.monotonic() - self.started
        while self.pending and self.pending[0] <= now:
            self.pending.pop(0)
            self.present += 1

    def leftovers(self, run_id: str) -> bool:
        self._arrive()
        return self.present > 0

    def remove(self, run_id: str | None = None) -> tuple[int, int]:
        self._arrive()
        self.removals += 1
        removed, self.present = self.present, 0
        return removed, 0


def stand_in(monkeypatch, appear_after: list[float]) -> StandInEngine:
    engine = StandInEngine(appear_after)
    monkeypatch.setattr(labs, "_leftovers", engine.leftovers)
    monkeypatch.setattr(labs, "remove_by_label", engine.remove)
    return engine


def test_what_appears_late_is_removed_until_none_comes(monkeypatch):
    engine = stand_in(monkeypatch, [0.15, 0.5])
    labs.remove_latecomers("run-1", quiet_for=0.4, at_most=5)
    assert engine.removals == 2 and engine.present == 0 and not engine.pending
    # Quiet for 0.4 s after the last removal (at about 0.5 s), not longer.
    assert 0.9 <= time.monotonic() - engine.started < 1.6


def test_nothing_late_costs_one_quiet_period(monkeypatch):
    engine = stand_in(monkeypatch, [])
    started = time.monotonic()
    labs.remove_latecomers("run-1", quiet_for=0.3, at_most=5)
    assert engine.removals == 0
    assert 0.3 <= time.monotonic() - started < 0.8


def test_an_engine_that_keeps_creating_is_left_after_the_limit(monkeypatch):
    engine = stand_in(monkeypatch, [0.1 * k for k in range(1, 100)])
    started = time.monotonic()
    labs.remove_latecomers("run-1", quiet_for=0.5, at_most=1.0)
    assert time.monotonic() - started < 1.5      # the caller then reports what stayed
    assert engine.removals >= 3


def test_a_lab_cut_short_waits_for_latecomers_and_a_whole_one_does_not(monkeypatch):
    waited: list[str] = []
    monkeypatch.setattr(labs, "remove_by_label", lambda run_id: (0, 0))
    monkeypatch.setattr(labs, "_leftovers", lambda run_id: False)
    monkeypatch.setattr(labs, "remove_latecomers", lambda run_id: waited.append(run_id))
    lab = labs.ComposeLab("run-2", "netkit/lab:test")
    lab.down()
    assert waited == []
    lab.down(cut_short=True)
    assert waited == ["run-2"]
