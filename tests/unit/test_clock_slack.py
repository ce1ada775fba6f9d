"""Two machines have two clocks: a check that orders a time of one machine against a
time of the other allows the clock offset's uncertainty (run.json's environment.clocks),
and nothing on one machine."""

from __future__ import annotations

import pytest

from kit.scenarios import Evidence, RunParameters, get_scenario

# The server's SHUT_RD at 1.0 s on its clock; the client's later data leaves at 0.9999 s
# on its own: 100 us "before", which two clocks 100 us apart each way cannot tell from after.
SERVER_EVENTS = [{"event": "shutdown", "t": 1.0, "ret": 0, "how": "SHUT_RD"},
                 {"event": "read", "t": 1.01, "ret": 5, "data": "later"}]
PACKETS = [{"from": "client", "flags": "PA", "t": 0.9999, "length": 5, "seq": 100, "ack": 50},
           {"from": "server", "flags": "A", "t": 1.0002, "length": 0, "seq": 50, "ack": 105}]


def judged(clock_slack: dict[str, float]) -> dict[str, bool]:
    evidence = Evidence(events={"server": SERVER_EVENTS, "client": []}, samples={},
                        counters={}, exit_status={}, packets=PACKETS, clock_slack=clock_slack)
    checks = get_scenario("shut-rd").judge("rd", RunParameters(), evidence)
    return {check.name: check.passed for check in checks}


def test_an_order_across_machines_within_the_clock_uncertainty_stands():
    verdicts = judged({"client": 0.0001, "server": 0.0001})
    assert verdicts["later-data-acked"] and verdicts["no-fin-from-shut-rd"]


def test_on_one_clock_the_same_times_are_the_wrong_order():
    assert judged({})["later-data-acked"] is False


def test_the_slack_is_both_machines_uncertainty_and_none_within_one():
    evidence = Evidence(events={}, samples={}, counters={}, exit_status={},
                        clock_slack={"client": 0.0001, "server": 0.0003})
    assert evidence.slack("client", "server") == pytest.approx(0.0004)
    assert evidence.slack("server", "server") == 0.0


def test_the_slack_is_read_from_what_run_json_records():
    environment = {"clocks": {"client": {"offset_s": 0.2, "uncertainty_s": 0.00012},
                              "server": {"offset_s": -0.1, "uncertainty_s": 0.00009}}}
    assert Evidence.slack_of(environment) == {"client": 0.00012, "server": 0.00009}
    assert Evidence.slack_of({"docker_engine": "20.10"}) == {}
