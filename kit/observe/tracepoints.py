"""What a kernel can trace: the tracepoints it has, their fields, and what that leaves
unseen.

Kernels differ (environment: Debian's 5.10, 6.1 and 6.12 against 6.18): an event may be
missing, and ``tcp_send_reset`` before 6.10 fires only for an RST sent from a full
socket, with no reason. The tracer asks the kernel (the ``### ...`` lines its start
script prints) and enables what exists; checks ask ``limits`` what the trace cannot
show, so that a missing trace line is never taken for a kernel that did nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

STATE_CHANGES = "sock/inet_sock_set_state"
RESET_SENT = "tcp/tcp_send_reset"
RESET_RECEIVED = "tcp/tcp_receive_reset"
RETRANSMIT = "tcp/tcp_retransmit_skb"
SOCKET_DESTROYED = "tcp/tcp_destroy_sock"
ERROR_REPORT = "sock/inet_sk_error_report"
EVENTS = (STATE_CHANGES, RESET_SENT, RESET_RECEIVED, RETRANSMIT, SOCKET_DESTROYED,
          ERROR_REPORT)

# What each event shows, and where it came from (for a kernel without it).
SHOWS = {
    STATE_CHANGES: ("the sockets' state changes", "Linux 4.16"),
    RESET_SENT: ("the RSTs the kernel sends", "Linux 4.15"),
    RESET_RECEIVED: ("the RSTs that reach a socket", "Linux 4.15"),
    RETRANSMIT: ("retransmissions", "Linux 4.15"),
    SOCKET_DESTROYED: ("sockets destroyed", "Linux 4.15"),
    ERROR_REPORT: ("errors reported to a socket", "Linux 5.14"),
}
FULL_RESET_TRACE = ("Linux 6.10 (commit 19822a980e19, \"trace: tcp: fully support "
                    "trace_tcp_send_reset\")")

# Features the checks ask about.
RESETS = "resets-sent"            # every RST the kernel sends, whatever the socket
RESET_REASONS = "reset-reasons"   # why the kernel sent it (reason=)

_MARK = re.compile(r"^### (kernel|format|missing|unfiltered) ?(.*)$")
_FIELD = re.compile(r"^\s*field:[^;]*?\b(\w+)(\[[^\]]*\])?;")


@dataclass(frozen=True)
class KernelTracing:
    """One kernel's tracepoints: ``fields`` per event it has (its format's own fields)."""

    release: str = ""
    fields: dict[str, list[str]] = field(default_factory=dict)
    unfiltered: list[str] = field(default_factory=list)   # filter refused: all ports

    @property
    def missing(self) -> list[str]:
        return [event for event in EVENTS if event not in self.fields]

    def limits(self) -> dict[str, str]:
        """What this kernel's trace cannot show, each with why: feature or event -> text."""
        found: dict[str, str] = {}
        on = f"this kernel ({self.release or 'version unknown'})"
        for event in self.missing:
            what, since = SHOWS[event]
            found[event] = f"{on} has no {event.replace('/', ':')} tracepoint ({since} " \
                           f"added it): {what} are not traced"
        if RESET_SENT in self.missing:
            found[RESETS] = found[RESET_REASONS] = found[RESET_SENT]
        elif "reason" not in self.fields.get(RESET_SENT, ["reason"]):
            found[RESETS] = (f"{on} traces tcp_send_reset only for an RST sent from a full "
                             "socket, not for one answering a segment for a TIME-WAIT "
                             f"socket or for no socket; {FULL_RESET_TRACE} traces them all")
            found[RESET_REASONS] = (f"{on} gives no reason for the RSTs it sends; the "
                                    f"reason= field came with {FULL_RESET_TRACE}")
        return found

    def to_json(self) -> dict:
        return {"kernel": self.release, "events": sorted(self.fields),
                "missing": self.missing, "unfiltered": self.unfiltered,
                "fields": self.fields, "limits": self.limits()}

    @staticmethod
    def from_json(data: dict | None) -> KernelTracing | None:
        """As run.json records it; None for a record from before the kit asked."""
        if not data or "fields" not in data:
            return None
        return KernelTracing(data.get("kernel", ""), dict(data["fields"]),
                             list(data.get("unfiltered", [])))


def parse_probe(text: str) -> KernelTracing:
    """The ``### kernel|format|missing|unfiltered`` lines of the start script's output,
    each format followed by the event's format file."""
    release = ""
    fields: dict[str, list[str]] = {}
    unfiltered: list[str] = []
    current: list[str] | None = None
    for line in text.splitlines():
        mark = _MARK.match(line)
        if mark:
            kind, value = mark.group(1), mark.group(2).strip()
            current = None
            if kind == "kernel":
                release = value
            elif kind == "format":
                current = fields.setdefault(value, [])
            elif kind == "unfiltered":
                unfiltered.append(value)
            continue
        named = _FIELD.match(line)
        if current is not None and named and not named.group(1).startswith("common_"):
            current.append(named.group(1))
    return KernelTracing(release, fields, unfiltered)
