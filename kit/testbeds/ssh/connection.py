"""Logging in to a machine of the testbed file, with ~/.ssh/config honoured (HostName,
User, Port, IdentityFile, UserKnownHostsFile) and host keys verified (kit.testbeds.ssh.keys)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

import paramiko

from kit.core.errors import EnvironmentProblem
from kit.testbeds.ssh.config import Machine
from kit.testbeds.ssh.keys import HostKeyRefused, KnownHosts

CONNECT_TIMEOUT = 15.0
USER_CONFIG = Path("~/.ssh/config")


@dataclass(frozen=True)
class Login:
    """Where and as whom to log in, once ~/.ssh/config has been read."""

    host: str
    port: int
    user: str
    identities: tuple[str, ...]
    known_hosts: tuple[Path, ...]

    def __str__(self) -> str:
        return f"{self.user}@{self.host}" + (f":{self.port}" if self.port != 22 else "")


def resolve(machine: Machine, config_path: Path = USER_CONFIG) -> Login:
    """The file's target completed by ~/.ssh/config, as ssh(1) would."""
    config = paramiko.SSHConfig()
    path = config_path.expanduser()
    if path.is_file():
        config = paramiko.SSHConfig.from_path(str(path))
    found = config.lookup(machine.ssh.host)
    identities = [str(machine.identity)] if machine.identity else \
        [str(Path(p).expanduser()) for p in found.get("identityfile", [])]
    known = found.get("userknownhostsfile", "~/.ssh/known_hosts").split()
    return Login(host=found.get("hostname", machine.ssh.host),
                 port=machine.ssh.port or int(found.get("port", 22)),
                 user=machine.ssh.user or found.get("user") or getpass.getuser(),
                 identities=tuple(p for p in identities if Path(p).is_file()),
                 known_hosts=tuple(Path(p).expanduser() for p in known))


def connect(machine: Machine, login: Login, known: KnownHosts) -> paramiko.SSHClient:
    """An open connection to ``machine``, or one line saying why there is none."""
    client = paramiko.SSHClient()
    try:
        known.load_into(client)
        client.connect(login.host, login.port, login.user,
                       key_filename=list(login.identities) or None,
                       timeout=CONNECT_TIMEOUT, banner_timeout=CONNECT_TIMEOUT,
                       auth_timeout=CONNECT_TIMEOUT, allow_agent=True, look_for_keys=True)
        transport = client.get_transport()
        if transport is not None:
            transport.set_keepalive(5)   # a dropped connection is noticed within seconds
        return client
    except paramiko.BadHostKeyException as error:
        client.close()
        raise known.changed(error.hostname, error.key, error.expected_key) from None
    except HostKeyRefused:
        client.close()
        raise
    except paramiko.AuthenticationException as error:
        client.close()
        raise EnvironmentProblem(
            f"cannot log in to the {machine.role} ({login}): {error}; give its key with "
            "'identity:' in the testbed file, load it into ssh-agent, or name it in "
            "~/.ssh/config") from None
    except (OSError, paramiko.SSHException) as error:
        client.close()
        raise EnvironmentProblem(f"cannot reach the {machine.role} ({login}) over SSH: "
                                 f"{error or type(error).__name__}") from None
