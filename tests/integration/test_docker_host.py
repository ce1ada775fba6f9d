"""DockerHost against a real lab: the Host protocol's behaviour, not only its shape."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from kit.core.errors import LabFailure
from kit.core.record import new_run_id
from kit.hosts import CommandFailed, CommandTimedOut
from kit.testbeds.docker.host import DockerHost
from kit.testbeds.docker.lab import ComposeLab


@pytest.fixture(scope="module")
def lab(lab_image):
    with ComposeLab(new_run_id(), lab_image.name) as started:
        yield started


@pytest.fixture(params=["agent", "exec"])
def hosts(lab, request):
    """The lab's hosts, their commands through netkit-agent or each in an exec of its own
    (what a command gets while the agent is busy): the same behaviour either way."""
    made = {role: DockerHost(host.container, host.name, use_agent=request.param == "agent")
            for role, host in lab.hosts.items()}
    yield made
    for host in made.values():
        host.close()


def test_run_returns_output_and_checks_the_exit_code(hosts):
    host = hosts["client"]
    assert host.run(["hostname"]).stdout.strip() == "client"
    assert host.run(["sh", "-c", "echo oops >&2; exit 3"], check=False).exit_code == 3
    with pytest.raises(CommandFailed, match="exited 3: oops"):
        host.run(["sh", "-c", "echo oops >&2; exit 3"])


def test_run_times_out_by_its_own_timer_and_stops_the_command(hosts):
    host = hosts["client"]
    started = time.monotonic()
    with pytest.raises(CommandTimedOut, match=r"did not finish within 0\.5 s") as timed_out:
        host.run(["sh", "-c", "echo begun; exec sleep 30"], timeout=0.5)
    assert timed_out.value.timeout == 0.5
    assert timed_out.value.result is not None and timed_out.value.result.stdout == "begun\n"
    assert time.monotonic() - started < 5
    assert host.run(["sh", "-c", "pgrep -fx 'sleep 30' || true"]).stdout == ""
    # A command that exits 124 by itself is not a timeout.
    assert host.run(["sh", "-c", "exit 124"], check=False).exit_code == 124


def test_a_command_that_ignores_sigterm_is_killed(hosts):
    with pytest.raises(CommandTimedOut):
        hosts["client"].run(["sh", "-c", "trap '' TERM; sleep 30 & wait"], timeout=0.3)


def test_a_process_is_signalled_and_killed(hosts):
    host = hosts["server"]
    process = host.start(["sleep", "30"])
    with pytest.raises(CommandTimedOut):
        process.wait(0.2)
    process.signal(signal.SIGINT)
    assert process.wait(5) == 128 + signal.SIGINT
    stubborn = host.start(["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
    assert stubborn.kill(grace=0.5) == 128 + signal.SIGKILL
    stubborn.signal(signal.SIGTERM)   # it ended already: nothing happens


def test_started_process_reads_stdin_until_it_is_closed(hosts, tmp_path):
    host = hosts["server"]
    process = host.start(["cat"], stdin=True, output="/var/lib/netkit/run/cat.out")
    process.write(b"data1\n")
    process.write(b"data2\n")
    assert process.poll() is None
    process.close_stdin()
    assert process.wait(timeout=10) == 0
    fetched = {p.name: p for p in host.fetch_dir("/var/lib/netkit/run", tmp_path)}
    assert fetched["cat.out"].read_text() == "data1\ndata2\n"


def test_files_go_in_and_come_out(hosts, tmp_path):
    host = hosts["client"]
    host.run(["mkdir", "-p", "/tmp/box"])
    host.put_file("/tmp/box/note.txt", b"hello")
    assert host.run(["cat", "/tmp/box/note.txt"]).stdout == "hello"
    assert [p.name for p in host.fetch_dir("/tmp/box", tmp_path)] == ["note.txt"]
    assert host.fetch_dir("/no/such/dir", tmp_path) == []


def test_the_hosts_reach_each_other_over_the_lab_network(lab, hosts):
    server_address = lab.endpoint("server").address
    result = hosts["client"].run(["ip", "route", "get", server_address])
    assert "dev eth0" in result.stdout


def test_words_and_long_output_arrive_as_they_are(hosts):
    host = hosts["client"]
    words = ["a b", "$HOME", "it's", "line\nbreak", ""]
    assert host.run(["printf", "%s|", *words]).stdout == "|".join(words) + "|"
    assert host.run(["sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' a"]).stdout == "a" * 3_000_000


def running_execs(host: DockerHost) -> int:
    host.container.reload()
    return len(host.container.attrs["ExecIDs"] or [])


def parent_of_command(host: DockerHost) -> str:
    """What started the command: netkit-agent, or nothing in the container (an exec's
    process has its parent outside)."""
    return host.run(["sh", "-c", "cat /proc/$PPID/comm 2>/dev/null || echo outside"]).stdout


def test_one_exec_serves_every_command_through_the_agent(lab):
    host = DockerHost(lab.hosts["server"].container, "server")
    before = running_execs(host)
    try:
        for _ in range(10):
            assert parent_of_command(host) == "netkit-agent\n"
        assert running_execs(host) == before + 1
    finally:
        host.close()
    assert parent_of_command(DockerHost(host.container, "server", use_agent=False)) == \
        "outside\n"


def test_a_command_that_finds_the_agent_busy_gets_an_exec(lab):
    host = DockerHost(lab.hosts["server"].container, "server")
    try:
        host.run(["true"])                        # the agent is up
        waiting = threading.Thread(target=host.run, args=(["sleep", "3"],))
        waiting.start()
        time.sleep(0.3)
        started = time.monotonic()
        assert parent_of_command(host) == "outside\n"
        assert time.monotonic() - started < 2     # not queued behind the sleep
        waiting.join()
    finally:
        host.close()


def agents_running(lab) -> str:
    return DockerHost(lab.hosts["client"].container, "client", use_agent=False).run(
        ["sh", "-c", "pgrep -x netkit-agent || true"]).stdout


def test_the_agent_ends_with_its_host(lab):
    host = DockerHost(lab.hosts["client"].container, "client")
    host.run(["true"])
    assert agents_running(lab) != ""
    host.close()
    deadline = time.monotonic() + 5
    while agents_running(lab) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert agents_running(lab) == ""


def test_a_lost_agent_fails_its_command_and_the_next_one_gets_an_exec(lab):
    host = DockerHost(lab.hosts["client"].container, "client")
    try:
        with pytest.raises(LabFailure, match="netkit-agent ended"):
            host.run(["sh", "-c", "kill -9 $PPID; sleep 1"])
        assert parent_of_command(host) == "outside\n"
    finally:
        host.close()
