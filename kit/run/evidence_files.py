"""A run's evidence read back from its run directory (the results contract), so that a
run can be judged again offline: by the tests, on runs recorded from real labs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from kit.core.parameters import RunParameters
from kit.core.record import RunRecord
from kit.core.roles import ROLES
from kit.impair.spec import LinkRequest
from kit.observe.ss import SocketRecord
from kit.report.timeline import load_jsonl
from kit.scenarios import Evidence
from kit.scenarios.base import tracing_of, why_untraced


def load_run(root: Path) -> tuple[RunRecord, RunParameters, Evidence]:
    """The record, the parameters and the evidence of the run directory ``root``."""
    record = RunRecord.load(root)
    known = {item.name for item in dataclasses.fields(RunParameters)}
    params = RunParameters(**{k: v for k, v in record.parameters.items() if k in known})
    link = LinkRequest.from_json(record.link) if record.link else None
    logs = {role: (root / "logs" / f"{role}.log") for role in ROLES}
    evidence = Evidence(
        events={role: load_jsonl(root / "events" / f"{role}.jsonl") for role in ROLES},
        samples={role: [SocketRecord(**row) for row in load_jsonl(root / "ss" / f"{role}.jsonl")]
                 for role in ROLES},
        counters=record.counters,
        exit_status={role: record.programs.get(role, {}).get("exit_status") for role in ROLES},
        logs={role: path.read_text() if path.exists() else "" for role, path in logs.items()},
        packets=load_jsonl(root / "packets.jsonl"),
        kernel=load_jsonl(root / "kernel.jsonl") if (root / "kernel.jsonl").exists() else None,
        capture_counts=record.capture,
        unplayed=list(record.unplayed_script or []),
        egress={role: link.added_delay(role) for role in ROLES} if link else {},
        stopped=[role for role in ROLES
                 if record.programs.get(role, {}).get("stopped_by_kit")],
        clock_slack=Evidence.slack_of(record.environment),
        tracing=tracing_of(record.kernel_trace),
        untraced=why_untraced(record.kernel_trace),
    )
    return record, params, evidence
