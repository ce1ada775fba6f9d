"""Two machines over SSH as a Provider (kit.testbeds.base): the machines of a testbed
file, logged in to and checked before any run, one run at a time; the kit's programs
come from the lab image, so the local Docker engine makes that image ready."""

from __future__ import annotations

from pathlib import Path

from kit.core.errors import BadInput
from kit.impair.apply import NetemProbe
from kit.testbeds.docker.engine import client
from kit.testbeds.docker.image import DEFAULT_BASE_IMAGE, LabImage
from kit.testbeds.docker.provider import DockerProvider
from kit.testbeds.ssh.clean import clean_machines
from kit.testbeds.ssh.config import MachinesFile, read_machines
from kit.testbeds.ssh.testbed import SshTestbed

KIND = "ssh"


class SshProvider:
    """Runs between the two machines of ``machines``."""

    name = "ssh"
    one_at_a_time = True

    def __init__(self, machines: MachinesFile, base_image: str = DEFAULT_BASE_IMAGE,
                 accept_new_host_keys: bool = False, image: LabImage | None = None):
        self.machines = machines
        self.base_image = base_image
        self.accept_new_host_keys = accept_new_host_keys
        # The kit's programs for the machines come out of the lab image, made by the
        # local engine as for a Docker lab.
        self._images = DockerProvider(base_image, image=image)

    @property
    def image(self) -> LabImage:
        return self._images.image

    def check_options(self, keep: bool, mount: str | None, images: bool = False,
                      warm: bool = False) -> None:
        if warm:
            raise BadInput("--warm keeps Docker labs warm: leave it out with --testbed")
        if images:
            raise BadInput("--server-image and --client-image run in a Docker lab: leave "
                           "out --testbed")
        if keep:
            raise BadInput("--keep is for Docker labs: leave it out with --testbed")
        if mount:
            raise BadInput("--mount is for Docker labs (a directory mounted into "
                           "containers): put your programs on the machines and name them "
                           "in the commands")

    def preflight(self) -> None:
        client()     # the engine that makes the lab image (no Compose needed)

    def prepare(self, images: tuple[str, ...] = (),
                builds: tuple[tuple[str, str], ...] = ()) -> None:
        self._images.prepare()     # your images are refused here (check_options)

    def labs(self, *, trace: bool, shared: bool, keep: bool = False,
             shapes: bool = False, warm: bool = False) -> SshTestbed:
        return SshTestbed(self.machines, self.image, self.accept_new_host_keys, shapes=shapes)

    def lending(self, trace: bool) -> None:
        return None      # two machines hold one run at a time: nothing to lend

    def to_json(self) -> dict:
        return {**self._images.to_json(), "kind": KIND, "machines": str(self.machines.path),
                "accept_new_host_keys": self.accept_new_host_keys}

    @classmethod
    def from_json(cls, data: dict) -> SshProvider:
        image = LabImage(**data["image"]) if data["image"] else None
        return cls(read_machines(Path(data["machines"])), data["base_image"],
                   data["accept_new_host_keys"], image)

    def cell_testbed(self, lease: dict | None, user_dir: str | None,
                     shapes: bool = False) -> SshTestbed:
        return SshTestbed(self.machines, self.image, self.accept_new_host_keys, shapes=shapes)

    def netem_probe(self) -> NetemProbe:
        with SshTestbed(self.machines, self.image, self.accept_new_host_keys,
                        shapes=True) as machines:
            return machines.netem_probe()

    def where(self) -> str:
        machines = self.machines.machines
        return f"{machines['client'].ssh} and {machines['server'].ssh}"

    def clean(self, images: bool = False) -> list[str]:
        left = clean_machines(self.machines, self.accept_new_host_keys)
        return [f"the {role}: removed {len(paths)} run directory(ies) and tracefs "
                f"instance(s) of the kit" + (f": {', '.join(paths)}" if paths else "")
                for role, paths in left.items()]
