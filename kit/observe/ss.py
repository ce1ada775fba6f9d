"""Socket samples, in the shape `ss -H -t -a -n -o -i -e` writes them, parsed into records.

The in-container sampler (netkit-ss, containers/src/sockdiag.c: one process reading the
kernel's sock_diag interface, where ss would start a process per sample) writes a marker line
``### <CLOCK_REALTIME seconds>`` before each sample, so every socket line gets the
time it was seen; it samples every interval, and right after each event the host's
program logs (``### <seconds> after <event>``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

# ss prints these values as "key value" pairs rather than "key:value".
_SPACED_KEYS = {"send", "pacing_rate", "delivery_rate"}
_TIMER = re.compile(r"^timer:\((\w+),([^,]*),(\d+)\)$")


@dataclass
class SocketRecord:
    t: float | None          # seconds since the run started
    rt: float                # CLOCK_REALTIME of the sample
    state: str               # ss's spelling: ESTAB, FIN-WAIT-2, TIME-WAIT ...
    local: str
    peer: str
    recv_q: int
    send_q: int
    timer: dict | None = None
    shutdown: str | None = None   # ss -e: "<->" open, "<--" no more sends, "-->", "---"
    socket_id: str | None = None  # ss's sk: cookie, stable over a socket's life
    info: dict = field(default_factory=dict)
    source: str = "sampler"

    def to_json(self) -> dict:
        return asdict(self)


def parse_duration(text: str) -> float | None:
    """ss timer expiry ('59sec', '200ms', '1min3sec', '1.5sec') in seconds."""
    total, matched = 0.0, False
    for number, unit in re.findall(r"([\d.]+)(min|sec|ms)", text):
        matched = True
        total += float(number) * {"min": 60.0, "sec": 1.0, "ms": 0.001}[unit]
    return round(total, 3) if matched else None


def _number(text: str):
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def _tokens(line: str) -> list[str]:
    """Split on spaces, keeping parenthesised groups ('bbr:(bw:1,mrtt:2)') whole."""
    tokens, depth, current = [], 0, ""
    for char in line.strip():
        if char == " " and depth == 0:
            if current:
                tokens.append(current)
            current = ""
            continue
        depth += (char == "(") - (char == ")")
        current += char
    if current:
        tokens.append(current)
    return tokens


def parse_info(line: str) -> dict:
    """The indented TCP-info line of `ss -i` as a dict; bare words go under 'flags'."""
    info: dict = {}
    flags = []
    tokens = _tokens(line)
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token in _SPACED_KEYS and index + 1 < len(tokens):
            info[token] = tokens[index + 1]
            index += 2
            continue
        key, sep, value = token.partition(":")
        if not sep:
            flags.append(token)
        elif key == "rtt" and "/" in value:
            rtt, rttvar = value.split("/", 1)
            info["rtt_ms"], info["rttvar_ms"] = float(rtt), float(rttvar)
        else:
            info[key] = _number(value)
        index += 1
    if flags:
        info["flags"] = flags
    return info


def parse_socket_line(line: str, rt: float) -> SocketRecord | None:
    tokens = _tokens(line)
    if len(tokens) < 5 or not tokens[1].isdigit():
        return None
    record = SocketRecord(t=None, rt=rt, state=tokens[0], recv_q=int(tokens[1]),
                          send_q=int(tokens[2]), local=tokens[3], peer=tokens[4])
    for token in tokens[5:]:
        timer = _TIMER.match(token)
        if timer:
            record.timer = {"name": timer.group(1), "expires_s": parse_duration(timer.group(2)),
                            "retransmits": int(timer.group(3))}
        elif token.startswith("sk:"):
            record.socket_id = token[3:]
        elif token in ("<->", "<--", "-->", "---"):
            record.shutdown = token
    return record


def parse_samples(text: str, t0: float | None = None,
                  source: str = "sampler") -> list[SocketRecord]:
    """Every socket of every sample in ``text`` (the sampler's file or one sample). A
    sample taken right after a program's event says so ("### <rt> after write"): that
    is its ``source``; the others' is ``source``."""
    records: list[SocketRecord] = []
    rt = None
    label = source
    for line in text.splitlines():
        if line.startswith("### "):
            stamp, _, after = line[4:].strip().partition(" ")
            try:
                rt = float(stamp)
            except ValueError:
                rt = None  # a sample cut short when the sampler was stopped
            label = after or source
            continue
        if rt is None or not line.strip():
            continue
        if line[0] in " \t":
            if records and records[-1].rt == rt:
                records[-1].info = parse_info(line)
            continue
        record = parse_socket_line(line, rt)
        if record is not None:
            record.t = round(rt - t0, 6) if t0 is not None else None
            record.source = label
            records.append(record)
    return records


def state_path(records: Iterable[SocketRecord]) -> list[tuple[str, float | None]]:
    """The states a connection went through, in order, with the time each was first seen.

    Listening sockets are left out: they are not the connection.
    """
    path: list[tuple[str, float | None]] = []
    for record in sorted((r for r in records if r.state not in ("LISTEN", "UNCONN")),
                         key=lambda r: r.rt):
        if not path or path[-1][0] != record.state:
            path.append((record.state, record.t))
    return path

