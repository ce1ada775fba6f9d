"""A Host backed by a Docker container, driven through docker-py."""

from __future__ import annotations

import io
import socket
import tarfile
import time
from pathlib import Path, PurePosixPath

import docker.errors
from docker.models.containers import Container

from kit.core.errors import LabFailure
from kit.hosts.base import TIMEOUT_EXIT, CommandFailed, CommandResult


class DockerProcess:
    """A process started with ``docker exec``; stdin goes through the attached socket."""

    POLL_SECONDS = 0.02

    def __init__(self, api, exec_id: str, host: str, command: list[str], stdin_socket=None):
        self._api = api
        self._exec_id = exec_id
        self._host = host
        self._command = command
        # exec_start(socket=True) returns a read-only wrapper: write to the socket beneath.
        self._stdin = getattr(stdin_socket, "_sock", stdin_socket)

    def write(self, data: bytes) -> None:
        if self._stdin is None:
            raise LabFailure(f"{self._command[0]} on {self._host} was started without stdin")
        try:
            self._stdin.sendall(data)
        except OSError as error:
            raise LabFailure(f"cannot write to {self._command[0]} on {self._host}: {error} "
                             f"(has it exited? status: {self.poll()})") from None

    def close_stdin(self) -> None:
        if self._stdin is not None:
            try:
                self._stdin.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the process is gone, and its stdin with it

    def poll(self) -> int | None:
        state = self._api.exec_inspect(self._exec_id)
        return None if state["Running"] else state["ExitCode"]

    def wait(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (status := self.poll()) is None:
            if time.monotonic() > deadline:
                raise LabFailure(f"{' '.join(self._command)} on {self._host} still running "
                                 f"after {timeout:.1f} s")
            time.sleep(self.POLL_SECONDS)
        return status

    def release(self) -> None:
        if self._stdin is not None:
            self._stdin.close()
            self._stdin = None


class DockerHost:
    """One container of the lab."""

    def __init__(self, container: Container, name: str):
        self.container = container
        self.name = name
        self._processes: list[DockerProcess] = []

    def run(self, command: list[str], timeout: float = 30, check: bool = True) -> CommandResult:
        # exec has no timeout of its own: timeout(1) inside the container bounds it.
        wrapped = ["timeout", "-k", "2", f"{timeout:g}", *command]
        try:
            exit_code, (stdout, stderr) = self.container.exec_run(wrapped, demux=True)
        except docker.errors.APIError as error:
            raise LabFailure(f"cannot run {command[0]} on {self.name}: "
                             f"{error.explanation or error}") from None
        result = CommandResult(tuple(command), exit_code, (stdout or b"").decode(errors="replace"),
                               (stderr or b"").decode(errors="replace"))
        if exit_code == TIMEOUT_EXIT:
            raise LabFailure(f"on {self.name}, '{' '.join(command)}' did not finish "
                             f"within {timeout:g} s")
        if check and exit_code != 0:
            raise CommandFailed(self.name, result)
        return result

    def start(self, command: list[str], stdin: bool = False,
              output: str | None = None) -> DockerProcess:
        argv = command
        if output is not None:
            argv = ["sh", "-c", 'exec "$@" >"$0" 2>&1', output, *command]
        api = self.container.client.api
        try:
            exec_id = api.exec_create(self.container.id, argv, stdin=stdin, stdout=False,
                                      stderr=False)["Id"]
            if stdin:
                attached = api.exec_start(exec_id, socket=True)
                process = DockerProcess(api, exec_id, self.name, command, attached)
            else:
                api.exec_start(exec_id, detach=True)
                process = DockerProcess(api, exec_id, self.name, command)
        except docker.errors.APIError as error:
            raise LabFailure(f"cannot start {command[0]} on {self.name}: "
                             f"{error.explanation or error}") from None
        self._processes.append(process)
        return process

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        target = PurePosixPath(path)
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(target.name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        self.container.put_archive(str(target.parent), archive.getvalue())

    def fetch_dir(self, path: str, destination: Path) -> list[Path]:
        try:
            stream, _ = self.container.get_archive(path)
        except docker.errors.NotFound:
            return []
        except docker.errors.APIError as error:
            raise LabFailure(f"cannot copy {path} from {self.name}: "
                             f"{error.explanation or error}") from None
        archive = io.BytesIO(b"".join(stream))
        destination.mkdir(parents=True, exist_ok=True)
        fetched = []
        with tarfile.open(fileobj=archive) as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    continue
                # Flatten: the directory holds plain files; never write outside destination.
                target = destination / PurePosixPath(member.name).name
                target.write_bytes(tar.extractfile(member).read())
                fetched.append(target)
        return sorted(fetched)

    def close(self) -> None:
        for process in self._processes:
            process.release()
        self._processes.clear()
