"""The lesson's two experiments: the client ends with close() (abrupt) or shutdown(SHUT_WR)
(graceful) while the server is still working on its replies.

Claims judged (docs/lesson-claims): C1, C3, C4, C5, C10, C11, and C13 for the
server's SIGPIPE disposition.
"""

from __future__ import annotations

from kit.hosts.base import describe_exit
from kit.observe import counters
from kit.observe.capture import describe
from kit.observe.events import received_data
from kit.scenarios.base import (
    Check,
    Evidence,
    Plan,
    RunParameters,
    Scenario,
    ScriptStep,
    client_args,
    server_args,
)

MESSAGES = ("data1", "data2")


def at(event: dict | None) -> str:
    return f"+{event['t']:.3f} s" if event and event.get("t") is not None else "(never)"


def read_result(event: dict | None) -> str:
    if event is None:
        return "none"
    if event["ret"] > 0:
        return f"{event['ret']} bytes"
    return "EOF" if event["ret"] == 0 else event.get("errno", "error")


def path_text(path: list[tuple[str, float | None]]) -> str:
    return " -> ".join(f"{state} ({'+%.2f s' % t if t is not None else '?'})"
                       for state, t in path) or "no socket seen"


def in_order(path: list[tuple[str, float | None]], wanted: list[str]) -> bool:
    """True if the states in ``wanted`` appear in ``path`` in that order."""
    states = iter(state for state, _ in path)
    return all(any(state == w for state in states) for w in wanted)


class CloseScenario(Scenario):
    name = "close"
    summary = "close() versus shutdown(SHUT_WR) while the server still has replies to send"
    claims = ("C1", "C3", "C4", "C5", "C10", "C11", "C13")
    variants = {
        "graceful": "client sends data1, data2, then shutdown(SHUT_WR): replies still arrive",
        "abrupt": "client sends data1, data2, then close(): the first reply draws an RST",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        delay = params.server_delay
        # The close must come before the first reply (sent `delay` after data1 arrives),
        # as in the lesson, where the user typed faster than the server answered.
        gap = min(delay / 4, 0.5)
        ending = "close" if variant == "abrupt" else "shutdown"
        script = [ScriptStep(0.0, MESSAGES[0]), ScriptStep(gap, MESSAGES[1]),
                  ScriptStep(2 * gap, ending)]
        replies_done = len(MESSAGES) * delay
        return Plan(server_args(params), client_args(params), script,
                    server_finish_timeout=replies_done + 10)

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        checks = [self.captures_complete(evidence), self._server_received_both(evidence),
                  self._replies_came_after_end(variant, evidence)]
        if variant == "abrupt":
            checks += [self._client_sent_fin(evidence),
                       self._no_reply_after_close(evidence), self.client_sent_rst(evidence),
                       self.server_next_write(params, evidence),
                       self._exited_normally(evidence, "client", "C10")]
            kernel_paths = {"client": ["ESTAB", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE"],
                            "server": ["ESTAB", "CLOSE-WAIT", "CLOSE"]}
        else:
            checks += [self._fins_both_ways(evidence),
                       self._client_got_replies(evidence), self._client_read_eof(evidence),
                       self._server_read_eof(evidence),
                       self._exited_normally(evidence, "client", "C11"),
                       self._exited_normally(evidence, "server", "C11"),
                       self._client_states(evidence), self._server_states(evidence),
                       self._no_rst(evidence)]
            kernel_paths = {"client": ["ESTAB", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE"],
                            "server": ["ESTAB", "CLOSE-WAIT", "LAST-ACK", "CLOSE"]}
        # Without a kernel trace (run.json says why) the transitions cannot be judged.
        if evidence.kernel is not None:
            checks += [self._kernel_path(evidence, role, path, variant)
                       for role, path in kernel_paths.items()]
        return checks

    # -- evidence (shared: the other scenarios call these too) ----------------------

    @staticmethod
    def captures_complete(ev: Evidence) -> Check:
        counts = ev.capture_counts
        complete = bool(counts) and all(
            c.get("captured") == c.get("received") and not c.get("dropped")
            for c in counts.values())
        return Check("captures-complete", "evidence", complete and bool(ev.packets),
                     "each host's capture holds every packet its filter received",
                     "; ".join(f"{role}: {c.get('captured')} captured of {c.get('received')}, "
                               f"{c.get('dropped')} dropped" for role, c in counts.items())
                     + f"; {len(ev.packets)} segments matched")

    @staticmethod
    def _kernel_path(ev: Evidence, role: str, wanted: list[str], variant: str) -> Check:
        path = ev.transitions(role)
        note = ""
        if role == "client":
            note = (" (FIN-WAIT-2 -> CLOSE: the socket is handed to a time-wait "
                    "mini-socket, which ss shows as " +
                    ("TIME-WAIT)" if variant == "graceful" else "FIN-WAIT-2 until the RST)"))
        return Check(f"{role}-kernel-transitions", "C3 C10" if variant == "abrupt" else "C11",
                     in_order([(state, None) for state in path], wanted),
                     f"the kernel moves the {role}'s socket through {' -> '.join(wanted)}{note}",
                     f"{role}: {' -> '.join(path) or 'no transition traced'}")

    # -- both variants ---------------------------------------------------------------

    @staticmethod
    def _server_received_both(ev: Evidence) -> Check:
        got = received_data(ev.events.get("server", []))
        reads = [f"{e['data']!r} at {at(e)}" for e in ev.calls("server", "read") if e["ret"] > 0]
        return Check("server-received-both", "C10 C11", got == "".join(MESSAGES),
                     "the server reads data1 and data2",
                     f"server read {', '.join(reads) or 'nothing'}")

    @staticmethod
    def _replies_came_after_end(variant: str, ev: Evidence) -> Check:
        ending = ev.first("client", "close" if variant == "abrupt" else "shutdown")
        writes = ev.calls("server", "write")
        passed = bool(ending and writes and writes[0]["t"] > ending["t"])
        call = "close()" if variant == "abrupt" else "shutdown()"
        return Check("replies-after-client-" + ("close" if variant == "abrupt" else "shutdown"),
                     "C15", passed,
                     f"the server's first reply is written after the client's {call}",
                     f"client {call} at {at(ending)}; server's first write at "
                     f"{at(writes[0] if writes else None)}")

    @staticmethod
    def _exited_normally(ev: Evidence, role: str, claim: str) -> Check:
        status = ev.exit_status.get(role)
        return Check(f"{role}-exit-0", claim, status == 0, f"the {role} exits 0",
                     f"the {role}: {describe_exit(status)}")

    # -- abrupt ----------------------------------------------------------------------

    @staticmethod
    def _no_reply_after_close(ev: Evidence) -> Check:
        closed = ev.first("client", "close")
        late = [e for e in ev.calls("client", "read")
                if closed is None or e["t"] > closed["t"]]
        shown = [line for line in ev.logs.get("client", "").splitlines() if line.startswith("Hi,")]
        passed = closed is not None and not late and not shown
        return Check("client-shows-no-reply-after-close", "C3 C10", passed,
                     "after close() the client reads nothing and shows no reply",
                     f"close() at {at(closed)}; reads after it: {len(late)}; "
                     f"replies in the client's output: {shown or 'none'}")

    @staticmethod
    def _client_sent_fin(ev: Evidence) -> Check:
        closed = ev.first("client", "close")
        fins = ev.segments("client", "FIN")
        # The FIN leaves inside close(), just before the call returns and is logged.
        fin = fins[0] if fins else None
        data_after = [s for s in ev.segments("client", with_data=True) if fin and s["t"] > fin["t"]]
        passed = fin is not None and closed is not None \
            and ev.sent_within_call("client", fin, closed, window=0.5) \
            and not data_after
        return Check("client-sent-fin", "C3", passed,
                     "close() sends what is left, then a FIN; nothing follows it",
                     f"close() returned at {at(closed)}; client's FIN at {at(fin)} "
                     f"({describe(fin) if fin else 'none'}); data after it: {len(data_after)}")

    @staticmethod
    def client_sent_rst(ev: Evidence) -> Check:
        closed = ev.first("client", "close")
        rsts = ev.segments("client", "RST")
        rst = rsts[0] if rsts else None
        replies = [s for s in ev.segments("server", with_data=True)
                   if closed and s["t"] > closed["t"] and (rst is None or s["t"] <= rst["t"])]
        reply = replies[-1] if replies else None
        passed = rst is not None and reply is not None
        observed = (f"RST from client at {at(rst)}" if rst else "no RST from the client") + ", "
        reasons = ev.kernel_events("client", "tcp_send_reset")
        if reasons:
            observed += (f"kernel: sent in state {reasons[0].get('state')}, reason "
                         f"{reasons[0].get('reason')}, ")
        observed += (f"answering the server's {reply['length']}-byte segment "
                     f"\"{reply['payload']}\" at {at(reply)}" if reply
                     else "with no server data after the close()")
        moved = ev.counters.get("client", {}).get(counters.RST_SENT, 0)
        observed += f"; client TcpOutRsts +{moved}"
        return Check("client-kernel-sent-rst", "C4 C10", passed,
                     "a reply arriving after the client's close() draws an RST from the "
                     "client's kernel", observed)

    @staticmethod
    def server_next_write(params: RunParameters, ev: Evidence) -> Check:
        writes = ev.calls("server", "write")
        failed = [e for e in writes if e["ret"] < 0]
        signals = [e for e in ev.calls("server", "signal") if e.get("name") == "SIGPIPE"]
        status = ev.exit_status.get("server")
        successes = [e for e in writes if e["ret"] > 0]
        if params.sigpipe == "default":
            # Killed inside send(): no write event after the successful one.
            passed = status == 128 + 13 and len(writes) == len(successes) >= 1
            expected = "the server's next write raises SIGPIPE, which kills it (lesson: C10)"
            observed = f"server: {describe_exit(status)}; writes logged: {len(writes)}"
        else:
            failure = failed[0] if failed else None
            passed = failure is not None and failure.get("errno") == "EPIPE" and status == 1
            if params.sigpipe == "handler":
                passed = passed and bool(signals)
                expected = ("the server's SIGPIPE handler runs, then its write fails with "
                            "EPIPE (C13)")
            else:
                expected = ("with SIGPIPE ignored (the lesson's own code), the next write "
                            "fails with EPIPE; the lesson's text says the server dies of "
                            "SIGPIPE, which only the default disposition does")
            observed = (f"write at {at(failure)} returned {failure['ret']} {failure.get('errno')}"
                        if failure else "no write failed")
            if signals:
                observed += f"; SIGPIPE handler ran at {at(signals[0])}"
            observed += f"; server: {describe_exit(status)}"
        return Check("server-next-write-fails", "C10 C13", passed, expected, observed)

    # -- graceful --------------------------------------------------------------------

    @staticmethod
    def _client_got_replies(ev: Evidence) -> Check:
        shut = ev.first("client", "shutdown")
        reads = [e for e in ev.calls("client", "read") if e["ret"] > 0]
        got = received_data(ev.events.get("client", []))
        wanted = "".join(f"Hi, {m}" for m in MESSAGES)
        passed = got == wanted and bool(shut) and all(e["t"] > shut["t"] for e in reads)
        return Check("client-received-both-replies", "C1 C11", passed,
                     "after shutdown(SHUT_WR) the client still receives Hi, data1 and Hi, data2",
                     f"shutdown at {at(shut)}; client read "
                     + (", ".join(f"{e['data']!r} at {at(e)}" for e in reads) or "nothing"))

    @staticmethod
    def _client_read_eof(ev: Evidence) -> Check:
        reads = ev.calls("client", "read")
        last = reads[-1] if reads else None
        passed = bool(last) and last["ret"] == 0 and len(reads) > 1
        return Check("client-read-eof", "C11", passed,
                     "the client reads EOF after the replies (server terminated)",
                     f"client's last read: {read_result(last)} at {at(last)}")

    @staticmethod
    def _server_read_eof(ev: Evidence) -> Check:
        eof = [e for e in ev.calls("server", "read") if e["ret"] == 0]
        return Check("server-read-eof", "C11", bool(eof),
                     "the server reads EOF (the client's FIN) and exits",
                     f"server read EOF at {at(eof[0])}" if eof else "server never read EOF")

    @staticmethod
    def _client_states(ev: Evidence) -> Check:
        path = ev.states("client")
        return Check("client-states", "C7 C11", in_order(path, ["FIN-WAIT-2", "TIME-WAIT"]),
                     "the client's socket goes through FIN-WAIT-2 to TIME-WAIT",
                     "client: " + path_text(path))

    @staticmethod
    def _server_states(ev: Evidence) -> Check:
        path = ev.states("server")
        return Check("server-states", "C1 C11", in_order(path, ["CLOSE-WAIT"]),
                     "the server's socket is in CLOSE-WAIT while it still sends replies",
                     "server: " + path_text(path))

    @staticmethod
    def _fins_both_ways(ev: Evidence) -> Check:
        shut = ev.first("client", "shutdown")
        eof = next((e for e in ev.calls("server", "read") if e["ret"] == 0), None)
        client_fin = next(iter(ev.segments("client", "FIN")), None)
        server_fin = next(iter(ev.segments("server", "FIN")), None)
        between = [s for s in ev.segments("server", with_data=True)
                   if client_fin and server_fin and client_fin["t"] < s["t"] < server_fin["t"]]
        passed = bool(client_fin and server_fin and shut and eof and len(between) == 2
                      and ev.sent_within_call("client", client_fin, shut, window=0.5)
                      and server_fin["t"] >= eof["t"])
        return Check("fins-both-ways", "C1 C7 C11", passed,
                     "the client's FIN follows its shutdown(); both replies flow after it; the "
                     "server's FIN follows its EOF (the kernel closes the exiting server's socket)",
                     f"client FIN at {at(client_fin)} (shutdown at {at(shut)}); replies between "
                     f"the FINs: {', '.join(repr(s['payload']) for s in between) or 'none'}; "
                     f"server FIN at {at(server_fin)} (EOF read at {at(eof)})")

    @staticmethod
    def _no_rst(ev: Evidence) -> Check:
        sent = {role: ev.counters.get(role, {}).get(counters.RST_SENT, 0) for role in ("client", "server")}
        on_wire = [s for s in ev.packets if "RST" in s["flags"]]
        return Check("no-rst", "C5 C11", not any(sent.values()) and not on_wire,
                     "a half-close ends without any RST",
                     f"RST segments captured: {len(on_wire)}; TcpOutRsts: client "
                     f"{sent['client']}, server {sent['server']}")
