"""A study spread over a Dask cluster: a local cluster of two workers (each a lab of its
own on this Docker engine) runs a 12-cell study to the same verdicts and summary as the
study on one machine, each run saying which worker ran it; Ctrl-C then a resume, and a
worker SIGKILLed mid-cell, end in that same summary, each cell once."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from distributed import Client

from tests.integration.clusterhosts import dask_scheduler
from tests.integration.conftest import ROOT, invoke

STUDY = """\
name: spread
description: twelve cells over two workers
runs:
  - scenario: close
  - scenario: shut-rd
repetitions: 3
parameters:
  server_delay: 0.3s
"""


def summary(directory: Path) -> list[tuple[str, str]]:
    with (directory / "summary.csv").open() as file:
        return [(row["cell"], row["verdict"]) for row in csv.DictReader(file)]


@pytest.fixture(scope="module")
def studies(tmp_path_factory, lab_image):
    root = tmp_path_factory.mktemp("cluster")
    (root / "spread.yaml").write_text(STUDY)
    spread = invoke("experiment", str(root / "spread.yaml"), "--cluster", "local:2",
                    "--out", str(root / "cluster"), timeout=900)
    alone = invoke("experiment", str(root / "spread.yaml"), "--out", str(root / "alone"),
                   timeout=900)
    return spread, alone, root


def test_a_local_cluster_gives_the_verdicts_and_summary_of_one_machine(studies):
    spread, alone, root = studies
    assert spread.returncode == 0, spread.stderr[-3000:]
    assert alone.returncode == 0, alone.stderr[-3000:]
    assert "cluster local:2: 2 worker(s), 2 labs at a time" in spread.stderr
    on_cluster = summary(root / "cluster" / "experiments" / "spread")
    assert len(on_cluster) == 12
    assert on_cluster == summary(root / "alone" / "experiments" / "spread")


def test_each_run_says_which_worker_ran_it_and_landed_once(studies):
    _, _, root = studies
    runs = root / "cluster" / "experiments" / "spread" / "runs"
    records = [json.loads(p.read_text()) for p in sorted(runs.glob("*/run.json"))]
    assert len(records) == 12 and sorted(p.name for p in runs.iterdir()) == \
        sorted(r["experiment"]["cell"] for r in records)     # nothing half-landed beside
    workers = {r["experiment"]["worker"]["worker"] for r in records}
    assert len(workers) == 2, workers
    assert all(r["experiment"]["worker"]["docker_endpoint"] for r in records)


def test_a_finished_study_resumes_to_nothing(studies):
    _, _, root = studies
    again = invoke("experiment", str(root / "spread.yaml"), "--cluster", "local:2",
                   "--out", str(root / "cluster"), timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "12 of 12 runs already done" in again.stderr


def start_study(study: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "invoke", "experiment", str(study),
                             "--cluster", "local:2", "--out", str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.Error:        # gone, or a zombie by now
        return ""


def wait_for_cells(process: subprocess.Popen, landed: Path, count: int,
                   timeout: float = 180) -> list[psutil.Process]:
    """Once ``count`` runs have landed, the cells running now (processes of the
    workers: python -m kit.experiment.cell)."""
    deadline = time.monotonic() + timeout
    while True:
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the study did not get going"
        cells = [p for p in psutil.Process(process.pid).children(recursive=True)
                 if "kit.experiment.cell" in command_line(p)]
        if len(list(landed.glob("*/run.json"))) >= count and cells:
            return cells
        time.sleep(0.2)


def test_ctrl_c_then_resume_gives_the_summary_of_an_uninterrupted_study(studies, tmp_path):
    _, _, root = studies
    out = tmp_path / "out"
    process = start_study(root / "spread.yaml", out)
    runs = out / "experiments" / "spread" / "runs"
    try:
        wait_for_cells(process, runs, 2)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=180)
    finally:
        process.kill()
    assert process.returncode == 130, stderr[-3000:]
    landed = [json.loads(p.read_text()) for p in runs.glob("*/run.json")]
    assert 2 <= len(landed) < 12
    # A run the busy machine left inconclusive is run again on resume, not kept.
    done = sum(record["verdict"] != "inconclusive" for record in landed)
    again = invoke("experiment", str(root / "spread.yaml"), "--cluster", "local:2", "--out",
                   str(out), timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{done} of 12 runs already done" in again.stderr
    assert summary(out / "experiments" / "spread") == \
        summary(root / "alone" / "experiments" / "spread")


def test_a_worker_killed_mid_study_costs_a_rerun_not_a_cell(studies, tmp_path):
    _, _, root = studies
    out = tmp_path / "out"
    process = start_study(root / "spread.yaml", out)
    runs = out / "experiments" / "spread" / "runs"
    try:
        worker = wait_for_cells(process, runs, 1)[0].parent()
        killed = worker.pid
        worker.kill()      # the worker of a running cell: SIGKILL, mid-cell
        _, stderr = process.communicate(timeout=900)
    finally:
        process.kill()
    assert process.returncode == 0, stderr[-3000:]
    # The killed worker's scratch directory went with a later cell of the host.
    assert not list(Path(tempfile.gettempdir()).glob(f"netkit-cell-{killed}-*"))
    cells = [json.loads(p.read_text())["experiment"]["cell"] for p in runs.glob("*/run.json")]
    assert sorted(cells) == sorted(set(cells)) and len(cells) == 12
    assert summary(out / "experiments" / "spread") == \
        summary(root / "alone" / "experiments" / "spread")


def test_a_scheduler_lost_mid_study_is_one_line_and_keeps_what_landed(studies, tmp_path):
    _, _, root = studies
    with dask_scheduler(tmp_path) as scheduler:
        worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker",
                                   scheduler, "--nthreads", "1", "--resources", "lab=1",
                                   "--no-dashboard"], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            # The study refuses a cluster with no worker: wait until this one has joined
            # (on a loaded machine it took longer than the study's start once).
            with Client(scheduler, timeout="30s") as client:
                client.wait_for_workers(1, timeout=120)
            out = tmp_path / "out"
            study = subprocess.Popen(
                [sys.executable, "-m", "invoke", "experiment", str(root / "spread.yaml"),
                 "--cluster", scheduler, "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True)
            runs = out / "experiments" / "spread" / "runs"
            try:
                deadline = time.monotonic() + 180
                while not list(runs.glob("*/run.json")):
                    assert study.poll() is None and time.monotonic() < deadline, \
                        study.communicate()[1][-3000:]
                    time.sleep(0.2)
                # It retitles itself 'dask scheduler [<address>]'.
                (scheduler_process,) = [p for p in psutil.process_iter()
                                        if f"[{scheduler}]" in command_line(p)]
                scheduler_process.kill()
                _, stderr = study.communicate(timeout=300)
            finally:
                study.kill()
        finally:
            worker.kill()       # its cell stops (parent-death signal) and removes its lab
            worker.wait()
            deadline = time.monotonic() + 60
            while any("kit.experiment.cell" in command_line(p) for p in psutil.process_iter()) \
                    and time.monotonic() < deadline:
                time.sleep(0.2)
    assert study.returncode == 2, stderr[-3000:]
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert errors and "lost the Dask scheduler mid-study" in errors[0], stderr[-3000:]
    assert list(runs.glob("*/run.json")), "the runs that landed are kept"
    assert (out / "experiments" / "spread" / "summary.csv").exists()
    # The killed worker's scratch directory: no later cell on this host removed it.
    cleaned = invoke("clean")
    assert cleaned.returncode == 0, cleaned.stderr
    assert not list(Path(tempfile.gettempdir()).glob("netkit-cell-*"))
