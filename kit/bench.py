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
from kit.image import (CONTAINERS_DIR, build_base_image, build_image, context_hash,
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
                    record = json.loads((root / "run.json").read_text())
                    for name, value in record["timings_s"].items():
                        timings.setdefault(f"{name} {'with' if trace else 'without'} trace",
                                           []).append(value)
                    if not trace:
                        continue
                    for role in ("client", "server"):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="invoke bench")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-cold", action="store_true")
    parser.add_argument("--evidence", action="store_true",
                        help="only the ss-versus-kernel-trace and capture-cost figures")
    parser.add_argument("--link", action="store_true",
                        help="only the link impairments' accuracy, per engine")
    parser.add_argument("--no-vm", action="store_true",
                        help="with --link: leave out netem in the qemu VM")
    parser.add_argument("--parallel", action="store_true",
                        help="only how experiments scale with parallel labs")
    options = parser.parse_args(argv)
    facts = versions()
    cli = compose_cli()
    print(f"machine: {os.cpu_count()} cores, kernel {platform.release()}, Docker "
          f"{facts['docker_engine']}, {' '.join(cli.command)} {cli.version}, "
          f"Python {platform.python_version()}")
    if options.parallel:
        from kit import bench_experiment

        ensure_lab_image()
        return bench_experiment.main()
    if options.link:
        from kit import bench_link

        return bench_link.main(ensure_lab_image(), options.runs, vm=not options.no_vm)
    if options.evidence:
        ensure_lab_image()
        evidence_bench(options.runs)
        return 0
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
            scripted.append(record["timings_s"]["script"])
            overheads.append(wall - record["timings_s"]["script"])
            bare.append(bare_cycle(image.name))
        phases = {name: statistics.median(json.loads(p.read_text())["timings_s"][name]
                                          for p in Path(out).glob("*/run.json"))
                  for name in ("lab_up", "tracer_start", "capture_start", "observers_stop",
                               "collect", "lab_down")}
    print("\nwarm 'invoke run --scenario close --variant graceful' (server delay 1 s)")
    print(f"  whole command                {spread(walls)}")
    print(f"  scripted part of the scenario {spread(scripted)}")
    print(f"  kit overhead (the rest)      {spread(overheads)}")
    print("     medians: " + ", ".join(f"{k} {v:.2f} s" for k, v in phases.items())
          + " (tracer_start runs alongside lab_up); the rest is Python start-up, checks, "
          "waiting for the server and client to start, and writing results")
    print(f"bare compose up -d + down      {spread(bare)}")
    ratio = statistics.median(overheads) / statistics.median(bare)
    print(f"\noverhead / bare cycle: {ratio:.2f} (target at most 1.5)")
    evidence_bench(options.runs)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KitError as error:
        sys.exit(f"error: {error}")
