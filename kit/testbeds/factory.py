"""The one place that names the kinds of testbed. Everything above kit/testbeds asks
here for a Provider (kit.testbeds.base) and sees only the protocols: a new kind is a
package of its own and a line in ``KINDS``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kit.core.defaults import DEFAULT_BASE_IMAGE
from kit.core.errors import BadInput
from kit.testbeds.base import KeptLabs, Provider
from kit.testbeds.docker.engine import close_tunnel
from kit.testbeds.docker.provider import DockerKeptLabs, DockerProvider
from kit.testbeds.kernel.provider import KernelProvider
from kit.testbeds.kernel.vm import remove_stale_scratch
from kit.testbeds.ssh.config import read_machines
from kit.testbeds.ssh.provider import SshProvider

DOCKER = "docker"     # --testbed docker (rerun): a Docker lab, whatever the run ran on

# Each kind, made again from its to_json() in another process (a study's cell).
KINDS: dict[str, Callable[[dict], Provider]] = {
    "docker": DockerProvider.from_json,
    "ssh": SshProvider.from_json,
    "kernel": KernelProvider.from_json,
}

__all__ = ["DEFAULT_BASE_IMAGE", "DOCKER", "build_images", "close_connections", "kept_labs",
           "provider_for", "provider_from_json", "remove_killed_runs_scratch"]


def provider_for(testbed: str | None = None, *, base_image: str = DEFAULT_BASE_IMAGE,
                 accept_new_host_keys: bool = False, kernel: str | None = None) -> Provider:
    """Where runs happen: a Docker lab (no ``testbed``, or 'docker'), the two machines
    of the testbed file ``testbed``, read and checked now (BadInput names what is wrong),
    or the two machines of a VM of Debian's kernel ``kernel``."""
    if kernel is not None:
        if testbed not in (None, ""):
            raise BadInput("--kernel runs in a VM of that kernel, --testbed between your "
                           "machines: give one of them")
        return KernelProvider(kernel, base_image)
    if testbed in (None, "", DOCKER):
        return DockerProvider(base_image, accept_new_host_keys)
    return SshProvider(read_machines(Path(testbed)), base_image, accept_new_host_keys)


def provider_from_json(data: dict) -> Provider:
    try:
        make = KINDS[data["kind"]]
    except KeyError:
        raise BadInput(f"no kind of testbed {data.get('kind')!r}: this kit has "
                       f"{', '.join(KINDS)}") from None
    return make(data)


def build_images(base_image: str = DEFAULT_BASE_IMAGE, rebuild: bool = False) -> str:
    """Make the lab image ready (``rebuild``: from scratch); which one it is."""
    return DockerProvider(base_image).build(rebuild)


def close_connections() -> None:
    """End what this process opened to reach testbeds (an ssh:// engine's tunnel), where
    atexit will not run (a process of multiprocessing ends with os._exit)."""
    close_tunnel()


def remove_killed_runs_scratch() -> int:
    """This machine's scratch directories of runs killed before their cleanup (a kernel
    VM's login key and testbed file); how many were removed."""
    return remove_stale_scratch()


def kept_labs(base_image: str = DEFAULT_BASE_IMAGE) -> KeptLabs:
    """The labs kept up to be explored: Docker labs (machines are always up)."""
    return DockerKeptLabs(base_image)
