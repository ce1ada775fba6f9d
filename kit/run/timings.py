"""Where a run's time went, phase by phase: wall time (run.json's timings_s) and CPU time
(its cpu_s); the benchmark reads both."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields

from kit.run.cpu import CpuSample


@dataclass
class Timings:
    lab_up: float = 0.0
    tracer_start: float = 0.0     # alongside lab_up
    shaping: float = 0.0          # applying the impairment and measuring the round trip
    scenario: float = 0.0
    script: float = 0.0           # within scenario: first scripted step to both exits
    capture_start: float = 0.0    # within scenario: observers and the server starting
    observers_stop: float = 0.0   # within scenario: counters, captures, samplers
    tracer_stop: float = 0.0      # within collect
    collect: float = 0.0
    lab_down: float = 0.0
    total: float = 0.0
    # CPU-seconds per phase: the kit, its children, the machine (kit.run.cpu)
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)

    @contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        """Time the block as ``phase`` (also when it fails: a failed phase took time too)."""
        started, cpu = time.monotonic(), CpuSample.now()
        try:
            yield
        finally:
            setattr(self, phase, time.monotonic() - started)
            self.cpu[phase] = CpuSample.now().since(cpu)

    def count_cpu(self, phase: str, since: CpuSample) -> None:
        """The CPU time of a phase timed by other means (the run's own clock)."""
        self.cpu[phase] = CpuSample.now().since(since)

    def to_json(self) -> dict[str, float]:
        return {item.name: round(getattr(self, item.name), 3) for item in fields(self)
                if item.name != "cpu"}
