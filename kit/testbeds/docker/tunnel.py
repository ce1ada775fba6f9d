"""A Docker engine on another machine, reached over SSH (``DOCKER_HOST=ssh://...``).

docker-py's SSH transport trusts only ~/.ssh/known_hosts and opens one SSH session per
pooled HTTP connection, so parallel API calls run into sshd's MaxSessions (10 by
default); Compose shells out to ssh(1), or with COMPOSE_PARAMIKO_SSH=1 uses docker-py 5,
which accepts an unknown host key with a warning. Three clients, three host-key policies.
So the kit logs in once itself, with its own policy (kit.testbeds.ssh.keys), and serves
the engine on a private Unix socket for as long as the command runs: each connection to
that socket is one ``docker system dial-stdio`` session on the remote machine (what
docker-py and the docker CLI do over SSH), and a session sshd refuses is opened on a
further connection. docker-py and Compose both talk to that socket.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import shutil
import socket
import tempfile
import threading
from pathlib import Path

import paramiko

from kit.core.errors import EnvironmentProblem
from kit.testbeds.ssh.config import SshTarget
from kit.testbeds.ssh.connection import Login, connect
from kit.testbeds.ssh.keys import KnownHosts

DIAL = "docker system dial-stdio"
CHUNK = 65536
# docker-py opens a connection for nearly every call (it pools per URL), and starting
# dial-stdio on the remote machine takes tens of milliseconds: keep a few started.
SPARES = 3
# A session refused for MaxSessions is expected (another connection takes it); paramiko
# would print each refusal through logging's last-resort handler.
logging.getLogger("paramiko").addHandler(logging.NullHandler())


class EngineTunnel:
    """The remote engine on ``self.url`` (unix://...) until ``close()``."""

    def __init__(self, target: SshTarget, login: Login, known: KnownHosts):
        self.target = target
        self.login = login
        self.known = known
        self._clients: list[paramiko.SSHClient] = []
        self._lock = threading.Lock()
        self._directory = Path(tempfile.mkdtemp(prefix="netkit-engine-"))   # 0700
        self.path = self._directory / "docker.sock"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._spares: queue.Queue[paramiko.Channel] = queue.Queue()
        self._wanted = threading.Semaphore(SPARES)
        self._closed = False

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    def open(self) -> EngineTunnel:
        try:
            self._clients.append(self._connect())
            self._check_remote_docker()
            self._listener.bind(str(self.path))
            self._listener.listen(64)
        except BaseException:
            self.close()
            raise
        threading.Thread(target=self._accept, name="engine-tunnel", daemon=True).start()
        threading.Thread(target=self._keep_spares, name="engine-spares", daemon=True).start()
        return self

    def close(self) -> None:
        self._closed = True
        self._wanted.release()
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for client in self._clients:
                client.close()
            self._clients.clear()
        shutil.rmtree(self._directory, ignore_errors=True)

    def _connect(self) -> paramiko.SSHClient:
        return connect(f"Docker host {self.target}", self.login, self.known)

    def _check_remote_docker(self) -> None:
        """The remote docker CLI answers (dial-stdio needs it) and the login may use the engine."""
        channel = self._session()
        try:
            channel.exec_command("docker version --format '{{.Server.Version}}'")
            answer = channel.makefile("rb").read().decode(errors="replace").strip()
            error = channel.makefile_stderr("rb").read().decode(errors="replace").strip()
            status = channel.recv_exit_status()
        finally:
            channel.close()
        if status == 127:
            raise EnvironmentProblem(
                f"the Docker host {self.target} has no docker command: install Docker there "
                "(the kit reaches the engine through 'docker system dial-stdio')")
        if status != 0 or not answer:
            last = error.splitlines()[-1] if error else f"exit {status}"
            hint = (f"; add {self.login.user} to the 'docker' group there"
                    if "permission denied" in error.lower() else "")
            raise EnvironmentProblem(f"the Docker engine on {self.target} did not answer: "
                                     f"{last}{hint}")

    def _session(self) -> paramiko.Channel:
        """A new session, on a connection that still has room for one (MaxSessions)."""
        with self._lock:
            for client in self._clients:
                transport = client.get_transport()
                if transport is None or not transport.is_active():
                    continue
                try:
                    return transport.open_session(timeout=15)
                except paramiko.ChannelException:
                    continue    # 'administratively prohibited': this connection is full
            if self._closed:
                raise EOFError("the tunnel is closed")
            client = self._connect()
            self._clients.append(client)
            transport = client.get_transport()
            assert transport is not None   # connect() returned a live client
            return transport.open_session(timeout=15)

    def _keep_spares(self) -> None:
        while True:
            self._wanted.acquire()
            if self._closed:
                return
            try:
                self._spares.put(self._dialled())
            except (OSError, EOFError, paramiko.SSHException, EnvironmentProblem):
                return      # the connection is gone: connections dial their own

    def _dialled(self) -> paramiko.Channel:
        channel = self._session()
        channel.exec_command(DIAL)
        return channel

    def _next_channel(self) -> paramiko.Channel:
        try:
            channel = self._spares.get_nowait()
        except queue.Empty:
            return self._dialled()
        self._wanted.release()
        return channel

    def _accept(self) -> None:
        while not self._closed:
            try:
                local, _ = self._listener.accept()
            except OSError:
                return      # closed
            threading.Thread(target=self._serve, args=(local,), daemon=True).start()

    def _serve(self, local: socket.socket) -> None:
        try:
            channel = self._next_channel()
        except (OSError, EOFError, paramiko.SSHException, EnvironmentProblem):
            local.close()
            return
        upstream = threading.Thread(target=_pump_to_channel, args=(local, channel), daemon=True)
        upstream.start()
        _pump_to_socket(channel, local)
        upstream.join()
        channel.close()
        local.close()


def _pump_to_channel(local: socket.socket, channel: paramiko.Channel) -> None:
    """What the local client sends, to the engine; its half-close passed on (hijacked
    exec streams close stdin that way)."""
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        while data := local.recv(CHUNK):
            channel.sendall(data)
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        channel.shutdown_write()


def _pump_to_socket(channel: paramiko.Channel, local: socket.socket) -> None:
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
        while data := channel.recv(CHUNK):
            local.sendall(data)
    with contextlib.suppress(OSError):
        local.shutdown(socket.SHUT_WR)
