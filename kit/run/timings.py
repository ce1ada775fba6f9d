"""Where a run's time went, phase by phase (run.json's timings_s; the benchmark's)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass


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

    @contextmanager
    def measure(self, phase: str) -> Iterator[None]:
        """Time the block as ``phase`` (also when it fails: a failed phase took time too)."""
        started = time.monotonic()
        try:
            yield
        finally:
            setattr(self, phase, time.monotonic() - started)

    def to_json(self) -> dict[str, float]:
        return {name: round(value, 3) for name, value in asdict(self).items()}
