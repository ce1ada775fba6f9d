"""A study's cells in child processes of this machine, each as 'invoke run' would run it
(kit.experiment.cell), forked from a server that has imported the kit once.

A Ctrl-C reaches each child as SIGINT, and each stops its run and marks it incomplete,
as a single run does. The children run in sessions of their own, so the terminal's
Ctrl-C reaches the study alone, which passes it on (``interrupt``) and waits for them.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from dataclasses import dataclass, field, replace
from typing import Any

from kit.core.errors import KitError
from kit.experiment.cell import EXIT_CODES, run_forked, status_of
from kit.experiment.executor import CellOutcome, RunningCells, StudyPlan
from kit.experiment.spec import Cell
from kit.testbeds.base import LabLending, Lease, Provider

CHILD_TEARDOWN_SECONDS = 90
CELLS = multiprocessing.get_context("forkserver")
CELLS.set_forkserver_preload(["kit.experiment.cell"])


@dataclass
class ForkedCells:
    """``labs`` cells at a time on ``provider``, each in a lab lent by ``pool`` (a new lab
    per cell without one). The study's ``with`` closes the pool."""

    plan: StudyPlan
    provider: Provider
    labs: int
    pool: LabLending[Any] | None = None
    in_this_process = False
    _running: RunningCells = field(default_factory=RunningCells, init=False)
    _draining: bool = field(default=False, init=False)

    def __enter__(self) -> ForkedCells:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.pool is not None:
            self.pool.close()

    def at_most(self, labs: int) -> ForkedCells:
        return replace(self, labs=labs)

    def busy(self) -> str:
        return f"running {len(self._running)}"

    def no_more_cells(self) -> None:
        self._draining = True

    def run_cell(self, cell: Cell) -> CellOutcome:
        if self.pool is None:
            return self._run_child(cell, None)
        started = time.monotonic()
        try:
            lease = self.pool.take(cell.run.mount)
        except KitError as error:
            self.plan.log(cell).write_text(f"error: {error}\n")
            return CellOutcome(cell, "error", time.monotonic() - started)
        outcome = self._run_child(cell, lease)
        # A lab whose run did not end in a verdict may hold anything: it goes; so does
        # one no run waits for, while the last runs finish.
        self.pool.give_back(lease, cell.run.mount,
                            reusable=outcome.status in EXIT_CODES and not self._draining)
        outcome.seconds = time.monotonic() - started
        return outcome

    def _run_child(self, cell: Cell, lease: Lease | None) -> CellOutcome:
        spec = self.plan.spec_of(cell, self.provider.to_json(), lease)
        log = self.plan.log(cell)
        started = time.monotonic()
        child = self._running.start(cell, lambda: self._fork(cell, json.dumps(spec.to_json()),
                                                             str(log)))
        if child is None:
            return CellOutcome(cell, "interrupted")
        try:
            child.join()
        except KeyboardInterrupt:      # the study runs one cell at a time, in this thread
            self.interrupt()
            raise
        finally:
            self._running.finished(cell)
        status = status_of(child.exitcode, self.plan.run_directory(cell), log)
        return CellOutcome(cell, status, time.monotonic() - started)

    @staticmethod
    def _fork(cell: Cell, spec: str, log: str):
        child = CELLS.Process(target=run_forked, args=(spec, log), name=f"netkit-cell-{cell.id}")
        child.start()
        return child

    def interrupt(self) -> None:
        """SIGINT to every running child; each removes its lab, then exits."""
        children = self._running.stop()
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
