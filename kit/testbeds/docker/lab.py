"""The Compose lab: one Compose project per run, torn down in a ``finally`` whatever
happens. It is the ``Lab`` of the Docker testbed (kit.testbeds.base)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker.errors
from docker.models.containers import Container

from kit.core.command import command
from kit.core.errors import LabFailure
from kit.core.interrupts import deferred_interrupt
from kit.core.paths import PROJECT_ROOT
from kit.core.progress import say
from kit.core.roles import ROLES, Role
from kit.testbeds.base import Endpoint
from kit.testbeds.docker import labels
from kit.testbeds.docker.compose import compose_cli
from kit.testbeds.docker.engine import client, is_remote, translated
from kit.testbeds.docker.host import DockerHost

INTERFACE = "eth0"                   # the lab network's, in each container
WORKDIR = "/var/lib/netkit/run"     # the image's (netkit-observe writes there too)
USER_DIR = "/opt/netkit/user"       # your programs, in both hosts
EXAMPLE_PROGRAMS = PROJECT_ROOT / "experiments" / "programs"   # docker-compose.yml's default


class ComposeLab:
    """A client and a server container on a network of their own.

    Use as a context manager: leaving the block removes the containers and the network,
    also when start-up fails half-way or the user presses Ctrl-C (unless ``keep``).
    """

    START_TIMEOUT = 30.0

    def __init__(self, run_id: str, image: str, keep: bool = False, user_dir: str | None = None):
        self.run_id = run_id
        self.image = image
        self.keep = keep
        self.user_dir = user_dir      # mounted read-only at /opt/netkit/user in both hosts
        self.project = labels.PROJECT_PREFIX + run_id
        self.hosts: dict[Role, DockerHost] = {}

    @property
    def _env(self) -> dict:
        env = {"NETKIT_IMAGE": self.image, "NETKIT_RUN_ID": self.run_id,
               "NETKIT_KEPT": "true" if self.keep else "false"}
        if self.user_dir:
            env["NETKIT_USER_DIR"] = self.user_dir
        return env

    def __enter__(self) -> ComposeLab:
        try:
            self.up()
        except BaseException:
            self.down(cut_short=True)
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        if self.keep:
            say(f"lab {self.project} is up: '{command('shell client')}' or "
                f"'{command('shell server')}' to look around (add --run {self.run_id} when "
                "several labs are up), "
                f"'{command('down --run ' + self.run_id)}' to remove it")
            for host in self.hosts.values():
                host.close()
        else:
            self.down()

    def up(self) -> None:
        compose_cli().run(self.project, "up", "-d", "--no-build", env=self._env)
        with translated(f"find the containers of {self.project}"):
            self.hosts = running_hosts(self.run_id, timeout=self.START_TIMEOUT)
        if is_remote():
            # No bind mount reaches another machine (containers/compose-remote.yml).
            source = Path(self.user_dir) if self.user_dir else EXAMPLE_PROGRAMS
            for host in self.hosts.values():
                host.put_tree(source, USER_DIR)

    def down(self, cut_short: bool = False) -> None:
        """Remove the lab by its labels, through the engine: its containers (with their
        anonymous volumes) and its network are all Compose made, and sparing a Compose
        process (a Python program, with v1) halves the teardown. ``cut_short``: Compose
        was stopped mid-way, and the engine may still be creating what it had asked for."""
        with deferred_interrupt():
            for host in self.hosts.values():
                host.close()
            with translated(f"remove the lab {self.project}"):
                remove_by_label(self.run_id)
                if cut_short:
                    remove_latecomers(self.run_id)
                if _leftovers(self.run_id):
                    raise LabFailure(f"the lab {self.project} could not be removed: "
                                     f"'{command('clean')}' tries again")

    @classmethod
    def attach(cls, run_id: str, timeout: float = 30.0) -> ComposeLab:
        """The lab of ``run_id`` that is up already (invoke up, run --keep): leaving a
        block of it leaves it up."""
        hosts = running_hosts(run_id, timeout)
        lab = cls(run_id, hosts["client"].container.attrs["Config"]["Image"], keep=True)
        lab.hosts = hosts
        return lab

    @property
    def compose_version(self) -> str | None:
        """The Compose version that created the lab, as it labels its containers."""
        for host in self.hosts.values():
            return host.container.labels.get("com.docker.compose.version")
        return None

    def endpoint(self, role: Role) -> Endpoint:
        return Endpoint(host_address(self.hosts[role]), INTERFACE, WORKDIR)

    def describe(self, role: Role) -> dict:
        return {"address": host_address(self.hosts[role]),
                "container": self.hosts[role].container.name}

    def clock_offsets(self) -> dict[Role, float]:
        return {}    # containers read their host's clock

    def facts(self) -> dict:
        cli = compose_cli()
        return {"compose": f"{cli.described} {self.compose_version or cli.version}",
                "lab": {"pooled": False}}


def host_address(host: DockerHost) -> str:
    """A lab host's address on its lab network."""
    # running_hosts() listed the containers once they ran, which inspects each: no reload.
    networks = host.container.attrs["NetworkSettings"]["Networks"]
    return next(iter(networks.values()))["IPAddress"]


def running_hosts(run_id: str, timeout: float = 30.0,
                  use_agent: bool = True) -> dict[Role, DockerHost]:
    """The running hosts of a run's lab, waiting until both run (``use_agent``: through
    an agent; without, an exec per command)."""
    deadline = time.monotonic() + timeout
    while True:
        # A container may go between the listing and its inspection (a Compose stopped
        # mid-way removes what it made): it is simply not there.
        found = client().containers.list(all=True, filters=labels.managed_filter(run_id),
                                         ignore_removed=True)
        by_role = {c.labels.get(labels.ROLE): c for c in found}
        if all(role in by_role and by_role[role].status == "running" for role in ROLES):
            return {role: DockerHost(by_role[role], role, use_agent) for role in ROLES}
        if time.monotonic() > deadline:
            states = ", ".join(f"{role}: {by_role[role].status if role in by_role else 'missing'}"
                               for role in ROLES)
            logs = "".join(by_role[r].logs(tail=3).decode(errors="replace") for r in by_role)
            said = f"; last output: {logs.strip()}" if logs.strip() else ""
            raise LabFailure(f"the lab of run {run_id} did not start within {timeout:.0f} s "
                             f"({states}){said}")
        time.sleep(0.1)


def remove_by_label(run_id: str | None = None) -> tuple[int, int]:
    """Remove the kit's containers and networks (of one run, or all); return the counts.
    The containers go side by side: each removal is mostly the engine waiting for a kill."""
    engine = client()
    filters = labels.managed_filter(run_id)
    containers = engine.containers.list(all=True, filters=filters, ignore_removed=True)
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(containers)))) as removing:
        list(removing.map(_remove_container, containers))
    networks = engine.networks.list(filters=filters)
    for network in networks:
        try:
            network.remove()
        except docker.errors.NotFound:
            pass
    return len(containers), len(networks)


def _remove_container(container: Container) -> None:
    try:
        container.remove(force=True, v=True)
    except docker.errors.NotFound:
        pass


def remove_latecomers(run_id: str, quiet_for: float = 0.6, at_most: float = 5.0) -> None:
    """Remove what the engine creates after a first removal (requests of a Compose that
    was killed are still carried out), until none has come for ``quiet_for`` seconds."""
    deadline = time.monotonic() + at_most
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < quiet_for and time.monotonic() < deadline:
        time.sleep(0.1)
        if _leftovers(run_id):
            remove_by_label(run_id)
            quiet_since = time.monotonic()


def _leftovers(run_id: str) -> bool:
    filters = labels.managed_filter(run_id)
    return bool(client().containers.list(all=True, filters=filters, ignore_removed=True)
                or client().networks.list(filters=filters))
