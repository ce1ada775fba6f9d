"""The index of a whole-catalog run: every claim of the lesson, the checks that judged
it, what the lesson says, what this kernel did, the verdict and the evidence."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from kit.core.checks import FAILED, NOT_JUDGED, PASSED
from kit.core.record import RunRecord
from kit.core.results import atomic_write
from kit.report import outcomes
from kit.scenarios.claims import CLAIMS

_templates = Environment(loader=PackageLoader("kit.report", "templates"),
                         autoescape=select_autoescape(["html", "j2"]))
_templates.globals["outcome_html"] = outcomes.HTML


def index_rows(roots: list[Path], out: Path) -> list[dict]:
    """One row per (claim, check), in the claims' order."""
    rows = []
    for root in roots:
        record = RunRecord.load(root)
        run = f"{record.scenario}/{record.variant}"
        link = f"{root.relative_to(out)}/report.html"
        for check in record.checks:
            for claim in check.claim.split():
                rows.append({"claim": claim, "lesson": CLAIMS.get(claim, ""), "run": run,
                             "link": link, "check": check.name, "expected": check.expected,
                             "observed": check.observed, "outcome": check.outcome})
        if not record.complete:
            rows.append({"claim": "-", "lesson": "", "run": run, "link": link,
                         "check": "(no verdict)", "expected": "",
                         "observed": record.error or "incomplete", "outcome": FAILED})
    order = list(CLAIMS)
    rows.sort(key=lambda r: order.index(r["claim"]) if r["claim"] in order else len(order))
    return rows


def sysctls_seen(roots: list[Path]) -> str:
    """The teardown sysctls the runs' hosts had: one value each, or every value seen."""
    seen: dict[str, list[str]] = {}
    for root in roots:
        for host in RunRecord.load(root).hosts.values():
            for name, value in host.get("sysctls", {}).items():
                if value not in seen.setdefault(name, []):
                    seen[name].append(value)
    return "; ".join(f"{name} = {' | '.join(values)}" for name, values in seen.items())


def kernels_of(roots: list[Path]) -> str:
    """The labs' kernels (as their tracers found them), for the headline."""
    found = [kernel for root in roots for kernel in RunRecord.load(root).kernels()]
    return ", ".join(dict.fromkeys(found)) or "?"


def tally(rows: list[dict], runs: int) -> str:
    counts = {outcome: sum(r["outcome"] == outcome for r in rows)
              for outcome in (PASSED, FAILED, NOT_JUDGED)}
    text = f"{counts[PASSED]} of {len(rows)} checks passed over {runs} runs"
    if counts[NOT_JUDGED]:
        text += (f"; {counts[NOT_JUDGED]} not judged (the kernel could not show what they "
                 "need: each says what was missing)")
    return text + "."


def write_index(out: Path, roots: list[Path], stamp: str) -> Path:
    """``<stamp>-all-index.md`` and ``<stamp>-all-index.html``; returns the HTML page."""
    rows = index_rows(roots, out)
    kernel = kernels_of(roots)
    untested = [claim for claim in CLAIMS if claim != "evidence"
                and claim not in {row["claim"] for row in rows}]
    sysctls = sysctls_seen(roots)
    lines = [f"# Every claim, judged on Linux {kernel}", "", tally(rows, len(roots)), "",
             f"The hosts' teardown sysctls: {sysctls or 'not recorded'}.", "",
             "| claim | the lesson says | run | check: what Linux is expected to do | this "
             "kernel did | verdict |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        cells = [row["claim"], row["lesson"], f"[{row['run']}]({row['link']})",
                 f"{row['check']}: {row['expected']}", row["observed"],
                 outcomes.MARKDOWN[row["outcome"]]]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if untested:
        lines += ["", f"Not judged by this catalog yet: {', '.join(untested)}."]
    atomic_write(out / f"{stamp}-all-index.md", ("\n".join(lines) + "\n").encode())
    page = out / f"{stamp}-all-index.html"
    atomic_write(page, _templates.get_template("index.html.j2").render(
        rows=rows, runs=len(roots), kernel=kernel, tally=tally(rows, len(roots)),
        untested=untested,
        sysctls=sysctls).encode())
    return page
