"""What a run costs in CPU time, phase by phase: the kit's own process (all its threads),
the children it waited for (Compose, command-line tools), and the whole machine the kit
runs on, busy, from /proc/stat (the Docker host, for the local testbed)."""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass
from pathlib import Path

PROC_STAT = Path("/proc/stat")


def machine_busy_seconds(stat: Path = PROC_STAT) -> float | None:
    """CPU-seconds every CPU has spent busy since boot (not idle, not waiting on I/O);
    None where /proc/stat cannot be read."""
    try:
        first = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    ticks = [int(value) for value in first[1:9]]   # user nice system idle iowait irq softirq steal
    busy = sum(ticks) - ticks[3] - ticks[4]
    return busy / os.sysconf("SC_CLK_TCK")


def _seconds(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class CpuSample:
    kit: float
    children: float
    machine: float | None

    @classmethod
    def now(cls) -> CpuSample:
        return cls(_seconds(resource.getrusage(resource.RUSAGE_SELF)),
                   _seconds(resource.getrusage(resource.RUSAGE_CHILDREN)),
                   machine_busy_seconds())

    def since(self, earlier: CpuSample) -> dict[str, float]:
        """CPU-seconds from ``earlier`` to this sample, rounded to the millisecond."""
        spent = {"kit": self.kit - earlier.kit, "children": self.children - earlier.children}
        if self.machine is not None and earlier.machine is not None:
            spent["machine"] = self.machine - earlier.machine
        return {name: round(value, 3) for name, value in spent.items()}
