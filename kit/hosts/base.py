"""The Host protocol: run a command, start a process with stdin, copy files, close.

A backend supplies these primitives (a Docker container, a machine over SSH);
the semantics are the same everywhere: ``run`` raises ``CommandFailed`` on a non-zero
exit when asked to check, and ``CommandTimedOut`` when its own timer ran out; a
``Process`` can be waited for, signalled and killed; every backend error reaches the
caller as a ``HostError`` (a ``LabFailure``) with one line saying what failed.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from kit.core.errors import LabFailure


@dataclass(frozen=True)
class Endpoint:
    """Where a host sits on the experiment's network."""

    address: str      # the address its peer connects to
    interface: str    # the interface that carries the experiment (and is shaped)
    workdir: str      # a run-scoped directory for the programs' and observers' files


@dataclass(frozen=True)
class CommandResult:
    command: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def last_line(self) -> str:
        """The last line the command said (stderr first), for one-line errors."""
        lines = (self.stderr or self.stdout).strip().splitlines()
        return lines[-1] if lines else ""


class HostError(LabFailure):
    """The backend could not do what was asked (the engine or connection said no)."""


class CommandFailed(LabFailure):
    """A command on a host exited non-zero where success was required."""

    def __init__(self, host: str, result: CommandResult):
        self.result = result
        said = result.last_line()
        super().__init__(f"on {host}, '{' '.join(result.command)}' exited {result.exit_code}"
                         + (f": {said}" if said else ""))


class CommandTimedOut(LabFailure):
    """A command or process did not finish within its limit (the backend's own timer);
    ``result`` holds what it said until it was stopped, ``timeout`` the limit."""

    def __init__(self, host: str, command: tuple[str, ...], timeout: float,
                 result: CommandResult | None = None):
        self.result = result
        self.timeout = timeout
        super().__init__(f"on {host}, '{' '.join(command)}' did not finish within {timeout:g} s")


def describe_exit(status: int | None) -> str:
    """'exit 0', 'killed by SIGPIPE (13)' ... from a shell-style exit status."""
    if status is None:
        return "still running"
    if status > 128 and status - 128 < 65:
        number = status - 128
        try:
            return f"killed by {signal.Signals(number).name} ({number})"
        except ValueError:
            return f"killed by signal {number}"
    return f"exit {status}"


@runtime_checkable
class Process(Protocol):
    """A long-running command on a host."""

    def write(self, data: bytes) -> None: ...
    def close_stdin(self) -> None: ...

    def poll(self) -> int | None:
        """Its exit status, or None while it runs."""

    def wait(self, timeout: float) -> int:
        """Its exit status; raise CommandTimedOut if it still runs after ``timeout`` s."""

    def signal(self, signum: signal.Signals) -> None:
        """Send ``signum`` to it (nothing happens if it already ended)."""

    def kill(self, grace: float = 5.0) -> int:
        """SIGTERM, then SIGKILL after ``grace`` s; its exit status."""


@runtime_checkable
class Host(Protocol):
    name: str

    def run(self, command: list[str], timeout: float = 30, check: bool = True) -> CommandResult:
        """Run ``command`` to completion; raise CommandFailed on a non-zero exit if ``check``,
        CommandTimedOut (after stopping it) if it runs longer than ``timeout`` s."""

    def start(self, command: list[str], stdin: bool = False,
              output: str | None = None) -> Process:
        """Start ``command``; its stdout and stderr go to the file ``output`` on the host."""

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None: ...

    def fetch_dir(self, path: str, destination: Path) -> list[Path]:
        """Copy the files of the directory ``path`` into ``destination``; return them."""

    def close(self) -> None: ...


@runtime_checkable
class ImageHost(Protocol):
    """A host that can run an image as its program (a Docker lab's): a container in the
    host's network namespace, so that the host's observers see its traffic."""

    name: str

    def start_image(self, image: str, command: list[str], stdin: bool = False,
                    output: str | None = None) -> Process:
        """Start ``image`` (``command`` as its command, if not empty); its output goes to
        the file ``output`` on the host once it ends."""


class PolledProcess:
    """``wait`` and ``kill`` for a backend's process that can only be polled: it gives
    ``poll``, ``signal``, ``host_name`` and ``command``."""

    POLL_SECONDS = 0.02
    host_name: str
    command: list[str]

    def poll(self) -> int | None:
        raise NotImplementedError

    def signal(self, signum: signal.Signals) -> None:
        raise NotImplementedError

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (status := self.poll()) is None:
            if time.monotonic() > deadline:
                raise CommandTimedOut(self.host_name, tuple(self.command), timeout)
            time.sleep(self.POLL_SECONDS)
        return status

    def kill(self, grace: float = 5.0) -> int:
        return terminate(self, grace)


def terminate(process: Process | PolledProcess, grace: float) -> int:
    """The shared meaning of ``Process.kill``: SIGTERM, then SIGKILL; the exit status."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        if process.poll() is not None:
            break
        process.signal(signum)
        try:
            return process.wait(grace)
        except CommandTimedOut:
            continue
    return process.wait(grace)
