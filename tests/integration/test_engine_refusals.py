"""Names only the Docker engine can refuse (the kit's own grammar lets them through):
each is one line and exit 2, with nothing started and nothing written. The rows of the
bad-input sweep (tests/unit/test_bad_input.py) that need a real engine."""

from __future__ import annotations

import pytest

from tests.integration.conftest import invoke

REFUSED = [
    ("Debian:bookworm", "repository name must be lowercase"),
    ("debian:-slim", "invalid reference format"),
    ("debian@sha256:abc", "invalid reference format"),
]


@pytest.mark.parametrize("task", ["run --scenario close --variant graceful", "build", "up"])
@pytest.mark.parametrize("base, reason", REFUSED, ids=[base for base, _ in REFUSED])
def test_a_base_image_the_engine_refuses_is_one_line(tmp_path, lab_image, task, base, reason):
    out = tmp_path / "results"
    arguments = [*task.split(), "--base-image", base]
    if task.startswith("run"):
        arguments += ["--out", str(out)]
    result = invoke(*arguments, timeout=60)
    said = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(said) == 1 and said[0].startswith("error: --base-image"), result.stderr
    assert reason in said[0] and "Traceback" not in result.stdout + result.stderr
    assert not out.exists()
