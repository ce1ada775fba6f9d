"""invoke bench --pytest: a user's pytest session of 20 graceful runs through the netkit
fixture, its labs shared (the default) against a new lab each (--netkit-fresh-labs):
wall time and the whole machine's CPU-seconds (/proc/stat); and a pooled run's own
overhead, everything but its scripted part, against its target."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kit.core.errors import KitError
from kit.core.record import RunRecord
from kit.run.cpu import machine_busy_seconds

RUNS = 20
POOLED_OVERHEAD_TARGET = 0.4   # seconds a pooled run spends beyond its scripted part
PHASES = ("lab_up", "tracer_start", "capture_start", "observers_stop", "collect")

SESSION = f"""
import pytest


@pytest.mark.parametrize("n", range({RUNS}))
def test_graceful(netkit, n):
    assert netkit.run(scenario="close", variant="graceful").verdict == "pass"
"""


def session(directory: Path, *options: str) -> tuple[float, float, list[RunRecord]]:
    """(wall seconds, machine CPU-seconds, the runs' records) of one pytest session."""
    (directory / "test_bench.py").write_text(SESSION)
    busy, started = machine_busy_seconds() or 0.0, time.monotonic()
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                             "test_bench.py", "--netkit-out", "runs", *options],
                            cwd=directory, capture_output=True, text=True)
    wall, cpu = time.monotonic() - started, (machine_busy_seconds() or 0.0) - busy
    if result.returncode != 0:
        raise KitError("the benchmark's pytest session failed: "
                       + (result.stdout.strip().splitlines() or ["no output"])[-1])
    records = [RunRecord.load(p.parent) for p in directory.glob("runs/*/*/run.json")]
    return wall, cpu, records


def own_overhead(record: RunRecord) -> float:
    """What a run spends beyond its scripted part: its total less the script."""
    timings = record.timings_s
    return timings["total"] - timings["script"]


def main() -> int:
    print(f"\na pytest session of {RUNS} graceful runs (the netkit fixture)")
    print("| labs | wall time | machine CPU-s | per run | a run's own overhead (median) |")
    print("|---|---|---|---|---|")
    figures = {}
    phases: dict[str, float] = {}
    for name, options in (("shared (default)", ()), ("fresh", ("--netkit-fresh-labs",))):
        with tempfile.TemporaryDirectory(prefix="netkit-bench-") as scratch:
            wall, cpu, records = session(Path(scratch), *options)
        overhead = statistics.median(own_overhead(r) for r in records)
        figures[name] = (wall, cpu, overhead)
        print(f"| {name} | {wall:.1f} s | {cpu:.1f} | {wall / RUNS:.2f} s, {cpu / RUNS:.2f} "
              f"CPU-s | {overhead:.2f} s |")
        if name.startswith("shared"):
            phases = {phase: statistics.median(r.timings_s.get(phase, 0.0) for r in records)
                      for phase in PHASES}
    pooled = figures["shared (default)"][2]
    print(f"\na pooled run's own overhead: {pooled:.2f} s (target at most "
          f"{POOLED_OVERHEAD_TARGET} s)")
    print("  of which (medians): " + ", ".join(f"{k} {v:.3f} s" for k, v in phases.items())
          + "; the rest: the programs' start, judging, the record")
    return 0
