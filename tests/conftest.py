import json
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
# The plugin's own tests run pytest sessions of their own.
pytest_plugins = ["pytester"]


def recorded_t0(variant: str) -> float:
    """When the recorded run of ``variant`` started (its run.json's t0)."""
    return json.loads((DATA / f"run-{variant}.json").read_text())["t0"]


@pytest.fixture
def data():
    """Real outputs recorded from the lab (see tests/data/README.md)."""
    return DATA
