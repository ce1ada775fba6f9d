"""The CPU benchmark's reading of /proc: a process's own and its reaped children's
CPU-seconds, and processes found by name (lines recorded on this project's machine)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kit.bench.cpu import by_observer, pids_named, process_seconds

# A real run's record: the benchmark reads run.json through the typed record.
RECORDED = json.loads((Path(__file__).parents[1] / "data" / "catalog" / "close-graceful"
                       / "run.json").read_text())

# /proc/1/stat and /proc/1432/stat of this project's machine, 2026-11-27 (shortened after
# the fields the benchmark reads)
INIT = "1 (process_api) S 0 0 0 0 -1 4194560 35966 73657700 0 116812 210 1280 94280 54723 10 -10 14 0"
DOCKERD = ("1432 (dockerd) S 1 1431 1431 0 -1 4194560 280361 28701091 32 455 10329 11145 "
           "13052 7669 20 0 47 0")


def fake_proc(tmp_path, processes: dict[int, tuple[str, str]]):
    for pid, (comm, stat) in processes.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
        (tmp_path / str(pid) / "stat").write_text(stat + "\n")
    (tmp_path / "self").mkdir()
    return tmp_path


def test_own_and_reaped_seconds(tmp_path):
    proc = fake_proc(tmp_path, {1: ("process_api", INIT), 1432: ("dockerd", DOCKERD)})
    tick = os.sysconf("SC_CLK_TCK")
    assert process_seconds(1, proc) == ((210 + 1280) / tick, (94280 + 54723) / tick)
    assert process_seconds(1432, proc) == ((10329 + 11145) / tick, (13052 + 7669) / tick)


def test_a_name_with_spaces_and_parentheses_is_read_past(tmp_path):
    odd = DOCKERD.replace("(dockerd)", "(a (b) c)")
    proc = fake_proc(tmp_path, {7: ("a (b) c", odd)})
    assert process_seconds(7, proc)[0] == (10329 + 11145) / os.sysconf("SC_CLK_TCK")


def test_processes_are_found_by_their_name(tmp_path):
    proc = fake_proc(tmp_path, {1: ("process_api", INIT), 1432: ("dockerd", DOCKERD),
                                1433: ("containerd", DOCKERD)})
    assert pids_named("dockerd", proc) == [1432]
    assert pids_named("runc", proc) == []


def test_each_observer_is_the_median_of_the_runs_per_host(tmp_path):
    spent = [{"client": {"netkit-ss": 0.04, "tcpdump": 0.007}, "server": {"netkit-ss": 0.05}},
             {"client": {"netkit-ss": 0.02, "tcpdump": 0.005}, "server": {"netkit-ss": 0.03}},
             {"client": {"netkit-ss": 0.03, "tcpdump": 0.006}, "server": {"netkit-ss": 0.04}}]
    for index, observers in enumerate(spent):
        (tmp_path / f"run{index}").mkdir()
        (tmp_path / f"run{index}" / "run.json").write_text(
            json.dumps({**RECORDED, "observers_cpu_s": observers}))
    assert by_observer(tmp_path) == {("client", "netkit-ss"): 0.03,
                                     ("client", "tcpdump"): 0.006,
                                     ("server", "netkit-ss"): 0.04}
