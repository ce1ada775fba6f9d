"""Running an experiment: its cells N at a time, resumable, the inconclusive ones again.

The study's logic is here once; an executor (kit.experiment.executor) runs its cells:
child processes of this machine in a pool of labs (kit.experiment.forked), this process
on two machines opened once (kit.experiment.in_process), or a Dask cluster's tasks
(kit.experiment.cluster). A Ctrl-C stops the running cells, each marking its run
incomplete, and the summary covers what was written.

Layout: <out>/<experiment name>/ with experiment.yaml (the file as run), runs/<cell id>/
(each a run directory), logs/<cell id>.log, interrupted/ (runs a resume had to redo),
and the summary files.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace
from pathlib import Path

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
from kit.core.kernels import HOST
from kit.core.progress import console, say
from kit.core.record import RunRecord
from kit.core.results import atomic_write
from kit.core.units import labs_at_once
from kit.experiment.executor import CellExecutor, CellOutcome, StudyPlan, run_directory
from kit.experiment.forked import ForkedCells
from kit.experiment.in_process import InProcessCells
from kit.experiment.kernels import KernelCells
from kit.experiment.spec import Cell, Experiment
from kit.experiment.summary import study_runs, write_study_summary
from kit.impair.apply import NetemProbe
from kit.impair.shaping import Shaping, resolve_shaping
from kit.impair.spec import parse_link
from kit.report.junit import write_junit
from kit.report.kernels import KernelColumn, write_kernel_table
from kit.testbeds.base import Provider
from kit.testbeds.factory import DEFAULT_BASE_IMAGE, provider_for


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


def kernel_by_kernel(cells: list[Cell], experiment: Experiment) -> list[Cell]:
    """Each kernel's cells together, in the file's order of kernels (each kernel's VM
    boots once); cells without a kernel axis stay as they are."""
    order = experiment.kernels
    return sorted(cells, key=lambda cell: order.index(cell.kernel)) if order else cells


class Study:
    """The study's own logic, whatever runs its cells: what is done already (resume),
    the order, the progress, Ctrl-C. ``executor`` runs the cells (kit.experiment.executor)."""

    def __init__(self, plan: StudyPlan, executor: CellExecutor):
        self.plan = plan
        self.executor = executor
        self.counts = {"pass": 0, "fail": 0, "inconclusive": 0, "error": 0, "interrupted": 0}
        self.outcomes: list[CellOutcome] = []
        self._live = console.is_terminal and not executor.in_this_process
        self._progress = Progress(*PROGRESS_COLUMNS, console=console, transient=False,
                                  disable=not self._live)
        self._task = self._progress.add_task(plan.experiment.name, total=0, state="")

    def run(self, cells: list[Cell]) -> list[CellOutcome]:
        todo = self.resumed(cells)
        if self.executor.labs > 1:
            todo = longest_first(todo, self.plan.experiment)
        todo = kernel_by_kernel(todo, self.plan.experiment)
        self._progress.update(self._task, total=len(todo))
        with self._progress:
            if self.executor.labs == 1:
                self.one_at_a_time(todo)
            else:
                self.side_by_side(todo)
        return self.outcomes

    def resumed(self, cells: list[Cell]) -> list[Cell]:
        """The cells to run (a partial run set aside); those done before are skipped."""
        todo = []
        for cell in cells:
            state = recorded_state(self.plan.directory, cell)
            if state == "finished":
                self.outcomes.append(CellOutcome(cell, "skipped"))
            else:
                set_aside(self.plan.directory, cell, state)
                todo.append(cell)
        if self.outcomes:
            say(f"{len(self.outcomes)} of {len(cells)} runs already done: resuming with "
                f"the other {len(todo)}")
        return todo

    def one_at_a_time(self, todo: list[Cell]) -> None:
        """In this thread: a Ctrl-C reaches the executor running the cell, which stops it."""
        try:
            for index, cell in enumerate(todo):
                if index == len(todo) - 1:
                    self.executor.no_more_cells()
                self.finished(self.executor.run_cell(cell), len(todo))
        except KeyboardInterrupt:
            self.stopping()
            raise

    def side_by_side(self, todo: list[Cell]) -> None:
        pending = list(todo)
        futures: set[Future] = set()
        with ThreadPoolExecutor(max_workers=self.executor.labs) as threads:
            try:
                while pending or futures:
                    while pending and len(futures) < self.executor.labs:
                        futures.add(threads.submit(self.executor.run_cell, pending.pop(0)))
                        if not pending:
                            self.executor.no_more_cells()
                    self.refresh()
                    done, futures = wait(futures, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        self.finished(future.result(), len(todo))
            except KeyboardInterrupt:
                self.stopping()
                self.executor.interrupt()
                for future in futures:
                    self.finished(future.result(), len(todo))
                raise

    def finished(self, outcome: CellOutcome, of: int) -> None:
        self.outcomes.append(outcome)
        self.counts[outcome.status] = self.counts.get(outcome.status, 0) + 1
        self._progress.advance(self._task)
        self.refresh()
        if not self._live:   # CI logs, or runs printing here: a line per finished run
            say(f"  [{sum(self.counts.values())}/{of}] {outcome.cell.id}: "
                f"{outcome.status} ({outcome.seconds:.1f} s)")

    def refresh(self) -> None:
        counts = self.counts
        self._progress.update(self._task, state=(
            f"passed {counts['pass']}, failed {counts['fail']}, inconclusive "
            f"{counts['inconclusive']}, errors {counts['error']}, {self.executor.busy()}"))

    def stopping(self) -> None:
        self._progress.update(self._task, description=f"{self.plan.experiment.name}: "
                              "interrupted, waiting for the running labs to go")


PROGRESS_COLUMNS = (TextColumn("[bold]{task.description}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total}"),
                    TextColumn("{task.fields[state]}"), TimeElapsedColumn(),
                    TextColumn("left"), TimeRemainingColumn())


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


def run_inconclusive_again(outcomes: list[CellOutcome], plan: StudyPlan,
                           executor: CellExecutor) -> list[CellOutcome]:
    """The runs the busy machine left inconclusive, once more, ``executor.labs`` at a
    time; the first attempts are kept in inconclusive/."""
    again = [o.cell for o in outcomes if o.status == "inconclusive"]
    if not again:
        return outcomes
    how = "one at a time" if executor.labs == 1 else f"{executor.labs} at a time"
    runs = "1 run was" if len(again) == 1 else f"{len(again)} runs were"
    say(f"{runs} inconclusive (their lab waited for the CPU): running them again {how}")
    for cell in again:
        set_aside(plan.directory, cell, "inconclusive")
    return [o for o in outcomes if o.status != "inconclusive"] + \
        Study(plan, executor).run(again)


def conduct(plan: StudyPlan, executor: CellExecutor, again_at: list[int],
            junit: Path | None) -> int:
    """Run (or resume) the study of ``plan`` with ``executor``, then the inconclusive runs
    again at each number of labs of ``again_at``; the summary is written whatever
    happens. 0 if every run passed, else 1."""
    experiment = plan.experiment
    plan.directory.mkdir(parents=True, exist_ok=True)
    write_experiment_file(plan.directory, experiment)
    say(f"experiment {experiment.name}: {len(experiment.cells())} runs, {executor.labs} at "
        f"a time, in {plan.directory}")
    try:
        with executor:
            outcomes = Study(plan, executor).run(experiment.cells())
            for labs in again_at:
                outcomes = run_inconclusive_again(outcomes, plan, executor.at_most(labs))
    finally:
        summarise(experiment, plan.directory, junit)
    return exit_code_of(outcomes)


def run_experiment(experiment: Experiment, parallel: int = 1, out: str = "results",
                   base_image: str = DEFAULT_BASE_IMAGE,
                   junit: Path | None = None, fresh_labs: bool = False,
                   provider: Provider | None = None) -> tuple[Path, int]:
    """Run (or resume) ``experiment`` on this machine; return its directory and exit
    code: 0 if every run passed, 1 otherwise. ``junit``: also write a JUnit report of
    every run the study holds; ``fresh_labs``: a new lab per run, not a pool of labs;
    ``provider``: where the cells run (a Docker lab of ``base_image`` unless told).
    kit.experiment.cluster runs one on a Dask cluster."""
    parallel = labs_at_once(parallel)
    provider = provider or provider_for(base_image=base_image)
    provider.prepare(experiment.images, experiment.builds)
    # Probe once, here, so the per-cell link problems are refused before any lab starts.
    engines = choose_engines(experiment, provider.netem_probe)
    plan = StudyPlan(experiment, experiment_directory(Path(out), experiment), engines,
                     base_image)
    warn_about_load(parallel, engines)
    executor: CellExecutor
    if experiment.kernels:
        executor = KernelCells(plan, lambda kernel: provider_for(
            base_image=base_image, kernel=None if kernel == HOST else kernel))
    elif provider.one_at_a_time:
        executor = InProcessCells(plan, provider)
    else:
        pool = None if fresh_labs else provider.lending(experiment.params.kernel_trace)
        executor = ForkedCells(plan, provider, parallel, pool)
    # A run one lab at a time can be left inconclusive too (a moment's load elsewhere on
    # the machine): it runs again, once, as on a cluster.
    again_at = rerun_levels(parallel, labs_the_machine_holds(engines)[0])
    return plan.directory, conduct(plan, executor, again_at, junit)


def summarise(experiment: Experiment, directory: Path, junit: Path | None) -> None:
    """Interrupted or not, the summary covers every run written so far; a second Ctrl-C
    waits for it."""
    with deferred_interrupt():
        written = write_study_summary(experiment, directory)
    say(f"summary: {written['markdown']}, {written['csv']}, plots in {written['plots']}")
    say(f"index: {written['index']}")
    if experiment.kernels:
        say(f"every claim on each kernel: {write_kernels_of(experiment, directory)}")
    if junit:
        write_junit(junit, study_runs(experiment, directory))


def write_kernels_of(experiment: Experiment, directory: Path) -> Path:
    """The claims x kernels table of a study with a kernel axis, of the runs so far."""
    runs = set(study_runs(experiment, directory))
    columns = [KernelColumn(kernel, [run_directory(directory, cell) for cell in
                                     experiment.cells() if cell.kernel == kernel
                                     and run_directory(directory, cell) in runs])
               for kernel in experiment.kernels]
    return write_kernel_table(directory, [c for c in columns if c.roots], experiment.name)


def exit_code_of(outcomes: list[CellOutcome]) -> int:
    return 0 if all(o.status in ("pass", "skipped") for o in outcomes) else 1
