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
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import paramiko

from kit import __version__
from kit.core.command import command
from kit.core.errors import EnvironmentProblem, KitError
from kit.core.interrupts import deferred_interrupt
from kit.core.progress import say
from kit.core.roles import ROLES, Role
from kit.hosts.base import Endpoint
from kit.impair.apply import PROBE_PORT, NetemProbe, Place, clear_link
from kit.impair.engines import TcFeatures
from kit.testbeds.docker.image import LabImage
from kit.testbeds.ssh import clocks, preflight
from kit.testbeds.ssh.bundle import kit_programs
from kit.testbeds.ssh.config import MachinesFile
from kit.testbeds.ssh.connection import log_in
from kit.testbeds.ssh.host import SshHost
from kit.testbeds.ssh.keys import KnownHosts
from kit.testbeds.ssh.marks import RUN_DIR_PREFIX, remove_run_script
from kit.testbeds.ssh.tracer import SshKernelTracer

PORT_TRIES = 500


class SshTestbed:
    """Runs between the two machines of ``machines`` (a parsed testbed file), one at a
    time. ``with testbed:`` logs in to both and checks them before any run starts (a
    refused host key or a missing tool is an error before anything is written); the
    connections serve every run of the block, and close with it."""


    def __init__(self, machines: MachinesFile, image: LabImage, accept_new: bool = False,
                 shapes: bool = False, name: str = "ssh", described: dict | None = None):
        self.name = name          # run.json's testbed: "ssh", or the kind that made them
        self.described = described    # what run.json says of them, in place of their file
        self.machines = machines
        self.image = image
        self.shapes = shapes      # some run shapes the link: checked for, and cleared after
        self.known = KnownHosts([], machines.known_hosts, accept_new)
        self.hosts: dict[Role, SshHost] = {}
        self.facts_of: dict[Role, preflight.MachineFacts] = {}

    def __enter__(self) -> SshTestbed:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @contextmanager
    def lease(self, user_dir: str | None = None) -> Iterator[SshTestbed]:
        """The two machines for one run (each run on them in turn)."""
        yield self

    def open(self) -> None:
        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = {role: pool.submit(self._login, role) for role in ROLES}
        for role, future in futures.items():
            if future.exception() is None:
                self.hosts[role] = future.result()
        for future in futures.values():
            if future.exception() is not None:
                raise future.exception()     # type: ignore[misc]
        lines = []
        for role in ROLES:
            machine = self.machines.machines[role]
            self.facts_of[role], problems = preflight.check(machine, self.hosts[role],
                                                            self.shapes)
            lines += [f"the {role} ({machine.ssh}): {p}" for p in problems]
        if lines:
            raise EnvironmentProblem("\n".join(lines))

    def _login(self, role: Role) -> SshHost:
        machine = self.machines.machines[role]

        def login() -> paramiko.SSHClient:
            return log_in(machine, self.known)

        return SshHost(login(), role, sudo=machine.sudo, reconnect=login)

    def close(self) -> None:
        hosts, self.hosts = self.hosts, {}
        for host in hosts.values():
            host.close()
            host.client.close()

    def facts(self) -> dict:
        where = self.described or {"testbed_file": str(self.machines.path)}
        return {"kit_version": __version__, "python": platform.python_version(),
                "controller_kernel": platform.release(), "image": self.image.name,
                "image_id": self.image.id, **where}

    def port_for(self, asked: int) -> int:
        """``asked``, or the first port after it that no socket on either machine uses:
        the machines outlive runs, and an earlier run's TIME-WAIT stays a minute."""
        hosts = self.connected()
        for port in range(asked, asked + PORT_TRIES):
            if port == PROBE_PORT:
                continue
            query = ["ss", "-Htan", f"sport = :{port} or dport = :{port}"]
            if not any(hosts[role].run(query, timeout=10).stdout.strip() for role in ROLES):
                return port
        raise EnvironmentProblem(f"ports {asked} to {asked + PORT_TRIES - 1} are all in use "
                                 "on the machines: wait a minute for TIME-WAIT to end")

    def netem_probe(self) -> NetemProbe:
        """netem as both machines' kernels have it (probed in the pre-flight checks, in a
        network namespace of its own): usable only if both have it."""
        if not self.shapes or not self.facts_of:
            raise EnvironmentProblem("the SSH testbed was opened for runs that do not shape "
                                     "the link")
        probes = {role: self.facts_of[role].netem_probe() for role in ROLES}
        missing = [f"the {role}: {probe.reason}" for role, probe in probes.items()
                   if not probe.available]
        return NetemProbe(not missing, "; ".join(missing),
                          TcFeatures(all(p.tc.netem_seed for p in probes.values())))

    def tracer(self, run_id: str, port: int) -> SshKernelTracer:
        return SshKernelTracer(self.connected(), run_id, port)

    def connected(self) -> dict[Role, SshHost]:
        if not self.hosts:
            raise EnvironmentProblem("the SSH testbed is used outside its 'with' block")
        return self.hosts

    @contextmanager
    def up(self, run_id: str, keep: bool = False) -> Iterator[SshLab]:
        if keep:
            raise EnvironmentProblem("--keep is for Docker labs; the SSH testbed's machines "
                                     "stay yours to log in to")
        lab = SshLab(self, run_id, self.connected())
        try:
            lab.prepare()
            yield lab
        finally:
            with deferred_interrupt():
                lab.remove()


class SshLab:
    """The two machines while a run uses them."""

    def __init__(self, testbed: SshTestbed, run_id: str, hosts: dict[Role, SshHost]):
        self.testbed = testbed
        self.run_id = run_id
        self._hosts = hosts
        self.root = f"{RUN_DIR_PREFIX}{run_id}"
        self.clock_before: dict[Role, clocks.ClockOffset] = {}
        self.clock_after: dict[Role, clocks.ClockOffset] = {}
        self._prepared: set[Role] = set()

    @property
    def hosts(self) -> Mapping[Role, SshHost]:
        return self._hosts

    def prepare(self) -> None:
        """Give each machine the run's directory and the kit's programs; read its clock."""
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
                host.ensure_connected()     # a lost connection leaves nothing behind either
                host.pid_dir = "/tmp"   # not in the directory about to go
                if self.testbed.shapes:   # before the delay line goes with the directory
                    endpoint = self.endpoint(role)
                    clear_link({role: host}, {role: Place(endpoint.interface, endpoint.workdir)})
                host.run(["sh", "-c", remove_run_script(self.root)], timeout=30)
            except KitError as error:
                say(f"could not clean up the {role}: {error}; "
                    f"'{command('clean --testbed ' + str(self.testbed.machines.path))}' "
                    "removes what the run left there")

    def endpoint(self, role: Role) -> Endpoint:
        machine = self.testbed.machines.machines[role]
        return Endpoint(machine.address, machine.interface, f"{self.root}/run")

    def describe(self, role: Role) -> dict:
        machine = self.testbed.machines.machines[role]
        facts = self.testbed.facts_of.get(role, preflight.MachineFacts())
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
