"""Stand-ins for remote Docker hosts: containers built from the kit's base image with
Debian's docker.io and sshd (containers/dockerhost), each running its own dockerd
without privileges (the recipe of the project's environment notes: a few capabilities,
the host's cgroup tree, a cgroup parent of its own, /var/lib/docker on tmpfs). Reached
over SSH as root with a fresh host key; a HOME of the test's holds the key and the
known_hosts, so the kit finds both where it would on a user's machine."""

from __future__ import annotations

import glob
import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker

from kit.core.paths import PROJECT_ROOT
from kit.testbeds.docker import labels
from kit.testbeds.docker.image import LabImage
from tests.integration.machines import image_from

DOCKERHOST_DIR = PROJECT_ROOT / "containers" / "dockerhost"
# The docker CLI's words: docker-py has no option for systempaths=unconfined (which
# unmasks /proc for the inner engine's sysctls).
ENGINE_OPTIONS = ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN", "--cap-add", "MKNOD",
                  "--cap-add", "SYS_PTRACE", "--security-opt", "seccomp=unconfined",
                  "--security-opt", "apparmor=unconfined", "--security-opt",
                  "systempaths=unconfined", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                  "--tmpfs", "/var/lib/docker:exec"]


@dataclass
class DockerHost:
    container: object
    address: str
    home: Path              # HOME for the kit: .ssh/id_ed25519 and .ssh/known_hosts
    host_key_line: str      # the known_hosts line of this host

    @property
    def url(self) -> str:
        return f"ssh://root@{self.address}"

    def inner(self, *command: str) -> str:
        """A docker command on the inner engine (the test's own look, not the kit's)."""
        result = self.container.exec_run(["docker", *command])
        assert result.exit_code == 0, result.output.decode(errors="replace")
        return result.output.decode(errors="replace")

    def environment(self) -> dict[str, str]:
        return {**os.environ, "HOME": str(self.home), "DOCKER_HOST": self.url,
                "NETKIT_KNOWN_HOSTS": str(self.home / "kit-known-hosts")}


@contextmanager
def docker_host(image: LabImage, directory: Path, max_sessions: int = 10,
                preload: tuple[str, ...] = (), host_image: str | None = None,
                address_pool: str | None = None) -> Iterator[DockerHost]:
    """A Docker host up for the block; ``preload``: images of this engine copied into its
    engine first (docker save | docker load); ``host_image``: another image of a Docker
    host (dockerhost_image's, by default); ``address_pool``: its networks' subnets
    (10.31.0.0/16: Docker hosts on one kernel need pools apart)."""
    engine = docker.from_env()
    name = f"netkit-dockerhost-{secrets.token_hex(3)}"
    home = directory / "home"
    (home / ".ssh").mkdir(parents=True)
    key = home / ".ssh" / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    container = None
    try:
        settings = {"AUTHORIZED_KEY": key.with_suffix(".pub").read_text().strip(),
                    "CGROUP_PARENT": name, "STORAGE_DRIVER": "overlay2",
                    "MAX_SESSIONS": str(max_sessions), "ADDRESS_POOL": address_pool or ""}
        started = subprocess.run(
            ["docker", "run", "-d", "--name", name, "--hostname", name,
             "--label", f"{labels.MANAGED}=true", "--label", f"{labels.RUN_ID}={name}",
             *ENGINE_OPTIONS, *(f"--env={key}={value}" for key, value in settings.items()),
             host_image or dockerhost_image(image)],
            capture_output=True, text=True)
        assert started.returncode == 0, started.stderr
        container = engine.containers.get(name)
        host = _ready(container, home)
        for preloaded in preload:
            _copy_image(engine, preloaded, container)
        yield host
    finally:
        if container is not None:
            container.remove(force=True)
        _remove_cgroups(name)


def dockerhost_image(image: LabImage, suite: str = "bookworm") -> str:
    """The Docker host's image: Debian ``suite``'s docker.io (trixie: a current engine)."""
    return image_from(DOCKERHOST_DIR, "netkit/dockerhost", image.base, DOCKER_SUITE=suite)


def _ready(container, home: Path, timeout: float = 60.0) -> DockerHost:
    deadline = time.monotonic() + timeout
    while container.exec_run(["docker", "info"]).exit_code != 0 or \
            b"Server listening" not in container.logs():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Docker host {container.name} did not start: "
                               f"{container.logs().decode(errors='replace')[-2000:]}")
        time.sleep(0.3)
    container.reload()
    address = container.attrs["NetworkSettings"]["IPAddress"]
    host_key = container.exec_run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).output.decode()
    line = f"{address} {' '.join(host_key.split()[:2])}"
    (home / ".ssh" / "known_hosts").write_text(line + "\n")
    return DockerHost(container, address, home, line)


def _copy_image(engine, name: str, container) -> None:
    saved = subprocess.Popen(["docker", "save", name], stdout=subprocess.PIPE)
    loaded = subprocess.run(["docker", "exec", "-i", container.name, "docker", "load"],
                            stdin=saved.stdout, capture_output=True, text=True)
    saved.wait()
    assert saved.returncode == 0 and loaded.returncode == 0, loaded.stderr


def _remove_cgroups(name: str) -> None:
    """The inner engine's cgroups outlive it on the host's tree: deepest first."""
    for path in sorted(glob.glob(f"/sys/fs/cgroup/*/{name}/**/", recursive=True),
                       key=len, reverse=True):
        try:
            os.rmdir(path)
        except OSError:
            pass
