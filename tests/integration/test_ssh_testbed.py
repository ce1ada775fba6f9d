"""The SSH testbed against two stand-ins for real machines (tests/integration/machines.py),
reached only over SSH: the catalog's verdicts, host-key checking, the pre-flight checks,
and nothing left on either machine after a run, a Ctrl-C or a dropped connection. What
is on a machine is asked over SSH too, as root, with the test's own known_hosts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import paramiko
import pytest

from kit.scenarios import CATALOG
from tests.integration.conftest import ROOT, invoke
from tests.integration.machines import Machines, two_machines

# Anything of the kit on a machine: run directories, its programs, tracefs instances, its
# qdisc (handle 4e6b:) and iptables chain. The delay line runs under its bundled loader:
# found by its command line (the brackets keep this shell's own line out).
LEFTOVERS = ("ls -d /tmp/netkit-* /sys/kernel/tracing/instances/netkit-* 2>/dev/null; "
             "pgrep -a 'graceserver|graceclient|netkit-ss|tcpdump|netkit-probe'; "
             "pgrep -af 'netkit-delay[l]ine'; tc qdisc show | grep ' 4e6b:'; "
             "iptables -w -t mangle -S NETKIT 2>/dev/null; true")


@pytest.fixture(scope="module")
def machines(lab_image, tmp_path_factory):
    with two_machines(lab_image, tmp_path_factory.mktemp("machines")) as found:
        yield found


@pytest.fixture
def own_known_hosts(tmp_path, monkeypatch):
    """The kit's own known_hosts in a place of this test's (--accept-new-host-keys)."""
    path = tmp_path / "kit-known-hosts"
    monkeypatch.setenv("NETKIT_KNOWN_HOSTS", str(path))
    return path


def as_root(machines: Machines, role: str, command: str) -> str:
    client = paramiko.SSHClient()
    client.load_host_keys(str(machines.known_hosts))
    client.connect(machines.control[role], username="root", key_filename=str(machines.key),
                   timeout=10)
    try:
        _, stdout, _ = client.exec_command(command, timeout=20)
        return stdout.read().decode()
    finally:
        client.close()


def left_on(machines: Machines) -> dict[str, str]:
    return {role: out for role in ("client", "server")
            if (out := as_root(machines, role, LEFTOVERS).strip())}


def error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert lines, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def catalog(machines, tmp_path_factory):
    out = tmp_path_factory.mktemp("ssh-catalog")
    result = invoke("run", "--scenario", "all", "--server-delay", "0.3", "--out", str(out),
                    "--testbed", str(machines.testbed_file), timeout=900)
    return out, result


def test_the_whole_catalog_passes_between_two_machines(catalog, machines):
    out, result = catalog
    records = [json.loads(p.read_text()) for p in sorted(out.glob("*/run.json"))]
    failed = [f"{r['scenario']}/{r['variant']}: {c['name']}: {c['observed']}"
              for r in records for c in r["checks"] if not c["passed"]]
    assert result.returncode == 0, (failed, result.stderr[-2000:])
    # Every variant, those that shape a link of their own too (the userspace engine here).
    assert len(records) == sum(len(s.variants) for s in CATALOG.values())
    shaped = [r for r in records if r["scenario"] == "linger-timeout"]
    assert len(shaped) == 3 and all(r["link"]["engine"] == "userspace" for r in shaped)
    # The machines outlive runs: a run moves on to a port that no earlier run's socket
    # (TIME-WAIT lasts a minute) still holds.
    assert len({r["parameters"]["port"] for r in records}) > 1
    for record in records:
        assert record["testbed"] == "ssh" and record["verdict"] == "pass"
        assert record["kernel_trace"]["recorded"], record["kernel_trace"]
        assert record["hosts"]["client"]["machine"] == f"lab@{machines.control['client']}"
        clocks = record["environment"]["clocks"]
        assert set(clocks) == {"client", "server"}
        assert all(c["uncertainty_s"] < 0.01 for c in clocks.values()), clocks
    assert not left_on(machines)


def test_the_evidence_is_the_machines_own(catalog, machines):
    out, _ = catalog
    (run,) = out.glob("*-close-graceful")
    kernel = [json.loads(line) for line in (run / "kernel.jsonl").read_text().splitlines()]
    # Each machine's trace keeps its own sockets: each transition once, on the lab network.
    assert {r["host"] for r in kernel} == {"client", "server"}
    assert all(r["saddr"] == machines.lab[r["host"]] for r in kernel)
    client_states = [r["newstate"] for r in kernel if r["host"] == "client"
                     and r["event"] == "inet_sock_set_state"]
    assert client_states == ["SYN-SENT", "ESTAB", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE"]
    packets = [json.loads(line) for line in (run / "packets.jsonl").read_text().splitlines()]
    # Both captures on the experiment interface (eth1), not the control network's.
    assert {(p["from"], p["to"]) for p in packets} == {("client", "server"), ("server", "client")}
    assert (run / "pcap" / "client.pcap").stat().st_size > 0


def test_a_changed_host_key_is_refused(machines, tmp_path, own_known_hosts):
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")],
                   check=True)
    other = " ".join((tmp_path / "other.pub").read_text().split()[:2])
    forged = tmp_path / "known_hosts"
    forged.write_text("".join(line + "\n" if not line.startswith(machines.control["server"])
                              else f"{machines.control['server']} {other}\n"
                              for line in machines.known_hosts.read_text().splitlines()))
    testbed = machines.write_testbed(known_hosts=str(forged))
    result = invoke("run", "--scenario", "close", "--variant", "graceful", "--testbed",
                    str(testbed), "--out", str(tmp_path / "out"), "--accept-new-host-keys")
    assert result.returncode == 2
    line = error_line(result)
    assert "has CHANGED" in line and str(forged) in line and "ssh-keygen -R" in line
    assert not list((tmp_path / "out").glob("*/run.json"))


def test_an_unknown_host_is_refused_then_accepted_when_asked(machines, tmp_path,
                                                              own_known_hosts):
    testbed = machines.write_testbed(known_hosts=None)
    refused = invoke("run", "--scenario", "close", "--variant", "graceful", "--testbed",
                     str(testbed), "--out", str(tmp_path / "out"))
    assert refused.returncode == 2
    line = error_line(refused)
    assert "is not known" in line and "SHA256:" in line and "ssh-keyscan" in line
    assert not own_known_hosts.exists()
    accepted = invoke("run", "--scenario", "close", "--variant", "graceful", "--testbed",
                      str(testbed), "--out", str(tmp_path / "out"), "--accept-new-host-keys")
    assert accepted.returncode == 0, accepted.stderr[-2000:]
    recorded = own_known_hosts.read_text().splitlines()
    assert sorted(line.split()[0] for line in recorded) == sorted(machines.control.values())
    # Recorded once: the next run trusts them without being told.
    again = invoke("run", "--scenario", "close", "--variant", "graceful", "--testbed",
                   str(testbed), "--out", str(tmp_path / "out"))
    assert again.returncode == 0, again.stderr[-2000:]


def test_a_machine_without_tcpdump_is_refused_with_the_install_line(machines, tmp_path):
    as_root(machines, "server", "mv /usr/bin/tcpdump /usr/bin/tcpdump.away")
    try:
        result = invoke("run", "--scenario", "close", "--variant", "graceful", "--testbed",
                        str(machines.testbed_file), "--out", str(tmp_path / "out"))
    finally:
        as_root(machines, "server", "mv /usr/bin/tcpdump.away /usr/bin/tcpdump")
    assert result.returncode == 2
    assert f"the server (root@{machines.control['server']}): missing tcpdump: " \
           "sudo apt-get install -y tcpdump" in result.stderr
    assert "client" not in result.stderr
    assert not left_on(machines)


def test_a_wrong_interface_is_refused(machines, tmp_path):
    testbed = machines.write_testbed(**{"client.interface": "eth7"})
    result = invoke("run", "--scenario", "close", "--variant", "graceful", "--testbed",
                    str(testbed), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "the client" in error_line(result) and "no interface eth7" in error_line(result)


def start_run(machines: Machines, out: Path) -> subprocess.Popen:
    """A run that shapes the link (the cleanup removes a delay line, a chain, a qdisc)."""
    return subprocess.Popen(
        [sys.executable, "-m", "invoke", "run", "--scenario", "close", "--variant", "graceful",
         "--server-delay", "5", "--latency", "5ms", "--testbed", str(machines.testbed_file),
         "--out", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for_programs(machines: Machines, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while "graceserver" not in as_root(machines, "server", "pgrep -a graceserver || true"):
        assert time.monotonic() < deadline, "the run's server never started"
        time.sleep(0.2)
    time.sleep(1.0)


def test_ctrl_c_mid_run_leaves_nothing_on_either_machine(machines, tmp_path):
    process = start_run(machines, tmp_path / "out")
    try:
        wait_for_programs(machines)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    assert not left_on(machines)
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("*/run.json")]
    assert "interrupted" in record["error"]


def test_a_dropped_connection_leaves_nothing_on_either_machine(machines, tmp_path):
    process = start_run(machines, tmp_path / "out")
    try:
        wait_for_programs(machines)
        # The client's sessions end (sshd's processes of user lab): the kit's connection
        # to it is gone mid-run, while the programs it started run on.
        as_root(machines, "client", "pkill -KILL -u lab sshd")
        _, stderr = process.communicate(timeout=90)
    finally:
        process.kill()
    assert process.returncode == 2, stderr
    assert "client" in error_line(subprocess.CompletedProcess([], 2, "", stderr))
    assert not left_on(machines)


def test_clean_removes_what_a_killed_run_left(machines, tmp_path):
    process = start_run(machines, tmp_path / "out")
    try:
        wait_for_programs(machines)
        process.kill()      # SIGKILL: no finally runs
        process.communicate(timeout=30)
    finally:
        process.kill()
    left = left_on(machines)
    assert "/tmp/netkit-" in left.get("server", "") and "graceserver" in left["server"]
    assert "NFQUEUE" in left["server"] and "netkit-delayline" in left["client"]
    result = invoke("clean", "--testbed", str(machines.testbed_file))
    assert result.returncode == 0, result.stderr
    assert "the server: removed" in result.stderr + result.stdout
    assert not left_on(machines)


def test_a_shaped_link_between_two_machines_is_measured(machines, tmp_path):
    result = invoke("run", "--scenario", "close", "--variant", "graceful", "--latency", "25ms",
                    "--testbed", str(machines.testbed_file), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr[-3000:]
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("*/run.json")]
    link = record["link"]
    # This kernel has no sch_netem: the userspace engine, on the experiment interface.
    assert link["engine"] == "userspace" and "the client: " in link["engine_reason"]
    assert all("-o eth1 " in " ".join(commands) for commands in link["commands"].values())
    assert link["configured_rtt_ms"] == 50
    assert abs(link["measured_rtt"]["median_ms"] - 50) <= 1 + 0.05 * 50, link["measured_rtt"]
    # Each capture sees its packets as they leave, after its own machine's delay line:
    # from the SYN leaving the client to the SYN-ACK reaching it, the server's 25 ms.
    packets = [json.loads(line) for line in
               next((tmp_path / "out").glob("*/packets.jsonl")).read_text().splitlines()]
    syn = next(p for p in packets if p["from"] == "client" and p["flags"] == ["SYN"])
    syn_ack = next(p for p in packets if p["from"] == "server" and p["flags"] == ["SYN", "ACK"])
    assert 0.025 <= syn_ack["t_arrived"] - syn["t"] <= 0.030, (syn, syn_ack)
    assert {c["name"] for c in record["checks"] if c["name"].startswith("link-")} >= \
        {"link-as-configured", "link-held-its-timing"}
    assert not left_on(machines)


def test_shaping_the_interface_of_the_ssh_session_is_refused(machines, tmp_path):
    testbed = machines.write_testbed(**{"server.interface": "eth0",
                                        "server.address": machines.control["server"]})
    result = invoke("run", "--scenario", "close", "--variant", "graceful", "--latency", "5ms",
                    "--testbed", str(testbed), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    line = error_line(result)
    assert "the server" in line and "eth0 carries the kit's SSH session" in line
    assert "shape_control_interface: true" in line
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    assert not left_on(machines)


def test_rerun_runs_again_on_the_machines_it_ran_on(catalog, machines, tmp_path):
    out, _ = catalog
    (source,) = out.glob("*-close-graceful")
    result = invoke("rerun", str(source), "--out", str(tmp_path / "again"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "every check's verdict is the same" in result.stdout
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "again").glob("*/run.json")]
    assert record["testbed"] == "ssh"
    assert record["environment"]["testbed_file"] == str(machines.testbed_file)
    assert not left_on(machines)


def test_an_experiment_runs_its_cells_one_at_a_time_on_the_machines(machines, tmp_path):
    result = invoke("experiment", "experiments/close-vs-shutdown.yaml", "--out", str(tmp_path),
                    "--testbed", str(machines.testbed_file), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = tmp_path / "experiments" / "close-vs-shutdown" / "runs"
    records = [json.loads(p.read_text()) for p in sorted(runs.glob("*/run.json"))]
    assert len(records) == 10
    assert all(r["verdict"] == "pass" and r["testbed"] == "ssh" for r in records)
    assert {r["environment"]["testbed_file"] for r in records} == {str(machines.testbed_file)}
    # One at a time: no two runs of the study overlap on the machines.
    spans = sorted((r["started_at"], r["finished_at"]) for r in records)
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))
    assert left_on(machines) == {}
