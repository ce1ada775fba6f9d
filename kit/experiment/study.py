"""Running an experiment: its cells N at a time, in a pool of labs, resumable.

Each cell runs in a child process (kit.experiment.cell, forked from a server that has
imported the kit once), the same code path as ``invoke run``: a Ctrl-C reaches each
child as SIGINT, and each stops its run and marks it incomplete, as a single run does.
The children run in sessions of their own, so the terminal's Ctrl-C reaches the parent
alone, which passes it on, waits for them, and removes the pool's labs.

Layout: <out>/<experiment name>/ with experiment.yaml (the file as run), runs/<cell id>/
(each a run directory), logs/<cell id>.log, interrupted/ (runs a resume had to redo),
and the summary files.
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from kit.core.checks import Verdict
from kit.core.errors import KitError
from kit.core.interrupts import deferred_interrupt
from kit.core.parameters import labs_at_once
from kit.core.progress import console, say
from kit.core.record import RunRecord
from kit.core.results import atomic_write
from kit.experiment.cell import EXIT_CODES, cell_spec, run_forked, status_of
from kit.experiment.spec import Cell, Experiment, load_experiment
from kit.experiment.summary import study_runs, write_study_summary
from kit.impair.apply import NetemProbe
from kit.impair.shaping import Shaping, resolve_shaping
from kit.impair.spec import parse_link
from kit.report.junit import write_junit
from kit.testbeds.base import LabLending, Lease, Provider
from kit.testbeds.factory import DEFAULT_BASE_IMAGE, provider_for

CHILD_TEARDOWN_SECONDS = 90
# Cells are forked from a server that has imported the kit once (kit.experiment.cell).
CELLS = multiprocessing.get_context("forkserver")
CELLS.set_forkserver_preload(["kit.experiment.cell"])


@dataclass
class CellOutcome:
    cell: Cell
    status: str   # pass | fail | inconclusive | error | interrupted | skipped (done before)
    seconds: float = 0.0


def run_directory(directory: Path, cell: Cell) -> Path:
    return directory / "runs" / cell.id


def recorded_state(directory: Path, cell: Cell) -> str:
    """finished (judged), inconclusive (to run again), or interrupted (unfinished)."""
    try:
        record = RunRecord.load(run_directory(directory, cell))
    except KitError:      # none yet, or half-written: the run did not end
        return "interrupted"
    if not record.complete:
        return "interrupted"
    return "inconclusive" if record.verdict == Verdict.INCONCLUSIVE else "finished"


def set_aside(directory: Path, cell: Cell, why: str = "interrupted") -> None:
    """Keep a run's files that will be run again (nothing written is lost) in
    ``<why>/``, out of the summary."""
    partial = run_directory(directory, cell)
    if not partial.exists():
        return
    target = directory / why / cell.id
    suffix = 1
    while target.exists():
        suffix += 1
        target = directory / why / f"{cell.id}.{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(partial), str(target))


def time_bound(cell: Cell, experiment: Experiment) -> float:
    """How long a cell's programs may take: its script, then the server's time to finish."""
    params = replace(experiment.params, link_rtt=parse_link(**cell.link).round_trip_bound())
    plan = cell.run.scenario.plan(cell.variant, params)
    return max((step.at for step in plan.script), default=0.0) + plan.server_finish_timeout


def longest_first(cells: list[Cell], experiment: Experiment) -> list[Cell]:
    """The order parallel labs take cells in: a long run started last would keep the
    study waiting."""
    return sorted(cells, key=lambda cell: -time_bound(cell, experiment))


class ExperimentRunner:
    """``provider``: where the cells run (None: elsewhere, a cluster's workers);
    ``pool``: the labs it lends them (a new lab per cell without one)."""

    def __init__(self, experiment: Experiment, directory: Path, provider: Provider | None,
                 shaping_engines: dict[str, Shaping | None], parallel: int,
                 base_image: str = DEFAULT_BASE_IMAGE, pool: LabLending[Any] | None = None):
        self.experiment = experiment
        self.base_image = base_image   # as asked for: recorded, for 'invoke rerun'
        self.directory = directory
        self.provider = provider
        self.engines = shaping_engines      # cell id -> the shaping chosen up front
        self.parallel = parallel
        self.pool = pool
        self._pending: list[Cell] = []      # cells not started yet
        self._children: dict[str, Any] = {}   # cell id -> its process (or cluster task)
        self._lock = threading.Lock()
        self._stopping = False

    def run(self, cells: list[Cell]) -> list[CellOutcome]:
        outcomes = []
        todo = []
        for cell in cells:
            state = recorded_state(self.directory, cell)
            if state == "finished":
                outcomes.append(CellOutcome(cell, "skipped"))
            else:
                set_aside(self.directory, cell, state)
                todo.append(cell)
        if outcomes:
            say(f"{len(outcomes)} of {len(cells)} runs already done: resuming with the "
                f"other {len(todo)}")
        if self.parallel > 1:
            todo = longest_first(todo, self.experiment)
        counts = {"pass": 0, "fail": 0, "inconclusive": 0, "error": 0, "interrupted": 0}
        columns = (TextColumn("[bold]{task.description}"), BarColumn(),
                   TextColumn("{task.completed}/{task.total}"),
                   TextColumn("{task.fields[state]}"), TimeElapsedColumn(),
                   TextColumn("left"), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=False) as progress, \
                ThreadPoolExecutor(max_workers=self.parallel) as pool:
            task = progress.add_task(self.experiment.name, total=len(todo), state="")

            def show() -> None:
                progress.update(task, state=(
                    f"passed {counts['pass']}, failed {counts['fail']}, inconclusive "
                    f"{counts['inconclusive']}, errors {counts['error']}, "
                    f"{self.running_text()}"))

            futures: dict[Future, Cell] = {}
            pending = self._pending = list(todo)
            try:
                while pending or futures:
                    while pending and len(futures) < self.parallel and not self._stopping:
                        cell = pending.pop(0)
                        futures[pool.submit(self._run_cell, cell)] = cell
                    show()
                    done, _ = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        futures.pop(future)
                        outcome = future.result()
                        outcomes.append(outcome)
                        counts[outcome.status] = counts.get(outcome.status, 0) + 1
                        progress.advance(task)
                        if not console.is_terminal:   # CI logs: a line per finished run
                            say(f"  [{sum(counts.values())}/{len(todo)}] {outcome.cell.id}: "
                                f"{outcome.status} ({outcome.seconds:.1f} s)")
                    show()
            except KeyboardInterrupt:
                self._stopping = True
                progress.update(task, description=f"{self.experiment.name}: interrupted, "
                                                  "waiting for the running labs to go")
                self._interrupt_children()
                for future in list(futures):
                    outcomes.append(future.result())
                raise
        return outcomes

    def running_text(self) -> str:
        return f"running {len(self._children)}"

    def _run_cell(self, cell: Cell) -> CellOutcome:
        if self.pool is None:
            return self._run_child(cell, None)
        started = time.monotonic()
        try:
            lease = self.pool.take(cell.run.mount)
        except KitError as error:
            self._log(cell).write_text(f"error: {error}\n")
            return CellOutcome(cell, "error", time.monotonic() - started)
        outcome = self._run_child(cell, lease)
        # A lab whose run did not end in a verdict may hold anything: it goes; so does
        # one no run waits for, while the last runs finish.
        self.pool.give_back(lease, cell.run.mount,
                            reusable=outcome.status in EXIT_CODES and bool(self._pending))
        outcome.seconds = time.monotonic() - started
        return outcome

    def _log(self, cell: Cell) -> Path:
        log = self.directory / "logs" / f"{cell.id}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        return log

    def _run_child(self, cell: Cell, lease: Lease | None) -> CellOutcome:
        assert self.provider is not None     # a study on this machine knows where it runs
        spec = cell_spec(cell, self.experiment, self.directory, self.provider.to_json(),
                         self.engine_of(cell), self.base_image, lease)
        log = self._log(cell)
        started = time.monotonic()
        with self._lock:
            if self._stopping:
                return CellOutcome(cell, "interrupted")
            child = CELLS.Process(target=run_forked,
                                  args=(json.dumps(spec.to_json()), str(log)),
                                 name=f"netkit-cell-{cell.id}")
            child.start()
            self._children[cell.id] = child
        try:
            child.join()
        finally:
            with self._lock:
                self._children.pop(cell.id, None)
        status = status_of(child.exitcode, run_directory(self.directory, cell), log)
        return CellOutcome(cell, status, time.monotonic() - started)

    def engine_of(self, cell: Cell) -> dict | None:
        """The shaping chosen for ``cell``, as a cell's request carries it."""
        shaping = self.engines.get(cell.id)
        return None if shaping is None else {"engine": shaping.engine, "reason": shaping.reason}

    def _interrupt_children(self) -> None:
        """SIGINT to every running child; each removes its lab, then exits."""
        with self._lock:
            children = list(self._children.values())
        for child in children:
            if child.pid is not None:
                try:
                    os.kill(child.pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + CHILD_TEARDOWN_SECONDS
        for child in children:
            child.join(max(0.1, deadline - time.monotonic()))
            if child.exitcode is None:
                child.kill()   # its lab stays labelled: 'invoke clean' removes it


def write_experiment_file(directory: Path, experiment: Experiment) -> None:
    atomic_write(directory / "experiment.yaml", experiment.text.encode())


def experiment_directory(out: Path, experiment: Experiment) -> Path:
    """The same file always writes to the same place, so running it again resumes."""
    return out / "experiments" / experiment.name


def choose_engines(experiment: Experiment,
                   probe_netem: Callable[[], NetemProbe]) -> dict[str, Shaping | None]:
    """The shaping of every cell, chosen before anything starts: one netem probe for the
    whole experiment, and an option the engine cannot honour is refused up front."""
    chosen: dict[str, Shaping | None] = {}
    by_link: dict[tuple, Shaping | None] = {}
    probe_once = functools.cache(probe_netem)
    for cell in experiment.cells():
        key = tuple(sorted(cell.link.items()))
        if key not in by_link:
            by_link[key] = resolve_shaping(parse_link(**cell.link), probe_once)
        chosen[cell.id] = by_link[key]
    reasons = {s.reason for s in chosen.values() if s is not None}
    engines = {s.engine for s in chosen.values() if s is not None}
    if engines:
        say(f"link: {', '.join(sorted(engines))} engine ({'; '.join(sorted(reasons))})")
    return chosen


# Measured (docs/benchmarks.md, with one agent per host): on two cores four labs kept
# their timing (every first attempt of the 40-run study passed, the catalog's too), and
# at eight the userspace delay lines were late in 5 to 13 of 40 runs; eight unshaped labs
# left 1 of 24 inconclusive.
CORES_PER_LAB = 0.25
CORES_PER_SHAPED_LAB = 0.5


def labs_the_machine_holds(engines: dict[str, Shaping | None]) -> tuple[int, bool]:
    """How many labs this machine keeps to their timing, and whether the count is that
    of labs with a userspace delay line."""
    delay_lines = any(s is not None and s.engine == "userspace" for s in engines.values())
    per_lab = CORES_PER_SHAPED_LAB if delay_lines else CORES_PER_LAB
    return max(1, int((os.cpu_count() or 1) / per_lab)), delay_lines


def warn_about_load(parallel: int, engines: dict[str, Shaping | None]) -> None:
    """Say before the study when the machine cannot hold the labs asked for."""
    holds, delay_lines = labs_the_machine_holds(engines)
    if parallel > holds:
        what = "labs with a userspace delay line" if delay_lines else "labs"
        then = (f"at the end, {holds} at a time, then one at a time if still inconclusive"
                if holds > 1 else "one at a time at the end")
        say(f"note: {parallel} labs at a time on {os.cpu_count() or 1} cores, which hold "
            f"about {holds} {what}: runs whose programs or link wait for a CPU are marked "
            f"inconclusive (programs-got-the-cpu, link-held-its-timing) and run again {then}")
    elif parallel > 1 and delay_lines:
        say("note: the userspace delay lines share the CPU with the other labs; each run's "
            "link-held-its-timing check says whether its link kept time (docs/impairments.md)")


def rerun_levels(parallel: int, holds: int) -> list[int]:
    """Labs at a time for the runs again: as many as the machine holds when the study
    asked for more, then one, for what is still inconclusive."""
    return ([holds] if 1 < holds < parallel else []) + [1]


def run_inconclusive_again(outcomes: list[CellOutcome], directory: Path,
                           runner: ExperimentRunner, labs: int = 1) -> list[CellOutcome]:
    """The runs the busy machine left inconclusive, once more, ``labs`` at a time
    (``runner``: one with that many labs); the first attempts are kept in inconclusive/."""
    again = [o.cell for o in outcomes if o.status == "inconclusive"]
    if not again:
        return outcomes
    how = "one at a time" if labs == 1 else f"{labs} at a time"
    runs = "1 run was" if len(again) == 1 else f"{len(again)} runs were"
    say(f"{runs} inconclusive (their lab waited for the CPU): running them again {how}")
    for cell in again:
        set_aside(directory, cell, "inconclusive")
    return [o for o in outcomes if o.status != "inconclusive"] + runner.run(again)


def run_experiment(path: str, parallel: int = 1, out: str = "results",
                   base_image: str = DEFAULT_BASE_IMAGE,
                   junit: Path | None = None, fresh_labs: bool = False,
                   provider: Provider | None = None) -> tuple[Path, int]:
    """Run (or resume) the experiment in ``path`` on this machine; return its directory
    and exit code: 0 if every run passed, 1 otherwise. ``junit``: also write a JUnit
    report of every run the study holds; ``fresh_labs``: a new lab per run, not a pool
    of labs; ``provider``: where the cells run (a Docker lab of ``base_image`` unless
    told). kit.experiment.cluster runs one on a Dask cluster."""
    parallel = labs_at_once(parallel)
    experiment = load_experiment(Path(path))
    cells = experiment.cells()
    provider = provider or provider_for(base_image=base_image)
    provider.prepare()
    # Probe once, here, so the per-cell link problems are refused before any lab starts.
    engines = choose_engines(experiment, provider.netem_probe)
    directory = experiment_directory(Path(out), experiment)
    directory.mkdir(parents=True, exist_ok=True)
    write_experiment_file(directory, experiment)
    say(f"experiment {experiment.name}: {len(cells)} runs, {parallel} at a time, "
        f"in {directory}")
    warn_about_load(parallel, engines)
    pool = None if fresh_labs else provider.lending(experiment.params.kernel_trace)
    runner = ExperimentRunner(experiment, directory, provider, engines, parallel, base_image,
                              pool)
    try:
        with closing(pool) if pool else nullcontext():
            outcomes = runner.run(cells)
            if parallel > 1:
                for labs in rerun_levels(parallel, labs_the_machine_holds(engines)[0]):
                    again = ExperimentRunner(experiment, directory, provider, engines, labs,
                                             base_image, pool)
                    outcomes = run_inconclusive_again(outcomes, directory, again, labs)
    finally:
        summarise(experiment, directory, junit)
    return directory, exit_code_of(outcomes)


def summarise(experiment: Experiment, directory: Path, junit: Path | None) -> None:
    """Interrupted or not, the summary covers every run written so far; a second Ctrl-C
    waits for it."""
    with deferred_interrupt():
        written = write_study_summary(experiment, directory)
    say(f"summary: {written['markdown']}, {written['csv']}, plots in {written['plots']}")
    say(f"index: {written['index']}")
    if junit:
        write_junit(junit, study_runs(experiment, directory))


def exit_code_of(outcomes: list[CellOutcome]) -> int:
    return 0 if all(o.status in ("pass", "skipped") for o in outcomes) else 1
