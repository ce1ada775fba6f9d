"""The lab's lifecycle on a current Docker engine: Debian trixie's docker.io 26.1 (API
1.45), as users' Docker 24 to 28 are, where this machine's own is 20.10. It runs in a
container of its own (the remote-engine stand-in, containers/dockerhost with
DOCKER_SUITE=trixie), reached as an ssh:// engine: a run under each Compose, a pooled
pair of runs, Ctrl-C in the middle of a run, and 'invoke clean', each leaving nothing on
that engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit.testbeds.docker import labels
from tests.integration.conftest import ROOT, invoke
from tests.integration.dockerhosts import DockerHost, docker_host, dockerhost_image
from tests.integration.test_remote_engine import kit_things


@pytest.fixture(scope="module")
def current(lab_image, tmp_path_factory):
    image = dockerhost_image(lab_image, suite="trixie")
    with docker_host(lab_image, tmp_path_factory.mktemp("current"), host_image=image,
                     preload=(lab_image.base,), address_pool="10.32.0.0/16") as host:
        yield host


def environment(host: DockerHost, tmp_path: Path) -> dict[str, str]:
    return {**host.environment(), "TMPDIR": str(tmp_path)}


def test_the_engine_is_a_current_one(current):
    assert current.inner("version", "--format", "{{.Server.APIVersion}}").strip() >= "1.45"


def test_runs_under_each_compose_pass_and_leave_nothing(current, tmp_path, compose):
    """Both variants, sharing one lab reset between them, as 'invoke run' does."""
    out = tmp_path / "out"
    result = invoke("run", "--scenario", "close", "--out", str(out),
                    env=environment(current, tmp_path), timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in out.glob("*/run.json")]
    assert sorted(r["variant"] for r in records) == ["abrupt", "graceful"]
    for record in records:
        assert record["verdict"] == "pass"
        assert record["environment"]["docker_engine"].startswith("26.")
        assert record["environment"]["lab"]["pooled"] is True
        assert record["environment"]["compose"].startswith(compose.described)
    assert kit_things(current) == []


def test_ctrl_c_mid_run_leaves_nothing_on_the_engine(current, tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "run", "--scenario", "close", "--variant", "graceful",
         "--server-delay", "3", "--out", str(out)],
        cwd=ROOT, env=environment(current, tmp_path), stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 300
    while not [line for line in current.inner("ps", "--format", "{{.Names}}").split()
               if "client" in line] and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.5)
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output[-3000:]
    assert "Traceback" not in output
    assert kit_things(current) == []
    (run_json,) = out.glob("*/run.json")
    assert "interrupted" in json.loads(run_json.read_text())["error"]


def test_clean_removes_by_label_on_the_engine(current, tmp_path):
    any_image = current.inner("image", "ls", "--format", "{{.Repository}}:{{.Tag}}").split()[0]
    current.inner("create", "--label", f"{labels.MANAGED}=true", "--name", "netkit-stray",
                  any_image)
    current.inner("create", "--name", "bystander", any_image)
    try:
        result = invoke("clean", env=environment(current, tmp_path), timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        names = current.inner("ps", "-a", "--format", "{{.Names}}").split()
        assert "netkit-stray" not in names and "bystander" in names
    finally:
        current.inner("rm", "-f", "bystander")
