"""`invoke run --scenario close` on real containers: verdicts and the evidence behind them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.cli import commands
from kit.testbeds.docker import labels
from kit.testbeds.factory import kept_labs
from tests.integration.conftest import invoke

REQUIRED_FILES = ["run.json", "summary.md", "events/client.jsonl", "events/server.jsonl",
                  "ss/client.jsonl", "ss/server.jsonl", "logs/client.log", "logs/server.log",
                  "pcap/client.pcap", "pcap/server.pcap", "packets.jsonl", "kernel.jsonl",
                  "timeline.jsonl", "sequence.svg", "tcp_info.svg", "report.html"]


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def run_directory(out: Path, variant: str) -> Path:
    (found,) = out.glob(f"*-close-{variant}")
    return found


@pytest.fixture(scope="module")
def both_variants(tmp_path_factory, lab_image):
    out = tmp_path_factory.mktemp("results")
    result = invoke("run", "--scenario", "close", "--server-delay", "0.5", "--out", str(out))
    return out, result


def test_both_variants_pass_and_exit_0(both_variants):
    out, result = both_variants
    assert result.returncode == 0, result.stderr[-2000:]
    assert "close/graceful: PASS" in result.stdout and "close/abrupt: PASS" in result.stdout
    assert "close/graceful: run " in result.stderr      # progress goes to stderr
    assert list(out.glob("*-close-comparison.md")) and list(out.glob("*-close-report.html"))


@pytest.mark.parametrize("variant", ["graceful", "abrupt"])
def test_results_hold_the_contract(both_variants, variant):
    directory = run_directory(both_variants[0], variant)
    for name in REQUIRED_FILES:
        assert (directory / name).is_file(), name
    record = json.loads((directory / "run.json").read_text())
    assert (record["scenario"], record["variant"], record["verdict"]) == ("close", variant, "pass")
    assert record["complete"] is True
    assert record["parameters"]["server_delay"] == 0.5
    for fact in ("kernel", "docker_engine", "compose", "image_id", "kit_version"):
        assert record["environment"][fact]
    assert record["checks"] and all(set(c) >= {"name", "passed", "expected", "observed"}
                                    for c in record["checks"])
    samples = lines(directory / "ss" / "client.jsonl")
    assert samples and all({"t", "state", "local", "peer", "timer"} <= set(s) for s in samples)
    sampled = [s["t"] for s in samples if s["source"] == "sampler"]
    gaps = sorted(b - a for a, b in zip(sampled, sampled[1:]))
    assert gaps[len(gaps) // 2] <= 0.06   # the median interval honours the 40 ms default
    # What each observer cost, from the kernel's own accounting in each container.
    for role in ("client", "server"):
        spent = record["observers_cpu_s"][role]
        assert set(spent) == {"netkit-ss", "tcpdump"}, spent   # no delay line: unshaped
        assert 0 < spent["netkit-ss"] < 2 and 0 < spent["tcpdump"] < 2, spent


def flows(directory: Path) -> list[tuple[str, str, str]]:
    return [(s["from"], " ".join(s["flags"]), s["payload"])
            for s in lines(directory / "packets.jsonl")]


def kernel_path(directory: Path, role: str) -> list[str]:
    return [r["newstate"] for r in lines(directory / "kernel.jsonl")
            if r["host"] == role and r["event"] == "inet_sock_set_state"]


def test_graceful_packets_and_kernel_transitions(both_variants):
    directory = run_directory(both_variants[0], "graceful")
    seen = flows(directory)
    assert seen[:3] == [("client", "SYN", ""), ("server", "SYN ACK", ""), ("client", "ACK", "")]
    data = [f for f in seen if f[2]]
    assert data == [("client", "PSH ACK", "data1"), ("client", "PSH ACK", "data2"),
                    ("server", "PSH ACK", "Hi, data1"), ("server", "PSH ACK", "Hi, data2")]
    client_fin = seen.index(("client", "FIN ACK", ""))
    server_fin = seen.index(("server", "FIN ACK", ""))
    assert client_fin < seen.index(data[2]) < seen.index(data[3]) < server_fin
    assert seen[-1] == ("client", "ACK", "")           # the last ACK, then TIME-WAIT
    assert not [f for f in seen if "RST" in f[1]]
    assert kernel_path(directory, "client")[-4:] == ["ESTAB", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE"]
    assert kernel_path(directory, "server")[-4:] == ["ESTAB", "CLOSE-WAIT", "LAST-ACK", "CLOSE"]


def test_abrupt_packets_and_kernel_transitions(both_variants):
    directory = run_directory(both_variants[0], "abrupt")
    seen = flows(directory)
    assert seen.index(("client", "FIN ACK", "")) < seen.index(("server", "PSH ACK", "Hi, data1"))
    assert seen[-2:] == [("server", "PSH ACK", "Hi, data1"), ("client", "RST", "")]
    assert kernel_path(directory, "client")[-4:] == ["ESTAB", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE"]
    assert kernel_path(directory, "server")[-2:] == ["CLOSE-WAIT", "CLOSE"]
    kernel = lines(directory / "kernel.jsonl")
    reset = next(r for r in kernel if r["event"] == "tcp_send_reset")
    assert (reset["host"], reset["reason"]) == ("client", "TCP_TIMEWAIT_SOCKET")
    assert any(r["event"] == "tcp_receive_reset" and r["host"] == "server" for r in kernel)


@pytest.mark.parametrize("variant", ["graceful", "abrupt"])
def test_sequence_diagram_has_an_arrow_per_segment(both_variants, variant):
    import xml.etree.ElementTree as ET

    directory = run_directory(both_variants[0], variant)
    svg = ET.parse(directory / "sequence.svg").getroot()
    arrows = [e for e in svg.iter("{http://www.w3.org/2000/svg}line")
              if "segment" in e.get("class", "").split()]
    assert len(arrows) == len(lines(directory / "packets.jsonl")) > 8
    resets = [e for e in arrows if "segment-rst" in e.get("class")]
    assert len(resets) == (1 if variant == "abrupt" else 0)
    page = (directory / "report.html").read_text()
    assert "<svg" in page and "client-kernel-transitions" in page


def test_graceful_evidence(both_variants):
    directory = run_directory(both_variants[0], "graceful")
    client = lines(directory / "events" / "client.jsonl")
    server = lines(directory / "events" / "server.jsonl")
    shutdown = next(e for e in client if e["event"] == "shutdown")
    replies = [e["data"] for e in client if e["event"] == "read" and e["ret"] > 0]
    assert replies == ["Hi, data1", "Hi, data2"]
    assert all(e["t"] > shutdown["t"] for e in client if e["event"] == "read")
    assert [e for e in client if e["event"] == "read"][-1]["ret"] == 0     # EOF last
    assert any(e["event"] == "read" and e["ret"] == 0 for e in server)
    states = [s["state"] for s in lines(directory / "ss" / "client.jsonl")]
    assert "FIN-WAIT-2" in states and states[-1] == "TIME-WAIT"
    assert "CLOSE-WAIT" in [s["state"] for s in lines(directory / "ss" / "server.jsonl")]
    record = json.loads((directory / "run.json").read_text())
    assert record["counters"]["client"].get("TcpOutRsts", 0) == 0
    assert "server terminated" in (directory / "logs" / "client.log").read_text()


def test_abrupt_evidence(both_variants):
    directory = run_directory(both_variants[0], "abrupt")
    client = lines(directory / "events" / "client.jsonl")
    server = lines(directory / "events" / "server.jsonl")
    closed = next(e for e in client if e["event"] == "close")
    assert not [e for e in client if e["event"] == "read"]
    writes = [e for e in server if e["event"] == "write"]
    assert writes[0]["ret"] == 9 and writes[0]["t"] > closed["t"]
    assert writes[1]["ret"] == -1 and writes[1]["errno"] == "EPIPE"
    record = json.loads((directory / "run.json").read_text())
    assert record["counters"]["client"]["TcpOutRsts"] >= 1
    assert record["programs"]["server"]["exit_status"] == 1
    assert "Hi," not in (directory / "logs" / "client.log").read_text()


@pytest.mark.parametrize("sigpipe,server_exit", [("default", 141), ("handler", 1)])
def test_server_sigpipe_dispositions(tmp_path, lab_image, sigpipe, server_exit):
    code = commands.run("close", variant="abrupt", server_delay="0.3", sigpipe=sigpipe, out=str(tmp_path))
    directory = run_directory(tmp_path, "abrupt")
    record = json.loads((directory / "run.json").read_text())
    assert code == 0, record["checks"]
    assert record["programs"]["server"]["exit_status"] == server_exit
    server = lines(directory / "events" / "server.jsonl")
    if sigpipe == "handler":
        assert any(e["event"] == "signal" and e["name"] == "SIGPIPE" for e in server)
        assert "received SIGPIPE" in (directory / "logs" / "server.log").read_text()
    else:
        assert server[-1]["event"] != "exit"   # killed inside send(): no last word


def test_keep_leaves_the_lab_up_until_down(tmp_path, lab_image, docker_client, compose):
    """Under each Compose: a run passes, says which Compose made its lab, and labels all
    of it; 'down' then leaves nothing."""
    result = invoke("run", "--scenario", "close", "--variant", "graceful", "--server-delay",
                    "0.2", "--keep", "--out", str(tmp_path))
    running = kept_labs().running()
    try:
        assert result.returncode == 0, result.stderr[-2000:]
        (run_json,) = tmp_path.glob("*/run.json")
        record = json.loads(run_json.read_text())
        assert record["verdict"] == "pass"
        made_by = f"{compose.described} {'1.' if compose.version == 'v1' else compose.version}"
        assert record["environment"]["compose"].startswith(made_by), record["environment"]
        assert len(running) == 1
        run_label = f"{labels.RUN_ID}={running[0]}"
        containers = docker_client.containers.list(filters={"label": run_label})
        networks = docker_client.networks.list(filters={"label": run_label})
        assert sorted(c.labels[labels.ROLE] for c in containers) == ["client", "server"]
        assert all(c.labels[labels.MANAGED] == "true" and c.labels[labels.KEPT] == "true"
                   for c in containers)
        assert [n.attrs["Labels"][labels.MANAGED] for n in networks] == ["true"]
        assert "invoke down --run" in result.stderr
    finally:
        for lab in running:
            down = invoke("down", "--run", lab)
            assert down.returncode == 0, down.stderr
    assert kept_labs().running() == []
