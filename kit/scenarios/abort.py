"""Two ways close() resets a connection instead of closing it (RFC 2525 2.17, SO_LINGER):

- ``unread``: close() with unread bytes in the receive queue sends an RST, not a FIN;
- ``linger``: SO_LINGER {1, 0} makes close() send an RST and skip TIME-WAIT.

Each has a control variant where close() sends its FIN.
"""

from __future__ import annotations

from kit.hosts.base import describe_exit
from kit.observe import counters
from kit.observe.capture import describe
from kit.scenarios.base import (
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

ABORT_ON_CLOSE = "TcpExtTCPAbortOnClose"
# Linux counts a zero-linger close() under TCPAbortOnData (tcp_close()); TCPAbortOnLinger
# counts orphans killed in FIN-WAIT-2 by a negative TCP_LINGER2 instead.
ABORT_ON_ZERO_LINGER = "TcpExtTCPAbortOnData"



def closing_segment(ev: Evidence, reset: bool, claim: str, why: str) -> Check:
    """close()'s own segment: a FIN, or (``reset``) an RST and no FIN at all."""
    closed = ev.first("client", "close")
    fins = ev.segments("client", "FIN")
    resets = [s for s in ev.segments("client", "RST")
              if closed and ev.sent_within_call("client", s, closed)]
    if reset:
        passed = bool(resets) and not fins
        expected = f"close() sends an RST and no FIN ({why})"
    else:
        passed = bool(fins) and closed is not None and \
            ev.sent_within_call("client", fins[0], closed) and not resets
        expected = f"close() sends a FIN ({why})"
    sent = resets[0] if resets else (fins[0] if fins else None)
    observed = (f"close() at {at(closed)}; client sent {describe(sent)} at {at(sent)}"
                if sent else f"close() at {at(closed)}; no FIN or RST from the client")
    reasons = [r for r in ev.kernel_events("client", "tcp_send_reset")
               if closed and abs(r["t"] - closed["t"]) < WITHIN_CALL]
    if reasons:   # before 6.10 the tracepoint gives no reason
        reason = reasons[0].get("reason")
        observed += f"; kernel: reset in state {reasons[0].get('state')}" \
                    + (f", reason {reason}" if reason else "")
    return Check("close-sends-" + ("rst" if reset else "fin"), claim, passed, expected, observed)


def counter_moved(ev: Evidence, name: str, claim: str, moved: bool, note: str = "") -> Check:
    value = ev.counters.get("client", {}).get(name, 0)
    return Check(f"{name}-{'moved' if moved else 'still'}", claim, (value > 0) == moved,
                 f"the client's {name} counter {'goes up' if moved else 'does not move'}{note}",
                 f"{name} +{value}; TcpOutRsts "
                 f"+{ev.counters.get('client', {}).get(counters.RST_SENT, 0)}")


def server_sees_reset(ev: Evidence, claim: str) -> Check:
    failed = [e for e in ev.events.get("server", [])
              if e["event"] in ("read", "write") and e.get("ret", 0) < 0]
    first = failed[0] if failed else None
    return Check("server-sees-reset", claim,
                 first is not None and first.get("errno") == "ECONNRESET",
                 "the server's next read or write fails with ECONNRESET",
                 f"{first['event']}() at {at(first)} returned {first['ret']} "
                 f"{first.get('errno')}; server: {describe_exit(ev.exit_status.get('server'))}"
                 if first else "no call of the server failed")


def no_time_wait(ev: Evidence, claim: str, expect_time_wait: bool) -> Check:
    states = [s for s, _ in ev.states("client")]
    seen = "TIME-WAIT" in states
    return Check("client-time-wait" if expect_time_wait else "no-time-wait", claim,
                 seen == expect_time_wait,
                 "the client's socket ends in TIME-WAIT" if expect_time_wait else
                 "the client's socket skips TIME-WAIT",
                 f"client, ss: {' -> '.join(states) or 'no socket seen'}")


class UnreadScenario(Scenario):
    name = "unread"
    summary = "close() with unread bytes in the receive queue: an RST instead of a FIN"
    claims = ("C3",)
    variants = {
        "unread": "the client stops reading, Hi, data1 arrives, then close(): an RST",
        "read": "the client reads Hi, data1, then close(): a FIN (the control)",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        # Close once the reply has arrived (it is written server_delay after data1).
        late = params.server_delay + params.link_rtt + min(0.5, params.server_delay / 2)
        script = [ScriptStep(0.0, "pause")] if variant == "unread" else []
        script += [ScriptStep(0.0, "data1"), ScriptStep(late, "close")]
        return Plan(server_args(params), client_args(params), script,
                    server_finish_timeout=params.server_delay * 2 + 10)

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        reply = next(iter(evidence.segments("server", with_data=True)), None)
        closed = evidence.first("client", "close")
        checks = [Check("reply-arrived-before-close", "C15",
                        bool(reply and closed and reply["t_arrived"] and
                             reply["t_arrived"] < closed["t"]),
                        "Hi, data1 reaches the client before its close()",
                        f"reply arrived at +{reply['t_arrived']:.3f} s, close() at {at(closed)}"
                        if reply and reply.get("t_arrived") else "no reply seen")]
        if variant == "unread":
            checks += [
                closing_segment(evidence, True, "C3", "unread data would be lost: RFC 2525 "
                                "2.17; the lesson says a FIN"),
                counter_moved(evidence, ABORT_ON_CLOSE, "C3", True),
                server_sees_reset(evidence, "C3"),
                no_time_wait(evidence, "C3", False),
            ]
        else:
            reads = [e for e in evidence.calls("client", "read") if e["ret"] > 0]
            checks += [
                Check("client-read-reply", "C15", [e["data"] for e in reads] == ["Hi, data1"],
                      "the client reads Hi, data1 before its close()",
                      f"client read {[e['data'] for e in reads]}"),
                closing_segment(evidence, False, "C3", "nothing was left unread"),
                counter_moved(evidence, ABORT_ON_CLOSE, "C3", False),
            ]
        return checks


class LingerScenario(Scenario):
    name = "linger"
    summary = "SO_LINGER {1, 0} then close(): an RST, no FIN, no TIME-WAIT"
    claims = ("C3",)
    variants = {
        "abort": "the client sets SO_LINGER {1, 0}, sends data1, then close(): an RST",
        "default": "the client sends data1, then close(): a FIN (the control)",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        gap = typing_gap(params)
        script = [ScriptStep(0.0, "linger")] if variant == "abort" else []
        script += [ScriptStep(0.0, "data1"), ScriptStep(gap, "close")]
        return Plan(server_args(params), client_args(params), script,
                    server_finish_timeout=params.server_delay * 2 + 10)

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        if variant == "abort":
            return [closing_segment(evidence, True, "C3", "SO_LINGER {1, 0} aborts"),
                    counter_moved(evidence, ABORT_ON_ZERO_LINGER, "C3", True,
                                  " (Linux counts a zero-linger abort there, not under "
                                  "TCPAbortOnLinger)"),
                    server_sees_reset(evidence, "C3"),
                    no_time_wait(evidence, "C3", False)]
        return [closing_segment(evidence, False, "C3", "the default linger")]
