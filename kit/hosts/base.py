"""The Host protocol: run a command, start a process with stdin, copy files, close.

A Docker container implements it now (kit.testbeds.docker.host); a machine reached over SSH
can implement it later without any scenario changing.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from kit.core.errors import LabFailure

# coreutils' timeout(1) exits with this when it had to stop the command.
TIMEOUT_EXIT = 124


class CommandFailed(LabFailure):
    """A command on a host exited non-zero where success was required."""

    def __init__(self, host: str, result: "CommandResult"):
        self.result = result
        output = (result.stderr or result.stdout).strip().splitlines()
        super().__init__(f"on {host}, '{' '.join(result.command)}' exited {result.exit_code}"
                         + (f": {output[-1]}" if output else ""))


@dataclass(frozen=True)
class CommandResult:
    command: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


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
    def poll(self) -> int | None: ...
    def wait(self, timeout: float) -> int: ...


@runtime_checkable
class Host(Protocol):
    name: str

    def run(self, command: list[str], timeout: float = 30, check: bool = True) -> CommandResult:
        """Run ``command`` to completion; raise CommandFailed on a non-zero exit if ``check``."""

    def start(self, command: list[str], stdin: bool = False,
              output: str | None = None) -> Process:
        """Start ``command``; its stdout and stderr go to the file ``output`` on the host."""

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None: ...

    def fetch_dir(self, path: str, destination: Path) -> list[Path]:
        """Copy the files of the directory ``path`` into ``destination``; return them."""

    def close(self) -> None: ...
