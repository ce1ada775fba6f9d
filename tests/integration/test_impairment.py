"""The link really is what was asked for: delays measured by TCP handshakes, loss seen by
the receiver's own capture, a scenario judged across a slow link, and --clear undoing it.

These use the engine this kernel can run; netem itself is checked for real in a VM
(test_netem_vm.py) where the kernel lacks it.
"""

from __future__ import annotations

import json
import re
import statistics

import pytest

from kit.core.record import new_run_id
from kit.impair.apply import (
    apply_link,
    choose_engine,
    clear_link,
    measure_rtt,
    shaping_on,
)
from kit.impair.spec import parse_link
from kit.testbeds.docker.lab import ComposeLab
from kit.testbeds.docker.probe import probe_netem
from tests.integration.conftest import invoke


@pytest.fixture(scope="module")
def lab(lab_image):
    with ComposeLab(new_run_id(), lab_image.name) as running:
        yield running


@pytest.fixture(scope="module")
def netem(lab_image):
    return probe_netem(lab_image.name)


def rtt(lab, count=9) -> float:
    return statistics.median(measure_rtt(lab.hosts["server"], lab.hosts["client"],
                                         lab.endpoint("server").address, count))


def shape(lab, netem, **options):
    link = parse_link(**options)
    engine, _ = choose_engine(link, netem)
    return apply_link(lab.hosts, link, engine)


@pytest.mark.parametrize("one_way_ms", [10, 50, 200])
@pytest.mark.parametrize("direction", ["client-to-server", "server-to-client"])
def test_the_delay_is_delivered(lab, netem, one_way_ms, direction):
    applied = shape(lab, netem, latency=f"{one_way_ms}ms", direction=direction)
    measured = rtt(lab)
    # Only the shaped direction is delayed: the round trip carries it once.
    assert abs(measured - one_way_ms) <= 2 + 0.1 * one_way_ms, (measured, applied["engine"])
    sender = "client" if direction == "client-to-server" else "server"
    other = "server" if sender == "client" else "client"
    assert shaping_on(lab.hosts[sender]) and not shaping_on(lab.hosts[other])


def test_both_directions_carry_the_latency_twice(lab, netem):
    shape(lab, netem, latency="50ms")
    measured = rtt(lab)
    assert abs(measured - 100) <= 2 + 0.1 * 100, measured


def test_clear_restores_the_undelayed_round_trip(lab, netem):
    shape(lab, netem, latency="50ms")
    assert rtt(lab, 3) > 90
    clear_link(lab.hosts)
    assert rtt(lab) < 2
    assert not shaping_on(lab.hosts["client"]) and not shaping_on(lab.hosts["server"])
    # Clearing twice is harmless: it removes only what is there.
    clear_link(lab.hosts)


def count_icmp(kind: str, text: str) -> int:
    return len([line for line in text.splitlines() if f"ICMP echo {kind}" in line])


def test_total_loss_blocks_only_its_direction(lab, netem):
    shape(lab, netem, loss="100%", direction="client-to-server")
    client, server = lab.hosts["client"], lab.hosts["server"]
    # The client captures what arrives from the server while the server pings it.
    listening = client.run(["sh", "-c", "tcpdump -i eth0 -n -l icmp >/tmp/icmp.txt "
                                        "2>/tmp/icmp.log & echo $!; until grep -q listening "
                                        "/tmp/icmp.log; do sleep 0.01; done"]).stdout.strip()
    try:
        ping = server.run(["ping", "-c", "3", "-i", "0.2", "-W", "1", lab.endpoint("client").address],
                          check=False, timeout=15)
    finally:
        # SIGINT: tcpdump writes out what it holds, then exits.
        client.run(["sh", "-c", f"kill -INT {listening}; while kill -0 {listening} "
                                "2>/dev/null; do sleep 0.01; done"], check=False)
    arrived = client.run(["cat", "/tmp/icmp.txt"]).stdout
    assert count_icmp("request", arrived) == 3          # server -> client: open
    assert "100% packet loss" in ping.stdout                      # client -> server: shut
    assert ping.exit_code == 1
    clear_link(lab.hosts)
    assert rtt(lab, 3) < 2


def test_reapplying_replaces_without_file_exists(lab, netem):
    for latency in ("20ms", "20ms", "40ms"):
        shape(lab, netem, latency=latency, direction="client-to-server")
    assert abs(rtt(lab) - 40) <= 2 + 4
    delay_lines = lab.hosts["client"].run(["sh", "-c", "pgrep -c netkit-delayline || true"])
    assert delay_lines.stdout.strip() in ("0", "1")   # never two delay lines at once
    clear_link(lab.hosts)


def test_a_failing_tool_is_reported_in_its_own_words(lab):
    from kit.impair.apply import ImpairmentFailed, run_commands

    with pytest.raises(ImpairmentFailed) as error:
        run_commands(lab.hosts["client"], "client",
                     ["true", "tc qdisc replace dev eth9 root handle 4e6b: tbf rate 1mbit "
                      "burst 6000 limit 10000"])
    assert "shaping the client's link failed at 'tc qdisc replace dev eth9" in str(error.value)
    assert "eth9" in str(error.value).split(": ", 1)[1]


@pytest.mark.parametrize("variant", ["graceful", "abrupt"])
def test_the_close_scenario_keeps_its_verdicts_at_100ms(netkit, variant):
    """Through the kit's own pytest plugin (the netkit fixture), as a user's test would."""
    run = netkit.run("close", variant, latency="100ms")
    assert run.verdict == "pass", run.describe()
    link = run.record.link or {}
    assert link["configured_rtt_ms"] == 200
    assert abs(link["measured_rtt"]["median_ms"] - 200) <= 22
    assert "link-as-configured" in [c.name for c in run.checks]
    assert any("netkit-delayline" in c or "netem" in c for c in link["commands"]["client"])
    if link["engine"] == "userspace":   # the delay line's CPU, counted with the observers'
        assert all(0 < (run.record.observers_cpu_s or {})[role]["netkit-delayline"] < 2
                   for role in ("client", "server")), run.record.observers_cpu_s
    # data1 left the client's interface (its capture sees packets after the shaping)
    # 100 ms after write() returned: the delay is on the wire, not in the programs.
    write = next(e for e in run.events("client", "write") if e.get("data") == "data1")
    segment = next(s for s in run.packets.with_data(from_="client") if s["payload"] == "data1")
    assert 0.09 <= segment["t"] - write["t"] <= 0.13


def test_netem_on_this_kernel_or_its_absence_said_with_the_fix(netem, tmp_path):
    """Where the kernel has netem, the kit uses it; where not, asking for it is refused
    in one line with the fix, exit 2, and nothing written."""
    result = invoke("run", "--scenario", "close", "--variant", "graceful", "--latency", "10ms",
                    "--impair-engine", "netem", "--out", str(tmp_path / "out"))
    if netem.available:
        assert result.returncode == 0, result.stderr[-2000:]
        record = json.loads(next((tmp_path / "out").glob("*/run.json")).read_text())
        assert record["link"]["engine"] == "netem"
    else:
        assert result.returncode == 2
        assert result.stderr.strip().splitlines()[-1].startswith(
            "error: --impair-engine netem: netem is missing on this kernel")
        assert "modprobe sch_netem" in result.stderr
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "out").exists()


def test_userspace_refuses_by_name_before_anything_starts(tmp_path):
    result = invoke("run", "--scenario", "close", "--latency", "10ms", "--duplicate", "1%",
                    "--impair-engine", "userspace", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: the userspace engine cannot apply --duplicate"
    assert not (tmp_path / "out").exists()


def test_jitter_spreads_the_delay_around_its_latency(lab, netem):
    shape(lab, netem, latency="50ms", jitter="10ms", distribution="normal",
          direction="client-to-server")
    samples = measure_rtt(lab.hosts["server"], lab.hosts["client"], lab.endpoint("server").address, 100)
    assert abs(statistics.median(samples) - 50) <= 2 + 5, statistics.median(samples)
    assert 6 < statistics.stdev(samples) < 14, statistics.stdev(samples)
    clear_link(lab.hosts)


def test_jitter_keeps_a_flows_segments_in_order(lab, netem, tmp_path):
    """Without --reorder, a connection's segments arrive in the order they were sent,
    however much the jitter varies their delays (the userspace engine's promise)."""
    import dpkt

    from kit.impair.apply import PROBE_PORT, probe_listener

    # The userspace engine's promise (netem reorders under jitter by design).
    shape(lab, netem, latency="20ms", jitter="10ms", distribution="normal",
          direction="client-to-server", impair_engine="userspace")
    server, client = lab.hosts["server"], lab.hosts["client"]
    server.run(["sh", "-c", "mkdir -p /tmp/flow && (setsid tcpdump -i eth0 -n -U -w "
                            f"/tmp/flow/in.pcap tcp dst port {PROBE_PORT} >/tmp/flow/log 2>&1 &) "
                            "&& until grep -q listening /tmp/flow/log; do sleep 0.01; done"])
    try:
        with probe_listener(server):
            sent = json.loads(client.run(["netkit-probe", "send", lab.endpoint("server").address,
                                          str(PROBE_PORT), "1"], timeout=60).stdout)
    finally:
        server.run(["sh", "-c", "pkill -INT tcpdump; while pgrep tcpdump >/dev/null; do "
                                "sleep 0.01; done"], check=False)
    clear_link(lab.hosts)
    (capture,) = [p for p in server.fetch_dir("/tmp/flow", tmp_path) if p.suffix == ".pcap"]
    sequence = [dpkt.ethernet.Ethernet(frame).data.data.seq
                for _, frame in dpkt.pcap.Reader(capture.open("rb"))
                if len(dpkt.ethernet.Ethernet(frame).data.data.data)]
    assert sent["bytes"] > 100_000 and len(sequence) > 50
    sequence = [(seq - sequence[0]) % 2**32 for seq in sequence]   # may wrap
    # Out of order: a segment first seen after a later one. A retransmission (a timer
    # firing under jitter) repeats a sequence number already seen: not reordering.
    seen, highest, reordered = set(), -1, []
    for seq in sequence:
        if seq < highest and seq not in seen:
            reordered.append(seq)
        seen.add(seq)
        highest = max(highest, seq)
    assert not reordered, f"{len(reordered)} of {len(sequence)} segments arrived out of order"


def test_impair_and_clear_a_kept_lab_by_hand():
    """invoke up, invoke impair --latency, invoke impair --clear, invoke down."""
    up = invoke("up")
    assert up.returncode == 0, up.stderr[-2000:]
    run_id = re.search(r"--run (manual-\S+)", up.stderr).group(1)
    try:
        shaped = invoke("impair", "--run", run_id, "--latency", "30ms")
        assert shaped.returncode == 0, shaped.stderr[-2000:]
        median = float(re.search(r"round trip now median ([0-9.]+) ms", shaped.stderr).group(1))
        assert abs(median - 60) <= 2 + 6, shaped.stderr
        assert re.search(r"client: .*NFQUEUE|client: .*netem", shaped.stderr)
        cleared = invoke("impair", "--run", run_id, "--clear")
        assert cleared.returncode == 0, cleared.stderr[-2000:]
        assert "client: unshaped" in cleared.stderr and "server: unshaped" in cleared.stderr
        median = float(re.search(r"round trip now median ([0-9.]+) ms", cleared.stderr).group(1))
        assert median < 2
        refused = invoke("impair", "--run", run_id, "--latency", "fast")
        assert refused.returncode == 2
        assert refused.stderr.strip() == ("error: --latency must be a time like 100ms, 0.1s or "
                                          "500us (a bare number is seconds): got 'fast'")
    finally:
        invoke("down", "--run", run_id)
