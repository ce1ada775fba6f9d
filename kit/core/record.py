"""The run record (run.json): one typed schema that the run writes and every reader
loads. docs/results.md describes each field; nested parts (parameters, environment,
programs, hosts, link, kernel_trace) stay plain JSON objects documented there.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kit.core.checks import Check, Verdict
from kit.core.errors import BadInput
from kit.core.results import atomic_write

# 1: the record as written before it carried a schema; 2: adds schema and testbed;
# 3: adds request (what was asked for, so that the run can be run again); 4: adds
# environment.lab (a lab of its own, or a pool's, reset before the run).
SCHEMA = 4
RECORD_FILE = "run.json"


def new_run_id() -> str:
    """Short, unique, and valid as a Compose project name."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(3)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass
class RunRecord:
    scenario: str
    variant: str
    description: str = ""
    run_id: str = ""
    started_at: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    schema: int = SCHEMA
    testbed: str | None = None
    complete: bool = False
    verdict: Verdict = Verdict.ERROR
    checks: list[Check] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    programs: dict[str, dict[str, Any]] = field(default_factory=dict)
    hosts: dict[str, dict[str, Any]] = field(default_factory=dict)
    mount: str | None = None
    link: dict[str, Any] | None = None
    kernel_trace: dict[str, Any] | None = None
    t0: float | None = None
    counters: dict[str, dict[str, int]] = field(default_factory=dict)
    capture: dict[str, dict[str, Any]] = field(default_factory=dict)
    unplayed_script: list[str] | None = None
    experiment: dict[str, Any] | None = None
    request: dict[str, Any] | None = None   # link options as given, base image, programs
    error: str | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    cpu_s: dict[str, dict[str, float]] = field(default_factory=dict)
    observers_cpu_s: dict[str, dict[str, float]] | None = None   # per host, per process
    finished_at: str | None = None

    def trace_limits(self) -> list[str]:
        """What the hosts' kernels could not trace, and why (each text once)."""
        hosts = (self.kernel_trace or {}).get("hosts") or {}
        texts = [why for host in hosts.values() for why in (host.get("limits") or {}).values()]
        return list(dict.fromkeys(texts))

    def kernels(self) -> list[str]:
        """The lab's kernels as the tracer found them, else as the testbed knew them
        (each machine's, or the engine's), never the controller's."""
        traced = ((self.kernel_trace or {}).get("hosts") or {}).values()
        for hosts in (traced, self.hosts.values()):
            found = [str(host["kernel"]) for host in hosts if host.get("kernel")]
            if found:
                return list(dict.fromkeys(found))
        return [str(self.environment.get("kernel") or "?")]

    @property
    def failed_checks(self) -> list[Check]:
        return [check for check in self.checks if check.failed]

    def to_json(self) -> dict[str, Any]:
        """The record as run.json holds it (fields that are not set are left out)."""
        out: dict[str, Any] = {}
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if value is None:
                continue
            out[item.name] = [c.to_json() for c in value] if item.name == "checks" else value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        if not isinstance(data, dict):
            raise TypeError(f"a run record is a JSON object, not a {type(data).__name__}")
        known = {item.name for item in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values.setdefault("schema", 1)
        values["checks"] = [Check(**check) for check in data.get("checks", [])]
        values["verdict"] = Verdict(values.get("verdict", Verdict.ERROR))
        return cls(**values)

    def save(self, root: Path) -> None:
        atomic_write(root / RECORD_FILE, (json.dumps(self.to_json(), indent=2) + "\n").encode())

    @classmethod
    def load(cls, root: Path) -> RunRecord:
        """The record of the run directory ``root``; one line if it is not one."""
        path = root / RECORD_FILE
        try:
            return cls.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            raise BadInput(f"{root} is not a run directory (it has no {RECORD_FILE})") from None
        except (ValueError, TypeError, KeyError) as error:
            raise BadInput(f"{path} is not a run record the kit can read: {error}") from None
