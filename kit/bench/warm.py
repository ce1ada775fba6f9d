"""Benchmark: cold set-up, a warm run split into scripted time and overhead, and a bare
Compose cycle of the same file, all measured in one go on this machine.

    invoke bench [--runs N] [--no-cold]

The cold set-up is measured on images of its own (tags netkit/*:bench-*, removed at the
end), so the images in use are left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kit.core.errors import KitError
from kit.core.paths import PROJECT_ROOT
from kit.core.record import RunRecord, new_run_id
from kit.core.roles import ROLES
from kit.testbeds.docker.compose import ComposeCli, compose_cli
from kit.testbeds.docker.engine import client
from kit.testbeds.docker.image import (
    CONTAINERS_DIR,
    build_base_image,
    build_image,
    context_hash,
    own_base_image_name,
    required_packages,
)
from kit.testbeds.docker.lab import remove_by_label

ROOT = PROJECT_ROOT


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
        build_image(lab, CONTAINERS_DIR, {"BASE_IMAGE": base}, "lab",
                    context_hash(CONTAINERS_DIR, client().images.get(base).id),
                    f"building {lab} from {base}")
        timings["lab image (docker build)"] = time.monotonic() - started
    finally:
        for name in (lab, base):
            try:
                client().images.remove(name, force=True)
            except Exception:
                pass
    return timings


def warm_run(out: Path, *extra: str) -> tuple[float, RunRecord]:
    """One 'invoke run --scenario close --variant graceful' (and ``extra``) as a user
    types it: its wall time and its record."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "invoke", "run", "--scenario", "close",
                             "--variant", "graceful", "--out", str(out), *extra], cwd=ROOT,
                            capture_output=True, text=True)
    wall = time.monotonic() - started
    if result.returncode != 0:
        raise KitError(f"the warm run failed: {result.stderr.strip().splitlines()[-1]}")
    newest = max(out.glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    return wall, RunRecord.load(newest.parent)


def bare_cycle(image: str, cli: ComposeCli | None = None) -> float:
    """A bare 'up -d' then 'down' of docker-compose.yml, with ``cli`` (else the kit's)."""
    cli = cli or compose_cli()
    run_id = "bench-" + new_run_id()
    env = {"NETKIT_IMAGE": image, "NETKIT_RUN_ID": run_id}
    project = f"netkit-{run_id}"
    started = time.monotonic()
    try:
        cli.run(project, "up", "-d", "--no-build", env=env)
        cli.run(project, "down", "--volumes", "--remove-orphans", "--timeout", "1", env=env)
    finally:
        remove_by_label(run_id)
    return time.monotonic() - started


def ss_transitions(root: Path, role: str) -> list[str]:
    """The states the ss samples show the connection in, in order (LISTEN left out)."""
    from kit.report.summary import load_states

    return [state for state, _ in load_states(root, role)]


def kernel_transitions(root: Path, role: str) -> list[str]:
    """The states the kernel's tracepoint moved the connection's socket into."""
    records = [json.loads(line) for line in (root / "kernel.jsonl").read_text().splitlines()]
    return [r["newstate"] for r in records
            if r["host"] == role and r["event"] == "inet_sock_set_state"]


def evidence_bench(runs: int) -> None:
    """ss against the kernel trace, per variant, and what capture and tracing cost."""
    print(f"\nss sampler (every 40 ms) against the kernel trace, {runs} runs per variant")
    timings: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="netkit-bench-") as out:
        for variant in ("graceful", "abrupt"):
            seen: dict[str, list[int]] = {}
            counted = {"ss": 0, "kernel": 0}
            for _ in range(runs):
                for trace in (True, False):
                    result = subprocess.run(
                        [sys.executable, "-m", "invoke", "run", "--scenario", "close",
                         "--variant", variant, "--out", out]
                        + ([] if trace else ["--no-kernel-trace"]), cwd=ROOT,
                        capture_output=True, text=True)
                    if result.returncode != 0:
                        raise KitError(f"a {variant} run failed: "
                                       f"{result.stderr.strip().splitlines()[-1]}")
                    root = max(Path(out).glob("*/run.json"), key=lambda p: p.stat().st_mtime).parent
                    for name, value in RunRecord.load(root).timings_s.items():
                        timings.setdefault(f"{name} {'with' if trace else 'without'} trace",
                                           []).append(value)
                    if not trace:
                        continue
                    for role in ROLES:
                        kernel = [s for s in kernel_transitions(root, role)
                                  if s not in ("SYN-SENT", "SYN-RECV", "CLOSE")]
                        sampled = ss_transitions(root, role)
                        counted["kernel"] += len(kernel)
                        counted["ss"] += len([s for s in sampled if s in kernel])
                        for state in kernel:
                            seen.setdefault(f"{role} {state}", []).append(int(state in sampled))
            print(f"  {variant}: ss saw {counted['ss']} of {counted['kernel']} states the kernel "
                  "entered (handshake and CLOSE left out)")
            for name, hits in seen.items():
                print(f"    {name:24s} seen by ss in {sum(hits)} of {len(hits)} runs")
    print("\nwhat capture and tracing cost (medians over both variants)")
    for name in ("tracer_start", "capture_start", "observers_stop", "tracer_stop", "collect",
                 "total"):
        with_trace = statistics.median(timings[f"{name} with trace"])
        without = statistics.median(timings[f"{name} without trace"])
        print(f"  {name:14s} with trace {with_trace:6.3f} s   without {without:6.3f} s")
