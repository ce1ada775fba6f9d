"""report.html: one self-contained page per run, and one with the variants side by side."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from kit.core.checks import Verdict, why_inconclusive
from kit.core.record import RunRecord
from kit.core.roles import ROLES
from kit.impair.describe import link_text
from kit.report import outcomes
from kit.report.sequence import render_sequence
from kit.report.summary import load_states, states_text, verdict_word
from kit.report.tcpinfo import render_tcp_info
from kit.report.timeline import load_jsonl

_templates = Environment(loader=PackageLoader("kit.report", "templates"),
                         autoescape=select_autoescape(["html", "j2"]))
_templates.globals["outcome_html"] = outcomes.HTML


def _kernel_path(root: Path, role: str) -> str:
    path: list[str] = []
    for record in load_jsonl(root / "kernel.jsonl"):
        if record["event"] == "inet_sock_set_state" and record["host"] == role:
            if not path:
                path.append(record["oldstate"])
            path.append(f"{record['newstate']} (+{record['t']:.3f} s)")
    return " -> ".join(path)


def page_data(root: Path) -> dict:
    run = RunRecord.load(root)
    return {
        "run": run,
        "verdict": verdict_word(run),
        "inconclusive": why_inconclusive(run.checks) if run.verdict == Verdict.INCONCLUSIVE else "",
        "shaping": link_text(run.link),
        "svg": Markup(render_sequence(root)),
        "tcp_info": Markup(render_tcp_info(root)),
        "transcripts": {role: (root / "logs" / f"{role}.log").read_text()
                        if (root / "logs" / f"{role}.log").exists() else "" for role in ROLES},
        "states": {role: {"kernel": _kernel_path(root, role),
                          "ss": states_text(load_states(root, role))} for role in ROLES},
    }


def render_run(root: Path) -> str:
    return _templates.get_template("run.html.j2").render(**page_data(root))


def render_comparison(roots: list[Path], out: Path) -> str:
    pages = []
    for root in roots:
        data = page_data(root)
        data["link"] = f"{root.relative_to(out)}/report.html"
        pages.append(data)
    return _templates.get_template("comparison.html.j2").render(
        scenario=pages[0]["run"].scenario, pages=pages)
