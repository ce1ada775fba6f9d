"""Your images as a run's programs, as data: the options, the spec's JSON, the plan, the
checks a server from an image is judged on, an experiment file's keys, and where such
runs may go."""

from __future__ import annotations

from pathlib import Path

import pytest

from kit.cli.request import build_request
from kit.core.errors import BadInput
from kit.experiment.spec import load_experiment
from kit.run.programs import ImagePrograms, OwnPrograms, program_kind
from kit.scenarios import Evidence, RunParameters
from kit.scenarios.checks import run_checks
from kit.scenarios.custom import CustomScenario, ProgramsSpec, programs_from_options
from tests.unit.test_custom_checks import refused_run, segment


def image_server(**options) -> ProgramsSpec:
    spec = programs_from_options(None, "socat - TCP:{server}:{port}", server_image="nginx:1.27",
                                 **options)
    assert spec is not None
    return spec


def test_an_image_s_spec_survives_json_and_its_plan_names_the_image():
    spec = programs_from_options("{port}", None, server_image="lineserver:1",
                                 client_image="netkit/lab", port=8080)
    assert spec is not None and spec.images() == ("netkit/lab", "lineserver:1")
    assert ProgramsSpec.from_json("custom", spec.to_json()) == spec
    plan = CustomScenario(spec).plan("custom", RunParameters(port=8080))
    assert (plan.server_image, plan.server_command) == ("lineserver:1", ["8080"])
    assert (plan.client_image, plan.client_command) == ("netkit/lab", [])
    assert isinstance(program_kind(plan, RunParameters()), ImagePrograms)
    assert type(program_kind(CustomScenario(programs_from_options("s", "c")).plan(
        "custom", RunParameters()), RunParameters())) is OwnPrograms


def test_a_spec_without_images_writes_the_json_it_always_did():
    spec = programs_from_options("s", "c")
    assert spec is not None
    assert set(spec.to_json()) == {"server", "client", "input", "finish_timeout", "mount",
                                   "checks"}


def served(evidence: Evidence) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.passed, c.observed) for c in run_checks(
        CustomScenario(image_server()), "custom", RunParameters(), evidence)}


def working_run(**changes) -> Evidence:
    evidence = Evidence(events={}, samples={}, counters={},
                        exit_status={"client": 0, "server": 143}, stopped=["server"],
                        packets=[segment("client", ["SYN"], 0.1, 0.1001),
                                 segment("server", ["SYN", "ACK"], 0.1002, 0.1003)],
                        capture_counts={r: {"captured": 2, "received": 2, "dropped": 0}
                                        for r in ("client", "server")})
    for name, value in changes.items():
        setattr(evidence, name, value)
    return evidence


def test_a_server_from_an_image_passes_by_serving_until_the_kit_stops_it():
    checks = served(working_run())
    assert list(checks) == ["captures-complete", "connected", "connect-not-refused",
                            "client-exits-0", "client-in-time", "server-serves-until-stopped"]
    assert all(passed for passed, _ in checks.values())
    assert checks["server-serves-until-stopped"][1] == (
        "the server ran until the kit stopped it (killed by SIGTERM (15))")


def test_a_server_from_an_image_that_never_served_fails_and_says_how():
    ended = served(working_run(stopped=[], exit_status={"client": 0, "server": 0}))
    assert ended["server-serves-until-stopped"] == (
        False, "the server ended by itself (exit 0) instead of serving until the kit "
               "stopped it")
    never = refused_run()
    never.unready = {"server": "ended (exit 3) before it would listen on port 8080"}
    checks = served(never)
    assert checks["server-serves-until-stopped"] == (
        False, "the server ended (exit 3) before it would listen on port 8080")
    assert checks["connected"][0] is False and checks["connect-not-refused"][0] is False
    # Stopped, but its port never opened: not serving either.
    hung = working_run(unready={"server": "did not listen on port 80 within 10 s "
                                          "(still running)"})
    assert served(hung)["server-serves-until-stopped"][0] is False


def test_a_port_you_give_gets_a_lab_of_its_own_and_is_the_run_s_port():
    request = build_request(server_image="lineserver:1", client_command="socat - TCP:{server}:"
                            "{port}", port="8080")
    assert request.params.port == 8080 and not request.may_share_labs
    assert build_request(server_image="lineserver:1", server_command="{port}",
                         client_command="c").may_share_labs


def test_an_experiment_file_takes_images(tmp_path: Path):
    path = tmp_path / "apps.yaml"
    path.write_text("name: apps\nruns:\n  - name: line\n    server_image: lineserver:1\n"
                    "    server: '{port}'\n    client: socat - TCP:{server}:{port}\n")
    study = load_experiment(path)
    assert study.images == ("lineserver:1",)
    path.write_text("name: apps\nruns:\n  - name: line\n    server_image: lineserver:1\n")
    with pytest.raises(BadInput, match=r"apps.yaml:3: .*needs 'client' \(a command\) or "
                                       "'client_image'"):
        load_experiment(path)
    path.write_text("name: apps\nruns:\n  - name: line\n    server_image: 'a b'\n"
                    "    client: c\n")
    with pytest.raises(BadInput, match="server_image must name an image"):
        load_experiment(path)


def test_who_sends_the_first_fin_is_judged_across_both_captures():
    from kit.scenarios.custom import check_spec
    evidence = working_run(packets=[segment("server", ["FIN", "ACK"], 0.46),
                                    segment("client", ["FIN", "PSH", "ACK"], 0.67)])
    client_first = check_spec("client-closes-first", "first", {"from": "client", "flag": "FIN"})
    server_first = check_spec("server-closes-first", "first", {"from": "server", "flag": "FIN"})
    assert client_first.judge(evidence).passed is False
    assert client_first.judge(evidence).observed == "the first FIN is the server's, at +0.460 s"
    assert server_first.judge(evidence).passed is True
    assert client_first.judge(working_run(packets=[])).observed == "no FIN from either host"
    with pytest.raises(BadInput, match="flag must be one of"):
        check_spec("x", "first", {"from": "client", "flag": "FYN"})


def test_an_experiment_builds_the_images_it_names(tmp_path: Path):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n")
    path = tmp_path / "apps.yaml"
    path.write_text("name: apps\nimages:\n  my-app:1: app\nruns:\n  - name: line\n"
                    "    server_image: my-app:1\n    client: c\n")
    assert load_experiment(path).builds == (("my-app:1", str(tmp_path / "app")),)
    path.write_text("name: apps\nimages:\n  my-app:1: nowhere\nruns:\n  - name: line\n"
                    "    server_image: my-app:1\n    client: c\n")
    with pytest.raises(BadInput, match=r"apps.yaml:3: .*nowhere has no Dockerfile to build "
                                       "my-app:1 from"):
        load_experiment(path)
