"""The Docker Compose testbed: each run's two hosts are containers of one Compose project
on the engine that docker-py reaches (DOCKER_HOST and friends are honoured)."""

from __future__ import annotations

import platform
from contextlib import AbstractContextManager

from kit import __version__
from kit.impair.apply import NetemProbe
from kit.testbeds.docker.compose import compose_cli
from kit.testbeds.docker.engine import engine_url, versions
from kit.testbeds.docker.image import LabImage
from kit.testbeds.docker.lab import ComposeLab
from kit.testbeds.docker.probe import probe_netem
from kit.testbeds.docker.tracer import DockerKernelTracer


class DockerComposeTestbed:
    """Labs of ``image`` (user_dir: your own programs, mounted read-only in both hosts)."""

    name = "docker-compose"

    def __init__(self, image: LabImage, user_dir: str | None = None):
        self.image = image
        self.user_dir = user_dir

    def facts(self) -> dict:
        facts = {"kit_version": __version__, "controller_kernel": platform.release(),
                 "python": platform.python_version(), "image": self.image.name,
                 "image_id": self.image.id, "base_image": self.image.base}
        facts.update(versions())
        # The lab's kernel is the engine's (a remote engine's, Docker Desktop's VM's).
        facts["kernel"] = facts.get("docker_kernel") or platform.release()
        facts["docker_endpoint"] = engine_url() or "local socket"
        facts["compose"] = compose_cli().described   # the lab adds its version
        return facts

    def up(self, run_id: str, keep: bool = False) -> AbstractContextManager[ComposeLab]:
        return ComposeLab(run_id, self.image.name, keep=keep, user_dir=self.user_dir)

    def port_for(self, asked: int) -> int:
        return asked    # a new lab: no earlier run

    def tracer(self, run_id: str, port: int) -> DockerKernelTracer:
        return DockerKernelTracer(run_id, self.image.name, port)

    def netem_probe(self) -> NetemProbe:
        return probe_netem(self.image.name)
