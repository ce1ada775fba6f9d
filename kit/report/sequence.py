"""sequence.svg: the run as a two-lifeline sequence diagram, drawn from the real packets.

Each segment is an arrow from its send time on one lifeline to its arrival time on the
other (both captures); each socket's states are boxes on its lifeline (kernel
transitions, TIME-WAIT from ss); the programs' calls stand beside their lifeline.
Time runs down, compressed: a row for each moment, more space for longer pauses, and
the time of each row in the margin.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kit.core.record import RunRecord
from kit.core.roles import ROLES
from kit.observe.capture import describe
from kit.report.timeline import event_text, load_jsonl

WIDTH = 980
X = {"client": 330, "server": 700}
TOP = 110
COLORS = {"RST": "#c0392b", "FIN": "#1f5fbf", "SYN": "#1e8449", "data": "#222222",
          "ACK": "#8a8a8a"}
CALLS = {"connect", "accept", "read", "write", "shutdown", "close", "signal", "exit", "fork",
         "getsockopt", "linger", "pause", "kill-self"}


def segment_kind(segment: dict) -> str:
    for flag in ("RST", "FIN", "SYN"):
        if flag in segment["flags"]:
            return flag
    return "data" if segment["length"] else "ACK"


class _Rows:
    """Maps times to y: a row per moment, pauses drawn longer (logarithmically)."""

    def __init__(self, times: list[float]):
        self.y: dict[float, float] = {}
        y, previous = float(TOP), None
        for t in sorted(set(times)):
            if previous is not None:
                pause_ms = max(0.0, (t - previous) * 1000)
                y += 20 + min(70.0, 16 * math.log10(1 + pause_ms))
            self.y[t] = y
            previous = t
        self.bottom = y + 40

    def __call__(self, t: float) -> float:
        return self.y[t]


def _text(parent, x, y, content, anchor="start", size=11, color="#222", weight="normal",
          css=None):
    element = ET.SubElement(parent, "text", {
        "x": f"{x:.1f}", "y": f"{y:.1f}", "font-size": str(size), "fill": color,
        "text-anchor": anchor, "font-weight": weight})
    if css:
        element.set("class", css)
    element.text = content
    return element


@dataclass
class _Run:
    """What the diagram draws, read from the run directory."""

    record: RunRecord
    segments: list[dict]
    kernel: list[dict]
    events: dict[str, list[dict]]
    time_wait: dict[str, float]

    @property
    def states(self) -> list[dict]:
        return [r for r in self.kernel if r["event"] == "inet_sock_set_state"]

    @property
    def resets(self) -> list[dict]:
        return [r for r in self.kernel if r["event"] == "tcp_send_reset"]

    def times(self) -> list[float]:
        times = [s["t"] for s in self.segments]
        times += [s["t_arrived"] for s in self.segments if s.get("t_arrived")]
        times += [e["t"] for role in ROLES for e in self.events[role]]
        times += [r["t"] for r in self.states + self.resets] + list(self.time_wait.values())
        return times or [0.0]


def _load(root: Path) -> _Run:
    events = {role: [e for e in load_jsonl(root / "events" / f"{role}.jsonl")
                     if e["event"] in CALLS and e.get("t") is not None] for role in ROLES}
    time_wait = {}
    for role in ROLES:
        waiting = [s["t"] for s in load_jsonl(root / "ss" / f"{role}.jsonl")
                   if s["state"] == "TIME-WAIT"]
        if waiting:
            time_wait[role] = waiting[0]
    return _Run(RunRecord.load(root), load_jsonl(root / "packets.jsonl"),
                load_jsonl(root / "kernel.jsonl"), events, time_wait)


def render_sequence(root: Path) -> str:
    """The diagram of the run directory ``root`` as SVG text."""
    run = _load(root)
    rows = _Rows(run.times())
    height = rows.bottom + 30
    svg = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "width": str(WIDTH),
                             "height": f"{height:.0f}", "viewBox": f"0 0 {WIDTH} {height:.0f}",
                             "font-family": "DejaVu Sans, Helvetica, Arial, sans-serif"})
    _draw_frame(svg, run.record, rows)
    for segment in run.segments:
        _draw_segment(svg, segment, rows)
    _draw_states(svg, run, rows)
    _draw_calls(svg, run, rows)
    _draw_legend(svg, run)
    return ET.tostring(svg, encoding="unicode")


def _draw_frame(svg: ET.Element, record: RunRecord, rows: _Rows) -> None:
    """Arrow markers, title, the two lifelines, and each row's time in the margin."""
    defs = ET.SubElement(svg, "defs")
    for name, color in COLORS.items():
        marker = ET.SubElement(defs, "marker", {
            "id": f"arrow-{name}", "viewBox": "0 0 10 10", "refX": "10", "refY": "5",
            "markerWidth": "7", "markerHeight": "7", "orient": "auto-start-reverse"})
        ET.SubElement(marker, "path", {"d": "M 0 0 L 10 5 L 0 10 z", "fill": color})
    ET.SubElement(svg, "rect", {"width": "100%", "height": "100%", "fill": "white"})
    _text(svg, 20, 28, f"{record.scenario} / {record.variant}: {record.verdict.upper()}",
          size=16, weight="bold")
    _text(svg, 20, 48, record.description, size=12, color="#555")
    for role in ROLES:
        x = X[role]
        ET.SubElement(svg, "rect", {"x": f"{x - 70}", "y": "62", "width": "140", "height": "30",
                                    "rx": "4", "fill": "#eef2f7", "stroke": "#555"})
        _text(svg, x, 78, role, anchor="middle", size=13, weight="bold")
        _text(svg, x, 89, record.hosts.get(role, {}).get("address", ""), anchor="middle",
              size=9, color="#555")
        ET.SubElement(svg, "line", {"x1": str(x), "y1": "92", "x2": str(x),
                                    "y2": f"{rows.bottom:.0f}", "stroke": "#999",
                                    "stroke-dasharray": "4 3"})
    for t, y in rows.y.items():
        _text(svg, 12, y + 4, f"+{t:.4f} s", size=9, color="#888")


def _draw_segment(svg: ET.Element, segment: dict, rows: _Rows) -> None:
    """One arrow, from its send time on one lifeline to its arrival on the other."""
    sender, receiver = segment["from"], segment["to"]
    if sender not in X or receiver not in X:
        return
    kind = segment_kind(segment)
    color = COLORS[kind]
    arrived = segment.get("t_arrived")
    y1 = rows(segment["t"])
    y2 = rows(arrived) if arrived else y1 + 10
    direction = 1 if X[receiver] > X[sender] else -1
    x1, x2 = X[sender] + 4 * direction, X[receiver] - 4 * direction
    line = ET.SubElement(svg, "line", {
        "class": f"segment segment-{kind.lower()}", "x1": f"{x1}", "y1": f"{y1:.1f}",
        "x2": f"{x2}", "y2": f"{y2:.1f}", "stroke": color,
        "stroke-width": "2.5" if kind == "RST" else "1.4",
        "marker-end": f"url(#arrow-{kind})"})
    if not arrived:
        line.set("stroke-dasharray", "5 3")   # never seen arriving
    ET.SubElement(line, "title").text = (
        f"{sender} -> {receiver} at +{segment['t']:.6f} s"
        + (f", arrived +{arrived:.6f} s" if arrived else "") + f": {describe(segment)}")
    _text(svg, (x1 + x2) / 2, (y1 + y2) / 2 - 4, describe(segment), anchor="middle",
          size=10, color=color, weight="bold" if kind in ("RST", "data") else "normal",
          css="segment-label")


def _state_box(svg: ET.Element, x: float, y: float, label: str, color: str = "#fff7d6",
               stroke: str = "#b7950b") -> None:
    width = 7 * len(label) + 12
    ET.SubElement(svg, "rect", {"class": "state", "x": f"{x - width / 2:.1f}",
                                "y": f"{y - 9:.1f}", "width": f"{width}", "height": "15",
                                "rx": "3", "fill": color, "stroke": stroke})
    _text(svg, x, y + 2.5, label, anchor="middle", size=9)


def _draw_states(svg: ET.Element, run: _Run, rows: _Rows) -> None:
    """Kernel transitions, TIME-WAIT as ss saw it, and each RST the kernel sent."""
    for state in run.states:
        if state["host"] in X:
            _state_box(svg, X[state["host"]], rows(state["t"]), state["newstate"])
    for role, t in run.time_wait.items():
        _state_box(svg, X[role], rows(t), "TIME-WAIT (ss)", color="#e8f6f3", stroke="#117a65")
    for reset in run.resets:
        if reset["host"] in X:
            _state_box(svg, X[reset["host"]], rows(reset["t"]),
                       f"RST: {reset.get('reason', '?')}", color="#fdedec",
                       stroke=COLORS["RST"])


def _draw_calls(svg: ET.Element, run: _Run, rows: _Rows) -> None:
    """The programs' calls beside their lifelines; a death by signal at the bottom."""
    for role in ROLES:
        x = X[role] + (-80 if role == "client" else 80)
        anchor = "end" if role == "client" else "start"
        for event in run.events[role]:
            failed = ((event.get("ret") is not None and event["ret"] < 0)
                      or event["event"] == "signal")
            _text(svg, x, rows(event["t"]) + 4, event_text(event), anchor=anchor, size=10,
                  color=COLORS["RST"] if failed else "#333", css="call")
        status = run.record.programs.get(role, {})
        if status.get("exit_status") is not None and status["exit_status"] > 128:
            _text(svg, x, rows.bottom - 10, status.get("exit", ""), anchor=anchor, size=11,
                  color=COLORS["RST"], weight="bold", css="call")


def _draw_legend(svg: ET.Element, run: _Run) -> None:
    legend = [("data", "data"), ("ACK", "pure ACK"), ("SYN", "SYN"), ("FIN", "FIN"),
              ("RST", "RST")]
    for index, (kind, label) in enumerate(legend):
        x = WIDTH - 480 + index * 94
        ET.SubElement(svg, "line", {"x1": str(x), "y1": "24", "x2": str(x + 22), "y2": "24",
                                    "stroke": COLORS[kind], "stroke-width": "2"})
        _text(svg, x + 26, 28, label, size=10, color=COLORS[kind])
    if not run.kernel:
        reason = (run.record.kernel_trace or {}).get("reason", "not recorded")
        _text(svg, WIDTH - 480, 44, f"no kernel trace: {reason}"[:60], size=9, color="#888")
