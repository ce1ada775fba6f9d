"""A cell's outcome from its process's exit status, and from its run.json when the
status is one no cell gives (the fork server can report 255 for a child that exited 0
under load: CPython issue 140867)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.experiment.cell import status_of

# A real run's record (its verdict and completeness set by each test).
RECORDED = json.loads((Path(__file__).parents[1] / "data" / "catalog" / "close-graceful"
                       / "run.json").read_text())


def record(**fields) -> str:
    return json.dumps({**RECORDED, **fields})


@pytest.fixture
def cell(tmp_path):
    run = tmp_path / "runs" / "close_graceful_r1"
    run.mkdir(parents=True)
    return run, tmp_path / "close_graceful_r1.log"


@pytest.mark.parametrize("code, status", [(0, "pass"), (1, "fail"), (3, "inconclusive"),
                                          (130, "interrupted"), (2, "error")])
def test_the_statuses_a_cell_gives_are_taken_as_they_are(cell, code, status):
    run, log = cell
    (run / "run.json").write_text(record(complete=True, verdict="fail"))
    assert status_of(code, run, log) == status
    assert not log.exists()       # nothing to add: the run's own log says it all


def test_a_lost_status_leaves_the_complete_record_to_say(cell):
    run, log = cell
    (run / "run.json").write_text(record(complete=True, verdict="pass"))
    assert status_of(255, run, log) == "pass"
    assert log.read_text() == ("the run's process ended with exit code 255, not with a "
                               "verdict\nits run.json is complete: pass\n")


@pytest.mark.parametrize("written", [None, "{not json", record(complete=False, verdict="pass"),
                                     record(complete=True, verdict="error"),
                                     record(complete=True, verdict="maybe")])
def test_without_a_complete_verdict_it_is_an_error(cell, written):
    run, log = cell
    if written is not None:
        (run / "run.json").write_text(written)
    assert status_of(255, run, log) == "error"
    assert "exit code 255" in log.read_text()


def test_a_killed_cell_says_by_which_signal(cell):
    run, log = cell
    assert status_of(-9, run, log) == "error"
    assert "signal SIGKILL" in log.read_text()
    assert status_of(None, run, log) == "error"
    assert "no exit status" in log.read_text()
