"""The close scenario's checks, judged on evidence recorded from real runs."""

import dataclasses
import json

import pytest

from kit.core.checks import verdict_of
from kit.observe.capture import capture_counts, parse_pcap, segments
from kit.observe.counters import difference
from kit.observe.events import parse_events
from kit.observe.kernel import for_lab, parse_trace
from kit.observe.ss import parse_samples
from kit.run.collect import monotonic_offset
from kit.scenarios import Evidence, RunParameters, get_scenario
from kit.scenarios.checks import run_checks

ROLES = ("client", "server")
close = get_scenario("close")


def recorded(data, variant) -> Evidence:
    run = json.loads((data / f"run-{variant}.json").read_text())
    t0 = run["t0"]
    addresses = {r: run["hosts"][r]["address"] for r in ROLES}
    counters = json.loads((data / f"counters-{variant}.json").read_text())
    events = {r: parse_events((data / f"events-{variant}-{r}.jsonl").read_text(), t0)
              for r in ROLES}
    captures = {r: parse_pcap((data / f"capture-{variant}-{r}.pcap").read_bytes(), 43211)
                for r in ROLES}
    trace = parse_trace((data / f"kernel-{variant}.trace").read_text())
    return Evidence(
        packets=segments(captures, addresses, t0),
        kernel=for_lab(trace, addresses, 43211, monotonic_offset(events, t0)),
        capture_counts={r: capture_counts((data / f"tcpdump-{variant}-{r}.txt").read_text())
                        for r in ROLES},
        events=events,
        samples={r: parse_samples((data / f"ss-{variant}-{r}.txt").read_text(), t0) for r in ROLES},
        counters={r: difference(counters[r]["before"], counters[r]["after"]) for r in ROLES},
        exit_status={r: events[r][-1]["status"] for r in ROLES},
        logs={r: (data / f"log-{variant}-{r}.txt").read_text() for r in ROLES},
    )


def verdicts(variant, evidence, params=RunParameters()):
    return {c.name: c.passed for c in run_checks(close, variant, params, evidence)}


@pytest.mark.parametrize("variant", ["graceful", "abrupt"])
def test_recorded_runs_pass_every_check(data, variant):
    checks = run_checks(close, variant, RunParameters(), recorded(data, variant))
    assert checks and all(c.passed for c in checks), [c for c in checks if not c.passed]


def test_abrupt_checks_cite_the_evidence(data):
    checks = {c.name: c for c in run_checks(close, "abrupt", RunParameters(),
                                                   recorded(data, "abrupt"))}
    rst = checks["client-kernel-sent-rst"].observed
    assert "TcpOutRsts +1" in rst and '"Hi, data1"' in rst
    assert "reason TCP_TIMEWAIT_SOCKET" in rst
    assert "EPIPE" in checks["server-next-write-fails"].observed
    assert "FIN ACK seq=11 ack=1" in checks["client-sent-fin"].observed


def test_no_rst_segment_means_the_rst_check_fails(data):
    evidence = recorded(data, "abrupt")
    evidence.packets = [s for s in evidence.packets if "RST" not in s["flags"]]
    assert verdicts("abrupt", evidence)["client-kernel-sent-rst"] is False


def test_an_incomplete_capture_is_reported(data):
    evidence = recorded(data, "graceful")
    evidence.capture_counts["server"]["received"] += 4
    assert verdicts("graceful", evidence)["captures-complete"] is False


def test_without_a_kernel_trace_the_kernel_checks_are_not_judged(data):
    evidence = recorded(data, "abrupt")
    assert verdicts("abrupt", evidence)["client-kernel-transitions"] is True
    evidence.kernel, evidence.untraced = None, "no kernel trace (turned off)"
    checks = {c.name: c for c in run_checks(close, "abrupt", RunParameters(), evidence)}
    for role in ROLES:
        check = checks[f"{role}-kernel-transitions"]
        assert check.outcome == "not judged" and not check.passed
        assert "turned off" in check.observed
    assert verdict_of(list(checks.values())) == "pass"


def test_a_missing_server_fin_fails_the_graceful_fins(data):
    evidence = recorded(data, "graceful")
    evidence.packets = [s for s in evidence.packets
                        if not (s["from"] == "server" and "FIN" in s["flags"])]
    assert verdicts("graceful", evidence)["fins-both-ways"] is False


def test_a_reply_shown_after_close_fails(data):
    evidence = recorded(data, "abrupt")
    evidence.logs["client"] += "Hi, data1\n"
    assert verdicts("abrupt", evidence)["client-shows-no-reply-after-close"] is False


def test_replies_before_the_close_fail_the_timing_check(data):
    evidence = recorded(data, "abrupt")
    close_event = next(e for e in evidence.events["client"] if e["event"] == "close")
    close_event["t"] = 99.0
    result = verdicts("abrupt", evidence)
    assert result["replies-after-client-close"] is False
    # No reply was written after that close, so no RST can be blamed on it.
    assert result["client-kernel-sent-rst"] is False


def test_sigpipe_default_expects_death_by_signal(data):
    evidence = recorded(data, "abrupt")
    params = RunParameters(sigpipe="default")
    # As recorded (SIGPIPE ignored) the server exited 1 after EPIPE: wrong for "default".
    assert verdicts("abrupt", evidence, params)["server-next-write-fails"] is False
    evidence.events["server"] = [e for e in evidence.events["server"]
                                 if not (e["event"] == "write" and e["ret"] < 0)
                                 and e["event"] != "exit"]
    evidence.exit_status["server"] = 128 + 13
    assert verdicts("abrupt", evidence, params)["server-next-write-fails"] is True


def test_sigpipe_handler_needs_the_handler_to_run(data):
    evidence = recorded(data, "abrupt")
    params = RunParameters(sigpipe="handler")
    assert verdicts("abrupt", evidence, params)["server-next-write-fails"] is False
    evidence.events["server"].append({"event": "signal", "name": "SIGPIPE", "t": 2.0})
    assert verdicts("abrupt", evidence, params)["server-next-write-fails"] is True


def test_graceful_without_time_wait_fails_the_state_check(data):
    evidence = recorded(data, "graceful")
    evidence.samples["client"] = [r for r in evidence.samples["client"] if r.state != "TIME-WAIT"]
    assert verdicts("graceful", evidence)["client-states"] is False


def test_graceful_missing_reply_fails(data):
    evidence = recorded(data, "graceful")
    evidence.events["client"] = [e for e in evidence.events["client"]
                                 if e.get("data") != "Hi, data2"]
    assert verdicts("graceful", evidence)["client-received-both-replies"] is False


def test_graceful_with_an_rst_fails(data):
    evidence = recorded(data, "graceful")
    evidence.counters["server"]["TcpOutRsts"] = 1
    assert verdicts("graceful", evidence)["no-rst"] is False
    evidence = recorded(data, "graceful")
    evidence.packets.append({**evidence.packets[-1], "flags": ["RST"]})
    assert verdicts("graceful", evidence)["no-rst"] is False


def test_plan_closes_before_the_first_reply():
    for delay in (0.1, 1.0, 5.0):
        plan = close.plan("abrupt", dataclasses.replace(RunParameters(), server_delay=delay))
        assert [s.line for s in plan.script] == ["data1", "data2", "close"]
        assert plan.script[-1].at < delay
        assert plan.server_finish_timeout > 2 * delay
    assert close.plan("graceful", RunParameters()).script[-1].line == "shutdown"
