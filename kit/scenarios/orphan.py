"""What a closed socket does with what still arrives: its orphan (the kernel keeps the
connection after close() until the peer is done) acknowledges a FIN (C19), answers data
with an RST (C4), and in FIN-WAIT-2 lives only for tcp_fin_timeout or TCP_LINGER2 (C20).
Not in the lesson, which shows only data meeting a closed socket.

- ``orphan``/``fin``: the server never replies, and ends after the client's FIN: its FIN
  reaches the client's orphan, which ACKs it and goes to TIME-WAIT; no RST at all;
  ``orphan``/``data``: the server replies after the close(): an RST answers the data.
- ``fin-timeout``/``expired``: the client sets TCP_LINGER2 to 1 s before close(); the
  server's reply comes later, finds no socket, and the kernel answers it with an RST
  "from no socket"; ``fin-timeout``/``alive``: the default 60 s, the orphan (as a
  time-wait mini-socket in FIN-WAIT-2) answers the reply itself.
"""

from __future__ import annotations

import dataclasses

from kit.observe import tracepoints
from kit.scenarios.base import (
    MESSAGES,
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
from kit.scenarios.checks import at, client_sent_rst

LINGER2_S = 1          # TCP_LINGER2 takes whole seconds
LONGER_THAN_LINGER2 = 2.5   # the server's delay, so that its reply comes after it


def first_reset(ev: Evidence, role: str) -> dict | None:
    return next(iter(ev.kernel_events(role, "tcp_send_reset")), None)


class OrphanScenario(Scenario):
    name = "orphan"
    summary = "a FIN reaching a closed socket is acknowledged; only data draws an RST"
    claims = ("C19", "C4")
    variants = {
        "fin": "the server ends without replying: the client's orphan ACKs its FIN and "
               "goes to TIME-WAIT, no RST",
        "data": "the server replies after the close(): an RST answers the data",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        extra = ["--silent"] if variant == "fin" else []
        script = [ScriptStep(0.0, MESSAGES[0]), ScriptStep(typing_gap(params), "close")]
        return Plan(server_args(params, *extra), client_args(params), script,
                    server_finish_timeout=params.server_delay + 10)

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        if variant == "data":
            return [client_sent_rst(evidence)]
        closed = evidence.first("client", "close")
        fin = next(iter(evidence.segments("server", "FIN")), None)
        slack = evidence.slack("client", "server")   # the two captures' clocks
        acked = [s for s in evidence.segments("client", "ACK")
                 if fin and s["t"] > fin["t"] - slack and s["ack"] == fin["seq"] + 1]
        resets = evidence.segments("client", "RST") + evidence.segments("server", "RST")
        states = [s for s, _ in evidence.states("client")]
        # Ordered on the client's own capture: its FIN (sent inside close()) leaves before
        # the server's arrives. close()'s logged time is when the call returned, which the
        # server's answer on a fast link can beat.
        client_fin = next(iter(evidence.segments("client", "FIN")), None)
        after_close = closed is not None and fin is not None and client_fin is not None \
            and (fin.get("t_arrived") or fin["t"] + slack) > client_fin["t"]
        return [
            Check("orphan-acks-fin", "C19", after_close and bool(acked) and not resets,
                  "the server's FIN reaches the client after its close() (after the "
                  "client's FIN); the orphan acknowledges it; no RST",
                  f"close() at {at(closed)}, client FIN at {at(client_fin)}; server FIN at "
                  f"{at(fin)}; client ACK of it at {at(acked[0]) if acked else '(none)'}; "
                  f"RSTs: {len(resets)}"),
            Check("orphan-time-wait", "C19", "TIME-WAIT" in states,
                  "the client's connection then waits in TIME-WAIT",
                  f"client, ss: {' -> '.join(states) or 'no socket seen'}"),
        ]


def socket_seen_at(ev: Evidence, role: str, t: float, interval: float) -> tuple[str, float] | None:
    """The state ss last saw ``role``'s connection in, and when, if that was within a few
    of its samples before ``t``; None if the socket was gone by then (or never seen)."""
    seen = [r for r in ev.samples.get(role, [])
            if r.state not in ("LISTEN", "UNCONN") and r.t is not None and r.t <= t]
    if not seen:
        return None
    last = max(seen, key=lambda record: record.rt)
    assert last.t is not None
    return (last.state, last.t) if t - last.t <= max(0.2, 5 * interval) else None


def reset_from(ev: Evidence, params: RunParameters, reply: dict | None, reset: dict | None,
               wanted: str) -> Check:
    """The kernel's reason for the RST that answers the reply. Where the kernel cannot
    trace it (before 6.10: no RST for a time-wait or no socket is traced, and none has a
    reason), the capture shows whether an RST answered, and ss whether a socket was there
    when the reply arrived: none (NO_SOCKET) or the orphan (TCP_TIMEWAIT_SOCKET)."""
    expected = f"an RST answers the reply; the kernel's reason: {wanted}"
    why = ev.unseen("client", tracepoints.RESET_REASONS)
    if why is None:
        return Check("reset-from", "C20 C4",
                     reset is not None and reset.get("reason") == wanted, expected,
                     f"kernel: {reset.get('reason')} in state {reset.get('state')} at "
                     f"{at(reset)}" if reset else "no tcp_send_reset traced on the client")
    after = reply["t"] - ev.slack("client", "server") if reply else None
    answer = next(iter(ev.segments("client", "RST", after=after)), None) if reply else None
    if reply is None or answer is None:
        return Check("reset-from", "C20 C4", False, expected,
                     f"no RST from the client after the reply (capture); kernel: {why}")
    arrived = reply.get("t_arrived") or reply["t"]
    socket = socket_seen_at(ev, "client", arrived, params.ss_interval)
    there = (f"ss saw the client's socket in {socket[0]} at {at({'t': socket[1]})}, as the "
             "reply arrived" if socket else "ss saw no client socket as the reply arrived")
    return Check("reset-from", "C20 C4", (socket is None) == (wanted == "NO_SOCKET"),
                 expected, f"RST from the client at {at(answer)} after the reply "
                 f"arrived at {at({'t': arrived})} (capture); {there}; the reason itself "
                 f"is not traced: {why}")


class FinTimeoutScenario(Scenario):
    name = "fin-timeout"
    summary = "an orphan in FIN-WAIT-2 lives tcp_fin_timeout (or TCP_LINGER2), then nothing"
    claims = ("C20", "C4")
    variants = {
        "expired": f"TCP_LINGER2 {LINGER2_S} s, the reply comes later: it finds no socket, "
                   "and the kernel answers it with an RST from no socket",
        "alive": "the default 60 s: the orphan, a time-wait mini-socket in FIN-WAIT-2, "
                 "answers the reply with an RST",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        slow = dataclasses.replace(
            params, server_delay=max(params.server_delay, LONGER_THAN_LINGER2))
        gap = typing_gap(params)
        setup = [ScriptStep(0.0, f"linger2 {LINGER2_S}")] if variant == "expired" else []
        script = [*setup, ScriptStep(0.0, MESSAGES[0]), ScriptStep(gap, "close")]
        return Plan(server_args(slow), client_args(slow), script,
                    server_finish_timeout=slow.server_delay + 10)

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        closed = evidence.first("client", "close")
        reply = next(iter(evidence.segments("server", with_data=True)), None)
        reset = first_reset(evidence, "client")
        wanted = "NO_SOCKET" if variant == "expired" else "TCP_TIMEWAIT_SOCKET"
        lived = (reply["t_arrived"] or reply["t"]) - closed["t"] if reply and closed else None
        in_fin_wait_2 = [t for s, t in evidence.states("client") if s == "FIN-WAIT-2"]
        later = f"more than {LINGER2_S} s " if variant == "expired" else ""
        return [
            Check("reply-after-close", "C20",
                  lived is not None and (lived > LINGER2_S or variant == "alive"),
                  f"the server's reply reaches the client {later}after its close()",
                  f"close() at {at(closed)}; the reply arrived at "
                  f"{at({'t': reply['t_arrived']}) if reply else '(never)'}"),
            reset_from(evidence, params, reply, reset, wanted),
            Check("fin-wait-2-seen", "C20", bool(in_fin_wait_2),
                  "ss sees the orphan in FIN-WAIT-2 after close()",
                  f"client in FIN-WAIT-2 (ss) from +{in_fin_wait_2[0]:.2f} s"
                  if in_fin_wait_2 and in_fin_wait_2[0] is not None else "never seen"),
        ]
