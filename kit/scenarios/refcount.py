"""A socket shared with a forked child: close() drops one reference, shutdown() acts on
the connection itself (C2, C7, C9a, C9b, C9c)."""

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
)
from kit.scenarios.checks import at, reads_text


class RefcountScenario(Scenario):
    name = "refcount"
    summary = "the client forks a child that keeps the socket, then close() or shutdown()"
    claims = ("C2", "C7", "C9a", "C9b", "C9c")
    variants = {
        "close": "the parent's close() sends no FIN while the child holds the socket; the "
                 "child still talks; the FIN leaves when the child exits",
        "shutdown": "the parent's shutdown(SHUT_WR) sends a FIN at once; the child can no "
                    "longer write, but still reads",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        delay = params.server_delay
        gap = min(delay / 4, 0.5)
        script = [ScriptStep(0.0, "fork"), ScriptStep(0.0, MESSAGES[0]),
                  ScriptStep(gap, variant), ScriptStep(gap, "probe"),
                  ScriptStep(2 * gap, f"child {MESSAGES[1]}")]
        if variant == "close":
            # After both replies (delay and 2 x delay after data1), the last holder goes.
            script.append(ScriptStep(2 * delay + params.link_rtt + gap, "child exit"))
        # SIGPIPE ignored in the client: the child's failed write is logged, not fatal.
        return Plan(server_args(params), client_args(params, "--sigpipe", "ignore"), script,
                    server_finish_timeout=delay * 3 + 10)

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        ending = evidence.first("client", variant)
        probe = evidence.first("client", "getsockopt")
        fins = evidence.segments("client", "FIN")
        fin = fins[0] if fins else None
        child_writes = evidence.calls("client", "write", prog=CHILD)
        child_reads = evidence.calls("client", "read", prog=CHILD)
        child_exit = next(iter(evidence.calls("client", "exit", prog=CHILD)), None)
        got = reads_text(child_reads)
        if variant == "close":
            return [
                Check("no-fin-while-shared", "C2 C9c",
                      ending is not None and fin is not None and child_exit is not None
                      and fin["t"] >= child_exit["t"] - WITHIN_CALL,
                      "the parent's close() sends no FIN: the child still holds the socket",
                      f"close() at {at(ending)}; client FIN at {at(fin)}; child exit at "
                      f"{at(child_exit)}"),
                Check("fin-when-last-holder-goes", "C2",
                      fin is not None and child_exit is not None
                      and evidence.sent_within_call("client", fin, child_exit, window=0.5),
                      "the FIN leaves when the last holder (the child) closes by exiting",
                      f"child exit at {at(child_exit)}, FIN at {at(fin)}"),
                Check("child-still-talks", "C9b",
                      bool(child_writes) and child_writes[0]["ret"] > 0
                      and got[:2] == [f"Hi, {m}" for m in MESSAGES],
                      "after the parent's close() the child sends data2 and reads both replies",
                      f"child wrote {[e.get('data', e.get('errno')) for e in child_writes]}; "
                      f"read {got}"),
                Check("descriptor-released", "C9a",
                      probe is not None and probe["ret"] < 0 and probe.get("errno") == "EBADF",
                      "after close() the parent's descriptor is gone (getsockopt: EBADF)",
                      f"getsockopt at {at(probe)} returned {probe['ret']} {probe.get('errno', '')}"
                      if probe else "no probe"),
            ]
        return [
            Check("fin-at-once", "C7 C9c",
                  ending is not None and fin is not None
                  and evidence.sent_within_call("client", fin, ending),
                  "shutdown(SHUT_WR) sends the FIN at once, whatever the reference count",
                  f"shutdown at {at(ending)}, client FIN at {at(fin)}"),
            Check("child-cannot-write", "C9b",
                  bool(child_writes) and child_writes[0]["ret"] < 0
                  and child_writes[0].get("errno") == "EPIPE",
                  "the shutdown affects every holder: the child's write fails with EPIPE",
                  f"child's write returned {child_writes[0]['ret']} "
                  f"{child_writes[0].get('errno', '')} at {at(child_writes[0])}"
                  if child_writes else "the child wrote nothing"),
            Check("child-still-reads", "C7", got[:1] == [f"Hi, {MESSAGES[0]}"] and "EOF" in got,
                  "the other direction still works: the child reads Hi, data1, then EOF",
                  f"child read {got}"),
            Check("descriptor-kept", "C9a", probe is not None and probe["ret"] == 0,
                  "after shutdown() the descriptor and socket remain (getsockopt works)",
                  f"getsockopt at {at(probe)} returned {probe['ret']}" if probe else "no probe"),
        ]
