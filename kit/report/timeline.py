"""One timeline: program events, kernel transitions, packets and ss samples on one clock.

Everything is read back from the run directory, so it can be rebuilt offline.
"""

from __future__ import annotations

from pathlib import Path

from kit.core.roles import ROLES
from kit.observe.capture import describe
from kit.report.summary import load_jsonl


def event_text(event: dict) -> str:
    """A program event as a person reads it: 'write("Hi, data1") = 9', 'close() = 0'.

    A forked child's events say so: '[child] write("data2") = 5'.
    """
    text = _call_text(event)
    return f"[child] {text}" if event.get("prog", "").endswith("-child") else text


def _call_text(event: dict) -> str:
    name = event["event"]
    ret = event.get("ret")
    error = f" {event['errno']}" if event.get("errno") else ""
    if name in ("read", "write"):
        if ret is not None and ret > 0:
            return f'{name}("{event.get("data", "")}") = {ret}'
        if ret == 0 and name == "read":
            return "read() = 0 (EOF)"
        return f"{name}() = {ret}{error}"
    if name in ("shutdown", "close"):
        how = event.get("how", "SHUT_WR") if name == "shutdown" else ""
        return f"{name}({how}) = {ret}{error}"
    if name == "connect":
        return f"connect({event.get('peer', '')}) = {ret}{error}"
    if name == "accept":
        return f"accept() from {event.get('peer', '')}"
    if name == "signal":
        return f"{event.get('name', 'signal')} handler runs"
    if name == "exit":
        return f"exit({event.get('status')})"
    if name == "listen":
        return f"listen(:{event.get('port')})"
    if name == "stdin":
        return "end of standard input"
    if name in ("fork", "getsockopt", "linger"):
        return f"{name}() = {ret}{error}"
    return name


def kernel_text(record: dict) -> str:
    name = record["event"]
    if name == "inet_sock_set_state":
        return f"{record['oldstate']} -> {record['newstate']}"
    if name == "tcp_send_reset":
        return f"sends RST (state {record.get('state')}, reason {record.get('reason')})"
    if name == "tcp_receive_reset":
        return "receives RST"
    if name == "inet_sk_error_report":
        return f"socket error {record.get('error')} reported"
    if name == "tcp_retransmit_skb":
        return f"retransmits (state {record.get('state')})"
    if name == "tcp_destroy_sock":
        return "socket destroyed"
    return name


def build_timeline(root: Path) -> list[dict]:
    entries = []
    for role in ROLES:
        for event in load_jsonl(root / "events" / f"{role}.jsonl"):
            entries.append({"t": event.get("t"), "source": "program", "host": role,
                            "what": event["event"], "text": event_text(event)})
        for sample in load_jsonl(root / "ss" / f"{role}.jsonl"):
            entries.append({"t": sample["t"], "source": "ss", "host": role, "what": "sample",
                            "text": f"{sample['state']} {sample['local']} {sample['peer']}",
                            "state": sample["state"], "sample": sample.get("source")})
    for record in load_jsonl(root / "kernel.jsonl"):
        entries.append({"t": record["t"], "source": "kernel", "host": record["host"],
                        "what": record["event"], "text": kernel_text(record)})
    for segment in load_jsonl(root / "packets.jsonl"):
        entries.append({"t": segment["t"], "source": "packet", "host": segment["from"],
                        "what": "segment", "text": f"{segment['from']} -> {segment['to']}: "
                                                   f"{describe(segment)}",
                        "t_arrived": segment.get("t_arrived")})
    entries = [e for e in entries if e["t"] is not None]
    entries.sort(key=lambda e: e["t"])
    return entries
