"""Host keys: verified by default, as OpenSSH does.

Trusted: your known_hosts (~/.ssh/known_hosts, or what ~/.ssh/config's
UserKnownHostsFile says), the system's (/etc/ssh/ssh_known_hosts), the testbed file's
``known_hosts``, and the kit's own file, where ``--accept-new-host-keys`` records a key
it has never seen (OpenSSH's StrictHostKeyChecking=accept-new). A key that differs from
a recorded one is always refused.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import paramiko

from kit.core.errors import KitError
from kit.core.progress import say

SYSTEM_KNOWN_HOSTS = Path("/etc/ssh/ssh_known_hosts")


class HostKeyRefused(KitError):
    """The machine's host key is unknown or has changed: the kit will not log in."""


def kit_known_hosts() -> Path:
    """The kit's own known_hosts (NETKIT_KNOWN_HOSTS overrides where it is)."""
    if os.environ.get("NETKIT_KNOWN_HOSTS"):
        return Path(os.environ["NETKIT_KNOWN_HOSTS"])
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "netkit" / "known_hosts"


def fingerprint(key: paramiko.PKey) -> str:
    """'ssh-ed25519 SHA256:...', as ssh-keygen -l prints it."""
    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


def scan_command(host: str, port: int, key_type: str) -> str:
    port_option = f"-p {port} " if port != 22 else ""
    return f"ssh-keyscan {port_option}-t {key_type} {host} >> ~/.ssh/known_hosts"


class KnownHosts:
    """The files trusted for one run's connections."""

    def __init__(self, user_files: list[Path], extra: Path | None = None,
                 accept_new: bool = False):
        self.own = kit_known_hosts()
        self.files = [*user_files, SYSTEM_KNOWN_HOSTS, *([extra] if extra else []), self.own]
        self.accept_new = accept_new

    def load_into(self, client: paramiko.SSHClient) -> None:
        for path in self.files:
            if path.is_file():
                try:
                    client.load_host_keys(str(path))
                except (OSError, paramiko.SSHException) as error:
                    raise HostKeyRefused(f"cannot read the known_hosts file {path}: {error}") \
                        from None
        client.set_missing_host_key_policy(_Policy(self))

    def file_holding(self, name: str) -> Path | None:
        """The first trusted file with a key for ``name`` (where a changed key was)."""
        for path in self.files:
            if path.is_file():
                try:
                    keys = paramiko.HostKeys(str(path))
                except (OSError, paramiko.SSHException):
                    continue
                if keys.lookup(name):
                    return path
        return None

    def changed(self, name: str, offered: paramiko.PKey, expected: paramiko.PKey) -> \
            HostKeyRefused:
        where = self.file_holding(name)
        fix = f"ssh-keygen -R '{name}' -f {where}" if where else "remove the old key"
        return HostKeyRefused(
            f"the host key of {name} has CHANGED: it offers {fingerprint(offered)}, but "
            f"{where or 'a known_hosts file'} records {fingerprint(expected)}. Someone may be "
            "in the middle; if the machine was reinstalled and you have checked the new key, "
            f"remove the old one ({fix}) and trust the new")

    def record(self, name: str, key: paramiko.PKey) -> None:
        self.own.parent.mkdir(parents=True, exist_ok=True)
        with self.own.open("a") as file:
            file.write(f"{name} {key.get_name()} {key.get_base64()}\n")
        say(f"trusted the new host key of {name} ({fingerprint(key)}); recorded in {self.own}")


class _Policy(paramiko.MissingHostKeyPolicy):
    """An unknown key: refused with the command that trusts it, or recorded if asked."""

    def __init__(self, known: KnownHosts):
        self.known = known

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        if self.known.accept_new:
            client.get_host_keys().add(hostname, key.get_name(), key)
            self.known.record(hostname, key)
            return
        host, port = _split(hostname)
        raise HostKeyRefused(
            f"the host key of {hostname} is not known (it offers {fingerprint(key)}): check "
            f"that fingerprint with the machine's owner, then trust it with "
            f"'{scan_command(host, port, key.get_name())}', or run again with "
            "--accept-new-host-keys to record it in the kit's own known_hosts")


def _split(name: str) -> tuple[str, int]:
    if name.startswith("[") and "]:" in name:
        host, _, port = name[1:].partition("]:")
        return host, int(port)
    return name, 22
