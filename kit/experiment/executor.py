"""Who runs a study's cells: the Executor seam.

The study (kit.experiment.study) decides which cells run, in what order, what is
already done and what runs again; an executor only runs the cell it is given and stops
its running cells on Ctrl-C. Three run behind this protocol: forked child processes on
this machine (kit.experiment.forked), this process on labs opened once
(kit.experiment.in_process), and the tasks of a Dask cluster (kit.experiment.cluster).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

from kit.experiment.cell import cell_spec
from kit.experiment.spec import Cell, Experiment
from kit.impair.shaping import Shaping
from kit.run.spec import RunSpec
from kit.testbeds.base import Lease

Child = TypeVar("Child")


@dataclass
class CellOutcome:
    cell: Cell
    status: str   # pass | fail | inconclusive | error | interrupted | skipped (done before)
    seconds: float = 0.0


def run_directory(directory: Path, cell: Cell) -> Path:
    """Where the run of ``cell`` goes in the study's ``directory``."""
    return directory / "runs" / cell.id


@dataclass(frozen=True)
class StudyPlan:
    """What every executor of a study shares: the experiment, its directory, the shaping
    chosen up front for each cell, and the base image asked for (recorded for reruns)."""

    experiment: Experiment
    directory: Path
    engines: dict[str, Shaping | None]     # cell id -> its shaping
    base_image: str

    def run_directory(self, cell: Cell) -> Path:
        return run_directory(self.directory, cell)

    def log(self, cell: Cell) -> Path:
        log = self.directory / "logs" / f"{cell.id}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        return log

    def engine_of(self, cell: Cell) -> dict | None:
        """The shaping chosen for ``cell``, as its RunSpec carries it."""
        shaping = self.engines.get(cell.id)
        return None if shaping is None else {"engine": shaping.engine, "reason": shaping.reason}

    def spec_of(self, cell: Cell, testbed: dict | None, lease: Lease | None = None,
                directory: Path | None = None) -> RunSpec:
        """The run ``cell`` is, on the testbed ``testbed`` (a Provider's JSON), in the lab
        lent as ``lease``, into ``directory`` (the study's own unless told)/runs."""
        return cell_spec(cell, self.experiment, self.directory if directory is None
                         else directory, testbed, self.engine_of(cell), self.base_image, lease)

    def shapes_a_link(self) -> bool:
        return any(shaping is not None for shaping in self.engines.values())


class CellExecutor(Protocol):
    """Runs one cell when asked, ``labs`` at a time; used as a context manager by the
    study, which leaves it when the study ends (what the executor opened goes)."""

    @property
    def labs(self) -> int:
        """How many cells it runs at once."""

    @property
    def in_this_process(self) -> bool:
        """Its runs print in this process: the study shows a line a run, not a live bar."""

    def __enter__(self) -> CellExecutor: ...

    def __exit__(self, *exc_info) -> None: ...

    def run_cell(self, cell: Cell) -> CellOutcome:
        """Run ``cell`` into the study's runs/<cell id>; its outcome. On a KeyboardInterrupt
        in this thread, stop the running cells before letting it go on."""

    def no_more_cells(self) -> None:
        """No cell starts after those running (a lab given back needs no reset)."""

    def interrupt(self) -> None:
        """Ctrl-C: every running cell stops (its lab removed, its run marked incomplete);
        return once they have, and start no other."""

    def busy(self) -> str:
        """What is running, in a few words, for the progress line."""

    def at_most(self, labs: int) -> CellExecutor:
        """The same executor running at most ``labs`` cells at once (runs again of the
        inconclusive ones), sharing what this one opened."""


class RunningCells:
    """An executor's running cells (a child process, a cluster's future), and whether
    it is stopping: once it is, no cell starts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, object] = {}
        self.stopping = False

    def start(self, cell: Cell, begin: Callable[[], Child]) -> Child | None:
        """``begin()`` the cell's child and hold it; None (and nothing begun) if stopping."""
        with self._lock:
            if self.stopping:
                return None
            child = begin()
            self._running[cell.id] = child
            return child

    def finished(self, cell: Cell) -> None:
        with self._lock:
            self._running.pop(cell.id, None)

    def stop(self) -> list:
        """Stop starting cells; those running now."""
        with self._lock:
            self.stopping = True
            return list(self._running.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._running)
