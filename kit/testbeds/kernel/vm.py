"""One of Debian's kernels booted under qemu in a container of the kit's
(containers/kernel-vm), holding the two machines of a run: each a network namespace of
that one kernel with an sshd of its own, reached through the container's ports 2201
and 2202. The SSH testbed drives them as it drives any two machines."""

from __future__ import annotations

import io
import secrets
import shutil
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from kit.core.errors import EnvironmentProblem, LabFailure
from kit.core.kernels import KERNELS
from kit.core.progress import step
from kit.core.scratch import remove_dead_scratch, scratch_directory
from kit.testbeds.docker.engine import throwaway_container, translated
from kit.testbeds.docker.image import (
    CONTAINERS_DIR,
    LabImage,
    context_hash,
    ensure_built,
)

VM_CONTEXT = CONTAINERS_DIR / "kernel-vm"
REPOSITORY = "netkit/kernel-vm"
VM_FILES = "/usr/local/lib/netkit-vm"
PORTS = {"client": 2201, "server": 2202}
ADDRESSES = {"client": ("192.168.77.1", "lab0"), "server": ("192.168.77.2", "lab1")}
BOOT_TIMEOUT = 300.0      # under software emulation; about 20 s on this project's machine
READY = "### machines up"
SCRATCH_PREFIX = "netkit-kernel-"       # then the PID of the kit's process


def ensure_vm_image(kernel: str, lab: LabImage) -> str:
    """The VM image of ``kernel`` for this lab image, built when missing (apt fetches
    qemu and the kernel: a few minutes the first time); one is kept per kernel."""
    suite = KERNELS[kernel]
    wanted = context_hash(VM_CONTEXT, f"{lab.id} {suite}")
    return ensure_built(f"{REPOSITORY}:{suite}-{wanted}", VM_CONTEXT,
                        {"LAB_IMAGE": lab.id, "SUITE": suite}, "kernel-vm", wanted,
                        f"building the VM image of Debian {suite}'s kernel {kernel} (qemu "
                        "and the kernel's package)", replaces=f"{REPOSITORY}:{suite}-")


@contextmanager
def booted(image: str, kernel: str) -> Iterator[Path]:
    """The VM up, for the block: a testbed file of its two machines (in a directory of
    its own, with the login key and host key out of the image); removed afterwards,
    whatever happens."""
    name = f"netkit-kernel-{secrets.token_hex(3)}"
    with throwaway_container(image, None, "kernel-vm", name=name) as container, \
            _scratch() as directory:
        with translated(f"start the VM of kernel {kernel}"):
            container.start()
        _wait_until_up(container, kernel)
        yield _testbed_file(container, directory)


@contextmanager
def _scratch() -> Iterator[Path]:
    # Named after this process: a run killed by SIGKILL or SIGTERM leaves it, and
    # 'invoke clean' removes it once that process is gone (remove_stale_scratch).
    directory = scratch_directory(SCRATCH_PREFIX)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def remove_stale_scratch() -> int:
    """The scratch directories (login key, testbed file) of kernel runs whose process is
    gone; how many were removed."""
    return remove_dead_scratch(SCRATCH_PREFIX)


def _wait_until_up(container, kernel: str) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    with step(f"booting Debian's kernel {kernel} under qemu") as progress:
        while True:
            console = container.logs().decode(errors="replace")
            if READY in console:
                return
            container.reload()
            if container.status != "running" or time.monotonic() > deadline:
                tail = " | ".join(console.strip().splitlines()[-3:])
                why = "stopped" if container.status != "running" else \
                    f"was not up within {BOOT_TIMEOUT:.0f} s"
                raise LabFailure(f"the VM of kernel {kernel} {why}; its console ended: {tail}")
            progress.update("waiting for its two machines")
            time.sleep(0.5)


def _testbed_file(container, directory: Path) -> Path:
    """The two machines as a testbed file: the container's address, the kit's login key
    and the VM's host key (so the host key is checked, as for any machine)."""
    container.reload()
    address = next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]
    if not address:
        raise EnvironmentProblem("the VM's container has no address this machine reaches: "
                                 "--kernel needs a local Docker engine on Linux")
    key = directory / "key"
    key.write_bytes(_file_of(container, f"{VM_FILES}/key"))
    key.chmod(0o600)
    host_key = _file_of(container, f"{VM_FILES}/host_key.pub").decode().split()
    known = directory / "known_hosts"
    known.write_text("".join(f"[{address}]:{port} {host_key[0]} {host_key[1]}\n"
                             for port in PORTS.values()))
    testbed: dict[str, object] = {"known_hosts": str(known)}
    for role, port in PORTS.items():
        ip, interface = ADDRESSES[role]
        testbed[role] = {"ssh": f"lab@{address}:{port}", "address": ip,
                         "interface": interface, "sudo": True, "identity": str(key)}
    path = directory / "testbed.yaml"
    path.write_text(yaml.safe_dump(testbed))
    return path


def _file_of(container, path: str) -> bytes:
    with translated(f"read {path} out of the VM's image"):
        chunks, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            assert member is not None
            return member.read()
