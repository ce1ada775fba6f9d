"""A study whose matrix has a ``kernel`` axis: its cells one at a time in this process,
each on its kernel's testbed (a VM of one of Debian's kernels, or a Docker lab here for
``host``). One kernel's testbed is open at a time: the study takes each kernel's cells
together (kit.experiment.study.kernel_by_kernel), so each VM boots once, and the one
before is shut down when the cells move on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kit.core.kernels import HOST
from kit.core.progress import say
from kit.experiment.executor import CellOutcome, StudyPlan
from kit.experiment.in_process import InProcessCells
from kit.experiment.spec import Cell
from kit.testbeds.base import Provider


@dataclass
class KernelCells:
    plan: StudyPlan
    testbed_of: Callable[[str], Provider]     # a kernel's testbed: 5.10, 6.1, 6.12 or host
    labs = 1
    in_this_process = True
    _kernel: str | None = field(default=None, init=False)
    _cells: InProcessCells | None = field(default=None, init=False)

    def __enter__(self) -> KernelCells:
        return self

    def __exit__(self, *exc_info) -> None:
        self._close()

    def at_most(self, labs: int) -> KernelCells:
        return self

    def busy(self) -> str:
        return f"one at a time, on kernel {self._kernel}" if self._kernel else "one at a time"

    def no_more_cells(self) -> None:
        pass

    def interrupt(self) -> None:
        pass        # the Ctrl-C went to the running session itself

    def run_cell(self, cell: Cell) -> CellOutcome:
        kernel = cell.kernel or HOST
        if self._cells is None or kernel != self._kernel:
            self._close()
            provider = self.testbed_of(kernel)
            say(f"kernel {kernel}: {provider.where()}")
            provider.prepare()
            self._kernel, self._cells = kernel, InProcessCells(self.plan, provider)
        return self._cells.run_cell(cell)

    def _close(self) -> None:
        cells, self._cells, self._kernel = self._cells, None, None
        if cells is not None:
            cells.__exit__(None, None, None)
