"""Experiments: scenario x impairment matrices in parallel labs, resumable, summarised
with tables, plots and an index of every run (docs/experiments.md)."""

from __future__ import annotations

import os
from pathlib import Path

from kit.errors import BadInput
from kit.experiment.runner import ExperimentRunner, write_experiment_file
from kit.experiment.spec import Experiment, load_experiment
from kit.experiment.summary import write_summary
from kit.image import ensure_lab_image
from kit.impair import Shaping, parse_link, resolve_shaping
from kit.progress import say


def experiment_directory(out: Path, experiment: Experiment) -> Path:
    """The same file always writes to the same place, so running it again resumes."""
    return out / "experiments" / experiment.name


def choose_engines(experiment: Experiment, image: str) -> dict[str, Shaping | None]:
    """The shaping of every cell, chosen before anything starts: one netem probe for the
    whole experiment, and an option the engine cannot honour is refused up front."""
    chosen: dict[str, Shaping | None] = {}
    by_link: dict[tuple, Shaping | None] = {}
    for cell in experiment.cells():
        key = tuple(sorted(cell.link.items()))
        if key not in by_link:
            by_link[key] = resolve_shaping(parse_link(**cell.link), image)
        chosen[cell.id] = by_link[key]
    reasons = {s.reason for s in chosen.values() if s is not None}
    engines = {s.engine for s in chosen.values() if s is not None}
    if engines:
        say(f"link: {', '.join(sorted(engines))} engine ({'; '.join(sorted(reasons))})")
    return chosen


def run_experiment(path: str, parallel: int = 1, out: str = "results",
                   base_image: str = "debian:bookworm-slim") -> tuple[Path, int]:
    """Run (or resume) the experiment in ``path``; return its directory and exit code:
    0 if every run passed, 1 otherwise."""
    if not 1 <= parallel <= 64:
        raise BadInput(f"--parallel must be between 1 and 64: got {parallel}")
    experiment = load_experiment(Path(path))
    cells = experiment.cells()
    image = ensure_lab_image(base_image)
    # Probe once, here, so the per-cell link problems are refused before any lab starts.
    engines = choose_engines(experiment, image.name)
    directory = experiment_directory(Path(out), experiment)
    directory.mkdir(parents=True, exist_ok=True)
    write_experiment_file(directory, experiment)
    say(f"experiment {experiment.name}: {len(cells)} runs, {parallel} at a time, "
        f"in {directory}")
    cores = os.cpu_count() or 1
    if parallel > 2 * cores:
        # Measured (docs/benchmarks.md): past about two labs a core the runs only queue
        # for the CPU, and timing-sensitive evidence (the userspace delay line, captures)
        # degrades; the checks then say so.
        say(f"note: {parallel} labs on {cores} cores: they will compete for the CPU, which "
            "slows them without speeding the whole up and can fail timing checks")
    runner = ExperimentRunner(experiment, directory, image, engines, parallel)
    try:
        outcomes = runner.run(cells)
    finally:
        # Interrupted or not, the summary covers every run written so far.
        written = write_summary(experiment, directory)
        say(f"summary: {written['markdown']}, {written['csv']}, plots in {written['plots']}")
        say(f"index: {written['index']}")
    failed = [o for o in outcomes if o.status not in ("pass", "skipped")]
    return directory, 0 if not failed else 1
