"""Two stand-ins for real machines, for the SSH testbed's tests: containers built from
the kit's base image with sshd and sudo but none of the kit's programs
(containers/machine), each on a control network (where SSH goes) and on a lab network
(the experiment's, eth1). The client is logged in to as 'lab' with passwordless sudo,
the server as root. Fresh host keys per machine; a known_hosts written for them."""

from __future__ import annotations

import hashlib
import secrets
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import yaml

from kit.core.paths import PROJECT_ROOT
from kit.testbeds.docker import labels
from kit.testbeds.docker.image import LabImage

MACHINE_DIR = PROJECT_ROOT / "containers" / "machine"
LOGINS = {"client": ("lab", True), "server": ("root", False)}


@dataclass
class Machines:
    run: str
    dir: Path
    testbed_file: Path
    known_hosts: Path
    key: Path
    containers: dict
    control: dict        # role -> control network address (where SSH goes)
    lab: dict            # role -> lab network address

    def write_testbed(self, **changes) -> Path:
        """The testbed file with ``changes`` ({'server.interface': 'eth9'} ...)."""
        data = yaml.safe_load(self.testbed_file.read_text())
        for dotted, value in changes.items():
            where = data
            *path, last = dotted.split(".")
            for part in path:
                where = where[part]
            if value is None:
                where.pop(last, None)
            else:
                where[last] = value
        path = self.dir / f"testbed-{secrets.token_hex(3)}.yaml"
        path.write_text(yaml.safe_dump(data))
        return path


def image_from(directory: Path, repository: str, base: str, **arguments: str) -> str:
    """An image of a stand-in built from ``directory`` on ``base`` (and the Dockerfile's
    other build ``arguments``), tagged with a hash of all of them so that it is rebuilt
    only when one changes."""
    engine = docker.from_env()
    digest = hashlib.sha256(base.encode())
    for path in sorted(directory.iterdir()):
        digest.update(path.name.encode() + path.read_bytes())
    for key, value in sorted(arguments.items()):
        digest.update(f"{key}={value}".encode())
    name = f"{repository}:{digest.hexdigest()[:12]}"
    try:
        engine.images.get(name)
    except docker.errors.ImageNotFound:
        engine.images.build(path=str(directory), tag=name,
                            buildargs={"BASE_IMAGE": base, **arguments},
                            labels={labels.IMAGE: "true"}, rm=True, forcerm=True)
    return name


@contextmanager
def two_machines(image: LabImage, directory: Path) -> Iterator[Machines]:
    engine = docker.from_env()
    run = "machines-" + secrets.token_hex(3)
    marks = {labels.MANAGED: "true", labels.RUN_ID: run}
    name = image_from(MACHINE_DIR, "netkit/machine", image.base)
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    networks, containers = [], {}
    try:
        for kind in ("control", "lab"):
            networks.append(engine.networks.create(f"netkit-{run}-{kind}", labels=marks))
        for role in LOGINS:
            containers[role] = engine.containers.run(
                name, detach=True, name=f"netkit-{run}-{role}", labels=marks,
                network=networks[0].name, hostname=role,
                cap_add=["NET_ADMIN", "NET_RAW", "SYS_ADMIN"],
                security_opt=["apparmor=unconfined"],
                environment={"AUTHORIZED_KEY": (key.with_suffix(".pub")).read_text().strip()})
            networks[1].connect(containers[role])
        machines = _describe(run, directory, key, containers)
        yield machines
    finally:
        for container in containers.values():
            container.remove(force=True)
        for network in networks:
            network.remove()


def _describe(run: str, directory: Path, key: Path, containers: dict) -> Machines:
    control, lab, known = {}, {}, []
    for role, container in containers.items():
        _wait_for_sshd(container)
        container.reload()
        nets = container.attrs["NetworkSettings"]["Networks"]
        control[role] = nets[f"netkit-{run}-control"]["IPAddress"]
        lab[role] = nets[f"netkit-{run}-lab"]["IPAddress"]
        host_key = container.exec_run(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).output
        known.append(f"{control[role]} {' '.join(host_key.decode().split()[:2])}")
    known_hosts = directory / "known_hosts"
    known_hosts.write_text("\n".join(known) + "\n")
    testbed = {role: {"ssh": f"{LOGINS[role][0]}@{control[role]}", "address": lab[role],
                      "interface": "eth1", "identity": str(key), "sudo": LOGINS[role][1]}
               for role in LOGINS}
    testbed["known_hosts"] = str(known_hosts)
    testbed_file = directory / "testbed.yaml"
    testbed_file.write_text(yaml.safe_dump(testbed))
    return Machines(run, directory, testbed_file, known_hosts, key, containers, control, lab)


def _wait_for_sshd(container, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while b"Server listening" not in container.logs():
        if time.monotonic() > deadline:
            raise RuntimeError(f"sshd did not start in {container.name}: "
                               f"{container.logs().decode(errors='replace')}")
        time.sleep(0.1)
