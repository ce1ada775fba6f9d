"""The SSH testbed's pure parts: the testbed file, host-key policy, the pre-flight's
reading and advice, clock offsets, the cleanup scripts (run in a real shell on a
directory of the test's), and each machine's trace kept to its own sockets."""

from __future__ import annotations

import subprocess
import textwrap
from dataclasses import replace
from pathlib import Path

import paramiko
import pytest

from kit.core.errors import BadInput
from kit.run.collect import kernel_records
from kit.testbeds.ssh import clocks, preflight
from kit.testbeds.ssh.config import SshTarget, parse_target, read_machines
from kit.testbeds.ssh.keys import HostKeyRefused, KnownHosts, fingerprint
from kit.testbeds.ssh.marks import MARK, remove_run_script, shaping_leftovers

GOOD = textwrap.dedent("""\
    client:
      ssh: lab@pc-1:2222
      address: 10.9.0.1
      interface: enp3s0
      sudo: true
      identity: keys/lab
    server:
      ssh: "[fe80::1]"
      address: 10.9.0.2
      interface: eth1
    known_hosts: lab_known_hosts
    """)


def test_a_testbed_file_is_read_with_files_relative_to_it(tmp_path):
    path = tmp_path / "machines.yaml"
    path.write_text(GOOD)
    machines = read_machines(path)
    client, server = machines.machines["client"], machines.machines["server"]
    assert client.ssh == SshTarget("pc-1", "lab", 2222) and client.sudo
    assert client.identity == tmp_path / "keys" / "lab"
    assert server.ssh == SshTarget("fe80::1") and not server.sudo
    assert str(server.ssh) == "[fe80::1]"
    assert machines.known_hosts == tmp_path / "lab_known_hosts"


@pytest.mark.parametrize("change, message", [
    (("interface: eth1", "interface: 'eth1; reboot'"), "10: server.interface: 'eth1; reboot' is not an interface"),
    (("sudo: true", "sudo: yes please"), "5: client.sudo: must be true or false"),
    (("ssh: lab@pc-1:2222", "ssh: lab@pc-1:99999"), "2: client.ssh: 'lab@pc-1:99999' is not"),
    (("known_hosts: lab_known_hosts", "known_hosts: [a]"), "11: known_hosts: must be a file"),
])
def test_every_field_is_checked_where_it_is_written(tmp_path, change, message):
    path = tmp_path / "machines.yaml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(BadInput) as refused:
        read_machines(path)
    assert f"machines.yaml:{message}" in str(refused.value)


def test_targets():
    assert parse_target("alias") == SshTarget("alias")
    assert parse_target("root@10.0.0.1:22") == SshTarget("10.0.0.1", "root", 22)
    for bad in ("a b", "@host", "user@", "host:0", "host:x"):
        assert parse_target(bad) is None, bad


def key() -> paramiko.PKey:
    return paramiko.RSAKey.generate(1024)


def test_an_unknown_host_key_is_refused_with_the_command_that_trusts_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NETKIT_KNOWN_HOSTS", str(tmp_path / "kit_known_hosts"))
    client = paramiko.SSHClient()
    KnownHosts([tmp_path / "none"]).load_into(client)
    offered = key()
    with pytest.raises(HostKeyRefused) as refused:
        client._policy.missing_host_key(client, "[10.0.0.5]:2222", offered)
    said = str(refused.value)
    assert fingerprint(offered) in said
    assert "ssh-keyscan -p 2222 -t ssh-rsa 10.0.0.5 >> ~/.ssh/known_hosts" in said
    assert not (tmp_path / "kit_known_hosts").exists()


def test_accept_new_records_the_key_in_the_kits_own_file(tmp_path, monkeypatch):
    own = tmp_path / "config" / "kit_known_hosts"
    monkeypatch.setenv("NETKIT_KNOWN_HOSTS", str(own))
    client = paramiko.SSHClient()
    KnownHosts([], accept_new=True).load_into(client)
    offered = key()
    client._policy.missing_host_key(client, "10.0.0.5", offered)
    assert paramiko.HostKeys(str(own)).lookup("10.0.0.5")["ssh-rsa"] == offered


def test_a_changed_key_names_the_file_that_holds_the_old_one(tmp_path, monkeypatch):
    monkeypatch.setenv("NETKIT_KNOWN_HOSTS", str(tmp_path / "kit"))
    old, new = key(), key()
    user_file = tmp_path / "known_hosts"
    user_file.write_text(f"10.0.0.5 ssh-rsa {old.get_base64()}\n")
    said = str(KnownHosts([user_file]).changed("10.0.0.5", new, old))
    assert "has CHANGED" in said and fingerprint(new) in said and fingerprint(old) in said
    assert f"ssh-keygen -R '10.0.0.5' -f {user_file}" in said
    assert fingerprint(old).startswith("ssh-rsa SHA256:") and "=" not in fingerprint(old)


RECORDED_PREFLIGHT = """kernel Linux 6.1.0-18-amd64
os ubuntu
uid 1000
missing tcpdump
missing nstat
no-address
control 192.168.1.10 50522 192.168.1.20 22
"""


def test_the_preflight_says_what_is_missing_and_how_to_install_it(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(GOOD)
    machine = read_machines(path).machines["server"]
    facts = preflight.MachineFacts.parse(RECORDED_PREFLIGHT)
    assert facts.kernel == "Linux 6.1.0-18-amd64" and facts.control_address == "192.168.1.20"
    assert preflight.problems(machine, facts) == [
        "the kit needs root there: log in as root or set 'sudo: true' (passwordless sudo)",
        "missing tcpdump, nstat: sudo apt-get install -y tcpdump iproute2",
        "eth1 does not have the address 10.9.0.2 (see 'ip addr' there)"]
    assert preflight.install_line("rocky", ["ss", "sysctl"]) == \
        "sudo dnf install -y iproute procps-ng"
    assert preflight.install_line("gentoo", ["tc"]).startswith("install the packages")


def test_the_preflight_script_runs_in_a_real_shell():
    machine = read_machines_text(GOOD).machines["server"]
    output = subprocess.run(["sh", "-c", preflight.script(machine)], capture_output=True,
                            text=True, check=True).stdout
    facts = preflight.MachineFacts.parse(output)
    assert facts.kernel.startswith("Linux") and facts.uid >= 0 and facts.no_interface


def read_machines_text(text: str):
    import tempfile
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "m.yaml"
        path.write_text(text)
        return read_machines(path)


def test_the_tightest_round_trip_decides_the_offset():
    readings = [(10.0, 10.5, 10.2), (11.0, 11.052, 11.004), (12.0, 11.9, 12.3)]
    best = clocks.tightest(readings)
    assert best.offset_s == pytest.approx(0.05) and best.uncertainty_s == pytest.approx(0.002)
    both = clocks.combined(best, clocks.ClockOffset(0.054, 0.001))
    assert both.offset_s == pytest.approx(0.052) and both.uncertainty_s == pytest.approx(0.004)
    answers = iter(['{"rt":100.0125,"mono":1}'])
    times = iter([100.0, 100.025])
    measured = clocks.measure(lambda: next(answers), samples=1, clock=lambda: next(times))
    assert measured.offset_s == pytest.approx(0.0) and measured.uncertainty_s == \
        pytest.approx(0.0125)


def test_cleanup_kills_the_runs_programs_and_removes_only_a_marked_directory(tmp_path):
    run = tmp_path / "netkit-run1"
    (run / "pids").mkdir(parents=True)
    (run / "run").mkdir()
    (run / MARK).write_text("run1\n")
    sleeper = subprocess.Popen(["sleep", "60"])
    (run / "pids" / "x.pid").write_text(f"{sleeper.pid}\n")
    unmarked = tmp_path / "netkit-other"
    unmarked.mkdir()
    for root in (run, unmarked):
        subprocess.run(["sh", "-c", remove_run_script(str(root))], check=True)
    assert sleeper.wait(5) == -9
    assert not run.exists() and unmarked.exists()


TRACE_LINE = ("graceclient-{pid} [000] ..... {mono}: inet_sock_set_state: family=AF_INET "
              "protocol=IPPROTO_TCP sport={sport} dport={dport} saddr={saddr} daddr={daddr} "
              "saddrv6=::ffff:{saddr} daddrv6=::ffff:{daddr} oldstate=TCP_SYN_SENT "
              "newstate=TCP_ESTABLISHED")


def test_each_machines_trace_keeps_its_own_sockets_on_its_own_clock():
    addresses = {"client": "10.9.0.1", "server": "10.9.0.2"}
    client_side = dict(sport=50000, dport=43211, saddr="10.9.0.1", daddr="10.9.0.2")
    server_side = dict(sport=43211, dport=50000, saddr="10.9.0.2", daddr="10.9.0.1")
    # Both machines see both sockets (one kernel in containers); each keeps its own.
    text = (f"### client\n{TRACE_LINE.format(pid=1, mono='100.500000', **client_side)}\n"
            f"{TRACE_LINE.format(pid=2, mono='100.600000', **server_side)}\n"
            f"### server\n{TRACE_LINE.format(pid=2, mono='7.600000', **server_side)}\n"
            f"{TRACE_LINE.format(pid=1, mono='7.500000', **client_side)}\n")
    events = {"client": [{"t": 1.0, "mono": 100.0}], "server": [{"t": 1.0, "mono": 7.0}]}
    records = kernel_records(text, events, addresses, 43211, t0=0.0)
    assert [(r["host"], r["t"]) for r in records] == [("client", 1.5), ("server", 1.6)]


# As the pre-flight reported it, shaping asked, on a machine whose kernel lacks netem and
# whose experiment interface is the one SSH came in on.
RECORDED_SHAPING_PREFLIGHT = """\
missing-shaping iptables
control-interface eth1
netem: Error: Specified qdisc kind is unknown.
kernel Linux 6.18.44
os debian
uid 0
control 192.168.1.10 50522 10.9.0.2 22
"""


def test_shaping_refuses_the_interface_ssh_came_in_on_and_asks_for_iptables():
    machine = read_machines_text(GOOD).machines["server"]
    facts = preflight.MachineFacts.parse(RECORDED_SHAPING_PREFLIGHT)
    assert facts.control_interface == "eth1" and facts.missing_for_shaping == ["iptables"]
    probe = facts.netem_probe()
    assert not probe.available and "Specified qdisc kind is unknown" in probe.reason
    found = preflight.problems(machine, facts, shapes=True)
    assert found[0].startswith("eth1 carries the kit's SSH session (10.9.0.2)")
    assert found[1] == "missing iptables (to shape the link): sudo apt-get install -y iptables"
    # Told so, the kit shapes it; unshaped runs never ask.
    allowed = replace(machine, shape_control_interface=True)
    assert preflight.problems(allowed, facts, shapes=True) == [found[1]]
    assert preflight.problems(machine, facts) == []


def test_with_netem_there_iptables_is_not_needed():
    machine = read_machines_text(GOOD).machines["client"]
    facts = preflight.MachineFacts.parse(RECORDED_SHAPING_PREFLIGHT.replace(
        "netem: Error: Specified qdisc kind is unknown.", "netem: ok\nseed: yes"))
    assert facts.netem_probe().available and facts.netem_probe().tc.netem_seed
    assert preflight.problems(machine, facts, shapes=True) == []


def test_the_shaping_preflight_runs_in_a_real_shell_and_probes_netem_in_a_namespace():
    machine = read_machines_text(GOOD).machines["server"]
    output = subprocess.run(["sh", "-c", preflight.script(machine, shapes=True)],
                            capture_output=True, text=True, check=True).stdout
    facts = preflight.MachineFacts.parse(output)
    probe = facts.netem_probe()
    # This kernel has no sch_netem (see the environment notes); either way, tc answered.
    assert probe.available or probe.reason not in ("", "no answer from the probe"), output


def test_leftover_shaping_is_named_and_nothing_else_is_touched():
    script = shaping_leftovers("eth1", remove=True)
    assert "grep -q ' 4e6b: '" in script and "-t mangle -S NETKIT" in script
    assert "-D POSTROUTING -o eth1 -j NETKIT" in script and "delayline.pid" not in script
    listed = subprocess.run(["sh", "-c", shaping_leftovers("lo", remove=False)],
                            capture_output=True, text=True, check=True)
    assert listed.stdout == ""
