"""Two runs side by side ('invoke rerun', 'invoke diff'): each check's verdict in both,
and what differed around them: the asked-for run, the environment, the hosts' sysctls."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.table import Table

from kit.core.checks import Outcome
from kit.core.record import RunRecord
from kit.core.roles import ROLES
from kit.report import outcomes

# run.json's environment keys that can change a verdict, or explain why it changed.
ENVIRONMENT = ("kernel", "docker_engine", "docker_api", "compose", "image_id", "base_image",
               "kit_version", "python")


@dataclass(frozen=True)
class CheckPair:
    name: str
    claim: str
    before: Outcome | None    # the check's outcome; None: the run has no such check
    after: Outcome | None

    @property
    def differs(self) -> bool:
        return self.before != self.after


@dataclass
class RunComparison:
    checks: list[CheckPair]
    verdicts: tuple[str, str]
    # (what, before, after) for everything else that differs
    differences: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def checks_differ(self) -> bool:
        return any(pair.differs for pair in self.checks)


def check_pairs(before: RunRecord, after: RunRecord) -> list[CheckPair]:
    first = {c.name: c for c in before.checks}
    second = {c.name: c for c in after.checks}
    names = list(first) + [name for name in second if name not in first]
    return [CheckPair(name, (first.get(name) or second[name]).claim,
                      first[name].outcome if name in first else None,
                      second[name].outcome if name in second else None) for name in names]


def text(value: Any) -> str:
    return "(none)" if value is None else str(value)


def differing(what: str, before: dict, after: dict, keys) -> list[tuple[str, str, str]]:
    return [(f"{what}{key}", text(before.get(key)), text(after.get(key))) for key in keys
            if before.get(key) != after.get(key)]


def asked(record: RunRecord) -> dict[str, Any]:
    """What a run was, beside its parameters: compared one by one."""
    return {"run": f"{record.scenario}/{record.variant}",
            "link": (record.request or {}).get("link"),
            "link engine": (record.link or {}).get("engine")}


def compare_runs(before: RunRecord, after: RunRecord) -> RunComparison:
    differences = differing("", asked(before), asked(after), ["run"])
    parameters = sorted(set(before.parameters) | set(after.parameters))
    differences += differing("parameter ", before.parameters, after.parameters, parameters)
    differences += differing("", asked(before), asked(after), ["link", "link engine"])
    differences += differing("", before.environment, after.environment, ENVIRONMENT)
    for role in ROLES:
        mine = before.hosts.get(role, {}).get("sysctls") or {}
        theirs = after.hosts.get(role, {}).get("sysctls") or {}
        differences += differing(f"{role} sysctl ", mine, theirs,
                                 sorted(set(mine) | set(theirs)))
    return RunComparison(check_pairs(before, after), (before.verdict, after.verdict),
                         differences)


def verdict_mark(outcome: Outcome | None) -> str:
    return "-" if outcome is None else outcomes.MARK[outcome]


def side_by_side(before: Path, after: Path, comparison: RunComparison) -> Table:
    """Both runs' checks, the differing ones marked, then what else differed."""
    table = Table(title=f"{before} -> {after}", show_lines=False)
    for column in ("", "check", "claim", "before", "after"):
        table.add_column(column)
    for pair in comparison.checks:
        table.add_row("≠" if pair.differs else "", pair.name, pair.claim,
                      verdict_mark(pair.before), verdict_mark(pair.after))
    table.add_row("≠" if comparison.verdicts[0] != comparison.verdicts[1] else "",
                  "verdict", "", *comparison.verdicts)
    for what, was, now in comparison.differences:
        table.add_row("", what, "", was, now)
    table.caption = ("the checks' verdicts differ" if comparison.checks_differ
                     else "every check's verdict is the same")
    return table
