"""When the client closes decides what it shows (C15: the reader who saw "Hi, data1"
after typing close had typed it after the reply arrived)."""

from __future__ import annotations

from kit.scenarios.base import (
    MESSAGES,
    Check,
    Evidence,
    Plan,
    RunParameters,
    Scenario,
    ScriptStep,
    exchange_plan,
    typing_gap,
)
from kit.scenarios.checks import at


class TimingScenario(Scenario):
    name = "timing"
    summary = "the abrupt close before or after the first reply arrives"
    claims = ("C15",)
    variants = {
        "close-before-reply": "close() before Hi, data1 arrives: the client shows nothing",
        "close-after-reply": "close() after Hi, data1 arrives: the client shows it; "
                             "Hi, data2 draws the RST",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        plan = exchange_plan(params, "close")
        if variant == "close-after-reply":
            # Between the first reply (server_delay after data1) and the second (twice that).
            plan.script[-1] = ScriptStep(
                params.server_delay + params.link_rtt + typing_gap(params), "close")
        return plan

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        closed = evidence.first("client", "close")
        shown = [line for line in evidence.logs.get("client", "").splitlines()
                 if line.startswith("Hi,")]
        rst = next(iter(evidence.segments("client", "RST")), None)
        slack = evidence.slack("server", "client")   # the two captures' clocks
        answered = [s for s in evidence.segments("server", with_data=True)
                    if rst and s["t"] <= rst["t"] + slack]
        last = answered[-1]["payload"] if answered else None
        reply = next(iter(evidence.segments("server", with_data=True)), None)
        arrived = reply.get("t_arrived") if reply else None
        before = variant == "close-before-reply"
        if before:
            wanted_shown, wanted_reset = [], f"Hi, {MESSAGES[0]}"
        else:
            wanted_shown, wanted_reset = [f"Hi, {MESSAGES[0]}"], f"Hi, {MESSAGES[1]}"
        return [
            Check("close-timed", "C15",
                  closed is not None and arrived is not None
                  and (closed["t"] < arrived) == before,
                  f"the client's close() returns {'before' if before else 'after'} "
                  f"Hi, {MESSAGES[0]} reaches it",
                  f"close() at {at(closed)}; Hi, {MESSAGES[0]} arrived at "
                  f"{f'+{arrived:.3f} s' if arrived is not None else '(never)'}"),
            Check("client-shows", "C15", shown == wanted_shown,
                  f"the client shows {wanted_shown or 'no reply'}",
                  f"close() at {at(closed)}; the client showed {shown or 'no reply'}"),
            Check("reset-answers", "C4 C15", last == wanted_reset,
                  f"the client's RST answers {wanted_reset!r}, the first reply after close()",
                  f"RST at {at(rst)} after the server's {last!r}" if rst else "no RST"),
        ]
