"""A study's cells one at a time in this process, on labs opened once for the study:
for testbeds that hold one run at a time (two machines over SSH, logged in to once
instead of once a cell). A Ctrl-C reaches the running session itself, which stops its
run and marks it incomplete, as 'invoke run' does. Each cell's output is shown and kept
in logs/<cell id>.log."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass, field

from kit.core.checks import Verdict
from kit.core.errors import KitError
from kit.core.progress import copied_to, say
from kit.experiment.executor import CellOutcome, StudyPlan
from kit.experiment.spec import Cell
from kit.run.session import RunSession
from kit.testbeds.base import Labs, Provider

JUDGED = (Verdict.PASS, Verdict.FAIL, Verdict.INCONCLUSIVE)


@dataclass
class InProcessCells:
    plan: StudyPlan
    provider: Provider
    labs = 1
    in_this_process = True
    _opened: ExitStack = field(default_factory=ExitStack, init=False)
    _labs: Labs | None = field(default=None, init=False)

    def __enter__(self) -> InProcessCells:
        return self

    def __exit__(self, *exc_info) -> None:
        self._opened.close()

    def at_most(self, labs: int) -> InProcessCells:
        return self

    def busy(self) -> str:
        return "one at a time"

    def no_more_cells(self) -> None:
        pass

    def interrupt(self) -> None:
        pass        # the Ctrl-C went to the running session itself

    def run_cell(self, cell: Cell) -> CellOutcome:
        started = time.monotonic()
        spec = self.plan.spec_of(cell, self.provider.to_json())
        with copied_to(self.plan.log(cell)):
            try:
                with self._opened_labs().lease(spec.mount) as testbed:
                    verdict = RunSession.of(spec, testbed).run().verdict
            except KitError as error:
                say(f"error: {error}")
                return CellOutcome(cell, "error", time.monotonic() - started)
        status = verdict.value if verdict in JUDGED else "error"
        return CellOutcome(cell, status, time.monotonic() - started)

    def _opened_labs(self) -> Labs:
        """The provider's labs, opened at the first cell and kept for the study."""
        if self._labs is None:
            labs = self.provider.labs(trace=self.plan.experiment.params.kernel_trace,
                                      shared=True, shapes=self.plan.shapes_a_link())
            self._labs = self._opened.enter_context(labs)
        return self._labs
