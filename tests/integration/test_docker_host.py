"""DockerHost against a real lab: the Host protocol's behaviour, not only its shape."""

from __future__ import annotations

import pytest

from kit.core.errors import LabFailure
from kit.hosts import CommandFailed
from kit.testbeds.docker.lab import Lab, new_run_id


@pytest.fixture(scope="module")
def lab(lab_image):
    with Lab(new_run_id(), lab_image.name) as started:
        yield started


def test_run_returns_output_and_checks_the_exit_code(lab):
    host = lab.hosts["client"]
    assert host.run(["hostname"]).stdout.strip() == "client"
    assert host.run(["sh", "-c", "echo oops >&2; exit 3"], check=False).exit_code == 3
    with pytest.raises(CommandFailed, match="exited 3: oops"):
        host.run(["sh", "-c", "echo oops >&2; exit 3"])


def test_run_times_out(lab):
    with pytest.raises(LabFailure, match="did not finish within 0.5 s"):
        lab.hosts["client"].run(["sleep", "5"], timeout=0.5)


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
    server_address = lab.address("server")
    result = lab.hosts["client"].run(["ip", "route", "get", server_address])
    assert "dev eth0" in result.stdout
