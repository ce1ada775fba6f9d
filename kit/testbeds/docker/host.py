"""A Host backed by a Docker container, driven through docker-py.

Commands that run to completion go through the image's netkit-agent, one exec for all of
them (kit/testbeds/docker/agent.py); one that finds the agent busy for long gets an
exec of its own. ``docker exec`` has neither a timeout nor a way to signal what it
started, so every exec starts under a tiny shell that records its PID in the container:
the kit's own timer stops a command that runs too long, and ``Process.signal`` reaches
a process started with ``start``.
"""

from __future__ import annotations

import io
import secrets
import signal
import tarfile
import threading
import time
from pathlib import Path, PurePosixPath
from typing import Any

import docker.errors
from docker.models.containers import Container

from kit.core.errors import LabFailure
from kit.hosts.base import CommandFailed, CommandResult, CommandTimedOut
from kit.testbeds.docker.agent import HostAgent
from kit.testbeds.docker.apps import AppProcess, start_app
from kit.testbeds.docker.engine import translated
from kit.testbeds.docker.stdin import AttachedStdin

# $0 is the PID file; the command follows (with OUTPUT_WRAPPER, after the output file).
PID_WRAPPER = 'echo $$ >"$0"; exec "$@"'
OUTPUT_WRAPPER = 'echo $$ >"$0"; out=$1; shift; exec "$@" >"$out" 2>&1'
STOP_GRACE = 2.0     # after SIGTERM, before SIGKILL, when a command's time is up


def new_pid_file() -> str:
    # Random, not counted: commands start from several threads at once.
    return f"/tmp/netkit-exec-{secrets.token_hex(6)}.pid"


class DockerProcess(AttachedStdin):
    """A process started with ``docker exec``; stdin goes through the attached socket."""

    def __init__(self, host: DockerHost, exec_id: str, command: list[str], pid_file: str,
                 stdin_socket: Any = None):
        self._host = host
        self._exec_id = exec_id
        self.command = command
        self.host_name = host.name
        self._pid_file = pid_file
        self.attach(stdin_socket)

    def poll(self) -> int | None:
        with translated(f"ask about {self.command[0]} on {self._host.name}"):
            state = self._host.api.exec_inspect(self._exec_id)
        return None if state["Running"] else state["ExitCode"]

    def signal(self, signum: signal.Signals) -> None:
        self._host.signal_pid_file(self._pid_file, signum)

    def release(self) -> None:
        self.detach()


class Watchdog:
    """The timer of one command: when it runs out, SIGTERM, then SIGKILL after a grace."""

    def __init__(self, host: DockerHost, pid_file: str, timeout: float):
        self._host = host
        self._pid_file = pid_file
        self._timer = threading.Timer(timeout, self._fire)
        self._timer.daemon = True
        self._fired = threading.Event()
        self._decided = threading.Event()
        self._stopped = False

    def start(self) -> None:
        self._timer.start()

    def cancel(self) -> None:
        self._timer.cancel()

    def stopped_it(self) -> bool:
        """Did the timer stop the command (rather than the command end by itself)?"""
        if self._fired.is_set():
            self._decided.wait(10)
        return self._stopped

    def _fire(self) -> None:
        self._fired.set()
        try:
            self._stopped = self._host.signal_pid_file(self._pid_file, signal.SIGTERM)
            self._decided.set()
            if self._stopped:
                time.sleep(STOP_GRACE)
                self._host.signal_pid_file(self._pid_file, signal.SIGKILL)
        except LabFailure:
            pass   # the container is gone: so is the command
        finally:
            self._decided.set()


class DockerHost:
    """One container of the lab."""

    def __init__(self, container: Container, name: str, use_agent: bool = True):
        self.container = container
        self.name = name
        self.use_agent = use_agent    # commands through netkit-agent (one exec for all)
        self._agent: HostAgent | None = None
        self._agent_start = threading.Lock()
        self._processes: list[DockerProcess] = []
        self._apps: list[AppProcess] = []

    @property
    def api(self) -> Any:
        return self.container.client.api

    def run(self, command: list[str], timeout: float = 30, check: bool = True) -> CommandResult:
        agent = self._idle_agent()
        if agent is None:
            result, timed_out = self._run_exec(command, timeout)
        else:
            try:
                reply = agent.run(command, timeout)   # its failures are the kit's own words
            finally:
                agent.release()
            result = CommandResult(tuple(command), reply.status,
                                   reply.stdout.decode(errors="replace"),
                                   reply.stderr.decode(errors="replace"))
            timed_out = reply.timed_out
        if timed_out:
            raise CommandTimedOut(self.name, tuple(command), timeout, result)
        if check and result.exit_code != 0:
            raise CommandFailed(self.name, result)
        return result

    def _idle_agent(self) -> HostAgent | None:
        """This host's agent, started on first use; None while another thread keeps it
        (that command then gets an exec of its own) or if it cannot be used."""
        with self._agent_start:
            if self._agent is None and self.use_agent:
                try:
                    with translated(f"start netkit-agent on {self.name}"):
                        self._agent = HostAgent(self.api, self.container.id)
                except LabFailure:
                    self.use_agent = False
            agent = self._agent
        return agent if agent is not None and agent.try_acquire() else None

    def _run_exec(self, command: list[str], timeout: float) -> tuple[CommandResult, bool]:
        """``command`` in an exec of its own, stopped by the kit's timer."""
        pid_file = new_pid_file()
        watchdog = Watchdog(self, pid_file, timeout)
        with translated(f"run {command[0]} on {self.name}"):
            exec_id = self.api.exec_create(self.container.id,
                                           ["sh", "-c", PID_WRAPPER, pid_file, *command])["Id"]
            watchdog.start()
            try:
                stdout, stderr = self.output_of(exec_id)
            finally:
                watchdog.cancel()
            exit_code = self.api.exec_inspect(exec_id)["ExitCode"]
        result = CommandResult(tuple(command), exit_code, stdout.decode(errors="replace"),
                               stderr.decode(errors="replace"))
        return result, watchdog.stopped_it()

    def output_of(self, exec_id: str) -> tuple[bytes, bytes]:
        """Start an exec and read its stdout and stderr to the end. Streamed, so that the
        connection is closed here: docker-py's unstreamed exec_start never closes it, and
        through an SSH tunnel each open one holds a session."""
        stream = self.api.exec_start(exec_id, stream=True, demux=True)
        stdout, stderr = bytearray(), bytearray()
        try:
            for out, err in stream:
                stdout += out or b""
                stderr += err or b""
        finally:
            stream.close()
        return bytes(stdout), bytes(stderr)

    def signal_pid_file(self, pid_file: str, signum: signal.Signals) -> bool:
        """Send ``signum`` to the process whose PID ``pid_file`` holds; False if it ended."""
        script = f'p=$(cat "$0" 2>/dev/null) && kill -s {signum.name[3:]} "$p" 2>/dev/null'
        with translated(f"signal a process ({signum.name}) on {self.name}"):
            exec_id = self.api.exec_create(self.container.id, ["sh", "-c", script, pid_file])["Id"]
            self.output_of(exec_id)
            return self.api.exec_inspect(exec_id)["ExitCode"] == 0

    def start(self, command: list[str], stdin: bool = False,
              output: str | None = None) -> DockerProcess:
        pid_file = new_pid_file()
        argv = (["sh", "-c", OUTPUT_WRAPPER, pid_file, output, *command] if output is not None
                else ["sh", "-c", PID_WRAPPER, pid_file, *command])
        with translated(f"start {command[0]} on {self.name}"):
            exec_id = self.api.exec_create(self.container.id, argv, stdin=stdin, stdout=False,
                                           stderr=False)["Id"]
            if stdin:
                attached = self.api.exec_start(exec_id, socket=True)
                process = DockerProcess(self, exec_id, command, pid_file, attached)
            else:
                self.api.exec_start(exec_id, detach=True)
                process = DockerProcess(self, exec_id, command, pid_file)
        self._processes.append(process)
        return process

    def start_image(self, image: str, command: list[str], stdin: bool = False,
                    output: str | None = None) -> AppProcess:
        """``image`` run as this host's program, in this container's network namespace
        (kit.testbeds.docker.apps); removed when the host is closed."""
        process = start_app(self, self.container, image, command, stdin, output)
        self._apps.append(process)
        return process

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        target = PurePosixPath(path)
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            info = tarfile.TarInfo(target.name)
            info.size, info.mode, info.mtime = len(data), mode, int(time.time())
            tar.addfile(info, io.BytesIO(data))
        with translated(f"copy {path} to {self.name}"):
            self.container.put_archive(str(target.parent), archive.getvalue())

    def put_tree(self, source: Path, path: str) -> None:
        """The directory ``source`` of this machine, copied into ``path`` (which exists)."""
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for entry in sorted(source.iterdir()):
                tar.add(entry, arcname=entry.name)
        with translated(f"copy {source} to {path} on {self.name}"):
            self.container.put_archive(path, archive.getvalue())

    def fetch_dir(self, path: str, destination: Path) -> list[Path]:
        with translated(f"copy {path} from {self.name}"):
            try:
                stream, _ = self.container.get_archive(path)
            except docker.errors.NotFound:
                return []   # nothing was written there
            archive = io.BytesIO(b"".join(stream))
        destination.mkdir(parents=True, exist_ok=True)
        fetched = []
        with tarfile.open(fileobj=archive) as tar:
            for member in tar.getmembers():
                extracted = tar.extractfile(member) if member.isfile() else None
                if extracted is None:
                    continue
                # Flatten: the directory holds plain files; never write outside destination.
                target = destination / PurePosixPath(member.name).name
                target.write_bytes(extracted.read())
                fetched.append(target)
        return sorted(fetched)

    def close(self) -> None:
        for process in self._processes:
            process.release()
        self._processes.clear()
        apps, self._apps = self._apps, []
        for app in apps:
            app.release()
        with self._agent_start:
            if self._agent is not None:
                self._agent.close()
                self._agent = None
