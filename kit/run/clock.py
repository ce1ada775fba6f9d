"""The run's clock: the system's, or a test's (a replayed run keeps its recorded times
and does not sleep through its script)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float: ...        # wall clock: the run's t0
    def monotonic(self) -> float: ...   # durations and deadlines
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)
