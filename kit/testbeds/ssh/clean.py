"""What killed runs left on the machines of a testbed file, found by the kit's marks
only (kit.testbeds.ssh.marks), and removed."""

from __future__ import annotations

from kit.core.roles import ROLES, Role
from kit.testbeds.ssh.config import MachinesFile
from kit.testbeds.ssh.connection import log_in
from kit.testbeds.ssh.host import SshHost
from kit.testbeds.ssh.keys import KnownHosts
from kit.testbeds.ssh.marks import leftovers_script


def clean_machines(machines: MachinesFile, accept_new: bool = False) -> dict[Role, list[str]]:
    """Each machine's run directories, tracefs instances and shaping of the kit, now removed."""
    known = KnownHosts([], machines.known_hosts, accept_new)
    removed = {}
    for role in ROLES:
        machine = machines.machines[role]
        client = log_in(machine, known)
        host = SshHost(client, role, sudo=machine.sudo)
        try:
            script = leftovers_script(True, machine.interface)
            output = host.run(["sh", "-c", script], timeout=60).stdout
            removed[role] = output.split()
        finally:
            host.close()
            client.close()
    return removed
