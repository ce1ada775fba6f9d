"""A Host reached over SSH (paramiko): one connection per run, a channel per command.

Every command runs under a small shell that starts it in the background, records its
PID in the run's directory and waits for it. So the kit's own timer can stop a command,
``Process.signal`` reaches the program itself, a program killed by a signal reports the
shell's 128+N (SSH would only say "killed"), and cleanup finds every program the run
started by its PID file. Arguments are quoted for the remote shell, never pasted in.
"""

from __future__ import annotations

import contextlib
import secrets
import shlex
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import paramiko

from kit.hosts.base import (
    CommandFailed,
    CommandResult,
    CommandTimedOut,
    HostError,
    PolledProcess,
)

# $0: the PID file; $1: where the output goes; then the command. A background command
# would read /dev/null, so stdin is handed down on fd 3 explicitly.
WRAPPER = ('pidfile=$0; out=$1; shift; exec 3<&0; "$@" <&3 3<&- >"$out" 2>&1 & '
           'echo $! >"$pidfile"; wait $!; status=$?; rm -f "$pidfile"; exit $status')
RUN_WRAPPER = ('pidfile=$0; "$@" </dev/null & echo $! >"$pidfile"; wait $!; '
               'status=$?; rm -f "$pidfile"; exit $status')
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
STOP_GRACE = 2.0
READ_CHUNK = 65536


class SshProcess(PolledProcess):
    """A command started on a channel of its own; its stdin is the channel's."""

    def __init__(self, host: SshHost, channel: paramiko.Channel, command: list[str],
                 pid_file: str):
        self._host = host
        self._channel = channel
        self.command = command
        self.host_name = host.name
        self.pid_file = pid_file

    def write(self, data: bytes) -> None:
        with self._host.translated(f"write to {self.command[0]}"):
            self._channel.sendall(data)

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            self._channel.shutdown_write()

    def poll(self) -> int | None:
        if self._channel.exit_status_ready():
            status = self._channel.recv_exit_status()
            if status < 0:
                raise HostError(f"lost the connection to the {self._host.name} while "
                                f"{self.command[0]} ran")
            return status
        if self._channel.closed or not self._host.connected:
            raise HostError(f"lost the connection to the {self._host.name} while "
                            f"{self.command[0]} ran")
        return None

    def signal(self, signum: signal.Signals) -> None:
        self._host.signal_pid_file(self.pid_file, signum)

    def release(self) -> None:
        self._channel.close()


class SshHost:
    """One machine of the testbed, as the run's ``Host``."""

    def __init__(self, client: paramiko.SSHClient, name: str, sudo: bool = False,
                 bin_dir: str | None = None, pid_dir: str = "/tmp",
                 reconnect: Callable[[], paramiko.SSHClient] | None = None):
        self.client = client
        self._reconnect = reconnect
        self.name = name
        self.sudo = sudo
        self.bin_dir = bin_dir          # the kit's programs, first on the search path
        self.pid_dir = pid_dir
        self._processes: list[SshProcess] = []
        self._sftp: paramiko.SFTPClient | None = None
        self._sftp_lock = threading.Lock()

    @property
    def connected(self) -> bool:
        transport = self.client.get_transport()
        return transport is not None and transport.is_active()

    def ensure_connected(self) -> None:
        """Log in again if the connection was lost (to clean up after a run)."""
        if self.connected or self._reconnect is None:
            return
        self.close()
        with contextlib.suppress(Exception):
            self.client.close()
        self.client = self._reconnect()

    @contextlib.contextmanager
    def translated(self, doing: str) -> Iterator[None]:
        """Connection errors as one line naming the machine and what was being done."""
        try:
            yield
        except (OSError, EOFError, paramiko.SSHException) as error:
            raise HostError(f"cannot {doing} on the {self.name} over SSH: "
                            f"{error or type(error).__name__}") from None

    @property
    def search_path(self) -> str:
        """The kit's programs first, then the usual places (sudo would reset PATH)."""
        return f"{self.bin_dir}:{SEARCH_PATH}" if self.bin_dir else SEARCH_PATH

    def remote(self, argv: list[str], wrapper: str | None = None, *extra: str) -> str:
        """The command line for the remote shell: as root if asked, the kit's programs
        first on the path, every argument quoted."""
        words = [*(["sudo", "-n"] if self.sudo else []), "env", f"PATH={self.search_path}"]
        if wrapper is not None:
            words += ["sh", "-c", wrapper, *extra]
        return shlex.join([*words, *argv])

    def new_pid_file(self) -> str:
        return f"{self.pid_dir}/netkit-{secrets.token_hex(6)}.pid"

    def _channel(self, line: str) -> paramiko.Channel:
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise HostError(f"the connection to the {self.name} is closed")
        channel = transport.open_session(timeout=15)
        channel.exec_command(line)
        return channel

    def run(self, command: list[str], timeout: float = 30, check: bool = True) -> CommandResult:
        pid_file = self.new_pid_file()
        with self.translated(f"run {command[0]}"):
            channel = self._channel(self.remote(command, RUN_WRAPPER, pid_file))
            try:
                stdout, stderr, stopped = self._drain(channel, pid_file, timeout)
                exit_code = channel.recv_exit_status() if not stopped else -1
            finally:
                channel.close()
        result = CommandResult(tuple(command), exit_code, stdout, stderr)
        if stopped:
            raise CommandTimedOut(self.name, tuple(command), timeout, result)
        if exit_code < 0:
            raise HostError(f"lost the connection to the {self.name} while {command[0]} ran")
        if check and exit_code != 0:
            raise CommandFailed(self.name, result)
        return result

    def quick(self, command: list[str], timeout: float = 10) -> CommandResult:
        """A short command as the login user, with neither wrapper nor sudo: the least
        time between asking and the answer (clock readings), or before the run's
        directory exists. Raises CommandFailed on a non-zero exit."""
        with self.translated(f"run {command[0]}"):
            channel = self._plain_channel(command, timeout)
            try:
                stdout = channel.makefile("rb").read().decode(errors="replace")
                stderr = channel.makefile_stderr("rb").read().decode(errors="replace")
                exit_code = channel.recv_exit_status()
            finally:
                channel.close()
        result = CommandResult(tuple(command), exit_code, stdout, stderr)
        if exit_code != 0:
            raise CommandFailed(self.name, result)
        return result

    @contextlib.contextmanager
    def conversation(self, command: list[str], timeout: float = 10) -> Iterator[Callable[[], str]]:
        """``command`` run as the login user on a channel kept open for the block, which
        gets ``ask()``: send a line, return the line it answers."""
        with self.translated(f"run {command[0]}"):
            channel = self._plain_channel(command, timeout)
            replies = channel.makefile("rb")

            def ask() -> str:
                channel.sendall(b"\n")
                line = replies.readline()
                if not line:
                    raise HostError(f"{command[0]} on the {self.name} ended without an answer")
                return line.decode()

            try:
                yield ask
            finally:
                channel.close()

    def _plain_channel(self, command: list[str], timeout: float) -> paramiko.Channel:
        """``command`` as the login user, with neither wrapper nor sudo."""
        channel = self._channel(shlex.join(["env", f"PATH={self.search_path}", *command]))
        channel.settimeout(timeout)
        return channel

    def _drain(self, channel: paramiko.Channel, pid_file: str,
               timeout: float) -> tuple[str, str, bool]:
        """Read a command's output until it ends; when ``timeout`` s are up, SIGTERM it,
        and SIGKILL it if it still runs STOP_GRACE s later. Whether the timer stopped it."""
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        stopped = killed = False
        channel.settimeout(0.05)
        while True:
            got = False
            for ready, read, sink in ((channel.recv_ready, channel.recv, out),
                                      (channel.recv_stderr_ready, channel.recv_stderr, err)):
                if ready():
                    sink += read(READ_CHUNK)
                    got = True
            if channel.exit_status_ready() and not got and not channel.recv_ready() \
                    and not channel.recv_stderr_ready():
                break
            if channel.closed and not got:
                break
            now = time.monotonic()
            if not stopped and now > deadline:
                # Not delivered: it ended meanwhile, and its exit status is on the way.
                stopped = self.signal_pid_file(pid_file, signal.SIGTERM)
                deadline = now + STOP_GRACE
            elif stopped and not killed and now > deadline:
                killed = True
                self.signal_pid_file(pid_file, signal.SIGKILL)
            if not got:
                time.sleep(0.005)
        return out.decode(errors="replace"), err.decode(errors="replace"), stopped

    def signal_pid_file(self, pid_file: str, signum: signal.Signals) -> bool:
        """Send ``signum`` to the program whose PID ``pid_file`` holds; False if it ended."""
        script = f'p=$(cat "$0" 2>/dev/null) && kill -s {signum.name[3:]} "$p" 2>/dev/null'
        with self.translated(f"signal a program ({signum.name})"):
            channel = self._channel(self.remote(["sh", "-c", script, pid_file]))
            try:
                return channel.recv_exit_status() == 0
            finally:
                channel.close()

    def start(self, command: list[str], stdin: bool = False,
              output: str | None = None) -> SshProcess:
        pid_file = self.new_pid_file()
        with self.translated(f"start {command[0]}"):
            channel = self._channel(self.remote(command, WRAPPER, pid_file,
                                                output or "/dev/null"))
            if not stdin:
                channel.shutdown_write()
        process = SshProcess(self, channel, command, pid_file)
        self._processes.append(process)
        return process

    def _sftp_session(self) -> paramiko.SFTPClient:
        """The connection's one SFTP session, opened on first use (hold _sftp_lock)."""
        if self._sftp is None:
            self._sftp = self.client.open_sftp()
        return self._sftp

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        with self.translated(f"copy {path} there"), self._sftp_lock:
            sftp = self._sftp_session()
            with sftp.open(path, "wb") as file:
                file.write(data)
            sftp.chmod(path, mode)

    def fetch_dir(self, path: str, destination: Path) -> list[Path]:
        if self.sudo:   # root's programs wrote them: let the login user read them
            self.run(["chmod", "-R", "a+rX", path], check=False)
        destination.mkdir(parents=True, exist_ok=True)
        fetched = []
        with self.translated(f"copy {path} from there"), self._sftp_lock:
            sftp = self._sftp_session()
            try:
                entries = sftp.listdir_attr(path)
            except FileNotFoundError:
                return []
            for entry in entries:
                if entry.st_mode is None or not stat.S_ISREG(entry.st_mode):
                    continue
                target = destination / Path(entry.filename).name
                sftp.get(f"{path}/{entry.filename}", str(target))
                fetched.append(target)
        return sorted(fetched)

    def close(self) -> None:
        for process in self._processes:
            process.release()
        self._processes.clear()
        with self._sftp_lock:
            if self._sftp is not None:
                with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
                    self._sftp.close()
                self._sftp = None
