"""A check: one judged statement about a run, with what was expected and observed."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# The claim of checks on the lab and its evidence (captures complete, link as asked,
# programs on time), not on the kernel: when one fails, the run cannot be judged.
LAB = "evidence"


@dataclass(frozen=True)
class Check:
    name: str
    claim: str        # the lesson's claim ids it judges, e.g. "C10"
    passed: bool
    expected: str
    observed: str

    def to_json(self) -> dict:
        return asdict(self)


def verdict_of(checks: list[Check]) -> str:
    """pass: every check passed; inconclusive: the lab did not deliver the run's
    conditions (a LAB check failed), so the kernel's checks decide nothing; else fail."""
    failed = [check for check in checks if not check.passed]
    if not failed:
        return "pass"
    return "inconclusive" if any(check.claim == LAB for check in failed) else "fail"


def why_inconclusive(checks: list[Check]) -> str:
    """The failed LAB checks that make a run inconclusive, as one line."""
    failed = [check.name for check in checks if check.claim == LAB and not check.passed]
    return (f"the lab did not hold the run's conditions ({', '.join(failed)}): the "
            "kernel's checks decide nothing; run it again on a less busy machine")
