"""Benchmark: cold set-up, a warm run split into scripted time and overhead, and a bare
Compose cycle of the same file, all measured in one go on this machine.

    invoke bench [--runs N] [--no-cold]

The cold set-up is measured on images of its own (tags netkit/*:bench-*, removed at the
end), so the images in use are left alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kit.compose import compose_cli
from kit.dockerhost import client, versions
from kit.errors import KitError
from kit.image import (CONTAINERS_DIR, build_base_image, build_lab_image, context_hash,
                       ensure_lab_image, own_base_image_name, required_packages)
from kit.lab import new_run_id, remove_by_label

ROOT = Path(__file__).resolve().parent.parent


def spread(values: list[float]) -> str:
    return (f"median {statistics.median(values):6.2f} s  (min {min(values):.2f}, "
            f"max {max(values):.2f}, n={len(values)})")


def cold_setup() -> dict[str, float] | str:
    if os.geteuid() != 0 or shutil.which("debootstrap") is None:
        return "skipped: needs root and debootstrap"
    tag = new_run_id()
    base = own_base_image_name(required_packages()).replace(":", ":bench-") + "-" + tag
    lab = f"netkit/lab:bench-{tag}"
    timings = {}
    try:
        started = time.monotonic()
        build_base_image(base, required_packages())
        timings["base image (debootstrap + import)"] = time.monotonic() - started
        started = time.monotonic()
        build_lab_image(lab, base, context_hash(CONTAINERS_DIR, client().images.get(base).id))
        timings["lab image (docker build)"] = time.monotonic() - started
    finally:
        for name in (lab, base):
            try:
                client().images.remove(name, force=True)
            except Exception:
                pass
    return timings


def warm_run(out: Path) -> tuple[float, dict]:
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "invoke", "run", "--scenario", "close",
                             "--variant", "graceful", "--out", str(out)], cwd=ROOT,
                            capture_output=True, text=True)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise KitError(f"the warm run failed: {result.stderr.strip().splitlines()[-1]}")
    newest = max(out.glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    return wall, json.loads(newest.read_text())


def bare_cycle(image: str) -> float:
    run_id = "bench-" + new_run_id()
    env = {"NETKIT_IMAGE": image, "NETKIT_RUN_ID": run_id}
    project = f"netkit-{run_id}"
    started = time.monotonic()
    try:
        compose_cli().run(project, "up", "-d", "--no-build", env=env)
        compose_cli().run(project, "down", "--volumes", "--remove-orphans", "--timeout", "1",
                          env=env)
    finally:
        remove_by_label(run_id)
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="invoke bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-cold", action="store_true")
    options = parser.parse_args(argv)
    facts = versions()
    cli = compose_cli()
    print(f"machine: {os.cpu_count()} cores, kernel {platform.release()}, Docker "
          f"{facts['docker_engine']}, {' '.join(cli.command)} {cli.version}, "
          f"Python {platform.python_version()}")
    if not options.no_cold:
        cold = cold_setup()
        print("\ncold set-up")
        if isinstance(cold, str):
            print(f"  {cold}")
        else:
            for name, seconds in cold.items():
                print(f"  {name:36s} {seconds:6.1f} s")
            print(f"  {'total':36s} {sum(cold.values()):6.1f} s")
    image = ensure_lab_image()
    walls, scripted, overheads, bare = [], [], [], []
    with tempfile.TemporaryDirectory(prefix="netkit-bench-") as out:
        warm_run(Path(out))  # once unmeasured: caches, page cache, the image check
        for _ in range(options.runs):
            wall, record = warm_run(Path(out))
            walls.append(wall)
            scripted.append(record["timings_s"]["scenario"])
            overheads.append(wall - record["timings_s"]["scenario"])
            bare.append(bare_cycle(image.name))
        phases = {name: statistics.median(json.loads(p.read_text())["timings_s"][name]
                                          for p in Path(out).glob("*/run.json"))
                  for name in ("lab_up", "collect", "lab_down")}
    print("\nwarm 'invoke run --scenario close --variant graceful' (server delay 1 s)")
    print(f"  whole command                {spread(walls)}")
    print(f"  scenario (scripted, played)  {spread(scripted)}")
    print(f"  kit overhead (the rest)      {spread(overheads)}")
    print("     of which: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items())
          + " (medians); the rest is Python start-up, checks and writing results")
    print(f"bare compose up -d + down      {spread(bare)}")
    ratio = statistics.median(overheads) / statistics.median(bare)
    print(f"\noverhead / bare cycle: {ratio:.2f} (target at most 1.5)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KitError as error:
        sys.exit(f"error: {error}")
