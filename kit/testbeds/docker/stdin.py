"""A process's stdin through the socket the engine attached (an exec's or a container's):
written to, then closed for writing, which the program reads as the end of its input."""

from __future__ import annotations

import socket
from typing import Any

from kit.core.errors import LabFailure
from kit.hosts.base import PolledProcess


class AttachedStdin(PolledProcess):
    """``write`` and ``close_stdin`` over ``_stdin``, for a process that gives ``poll``,
    ``host_name`` and ``command``."""

    _stdin: Any = None

    def attach(self, stdin_socket: Any) -> None:
        # The engine's socket=True answer is a read-only wrapper: write to the socket beneath.
        self._stdin = getattr(stdin_socket, "_sock", stdin_socket)

    def write(self, data: bytes) -> None:
        if self._stdin is None:
            raise LabFailure(f"{self.command[0]} on {self.host_name} was started without stdin")
        try:
            self._stdin.sendall(data)
        except OSError as error:
            raise LabFailure(f"cannot write to {self.command[0]} on {self.host_name}: {error} "
                             f"(has it exited? status: {self.poll()})") from None

    def close_stdin(self) -> None:
        if self._stdin is not None:
            try:
                self._stdin.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the process is gone, and its stdin with it

    def detach(self) -> None:
        if self._stdin is not None:
            self._stdin.close()
            self._stdin = None
