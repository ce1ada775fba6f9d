from kit.hosts import Host, Process
from kit.hosts.base import describe_exit
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
