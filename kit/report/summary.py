"""summary.md for one run, and the side-by-side comparison of several variants.

Both are built from the run directory's files alone, so they can be rebuilt offline.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kit.core.checks import Verdict, unjudged, why_inconclusive
from kit.core.record import RunRecord
from kit.core.results import RunDirectory, atomic_write
from kit.core.roles import ROLES
from kit.impair.describe import link_text
from kit.observe.capture import describe
from kit.observe.ss import SocketRecord, state_path
from kit.report import outcomes


def load_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def load_states(root: Path, role: str) -> list[tuple[str, float | None]]:
    records = []
    for line in _read(root / "ss" / f"{role}.jsonl").splitlines():
        records.append(SocketRecord(**json.loads(line)))
    return state_path(records)


def states_text(path: list[tuple[str, float | None]]) -> str:
    return " -> ".join(f"{state} (+{t:.2f} s)" if t is not None else state
                       for state, t in path) or "(no samples)"


def verdict_word(record: RunRecord) -> str:
    word = record.verdict.upper()
    skipped = len(unjudged(record.checks))
    if skipped:
        word += f" ({skipped} not judged)"
    return word if record.complete else f"{word} (incomplete)"


def write_summary(directory: RunDirectory) -> Path:
    root = directory.root
    record = RunRecord.load(root)
    params = record.parameters
    env = record.environment
    lines = [
        f"# {record.scenario} / {record.variant}: {verdict_word(record)}",
        "",
        record.description,
        "",
        f"- server delay {params.get('server_delay')} s, server SIGPIPE "
        f"{params.get('sigpipe')}, ss every {params.get('ss_interval')} s, "
        f"port {params.get('port')}",
        f"- link: {link_text(record.link)}",
        f"- run {record.run_id} started {record.started_at}; kernel "
        f"{', '.join(record.kernels())}, Docker {env.get('docker_engine')}, {env.get('compose')}, "
        f"kit {env.get('kit_version')}",
    ]
    if record.error:
        lines += ["", f"**Error:** {record.error}"]
    if record.verdict == Verdict.INCONCLUSIVE:
        lines += ["", f"**Inconclusive:** {why_inconclusive(record.checks)}"]
    for role in ROLES:
        program = record.programs.get(role, {})
        lines += ["", f"## {role.capitalize()} transcript "
                      f"({program.get('exit', 'did not finish')})", "", "```",
                  _read(root / "logs" / f"{role}.log").rstrip() or "(no output)", "```"]
    lines += ["", "## Socket states", ""]
    for role in ROLES:
        lines.append(f"- {role}, ss samples: {states_text(load_states(root, role))}")
    kernel = load_jsonl(root / "kernel.jsonl")
    for role in ROLES:
        moves = [f"{r['newstate']} (+{r['t']:.3f} s)" for r in kernel
                 if r["event"] == "inet_sock_set_state" and r["host"] == role]
        if moves:
            lines.append(f"- {role}, kernel: " + " -> ".join(moves))
    if not kernel:
        reason = (record.kernel_trace or {}).get("reason", "not recorded")
        lines.append(f"- kernel transitions: none ({reason})")
    lines += [f"- kernel trace: {why}" for why in record.trace_limits()]
    packets = load_jsonl(root / "packets.jsonl")
    if packets:
        lines += ["", "## Packets (as sent; pcap/ has both captures)", "", "```"]
        lines += [f"+{p['t']:.6f} s  {p['from']:>6} -> {p['to']:<6}  {describe(p)}"
                  for p in packets]
        lines.append("```")
    lines += ["", "## Checks", "", "| check | claims | result | expected | observed |",
              "|---|---|---|---|---|"]
    for check in record.checks:
        cells = [check.name, check.claim, outcomes.MARKDOWN[check.outcome],
                 check.expected, check.observed]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    if not record.checks:
        lines.append("| (none: the run did not finish) | | | | |")
    lines += ["", "Files: report.html, sequence.svg, run.json, events/, pcap/, packets.jsonl, "
                  "kernel.jsonl, ss/, timeline.jsonl, logs/, counters.json, raw/ "
                  "(docs/results.md describes them).", ""]
    return directory.write_text("summary.md", "\n".join(lines))


def comparison_table(records: list[tuple[Path, RunRecord]]) -> Table:
    """The variants side by side, as the lesson shows its two transcripts."""
    table = Table(title=f"{records[0][1].scenario}: the variants side by side",
                  show_lines=True)
    table.add_column("")
    for _, record in records:
        table.add_column(f"{record.variant}: {verdict_word(record)}")
    if any(record.link for _, record in records):
        table.add_row("link", *[link_text(record.link) for _, record in records])
    for role in ROLES:
        table.add_row(f"{role} output",
                      *[_read(root / "logs" / f"{role}.log").rstrip() for root, _ in records])
        table.add_row(f"{role} exit",
                      *[r.programs.get(role, {}).get("exit", "?") for _, r in records])
        table.add_row(f"{role} states",
                      *[states_text(load_states(root, role)).replace(" -> ", "\n-> ")
                        for root, _ in records])
    table.add_row("checks", *["\n".join(f"{outcomes.MARK[c.outcome]:5}" + c.name
                                        for c in r.checks) or "-"
                              for _, r in records])
    return table


def write_comparison(out: Path, records: list[tuple[Path, RunRecord]], name: str) -> Path:
    """A Markdown file linking the variants' summaries, with the table as text."""
    console = Console(record=True, width=140, file=io.StringIO())
    console.print(comparison_table(records))
    lines = [f"# {records[0][1].scenario}: variants compared", ""]
    for root, record in records:
        lines.append(f"- [{record.variant}]({root.name}/summary.md): {verdict_word(record)}")
    lines += ["", "```", console.export_text().rstrip(), "```", ""]
    path = out / name
    atomic_write(path, "\n".join(lines).encode())
    return path
