"""The testbed file: which two machines a run uses and how to reach them over SSH.

    client:
      ssh: alice@lab-pc-1          # [user@]host[:port], or a Host alias of ~/.ssh/config
      address: 192.168.50.1        # where it sits on the experiment network
      interface: enp3s0            # the interface on that network (captured, shaped)
      sudo: true                   # run as root through 'sudo -n' (default: log in as root)
    server:
      ssh: root@lab-pc-2
      address: 192.168.50.2
      interface: enp3s0

Optional per machine: ``identity`` (a private key file), ``shape_control_interface``
(allow shaping the interface that carries the SSH session itself). Optional at the top:
``known_hosts``, a file of host keys to trust besides your own and the system's.
Every error names the file, the line and the field.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from kit.core.roles import ROLES, Role
from kit.core.yamlsource import Source, load

MACHINE_FIELDS = {"ssh", "address", "interface", "sudo", "identity", "shape_control_interface"}
TOP_FIELDS = {*ROLES, "known_hosts"}
_TARGET = re.compile(r"^(?:(?P<user>[^@\s:]+)@)?(?P<host>\[[0-9A-Fa-f:.]+\]|[^@\s:\[\]]+)"
                     r"(?::(?P<port>\d{1,5}))?$")
_INTERFACE = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")


@dataclass(frozen=True)
class SshTarget:
    """What the file says of the SSH login; ~/.ssh/config fills the rest when connecting."""

    host: str                     # a name, an address, or an alias of ~/.ssh/config
    user: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return (f"{self.user}@" if self.user else "") + host + (f":{self.port}" if self.port
                                                                 else "")


@dataclass(frozen=True)
class Machine:
    role: Role
    ssh: SshTarget
    address: str                  # the experiment network's address of the machine
    interface: str
    sudo: bool = False
    identity: Path | None = None
    shape_control_interface: bool = False


@dataclass(frozen=True)
class MachinesFile:
    path: Path
    machines: dict[Role, Machine]
    known_hosts: Path | None = None


def parse_target(text: str) -> SshTarget | None:
    match = _TARGET.match(text)
    if not match:
        return None
    port = int(match.group("port")) if match.group("port") else None
    if port is not None and not 0 < port < 65536:
        return None
    return SshTarget(match.group("host").strip("[]"), match.group("user"), port)


def read_machines(path: Path) -> MachinesFile:
    """The testbed file at ``path``, validated in full (BadInput names file, line, field)."""
    source = load(path, kind="testbed file")
    data = source.data
    if not isinstance(data, dict):
        raise source.error((), "must be a mapping with 'client' and 'server'")
    for name in data:
        if name not in TOP_FIELDS:
            raise source.error((name,), f"unknown field; expected {', '.join(sorted(TOP_FIELDS))}")
    machines = {role: _machine(source, role) for role in ROLES}
    if machines["client"].address == machines["server"].address:
        raise source.error(("server", "address"), "the same as the client's: two machines "
                                                  "need two addresses")
    known_hosts = data.get("known_hosts")
    if known_hosts is not None and not isinstance(known_hosts, str):
        raise source.error(("known_hosts",), "must be a file name")
    return MachinesFile(path, machines, _relative(path, known_hosts) if known_hosts else None)


def _machine(source: Source, role: Role) -> Machine:
    entry = source.data.get(role) if isinstance(source.data, dict) else None
    if entry is None:
        raise source.error((role,), "missing: the file names a client and a server")
    if not isinstance(entry, dict):
        raise source.error((role,), "must be a mapping with ssh, address and interface")
    for name in entry:
        if name not in MACHINE_FIELDS:
            raise source.error((role, name), "unknown field; expected "
                                             f"{', '.join(sorted(MACHINE_FIELDS))}")
    for name in ("ssh", "address", "interface"):
        if not isinstance(entry.get(name), str) or not entry[name].strip():
            raise source.error((role, name), "missing" if name not in entry else "must be text")
    target = parse_target(entry["ssh"].strip())
    if target is None:
        raise source.error((role, "ssh"), f"{entry['ssh']!r} is not [user@]host[:port]")
    try:
        address = str(ipaddress.ip_address(entry["address"].strip()))
    except ValueError:
        raise source.error((role, "address"), f"{entry['address']!r} is not an IP address "
                                              "(the experiment network's, not a name)") from None
    if not _INTERFACE.match(entry["interface"]):
        raise source.error((role, "interface"), f"{entry['interface']!r} is not an interface "
                                                "name (as 'ip link' shows it, e.g. eth1)")
    for flag in ("sudo", "shape_control_interface"):
        if not isinstance(entry.get(flag, False), bool):
            raise source.error((role, flag), "must be true or false")
    identity = entry.get("identity")
    if identity is not None and not isinstance(identity, str):
        raise source.error((role, "identity"), "must be a file name")
    return Machine(role, target, address, entry["interface"], entry.get("sudo", False),
                   _relative(source.path, identity) if identity else None,
                   entry.get("shape_control_interface", False))


def _relative(path: Path, name: str) -> Path:
    """A file the testbed file names: ~ expanded, relative to the testbed file's folder."""
    given = Path(name).expanduser()
    return given if given.is_absolute() else path.parent / given
