"""An experiment's summary, rebuilt from its run directories alone: summary.csv (a row
per run), summary.md (medians per cell of the matrix, verdicts), plots (PNG and SVG)
and index.html linking every run's report. Cells not run yet are listed as such."""

from __future__ import annotations

import csv
import io
import statistics
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")   # files only, no display
import matplotlib.pyplot as plt
from jinja2 import Environment, PackageLoader, select_autoescape

from kit.core.checks import Verdict, unjudged
from kit.core.errors import BadInput
from kit.core.record import RunRecord
from kit.core.results import atomic_write
from kit.core.roles import ROLES
from kit.experiment.measures import measure
from kit.experiment.spec import Experiment
from kit.impair.spec import parse_link

_templates = Environment(loader=PackageLoader("kit.report", "templates"),
                         autoescape=select_autoescape(["html", "j2"]))


# The verdicts of runs that ended (run.json's verdict); "inconclusive": the lab did not
# hold the run's conditions (docs/results.md).
JUDGED = tuple(Verdict)


def study_runs(experiment: Experiment, directory: Path) -> list[Path]:
    """The run directories the study holds so far, in the order of its cells."""
    roots = [directory / "runs" / cell.id for cell in experiment.cells()]
    return [root for root in roots if (root / "run.json").is_file()]


def collect_rows(experiment: Experiment, directory: Path) -> list[dict]:
    """A row per cell of the experiment: its axes, verdict and measures."""
    rows = []
    for cell in experiment.cells():
        root = directory / "runs" / cell.id
        row = {"cell": cell.id, "run": cell.run.label, "variant": cell.variant,
               **dict(cell.axes), "repetition": cell.repetition}
        try:
            record: RunRecord | None = RunRecord.load(root)
        except BadInput:
            record = None
        if record is None or not record.complete:
            row.update(verdict="not run" if record is None else "incomplete")
            rows.append(row)
            continue
        failed = record.failed_checks
        skipped = unjudged(record.checks)
        row.update(verdict=record.verdict,
                   checks_passed=len(record.checks) - len(failed) - len(skipped),
                   checks_failed=len(failed),
                   failed_checks=" ".join(c.name for c in failed),
                   checks_not_judged=len(skipped),
                   engine=(record.link or {}).get("engine", ""),
                   report=f"runs/{cell.id}/report.html")
        row.update(measure(root, experiment.measures))
        rows.append(row)
    return rows


def _columns(rows: list[dict]) -> list[str]:
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    return columns


def write_csv(directory: Path, rows: list[dict]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows), restval="")
    writer.writeheader()
    writer.writerows(rows)
    path = directory / "summary.csv"
    atomic_write(path, buffer.getvalue().encode())
    return path


def measure_columns(rows: list[dict]) -> list[str]:
    """The numeric measures found in the rows, in the order they first appear."""
    fixed = {"cell", "run", "variant", "repetition", "verdict", "checks_passed",
             "checks_failed", "failed_checks", "checks_not_judged", "engine", "report"}
    return [c for c in _columns(rows) if c not in fixed and any(
        isinstance(row.get(c), (int, float)) and not isinstance(row.get(c), bool)
        for row in rows)]


def group(rows: list[dict], axes: list[str]) -> dict[tuple, list[dict]]:
    """Rows of the same run, variant and axes values (the repetitions of one cell)."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        key = (row["run"], row["variant"], *(row.get(a) for a in axes))
        groups[key].append(row)
    return groups


def _median(values: list) -> float | None:
    numbers = [v for v in values if isinstance(v, (int, float))]
    return statistics.median(numbers) if numbers else None


def write_markdown(experiment: Experiment, directory: Path, rows: list[dict],
                   plots: list[Path]) -> Path:
    axes = [name for name, _ in experiment.matrix]
    measures = measure_columns(rows)
    done = [r for r in rows if r["verdict"] in JUDGED]
    lines = [f"# Experiment {experiment.name}", "", experiment.description, "",
             f"{len(done)} of {len(rows)} runs done: "
             f"{sum(r['verdict'] == 'pass' for r in rows)} passed, "
             f"{sum(r['verdict'] == 'fail' for r in rows)} failed, "
             f"{sum(r['verdict'] == 'inconclusive' for r in rows)} inconclusive, "
             f"{sum(r['verdict'] in ('not run', 'incomplete') for r in rows)} not run "
             "or incomplete. Medians over the repetitions; summary.csv has every run.", ""]
    not_judged = sum(r.get("checks_not_judged") or 0 for r in rows)
    if not_judged:
        lines[-2] += (f" {not_judged} checks were not judged: the labs' kernels could not "
                      "show what they need (each run's summary says what was missing).")
    header = ["run", "variant", *axes, "verdicts", *measures]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, members in group(rows, axes).items():
        verdicts = ", ".join(f"{sum(m['verdict'] == v for m in members)} {v}"
                             for v in (*JUDGED, "incomplete", "not run")
                             if any(m["verdict"] == v for m in members))
        cells = [*map(str, key), verdicts]
        for column in measures:
            value = _median([m.get(column) for m in members])
            cells.append("" if value is None else f"{value:.4g}")
        lines.append("| " + " | ".join(cells) + " |")
    failed = [r for r in rows if r.get("failed_checks")]
    if failed:
        lines += ["", "## Failed checks", ""]
        lines += [f"- [{r['cell']}](runs/{r['cell']}/summary.md): {r['failed_checks']}"
                  for r in failed]
    if plots:
        lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.relative_to(directory)})"
                                         for p in plots if p.suffix == ".svg"]
    lines += ["", "[index.html](index.html) links every run's report.", ""]
    path = directory / "summary.md"
    atomic_write(path, "\n".join(lines).encode())
    return path


AXIS_UNITS = {"latency": "ms", "jitter": "ms", "rate": "Mbit/s", "limit": "packets"}


def axis_number(axis: str, value) -> float | None:
    """Where a matrix value goes on its axis, in one unit whatever unit it was written in:
    latency '0.05s' and '50ms' both at 50 (ms), loss '1%' at 1, rate '10mbit' at 10."""
    try:
        impairment = parse_link(**{axis: str(value)}).impairment
    except (BadInput, TypeError):
        return None
    number = getattr(impairment, axis, None)
    if number is None:
        return None
    if axis in ("latency", "jitter"):
        return number * 1000
    if axis == "rate":
        return number / 1e6
    return number if isinstance(number, (int, float)) else None


def axis_label(axis: str) -> str:
    return f"{axis} ({AXIS_UNITS.get(axis, '%')})"


def _save(figure, directory: Path, name: str) -> list[Path]:
    paths = []
    for suffix in ("png", "svg"):
        path = directory / "plots" / f"{name}.{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix, dpi=110, bbox_inches="tight")
        atomic_write(path, buffer.getvalue())
        paths.append(path)
    plt.close(figure)
    return paths


def plot_measures(experiment: Experiment, directory: Path, rows: list[dict]) -> list[Path]:
    """Each measure against the matrix's first axis: a line per run, variant and value of
    the other axes, at the median of the repetitions (bars: their min and max)."""
    axes = [name for name, _ in experiment.matrix]
    if not axes:
        return []
    x_axis, others = axes[0], axes[1:]
    paths = []
    for column in measure_columns(rows):
        if column in state_columns(rows):
            continue   # plot_states draws them all in one figure per host
        lines: dict[tuple, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
        for row in rows:
            x, y = axis_number(x_axis, row.get(x_axis)), row.get(column)
            if x is None or not isinstance(y, (int, float)):
                continue
            label = (row["run"], row["variant"], *(f"{a} {row.get(a)}" for a in others))
            lines[label][x].append(y)
        if not lines:
            continue
        figure, ax = plt.subplots(figsize=(7, 4))
        for label, points in sorted(lines.items()):
            xs = sorted(points)
            medians = [statistics.median(points[x]) for x in xs]
            low = [m - min(points[x]) for m, x in zip(medians, xs)]
            high = [max(points[x]) - m for m, x in zip(medians, xs)]
            ax.errorbar(xs, medians, yerr=[low, high], marker="o", capsize=3,
                        label=" / ".join(str(part) for part in label))
        ax.set_xlabel(axis_label(x_axis))
        ax.set_ylabel(column)
        ax.set_title(f"{experiment.name}: {column}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        paths += _save(figure, directory, _file_name(column))
    return paths


def plot_verdicts(experiment: Experiment, directory: Path, rows: list[dict]) -> list[Path]:
    """The verdict matrix: a row per run and variant, a column per combination of the
    matrix, each square the share of repetitions that passed."""
    axes = [name for name, _ in experiment.matrix]
    groups = group(rows, axes)
    row_keys = sorted({key[:2] for key in groups})
    column_keys = sorted({key[2:] for key in groups},
                         key=lambda k: [axis_number(a, v) or 0 for a, v in zip(axes, k)])
    shares = [[None] * len(column_keys) for _ in row_keys]
    texts = [[""] * len(column_keys) for _ in row_keys]
    for key, members in groups.items():
        done = [m for m in members if m["verdict"] in JUDGED]
        i, j = row_keys.index(key[:2]), column_keys.index(key[2:])
        if done:
            passed = sum(m["verdict"] == Verdict.PASS for m in done)
            shares[i][j] = passed / len(done)
            texts[i][j] = f"{passed}/{len(done)}"
        else:
            texts[i][j] = "-"
    figure, ax = plt.subplots(figsize=(max(4, 1.2 * len(column_keys) + 2),
                                       max(2, 0.5 * len(row_keys) + 1.5)))
    image = [[float("nan") if s is None else s for s in row] for row in shares]
    ax.imshow(image, cmap="RdYlGn", vmin=0, vmax=1, aspect="auto")
    for i, row in enumerate(texts):
        for j, text in enumerate(row):
            share = shares[i][j]
            dark = share is not None and (share > 0.75 or share < 0.25)
            ax.text(j, i, text, ha="center", va="center", fontsize=9,
                    color="white" if dark else "black")
    ax.set_yticks(range(len(row_keys)), [" / ".join(k) for k in row_keys])
    ax.set_xticks(range(len(column_keys)),
                  [", ".join(f"{a} {v}" for a, v in zip(axes, k)) or "all" for k in column_keys],
                  rotation=30, ha="right")
    ax.set_title(f"{experiment.name}: runs that passed")
    return _save(figure, directory, "verdicts")


def state_columns(rows: list[dict]) -> list[str]:
    """The measures that are a host's time in a TCP state ("client FIN-WAIT-2 s")."""
    return [c for c in measure_columns(rows) if c.endswith(" s")
            and c.split(" ")[0] in ROLES]


def plot_states(experiment: Experiment, directory: Path, rows: list[dict]) -> list[Path]:
    """How long each host spends in each TCP state (medians), a bar per run, variant and
    matrix combination, stacked by state."""
    states = state_columns(rows)
    if not states:
        return []
    axes = [name for name, _ in experiment.matrix]
    groups = list(group(rows, axes).items())[:40]
    paths = []
    for role in ROLES:
        columns = [c for c in states if c.startswith(role + " ")]
        if not columns:
            continue
        figure, ax = plt.subplots(figsize=(8, max(2.5, 0.35 * len(groups) + 1)))
        labels = [" / ".join(str(part) for part in key) for key, _ in groups]
        left = [0.0] * len(groups)
        for column in columns:
            widths = [_median([m.get(column) for m in members]) or 0.0 for _, members in groups]
            ax.barh(labels, widths, left=left, label=column[len(role) + 1:-2])
            left = [a + b for a, b in zip(left, widths)]
        ax.set_xlabel("seconds")
        ax.set_title(f"{experiment.name}: the {role}'s time in each TCP state (kernel trace)")
        ax.legend(fontsize=7, ncol=3)
        ax.invert_yaxis()
        paths += _save(figure, directory, f"states-{role}")
    return paths


def _file_name(column: str) -> str:
    return column.replace(" ", "-").replace("/", "-")


def write_study_index(experiment: Experiment, directory: Path, rows: list[dict],
                plots: list[Path]) -> Path:
    page = _templates.get_template("experiment.html.j2").render(
        experiment=experiment, rows=rows, columns=_columns(rows),
        plots=[p.relative_to(directory) for p in plots if p.suffix == ".svg"])
    path = directory / "index.html"
    atomic_write(path, page.encode())
    return path


def write_study_summary(experiment: Experiment, directory: Path) -> dict[str, Path]:
    rows = collect_rows(experiment, directory)
    plots = (plot_measures(experiment, directory, rows) + plot_verdicts(experiment, directory, rows)
             + plot_states(experiment, directory, rows))
    return {"csv": write_csv(directory, rows),
            "markdown": write_markdown(experiment, directory, rows, plots),
            "index": write_study_index(experiment, directory, rows, plots),
            "plots": directory / "plots"}
