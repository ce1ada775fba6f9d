"""The SSH testbed: a run's two hosts are two machines named in a testbed file.

Per run, on each machine: one SSH connection (shared by the lab and the kernel tracer),
the checks of kit.testbeds.ssh.preflight, a directory of the run's own
(/tmp/netkit-<run id>: the kit's programs in bin/, the evidence in run/, every started
program's PID in pids/), the clock's offset to the controller measured before and
after. Leaving the lab kills every program the run started there and removes the
directory, also on Ctrl-C or when the other machine's connection was lost.
"""

from __future__ import annotations

import platform
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from kit import __version__
from kit.core.errors import EnvironmentProblem, KitError
from kit.core.interrupts import deferred_interrupt
from kit.core.roles import ROLES, Role
from kit.hosts.base import Endpoint
from kit.impair.apply import NetemProbe
from kit.testbeds.docker.image import LabImage
from kit.testbeds.ssh import clocks, preflight
from kit.testbeds.ssh.bundle import kit_programs
from kit.testbeds.ssh.config import MachinesFile
from kit.testbeds.ssh.connection import connect, resolve
from kit.testbeds.ssh.host import SshHost
from kit.testbeds.ssh.keys import KnownHosts
from kit.testbeds.ssh.marks import RUN_DIR_PREFIX, remove_run_script
from kit.testbeds.ssh.tracer import SshKernelTracer


@dataclass
class MachineSet:
    """The run's connections, one per machine, closed when neither lab nor tracer
    needs them any more."""

    hosts: dict[Role, SshHost]
    users: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        for host in self.hosts.values():
            host.close()
            host.client.close()


class SshTestbed:
    """Runs between the two machines of ``machines`` (a parsed testbed file)."""

    name = "ssh"

    def __init__(self, machines: MachinesFile, image: LabImage, accept_new: bool = False):
        self.machines = machines
        self.image = image
        self.known = KnownHosts([], machines.known_hosts, accept_new)
        self._runs: dict[str, MachineSet] = {}
        self._lock = threading.Lock()

    def facts(self) -> dict:
        return {"kit_version": __version__, "python": platform.python_version(),
                "controller_kernel": platform.release(), "image": self.image.name,
                "image_id": self.image.id, "testbed_file": str(self.machines.path)}

    def port_for(self, asked: int) -> int:
        return asked

    def netem_probe(self) -> NetemProbe:
        raise EnvironmentProblem("shaping the link is not supported on the SSH testbed yet: "
                                 "leave out the link options")

    def tracer(self, run_id: str, port: int) -> SshKernelTracer:
        return SshKernelTracer(self, run_id, port)

    @contextmanager
    def up(self, run_id: str, keep: bool = False) -> Iterator[SshLab]:
        if keep:
            raise EnvironmentProblem("--keep is for Docker labs; the SSH testbed's machines "
                                     "stay yours to log in to")
        hosts = self.connections(run_id)
        lab = SshLab(self, run_id, hosts)
        try:
            lab.prepare()
            yield lab
        finally:
            with deferred_interrupt():
                try:
                    lab.remove()
                finally:
                    self.release(run_id)

    def connections(self, run_id: str) -> dict[Role, SshHost]:
        """The run's connections, opened by whoever asks first (the lab or the tracer);
        each caller calls release() once done."""
        with self._lock:
            found = self._runs.get(run_id)
            if found is None:
                found = self._runs[run_id] = MachineSet({})
            found.users += 1
        with found.lock:
            if not found.hosts:
                try:
                    found.hosts = self._open_all()
                except BaseException:
                    self.release(run_id)
                    raise
        return found.hosts

    def release(self, run_id: str) -> None:
        with self._lock:
            found = self._runs.get(run_id)
            if found is None:
                return
            found.users -= 1
            if found.users > 0:
                return
            del self._runs[run_id]
        found.close()

    def _open_all(self) -> dict[Role, SshHost]:
        machines = self.machines.machines

        def open_one(role: Role) -> SshHost:
            machine = machines[role]
            client = connect(machine, resolve(machine), self.known)
            return SshHost(client, role, sudo=machine.sudo)

        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {role: pool.submit(open_one, role) for role in ROLES}
        opened = {role: f.result() for role, f in futures.items() if f.exception() is None}
        failed = [f.exception() for f in futures.values() if f.exception() is not None]
        if failed:
            for host in opened.values():
                host.client.close()
            raise failed[0]     # type: ignore[misc]
        return opened


class SshLab:
    """The two machines while a run uses them."""

    def __init__(self, testbed: SshTestbed, run_id: str, hosts: dict[Role, SshHost]):
        self.testbed = testbed
        self.run_id = run_id
        self._hosts = hosts
        self.root = f"{RUN_DIR_PREFIX}{run_id}"
        self.facts_of: dict[Role, preflight.MachineFacts] = {}
        self.clock_before: dict[Role, clocks.ClockOffset] = {}
        self.clock_after: dict[Role, clocks.ClockOffset] = {}
        self._prepared: set[Role] = set()

    @property
    def hosts(self) -> Mapping[Role, SshHost]:
        return self._hosts

    def prepare(self) -> None:
        """Check both machines, then give each the run's directory and the kit's programs."""
        machines = self.testbed.machines.machines
        lines = []
        for role in ROLES:
            facts, problems = preflight.check(machines[role], self._hosts[role])
            self.facts_of[role] = facts
            lines += [f"the {role} ({machines[role].ssh}): {p}" for p in problems]
        if lines:
            raise EnvironmentProblem("\n".join(lines))
        programs = kit_programs(self.testbed.image)
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda role: self._install(role, programs), ROLES))
        for role in ROLES:
            self.clock_before[role] = self._clock_of(role)

    def _install(self, role: Role, programs: Mapping[str, bytes]) -> None:
        host = self._hosts[role]
        # Made by the login user, so files can be copied in over SFTP (root writes there
        # anyway); no one else may write: root runs what bin/ holds. mkdir fails on a path
        # someone made first.
        host.quick(["mkdir", "-m", "0755", self.root])
        self._prepared.add(role)
        host.quick(["mkdir", "-m", "0755", f"{self.root}/bin", f"{self.root}/run",
                    f"{self.root}/pids"])
        host.put_file(f"{self.root}/netkit-run", f"{self.run_id}\n".encode())
        for name, data in programs.items():
            host.put_file(f"{self.root}/bin/{name}", data, 0o755)
        host.bin_dir, host.pid_dir = f"{self.root}/bin", f"{self.root}/pids"

    def remove(self) -> None:
        """Stop what the run started on each machine and remove its directory."""
        for role in ROLES:
            host = self._hosts.get(role)
            if host is None or role not in self._prepared:
                continue
            try:
                host.close()
                host.pid_dir = "/tmp"   # not in the directory about to go
                host.run(["sh", "-c", remove_run_script(self.root)], timeout=30)
            except KitError:
                pass   # connection lost: 'invoke clean --testbed FILE' finds it by its mark

    def endpoint(self, role: Role) -> Endpoint:
        machine = self.testbed.machines.machines[role]
        return Endpoint(machine.address, machine.interface, f"{self.root}/run")

    def describe(self, role: Role) -> dict:
        machine = self.testbed.machines.machines[role]
        facts = self.facts_of.get(role, preflight.MachineFacts())
        return {"address": machine.address, "machine": str(machine.ssh),
                "interface": machine.interface, "kernel": facts.kernel, "os": facts.os,
                "sudo": machine.sudo}

    def clock_offsets(self) -> dict[Role, float]:
        """Each machine's clock minus the controller's, over the run (measured again now)."""
        for role in ROLES:
            try:
                self.clock_after[role] = self._clock_of(role)
            except KitError:
                pass
        return {role: self.clock(role).offset_s for role in self.clock_before}

    def _clock_of(self, role: Role) -> clocks.ClockOffset:
        with self._hosts[role].conversation(["netkit-probe", "clock"]) as ask:
            return clocks.measure(ask)

    def clock(self, role: Role) -> clocks.ClockOffset:
        return clocks.combined(self.clock_before[role], self.clock_after.get(role))

    def facts(self) -> dict:
        return {"lab": {"pooled": False},
                "machines": {role: self.describe(role) for role in ROLES},
                "clocks": {role: {**self.clock(role).to_json(),
                                  "before": self.clock_before[role].to_json(),
                                  **({"after": self.clock_after[role].to_json()}
                                     if role in self.clock_after else {})}
                           for role in self.clock_before}}
