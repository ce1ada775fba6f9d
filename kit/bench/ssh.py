"""`invoke bench --testbed FILE`: a run between two machines over SSH against the same
run in a Docker lab: wall time by phase (what SSH adds or saves), and the clock-offset
uncertainty achieved."""

from __future__ import annotations

import contextlib
import io
import statistics
import tempfile

from kit.cli.commands import execute
from kit.cli.request import build_request

PHASES = ("lab_up", "tracer_start", "scenario", "collect", "lab_down", "total")


def main(testbed: str, runs: int) -> int:
    timings: dict[str, list[dict]] = {}
    uncertainty: list[float] = []
    with tempfile.TemporaryDirectory(prefix="netkit-bench-") as out:
        for name, file in (("ssh", testbed), ("docker", None)):
            request = build_request("close", variant="graceful", out=out, testbed=file)
            for _ in range(runs):
                with contextlib.redirect_stdout(io.StringIO()), \
                        contextlib.redirect_stderr(io.StringIO()):
                    (outcome,) = execute(request)
                timings.setdefault(name, []).append(outcome.record.timings_s)
                clocks = outcome.record.environment.get("clocks", {})
                uncertainty += [clock["uncertainty_s"] for clock in clocks.values()]
    print(f"close/graceful, median of {runs} runs (s)  "
          + "  ".join(f"{p:>12}" for p in PHASES))
    for name, rows in timings.items():
        print(f"  {name:<37}" + "  ".join(
            f"{statistics.median(r.get(p, 0.0) for r in rows):>12.3f}" for p in PHASES))
    if uncertainty:
        print(f"clock offset uncertainty: median {statistics.median(uncertainty) * 1e6:.0f} us, "
              f"largest {max(uncertainty) * 1e6:.0f} us ({len(uncertainty)} measurements)")
    return 0
