"""The server's SIGPIPE disposition when it writes to a reset connection (C13, C14).

The client closes abruptly, as in the close scenario; the server's second reply meets
the RST its first reply drew.
"""

from __future__ import annotations

import dataclasses

from kit.hosts.base import describe_exit
from kit.scenarios.base import (
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
    server_next_write,
)


class SigpipeScenario(Scenario):
    name = "sigpipe"
    summary = "what a write to a reset connection does under each SIGPIPE disposition"
    claims = ("C13", "C14")
    variants = {
        "ignore": "SIGPIPE ignored (the lesson's code): the write fails with EPIPE",
        "default": "default disposition: the kernel kills the server with signal 13",
        "handler": "a handler registered on SIGPIPE runs, then the write fails with EPIPE",
    }

    def plan(self, variant: str, params: RunParameters) -> Plan:
        return exchange_plan(dataclasses.replace(params, sigpipe=variant), "close")

    def judge(self, variant: str, params: RunParameters, evidence: Evidence) -> list[Check]:
        params = dataclasses.replace(params, sigpipe=variant)
        checks = [client_sent_rst(evidence),
                  server_next_write(params, evidence)]
        log = evidence.logs.get("server", "")
        status = evidence.exit_status.get("server")
        if variant == "default":
            checks.append(Check(
                "no-last-words", "C13", "error write" not in log and
                not evidence.calls("server", "exit"),
                "killed inside send(), the server prints and logs nothing more",
                f"server: {describe_exit(status)}; its last line: "
                f"{(log.strip().splitlines() or ['(none)'])[-1]!r}"))
        elif variant == "handler":
            signal = next(iter(evidence.calls("server", "signal")), None)
            failed = next((e for e in evidence.calls("server", "write") if e["ret"] < 0), None)
            checks.append(Check(
                "handler-registered-on-sigpipe", "C14",
                bool(signal and failed and signal["t"] <= failed["t"]
                     and "received SIGPIPE" in log),
                "the handler is registered on SIGPIPE (the lesson's code used SIGINT), so "
                "it runs when the write meets the reset, before write() returns",
                f"handler ran at {at(signal)}, write() returned "
                f"{failed['ret'] if failed else '?'} {failed.get('errno') if failed else ''} "
                f"at {at(failed)}; server printed "
                f"{'its line' if 'received SIGPIPE' in log else 'no line'}"))
        else:
            handled = evidence.calls("server", "signal")
            checks.append(Check(
                "error-path", "C13",
                "error write: Broken pipe" in log and status == 1 and not handled,
                "the server reports the failed write and exits 1 (its error path); with "
                "SIGPIPE ignored, no handler runs",
                f"server: {describe_exit(status)}; printed 'error write: Broken pipe': "
                f"{'error write: Broken pipe' in log}; handler ran: "
                f"{'at ' + at(handled[0]) if handled else 'no'}"))
        return checks
