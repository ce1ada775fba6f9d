"""The Docker Compose kind of testbed as a Provider (kit.testbeds.base): the engine and
Compose checked first, the lab image made ready, labs for a command's runs (a new lab
each, or a pool's, reset between runs), labs lent to a study's cells, and the clean-up
of what killed runs left; and the labs kept up to be explored (``DockerKeptLabs``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import docker.errors

from kit.core.command import command
from kit.core.errors import BadInput, EnvironmentProblem, KitError
from kit.core.roles import Role
from kit.impair.apply import NetemProbe
from kit.testbeds.docker import labels
from kit.testbeds.docker.apps import build_app_images, ensure_images
from kit.testbeds.docker.compose import compose_cli
from kit.testbeds.docker.engine import (
    NEW_HOST_KEYS_WITHOUT_SSH,
    client,
    engine_over_ssh,
    engine_url,
    trust_new_host_keys,
)
from kit.testbeds.docker.image import (
    DEFAULT_BASE_IMAGE,
    LAB_IMAGE_REPOSITORY,
    LabImage,
    ensure_lab_image,
    lab_image_named,
)
from kit.testbeds.docker.lab import ComposeLab, remove_by_label
from kit.testbeds.docker.pool import LabPool, Lease, PooledTestbed
from kit.testbeds.docker.probe import probe_netem
from kit.testbeds.docker.testbed import DockerComposeTestbed
from kit.testbeds.docker.tracer import leftover_instances
from kit.testbeds.docker.warm import WarmLabs, forget_warm_labs

KIND = "docker"


class FreshLabs:
    """A new lab for each run, removed after it (kept up with ``keep``)."""

    def __init__(self, image: LabImage):
        self.image = image

    def __enter__(self) -> FreshLabs:
        return self

    def __exit__(self, *exc_info) -> None:
        pass

    @contextmanager
    def lease(self, user_dir: str | None = None) -> Iterator[DockerComposeTestbed]:
        yield DockerComposeTestbed(self.image, user_dir)

    def netem_probe(self) -> NetemProbe:
        return probe_netem(self.image.name)


class DockerProvider:
    """Labs of the kit's image built on ``base_image``, on the engine docker-py reaches."""

    name = "docker-compose"
    one_at_a_time = False

    def __init__(self, base_image: str = DEFAULT_BASE_IMAGE,
                 accept_new_host_keys: bool = False, image: LabImage | None = None):
        if accept_new_host_keys and not engine_over_ssh():
            raise BadInput(NEW_HOST_KEYS_WITHOUT_SSH)
        self.base_image = base_image     # as asked for: recorded, for 'invoke rerun'
        self.accept_new_host_keys = accept_new_host_keys   # the ssh:// engine's
        self._image = image

    @property
    def image(self) -> LabImage:
        if self._image is None:
            self.prepare()
        assert self._image is not None
        return self._image

    def check_options(self, keep: bool, mount: str | None, images: bool = False,
                      warm: bool = False) -> None:
        pass     # a Docker lab can be kept up or warm, mounts programs, runs your images

    def preflight(self) -> None:
        self._trust_new_host_keys()
        client()
        compose_cli()

    def _trust_new_host_keys(self) -> None:
        """An ssh:// engine's host key, seen for the first time, recorded (as asked)."""
        if self.accept_new_host_keys:
            trust_new_host_keys()

    def prepare(self, images: tuple[str, ...] = (),
                builds: tuple[tuple[str, str], ...] = ()) -> None:
        if self._image is None:
            self._image = ensure_lab_image(self.base_image)
        build_app_images(builds, self._image.base)
        ensure_images(images)

    def build(self, rebuild: bool = False) -> str:
        """Make the lab image ready (``rebuild``: from scratch); which one it is."""
        self._image = image = ensure_lab_image(self.base_image, rebuild=rebuild)
        return f"{image.name} ({image.id[:19]}) from {image.base}"

    def labs(self, *, trace: bool, shared: bool, keep: bool = False,
             shapes: bool = False, warm: bool = False) -> LabPool | FreshLabs | WarmLabs:
        if warm:
            return WarmLabs(self.image, trace=trace)
        return LabPool(self.image, trace=trace) if shared and not keep \
            else FreshLabs(self.image)

    def lending(self, trace: bool) -> LabPool:
        return LabPool(self.image, trace=trace)

    def to_json(self) -> dict:
        image = self._image     # made ready here, or by the process that gets it
        return {"kind": KIND, "base_image": self.base_image,
                "image": {"name": image.name, "id": image.id, "base": image.base}
                if image else None}

    @classmethod
    def from_json(cls, data: dict) -> DockerProvider:
        return cls(data["base_image"], image=LabImage(**data["image"]) if data["image"] else None)

    def cell_testbed(self, lease: dict | None, user_dir: str | None,
                     shapes: bool = False) -> AbstractContextManager[DockerComposeTestbed]:
        if lease is None:
            return nullcontext(DockerComposeTestbed(self.image, user_dir))
        return nullcontext(PooledTestbed(self.image, Lease(**lease), user_dir))

    def netem_probe(self) -> NetemProbe:
        return probe_netem(self.image.name)

    def where(self) -> str:
        return engine_url() or "local socket"

    def clean(self, images: bool = False) -> list[str]:
        self._trust_new_host_keys()
        containers, networks = remove_by_label()
        forget_warm_labs()
        instances = remove_trace_instances()
        removed = remove_images() if images else 0
        return [f"removed {containers} container(s), {networks} network(s)"
                + (f", {removed} image tag(s)" if images else "")
                + f" carrying the kit's labels, and {instances}"]


def remove_images() -> int:
    """Remove every image the kit built (by its label); how many tags went."""
    removed = 0
    for image in client().images.list(filters={"label": labels.IMAGE}):
        for tag in image.tags or [image.id]:
            client().images.remove(tag, force=True)
            removed += 1
    return removed


def remove_trace_instances() -> str:
    """Trace instances outlive a killed run (they are the kernel's, not Docker's); how
    many went, or why none could be looked for."""
    try:
        image = client().images.get(f"{LAB_IMAGE_REPOSITORY}:latest")
    except docker.errors.ImageNotFound:
        return "no tracefs instance (the lab image was never built here: no run traced)"
    try:
        removed = leftover_instances(image.tags[0], remove=True)
    except KitError as error:
        return f"no tracefs instance: could not look for them ({error})"
    return f"{len(removed)} tracefs instance(s) of killed runs"


class DockerKeptLabs:
    """Labs kept up to be explored, by their marks (labels.KEPT)."""

    def __init__(self, base_image: str = DEFAULT_BASE_IMAGE):
        self.base_image = base_image

    def up(self, run_id: str) -> None:
        provider = DockerProvider(self.base_image)
        provider.preflight()
        with DockerComposeTestbed(provider.image).up(run_id, keep=True):
            pass   # keep=True: leaving the block leaves the lab up (and says how to use it)

    def running(self) -> list[str]:
        found = client().containers.list(filters=labels.managed_filter(kept=True),
                                       ignore_removed=True)
        return sorted({c.labels.get(labels.RUN_ID) for c in found
                       if c.labels.get(labels.RUN_ID)})

    def down(self, run_id: str) -> str:
        # The image is not needed to take a lab down; Compose only reads the file.
        ComposeLab(run_id, image="").down()
        return f"lab {labels.PROJECT_PREFIX}{run_id} removed"

    def attach(self, run_id: str) -> ComposeLab:
        return ComposeLab.attach(run_id, timeout=5)

    def netem_probe(self, run_id: str) -> NetemProbe:
        return probe_netem(lab_image_named(self.attach(run_id).image).name)

    def name_of(self, run_id: str) -> str:
        return f"{labels.PROJECT_PREFIX}{run_id}"

    def shell_command(self, role: Role, run_id: str, terminal: bool) -> list[str]:
        if shutil.which("docker") is None:
            raise EnvironmentProblem(f"'{command('shell')}' needs the docker command-line "
                                     "client")
        lab = ComposeLab.attach(run_id, timeout=5)
        # -t only on a terminal, so a shell can also be fed a script through a pipe.
        return ["docker", "exec", "-i", *(["-t"] if terminal else []), "-w", "/var/lib/netkit",
                lab.hosts[role].container.name, "bash"]

