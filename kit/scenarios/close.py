"""The lesson's two experiments: the client ends with close() (abrupt) or shutdown(SHUT_WR)
(graceful) while the server is still working on its replies.

Claims judged (docs/lesson-claims): C1, C3, C4, C5, C10, C11, and C13 for the
server's SIGPIPE disposition.
"""

from __future__ import annotations

from kit.core.checks import not_judged
from kit.core.roles import ROLES
from kit.hosts.base import describe_exit
from kit.observe import counters, tracepoints
from kit.observe.capture import describe
from kit.observe.events import received_data
from kit.scenarios.base import (
    MESSAGES,
    Check,
    Evidence,
    Plan,
    RunParameters,
    Scenario,
    exchange_plan,
)
from kit.scenarios.checks import (
    at,
    client_sent_rst,
    in_order,
    path_text,
    read_result,
    server_next_write,
    teardown_path,
)


class CloseScenario(Scenario):
    name = "close"
    summary = "close() versus shutdown(SHUT_WR) while the server still has replies to send"
    claims: tuple[str, ...] = ("C1", "C3", "C4", "C5", "C10", "C11", "C13")
    variants = {
        "graceful": "client sends data1, data2, then shutdown(SHUT_WR): replies still arrive",
        "abrupt": "client sends data1, data2, then close(): the first reply draws an RST",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        return exchange_plan(params, "close" if variant == "abrupt" else "shutdown")

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        checks = [self._server_received_both(evidence),
                  self._replies_came_after_end(variant, evidence)]
        if variant == "abrupt":
            checks += [self._client_sent_fin(evidence),
                       self._no_reply_after_close(evidence), client_sent_rst(evidence),
                       server_next_write(params, evidence),
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
        return checks + [self._kernel_path(evidence, role, path, variant)
                         for role, path in kernel_paths.items()]

    @staticmethod
    def _kernel_path(ev: Evidence, role: str, wanted: list[str], variant: str) -> Check:
        path = ev.transitions(role)
        note = ""
        if role == "client":
            note = (" (FIN-WAIT-2 -> CLOSE: the socket is handed to a time-wait "
                    "mini-socket, which ss shows as " +
                    ("TIME-WAIT)" if variant == "graceful" else "FIN-WAIT-2 until the RST)"))
        name, claim = f"{role}-kernel-transitions", "C3 C10" if variant == "abrupt" else "C11"
        expected = f"the kernel moves the {role}'s socket through {' -> '.join(wanted)}{note}"
        unseen = ev.unseen(role, tracepoints.STATE_CHANGES)
        if unseen is not None:   # ss sees states, not every transition (LAST-ACK lasts µs)
            return not_judged(name, claim, expected, f"{role}: {unseen}")
        return Check(name, claim, teardown_path(path) == wanted, expected,
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
        passed = bool(ending and writes
                      and writes[0]["t"] > ending["t"] - ev.slack("server", "client"))
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

    # -- graceful --------------------------------------------------------------------

    @staticmethod
    def _client_got_replies(ev: Evidence) -> Check:
        shut = ev.first("client", "shutdown")
        reads = [e for e in ev.calls("client", "read") if e["ret"] > 0]
        got = received_data(ev.events.get("client", []))
        wanted = "".join(f"Hi, {m}" for m in MESSAGES)
        passed = got == wanted and shut is not None and all(e["t"] > shut["t"] for e in reads)
        return Check("client-received-both-replies", "C1 C11", passed,
                     "after shutdown(SHUT_WR) the client still receives Hi, data1 and Hi, data2",
                     f"shutdown at {at(shut)}; client read "
                     + (", ".join(f"{e['data']!r} at {at(e)}" for e in reads) or "nothing"))

    @staticmethod
    def _client_read_eof(ev: Evidence) -> Check:
        reads = ev.calls("client", "read")
        last = reads[-1] if reads else None
        passed = last is not None and last["ret"] == 0 and len(reads) > 1
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
        slack = ev.slack("server", "client")    # the two captures' clocks
        between = [s for s in ev.segments("server", with_data=True)
                   if client_fin and server_fin
                   and client_fin["t"] - slack < s["t"] < server_fin["t"]]
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
        sent = {role: ev.counters.get(role, {}).get(counters.RST_SENT, 0) for role in ROLES}
        on_wire = [s for s in ev.packets if "RST" in s["flags"]]
        return Check("no-rst", "C5 C11", not any(sent.values()) and not on_wire,
                     "a half-close ends without any RST",
                     f"RST segments captured: {len(on_wire)}; TcpOutRsts: client "
                     f"{sent['client']}, server {sent['server']}")
