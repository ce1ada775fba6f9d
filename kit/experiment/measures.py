"""Numbers an experiment compares across its cells, each computed from a run directory
alone (so a summary can be rebuilt offline). None where a run does not have it."""

from __future__ import annotations

from pathlib import Path

from kit.core.record import RunRecord
from kit.core.roles import ROLES
from kit.report.timeline import load_jsonl

ENDINGS = ("close", "shutdown")


def close_to_peer_end(root: Path) -> float | None:
    """Seconds from the client's close() or shutdown() to the server learning of it: its
    read returning EOF, or the client's RST arriving, whichever comes first."""
    events = load_jsonl(root / "events" / "client.jsonl")
    ending = next((e for e in events if e["event"] in ENDINGS and e.get("prog") == "client"),
                  None)
    packets = load_jsonl(root / "packets.jsonl")
    if ending is None:
        # Your own programs log no calls: the client's first FIN or RST stands for it.
        first = next((p for p in packets if p["from"] == "client"
                      and ({"FIN", "RST"} & set(p["flags"]))), None)
        ending = {"t": first["t"]} if first else None
    if ending is None:
        return None
    ends = [e["t"] for e in load_jsonl(root / "events" / "server.jsonl")
            if e["event"] == "read" and e["ret"] == 0 and e["t"] >= ending["t"]]
    ends += [p["t_arrived"] for p in packets if p["from"] == "client" and "RST" in p["flags"]
             and p.get("t_arrived") is not None and p["t_arrived"] >= ending["t"]]
    if not ends and ending.get("event") is None:
        # Without the server's events, the client's FIN arriving is the end it learns of.
        ends = [p["t_arrived"] for p in packets if p["from"] == "client" and "FIN" in p["flags"]
                and p.get("t_arrived") is not None]
    return round(min(ends) - ending["t"], 6) if ends else None


def handshake_rtt(root: Path, record: RunRecord) -> float | None:
    """The round trip the link delivered, in ms (measured before a shaped run; from the
    client's capture of the handshake on an unshaped one)."""
    measured = (record.link or {}).get("measured_rtt")
    if measured:
        return measured["median_ms"]
    packets = load_jsonl(root / "packets.jsonl")
    syn = next((p for p in packets if p["flags"] == ["SYN"]), None)
    syn_ack = next((p for p in packets if {"SYN", "ACK"} <= set(p["flags"])), None)
    if syn and syn_ack and syn_ack.get("t_arrived") is not None:
        return round((syn_ack["t_arrived"] - syn["t"]) * 1000, 3)
    return None


def state_durations(root: Path) -> dict[str, float]:
    """Per host and state, the seconds the connection spent in it (kernel trace), e.g.
    {"client FIN-WAIT-2": 1.2}; the last state, which never ends in the trace, is left out."""
    durations: dict[str, float] = {}
    for role in ROLES:
        moves = [r for r in load_jsonl(root / "kernel.jsonl")
                 if r["host"] == role and r["event"] == "inet_sock_set_state"]
        for entered, left in zip(moves, moves[1:]):
            name = f"{role} {entered['newstate']}"
            durations[name] = round(durations.get(name, 0.0) + left["t"] - entered["t"], 6)
    return durations


def retransmissions(root: Path) -> int | None:
    if not (root / "kernel.jsonl").exists():
        return None
    return sum(1 for r in load_jsonl(root / "kernel.jsonl") if r["event"] == "tcp_retransmit_skb")


def measure(root: Path, names: tuple[str, ...]) -> dict:
    """The chosen measures of one run, flat: state durations become one column each."""
    record = RunRecord.load(root)
    values: dict = {}
    for name in names:
        if name == "close_to_peer_end":
            values["close_to_peer_end_s"] = close_to_peer_end(root)
        elif name == "handshake_rtt":
            values["handshake_rtt_ms"] = handshake_rtt(root, record)
        elif name == "retransmissions":
            values["retransmissions"] = retransmissions(root)
        elif name == "script_time":
            values["script_time_s"] = record.timings_s.get("script")
        elif name == "state_durations":
            values.update({f"{state} s": seconds
                           for state, seconds in state_durations(root).items()})
    return values
