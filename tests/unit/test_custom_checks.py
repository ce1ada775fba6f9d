"""Your own programs are judged on what happened: a run in which nothing did never passes."""

from __future__ import annotations

import pytest

from kit.core.errors import BadInput
from kit.scenarios import Evidence, RunParameters
from kit.scenarios.checks import run_checks
from kit.scenarios.custom import (
    CustomScenario,
    expected_exit,
    expected_packet,
    programs_from_options,
)
from tests.unit.test_close_verdict import recorded


def segment(sender: str, flags: list[str], t: float, arrived: float | None = None) -> dict:
    return {"from": sender, "to": "server" if sender == "client" else "client",
            "flags": flags, "t": t, "t_arrived": arrived, "length": 0, "seq": 0, "ack": 0}


def judged(evidence: Evidence, **options) -> dict[str, bool]:
    spec = programs_from_options("server-program {port}", "client-program {server} {port}",
                                 **options)
    return {c.name: c.passed for c in run_checks(CustomScenario(spec), "custom",
                                                  RunParameters(), evidence)}


def refused_run() -> Evidence:
    """The issue's run: the server died at once (exit 1), the client's connect was refused."""
    return Evidence(events={}, samples={}, counters={}, exit_status={"client": 1, "server": 1},
                    packets=[segment("client", ["SYN"], 0.10, 0.1001),
                             segment("server", ["RST", "ACK"], 0.1002, 0.1003)],
                    capture_counts={r: {"captured": 2, "received": 2, "dropped": 0}
                                    for r in ("client", "server")})


def test_a_run_where_nothing_worked_fails_every_default_check_it_should():
    verdicts = judged(refused_run())
    assert verdicts == {"captures-complete": True, "connected": False,
                        "connect-not-refused": False, "client-exits-0": False,
                        "server-exits-0": False, "client-in-time": True,
                        "server-in-time": True}


def test_a_working_exchange_passes_the_default_checks(data):
    evidence = recorded(data, "graceful")   # a real handshake and clean exits
    assert all(judged(evidence).values())
    evidence.stopped.append("server")
    assert judged(evidence)["server-in-time"] is False


def test_checks_on_the_command_line_replace_the_defaults():
    verdicts = judged(refused_run(), expect_exit=["server=1", "client=1"],
                      expect_packet=["server RST", "client no FIN"])
    assert verdicts == {"captures-complete": True, "server-exits-1": True,
                        "client-exits-1": True, "server-sends-rst": True,
                        "client-never-sends-fin": True}


@pytest.mark.parametrize("text", ["server", "server=", "router=1", "client=one"])
def test_a_bad_expected_exit_is_one_line(text):
    with pytest.raises(BadInput, match="--expect-exit takes ROLE=STATUS"):
        expected_exit(text)


@pytest.mark.parametrize("text", ["client", "client rst", "client never RST", "host RST"])
def test_a_bad_expected_packet_is_one_line(text):
    with pytest.raises(BadInput, match="--expect-packet takes 'ROLE FLAG' or 'ROLE no FLAG'"):
        expected_packet(text)


def test_expectations_need_your_own_programs():
    with pytest.raises(BadInput, match="go with your own programs"):
        programs_from_options(expect_exit=["server=1"])


def test_the_spec_from_the_command_line_and_its_plan():
    spec = programs_from_options("srv {port}", "cli {server} {port}", inputs=["a", "b"],
                                 expect_exit=["server=1"], expect_packet=["client no RST"])
    assert spec.to_json() == {
        "server": ["srv", "{port}"], "client": ["cli", "{server}", "{port}"],
        "input": [{"at": 0.0, "line": "a"}, {"at": 0.5, "line": "b"},
                  {"at": 1.0, "close_stdin": True}],
        "finish_timeout": 10.0, "mount": None,
        "checks": [{"name": "server-exits-1", "exit": {"role": "server", "status": 1}},
                   {"name": "client-never-sends-rst",
                    "packet": {"from": "client", "flag": "RST", "expect": False}}]}
    scenario = CustomScenario(spec)
    assert (scenario.name, list(scenario.variants)) == ("custom", ["custom"])
    assert scenario.variants["custom"] == "server: srv {port}; client: cli {server} {port}"
    plan = scenario.plan("custom", RunParameters(port=4000))
    assert (plan.server_command, plan.client_command) == (["srv", "4000"],
                                                          ["cli", "{server}", "4000"])
    assert (plan.server_args, plan.client_args, plan.server_finish_timeout) == ([], [], 10.0)
    assert [(s.at, s.line, s.close_stdin) for s in plan.script] == [
        (0.0, "a", False), (0.5, "b", False), (1.0, "", True)]


@pytest.mark.parametrize("kind, options, message", [
    ("speed", {}, "unknown check kind 'speed': choose one of exit, packet, bytes, state, "
                  "output, connected, refused, in_time, first, serving"),
    ("exit", {"role": "client"}, "a exit check needs role, status: status missing"),
    ("bytes", {}, "a bytes check needs from, to: from, to missing"),
    ("exit", {"role": "router", "status": 0}, "role must be client or server: got 'router'"),
    ("packet", {"from": "router", "flag": "FIN"},
     "from must be client or server: got 'router'"),
    ("bytes", {"from": "client", "to": "router"}, "to must be client or server: got 'router'"),
    ("packet", {"from": "client", "flag": "URG"},
     "flag must be one of SYN, FIN, RST, PSH, ACK: got 'URG'"),
    ("exit", {"role": "client", "status": "0"}, "status must be a whole number: got '0'"),
])
def test_a_bad_check_is_refused_with_what_is_allowed(kind, options, message):
    from kit.scenarios.custom import check_spec

    with pytest.raises(BadInput) as raised:
        check_spec("c", kind, options)
    assert str(raised.value) == message


def test_bad_program_options_are_refused_with_what_to_do(tmp_path):
    for given, missing in (({"server_command": "s"}, "client"),
                           ({"client_command": "c"}, "server"),
                           ({"server_command": "", "client_command": "c"}, "server"),
                           ({"server_image": "nginx"}, "client")):
        with pytest.raises(BadInput) as raised:
            programs_from_options(**given)
        assert str(raised.value) == (f"give your {missing} too: --{missing}-command or "
                                     f"--{missing}-image (your own programs replace both of "
                                     "the kit's)")
    for alone in ({"inputs": ["x"]}, {"mount": str(tmp_path)}, {"expect_packet": ["client FIN"]},
                  {"port": 80}):
        with pytest.raises(BadInput, match="go with your own programs"):
            programs_from_options(**alone)
    with pytest.raises(BadInput) as raised:
        programs_from_options("s", "c", mount=str(tmp_path / "none"))
    assert str(raised.value) == f"--mount must be a directory: {tmp_path / 'none'} is not one"
    spec = programs_from_options("s", "c", mount=str(tmp_path))
    assert spec is not None and spec.mount == str(tmp_path.resolve())
    assert programs_from_options() is None


def test_read_results_in_words():
    from kit.scenarios.checks import read_result

    assert read_result(None) == "none"
    assert read_result({"ret": 1}) == "1 bytes" and read_result({"ret": 9}) == "9 bytes"
    assert read_result({"ret": 0}) == "EOF"
    assert read_result({"ret": -1, "errno": "ECONNRESET"}) == "ECONNRESET"
    assert read_result({"ret": -1}) == "error"
