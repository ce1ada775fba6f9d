"""What an RST leaves behind depends on the state it arrives in (C17, C18; not in the
lesson, which only shows the CLOSE-WAIT case). The kernel's tcp_reset() sets the socket's
pending error to EPIPE in CLOSE-WAIT and to ECONNRESET in ESTABLISHED; the next write
reports that error (sk_stream_error() raises SIGPIPE only for EPIPE), and every write
after it gets EPIPE and SIGPIPE (the socket is shut down both ways). A read returns what
was already received first, then the error once, then 0 (tcp_recvmsg()).

- ``established``: the client aborts (SO_LINGER {1, 0}) while the server works on its
  reply; the server, under SIGPIPE's default disposition, writes on after a failed write;
- ``close-wait``: the client close()s as in the lesson; the same server;
- ``read-first``: the client stops reading, the server replies and aborts; the client
  then reads.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

from kit.core.checks import not_judged
from kit.hosts.base import describe_exit
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
from kit.scenarios.checks import at, reads_text

KILLED_BY_SIGPIPE = 128 + 13
DRAIN_MARGIN = 0.5   # after the reply is due: time for it and the abort to arrive


class Arrival(NamedTuple):
    state: str | None
    received: dict | None = None   # the kernel's tcp_receive_reset
    # Where the kernel could not show it: what the capture and ss showed instead
    seen: str | None = None
    decidable: bool = True   # False: the RST arrived, but nothing showed in which state


def reset_arrived_in(ev: Evidence, role: str) -> Arrival:
    """The state ``role``'s socket was in when an RST reached it: from the kernel (its
    tcp_receive_reset, then the move to CLOSE it caused); where the kernel cannot show
    it, from the capture (when the RST arrived) and ss (the state it last saw before)."""
    unseen = ev.unseen(role, tracepoints.RESET_RECEIVED) \
        or ev.unseen(role, tracepoints.STATE_CHANGES)
    if unseen is None:
        received = next(iter(ev.kernel_events(role, "tcp_receive_reset")), None)
        moves = [r for r in ev.kernel_events(role, "inet_sock_set_state")
                 if received and r["newstate"] == "CLOSE" and r["t"] >= received["t"] - 0.001]
        return Arrival(moves[0]["oldstate"] if moves else None, received)
    rst = next((s for s in ev.packets if s["to"] == role and "RST" in s["flags"]
                and s.get("t_arrived") is not None), None)
    if rst is None:
        return Arrival(None, seen=f"no RST reached the {role} (capture); kernel: {unseen}")
    before = [state for state, t in ev.states(role) if t is not None and t <= rst["t_arrived"]]
    where = f"the RST reached the {role} at {at({'t': rst['t_arrived']})} (capture)"
    if not before:
        return Arrival(None, seen=f"{where}; ss saw no state of its socket before; "
                                  f"kernel: {unseen}", decidable=False)
    return Arrival(before[-1], seen=f"{where}, its socket last seen in {before[-1]} by ss; "
                                    f"kernel: {unseen}")


class ResetScenario(Scenario):
    name = "reset"
    summary = "the error an RST leaves depends on the state it arrives in"
    claims = ("C17", "C18")
    variants = {
        "established": "the client aborts; in ESTABLISHED the server's next write fails "
                       "with ECONNRESET and no SIGPIPE, the one after with EPIPE and SIGPIPE",
        "close-wait": "the client closes; in CLOSE-WAIT the server's next write after the "
                      "RST fails with EPIPE and raises SIGPIPE at once",
        "read-first": "the server replies then aborts; the client's reads return the "
                      "reply, then ECONNRESET once, then 0",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        gap = typing_gap(params)
        writer = dataclasses.replace(params, sigpipe="default")
        if variant == "read-first":
            # The reply waits unread in the client's queue while the server aborts.
            script = [ScriptStep(0.0, "pause"), ScriptStep(0.0, MESSAGES[0]),
                      ScriptStep(params.server_delay + params.link_rtt + DRAIN_MARGIN,
                                 "drain")]
            return Plan(server_args(params, "--abort-after", "1"), client_args(params),
                        script, server_finish_timeout=params.server_delay + 10)
        ending = ["linger", "close"] if variant == "established" else ["close"]
        script = [ScriptStep(0.0, MESSAGES[0]), ScriptStep(gap, MESSAGES[1]),
                  *(ScriptStep(2 * gap, line) for line in ending)]
        return Plan(server_args(writer, "--keep-going"), client_args(params), script,
                    server_finish_timeout=len(MESSAGES) * params.server_delay + 10)

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        if variant == "read-first":
            return [self._reader(evidence)]
        expected_state = "ESTAB" if variant == "established" else "CLOSE-WAIT"
        arrival = reset_arrived_in(evidence, "server")
        expected = f"the RST reaches the server's socket in {expected_state}"
        observed = arrival.seen or ("kernel: the server's socket went from "
                                    f"{arrival.state or '(no reset traced)'} to CLOSE on the RST")
        arrives = Check("reset-arrives-in", "C17", arrival.state == expected_state, expected,
                        observed) if arrival.decidable else \
            not_judged("reset-arrives-in", "C17", expected, observed)
        return [arrives, self._writes(variant, evidence)]

    @staticmethod
    def _writes(variant: str, ev: Evidence) -> Check:
        writes = ev.calls("server", "write")
        failed = [w for w in writes if w["ret"] < 0]
        status = ev.exit_status.get("server")
        observed = (f"server writes: {[w.get('errno') or w['ret'] for w in writes]}; "
                    f"server: {describe_exit(status)}")
        if variant == "established":
            # Killed inside the second send(): its write is never logged.
            passed = ([w.get("errno") for w in failed] == ["ECONNRESET"]
                      and status == KILLED_BY_SIGPIPE)
            expected = ("the first write fails with ECONNRESET and raises no SIGPIPE (the "
                        "server lives on); the next one raises SIGPIPE, which kills it")
        else:
            passed = not failed and any(w["ret"] > 0 for w in writes) \
                and status == KILLED_BY_SIGPIPE
            expected = ("the reply that draws the RST succeeds; the next write raises "
                        "SIGPIPE at once (EPIPE), which kills the server")
        return Check("writes-after-reset", "C17", passed, expected, observed)

    @staticmethod
    def _reader(ev: Evidence) -> Check:
        results = reads_text(ev.calls("client", "read"))
        wanted = [f"Hi, {MESSAGES[0]}", "ECONNRESET", "EOF"]
        arrival = reset_arrived_in(ev, "client")
        expected = ("after an RST in ESTABLISHED, read() returns the data already received, "
                    "then fails once with ECONNRESET, then returns 0")
        observed = f"client reads: {results}; " + (
            arrival.seen or f"the RST reached the client's socket in "
                            f"{arrival.state or '(no reset traced)'} at {at(arrival.received)}")
        if results[-3:] == wanted and not arrival.decidable:
            return not_judged("reads-after-reset", "C18", expected, observed)
        return Check("reads-after-reset", "C18",
                     results[-3:] == wanted and arrival.state == "ESTAB", expected, observed)
