"""tcp_info.svg: what the kernel's tcp_info said of each host's connection over the run,
from the socket samples (ss/<host>.jsonl): smoothed RTT, congestion window, segments
sent and not yet acknowledged, and retransmissions so far, one small plot each.

ss leaves a field out when it is zero (unacked, retrans): a sample without it says 0.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kit.core.roles import ROLES
from kit.report.timeline import load_jsonl


@dataclass(frozen=True)
class Metric:
    key: str
    title: str


METRICS = (Metric("rtt_ms", "smoothed RTT (ms)"), Metric("cwnd", "congestion window (segments)"),
           Metric("unacked", "sent, not yet acknowledged (segments)"),
           Metric("retransmits", "retransmitted so far (segments)"))
PANEL_W, PANEL_H, GAP, LEFT, TOP = 210, 90, 24, 90, 40


def value(info: dict, key: str) -> float:
    if key == "retransmits":
        retrans = str(info.get("retrans", "0/0"))
        return float(retrans.split("/")[-1])
    return float(info.get(key, 0))


def series(root: Path, role: str) -> dict[str, list[tuple[float, float]]]:
    """(t, value) of each metric, from the samples of the run's connection (its sockets
    with tcp_info: not the listener, not TIME-WAIT)."""
    samples = sorted((s for s in load_jsonl(root / "ss" / f"{role}.jsonl")
                      if s.get("info") and s["state"] != "LISTEN" and s.get("t") is not None),
                     key=lambda s: s["t"])
    return {m.key: [(s["t"], value(s["info"], m.key)) for s in samples] for m in METRICS}


def text(svg: ET.Element, x: float, y: float, words: str, size: int = 11,
         fill: str = "black", weight: str = "normal") -> None:
    ET.SubElement(svg, "text", {"x": f"{x:g}", "y": f"{y:g}", "font-size": str(size),
                                "fill": fill, "font-weight": weight}).text = words


def panel(svg: ET.Element, x: float, y: float, title: str,
          points: list[tuple[float, float]], span: tuple[float, float]) -> None:
    ET.SubElement(svg, "rect", {"x": str(x), "y": str(y), "width": str(PANEL_W),
                                "height": str(PANEL_H), "fill": "none", "stroke": "#bbbbbb"})
    text(svg, x, y - 6, title)
    if not points:
        text(svg, x + 8, y + PANEL_H / 2, "no samples", fill="#888888")
        return
    low, high = min(v for _, v in points), max(v for _, v in points)
    t0, t1 = span

    def at(t: float, v: float) -> str:
        px = x + (t - t0) / ((t1 - t0) or 1) * PANEL_W
        py = y + PANEL_H - (v - low) / ((high - low) or 1) * (PANEL_H - 10) - 5
        return f"{px:.1f},{py:.1f}"

    steps = []
    for (t, v), (t_next, _) in zip(points, points[1:] + [(t1, 0)]):
        steps += [at(t, v), at(t_next, v)]   # a value holds until the next sample
    ET.SubElement(svg, "polyline", {"points": " ".join(steps), "fill": "none",
                                    "stroke": "#1f5fbf", "stroke-width": "1.5"})
    for label, v, dy in (("max", high, 12), ("min", low, PANEL_H - 4)):
        text(svg, x + PANEL_W + 4, y + dy, f"{label} {v:g}", size=10, fill="#555555")


def render_tcp_info(root: Path) -> str:
    """The SVG: a row of plots per host, time across, on one time scale."""
    data = {role: series(root, role) for role in ROLES}
    times = [t for metrics in data.values() for t, _ in metrics["rtt_ms"]]
    span = (min(times, default=0.0), max(times, default=1.0))
    width = LEFT + len(METRICS) * (PANEL_W + 60)
    height = TOP + len(ROLES) * (PANEL_H + 2 * GAP) + 10
    svg = ET.Element("svg", {"xmlns": "http://www.w3.org/2000/svg", "width": str(width),
                             "height": str(height), "font-family": "sans-serif"})
    text(svg, 10, 18, f"tcp_info of the connection, as sampled, +{span[0]:.3f} s to "
                      f"+{span[1]:.3f} s", size=13)
    for row, role in enumerate(ROLES):
        y = TOP + row * (PANEL_H + 2 * GAP) + GAP
        text(svg, 10, y + PANEL_H / 2, role, size=13, weight="bold")
        for column, metric in enumerate(METRICS):
            panel(svg, LEFT + column * (PANEL_W + 60), y, metric.title,
                  data[role][metric.key], span)
    return ET.tostring(svg, encoding="unicode")
