import signal
import time

import docker.errors
import pytest
import requests.exceptions

from kit.hosts import CommandResult, CommandTimedOut, Host, HostError, Process
from kit.hosts.base import describe_exit, terminate
from kit.hosts.waits import ENDED, Wait, WaitTimedOut
from kit.testbeds.docker.host import DockerHost, DockerProcess


def test_docker_backend_implements_the_protocols():
    assert isinstance(DockerHost(container=None, name="client"), Host)
    host = DockerHost(container=None, name="client")
    assert isinstance(DockerProcess(host, exec_id="x", command=["true"], pid_file="/tmp/p"),
                      Process)


def test_exit_statuses_are_described():
    assert describe_exit(0) == "exit 0"
    assert describe_exit(1) == "exit 1"
    assert describe_exit(141) == "killed by SIGPIPE (13)"
    assert describe_exit(None) == "still running"


def test_docker_errors_become_one_actionable_line():
    from kit.testbeds.docker.engine import _explain

    assert "add your user to the 'docker' group" in _explain(Exception(
        "Error while fetching server API version: ('Connection aborted.', "
        "PermissionError(13, 'Permission denied'))"))
    assert "start it (systemctl start docker)" in _explain(Exception(
        "Error while fetching server API version: ('Connection aborted.', "
        "FileNotFoundError(2, 'No such file or directory'))"))


class _RefusingApi:
    """docker-py's low-level client as it answers when the engine refuses or is gone."""

    def __init__(self, error):
        self.error = error

    def exec_create(self, *args, **kwargs):
        raise self.error

    exec_inspect = exec_create


class _Container:
    def __init__(self, error):
        self.id = "c0ffee"
        self.name = "netkit-x_client_1"
        self.client = type("Client", (), {"api": _RefusingApi(error)})()
        self.error = error

    def get_archive(self, path):
        raise self.error

    def put_archive(self, path, data):
        raise self.error


@pytest.mark.parametrize("error", [
    docker.errors.APIError("409 Conflict", explanation="container c0ffee is not running"),
    requests.exceptions.ConnectionError("Connection aborted"),
])
def test_every_engine_error_is_one_host_error_line(error, tmp_path):
    host = DockerHost(_Container(error), "client")
    for call in (lambda: host.run(["true"]), lambda: host.start(["true"]),
                 lambda: host.put_file("/tmp/x", b""), lambda: host.fetch_dir("/tmp", tmp_path),
                 lambda: DockerProcess(host, "e", ["true"], "/tmp/p").poll()):
        with pytest.raises(HostError) as raised:
            call()
        assert raised.value.args[0].startswith("cannot ") and " client" in raised.value.args[0]
        assert "\n" not in str(raised.value)


def test_a_missing_directory_fetches_nothing(tmp_path):
    host = DockerHost(_Container(docker.errors.NotFound("no such file")), "client")
    assert host.fetch_dir("/no/such/dir", tmp_path) == []


class _Stubborn:
    """A process that ignores SIGTERM: it ends only at SIGKILL."""

    def __init__(self):
        self.signals = []

    def poll(self):
        return 128 + 9 if signal.SIGKILL in self.signals else None

    def wait(self, timeout):
        if self.poll() is None:
            raise CommandTimedOut("server", ("sleep",), timeout)
        return self.poll()

    def signal(self, signum):
        self.signals.append(signum)


def test_kill_sends_sigterm_then_sigkill_after_the_grace():
    process = _Stubborn()
    assert terminate(process, grace=0.01) == 137
    assert process.signals == [signal.SIGTERM, signal.SIGKILL]


class _LoopHost:
    """Answers a Wait's loop as a host would: the loop's own timeout, or a test's name."""

    name = "server"

    def __init__(self, after_slices, once_output=""):
        self.after_slices = after_slices
        self.once_output = once_output
        self.runs = []

    def run(self, command, timeout=30, check=True):
        self.runs.append(timeout)
        if "while :" not in command[2]:
            return CommandResult(tuple(command), 0 if self.once_output else 1,
                                 self.once_output, "")
        if len(self.runs) <= self.after_slices:
            raise CommandTimedOut(self.name, tuple(command), timeout)
        return CommandResult(tuple(command), 0, "done\n", "")


class _Ended:
    def poll(self):
        return 1


def test_a_wait_returns_the_first_test_that_holds_and_watches_its_process():
    wait = Wait("the server to listen", {"done": "true"}, timeout=5, slice_s=0.01)
    assert wait.on(_LoopHost(after_slices=2)) == "done"
    assert wait.on(_LoopHost(after_slices=99), _Ended()) == ENDED
    assert wait.on(_LoopHost(after_slices=99, once_output="done\n"), _Ended()) == "done"
    with pytest.raises(WaitTimedOut, match=r"the server to listen did not happen within 0\.05 s"):
        Wait("the server to listen", {"done": "true"}, timeout=0.05).on(_LoopHostTimingOut())


class _LoopHostTimingOut(_LoopHost):
    def __init__(self):
        super().__init__(after_slices=10**6)

    def run(self, command, timeout=30, check=True):
        time.sleep(timeout)
        raise CommandTimedOut(self.name, tuple(command), timeout)
