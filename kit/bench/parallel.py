"""How experiments scale with parallel labs.

    invoke bench --parallel [--runs N]

Runs one 40-run matrix (close, both variants, 0 and 50 ms latency, ten repetitions) at
--parallel 1, 2, 4 and 8, each from scratch, and prints the wall time, the speed-up,
the memory each lab takes (its two containers, as the engine counts them) and how busy
the CPUs were: the scenarios mostly wait, so the labs overlap well until the machine's
cores are busy starting and stopping containers.
"""

from __future__ import annotations

import csv
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import docker.errors
import requests.exceptions

from kit.core.errors import KitError
from kit.core.paths import PROJECT_ROOT
from kit.core.roles import ROLES
from kit.testbeds.docker import labels
from kit.testbeds.docker.engine import client

ROOT = PROJECT_ROOT
MATRIX = """\
name: scaling
description: 40 runs for the parallel benchmark
runs:
  - scenario: close
matrix:
  latency: [0ms, 50ms]
repetitions: 10
measures: [close_to_peer_end]
"""


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def host_memory_used() -> float:
    """Bytes in use on the machine (MemTotal less MemAvailable): what the containers
    cost the engine too (shims, network namespaces, page cache of their files)."""
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    return (int(info["MemTotal"].split()[0]) - int(info["MemAvailable"].split()[0])) * 1024


class Sampler(threading.Thread):
    """Every two seconds: memory of the kit's running containers, per lab; CPU use."""

    def __init__(self):
        super().__init__(daemon=True)
        self.per_lab: list[float] = []
        self.host_per_lab: list[float] = []
        self.labs: list[int] = []
        self.stop = threading.Event()
        self.baseline = host_memory_used()

    def run(self) -> None:
        api = client().api
        while not self.stop.is_set():
            # The low-level list: the high-level one inspects each container, and a lab
            # removed meanwhile would make it fail.
            containers = api.containers(filters=labels.managed_filter())
            lab_hosts = [c for c in containers
                         if c["Labels"].get(labels.ROLE) in ROLES]
            runs = {c["Labels"].get(labels.RUN_ID) for c in lab_hosts}
            used = 0.0
            for container in lab_hosts:
                try:
                    memory = api.stats(container["Id"], stream=False, one_shot=True).get(
                        "memory_stats", {})
                except (docker.errors.APIError, requests.exceptions.RequestException, ValueError):
                    continue   # removed between the list and now (an empty answer)
                # As 'docker stats' shows it: usage less the inactive page cache.
                used += memory.get("usage", 0) - memory.get("stats", {}).get("inactive_file", 0)
            if runs:
                self.labs.append(len(runs))
                self.per_lab.append(used / len(runs) / 2**20)
                self.host_per_lab.append((host_memory_used() - self.baseline) / len(runs) / 2**20)
            self.stop.wait(2.0)


def one(parallel: int, directory: Path) -> dict:
    path = directory / "scaling.yaml"
    path.write_text(MATRIX)
    sampler = Sampler()
    sampler.start()
    busy0, total0 = cpu_times()
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "invoke", "experiment", str(path),
                             "--parallel", str(parallel), "--out", str(directory / f"p{parallel}")],
                            cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    busy1, total1 = cpu_times()
    sampler.stop.set()
    sampler.join()
    if result.returncode not in (0, 1):
        raise KitError(f"the experiment at --parallel {parallel} failed: "
                       f"{result.stderr.strip().splitlines()[-1]}")
    with (directory / f"p{parallel}" / "experiments" / "scaling" / "summary.csv").open() as file:
        table = list(csv.DictReader(file))
    passed = sum(row["verdict"] == "pass" for row in table)
    study = directory / f"p{parallel}" / "experiments" / "scaling"
    retried = len(list((study / "inconclusive").glob("*"))) if (study / "inconclusive").is_dir() \
        else 0
    failed = Counter(name for row in table for name in row.get("failed_checks", "").split())
    return {"parallel": parallel, "wall": wall, "passed": passed, "failed": failed,
            "retried": retried,
            "cpu": (busy1 - busy0) / (total1 - total0),
            "memory_per_lab_mib": statistics.median(sampler.per_lab) if sampler.per_lab else 0,
            "host_memory_per_lab_mib": (statistics.median(sampler.host_per_lab)
                                        if sampler.host_per_lab else 0),
            "labs_seen": max(sampler.labs) if sampler.labs else 0}


def main(levels=(1, 2, 4, 8)) -> int:
    levels = tuple(int(level) for level in os.environ.get("NETKIT_BENCH_LEVELS", "").split(",")
                   if level) or levels
    print(f"40-run matrix (close x 2 variants x latency 0/50 ms x 10), {os.cpu_count()} cores")
    results = []
    with tempfile.TemporaryDirectory(prefix="netkit-bench-") as directory:
        for parallel in levels:
            print(f"  --parallel {parallel} ...", file=sys.stderr)
            results.append(one(parallel, Path(directory)))
    base = results[0]["wall"]
    print("| --parallel | wall time | speed-up | runs passed | inconclusive at first, run "
          "again | CPU busy | containers' memory per lab | machine's memory per lab | "
          "labs at once (max) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['parallel']} | {r['wall']:.0f} s | {base / r['wall']:.2f} | "
              f"{r['passed']}/40 | {r['retried']} | {100 * r['cpu']:.0f}% | "
              f"{r['memory_per_lab_mib']:.1f} MiB | "
              f"{r['host_memory_per_lab_mib']:.0f} MiB | {r['labs_seen']} |")
    for r in results:
        if r["failed"]:
            print(f"- at --parallel {r['parallel']}, failed checks: "
                  + ", ".join(f"{name} x{count}" for name, count in r["failed"].most_common()))
    return 0
