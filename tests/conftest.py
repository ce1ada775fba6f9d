from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


@pytest.fixture
def data():
    """Real outputs recorded from the lab (see tests/data/README.md)."""
    return DATA
