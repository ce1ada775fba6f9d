"""Labs kept warm between commands (invoke run --warm): the next command takes the lab,
the reaper removes it after its idle time, and a command that dies leaves nothing for
long, whether it was interrupted or killed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kit.testbeds.docker import labels
from tests.integration.conftest import ROOT, invoke, kit_resources

IDLE_S = 4


@pytest.fixture
def warm_env(tmp_path):
    """The commands' environment: a warm-lab directory of the test's own and a short
    idle time."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path / "runtime"),
           "NETKIT_WARM_IDLE": str(IDLE_S)}
    (tmp_path / "runtime").mkdir()
    return env


def reaper_processes(tmp_path) -> list[str]:
    listed = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [line for line in listed.splitlines()
            if "kit.testbeds.docker.reaper" in line and str(tmp_path) in line]


def wait_until_gone(docker_client, tmp_path, within: float) -> float:
    """Seconds until neither the kit's containers nor the reaper are left (fails after
    ``within``)."""
    started = time.monotonic()
    while kit_resources(docker_client) or reaper_processes(tmp_path):
        assert time.monotonic() - started < within, \
            f"still there after {within} s: {kit_resources(docker_client)}, " \
            f"{reaper_processes(tmp_path)}"
        time.sleep(0.2)
    return time.monotonic() - started


def warm_run(tmp_path, env, *extra):
    result = invoke("run", "--scenario", "close", "--variant", "graceful", "--warm",
                    "--out", str(tmp_path / "results"), *extra, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    newest = max((tmp_path / "results").glob("*/run.json"), key=lambda p: p.stat().st_mtime)
    return json.loads(newest.read_text())


def test_the_next_command_takes_the_warm_lab_and_the_reaper_removes_it(
        tmp_path, lab_image, docker_client, compose, warm_env):
    first = warm_run(tmp_path, warm_env)
    lab = first["environment"]["lab"]
    assert lab["warm"] and lab["runs_before"] == 0 and lab["idle_s"] == IDLE_S
    held = {c.name for c in docker_client.containers.list(filters=labels.managed_filter())}
    assert len(held) == 3, held            # client, server, and the lab's tracing helper
    second = warm_run(tmp_path, warm_env)
    assert second["environment"]["lab"]["id"] == lab["id"]
    assert second["environment"]["lab"]["runs_before"] == 1
    assert second["timings_s"]["lab_up"] < 0.5 and second["timings_s"]["lab_down"] < 0.5
    # Each run on its own port: what the first left in TIME-WAIT is outside the second's.
    assert second["parameters"]["port"] == first["parameters"]["port"] + 1
    assert second["verdict"] == "pass" and second["kernel_trace"]["recorded"]
    # The second command gave it back at its end; the reaper removes it, then ends.
    gone_after = wait_until_gone(docker_client, tmp_path, within=IDLE_S + 10)
    assert gone_after >= IDLE_S - 2.5
    assert not list((tmp_path / "runtime").rglob("warm-*"))


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "sigkill"])
def test_a_command_that_dies_mid_run_leaves_nothing_for_long(tmp_path, lab_image,
                                                             docker_client, warm_env, how):
    # No kernel trace: a killed run's tracefs instance is for 'invoke clean', warm or not.
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "run", "--scenario", "close", "--variant",
         "graceful", "--server-delay", "3", "--warm", "--no-kernel-trace",
         "--out", str(tmp_path / "results")],
        cwd=ROOT, env=warm_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 60
    while len(docker_client.containers.list(filters=labels.managed_filter())) < 2 \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.5)                          # the scenario is under way
    os.killpg(process.pid, how)
    output, _ = process.communicate(timeout=60)
    if how == signal.SIGINT:
        assert process.returncode == 130, output
        assert kit_resources(docker_client) == []       # the command removed it itself
    else:
        assert process.returncode == -signal.SIGKILL
        # Its lock died with it: the reaper sees a busy lab nobody holds, well before
        # the idle time is over.
        assert wait_until_gone(docker_client, tmp_path, within=IDLE_S + 10) < IDLE_S + 5
    wait_until_gone(docker_client, tmp_path, within=IDLE_S + 10)


def test_clean_removes_warm_labs_and_forgets_them(tmp_path, lab_image, docker_client, warm_env):
    warm_run(tmp_path, warm_env)
    assert kit_resources(docker_client)
    result = invoke("clean", env=warm_env)
    assert result.returncode == 0, result.stderr
    assert kit_resources(docker_client) == []
    assert not list((tmp_path / "runtime").rglob("warm-*"))
    wait_until_gone(docker_client, tmp_path, within=5)
