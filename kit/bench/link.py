"""How exact the link impairments are: configured against delivered, per engine.

    invoke bench --link [--runs N]

For each engine this machine can run (the userspace engine always; netem in the lab
where the kernel has it, and in the qemu VM unless --no-vm), the round trip measured
by TCP handshakes at 0, 10, 50 and 200 ms one-way latency on both directions and with
10 ms jitter, the goodput under 1 and 10 mbit rate limits, and what shaping adds to a
run. The target is mininet's test made stricter: within 1 ms + 5% of the configured RTT.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kit.core.errors import KitError
from kit.core.paths import PROJECT_ROOT
from kit.core.record import RunRecord, new_run_id
from kit.core.roles import ROLES
from kit.impair.apply import (
    PROBE_PORT,
    apply_link,
    clear_link,
    measure_rtt,
    probe_listener,
)
from kit.impair.spec import parse_link
from kit.testbeds.docker.image import LabImage
from kit.testbeds.docker.lab import ComposeLab
from kit.testbeds.docker.probe import probe_netem

ROOT = PROJECT_ROOT
LATENCIES_MS = (0, 10, 50, 200)
RATES = ("1mbit", "10mbit")
JITTER = (("uniform", {"latency": "50ms", "jitter": "10ms"}),
          ("normal", {"latency": "50ms", "jitter": "10ms", "distribution": "normal"}))


@dataclass
class RttRow:
    engine: str
    case: str
    configured_ms: float
    samples: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def p95(self) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    def on_target(self) -> bool:
        return abs(self.median - self.configured_ms) <= 1 + 0.05 * self.configured_ms


def rtt_cases(samples: int) -> list[tuple[str, dict, float, int]]:
    """(name, parse_link options, configured round trip in ms, handshakes), both
    directions shaped. A median under jitter needs more handshakes to settle: with
    10 ms normal jitter each way, 30 of them leave it about 3 ms from its true value."""
    cases = [(f"latency {ms} ms", {"latency": f"{ms}ms"}, 2.0 * ms, samples)
             for ms in LATENCIES_MS]
    cases += [(f"50 ms, jitter 10 ms {kind}", options, 100.0, 5 * samples)
              for kind, options in JITTER]
    return cases


def lab_accuracy(image: LabImage, engine: str, samples: int) -> tuple[list[RttRow], dict]:
    """Round trips and goodputs through a real lab, shaped by ``engine``."""
    rows, goodput = [], {}
    with ComposeLab(new_run_id(), image.name) as lab:
        server, client = lab.hosts["server"], lab.hosts["client"]
        address = lab.endpoint("server").address
        for name, options, configured, count in rtt_cases(samples):
            link = parse_link(**options, impair_engine=engine)
            if link.is_empty():
                clear_link(lab.hosts)
            else:
                apply_link(lab.hosts, link, engine)
            rows.append(RttRow(engine, name, configured,
                               measure_rtt(server, client, address, count)))
        for rate in RATES:
            apply_link(lab.hosts, parse_link(rate=rate, direction="client-to-server",
                                             impair_engine=engine), engine)
            goodput[rate] = _send(lab, address)
        clear_link(lab.hosts)
    return rows, goodput


def _send(lab: ComposeLab, address: str, seconds: float = 5) -> float:
    with probe_listener(lab.hosts["server"]):
        output = lab.hosts["client"].run(["netkit-probe", "send", address, str(PROBE_PORT),
                                          f"{seconds:g}"], timeout=120).stdout
    return json.loads(output)["bits_per_second"]


def vm_accuracy(image: LabImage, samples: int) -> tuple[list[RttRow], dict, str]:
    """The same cases with netem in the qemu VM; its own veth round trip (software
    emulation, about 1 ms) is measured first and taken off."""
    from kit.testbeds.docker.netemvm import Measure, ensure_vm_image, run_checks

    cases = rtt_cases(samples)
    measures = [Measure(f"rtt{index}", parse_link(**options).impairment, ROLES,
                        count=count)
                for index, (_, options, _, count) in enumerate(cases)]
    measures += [Measure(f"rate{index}", parse_link(rate=rate).impairment, kind="rate",
                         seconds=5) for index, rate in enumerate(RATES)]
    result = run_checks(ensure_vm_image(image), measures)
    if result.errors:
        raise KitError(f"the netem VM reported errors: {result.errors}")
    baseline = statistics.median(result.results["baseline"]["connect_ms"][1:])
    rows = [RttRow("netem (VM)", name, configured,
                   [s - baseline for s in result.results[f"rtt{index}"]["connect_ms"][1:]])
            for index, (name, _, configured, _) in enumerate(cases)]
    goodput = {rate: result.results[f"rate{index}"]["bits_per_second"]
               for index, rate in enumerate(RATES)}
    return rows, goodput, f"kernel {result.kernel}, own round trip {baseline:.2f} ms taken off"


def run_cost(runs: int) -> dict[str, float]:
    """What shaping adds to 'invoke run': the netem probe, applying, the RTT probe."""
    timings: dict[str, list[float]] = {"apply": [], "rtt probe": [], "whole run": []}
    with tempfile.TemporaryDirectory(prefix="netkit-bench-") as out:
        for _ in range(runs):
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "invoke", "run", "--scenario", "close", "--variant",
                 "graceful", "--latency", "10ms", "--out", out], cwd=ROOT, capture_output=True,
                text=True)
            if result.returncode != 0:
                raise KitError("a shaped run failed: "
                               f"{result.stderr.strip().splitlines()[-1]}")
            timings["whole run"].append(time.monotonic() - started)
            link = RunRecord.load(max(Path(out).glob("*/run.json"),
                                      key=lambda p: p.stat().st_mtime).parent).link or {}
            timings["apply"].append(link["apply_s"])
            timings["rtt probe"].append(link["probe_s"])
    return {name: statistics.median(values) for name, values in timings.items()}


def report(rows: list[RttRow], goodputs: dict[str, dict], notes: dict[str, str],
           cost: dict[str, float], netem_probe_s: float) -> str:
    """The accuracy table in Markdown, as docs/impairments.md shows it."""
    lines = ["| engine | case | configured RTT | measured median | p95 | error | "
             "within 1 ms + 5% |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.engine} | {row.case} | {row.configured_ms:g} ms | "
                     f"{row.median:.2f} ms | {row.p95:.2f} ms | "
                     f"{row.median - row.configured_ms:+.2f} ms | "
                     f"{'yes' if row.on_target() else 'NO'} |")
    lines += ["", "| engine | rate limit | TCP goodput | goodput / limit |", "|---|---|---|---|"]
    for engine, measured in goodputs.items():
        for rate, bits in measured.items():
            limit = parse_link(rate=rate).impairment.rate
            lines.append(f"| {engine} | {rate} | {bits / 1e6:.3f} Mbit/s | {bits / limit:.3f} |")
    lines += ["", "(TCP goodput counts payload only: a full 1514-byte frame carries 1448 "
                  "bytes of it, 0.956 of the wire rate.)"]
    for engine, note in notes.items():
        lines.append(f"- {engine}: {note}")
    lines += ["", f"What shaping adds to a run (median of the runs): netem probe container "
                  f"{netem_probe_s:.2f} s, applying {cost['apply']:.2f} s, RTT probe "
                  f"{cost['rtt probe']:.2f} s (6 handshakes at 20 ms); whole shaped run "
                  f"{cost['whole run']:.2f} s."]
    return "\n".join(lines)


def main(image: LabImage, runs: int, samples: int = 30, vm: bool = True) -> int:
    started = time.monotonic()
    probe = probe_netem(image.name)
    netem_probe_s = time.monotonic() - started
    engines = ["userspace"] + (["netem"] if probe.available else [])
    print(f"netem on this kernel: {'yes' if probe.available else 'no (' + probe.reason + ')'}")
    rows, goodputs, notes = [], {}, {}
    for engine in engines:
        print(f"measuring the {engine} engine in a lab ({samples} handshakes a case)",
              file=sys.stderr)
        engine_rows, goodputs[engine] = lab_accuracy(image, engine, samples)
        rows += engine_rows
    if vm:
        vm_rows, goodputs["netem (VM)"], notes["netem (VM)"] = vm_accuracy(image, samples)
        rows += vm_rows
    print(report(rows, goodputs, notes, run_cost(runs), netem_probe_s))
    return 0
