"""Your own images as the lab's hosts (--server-image, --client-image): a server image
FROM scratch, built here from a static binary, runs unchanged in the server's network
namespace while the kit's observers watch from the kit's container beside it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit.testbeds.docker import labels
from kit.testbeds.docker.apps import APP_OF
from tests.integration.conftest import ROOT, invoke, kit_resources

APP = Path(__file__).resolve().parent / "apps" / "scratch-server"
SOCAT_CLIENT = ("--client-command", "socat - TCP:{server}:{port}")
# Every file of the results contract (docs/results.md), as a run of the kit's programs has.
CONTRACT = ("run.json", "summary.md", "report.html", "counters.json", "packets.jsonl",
            "kernel.jsonl", "timeline.jsonl", "sequence.svg", "tcp_info.svg",
            "logs/client.log", "logs/server.log", "pcap/client.pcap", "pcap/server.pcap",
            "ss/client.jsonl", "ss/server.jsonl", "events/client.jsonl",
            "events/server.jsonl", "raw/kernel.trace",
            "raw/server/program.log", "raw/server/capture.pcap", "raw/server/ss.raw")


@pytest.fixture(scope="module")
def scratch_server(docker_client, lab_image):
    """lineserver alone in an image FROM scratch: no shell, no libc, nothing else."""
    tag = "netkit-test/lineserver:1"
    docker_client.images.build(path=str(APP), tag=tag, rm=True, forcerm=True,
                               buildargs={"LAB_IMAGE": lab_image.name},
                               labels={labels.IMAGE: "test"})
    yield tag
    docker_client.images.remove(tag, force=True)


def only_run(out: Path) -> tuple[Path, dict]:
    (run_json,) = out.glob("*/run.json")
    return run_json.parent, json.loads(run_json.read_text())


def test_a_scratch_server_image_against_the_kit_s_client_passes_with_every_file(
        tmp_path, scratch_server):
    result = invoke("run", "--server-image", scratch_server, "--port", "8080", *SOCAT_CLIENT,
                    "--client-input", "hello", "--client-input", "world",
                    "--out", str(tmp_path / "out"), "--junit", str(tmp_path / "junit.xml"))
    directory, record = only_run(tmp_path / "out")
    assert result.returncode == 0, [c for c in record["checks"] if not c["passed"]]
    assert [path for path in CONTRACT if not (directory / path).is_file()] == []
    assert [c["name"] for c in record["checks"]] == [
        "captures-complete", "connected", "connect-not-refused", "client-exits-0",
        "client-in-time", "server-serves-until-stopped"]
    server = record["programs"]["server"]
    assert server["image"] == scratch_server and server["stopped_by_kit"] is True
    assert server["exit"] == "killed by SIGTERM (15)"      # the engine's init passed it on
    assert record["parameters"]["port"] == 8080
    assert "listening on port 8080" in (directory / "logs" / "server.log").read_text()
    assert "ok: hello\nok: world" in (directory / "logs" / "client.log").read_text()
    # What crossed the wire, seen from the server's namespace by the kit's container.
    packets = [json.loads(line) for line in (directory / "packets.jsonl").open()]
    assert any(p["from"] == "server" and {"SYN", "ACK"} <= set(p["flags"]) for p in packets)
    assert any(p["from"] == "server" and "FIN" in p["flags"] for p in packets)
    kernel = [json.loads(line) for line in (directory / "kernel.jsonl").open()]
    assert any(r["host"] == "server" and r["event"] == "inet_sock_set_state" for r in kernel)
    assert (tmp_path / "junit.xml").read_text().count("<testcase ") == len(record["checks"])


def test_a_server_image_that_exits_at_once_fails_with_what_it_said(tmp_path, scratch_server):
    result = invoke("run", "--server-image", scratch_server, "--server-command", "8080 --die",
                    "--port", "8080", *SOCAT_CLIENT, "--client-input", "hello",
                    "--out", str(tmp_path))
    directory, record = only_run(tmp_path)
    assert result.returncode == 1 and "custom/custom: FAIL" in result.stdout, result.stderr
    checks = {c["name"]: c for c in record["checks"]}
    assert record["verdict"] == "fail" and checks["connected"]["passed"] is False
    assert checks["server-serves-until-stopped"]["observed"] == (
        "the server ended (exit 3) before it would listen on port 8080")
    assert record["programs"]["server"]["exit_status"] == 3
    assert "told to die" in (directory / "logs" / "server.log").read_text()


def test_images_on_both_sides_share_the_plugin_s_labs(netkit, scratch_server, lab_image):
    # The kit's port ({port}) lets a pooled lab give each run a port of its own; the
    # applications' containers are made anew for each run.
    runs = [netkit.run(server_image=scratch_server, server_command="{port}",
                       client_image=lab_image.name,
                       client_command="socat - TCP:{server}:{port}", client_input=[line])
            for line in ("first", "second")]
    assert [run.verdict for run in runs] == ["pass", "pass"]
    labs = [run.record.environment["lab"] for run in runs]
    assert labs[0]["pooled"] and labs[1]["id"] == labs[0]["id"]
    assert runs[0].record.parameters["port"] != runs[1].record.parameters["port"]
    assert runs[1].record.programs["client"]["image"] == lab_image.name
    assert "ok: second" in (runs[1].directory / "logs" / "client.log").read_text()


def test_an_image_that_no_registry_has_is_one_line_and_exit_2(tmp_path):
    result = invoke("run", "--server-image", "netkit-test/absent:0", "--client-command",
                    "true", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: image netkit-test/absent:0 is not on the engine and "
                           "could not be pulled") and "docker load" in last, result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "out").exists()


def test_ctrl_c_while_an_image_serves_removes_its_container_with_the_lab(
        tmp_path, scratch_server, docker_client):
    # A client that holds its connection for 30 s: the server's image is up meanwhile.
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "run", "--server-image", scratch_server,
         "--server-command", "{port}", "--client-command",
         "sh -c 'sleep 30 | socat - TCP:{server}:{port}'", "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 60
    while not docker_client.containers.list(filters={"label": APP_OF}) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    os.killpg(process.pid, signal.SIGINT)      # what a terminal's Ctrl-C does
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in output, output
    assert kit_resources(docker_client) == []
    assert docker_client.containers.list(all=True, filters={"label": APP_OF}) == []
    (run_json,) = tmp_path.glob("*/run.json")
    assert "interrupted" in json.loads(run_json.read_text())["error"]


def test_the_redis_example_builds_its_image_and_shows_who_closes_first(tmp_path):
    result = invoke("experiment", "experiments/redis-close.yaml", "--out", str(tmp_path),
                    timeout=600)
    study = tmp_path / "experiments" / "redis-close"
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "8 of 8 runs done: 8 passed" in (study / "summary.md").read_text()
    for run_json in (study / "runs").glob("*/run.json"):
        record = json.loads(run_json.read_text())
        passed = {c["name"] for c in record["checks"] if c["passed"]}
        closer = "client" if record["scenario"] == "ping" else "server"
        assert {f"{closer}-closes-first", f"{closer}-keeps-time-wait",
                "server-serves-until-stopped"} <= passed, run_json
        assert record["programs"]["server"]["image"] == "netkit-example/redis"
