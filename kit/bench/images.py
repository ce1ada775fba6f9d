"""invoke bench --images: what running your program as an image costs against running
the same program as a command in the kit's container. The same socat echo server, the
same client and input, one after the other, ``runs`` times each: wall time of the run,
its phases, and CPU-seconds of the kit's process and of the whole machine."""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from kit.bench.cpu import snapshot
from kit.core.errors import KitError
from kit.core.paths import PROJECT_ROOT
from kit.core.record import RunRecord
from kit.testbeds.docker.image import ensure_lab_image

SERVER = "socat TCP-LISTEN:{port},reuseaddr SYSTEM:cat"
# The server ends with its connection either way: judged on the same stated check.
CLIENT = ("--client-command", "socat - TCP:{server}:{port}", "--client-input", "hello",
          "--expect-exit", "client=0")
PHASES = ("lab_up", "scenario", "collect", "lab_down", "total")


def kinds(lab_image: str) -> dict[str, tuple[str, ...]]:
    return {"command in the kit's container": ("--server-command", SERVER, *CLIENT),
            "image beside it (the lab image)": ("--server-image", lab_image,
                                                "--server-command", SERVER, *CLIENT)}


def one_run(arguments: tuple[str, ...], out: Path) -> dict[str, float]:
    before = snapshot()
    result = subprocess.run([sys.executable, "-m", "invoke", "run", *arguments, "--out",
                             str(out)], cwd=PROJECT_ROOT, capture_output=True, text=True)
    after = snapshot()
    if result.returncode != 0:
        raise KitError(f"a benchmark run failed: {result.stderr.strip().splitlines()[-1:]}")
    record = RunRecord.load(max(out.glob("*/run.json"), key=lambda p: p.stat().st_mtime).parent)
    figures = {phase: float(record.timings_s[phase]) for phase in PHASES
               if phase in record.timings_s}
    figures["kit CPU-s"] = record.cpu_s["total"]["kit"] + record.cpu_s["total"]["children"]
    figures["machine CPU-s"] = after["machine"] - before["machine"]
    return figures


def main(runs: int) -> int:
    image = ensure_lab_image().name
    samples: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds(image)}
    with tempfile.TemporaryDirectory(prefix="netkit-bench-") as directory:
        for arguments in kinds(image).values():
            one_run(arguments, Path(directory) / "warm")     # unmeasured: caches
        for index in range(runs):       # interleaved: the machine's moods hit both alike
            for kind, arguments in kinds(image).items():
                samples[kind].append(one_run(arguments, Path(directory) / f"{index}"))
    names = list(next(iter(samples.values()))[0])
    print(f"\nyour server as an image against the same server as a command (median of {runs} "
          "runs each; seconds unless said)")
    print(f"  {'':34s}" + "".join(f"{name:>15s}" for name in names))
    for kind, runs_of_kind in samples.items():
        print(f"  {kind:34s}" + "".join(
            f"{statistics.median(s[name] for s in runs_of_kind):15.2f}" for name in names))
    return 0
