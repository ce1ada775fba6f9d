"""What a run costs in CPU time: /proc/stat read as the machine's busy seconds, and the
differences the run records per phase (cpu_s)."""

from __future__ import annotations

import os

from kit.run.cpu import CpuSample, machine_busy_seconds
from kit.run.timings import Timings

# The first line of this project's machine's /proc/stat, 2026-11-27 (user nice system idle
# iowait irq softirq steal guest guest_nice, in ticks)
STAT = "cpu  185144 0 97204 428790 4446 0 1103 68 0 0\n"


def test_busy_is_everything_but_idle_and_io_wait(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text(STAT)
    ticks = 185144 + 0 + 97204 + 0 + 1103 + 68
    assert machine_busy_seconds(stat) == ticks / os.sysconf("SC_CLK_TCK")
    assert machine_busy_seconds(tmp_path / "missing") is None


def test_a_sample_s_difference_by_who_spent_it():
    before = CpuSample(kit=1.0, children=0.5, machine=100.0)
    after = CpuSample(kit=1.25, children=1.7504, machine=103.5)
    assert after.since(before) == {"kit": 0.25, "children": 1.25, "machine": 3.5}
    assert CpuSample(1.0, 0.5, None).since(before) == {"kit": 0.0, "children": 0.0}


def test_each_measured_phase_counts_its_cpu_and_keeps_its_wall_time_apart():
    timings = Timings()
    with timings.measure("scenario"):
        sum(i * i for i in range(200_000))   # some CPU in this process
    assert timings.cpu["scenario"]["kit"] > 0
    assert set(timings.cpu["scenario"]) == {"kit", "children", "machine"}
    assert "cpu" not in timings.to_json() and timings.to_json()["scenario"] > 0
