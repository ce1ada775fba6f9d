"""The kit's commands on a lab host through one long-lived ``docker exec`` of the image's
netkit-agent (containers/src/agent.c), instead of an exec per command: each exec is a
runc start-up and work in dockerd, containerd and a shim (about 40 ms of CPU), and a run
made a dozen of them.

The agent runs one command at a time, with its own timer; the exec's output arrives in
Docker's stream format (an 8-byte header per frame: the stream, then the length).
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

from kit.core.errors import LabFailure

STDOUT, STDERR = 1, 2
REPLY_MARGIN = 10.0    # seconds past a command's limit (and the agent's 2 s grace)
QUEUE_SECONDS = 0.5    # a command waits this long for a busy agent, then gets an exec


class AgentLost(LabFailure):
    """The agent's connection broke or it stopped answering: whether the command ran is
    unknown."""


@dataclass(frozen=True)
class AgentReply:
    status: int
    timed_out: bool
    stdout: bytes
    stderr: bytes


def request(command: list[str], timeout: float) -> bytes:
    """A request as netkit-agent reads it: NUL-terminated words."""
    words = [str(max(1, round(timeout * 1000))), str(len(command)), *command]
    if any("\0" in word for word in words):
        raise ValueError(f"a command word holds a NUL byte: {command!r}")
    return b"".join(word.encode() + b"\0" for word in words)


def parse_header(line: bytes) -> tuple[int, bool, int, int]:
    """'STATUS TIMED_OUT STDOUT_BYTES STDERR_BYTES' of a reply."""
    try:
        status, timed_out, out, err = (int(field) for field in line.split())
    except ValueError:
        raise AgentLost(f"netkit-agent answered {line[:80]!r}, not a reply") from None
    return status, bool(timed_out), out, err


class StreamReader:
    """Standard output of a Docker exec's socket, frames unwrapped; standard error (the
    agent's own complaints) kept aside."""

    def __init__(self, sock: socket.socket):
        self._sock = sock
        self._stdout = bytearray()
        self.stderr = bytearray()

    def read_line(self, deadline: float) -> bytes:
        while (end := self._stdout.find(b"\n")) < 0:
            self._next_frame(deadline)
        return self._take(end + 1)[:-1]

    def read(self, n: int, deadline: float) -> bytes:
        while len(self._stdout) < n:
            self._next_frame(deadline)
        return self._take(n)

    def _take(self, n: int) -> bytes:
        data = bytes(self._stdout[:n])
        del self._stdout[:n]
        return data

    def _next_frame(self, deadline: float) -> None:
        stream, length = struct.unpack(">BxxxL", self._exactly(8, deadline))
        payload = self._exactly(length, deadline)
        (self._stdout if stream == STDOUT else self.stderr).extend(payload)

    def _exactly(self, n: int, deadline: float) -> bytes:
        data = bytearray()
        while len(data) < n:
            self._sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                chunk = self._sock.recv(n - len(data))
            except TimeoutError:
                raise AgentLost("netkit-agent did not answer in time") from None
            except OSError as error:
                raise AgentLost(f"the connection to netkit-agent broke: {error}") from None
            if not chunk:
                said = self.stderr.decode(errors="replace").strip()
                raise AgentLost("netkit-agent ended" + (f": {said}" if said else ""))
            data += chunk
        return bytes(data)


class HostAgent:
    """netkit-agent running in one container, for the life of this object."""

    def __init__(self, api: Any, container_id: str):
        exec_id = api.exec_create(container_id, ["netkit-agent"], stdin=True)["Id"]
        attached = api.exec_start(exec_id, socket=True)
        # exec_start(socket=True) returns a read-only wrapper: use the socket beneath.
        self._sock: socket.socket = getattr(attached, "_sock", attached)
        self._reader = StreamReader(self._sock)
        self._busy = threading.Lock()
        self.broken = False

    def try_acquire(self) -> bool:
        """Take the agent for one command, unless another thread keeps it longer than
        QUEUE_SECONDS (a command that waits for an event may hold it for seconds)."""
        return not self.broken and self._busy.acquire(timeout=QUEUE_SECONDS)

    def release(self) -> None:
        self._busy.release()

    def run(self, command: list[str], timeout: float) -> AgentReply:
        """Run ``command`` (the caller holds the agent); raise AgentLost if the agent
        cannot say how it ended."""
        deadline = time.monotonic() + timeout + REPLY_MARGIN
        try:
            self._sock.settimeout(REPLY_MARGIN)
            self._sock.sendall(request(command, timeout))
            status, timed_out, out, err = parse_header(self._reader.read_line(deadline))
            return AgentReply(status, timed_out, self._reader.read(out, deadline),
                              self._reader.read(err, deadline))
        except OSError as error:
            self.broken = True
            raise AgentLost(f"the connection to netkit-agent broke: {error}") from None
        except BaseException:
            # Lost, or a Ctrl-C mid-reply: what is left of this reply would be read as
            # the next one.
            self.broken = True
            raise

    def close(self) -> None:
        """End the agent: it ends with its input."""
        try:
            self._sock.close()
        except OSError:
            pass
