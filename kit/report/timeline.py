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


def _io_text(name: str, event: dict, ret, error: str) -> str:
    if ret is not None and ret > 0:
        return f'{name}("{event.get("data", "")}") = {ret}'
    if ret == 0 and name == "read":
        return "read() = 0 (EOF)"
    return f"{name}() = {ret}{error}"


# How each program event reads: (name, event, its return value, " ERRNO" or "") -> text.
CALL_TEXTS = {
    "read": _io_text,
    "write": _io_text,
    "shutdown": lambda n, e, r, err: f"shutdown({e.get('how', 'SHUT_WR')}) = {r}{err}",
    "close": lambda n, e, r, err: f"close() = {r}{err}",
    "connect": lambda n, e, r, err: f"connect({e.get('peer', '')}) = {r}{err}",
    "accept": lambda n, e, r, err: f"accept() from {e.get('peer', '')}",
    "signal": lambda n, e, r, err: f"{e.get('name', 'signal')} handler runs",
    "exit": lambda n, e, r, err: f"exit({e.get('status')})",
    "listen": lambda n, e, r, err: f"listen(:{e.get('port')})",
    "stdin": lambda n, e, r, err: "end of standard input",
    "fork": lambda n, e, r, err: f"{n}() = {r}{err}",
    "getsockopt": lambda n, e, r, err: f"{n}() = {r}{err}",
    "linger": lambda n, e, r, err: f"{n}() = {r}{err}",
}


def _call_text(event: dict) -> str:
    name = event["event"]
    error = f" {event['errno']}" if event.get("errno") else ""
    text = CALL_TEXTS.get(name)
    return text(name, event, event.get("ret"), error) if text else name


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
