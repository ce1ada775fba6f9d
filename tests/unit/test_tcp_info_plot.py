"""tcp_info.svg, drawn from a recorded run's socket samples (tests/data/catalog)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from kit.report.tcpinfo import METRICS, render_tcp_info, series, value

SVG = "{http://www.w3.org/2000/svg}"


def test_series_follow_the_connection_and_not_the_listener(data):
    root = data / "catalog" / "close-graceful"
    client = series(root, "client")
    assert set(client) == {m.key for m in METRICS}
    times = [t for t, _ in client["rtt_ms"]]
    assert times == sorted(times) and len(times) > 10
    assert all(0 < rtt < 50 for _, rtt in client["rtt_ms"])       # a veth, unshaped
    assert all(cwnd >= 10 for _, cwnd in client["cwnd"])
    assert all(n == 0 for _, n in client["retransmits"])


def test_fields_ss_leaves_out_when_zero_read_as_zero():
    assert value({"cwnd": 10}, "unacked") == 0
    assert value({"retrans": "0/3"}, "retransmits") == 3
    assert value({}, "retransmits") == 0


def test_the_plot_has_a_line_per_host_and_metric_inside_its_panel(data):
    svg = ET.fromstring(render_tcp_info(data / "catalog" / "close-graceful"))
    panels = svg.findall(f"{SVG}rect")
    lines = svg.findall(f"{SVG}polyline")
    assert len(panels) == len(lines) == 2 * len(METRICS)
    for panel, line in zip(panels, lines):
        x, y = float(panel.get("x")), float(panel.get("y"))
        w, h = float(panel.get("width")), float(panel.get("height"))
        for point in line.get("points").split():
            px, py = (float(n) for n in point.split(","))
            assert x - 0.1 <= px <= x + w + 0.1 and y <= py <= y + h


def test_a_run_without_samples_says_so(tmp_path):
    svg = render_tcp_info(tmp_path)
    assert svg.count("no samples") == 2 * len(METRICS)
