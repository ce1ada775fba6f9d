"""The lesson's own experiment at the lesson's own pace (C16): the server "processes"
for 5 s before each reply, and the client's lines come a second apart, as typed."""

from __future__ import annotations

import dataclasses

from kit.scenarios.base import (
    MESSAGES,
    Check,
    Evidence,
    Plan,
    RunParameters,
    ScriptStep,
)
from kit.scenarios.checks import at
from kit.scenarios.close import CloseScenario

LESSON_DELAY = 5.0    # the lesson's sleep(5) before each reply
TYPING_GAP = 1.0      # a person typing the next line


class LessonScenario(CloseScenario):
    name = "lesson"
    summary = "the close scenario at the lesson's pace: 5 s per reply, lines a second apart"
    claims: tuple[str, ...] = (*CloseScenario.claims, "C16")
    variants = {
        "graceful": "the lesson's experiment 2 (shutdown) at the lesson's pace",
        "abrupt": "the lesson's experiment 1 (close) at the lesson's pace",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        lesson = dataclasses.replace(params, server_delay=LESSON_DELAY)
        plan = super().plan(variant, lesson)
        ending = plan.script[-1].line
        plan.script[:] = [ScriptStep(0.0, MESSAGES[0]), ScriptStep(TYPING_GAP, MESSAGES[1]),
                          ScriptStep(2 * TYPING_GAP, ending)]
        return plan

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        lesson = dataclasses.replace(params, server_delay=LESSON_DELAY)
        checks = super().judge(variant, lesson, evidence)
        reads = [e for e in evidence.calls("server", "read") if e["ret"] > 0]
        writes = evidence.calls("server", "write")
        pauses = [w["t"] - r["t"] for r, w in zip(reads, writes)]
        checks.append(Check(
            "server-processes-5s", "C16",
            bool(pauses) and all(abs(p - LESSON_DELAY) < 0.1 for p in pauses),
            "the server replies 5 s after each message (the lesson's processing time)",
            "read to reply: " + ", ".join(f"{p:.3f} s" for p in pauses)))
        stdin_lines = [e for e in evidence.calls("client", "write") if e["ret"] > 0]
        checks.append(Check(
            "typed-at-a-human-pace", "C16",
            len(stdin_lines) == 2 and stdin_lines[1]["t"] - stdin_lines[0]["t"] > 0.9,
            "the client's lines come a second apart, read with select() while replies "
            "may arrive",
            "client sent " + ", ".join(f"{e['data']!r} at {at(e)}" for e in stdin_lines)))
        return checks
