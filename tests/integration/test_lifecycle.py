"""Teardown in every case: Ctrl-C mid-run, a failed start, and clean by label."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from kit.core.errors import LabFailure
from kit.core.record import new_run_id
from kit.testbeds.docker import labels
from kit.testbeds.docker.lab import ComposeLab
from tests.integration.conftest import ROOT, invoke, kit_resources


@pytest.mark.parametrize("moment", ["lab starting", "scenario running"])
def test_ctrl_c_removes_the_lab_and_keeps_the_results(tmp_path, lab_image, docker_client, moment, compose):
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "run", "--scenario", "close", "--variant", "graceful",
         "--server-delay", "2", "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 60
    # Wait for the run to begin (its directory), then for the chosen moment.
    while not list(tmp_path.glob("*/run.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    if moment == "scenario running":
        while not docker_client.containers.list(filters=labels.managed_filter()) \
                and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(1.0)
    os.killpg(process.pid, signal.SIGINT)      # what a terminal's Ctrl-C does
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "Traceback" not in output
    assert kit_resources(docker_client) == []
    (run_json,) = tmp_path.glob("*/run.json")
    record = json.loads(run_json.read_text())
    assert record["complete"] is False and record["verdict"] == "error"
    assert "interrupted" in record["error"]
    assert (run_json.parent / "summary.md").read_text().startswith("# close / graceful: ERROR")


def test_ctrl_c_in_the_second_run_of_a_pooled_lab_removes_the_pool(tmp_path, lab_image,
                                                                    docker_client, compose):
    """Both variants share one lab: Ctrl-C during the second removes it (and the shared
    tracing helper); the first run stays whole, the second is marked incomplete."""
    process = subprocess.Popen(
        [sys.executable, "-m", "invoke", "run", "--scenario", "close", "--server-delay", "2",
         "--out", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 90
    while len(list(tmp_path.glob("*/run.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(1.5)
    os.killpg(process.pid, signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "Traceback" not in output
    assert kit_resources(docker_client) == []
    records = {r["variant"]: r for r in (json.loads(p.read_text())
                                         for p in tmp_path.glob("*/run.json"))}
    assert records["graceful"]["verdict"] == "pass"
    assert records["graceful"]["environment"]["lab"]["pooled"] is True
    assert records["abrupt"]["complete"] is False and "interrupted" in records["abrupt"]["error"]


def test_a_run_that_fails_mid_way_cleans_up_and_keeps_what_it_saw(tmp_path, lab_image):
    import dataclasses

    from kit.run.session import RunSession
    from kit.scenarios import RunParameters, get_scenario
    from kit.testbeds.docker.testbed import DockerComposeTestbed

    broken = dataclasses.replace(RunParameters(server_delay=0.2), port=70000)  # not a port
    with pytest.raises(LabFailure, match="did not listen"):
        RunSession(get_scenario("close"), "graceful", broken, DockerComposeTestbed(lab_image),
                   tmp_path).run()
    (run_json,) = tmp_path.glob("*/run.json")
    record = json.loads(run_json.read_text())
    assert record["verdict"] == "error" and "did not listen" in record["error"]
    assert record["kernel_trace"]["recorded"] is True      # the tracer ran, and was removed
    assert "usage: graceserver" in (run_json.parent / "logs" / "server.log").read_text()


def test_a_run_that_ends_in_an_error_is_in_the_junit_report(tmp_path, lab_image):
    import dataclasses

    from kit.cli import commands
    from kit.cli.request import build_request

    request = build_request("close", variant="graceful", server_delay="0.2", out=str(tmp_path),
                            junit=str(tmp_path / "junit.xml"))
    broken = dataclasses.replace(request, params=dataclasses.replace(request.params,
                                                                     port=70000))
    with pytest.raises(LabFailure, match="did not listen"):
        commands.execute(broken)
    report = (tmp_path / "junit.xml").read_text()
    assert report.count("<testsuite ") == 1 and "<error " in report
    assert "did not listen" in report


def test_runs_without_kernel_trace_say_why(tmp_path, lab_image):
    from kit.cli import commands

    assert commands.run("close", variant="abrupt", server_delay="0.2", out=str(tmp_path),
                        kernel_trace=False) == 0
    (run_json,) = tmp_path.glob("*/run.json")
    record = json.loads(run_json.read_text())
    assert record["kernel_trace"] == {"recorded": False,
                                      "reason": "turned off (--no-kernel-trace)"}
    assert not (run_json.parent / "kernel.jsonl").exists()
    # The kernel's transitions cannot be judged without its trace: said, never a pass.
    unjudged = [c for c in record["checks"] if c.get("judged") is False]
    assert sorted(c["name"] for c in unjudged) == ["client-kernel-transitions",
                                                   "server-kernel-transitions"]
    assert all("turned off" in c["observed"] and not c["passed"] for c in unjudged)
    assert record["verdict"] == "pass"
    assert "PASS (2 not judged)" in (run_json.parent / "summary.md").read_text()
    assert (run_json.parent / "sequence.svg").exists()


def test_a_lab_that_cannot_start_is_removed(lab_image, docker_client, compose):
    with pytest.raises(LabFailure), ComposeLab(new_run_id(), image="netkit/no-such-image:0"):
        pass
    assert kit_resources(docker_client) == []


def test_clean_removes_by_label_only(lab_image, docker_client, compose):
    run_id = new_run_id()
    kit_labels = {labels.MANAGED: "true", labels.RUN_ID: run_id}
    network = docker_client.networks.create(f"netkit-{run_id}-stray", labels=kit_labels)
    stray = docker_client.containers.create(lab_image.name, labels=kit_labels)
    bystander = docker_client.containers.create(lab_image.name, name=f"bystander-{run_id}")
    try:
        result = invoke("clean")
        assert result.returncode == 0, result.stderr
        assert "removed 1 container(s), 1 network(s)" in result.stderr
        assert kit_resources(docker_client) == []
        bystander.reload()          # not the kit's: untouched
    finally:
        bystander.remove(force=True)
        for leftover in (stray, network):
            try:
                leftover.remove()
            except Exception:
                pass


def test_clean_removes_the_trace_instance_of_a_killed_run(lab_image, docker_client):
    from kit.testbeds.docker.tracer import DockerKernelTracer as KernelTracer
    from kit.testbeds.docker.tracer import leftover_instances

    tracer = KernelTracer(new_run_id(), lab_image.name, port=43211)
    tracer.start()
    # As if the run were killed: its helper vanishes and nobody removes the instance.
    tracer._helper.container.remove(force=True)
    tracer._helper = None
    assert tracer.instance in leftover_instances(lab_image.name)
    result = invoke("clean")
    assert result.returncode == 0, result.stderr
    assert "1 tracefs instance(s)" in result.stderr
    assert tracer.instance not in leftover_instances(lab_image.name)


def test_a_tracer_whose_helper_vanished_still_removes_its_instance(lab_image, docker_client):
    from kit.testbeds.docker.tracer import DockerKernelTracer as KernelTracer
    from kit.testbeds.docker.tracer import leftover_instances

    tracer = KernelTracer(new_run_id(), lab_image.name, port=43211)
    tracer.start()
    tracer._helper.container.remove(force=True)     # e.g. someone ran 'docker rm -f'
    tracer.close()
    assert tracer.instance not in leftover_instances(lab_image.name)


def test_without_tracefs_the_run_goes_on_and_says_why(tmp_path, lab_image, monkeypatch):
    from kit.observe import kernel
    from kit.run.session import RunSession
    from kit.scenarios import RunParameters, get_scenario
    from kit.testbeds.docker.testbed import DockerComposeTestbed

    monkeypatch.setattr(kernel, "TRACEFS", "/no/tracefs/here")
    outcome = RunSession(get_scenario("close"), "abrupt", RunParameters(server_delay=0.2),
                         DockerComposeTestbed(lab_image), tmp_path).run()
    assert outcome.verdict == "pass"
    reason = outcome.record.kernel_trace
    assert reason["recorded"] is False and reason["reason"].startswith("tracefs is not usable")
    assert not (outcome.directory / "kernel.jsonl").exists()


def test_ctrl_c_in_the_first_milliseconds_leaves_nothing(tmp_path, lab_image, docker_client, compose):
    """The tracer starts in the background as the lab comes up; a Ctrl-C in that very
    instant (once it landed inside the executor's submit()) must still remove it; the
    autouse fixtures check that no tracefs instance is left either."""
    for attempt, delay in enumerate([0.0, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3]):
        out = tmp_path / str(attempt)
        process = subprocess.Popen(
            [sys.executable, "-m", "invoke", "run", "--scenario", "close", "--variant",
             "graceful", "--out", str(out)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        deadline = time.monotonic() + 60
        while not list(out.glob("*/run.json")) and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(delay)
        os.killpg(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 130, output
        assert kit_resources(docker_client) == [], f"after a Ctrl-C {delay} s in: {output}"
