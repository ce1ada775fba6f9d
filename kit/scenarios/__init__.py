"""The scenario catalog."""

from __future__ import annotations

from kit.core.command import command
from kit.core.errors import BadInput
from kit.scenarios.abort import LingerScenario, UnreadScenario
from kit.scenarios.base import (
    Check,
    Evidence,
    Plan,
    RunParameters,
    Scenario,
    ScriptStep,
)
from kit.scenarios.close import CloseScenario
from kit.scenarios.ending import ExitScenario, ShutRdScenario
from kit.scenarios.lesson import LessonScenario
from kit.scenarios.lingering import LingerTimeoutScenario
from kit.scenarios.orphan import FinTimeoutScenario, OrphanScenario
from kit.scenarios.refcount import RefcountScenario
from kit.scenarios.reset import ResetScenario
from kit.scenarios.sigpipe import SigpipeScenario
from kit.scenarios.timing import TimingScenario

CATALOG: dict[str, Scenario] = {s.name: s for s in (
    CloseScenario(), LessonScenario(), SigpipeScenario(), TimingScenario(), UnreadScenario(),
    LingerScenario(), ExitScenario(), ShutRdScenario(), RefcountScenario(), ResetScenario(),
    OrphanScenario(), FinTimeoutScenario(), LingerTimeoutScenario())}

__all__ = ["CATALOG", "Check", "Evidence", "Plan", "RunParameters", "Scenario", "ScriptStep",
           "get_scenario"]


def get_scenario(name: str) -> Scenario:
    try:
        return CATALOG[name]
    except KeyError:
        raise BadInput(f"unknown scenario {name!r}: choose one of {', '.join(sorted(CATALOG))} "
                       f"or all ('{command('scenarios')}' describes them)") from None
