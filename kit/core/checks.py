"""A check: one judged statement about a run, with what was expected and observed."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Check:
    name: str
    claim: str        # the lesson's claim ids it judges, e.g. "C10"
    passed: bool
    expected: str
    observed: str

    def to_json(self) -> dict:
        return asdict(self)
