"""How a program ends without close() (C12), and shutting the read side (C6, C8)."""

from __future__ import annotations

from kit.hosts.base import describe_exit
from kit.observe.capture import describe
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


def _last(events: list[dict]) -> dict | None:
    return events[-1] if events else None


class ExitScenario(Scenario):
    name = "exit"
    summary = "the server ends after its first reply without close(): the kernel closes"
    claims = ("C12",)
    variants = {
        "exit": "the server calls exit(0): the kernel sends its FIN",
        "return": "the server returns from main: the kernel sends its FIN",
        "signal": "the server is killed by SIGKILL: the kernel still sends its FIN",
        "unread": "the server exits with data2 unread: the kernel sends an RST instead",
    }
    STATUS = {"exit": 0, "return": 0, "signal": 128 + 9, "unread": 0}

    def plan(self, variant: str, params: RunParameters) -> Plan:
        how = "exit" if variant == "unread" else variant
        script = [ScriptStep(0.0, MESSAGES[0])]
        if variant == "unread":
            # Arrives while the server works on its reply, and is never read.
            script.append(ScriptStep(typing_gap(params), MESSAGES[1]))
        return Plan(server_args(params, "--exit-after", "1", "--exit-how", how),
                    client_args(params), script,
                    server_finish_timeout=params.server_delay * 2 + 10)

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        server_events = evidence.events.get("server", [])
        last_call = _last([e for e in server_events if e["event"] in ("write", "read")])
        closes = evidence.calls("server", "close") + evidence.calls("server", "shutdown")
        fins = evidence.segments("server", "FIN")
        resets = evidence.segments("server", "RST")
        status = evidence.exit_status.get("server")
        ending = _last(evidence.calls("server", "exit"))
        how = (ending or {}).get("how", "exit()" if ending else "no exit event")
        returned = how == "return from main"
        checks = [
            Check("no-close-call", "C12", not closes,
                  "the server never calls close() or shutdown()",
                  f"server calls: {', '.join(e['event'] for e in server_events) or 'none'}"),
            Check("server-ending", "C12",
                  status == self.STATUS[variant] and returned == (variant == "return"),
                  f"the server ends with {describe_exit(self.STATUS[variant])}"
                  + {"exit": ", by exit()", "return": ", by returning from main"}.get(variant,
                                                                                     ""),
                  f"server: {describe_exit(status)}, {how}"),
        ]
        client_reads = evidence.calls("client", "read")
        last_read = _last(client_reads)
        if variant == "unread":
            checks += [
                Check("kernel-sends-rst", "C12", bool(resets) and not fins,
                      "with data2 unread, the dying server's socket sends an RST, not a FIN "
                      "(the lesson's exercise assumes a FIN)",
                      f"server sent {describe(resets[0])} at {at(resets[0])}" if resets else
                      f"server sent {describe(fins[0]) if fins else 'neither FIN nor RST'}"),
                Check("client-sees-reset", "C12",
                      last_read is not None and last_read.get("errno") == "ECONNRESET",
                      "the client's read fails with ECONNRESET",
                      f"client's last read: {last_read.get('errno') or last_read['ret']} at "
                      f"{at(last_read)}" if last_read else "the client read nothing"),
            ]
        else:
            fin = fins[0] if fins else None
            checks += [
                Check("kernel-sends-fin", "C12",
                      fin is not None and not resets and last_call is not None
                      and fin["t"] >= last_call["t"],
                      "after the program's last call, the kernel sends the socket's FIN",
                      f"server's last call {last_call['event']}() at {at(last_call)}; FIN at "
                      f"{at(fin)}" if fin and last_call else "no FIN from the server"),
                Check("client-reads-eof", "C12",
                      last_read is not None and last_read["ret"] == 0,
                      "the client reads the reply, then EOF (server terminated)",
                      f"client read {reads_text(client_reads)}"),
            ]
        return checks


class ShutRdScenario(Scenario):
    name = "shut-rd"
    summary = "the server shuts its read side (or both) while the client keeps sending"
    claims = ("C6", "C8")
    variants = {
        "rd": "shutdown(SHUT_RD) after data1; data2 and data3 still come",
        "rdwr": "shutdown(SHUT_RDWR) after data1: SHUT_RD and SHUT_WR at once",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        gap = typing_gap(params)
        script = [ScriptStep(0.0, MESSAGES[0]), ScriptStep(gap, MESSAGES[1]),
                  ScriptStep(2 * gap, "data3"), ScriptStep(params.server_delay * 2 + gap,
                                                           "shutdown")]
        return Plan(server_args(params, "--shutdown-after-read", variant),
                    client_args(params), script,
                    server_finish_timeout=params.server_delay * 4 + 10)

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        shut = evidence.first("server", "shutdown")
        ok = shut is not None and shut["ret"] == 0
        reads_after = [e for e in evidence.calls("server", "read") if shut and e["t"] > shut["t"]]
        slack = evidence.slack("client", "server")   # the client's capture, the server's times
        later_data = [s for s in evidence.segments("client", with_data=True)
                      if shut and s["t"] > shut["t"] - slack]
        acked = [s for s in evidence.segments("server") if later_data and s["ack"] is not None
                 and s["t"] > later_data[0]["t"] - slack]
        if variant == "rd":
            got = [e.get("data", "EOF" if e["ret"] == 0 else e.get("errno")) for e in reads_after]
            return [
                Check("shutdown-rd", "C6", ok, "shutdown(SHUT_RD) succeeds",
                      f"shutdown({shut.get('how') if shut else '?'}) = "
                      f"{shut['ret'] if shut else 'not called'} at {at(shut)}"),
                Check("later-data-acked", "C6", bool(later_data) and bool(acked),
                      "data the client sends afterwards is ACKed (the lesson agrees)",
                      f"{len(later_data)} data segment(s) after SHUT_RD; the server ACKed up to "
                      f"{acked[-1]['ack'] if acked else 'nothing'}"),
                Check("later-data-readable", "C6",
                      any(e["ret"] > 0 for e in reads_after),
                      "Linux still delivers it to read() (the lesson, after BSD, says reads "
                      "return EOF and the data is dropped)",
                      f"server's reads after SHUT_RD: {got or 'none'}"),
                Check("no-fin-from-shut-rd", "C6 C8",
                      not [s for s in evidence.segments("server", "FIN")
                           if shut and s["t"] < (later_data[-1]["t"] - slack if later_data
                                                 else 0)],
                      "SHUT_RD alone sends nothing to the peer (no FIN)",
                      f"server FINs: {[at(s) for s in evidence.segments('server', 'FIN')]}"),
            ]
        fin = next(iter(evidence.segments("server", "FIN")), None)
        failed = next((e for e in evidence.calls("server", "write") if e["ret"] < 0), None)
        return [
            Check("shutdown-rdwr", "C8", ok, "shutdown(SHUT_RDWR) succeeds",
                  f"shutdown({shut.get('how') if shut else '?'}) = "
                  f"{shut['ret'] if shut else 'not called'} at {at(shut)}"),
            Check("fin-at-once", "C8",
                  fin is not None and shut is not None
                  and evidence.sent_within_call("server", fin, shut),
                  "its SHUT_WR half sends a FIN at once",
                  f"server FIN at {at(fin)}, shutdown at {at(shut)}"),
            Check("write-fails", "C8", failed is not None and failed.get("errno") == "EPIPE",
                  "a later write fails with EPIPE",
                  f"write at {at(failed)} returned {failed['ret']} {failed.get('errno')}"
                  if failed else "no write failed"),
            Check("client-sees-eof", "C8",
                  any(e["ret"] == 0 for e in evidence.calls("client", "read")),
                  "the client reads EOF (and, here, ends before the rest of its script)",
                  f"client reads: {reads_text(evidence.calls('client', 'read'))}; "
                  f"script lines never typed: {evidence.unplayed or 'none'}"),
        ]
