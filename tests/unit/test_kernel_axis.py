"""An experiment file's ``kernel`` axis: read as written (5.10 is a version, not 5.1),
checked with file and line, its cells run kernel by kernel, each kernel's testbed opened
once and closed before the next opens; what it cannot go with is refused up front."""

from __future__ import annotations

import pytest

from kit.cli.studies import experiment as run_experiment_file
from kit.core.errors import BadInput
from kit.experiment import kernels as kernel_cells
from kit.experiment.executor import CellOutcome, StudyPlan
from kit.experiment.kernels import KernelCells
from kit.experiment.spec import load_experiment
from kit.experiment.study import Study, write_kernels_of
from tests.unit.test_study_executors import ScriptedCells

STUDY = """\
name: kernels
runs:
  - scenario: close
    variants: [graceful, abrupt]
matrix:
  kernel: [6.12, 5.10, host]
repetitions: 2
"""


def study(tmp_path, text: str = STUDY):
    path = tmp_path / "kernels.yaml"
    path.write_text(text)
    return load_experiment(path)


def test_the_kernel_axis_is_read_as_written_and_is_no_link_option(tmp_path):
    experiment = study(tmp_path)
    assert experiment.kernels == ("6.12", "5.10", "host")
    cells = experiment.cells()
    assert len(cells) == 12 and all(cell.link == {} for cell in cells)
    assert [cell.kernel for cell in cells[:6:2]] == ["6.12", "5.10", "host"]
    assert cells[2].id == "close_graceful_kernel-5.10_r1"


@pytest.mark.parametrize("values, message", [
    ("[6.1, 4.19]", "kernels.yaml:6: matrix.kernel[1]: kernel 4.19: choose one of 5.10, "
                    "6.1, 6.12, host"),
    ("[6.1, 6.10]", "matrix.kernel[1]: kernel 6.10: choose one of"),
    ("[6.1, 6.1]", "matrix.kernel: gives a value twice"),
    ("[]", "matrix.kernel: must be a non-empty list"),
])
def test_a_bad_kernel_axis_names_file_line_and_value(tmp_path, values, message):
    with pytest.raises(BadInput, match=message.replace(".", r"\.").replace("[", r"\[")):
        study(tmp_path, STUDY.replace("[6.12, 5.10, host]", values))


def test_a_study_takes_each_kernels_cells_together_in_the_files_order(tmp_path):
    experiment = study(tmp_path)
    plan = StudyPlan(experiment, tmp_path / "out", {}, "debian:bookworm-slim")
    cells = ScriptedCells(plan, {})
    Study(plan, cells).run(experiment.cells())
    kernels = [cell_id.split("_kernel-")[1].split("_")[0] for cell_id, _, _ in cells.ran]
    assert kernels == ["6.12"] * 4 + ["5.10"] * 4 + ["host"] * 4
    # The claims x kernels table of the runs so far: a column per kernel.
    table = write_kernels_of(experiment, plan.directory).with_suffix(".md").read_text()
    assert "| 6.12 (" in table and "| 5.10 (" in table and "| host (" in table


class OpenedOnce:
    """Stands in for a kernel's in-process cells: notes when it opens, runs and closes."""

    log: list[str] = []

    def __init__(self, plan, provider):
        self.kernel = provider.kernel
        OpenedOnce.log.append(f"open {self.kernel}")

    def run_cell(self, cell):
        OpenedOnce.log.append(f"run {cell.kernel}")
        return CellOutcome(cell, "pass")

    def __exit__(self, *exc_info):
        OpenedOnce.log.append(f"close {self.kernel}")


class StandInTestbed:
    def __init__(self, kernel: str):
        self.kernel = kernel

    def where(self) -> str:
        return f"the testbed of {self.kernel}"

    def prepare(self) -> None:
        OpenedOnce.log.append(f"prepare {self.kernel}")


def test_each_kernels_testbed_is_open_while_its_cells_run_then_closed(tmp_path, monkeypatch):
    monkeypatch.setattr(kernel_cells, "InProcessCells", OpenedOnce)
    OpenedOnce.log = []
    experiment = study(tmp_path)
    plan = StudyPlan(experiment, tmp_path / "out", {}, "debian:bookworm-slim")
    asked: list[str] = []

    def testbed_of(kernel: str) -> StandInTestbed:
        asked.append(kernel)
        return StandInTestbed(kernel)

    with KernelCells(plan, testbed_of) as executor:
        Study(plan, executor).run(experiment.cells())
    assert asked == ["6.12", "5.10", "host"]
    assert OpenedOnce.log == [
        *[line for kernel in ("6.12", "5.10") for line in
          (f"prepare {kernel}", f"open {kernel}", *[f"run {kernel}"] * 4, f"close {kernel}")],
        "prepare host", "open host", *["run host"] * 4, "close host"]


@pytest.mark.parametrize("options, message", [
    ({"parallel": "2"}, "leave out --parallel"),
    ({"cluster": "local:2"}, "leave out --cluster"),
])
def test_what_a_kernel_axis_cannot_go_with_is_refused_before_anything_starts(
        tmp_path, options, message):
    path = tmp_path / "kernels.yaml"
    path.write_text(STUDY)
    with pytest.raises(BadInput, match=f"kernel axis, whose cells run one at a time.*{message}"):
        run_experiment_file(str(path), out=str(tmp_path / "out"), **options)
    path.write_text(STUDY + "link:\n  latency: 10ms\n")
    with pytest.raises(BadInput, match="a kernel axis with a shaped link is not supported yet"):
        run_experiment_file(str(path), out=str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()
