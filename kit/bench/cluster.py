"""What a Dask cluster adds to a study, and how it scales on this machine.

    invoke bench --cluster

Runs the 40-run matrix of ``invoke bench --parallel`` with --cluster local:W and with
--parallel W, for W = 1, 2 and 4, each from scratch. The local workers share this
machine's cores (nothing limits a worker to some of them), so the figures say what Dask
costs per cell (the time the controller saw less the cell's own time on its worker) and
the bytes that come back, not how a cluster of many machines scales.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kit.bench.parallel import MATRIX, ROOT
from kit.core.errors import KitError

LEVELS = (1, 2, 4)


def one(option: str, workers: int, directory: Path) -> dict:
    path = directory / "scaling.yaml"
    path.write_text(MATRIX)
    out = directory / f"{option.strip('-')}{workers}"
    value = f"local:{workers}" if option == "--cluster" else str(workers)
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "invoke", "experiment", str(path), option,
                             value, "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    wall = time.monotonic() - started
    if result.returncode not in (0, 1):
        raise KitError(f"the experiment with {option} {value} failed: "
                       f"{result.stderr.strip().splitlines()[-1]}")
    study = out / "experiments" / "scaling"
    with (study / "summary.csv").open() as file:
        passed = sum(row["verdict"] == "pass" for row in csv.DictReader(file))
    lines = [json.loads(line) for line in (study / "logs" / "cluster.jsonl").read_text()
             .splitlines()] if (study / "logs" / "cluster.jsonl").exists() else []
    retried = len(list((study / "inconclusive").glob("*"))) \
        if (study / "inconclusive").is_dir() else 0
    return {"option": option, "workers": workers, "wall": wall, "passed": passed,
            "retried": retried,
            "added": statistics.median(x["seconds"] - x["cell_seconds"] for x in lines)
            if lines else None,
            "bytes": statistics.median(x["bytes"] for x in lines) if lines else None}


def main(levels=LEVELS) -> int:
    print(f"40-run matrix (close x 2 variants x latency 0/50 ms x 10), {os.cpu_count()} cores; "
          "local Dask workers share them")
    results = []
    with tempfile.TemporaryDirectory(prefix="netkit-bench-") as directory:
        for workers in levels:
            for option in ("--parallel", "--cluster"):
                print(f"  {option} {workers} ...", file=sys.stderr)
                results.append(one(option, workers, Path(directory)))
    base = results[0]["wall"]
    print("| labs at once | how | wall time | speed-up | runs passed | inconclusive, run again "
          "| added per cell (median) | bytes back per cell (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        how = f"local:{r['workers']}" if r["option"] == "--cluster" else "--parallel"
        added = f"{r['added']:.2f} s" if r["added"] is not None else "-"
        size = f"{r['bytes'] / 1024:.0f} KiB" if r["bytes"] is not None else "-"
        print(f"| {r['workers']} | {how} | {r['wall']:.0f} s | {base / r['wall']:.2f} | "
              f"{r['passed']}/40 | {r['retried']} | {added} | {size} |")
    return 0
