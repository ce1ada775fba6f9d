"""DockerHost against a real lab: the Host protocol's behaviour, not only its shape."""

from __future__ import annotations

import signal
import time

import pytest

from kit.core.record import new_run_id
from kit.hosts import CommandFailed, CommandTimedOut
from kit.testbeds.docker.lab import ComposeLab


@pytest.fixture(scope="module")
def lab(lab_image):
    with ComposeLab(new_run_id(), lab_image.name) as started:
        yield started


def test_run_returns_output_and_checks_the_exit_code(lab):
    host = lab.hosts["client"]
    assert host.run(["hostname"]).stdout.strip() == "client"
    assert host.run(["sh", "-c", "echo oops >&2; exit 3"], check=False).exit_code == 3
    with pytest.raises(CommandFailed, match="exited 3: oops"):
        host.run(["sh", "-c", "echo oops >&2; exit 3"])


def test_run_times_out_by_its_own_timer_and_stops_the_command(lab):
    host = lab.hosts["client"]
    started = time.monotonic()
    with pytest.raises(CommandTimedOut, match=r"did not finish within 0\.5 s") as timed_out:
        host.run(["sh", "-c", "echo begun; exec sleep 30"], timeout=0.5)
    assert timed_out.value.timeout == 0.5
    assert timed_out.value.result is not None and timed_out.value.result.stdout == "begun\n"
    assert time.monotonic() - started < 5
    assert host.run(["sh", "-c", "pgrep -fx 'sleep 30' || true"]).stdout == ""
    # A command that exits 124 by itself is not a timeout.
    assert host.run(["sh", "-c", "exit 124"], check=False).exit_code == 124


def test_a_command_that_ignores_sigterm_is_killed(lab):
    with pytest.raises(CommandTimedOut):
        lab.hosts["client"].run(["sh", "-c", "trap '' TERM; sleep 30 & wait"], timeout=0.3)


def test_a_process_is_signalled_and_killed(lab):
    host = lab.hosts["server"]
    process = host.start(["sleep", "30"])
    with pytest.raises(CommandTimedOut):
        process.wait(0.2)
    process.signal(signal.SIGINT)
    assert process.wait(5) == 128 + signal.SIGINT
    stubborn = host.start(["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
    assert stubborn.kill(grace=0.5) == 128 + signal.SIGKILL
    stubborn.signal(signal.SIGTERM)   # it ended already: nothing happens


def test_started_process_reads_stdin_until_it_is_closed(lab, tmp_path):
    host = lab.hosts["server"]
    process = host.start(["cat"], stdin=True, output="/var/lib/netkit/run/cat.out")
    process.write(b"data1\n")
    process.write(b"data2\n")
    assert process.poll() is None
    process.close_stdin()
    assert process.wait(timeout=10) == 0
    fetched = {p.name: p for p in host.fetch_dir("/var/lib/netkit/run", tmp_path)}
    assert fetched["cat.out"].read_text() == "data1\ndata2\n"


def test_files_go_in_and_come_out(lab, tmp_path):
    host = lab.hosts["client"]
    host.run(["mkdir", "-p", "/tmp/box"])
    host.put_file("/tmp/box/note.txt", b"hello")
    assert host.run(["cat", "/tmp/box/note.txt"]).stdout == "hello"
    assert [p.name for p in host.fetch_dir("/tmp/box", tmp_path)] == ["note.txt"]
    assert host.fetch_dir("/no/such/dir", tmp_path) == []


def test_the_hosts_reach_each_other_over_the_lab_network(lab):
    server_address = lab.endpoint("server").address
    result = lab.hosts["client"].run(["ip", "route", "get", server_address])
    assert "dev eth0" in result.stdout
