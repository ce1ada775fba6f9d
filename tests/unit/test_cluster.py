"""A study over a Dask cluster, its pure parts: the --cluster address, the programs that
travel with the experiment file, and a run directory landing once, whole, at once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from kit.core.errors import BadInput
from kit.experiment.cluster import land, parse_cluster, shipped_mounts
from kit.experiment.spec import load_experiment
from kit.experiment.worker import pack, unpack


@pytest.mark.parametrize("text, local", [("local:2", 2), ("local:64", 64),
                                         ("tcp://10.0.0.5:8786", 0),
                                         ("tls://sched.lab:8786", 0)])
def test_cluster_addresses(text, local):
    address = parse_cluster(text)
    assert address.local_workers == local and str(address) == text


@pytest.mark.parametrize("text, message", [
    ("local:0", "takes 1 to 64 workers"), ("local:65", "takes 1 to 64 workers"),
    ("tcp://host", "give local:N"), ("http://host:8786", "give local:N"),
    ("tcp://host:8786/x", "give local:N"), ("local", "give local:N")])
def test_cluster_addresses_the_kit_refuses(text, message):
    with pytest.raises(BadInput, match=message):
        parse_cluster(text)


def experiment_with_mount(directory: Path, mount: str) -> Path:
    path = directory / "study.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: mounted
        runs:
          - name: echo
            server: python3 /opt/netkit/user/serve.py {{port}}
            client: socat - TCP:{{server}}:{{port}}
            mount: {mount}
        """))
    return path


def test_the_programs_travel_beside_the_file(tmp_path):
    (tmp_path / "programs").mkdir()
    (tmp_path / "programs" / "serve.py").write_text("print('hi')\n")
    shipped = shipped_mounts(load_experiment(experiment_with_mount(tmp_path, "programs")))
    assert list(shipped) == ["programs"]
    unpack(shipped["programs"], tmp_path / "elsewhere" / "programs")
    assert (tmp_path / "elsewhere" / "programs" / "serve.py").read_text() == "print('hi')\n"


def test_programs_outside_the_files_directory_are_refused(tmp_path):
    (tmp_path / "programs").mkdir()
    (tmp_path / "study").mkdir()
    experiment = load_experiment(experiment_with_mount(tmp_path / "study", "../programs"))
    with pytest.raises(BadInput, match="outside the experiment file's directory"):
        shipped_mounts(experiment)


def a_result(tmp_path: Path, cell: str, marker: str) -> dict:
    run = tmp_path / "made" / marker / cell
    run.mkdir(parents=True)
    (run / "run.json").write_text(f'{{"marker": "{marker}"}}')
    return {"status": "pass", "archive": pack(run), "log": "", "where": {}}


class Cell:
    id = "close-graceful-r1"


def test_a_run_lands_whole_and_only_once(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    assert land(a_result(tmp_path, Cell.id, "first"), runs, Cell())
    # The same cell again (a task the scheduler ran twice): the first copy stays.
    assert not land(a_result(tmp_path, Cell.id, "second"), runs, Cell())
    assert (runs / Cell.id / "run.json").read_text() == '{"marker": "first"}'
    assert sorted(p.name for p in runs.iterdir()) == [Cell.id]    # no staging left
    assert not land({"status": "error", "archive": None}, runs, Cell())
