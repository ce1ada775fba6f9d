"""Logging in to a machine of the testbed file, with ~/.ssh/config honoured (HostName,
User, Port, IdentityFile, UserKnownHostsFile) and host keys verified (kit.testbeds.ssh.keys)."""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from pathlib import Path

import paramiko

from kit.core.errors import EnvironmentProblem
from kit.testbeds.ssh.config import Machine, SshTarget
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


def resolve(target: SshTarget, identity: Path | None = None,
            config_path: Path = USER_CONFIG) -> Login:
    """A target completed by ~/.ssh/config, as ssh(1) would."""
    config = paramiko.SSHConfig()
    path = config_path.expanduser()
    if path.is_file():
        config = paramiko.SSHConfig.from_path(str(path))
    found = config.lookup(target.host)
    identities = [str(identity)] if identity else \
        [str(Path(p).expanduser()) for p in found.get("identityfile", [])]
    known = found.get("userknownhostsfile", "~/.ssh/known_hosts").split()
    return Login(host=found.get("hostname", target.host),
                 port=target.port or int(found.get("port", 22)),
                 user=target.user or found.get("user") or getpass.getuser(),
                 identities=tuple(p for p in identities if Path(p).is_file()),
                 known_hosts=tuple(Path(p).expanduser() for p in known))


def connect(what: str, login: Login, known: KnownHosts,
            key_hint: str = "an IdentityFile in ~/.ssh/config") -> paramiko.SSHClient:
    """An open connection to ``what`` ('the client', 'Docker host box'), or one line
    saying why there is none; ``key_hint`` says where a key can be named."""
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
            f"cannot log in to {what} ({login}): {error}; give its key with {key_hint}, "
            "or load it into ssh-agent") from None
    except (OSError, paramiko.SSHException) as error:
        client.close()
        raise EnvironmentProblem(f"cannot reach {what} ({login}) over SSH: "
                                 f"{error or type(error).__name__}") from None


def log_in(machine: Machine, known: KnownHosts) -> paramiko.SSHClient:
    """An open connection to a machine of the testbed file."""
    return connect(f"the {machine.role}", resolve(machine.ssh, machine.identity), known,
                   key_hint="'identity:' in the testbed file")
