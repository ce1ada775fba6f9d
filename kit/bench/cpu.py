"""invoke bench --cpu: what one warm run costs the machine in CPU-seconds, by process
and by phase. The kit's own process and its children (Compose) come from the run's
cpu_s; the Docker daemons from their /proc/<pid>/stat; what pid 1 reaps (the containers'
processes, their shims and runc, which all end with the lab) from its children's time;
each observer in the containers from the run's observers_cpu_s; the whole machine from
/proc/stat."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from kit.core.errors import KitError
from kit.core.paths import PROJECT_ROOT
from kit.core.record import RunRecord
from kit.run.cpu import machine_busy_seconds

DAEMONS = ("dockerd", "containerd")
PHASES = ("lab_up", "shaping", "scenario", "collect", "lab_down", "total")


def process_seconds(pid: int, proc: Path = Path("/proc")) -> tuple[float, float]:
    """(its own CPU-seconds, those of its children it reaped) for ``pid``."""
    text = (proc / str(pid) / "stat").read_text()
    fields = text[text.rindex(")") + 2:].split()   # after "pid (comm) "
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    tick = os.sysconf("SC_CLK_TCK")
    return (utime + stime) / tick, (cutime + cstime) / tick


def pids_named(name: str, proc: Path = Path("/proc")) -> list[int]:
    found = []
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == name:
                    found.append(int(entry.name))
            except OSError:
                continue   # gone meanwhile
    return found


def snapshot() -> dict[str, float]:
    values = {name: sum(process_seconds(pid)[0] for pid in pids_named(name))
              for name in DAEMONS}
    values["reaped by pid 1"] = process_seconds(1)[1]
    values["machine"] = machine_busy_seconds() or 0.0
    return values


def one_run(out: Path) -> dict[str, float]:
    """CPU-seconds of one warm graceful run, by who spent them."""
    before = snapshot()
    result = subprocess.run([sys.executable, "-m", "invoke", "run", "--scenario", "close",
                             "--variant", "graceful", "--out", str(out)], cwd=PROJECT_ROOT,
                            capture_output=True, text=True)
    after = snapshot()
    if result.returncode != 0:
        raise KitError(f"the warm run failed: {result.stderr.strip().splitlines()[-1]}")
    newest = max(out.glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    total = RunRecord.load(newest.parent).cpu_s["total"]
    spent = {name: after[name] - before[name] for name in after}
    spent["the kit (its Python process)"] = total["kit"]
    spent["its children (docker-compose)"] = total["children"]
    return spent


STUDY = """\
name: cpu
description: warm runs in a pool of labs, for the CPU benchmark
runs:
  - scenario: close
    variants: [graceful]
repetitions: {runs}
measures: [close_to_peer_end]
"""


def study(out: Path, runs: int) -> dict[str, float]:
    """CPU-seconds a run of a study costs, its lab pool and cell processes included:
    the whole study's, divided by its runs."""
    path = out / "cpu.yaml"
    path.write_text(STUDY.format(runs=runs))
    before = snapshot()
    result = subprocess.run([sys.executable, "-m", "invoke", "experiment", str(path), "--out",
                             str(out / "study")], cwd=PROJECT_ROOT, capture_output=True,
                            text=True)
    after = snapshot()
    if result.returncode != 0:
        raise KitError(f"the study failed: {result.stderr.strip().splitlines()[-1]}")
    return {name: (after[name] - before[name]) / runs for name in after}


def by_phase(out: Path) -> dict[str, dict[str, float]]:
    records = [RunRecord.load(p.parent).cpu_s for p in out.glob("*/run.json")]
    return {phase: {who: statistics.median(r[phase][who] for r in records if phase in r)
                    for who in ("kit", "children", "machine")}
            for phase in PHASES if all(phase in r for r in records)}


def by_observer(out: Path) -> dict[tuple[str, str], float]:
    """Median CPU-seconds of each observer over a run, by (host, observer)."""
    records = [RunRecord.load(p.parent).observers_cpu_s or {}
               for p in out.glob("*/run.json")]
    keys = sorted({(host, name) for r in records for host, spent in r.items() for name in spent})
    return {(host, name): statistics.median(r.get(host, {}).get(name, 0.0) for r in records)
            for host, name in keys}


def main(runs: int) -> int:
    with tempfile.TemporaryDirectory(prefix="netkit-bench-") as directory:
        out = Path(directory)
        one_run(out)   # once unmeasured: caches, the image check
        samples = [one_run(out) for _ in range(runs)]
        print_single_run(runs, samples, by_phase(out), by_observer(out))
    with tempfile.TemporaryDirectory(prefix="netkit-bench-") as directory:
        pooled = study(Path(directory), 4 * runs)
    print(f"\nCPU-seconds a run of a study costs ({4 * runs} graceful runs one at a time in a "
          "pooled lab, the pool and the cells' processes included)")
    for name in (*DAEMONS, "reaped by pid 1"):
        print(f"  {name:44s} {pooled[name]:6.2f}")
    print(f"  {'the whole machine (/proc/stat)':44s} {pooled['machine']:6.2f}  "
          "(target: at most 1.2)")
    return 0


def print_single_run(runs: int, samples: list[dict[str, float]],
                     phases: dict[str, dict[str, float]],
                     observers: dict[tuple[str, str], float]) -> None:
    medians = {name: statistics.median(s[name] for s in samples) for name in samples[0]}
    known = sum(value for name, value in medians.items() if name != "machine")
    print(f"\nCPU-seconds of a warm 'invoke run --scenario close --variant graceful' "
          f"(median of {runs})")
    for name in ("the kit (its Python process)", "its children (docker-compose)", *DAEMONS,
                 "reaped by pid 1"):
        print(f"  {name:44s} {medians[name]:6.2f}")
    print(f"  {'the rest of the machine':44s} {medians['machine'] - known:6.2f}")
    print(f"  {'the whole machine (/proc/stat)':44s} {medians['machine']:6.2f}  "
          "(target: at most 1.2)")
    print("  by phase (the whole machine / the kit / its children):")
    for phase, spent in phases.items():
        print(f"    {phase:10s} {spent['machine']:5.2f} / {spent['kit']:5.2f} / "
              f"{spent['children']:5.2f}")
    print("  each observer, in the containers (netkit-observe reads their schedstat):")
    for (host, name), seconds in observers.items():
        print(f"    {host + ' ' + name:42s} {seconds:6.3f}")
