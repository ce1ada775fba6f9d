"""The study's logic, written once, behind the executor protocol: a test double runs the
cells, writing the run.json a real cell would, and the study decides what runs, in what
order, what runs again and how Ctrl-C ends it; the executors the kit ships keep to the
protocol."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from kit.experiment.cluster import DaskCells
from kit.experiment.executor import CellExecutor, CellOutcome, StudyPlan
from kit.experiment.forked import ForkedCells
from kit.experiment.in_process import InProcessCells
from kit.experiment.kernels import KernelCells
from kit.experiment.spec import Cell, load_experiment
from kit.experiment.study import Study, conduct, longest_first, run_inconclusive_again

RECORDED = json.loads((Path(__file__).parents[1] / "data" / "catalog" / "close-graceful"
                       / "run.json").read_text())
STUDY = """\
name: doubles
runs:
  - scenario: close
    variants: [graceful, abrupt]
  - scenario: linger
repetitions: 2
"""


class ScriptedCells:
    """Runs a cell by writing its run.json with the verdict scripted for it (first
    attempt, then again), and notes what it was asked."""

    def __init__(self, plan: StudyPlan, verdicts: dict[str, list[str]], labs: int = 1,
                 interrupt_at: str | None = None):
        self.plan, self.verdicts, self.labs = plan, verdicts, labs
        self.interrupt_at = interrupt_at
        self.in_this_process = False
        self.ran: list[tuple[str, int, str]] = []    # cell, labs, thread
        self.told_no_more = 0
        self.interrupted = 0
        self.entered = self.left = 0

    def __enter__(self) -> ScriptedCells:
        self.entered += 1
        return self

    def __exit__(self, *exc_info) -> None:
        self.left += 1

    def run_cell(self, cell: Cell) -> CellOutcome:
        self.ran.append((cell.id, self.labs, threading.current_thread().name))
        if cell.id == self.interrupt_at:
            raise KeyboardInterrupt
        verdict = self.verdicts.get(cell.id, ["pass"]).pop(0)
        run = self.plan.run_directory(cell)
        run.mkdir(parents=True, exist_ok=True)
        (run / "run.json").write_text(json.dumps({**RECORDED, "verdict": verdict,
                                                  "complete": True}))
        return CellOutcome(cell, verdict, 0.1)

    def no_more_cells(self) -> None:
        self.told_no_more += 1

    def interrupt(self) -> None:
        self.interrupted += 1

    def busy(self) -> str:
        return "running"

    def at_most(self, labs: int) -> ScriptedCells:
        self.labs = labs
        return self


@pytest.fixture
def plan(tmp_path) -> StudyPlan:
    path = tmp_path / "doubles.yaml"
    experiment = load_experiment(path, STUDY)
    return StudyPlan(experiment, tmp_path / "out", {}, "debian:bookworm-slim")


def ids(plan: StudyPlan) -> list[str]:
    return [cell.id for cell in plan.experiment.cells()]


def test_one_lab_runs_every_cell_in_order_in_the_studys_own_thread(plan):
    cells = ScriptedCells(plan, {})
    outcomes = Study(plan, cells).run(plan.experiment.cells())
    assert [o.status for o in outcomes] == ["pass"] * len(ids(plan))
    assert [cell for cell, _, _ in cells.ran] == ids(plan)
    assert {thread for _, _, thread in cells.ran} == {threading.current_thread().name}
    assert cells.told_no_more == 1


def test_several_labs_run_the_longest_cells_first_on_threads_of_the_study(plan):
    cells = ScriptedCells(plan, {}, labs=3)
    Study(plan, cells).run(plan.experiment.cells())
    assert sorted(cell for cell, _, _ in cells.ran) == sorted(ids(plan))
    longest = [cell.id for cell in longest_first(plan.experiment.cells(), plan.experiment)]
    assert {cell for cell, _, _ in cells.ran[:3]} == set(longest[:3])
    assert threading.current_thread().name not in {t for _, _, t in cells.ran}
    assert cells.told_no_more == 1


def test_finished_cells_are_not_run_again_and_an_unfinished_one_is_set_aside(plan):
    first, second, *_ = plan.experiment.cells()
    done = ScriptedCells(plan, {})
    Study(plan, done).run([first])
    partial = plan.run_directory(second)
    partial.mkdir(parents=True)
    (partial / "stdout.txt").write_text("half a run")
    again = ScriptedCells(plan, {})
    outcomes = Study(plan, again).run(plan.experiment.cells())
    assert [o.status for o in outcomes].count("skipped") == 1
    assert first.id not in [cell for cell, _, _ in again.ran]
    assert (plan.directory / "interrupted" / second.id / "stdout.txt").read_text() == \
        "half a run"


def test_inconclusive_runs_run_again_with_fewer_labs_and_the_first_attempt_kept(plan):
    cell = plan.experiment.cells()[0]
    cells = ScriptedCells(plan, {cell.id: ["inconclusive", "pass"]}, labs=4)
    outcomes = Study(plan, cells).run(plan.experiment.cells())
    outcomes = run_inconclusive_again(outcomes, plan, cells.at_most(1))
    assert sorted(o.status for o in outcomes) == ["pass"] * len(ids(plan))
    assert [labs for name, labs, _ in cells.ran if name == cell.id] == [4, 1]
    assert (plan.directory / "inconclusive" / cell.id / "run.json").is_file()


def test_ctrl_c_stops_the_executors_cells_and_the_summary_covers_what_ran(plan):
    second = plan.experiment.cells()[1]
    cells = ScriptedCells(plan, {}, interrupt_at=second.id)
    with pytest.raises(KeyboardInterrupt):
        conduct(plan, cells, [1], junit=None)
    assert cells.interrupted == 0        # one at a time: the executor stopped its own
    assert cells.entered == cells.left == 1
    summary = (plan.directory / "summary.md").read_text()
    assert "1 of 8 runs done: 1 passed" in summary
    assert (plan.directory / "experiment.yaml").read_text() == STUDY


def test_ctrl_c_among_several_labs_asks_the_executor_to_stop_its_cells(plan):
    cells = ScriptedCells(plan, {}, labs=2, interrupt_at=ids(plan)[0])
    with pytest.raises(KeyboardInterrupt):
        Study(plan, cells).run(plan.experiment.cells())
    assert cells.interrupted == 1


def test_a_study_exits_1_unless_every_run_passed(plan):
    assert conduct(plan, ScriptedCells(plan, {}), [], junit=None) == 0
    failing = plan.experiment.cells()[2].id
    fresh = StudyPlan(plan.experiment, plan.directory.parent / "again", {}, plan.base_image)
    assert conduct(fresh, ScriptedCells(fresh, {failing: ["fail"]}), [], junit=None) == 1


@pytest.mark.parametrize("kind", [ForkedCells, InProcessCells, KernelCells, DaskCells])
def test_the_kits_executors_keep_to_the_protocol(kind):
    needed = [name for name in dir(CellExecutor) if not name.startswith("_")] + \
        ["__enter__", "__exit__"]
    assert all(hasattr(kind, name) or name in kind.__dataclass_fields__ for name in needed), \
        [name for name in needed if not hasattr(kind, name)]
