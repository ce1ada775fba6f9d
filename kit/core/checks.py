"""A check: one judged statement about a run, with what was expected and observed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum

# The claim of checks on the lab and its evidence (captures complete, link as asked,
# programs on time), not on the kernel: when one fails, the run cannot be judged.
LAB = "evidence"


class Verdict(str, Enum):
    """A run's verdict, run.json's ``verdict`` (a str: it is written and compared as its
    value)."""

    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"   # the lab did not hold the run's conditions
    ERROR = "error"                 # the run ended without a verdict (its error says why)

    def __str__(self) -> str:
        return self.value


class Outcome(str, Enum):
    """A check's outcome: not judged where no evidence the lab's kernel gives decides
    it (never a pass, never a failure)."""

    PASSED = "pass"
    FAILED = "fail"
    NOT_JUDGED = "not judged"

    def __str__(self) -> str:
        return self.value


PASSED, FAILED, NOT_JUDGED = Outcome.PASSED, Outcome.FAILED, Outcome.NOT_JUDGED


@dataclass(frozen=True)
class Check:
    """``judged`` False: no evidence the lab's kernel could give decides it (``observed``
    says what was missing, and why); such a check never passes and never fails a run."""

    name: str
    claim: str        # the lesson's claim ids it judges, e.g. "C10"
    passed: bool
    expected: str
    observed: str
    judged: bool = True

    @property
    def outcome(self) -> Outcome:
        return NOT_JUDGED if not self.judged else PASSED if self.passed else FAILED

    @property
    def failed(self) -> bool:
        return self.judged and not self.passed

    def to_json(self) -> dict:
        """run.json's form: ``judged`` appears only on a check that was not."""
        data = asdict(self)
        if self.judged:
            del data["judged"]
        return data


def not_judged(name: str, claim: str, expected: str, observed: str) -> Check:
    """A check that the evidence there is cannot decide."""
    return Check(name, claim, False, expected, observed, judged=False)


def verdict_of(checks: list[Check]) -> Verdict:
    """pass: every judged check passed (a check not judged is no failure, and is
    counted apart); inconclusive: the lab did not deliver the run's conditions (a LAB
    check failed), so the kernel's checks decide nothing; else fail."""
    failed = [check for check in checks if check.failed]
    if not failed:
        return Verdict.PASS
    return Verdict.INCONCLUSIVE if any(check.claim == LAB for check in failed) \
        else Verdict.FAIL


def unjudged(checks: list[Check]) -> list[Check]:
    return [check for check in checks if not check.judged]


def why_inconclusive(checks: list[Check]) -> str:
    """The failed LAB checks that make a run inconclusive, as one line."""
    failed = [check.name for check in checks if check.claim == LAB and check.failed]
    return (f"the lab did not hold the run's conditions ({', '.join(failed)}): the "
            "kernel's checks decide nothing; run it again on a less busy machine")
