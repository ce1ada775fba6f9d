"""invoke bench: python -m kit.bench [--runs N] [--no-cold]
[--evidence | --link | --parallel | --cpu | --pytest | --cluster | --kernels | --images |
--testbed FILE]."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

from kit.bench.warm import bare_cycle, cold_setup, evidence_bench, spread, warm_run
from kit.core.errors import KitError
from kit.testbeds.docker.compose import compose_cli, compose_v2
from kit.testbeds.docker.engine import engine_url, versions
from kit.testbeds.docker.image import ensure_lab_image
from kit.testbeds.docker.warm import remove_warm_labs


def parser() -> argparse.ArgumentParser:
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
    parser.add_argument("--cpu", action="store_true",
                        help="only what a warm run costs in CPU-seconds, by process and phase")
    parser.add_argument("--cluster", action="store_true",
                        help="only the 40-run study on local Dask clusters of 1, 2, 4 workers")
    parser.add_argument("--pytest", action="store_true",
                        help="only a pytest session of 20 graceful runs, labs shared against "
                             "fresh")
    parser.add_argument("--kernels", action="store_true",
                        help="only Debian's kernels under qemu (--kernel): image, boot, runs")
    parser.add_argument("--images", action="store_true",
                        help="only what a server run as an image costs against a command")
    parser.add_argument("--testbed", default=None,
                        help="only a run on this testbed file's machines against a Docker lab")
    return parser


def print_machine() -> None:
    """The line every figure is read against: cores, kernel, engine, Compose, Python."""
    facts = versions()
    cli = compose_cli()
    print(f"machine: {os.cpu_count()} cores, kernel {platform.release()}, Docker "
          f"{facts['docker_engine']} ({engine_url() or 'local socket'}), "
          f"{cli.described} {cli.version}, Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> int:
    options = parser().parse_args(argv)
    print_machine()
    if options.testbed:
        from kit.bench import ssh as bench_ssh

        try:
            return bench_ssh.main(options.testbed, options.runs)
        except KitError as error:
            print(f"error: {error}", file=sys.stderr)
            return error.exit_code
    if options.images:
        from kit.bench import images as bench_images

        return bench_images.main(options.runs)
    if options.kernels:
        from kit.bench import kernels as bench_kernels

        return bench_kernels.main(options.runs)
    if options.pytest:
        from kit.bench import pytest_session

        ensure_lab_image()
        return pytest_session.main()
    if options.cluster:
        from kit.bench import cluster as bench_cluster

        ensure_lab_image()
        return bench_cluster.main()
    if options.parallel:
        from kit.bench import parallel as bench_experiment

        ensure_lab_image()
        return bench_experiment.main()
    if options.link:
        from kit.bench import link as bench_link

        return bench_link.main(ensure_lab_image(), options.runs, vm=not options.no_vm)
    if options.cpu:
        from kit.bench import cpu as bench_cpu

        ensure_lab_image()
        return bench_cpu.main(options.runs)
    if options.evidence:
        ensure_lab_image()
        evidence_bench(options.runs)
        return 0
    if not options.no_cold:
        print_cold_setup()
    warm_bench(options.runs)
    from kit.bench import cpu as bench_cpu

    bench_cpu.main(options.runs)
    evidence_bench(options.runs)
    return 0


def print_cold_setup() -> None:
    cold = cold_setup()
    print("\ncold set-up")
    if isinstance(cold, str):
        print(f"  {cold}")
        return
    for name, seconds in cold.items():
        print(f"  {name:36s} {seconds:6.1f} s")
    print(f"  {'total':36s} {sum(cold.values()):6.1f} s")


def warm_bench(runs: int) -> None:
    """A warm graceful run, ``runs`` times in a new lab and in a lab kept warm (--warm):
    whole command, scripted part, overhead, each phase; and a bare Compose cycle of the
    same file between them."""
    image = ensure_lab_image()
    # The target is set against Compose v2's bare cycle, whichever Compose the kit uses.
    v2 = compose_v2()
    kinds = {"new lab": (), "lab kept warm (--warm)": ("--warm",)}
    walls: dict[str, list[float]] = {kind: [] for kind in kinds}
    scripted: dict[str, list[float]] = {kind: [] for kind in kinds}
    phases: dict[str, dict[str, list[float]]] = {kind: {} for kind in kinds}
    bare, bare_v2 = [], []
    with tempfile.TemporaryDirectory(prefix="netkit-bench-") as out:
        try:
            for extra in kinds.values():   # once unmeasured: caches, the image check, the lab
                warm_run(Path(out), *extra)
            for _ in range(runs):
                for kind, extra in kinds.items():
                    wall, record = warm_run(Path(out), *extra)
                    walls[kind].append(wall)
                    scripted[kind].append(record.timings_s["script"])
                    for name, value in record.timings_s.items():
                        phases[kind].setdefault(name, []).append(value)
                bare.append(bare_cycle(image.name))
                if v2 is not None:
                    bare_v2.append(bare_cycle(image.name, v2))
        finally:
            remove_warm_labs()
    print("\nwarm 'invoke run --scenario close --variant graceful' (server delay 1 s)")
    overhead = {}
    for kind in kinds:
        overheads = [wall - script for wall, script in zip(walls[kind], scripted[kind])]
        overhead[kind] = statistics.median(overheads)
        medians = {name: statistics.median(values) for name, values in phases[kind].items()
                   if name in ("lab_up", "tracer_start", "capture_start", "observers_stop",
                               "collect", "lab_down")}
        print(f"  {kind}:")
        print(f"    whole command                 {spread(walls[kind])}")
        print(f"    scripted part of the scenario {spread(scripted[kind])}")
        print(f"    kit overhead (the rest)       {spread(overheads)}")
        print("       medians: " + ", ".join(f"{k} {v:.2f} s" for k, v in medians.items()))
    print("  (tracer_start runs alongside lab_up and the observers' start; the rest is "
          "Python start-up, checks, waiting for the programs to start, writing results)")
    print(f"bare compose up -d + down      {spread(bare)} ({compose_cli().described})")
    if v2 is None:
        print("\noverhead / bare Compose v2 cycle: no Compose v2 here "
              "(pip install 'netkit[compose]')")
        return
    print(f"bare Compose v2 up -d + down   {spread(bare_v2)} ({v2.described})")
    for kind in kinds:
        ratio = overhead[kind] / statistics.median(bare_v2)
        print(f"\noverhead / bare Compose v2 cycle, {kind}: {ratio:.2f} (target at most 1.2)")


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KitError as error:
        sys.exit(f"error: {error}")
