"""Human-readable reports built from a run directory alone, so they can be rebuilt offline."""

from __future__ import annotations

from kit.core.results import RunDirectory
from kit.report.html import render_comparison, render_run
from kit.report.sequence import render_sequence
from kit.report.summary import write_summary
from kit.report.tcpinfo import render_tcp_info
from kit.report.timeline import build_timeline


def write_reports(directory: RunDirectory) -> None:
    """summary.md, timeline.jsonl, sequence.svg, tcp_info.svg and report.html of one run."""
    write_summary(directory)
    directory.write_jsonl("timeline.jsonl", build_timeline(directory.root))
    directory.write_text("sequence.svg", render_sequence(directory.root))
    directory.write_text("tcp_info.svg", render_tcp_info(directory.root))
    directory.write_text("report.html", render_run(directory.root))


__all__ = ["render_comparison", "write_reports"]
