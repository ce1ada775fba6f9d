"""Debian's own kernels as a Provider (kit.testbeds.base): ``--kernel 6.1`` boots that
kernel under qemu (kit.testbeds.kernel.vm) and runs between its two machines over SSH,
as the SSH testbed runs between any two, one run at a time; the VM goes when the
command ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from kit.core.errors import BadInput, EnvironmentProblem
from kit.core.kernels import KERNELS, check_kernel
from kit.impair.apply import NetemProbe
from kit.testbeds.docker.engine import client, is_remote
from kit.testbeds.docker.image import DEFAULT_BASE_IMAGE, LabImage
from kit.testbeds.docker.provider import DockerProvider
from kit.testbeds.kernel.vm import booted, ensure_vm_image
from kit.testbeds.ssh.config import read_machines
from kit.testbeds.ssh.testbed import SshTestbed

KIND = "kernel"


class KernelProvider:
    """Runs between the two machines of a VM of Debian's kernel ``kernel``."""

    name = "kernel"
    one_at_a_time = True

    def __init__(self, kernel: str, base_image: str = DEFAULT_BASE_IMAGE,
                 image: LabImage | None = None):
        self.kernel = check_kernel(kernel)
        self.base_image = base_image
        self._images = DockerProvider(base_image, image=image)
        self._vm_image: str | None = None

    def check_options(self, keep: bool, mount: str | None, images: bool = False,
                      warm: bool = False) -> None:
        if warm:
            raise BadInput("--warm keeps Docker labs warm: leave it out with --kernel")
        if images:
            raise BadInput("--server-image and --client-image run in a Docker lab: leave "
                           "out --kernel")
        if keep:
            raise BadInput("--keep is for Docker labs: leave it out with --kernel")
        if mount:
            raise BadInput("--mount is for Docker labs: your own programs are not yet "
                           "copied into a kernel's VM; leave out --kernel")

    def preflight(self) -> None:
        client()
        if is_remote():
            raise EnvironmentProblem("--kernel needs a local Docker engine: the VM's SSH "
                                     "ports are reached at its container's address")

    def prepare(self, images: tuple[str, ...] = (),
                builds: tuple[tuple[str, str], ...] = ()) -> None:
        self._images.prepare()     # your images are refused here (check_options)
        self._vm_image = ensure_vm_image(self.kernel, self._images.image)

    def _machines(self, shapes: bool) -> KernelLabs:
        if self._vm_image is None:
            self.prepare()
        assert self._vm_image is not None
        return KernelLabs(self._vm_image, self.kernel, self._images.image, shapes)

    def labs(self, *, trace: bool, shared: bool, keep: bool = False,
             shapes: bool = False, warm: bool = False) -> KernelLabs:
        return self._machines(shapes)

    def lending(self, trace: bool) -> None:
        return None      # one VM holds one run at a time

    def to_json(self) -> dict:
        return {**self._images.to_json(), "kind": KIND, "kernel": self.kernel}

    @classmethod
    def from_json(cls, data: dict) -> KernelProvider:
        image = LabImage(**data["image"]) if data["image"] else None
        return cls(data["kernel"], data["base_image"], image)

    @contextmanager
    def cell_testbed(self, lease: dict | None, user_dir: str | None,
                     shapes: bool = False) -> Iterator[SshTestbed]:
        """The VM booted for one run in a process of its own (a study runs this kind's
        cells in its own process instead, the VM booted once)."""
        with self._machines(shapes) as labs, labs.lease(user_dir) as testbed:
            yield testbed

    def netem_probe(self) -> NetemProbe:
        with self._machines(shapes=True) as machines:
            return machines.netem_probe()

    def where(self) -> str:
        return f"Debian's kernel {self.kernel} under qemu"

    def clean(self, images: bool = False) -> list[str]:
        return []        # the VM's container carries the kit's labels: 'invoke clean'


class KernelLabs:
    """The VM booted for a command's runs (``with``), its two machines leased to each
    run in turn; the VM goes when the block ends."""

    def __init__(self, vm_image: str, kernel: str, image: LabImage, shapes: bool):
        self.vm_image, self.kernel, self.image, self.shapes = vm_image, kernel, image, shapes
        self._stack = ExitStack()
        self._machines: SshTestbed | None = None

    def __enter__(self) -> KernelLabs:
        with ExitStack() as stack:
            testbed_file = stack.enter_context(booted(self.vm_image, self.kernel))
            machines = SshTestbed(read_machines(testbed_file), self.image,
                                  shapes=self.shapes, name=KIND, described={"kernel_vm": {
                                      "kernel": self.kernel, "suite": KERNELS[self.kernel],
                                      "image": self.vm_image}})
            self._machines = stack.enter_context(machines)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc_info) -> None:
        self._machines = None
        self._stack.close()

    @contextmanager
    def lease(self, user_dir: str | None = None) -> Iterator[SshTestbed]:
        assert self._machines is not None, "lease() inside 'with labs:'"
        yield self._machines

    def netem_probe(self) -> NetemProbe:
        assert self._machines is not None
        return self._machines.netem_probe()
