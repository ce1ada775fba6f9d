"""A finished run as a typed object: its record (run.json), and helpers over the evidence
in its directory: packets, states, events, checks. What the pytest plugin hands a test."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from kit.core.checks import Check, Verdict
from kit.core.record import RunRecord
from kit.run.evidence_files import load_run
from kit.scenarios import Evidence


@dataclass(frozen=True)
class Packets:
    """The run's TCP segments, both captures merged, in time order."""

    segments: list[dict]

    def __iter__(self) -> Iterator[dict]:
        return iter(self.segments)

    def __len__(self) -> int:
        return len(self.segments)

    def sent_by(self, role: str) -> Packets:
        return Packets([s for s in self.segments if s["from"] == role])

    def flagged(self, flag: str, from_: str | None = None) -> list[dict]:
        """Segments with ``flag`` (SYN, FIN, RST, PSH, ACK), from one host if given."""
        return [s for s in self.segments if flag in s["flags"]
                and (from_ is None or s["from"] == from_)]

    def resets(self, from_: str | None = None) -> list[dict]:
        return self.flagged("RST", from_)

    def fins(self, from_: str | None = None) -> list[dict]:
        return self.flagged("FIN", from_)

    def with_data(self, from_: str | None = None) -> list[dict]:
        return [s for s in self.segments if s["length"] and (from_ is None or s["from"] == from_)]


class RunFailed(AssertionError):
    """A run that did not pass, where passing was required (``netkit.run(...,
    check=True)``, ``result.check_passed()``): it carries the run's ``result``, and says
    what failed and where the report is."""

    def __init__(self, result: RunResult):
        super().__init__(result.describe())
        self.result = result


@dataclass(frozen=True)
class RunResult:
    """One finished run: what every front door gets back (RunSession.run, 'invoke run',
    a study's run in its process, the pytest plugin), or what a run directory holds
    (``load``)."""

    directory: Path
    record: RunRecord
    evidence: Evidence

    @classmethod
    def load(cls, directory: Path) -> RunResult:
        record, _, evidence = load_run(directory)
        return cls(directory, record, evidence)

    @property
    def verdict(self) -> Verdict:
        return self.record.verdict

    def check_passed(self) -> RunResult:
        """This result if the run passed; else raise RunFailed carrying it."""
        if self.verdict != Verdict.PASS:
            raise RunFailed(self)
        return self

    @property
    def checks(self) -> list[Check]:
        return self.record.checks

    @property
    def failed_checks(self) -> list[Check]:
        return self.record.failed_checks

    def check(self, name: str) -> Check:
        found = [c for c in self.checks if c.name == name]
        if not found:
            raise KeyError(f"no check {name!r}: the run has {[c.name for c in self.checks]}")
        return found[0]

    @property
    def report(self) -> Path:
        return self.directory / "report.html"

    @property
    def packets(self) -> Packets:
        return Packets(self.evidence.packets)

    def states(self, role: str) -> list[str]:
        """The states ``role``'s socket went through, as the ss samples saw them."""
        return [state for state, _ in self.evidence.states(role)]

    def transitions(self, role: str) -> list[str]:
        """The same from the kernel's own tracepoint (empty without a kernel trace)."""
        return self.evidence.transitions(role)

    def events(self, role: str, name: str | None = None) -> list[dict]:
        """``role``'s program events (all, or those named ``name``)."""
        return [e for e in self.evidence.events.get(role, []) if name in (None, e["event"])]

    def output(self, role: str) -> str:
        return self.evidence.logs.get(role, "")

    def exit_status(self, role: str) -> int | None:
        return self.evidence.exit_status.get(role)

    def describe(self) -> str:
        """The verdict, each failed check with what it expected and saw, and the report."""
        lines = [f"{self.record.scenario}/{self.record.variant}: {self.verdict.upper()}"
                 + (f" ({self.record.error})" if self.record.error else "")]
        lines += [f"  FAIL {c.name}: expected {c.expected}; observed {c.observed}"
                  for c in self.failed_checks]
        lines.append(f"  report: {self.report}")
        return "\n".join(lines)
