"""How far a machine's clock is from the controller's.

Two machines have two clocks, and the run's timeline puts both hosts' events on one
axis. Each measurement asks the machine for its CLOCK_REALTIME (netkit-probe clock, over
one SSH channel kept open) between two readings of the controller's; the reply was made
somewhere in that round trip, so the offset is known to within half of it. Of several,
the tightest is kept.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

SAMPLES = 7


@dataclass(frozen=True)
class ClockOffset:
    offset_s: float         # the machine's clock minus the controller's
    uncertainty_s: float    # half the tightest round trip

    def to_json(self) -> dict:
        return {k: round(v, 6) for k, v in asdict(self).items()}


def tightest(readings: list[tuple[float, float, float]]) -> ClockOffset:
    """(controller before, machine, controller after) readings -> the best estimate."""
    before, remote, after = min(readings, key=lambda r: r[2] - r[0])
    return ClockOffset(remote - (before + after) / 2, (after - before) / 2)


def measure(ask: Callable[[], str], samples: int = SAMPLES,
            clock: Callable[[], float] = time.time) -> ClockOffset:
    """``ask``: one reading from the machine (a line of 'netkit-probe clock' over a
    channel kept open, so a reading costs one round trip and nothing more)."""
    readings = []
    for _ in range(samples):
        before = clock()
        answer = ask()
        after = clock()
        readings.append((before, float(json.loads(answer)["rt"]), after))
    return tightest(readings)


def combined(before: ClockOffset, after: ClockOffset | None) -> ClockOffset:
    """The offset over the run: the mean of the two ends, its uncertainty widened by how
    far the clock drifted between them."""
    if after is None:
        return before
    drift = abs(after.offset_s - before.offset_s) / 2
    return ClockOffset((before.offset_s + after.offset_s) / 2,
                       max(before.uncertainty_s, after.uncertainty_s) + drift)
