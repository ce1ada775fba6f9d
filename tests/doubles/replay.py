"""A testbed double: in-memory hosts that replay what a real run recorded (tests/data/).

It implements the kit's Testbed, Lab, Host, Process and Tracer protocols, and answers
only the commands a run is expected to send; anything else fails the test, so the double
also pins down what the run asks of its hosts.
"""

from __future__ import annotations

import json
import re
import signal
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kit.hosts import CommandResult
from kit.observe.tracepoints import KernelTracing, parse_probe
from kit.testbeds.base import Endpoint

ROLES = ("client", "server")
WORKDIR = "/var/lib/netkit/run"
# What the recordings' kernel (6.18) said it traces, as its tracer's probe printed it.
PROBE = Path(__file__).parents[1] / "data" / "kernels" / "6.18" / "probe.txt"


def nstat_text(counters: dict[str, int]) -> str:
    return "#kernel\n" + "".join(f"{name} {value} 0.0\n" for name, value in counters.items())


@dataclass
class Recording:
    """One recorded run of tests/data: ``<kind>-<variant>-<role>`` files and run-<variant>.json."""

    data: Path
    variant: str

    @property
    def record(self) -> dict:
        return json.loads((self.data / f"run-{self.variant}.json").read_text())

    def file(self, kind: str, role: str | None = None, suffix: str = "txt") -> Path:
        return self.data / f"{kind}-{self.variant}{'-' + role if role else ''}.{suffix}"

    def exit_status(self, role: str) -> int:
        events = self.file("events", role, "jsonl").read_text().splitlines()
        return json.loads(events[-1])["status"]


@dataclass
class ReplayProcess:
    status: int
    written: list[bytes] = field(default_factory=list)
    stdin_closed: bool = False
    signals: list[signal.Signals] = field(default_factory=list)

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def close_stdin(self) -> None:
        self.stdin_closed = True

    def poll(self) -> int | None:
        return None   # running until waited for: the script plays to its end

    def wait(self, timeout: float) -> int:
        return self.status

    def signal(self, signum: signal.Signals) -> None:
        self.signals.append(signum)

    def kill(self, grace: float = 5.0) -> int:
        self.signal(signal.SIGTERM)
        return self.status


class ReplayHost:
    def __init__(self, recording: Recording, role: str):
        self.name = role
        self.recording = recording
        self.commands: list[list[str]] = []
        self.started: list[ReplayProcess] = []

    def run(self, command: list[str], timeout: float = 30, check: bool = True) -> CommandResult:
        self.commands.append(command)
        return CommandResult(tuple(command), 0, self._answer(command, timeout), "")

    def _answer(self, command: list[str], timeout: float) -> str:
        counters = json.loads(self.recording.file("counters", suffix="json").read_text())
        if command[:2] == ["netkit-observe", "start"] and command[4] == WORKDIR:
            return ("### nstat\n" + nstat_text(counters[self.name]["before"]) + "### sysctl\n"
                    + (self.recording.data / "sysctl.txt").read_text())
        if command[:3] == ["netkit-observe", "stop", WORKDIR]:
            return ("### nstat\n" + nstat_text(counters[self.name]["after"]) + "### tcpdump\n"
                    + self.recording.file("tcpdump", self.name).read_text())
        if command[:2] == ["sh", "-c"] and re.search(r'"event":"(listen|connect)"', command[2]):
            return "done\n"   # a wait for the program to be ready
        raise AssertionError(f"the replayed {self.name} was not expected to run {command}")

    def start(self, command: list[str], stdin: bool = False, output: str | None = None):
        assert output == f"{WORKDIR}/program.log", output
        process = ReplayProcess(self.recording.exit_status(self.name))
        self.started.append(process)
        return process

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        raise AssertionError("a run of the kit's programs copies nothing in")

    def fetch_dir(self, path: str, destination: Path) -> list[Path]:
        assert path == WORKDIR, path
        destination.mkdir(parents=True, exist_ok=True)
        sources = {"events.jsonl": self.recording.file("events", self.name, "jsonl"),
                   "program.log": self.recording.file("log", self.name),
                   "ss.raw": self.recording.file("ss", self.name),
                   "capture.pcap": self.recording.file("capture", self.name, "pcap")}
        for name, source in sources.items():
            (destination / name).write_bytes(source.read_bytes())
        return sorted(destination / name for name in sources)

    def close(self) -> None:
        pass


class ReplayLab:
    def __init__(self, recording: Recording):
        self.recording = recording
        self.hosts = {role: ReplayHost(recording, role) for role in ROLES}

    def endpoint(self, role: str) -> Endpoint:
        return Endpoint(self.recording.record["hosts"][role]["address"], "eth0", WORKDIR)

    def describe(self, role: str) -> dict:
        return dict(self.recording.record["hosts"][role])

    def clock_offsets(self) -> dict:
        return {}

    def facts(self) -> dict:
        return {"compose": self.recording.record["environment"]["compose"]}


class ReplayTracer:
    def __init__(self, recording: Recording):
        self.recording = recording
        self.instance = "/sys/kernel/tracing/instances/netkit-replay"
        self.closed = 0

    def start(self) -> dict[str, KernelTracing]:
        return dict.fromkeys(ROLES, parse_probe(PROBE.read_text()))

    def stop(self) -> str:
        return self.recording.file("kernel", suffix="trace").read_text()

    def close(self) -> None:
        self.closed += 1


class ReplayTestbed:
    """Labs that replay ``recording``; ``labs`` and ``tracers`` keep what was made."""

    name = "replay"

    def __init__(self, recording: Recording):
        self.recording = recording
        self.labs: list[ReplayLab] = []
        self.torn_down = 0
        self.tracers: list[ReplayTracer] = []

    def facts(self) -> dict:
        return dict(self.recording.record["environment"])

    @contextmanager
    def up(self, run_id: str, keep: bool = False):
        self.labs.append(ReplayLab(self.recording))
        try:
            yield self.labs[-1]
        finally:
            self.torn_down += 1

    def port_for(self, asked: int) -> int:
        return asked

    def tracer(self, run_id: str, port: int) -> ReplayTracer:
        self.tracers.append(ReplayTracer(self.recording))
        return self.tracers[-1]

    def netem_probe(self):
        raise AssertionError("an unshaped run never probes netem")


class ReplayClock:
    """The recorded run's t0; virtual time that a sleep advances at once."""

    def __init__(self, t0: float):
        self.t0 = t0
        self.now = 0.0

    def time(self) -> float:
        return self.t0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
