"""`invoke bench --kernels`: Debian's kernels under qemu (--kernel), each in turn: the VM
image (built, or found), the VM booted with both machines checked, and the lesson's
close, each variant ``runs`` times in that one VM: the whole run and its phases."""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from kit.core.kernels import KERNELS
from kit.core.parameters import RunParameters
from kit.run.session import RunSession
from kit.scenarios import CATALOG
from kit.testbeds.kernel.provider import KernelProvider

PHASES = ("lab_up", "tracer_start", "scenario", "collect", "lab_down", "total")
ACCEL = "software emulation (qemu -accel tcg; the kit does not use KVM)"


@dataclass
class KernelFigures:
    image_s: float      # the VM image built, or found in the engine
    boot_s: float       # the VM up, both machines logged in to and checked
    timings: dict[str, list[dict]] = field(default_factory=dict)   # per variant: runs'


def one_kernel(kernel: str, runs: int, out: Path) -> KernelFigures:
    """The image, the boot and ``runs`` runs of each close variant on ``kernel``."""
    provider = KernelProvider(kernel)
    start = time.monotonic()
    provider.prepare()
    figures = KernelFigures(time.monotonic() - start, 0.0)
    start = time.monotonic()
    with provider.labs(trace=True, shared=False) as labs, labs.lease() as bed:
        figures.boot_s = time.monotonic() - start
        for variant in CATALOG["close"].variants:
            for number in range(runs):
                session = RunSession(CATALOG["close"], variant, RunParameters(), bed,
                                     out / kernel / f"{variant}-{number}")
                with contextlib.redirect_stdout(io.StringIO()), \
                        contextlib.redirect_stderr(io.StringIO()):
                    result = session.run()
                figures.timings.setdefault(f"{variant} ({result.verdict})", []).append(
                    result.record.timings_s)
    return figures


def main(runs: int, kernels: tuple[str, ...] = tuple(KERNELS)) -> int:
    print(f"Debian's kernels under qemu: {ACCEL}")
    print("  kernel  image (s)  booted (s)  run, median of "
          f"{runs} (s)  " + "  ".join(f"{p:>12}" for p in PHASES))
    with tempfile.TemporaryDirectory(prefix="netkit-bench-") as out:
        for kernel in kernels:
            figures = one_kernel(kernel, runs, Path(out))
            for label, samples in figures.timings.items():
                print(f"  {kernel:<6}  {figures.image_s:>9.1f}  {figures.boot_s:>10.1f}"
                      f"  {label:<24}" + "  ".join(
                          f"{statistics.median(s.get(p, 0.0) for s in samples):>12.2f}"
                          for p in PHASES))
    print("  (image: built here, or the engine's cached one found; booted: the VM up "
          "and both machines logged in to and checked)")
    return 0
