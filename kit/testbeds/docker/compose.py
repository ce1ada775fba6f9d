"""The Compose CLI: v2 (`docker compose`) where present, else v1 (`docker-compose`).

Compose brings the lab up, so that docker-compose.yml stays the one description of the
topology; everything after goes through docker-py, the lab's removal too (by its labels:
the same path that cleans what a killed run left).
"""

from __future__ import annotations

import functools
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


@functools.lru_cache(maxsize=1)
def compose_cli() -> ComposeCli:
    """The Compose CLI to use; NETKIT_COMPOSE=v1|v2 forces one."""
    forced = os.environ.get("NETKIT_COMPOSE", "")
    if forced != "v1" and shutil.which("docker"):
        version = _version_of(["docker", "compose"])
        if version:
            return ComposeCli(("docker", "compose"), version)
    if forced != "v2" and shutil.which("docker-compose"):
        # v1 is a Python program: asking its version costs a third of a second on every
        # run. The containers' com.docker.compose.version label tells it once they are up.
        return ComposeCli(("docker-compose",), "v1")
    raise EnvironmentProblem(
        "Docker Compose is not installed: install the Compose plugin ('docker compose', "
        "package docker-compose-plugin) or docker-compose")
