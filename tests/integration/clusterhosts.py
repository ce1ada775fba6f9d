"""A cluster of real separate Docker engines on this machine: Docker hosts of
tests/integration/dockerhosts.py with Compose and the kit installed
(containers/clusterhost), each running 'netkit worker' against a Dask scheduler started
here, on the Docker bridge's address (nothing beyond this machine)."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker

from kit.core.paths import PROJECT_ROOT
from kit.testbeds.docker import labels
from kit.testbeds.docker.image import LabImage
from tests.integration.dockerhosts import DockerHost, dockerhost_image

CLUSTERHOST_DIR = PROJECT_ROOT / "containers" / "clusterhost"
SOURCES = ("kit", "containers", "experiments", "pyproject.toml", "setup.py",
           "docker-compose.yml", "MANIFEST.in", "README.md")


def source_digest(base: str) -> str:
    digest = hashlib.sha256(base.encode())
    for name in SOURCES:
        path = PROJECT_ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" not in file.parts:
                digest.update(str(file.relative_to(PROJECT_ROOT)).encode() + file.read_bytes())
    return digest.hexdigest()[:12]


def clusterhost_image(image: LabImage, scratch: Path) -> str:
    """The Docker host image with the kit of this checkout installed (built when the
    checkout changes: its wheels made here, installed there offline)."""
    base = dockerhost_image(image)
    name = f"netkit/clusterhost:{source_digest(base)}"
    engine = docker.from_env()
    try:
        engine.images.get(name)
        return name
    except docker.errors.ImageNotFound:
        pass
    context = scratch / "clusterhost"
    wheels = context / "wheels"
    wheels.mkdir(parents=True)
    shutil.copy(CLUSTERHOST_DIR / "Dockerfile", context / "Dockerfile")
    pip = [sys.executable, "-m", "pip", "wheel", "-q"]
    subprocess.run([*pip, "--no-deps", "-w", str(wheels), str(PROJECT_ROOT)], check=True,
                   timeout=300)
    (wheel,) = wheels.glob("netkit-*.whl")
    subprocess.run([*pip, "-w", str(wheels), str(wheel)], check=True, timeout=600)
    engine.images.build(path=str(context), tag=name, buildargs={"DOCKERHOST_IMAGE": base},
                        labels={labels.IMAGE: "true"}, rm=True, forcerm=True)
    return name


def bridge_gateway() -> str:
    """This machine's address on Docker's default bridge: the Docker hosts reach it."""
    config = docker.from_env().networks.get("bridge").attrs["IPAM"]["Config"][0]
    # The default bridge's IPAM may name only the subnet: the bridge holds its first host.
    return config.get("Gateway") or str(ipaddress.ip_network(config["Subnet"])[1])


@contextmanager
def dask_scheduler(directory: Path) -> Iterator[str]:
    """A Dask scheduler on the bridge's address for the block; yields its address."""
    address_file = directory / "scheduler.json"
    log = (directory / "scheduler.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", bridge_gateway(),
         "--port", "0", "--no-dashboard", "--scheduler-file", str(address_file)],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists():
            assert process.poll() is None and time.monotonic() < deadline, \
                (directory / "scheduler.log").read_text()
            time.sleep(0.2)
        time.sleep(0.2)     # written whole
        yield json.loads(address_file.read_text())["address"]
    finally:
        process.terminate()
        process.wait(30)
        log.close()


def start_worker(host: DockerHost, scheduler: str) -> None:
    """'netkit worker' in the Docker host (its output in /var/log/netkit-worker.log)."""
    host.container.exec_run(["sh", "-c", f"netkit worker --scheduler {scheduler} --labs 1 "
                                         ">/var/log/netkit-worker.log 2>&1"], detach=True)


def wait_for_workers(scheduler: str, hosts: list[DockerHost], timeout: float = 300) -> None:
    from distributed import Client

    deadline = time.monotonic() + timeout
    with Client(scheduler, timeout="10s") as client:
        while len(client.scheduler_info(n_workers=-1)["workers"]) < len(hosts):
            if time.monotonic() > deadline:
                logs = {h.container.name: h.container.exec_run(
                    ["tail", "-5", "/var/log/netkit-worker.log"]).output.decode()
                    for h in hosts}
                raise AssertionError(f"the workers did not join: {logs}")
            time.sleep(0.5)
