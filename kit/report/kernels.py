"""The claims × kernels table of the same runs on several kernels ('invoke run --kernel
6.1 --kernel 6.12 ...'): for each claim of the lesson and each kernel, the verdict of the
checks that judged it there, and what that kernel did or showed differently: the RSTs it
traced and why it sent them, or what its trace could not show and what decided instead."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape

from kit.core.checks import FAILED, NOT_JUDGED, PASSED, Outcome
from kit.core.record import RunRecord
from kit.core.results import atomic_write
from kit.report import outcomes
from kit.scenarios.claims import CLAIMS

_templates = Environment(loader=PackageLoader("kit.report", "templates"),
                         autoescape=select_autoescape(["html", "j2"]))
_templates.globals["outcome_html"] = outcomes.HTML

# A check's observed text that speaks of what the lab's kernel could not show.
KERNEL_NOTE = "this kernel ("


@dataclass(frozen=True)
class KernelColumn:
    """One kernel's runs: ``label`` as asked (6.1, host...), ``roots`` its run directories."""

    label: str
    roots: list[Path]


@dataclass
class Cell:
    """What one kernel's runs said of one claim."""

    outcomes: list[Outcome] = field(default_factory=list)
    runs_of: dict[str, list[str]] = field(default_factory=dict)   # note -> its runs

    @property
    def outcome(self) -> Outcome:
        for worst in (FAILED, NOT_JUDGED):
            if worst in self.outcomes:
                return worst
        return PASSED

    def tally(self) -> str:
        judged, total = sum(o != NOT_JUDGED for o in self.outcomes), len(self.outcomes)
        checks = "check" if total == 1 else "checks"
        return f"{judged} of {total} {checks} judged" if judged < total else f"{total} {checks}"

    def note(self, run: str, text: str) -> None:
        runs = self.runs_of.setdefault(text, [])
        if run not in runs:
            runs.append(run)

    @property
    def notes(self) -> list[str]:
        """Each note once, after the runs that gave it."""
        return [f"{', '.join(runs)}: {text}" for text, runs in self.runs_of.items()]


def resets_traced(root: Path) -> list[str]:
    """The RSTs the run's kernel traced sending, as 'host: state, reason'."""
    path = root / "kernel.jsonl"
    if not path.is_file():
        return []
    found = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event.get("event") == "tcp_send_reset":
            why = event.get("reason") or "no reason traced"
            state = event.get("state")
            where = f"in {state}" if state and state != "UNKNOWN" else "with no socket"
            found.append(f"{event.get('host')} {where}, {why}")
    return list(dict.fromkeys(found))


def cells_of(column: KernelColumn) -> dict[str, Cell]:
    """Per claim, the cell of this kernel's runs."""
    cells: dict[str, Cell] = {}
    for root in column.roots:
        record = RunRecord.load(root)
        run = f"{record.scenario}/{record.variant}"
        resets = resets_traced(root)
        for check in record.checks:
            for claim in check.claim.split():
                cell = cells.setdefault(claim, Cell())
                cell.outcomes.append(check.outcome)
                if check.outcome != PASSED or KERNEL_NOTE in check.observed:
                    cell.note(run, f"{check.name}: {check.observed}")
                if resets and ("rst" in check.name or "reset" in check.name):
                    cell.note(run, f"RST traced ({'; '.join(resets)})")
        if not record.complete:
            cells.setdefault("-", Cell()).outcomes.append(FAILED)
            cells["-"].note(run, record.error or "incomplete")
    return cells


def releases(column: KernelColumn) -> str:
    found = [kernel for root in column.roots for kernel in RunRecord.load(root).kernels()]
    return ", ".join(dict.fromkeys(found)) or "?"


def table_rows(columns: list[KernelColumn]) -> tuple[list[str], list[dict]]:
    """The column heads and one row per claim (the lesson's order): its cells."""
    heads = [f"{column.label} ({releases(column)})" for column in columns]
    per_kernel = [cells_of(column) for column in columns]
    claims = [claim for claim in [*CLAIMS, "-"] if any(claim in cells for cells in per_kernel)]
    rows = [{"claim": claim, "lesson": CLAIMS.get(claim, "a run that ended without a verdict"),
             "cells": [cells.get(claim) for cells in per_kernel]} for claim in claims]
    return heads, rows


def markdown_cell(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    text = f"{outcomes.MARKDOWN[cell.outcome]} ({cell.tally()})"
    if cell.notes:
        text += "<br>" + "<br>".join(cell.notes)
    return text.replace("|", "\\|")


def write_kernel_table(out: Path, columns: list[KernelColumn], stamp: str) -> Path:
    """``<stamp>-kernels.md`` and ``<stamp>-kernels.html`` in ``out``; returns the page."""
    heads, rows = table_rows(columns)
    runs = ", ".join(f"{column.label}: {len(column.roots)} runs" for column in columns)
    lines = ["# Every claim, on each kernel", "", f"Runs per kernel: {runs}.", "",
             "| claim | the lesson says | " + " | ".join(heads) + " |",
             "|---|---|" + "---|" * len(heads)]
    for row in rows:
        cells = [markdown_cell(cell) for cell in row["cells"]]
        lines.append(f"| {row['claim']} | {row['lesson']} | " + " | ".join(cells) + " |")
    atomic_write(out / f"{stamp}-kernels.md", ("\n".join(lines) + "\n").encode())
    page = out / f"{stamp}-kernels.html"
    atomic_write(page, _templates.get_template("kernels.html.j2").render(
        heads=heads, rows=rows, runs=runs).encode())
    return page
