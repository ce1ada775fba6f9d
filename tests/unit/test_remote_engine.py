"""Where the Docker engine is: DOCKER_HOST, else the docker CLI's current context; an
ssh:// engine's target; Compose pointed at the same engine, with the remote overlay
that replaces bind mounts on an engine elsewhere."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kit.core.errors import BadInput
from kit.testbeds.docker import compose, engine
from kit.testbeds.ssh.config import SshTarget

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_engine_settings(monkeypatch, tmp_path):
    """No DOCKER_HOST, and a docker config directory of the test's own."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker"))
    (tmp_path / "docker").mkdir()
    return tmp_path / "docker"


def use_context(config_dir, name: str, host: str) -> None:
    """What 'docker context create NAME --docker host=HOST; docker context use NAME' writes."""
    meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps(
        {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host,
                                                                "SkipTLSVerify": False}}}))
    (config_dir / "config.json").write_text(json.dumps({"currentContext": name}))


@pytest.mark.parametrize("url, target", [
    ("ssh://box", SshTarget("box")),
    ("ssh://lab@box", SshTarget("box", "lab")),
    ("ssh://lab@10.0.0.7:2222", SshTarget("10.0.0.7", "lab", 2222)),
])
def test_an_ssh_engine_url_gives_the_login(url, target):
    assert engine.ssh_target(url) == target


@pytest.mark.parametrize("url", ["ssh://", "ssh://lab@box/var/run/docker.sock",
                                 "ssh://lab@box:99999", "ssh://a b"])
def test_an_ssh_engine_url_the_kit_cannot_use_is_bad_input(url):
    with pytest.raises(BadInput, match="is not ssh://\\[user@\\]host\\[:port\\]"):
        engine.ssh_target(url)


def test_docker_host_decides_where_the_engine_is(no_engine_settings, monkeypatch):
    use_context(no_engine_settings, "box", "ssh://lab@box")
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert engine.engine_url() == "tcp://127.0.0.1:2375"
    assert engine.is_remote() and not engine.engine_over_ssh()


def test_without_docker_host_the_current_context_decides(no_engine_settings):
    use_context(no_engine_settings, "box", "ssh://lab@box")
    assert engine.engine_url() == "ssh://lab@box"
    assert engine.is_remote() and engine.engine_over_ssh()


def test_the_default_context_is_the_local_socket(no_engine_settings):
    assert not engine.is_remote()
    assert engine.engine_url() in (None, "unix:///var/run/docker.sock")


def test_compose_goes_to_the_engine_a_context_chose(no_engine_settings, monkeypatch):
    use_context(no_engine_settings, "build", "tcp://127.0.0.1:2375")
    monkeypatch.setattr(engine, "_tunnel", lambda: None)
    assert engine.compose_environment() == {"DOCKER_HOST": "tcp://127.0.0.1:2375"}
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert engine.compose_environment() == {}      # Compose reads DOCKER_HOST itself


def compose_arguments(monkeypatch) -> list[str]:
    """The arguments Compose would get (echo stands in for it)."""
    monkeypatch.setattr(compose, "compose_environment", lambda: {})
    result = compose.ComposeCli(("echo",), "v1").run("netkit-x", "up", "-d")
    return result.stdout.split()


def test_a_remote_engine_gets_volumes_instead_of_bind_mounts(no_engine_settings, monkeypatch):
    assert compose_arguments(monkeypatch) == [f"--file={compose.COMPOSE_FILE}", "-p",
                                              "netkit-x", "up", "-d"]
    monkeypatch.setenv("DOCKER_HOST", "ssh://lab@box")
    assert compose_arguments(monkeypatch)[:2] == [f"--file={compose.COMPOSE_FILE}",
                                                  f"--file={compose.REMOTE_FILE}"]


@pytest.mark.parametrize("docker_host, message", [
    ("ssh://lab@box/var/run/docker.sock", "DOCKER_HOST=ssh://lab@box/var/run/docker.sock is "
                                          "not ssh://[user@]host[:port]"),
    ("ssh://lab@127.0.0.1:1", "cannot reach Docker host lab@127.0.0.1:1 (lab@127.0.0.1:1) over "
                              "SSH"),
])
def test_an_ssh_engine_the_kit_cannot_use_is_one_line(docker_host, message, tmp_path):
    result = subprocess.run([sys.executable, "-m", "invoke", "run", "--scenario", "close",
                             "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, env={**os.environ, "DOCKER_HOST": docker_host})
    said = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(said) == 1 and message in said[0], said
    assert not (tmp_path / "out").exists()
