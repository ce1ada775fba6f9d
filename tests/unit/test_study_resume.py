"""How a study resuming reads each cell's run.json (through the typed record): a finished
run is kept, an inconclusive one runs again, and one that did not end (no record, a
half-written one, or one not marked complete) runs again with its files set aside."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.experiment.study import recorded_state

RECORDED = json.loads((Path(__file__).parents[1] / "data" / "catalog" / "close-graceful"
                       / "run.json").read_text())


class Cell:
    id = "close_graceful_r1"


@pytest.mark.parametrize("written, state", [
    ({"complete": True, "verdict": "pass"}, "finished"),
    ({"complete": True, "verdict": "fail"}, "finished"),
    ({"complete": True, "verdict": "inconclusive"}, "inconclusive"),
    ({"complete": False, "verdict": "error"}, "interrupted"),
    ("{half", "interrupted"),
    (None, "interrupted"),
])
def test_each_recorded_state_of_a_cell(tmp_path, written, state):
    run = tmp_path / "runs" / Cell.id
    run.mkdir(parents=True)
    if isinstance(written, dict):
        (run / "run.json").write_text(json.dumps({**RECORDED, **written}))
    elif written is not None:
        (run / "run.json").write_text(written)
    assert recorded_state(tmp_path, Cell()) == state
