"""SO_LINGER with a timeout (C21; not in the lesson): close() on a lingering socket
waits, up to the timeout, for the peer to acknowledge everything it sent, its FIN
included (inet_release() -> tcp_close() -> sk_stream_wait_close()). Only a slow link
makes the wait visible, so this scenario shapes its own: 300 ms one way, or 1 s.

- ``acked``: SO_LINGER {1, 5} over a 600 ms round trip: close() returns once the FIN's
  ACK is back, about one round trip after it was called;
- ``timeout``: SO_LINGER {1, 1} over a 2 s round trip: close() returns when its second
  runs out, before the ACK arrives;
- ``exit``: SO_LINGER {1, 5} over a 2 s round trip, and the socket's last holder (a
  forked child) exits instead of calling close(): an exiting process never waits
  (inet_release() skips the linger time when the task has PF_EXITING set). The parent
  reaps the child, so the child's end is a logged time.
"""

from __future__ import annotations

from kit.scenarios.base import (
    CHILD,
    MESSAGES,
    WITHIN_CALL,
    Check,
    Evidence,
    Plan,
    RunParameters,
    Scenario,
    ScriptStep,
    client_args,
    server_args,
    typing_gap,
)
from kit.scenarios.checks import at

# linger, latency, RTT
SETTINGS = {"acked": (5, "300ms", 0.6), "timeout": (1, "1s", 2.0), "exit": (5, "1s", 2.0)}
EXIT_WITHIN = 0.3   # an exit that waited would take the round trip, 2 s


def fin_acked(ev: Evidence) -> dict | None:
    """The server's segment acknowledging the client's FIN."""
    fin = next(iter(ev.segments("client", "FIN")), None)
    if fin is None:
        return None
    return next((s for s in ev.segments("server", "ACK") if s["ack"] == fin["seq"] + 1), None)


class LingerTimeoutScenario(Scenario):
    name = "linger-timeout"
    summary = "SO_LINGER with a timeout: close() waits for the peer's ACK, or the timeout"
    claims = ("C21",)
    variants = {
        "acked": "SO_LINGER {1, 5}, 600 ms round trip: close() returns with the FIN's ACK",
        "timeout": "SO_LINGER {1, 1}, 2 s round trip: close() returns after 1 s, before it",
        "exit": "SO_LINGER {1, 5}, 2 s round trip: the last holder exits at once, and the "
                "FIN still leaves",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        linger, latency, rtt = SETTINGS[variant]
        script = [ScriptStep(0.0, f"linger {linger}"), ScriptStep(0.0, MESSAGES[0])]
        if variant == "exit":
            # The parent drops its reference; the child, the last holder, exits.
            gap = typing_gap(params)
            script += [ScriptStep(0.0, "fork"), ScriptStep(gap, "close"),
                       ScriptStep(gap, "child exit"), ScriptStep(gap, "reap")]
        else:
            script.append(ScriptStep(typing_gap(params), "close"))
        # The server reads, never replies, and ends on the client's FIN.
        return Plan(server_args(params, "--silent"), client_args(params), script,
                    server_finish_timeout=linger + 4 * rtt + 10, link={"latency": latency})

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        if variant == "exit":
            return [exit_does_not_linger(evidence)]
        linger, _, rtt = SETTINGS[variant]
        called = evidence.first("client", "closing")
        returned = evidence.first("client", "close")
        ack = fin_acked(evidence)
        acked_at = ack.get("t_arrived") if ack else None
        returned_at = returned["t"] if returned else None
        blocked = returned_at - called["t"] if called and returned_at is not None else None
        if variant == "acked":
            passed = (blocked is not None and acked_at is not None and blocked > 0.8 * rtt
                      and returned_at is not None and returned_at >= acked_at - WITHIN_CALL)
            expected = (f"close() blocks about one round trip ({rtt:g} s) and returns once "
                        "the FIN's ACK has arrived")
        else:
            passed = (blocked is not None and abs(blocked - linger) < 0.3
                      and returned_at is not None
                      and (acked_at is None or returned_at < acked_at))
            expected = (f"close() returns when its {linger} s run out, before the FIN's "
                        "ACK arrives")
        return [Check(
            "close-lingers", "C21", passed, expected,
            f"close() called at {at(called)}, returned {returned['ret'] if returned else '?'} "
            f"at {at(returned)} (blocked {f'{blocked:.3f} s' if blocked is not None else '?'}); "
            f"the FIN's ACK arrived at {f'+{acked_at:.3f} s' if acked_at else '(never)'}")]


def exit_does_not_linger(evidence: Evidence) -> Check:
    exited = next(iter(evidence.calls("client", "exit", prog=CHILD)), None)
    reaped = evidence.first("client", "reaped")
    fin = next(iter(evidence.segments("client", "FIN")), None)
    ack = fin_acked(evidence)
    acked_at = ack.get("t_arrived") if ack else None
    reaped_at = reaped["t"] if reaped and reaped["ret"] > 0 else None
    ended = reaped_at - exited["t"] if exited and reaped_at is not None else None
    passed = (ended is not None and ended < EXIT_WITHIN and fin is not None
              and acked_at is not None and reaped_at is not None and acked_at > reaped_at
              and not evidence.segments("client", "RST"))
    return Check(
        "exit-does-not-linger", "C21", passed,
        f"the lingering socket's last holder ends within {EXIT_WITHIN:g} s of exit() "
        "although the FIN's ACK comes a round trip later; the FIN still leaves, no RST",
        f"the child exited at {at(exited)} and was reaped at {at(reaped)} "
        f"({f'{ended:.3f} s' if ended is not None else '?'}); FIN at {at(fin)}; its ACK "
        f"arrived at {f'+{acked_at:.3f} s' if acked_at else '(never)'}; "
        f"client RSTs: {len(evidence.segments('client', 'RST'))}")
