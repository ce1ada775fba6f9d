"""A RunSpec is one run as data, the only thing that crosses a process boundary: it
survives JSON unchanged, a study's cell becomes one, and a cluster's worker runs the
same spec on its own labs with the programs shipped beside it."""

from __future__ import annotations

import json
import textwrap

from kit.core.parameters import RunParameters
from kit.experiment.cell import cell_spec
from kit.experiment.cluster import cell_payload, shipped_mounts
from kit.experiment.executor import StudyPlan
from kit.experiment.spec import load_experiment
from kit.experiment.worker import here
from kit.run.spec import RunSpec
from kit.scenarios.custom import CustomScenario, programs_from_options


class StandInProvider:
    def to_json(self) -> dict:
        return {"kind": "docker", "base_image": "debian:bookworm-slim", "image": None}


def test_a_spec_survives_json_unchanged(tmp_path):
    programs = programs_from_options("sh -c 'exit 1'", "socat - TCP:{server}:{port}",
                                     ["hello"], expect_exit=["server=1"])
    specs = [RunSpec("close", "abrupt", RunParameters(server_delay=0.3), tmp_path,
                     (("latency", "20ms"), ("loss", "1%")), shaping={"engine": "netem",
                                                                     "reason": "r"},
                     lab={"lab": "pool-1-1", "runs_before": 2, "tracer": None},
                     directory_name="cell-1", experiment={"name": "x", "cell": "cell-1"}),
             RunSpec("custom", "custom", RunParameters(), tmp_path, programs=programs)]
    for spec in specs:
        again = RunSpec.from_json(json.loads(json.dumps(spec.to_json())))
        assert again == spec
    assert specs[0].run_parameters().link_rtt == specs[0].link_request().round_trip_bound() > 0
    assert specs[0].link_shaping() is not None and specs[0].link_shaping().engine == "netem"
    assert isinstance(specs[1].scenario_object(), CustomScenario)
    assert specs[1].recorded() == {"link": {}, "base_image": "debian:bookworm-slim",
                                   "programs": programs.to_json()}


def test_a_cell_becomes_the_spec_of_its_run(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent("""\
        name: sweep
        runs:
          - scenario: close
            variants: [abrupt]
        matrix:
          latency: [10ms]
        parameters:
          server_delay: 0.4
        """))
    experiment = load_experiment(path)
    (cell,) = experiment.cells()
    spec = cell_spec(cell, experiment, tmp_path / "out", StandInProvider().to_json(),
                     {"engine": "netem", "reason": "r"}, "debian:bookworm-slim")
    assert (spec.scenario, spec.variant, spec.directory_name) == ("close", "abrupt", cell.id)
    assert spec.out == tmp_path / "out" / "runs" and dict(spec.link)["latency"] == "10ms"
    assert spec.params.server_delay == 0.4 and spec.run_parameters().link_rtt > 0
    assert spec.experiment == {"name": "sweep", "cell": cell.id, "axes": {"latency": "10ms"},
                               "repetition": 1, "run": "close"}


def test_a_worker_runs_the_same_spec_on_its_labs_with_the_programs_beside_it(tmp_path):
    (tmp_path / "programs").mkdir()
    (tmp_path / "programs" / "serve.py").write_text("print('hi')\n")
    path = tmp_path / "study.yaml"
    path.write_text(textwrap.dedent("""\
        name: mounted
        runs:
          - name: echo
            server: python3 /opt/netkit/user/serve.py {port}
            client: socat - TCP:{server}:{port}
            mount: programs
        """))
    experiment = load_experiment(path)
    (cell,) = experiment.cells()
    plan = StudyPlan(experiment, tmp_path / "out", {}, "debian:bookworm-slim")
    payload = cell_payload(plan, cell, shipped_mounts(experiment), "stop")
    assert list(payload["mounts"]) == ["programs"]
    sent = RunSpec.from_json(json.loads(json.dumps(payload["spec"])))
    assert sent.mount == "programs"
    scratch = tmp_path / "worker"
    landed = here(sent, scratch, StandInProvider())
    assert landed.mount == str(scratch / "programs") and landed.out == scratch / "runs"
    assert landed.testbed == StandInProvider().to_json()
    assert landed.programs is not None and sent.programs is not None
    assert landed.programs.server_command == sent.programs.server_command
