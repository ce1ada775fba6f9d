"""The kit as a user installs it: a wheel built from this checkout, installed into a
fresh virtual environment; its ``netkit`` command run from another directory, and a
user's own test file run by pytest with nothing but the installed plugin."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import ROOT, kit_resources


@pytest.fixture(scope="module")
def netkit_command(tmp_path_factory, lab_image) -> Path:
    """The installed ``netkit`` command (its packages come from PyPI or pip's cache);
    pytest-xdist beside it, as a user running tests in parallel would have it."""
    root = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                    str(root / "dist"), str(ROOT)], check=True, timeout=300)
    (wheel,) = (root / "dist").glob("netkit-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=120)
    subprocess.run([str(root / "venv" / "bin" / "pip"), "install", "-q", str(wheel),
                    "pytest-xdist"], check=True, timeout=600)
    return root / "venv" / "bin" / "netkit"


def netkit_in(directory: Path, command: Path, *arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(command), *arguments], cwd=directory, capture_output=True,
                          text=True, timeout=300)


def test_the_command_serves_the_kit_s_tasks_only(netkit_command, tmp_path):
    listed = netkit_in(tmp_path, netkit_command, "--list")
    assert listed.returncode == 0
    tasks = {line.split()[0] for line in listed.stdout.splitlines()[1:] if line.startswith("  ")}
    assert {"run", "rerun", "diff", "experiment", "scenarios", "clean"} <= tasks
    assert not tasks & {"test", "lint", "mutate", "bench"}   # the checkout's own
    assert netkit_in(tmp_path, netkit_command, "--version").stdout.strip() == "netkit 0.1.0"


def test_a_run_from_another_directory_uses_the_packaged_lab(netkit_command, tmp_path, lab_image):
    result = netkit_in(tmp_path, netkit_command, "run", "--scenario", "close", "--variant", "graceful",
                       "--out", "here")
    assert result.returncode == 0, result.stderr[-2000:]
    (directory,) = (tmp_path / "here").iterdir()
    assert (directory / "report.html").is_file()
    # The packaged containers/ is the checkout's: the same image, not a rebuild.
    assert "building" not in result.stderr
    assert lab_image.id in (directory / "run.json").read_text()


def test_messages_name_the_netkit_command(netkit_command, tmp_path):
    result = netkit_in(tmp_path, netkit_command, "run", "--scenario", "nope")
    assert result.returncode == 2
    assert "('netkit scenarios' describes them)" in result.stderr
    shipped = netkit_in(tmp_path, netkit_command, "experiment", "nope")
    assert shipped.returncode == 2 and "it ships: close-vs-shutdown" in shipped.stderr


USER_TESTS = """
def test_an_echo_server_echoes(netkit):
    run = netkit.run(server_command="socat TCP-LISTEN:{port},reuseaddr SYSTEM:cat",
                     client_command="socat - TCP:{server}:{port}", client_input=["hello"])
    assert run.verdict == "pass", run.describe()
    assert "hello" in run.output("client")
    assert run.packets.fins(from_="client") and not run.packets.resets(from_="server")


def test_a_server_that_dies_at_once(netkit):
    run = netkit.run(server_command="sh -c 'exit 1'",
                     client_command="socat - TCP:{server}:{port}", client_input=["x"])
    assert run.verdict == "pass"


def test_a_bad_option(netkit):
    netkit.run(scenario="close", variant="graceful", latency="fast")
"""


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_a_user_s_own_tests_use_the_installed_plugin(netkit_command, tmp_path, workers):
    (tmp_path / "test_my_server.py").write_text(USER_TESTS)
    python = netkit_command.parent / "python"
    result = subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider",
                             "test_my_server.py", *workers, "--netkit-out", "runs"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    out = result.stdout
    assert result.returncode == 1, out[-3000:]
    assert "1 passed" in out and "2 failed" in out, out[-3000:]
    # The failed test's report: the run's failed checks and where its report is.
    assert "netkit runs" in out and "custom/custom: FAIL" in out
    assert "FAIL server-exits-0: expected" in out
    assert str(tmp_path / "runs" / "test_a_server_that_dies_at_once") in out
    # Bad input fails the test with the kit's one line, not a traceback of the kit.
    assert "netkit: --latency must be a time" in out
    runs = sorted(p.parent.parent.name for p in (tmp_path / "runs").glob("*/*/run.json"))
    assert runs == ["test_a_server_that_dies_at_once", "test_an_echo_server_echoes"]
    # The session's runs share labs (one per xdist worker), reset between runs.
    labs = [json.loads(p.read_text())["environment"]["lab"]
            for p in (tmp_path / "runs").glob("*/*/run.json")]
    assert all(lab["pooled"] for lab in labs), labs
    if not workers:
        assert len({lab["id"] for lab in labs}) == 1
        assert sorted(lab["runs_before"] for lab in labs) == [0, 1]


def test_fresh_labs_when_asked(netkit_command, tmp_path):
    (tmp_path / "test_mine.py").write_text(USER_TESTS.split("\n\n\ndef test_a_server")[0])
    python = netkit_command.parent / "python"
    result = subprocess.run([str(python), "-m", "pytest", "-p", "no:cacheprovider",
                             "test_mine.py", "--netkit-fresh-labs", "--netkit-out", "runs"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    (run_json,) = (tmp_path / "runs").glob("*/*/run.json")
    assert json.loads(run_json.read_text())["environment"]["lab"] == {"pooled": False}


SLOW_TESTS = """
def test_one(netkit):
    assert netkit.run(scenario="close", variant="graceful").verdict == "pass"


def test_two(netkit):
    netkit.run(scenario="close", variant="graceful", server_delay="30")
"""


def test_ctrl_c_in_a_pooled_session_removes_its_labs(netkit_command, tmp_path,
                                                      docker_client):
    """The second test is interrupted mid-run: the session's pool goes with pytest."""
    (tmp_path / "test_slow.py").write_text(SLOW_TESTS)
    python = netkit_command.parent / "python"
    process = subprocess.Popen([str(python), "-m", "pytest", "-p", "no:cacheprovider",
                                "test_slow.py", "--netkit-out", "runs"], cwd=tmp_path,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("runs/*/*/run.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert "KeyboardInterrupt" in output or "Interrupted" in output, output[-2000:]
    assert kit_resources(docker_client) == [], output[-2000:]
