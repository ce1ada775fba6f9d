"""Packet captures: tcpdump on each host's eth0 (see kit.observe.observers), parsed with
dpkt into TCP segments.

Each segment is seen twice, leaving one host and arriving at the other; matching the
two captures gives both times, so a sequence diagram can draw the real flight.
"""

from __future__ import annotations

import io
import re
import socket
from dataclasses import dataclass

import dpkt

FLAG_NAMES = [(dpkt.tcp.TH_SYN, "SYN"), (dpkt.tcp.TH_FIN, "FIN"), (dpkt.tcp.TH_RST, "RST"),
              (dpkt.tcp.TH_PUSH, "PSH"), (dpkt.tcp.TH_ACK, "ACK"), (dpkt.tcp.TH_URG, "URG")]


@dataclass
class Packet:
    """One TCP segment as one capture saw it."""

    ts: float            # the capture's CLOCK_REALTIME timestamp
    src: str
    sport: int
    dst: str
    dport: int
    flags: list[str]
    seq: int
    ack: int
    window: int
    length: int          # payload bytes
    ip_id: int
    payload: bytes

    def key(self) -> tuple:
        return (self.src, self.sport, self.dst, self.dport, self.seq, self.ack,
                tuple(self.flags), self.length, self.ip_id)


def flag_names(bits: int) -> list[str]:
    return [name for bit, name in FLAG_NAMES if bits & bit]


def parse_pcap(data: bytes, port: int) -> list[Packet]:
    """The TCP/IPv4 segments to or from ``port`` in a pcap file's bytes."""
    packets: list[Packet] = []
    if not data:
        return packets
    reader = dpkt.pcap.Reader(io.BytesIO(data))
    for ts, frame in reader:
        try:
            ethernet = dpkt.ethernet.Ethernet(frame)
        except dpkt.UnpackError:
            continue
        ip = ethernet.data
        if not isinstance(ip, dpkt.ip.IP) or not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        tcp = ip.data
        if port not in (tcp.sport, tcp.dport):
            continue
        packets.append(Packet(ts=float(ts), src=socket.inet_ntoa(ip.src), sport=tcp.sport,
                              dst=socket.inet_ntoa(ip.dst), dport=tcp.dport,
                              flags=flag_names(tcp.flags), seq=tcp.seq, ack=tcp.ack,
                              window=tcp.win, length=len(tcp.data), ip_id=ip.id,
                              payload=bytes(tcp.data)))
    return packets


def preview(payload: bytes, limit: int = 32) -> str:
    text = payload[:limit].decode("ascii", errors="replace")
    text = "".join(c if c.isprintable() else "." for c in text)
    return text + ("..." if len(payload) > limit else "")


def segments(captures: dict[str, list[Packet]], addresses: dict[str, str],
             t0: float) -> list[dict]:
    """Both captures merged: one record per segment, with its send and arrival times.

    ``captures`` and ``addresses`` are keyed by role. Sequence and acknowledgement
    numbers are made relative to each side's initial sequence number (its SYN).
    """
    role_of = {address: role for role, address in addresses.items()}
    sent: list[tuple[str, Packet]] = []
    arrivals: dict[tuple, list[Packet]] = {}
    for role, packets in captures.items():
        for packet in packets:
            if role_of.get(packet.src) == role:
                sent.append((role, packet))
            elif role_of.get(packet.dst) == role:
                arrivals.setdefault(packet.key(), []).append(packet)
    # A segment only the receiver saw (the sender's capture started late) still counts.
    sent_keys = {packet.key() for _, packet in sent}
    for key, packets in arrivals.items():
        if key not in sent_keys:
            sent.extend((role_of.get(p.src, "?"), p) for p in packets)
    sent.sort(key=lambda item: item[1].ts)
    initial = {}
    for role, packet in sent:
        if "SYN" in packet.flags and role not in initial:
            initial[role] = packet.seq
    records = []
    for role, packet in sent:
        peer = "server" if role == "client" else "client"
        waiting = arrivals.get(packet.key(), [])
        arrival = next((p for p in waiting if p is not packet), None)
        if arrival is not None:
            waiting.remove(arrival)
        seq_base = initial.get(role)
        ack_base = initial.get(peer)
        records.append({
            "t": round(packet.ts - t0, 6),
            "t_arrived": round(arrival.ts - t0, 6) if arrival is not None else None,
            "from": role, "to": peer,
            "flags": packet.flags,
            "seq": (packet.seq - seq_base) % 2**32 if seq_base is not None else packet.seq,
            "ack": ((packet.ack - ack_base) % 2**32 if ack_base is not None else packet.ack)
            if "ACK" in packet.flags else None,
            "length": packet.length,
            "window": packet.window,
            "payload": preview(packet.payload),
            "src": f"{packet.src}:{packet.sport}", "dst": f"{packet.dst}:{packet.dport}",
        })
    return records


def describe(segment: dict) -> str:
    """'FIN ACK seq=11 ack=1' or 'PSH ACK 9 bytes "Hi, data1"'."""
    flags = " ".join(segment["flags"])
    if segment["length"]:
        return f"{flags} {segment['length']} bytes \"{segment['payload']}\""
    text = f"{flags} seq={segment['seq']}"
    return text + (f" ack={segment['ack']}" if segment["ack"] is not None else "")


def capture_counts(log: str) -> dict:
    """tcpdump's closing lines: '11 packets captured', '15 packets received by filter'..."""
    counts = {}
    for line in log.splitlines():
        match = re.match(r"^(\d+) packets? (captured|received by filter|dropped by kernel)", line)
        if match:
            counts[match.group(2).split()[0]] = int(match.group(1))
    return counts

