"""The kit as a user installs it: a wheel built from this checkout, installed into a
fresh virtual environment, and its ``netkit`` command run from another directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT


@pytest.fixture(scope="module")
def netkit(tmp_path_factory, lab_image) -> Path:
    """The installed ``netkit`` command (its packages come from PyPI or pip's cache)."""
    root = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(root / "dist"), str(ROOT)], check=True, timeout=300)
    (wheel,) = (root / "dist").glob("netkit-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    subprocess.run([str(root / "venv" / "bin" / "pip"), "install", "-q", str(wheel)],
                   check=True, timeout=600)
    return root / "venv" / "bin" / "netkit"


def netkit_in(directory: Path, command: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(command), *arguments], cwd=directory, capture_output=True,
                          text=True, timeout=300)


def test_the_command_serves_the_kit_s_tasks_only(netkit, tmp_path):
    listed = netkit_in(tmp_path, netkit, "--list")
    assert listed.returncode == 0
    tasks = {line.split()[0] for line in listed.stdout.splitlines()[1:] if line.startswith("  ")}
    assert {"run", "rerun", "diff", "experiment", "scenarios", "clean"} <= tasks
    assert not tasks & {"test", "lint", "mutate", "bench"}   # the checkout's own
    assert netkit_in(tmp_path, netkit, "--version").stdout.strip() == "netkit 0.1.0"


def test_a_run_from_another_directory_uses_the_packaged_lab(netkit, tmp_path, lab_image):
    result = netkit_in(tmp_path, netkit, "run", "--scenario", "close", "--variant", "graceful",
                       "--out", "here")
    assert result.returncode == 0, result.stderr[-2000:]
    (directory,) = (tmp_path / "here").iterdir()
    assert (directory / "report.html").is_file()
    # The packaged containers/ is the checkout's: the same image, not a rebuild.
    assert "building" not in result.stderr
    assert lab_image.id in (directory / "run.json").read_text()


def test_messages_name_the_netkit_command(netkit, tmp_path):
    result = netkit_in(tmp_path, netkit, "run", "--scenario", "nope")
    assert result.returncode == 2
    assert "('netkit scenarios' describes them)" in result.stderr
    shipped = netkit_in(tmp_path, netkit, "experiment", "nope")
    assert shipped.returncode == 2 and "it ships: close-vs-shutdown" in shipped.stderr
