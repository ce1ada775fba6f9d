"""'invoke rerun' and 'invoke diff': what a recorded run asked for becomes the same
request again, and two runs compare check by check, with what else differed."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from kit.cli.request import rerun_request
from kit.core.errors import BadInput
from kit.core.record import RunRecord
from kit.report.compare import compare_runs
from kit.scenarios.custom import CustomScenario, programs_from_options

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "tests" / "data" / "catalog"


def recorded(name: str) -> RunRecord:
    return RunRecord.load(CATALOG / name)


def test_a_run_compared_with_itself_differs_in_nothing():
    comparison = compare_runs(recorded("close-graceful"), recorded("close-graceful"))
    assert not comparison.checks_differ and comparison.differences == []


def test_another_variant_differs_check_by_check():
    graceful, abrupt = recorded("close-graceful"), recorded("close-abrupt")
    comparison = compare_runs(graceful, abrupt)
    assert comparison.checks_differ
    pairs = {p.name: p for p in comparison.checks}
    only_abrupt = {c.name for c in abrupt.checks} - {c.name for c in graceful.checks}
    assert only_abrupt and all(pairs[n].before is None and pairs[n].differs for n in only_abrupt)
    assert ("run", "close/graceful", "close/abrupt") in comparison.differences


def test_the_environment_and_sysctls_that_differ_are_named():
    before = recorded("close-graceful")
    after = dataclasses.replace(before, environment={**before.environment, "kernel": "6.1.0"},
                                hosts={role: {**host, "sysctls": {**host.get("sysctls", {}),
                                                                  "tcp_fin_timeout": "30"}}
                                       for role, host in before.hosts.items()})
    comparison = compare_runs(before, after)
    assert not comparison.checks_differ
    named = {what for what, _, _ in comparison.differences}
    assert named == {"kernel", "client sysctl tcp_fin_timeout", "server sysctl tcp_fin_timeout"}


def test_a_recorded_request_becomes_the_same_request(tmp_path):
    spec = programs_from_options("sh -c 'exit 1'", "socat - TCP:{server}:{port}", ["hello"],
                                 expect_exit=["server=1"], expect_packet=["client no RST"])
    assert spec is not None
    record = RunRecord("custom", "custom", parameters={"server_delay": 0.5, "sigpipe": "default",
                                                       "ss_interval": 0.1, "kernel_trace": False},
                       request={"link": {"latency": "20ms", "loss": "1%"},
                                "base_image": "debian:trixie-slim", "programs": spec.to_json()})
    request = rerun_request(record, tmp_path, str(tmp_path / "out"))
    assert isinstance(request.custom, CustomScenario) and request.custom.spec == spec
    assert (request.params.server_delay, request.params.sigpipe, request.params.ss_interval,
            request.params.kernel_trace) == (0.5, "default", 0.1, False)
    assert request.link.impairment.latency == 0.02 and request.link.impairment.loss == 1.0
    assert request.params.link_rtt == request.link.round_trip_bound() > 0
    assert request.base_image == "debian:trixie-slim"
    assert request.runs == (("custom", "custom"),)
    assert request.specs("20261207-120000", None)[0].recorded() == record.request


def test_a_record_without_its_request_cannot_be_run_again(tmp_path):
    with pytest.raises(BadInput, match="does not record how the run was asked for"):
        rerun_request(recorded("close-graceful"), CATALOG / "close-graceful", str(tmp_path))


def invoke(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_diff_exits_1_when_a_verdict_differs_and_0_when_none_does():
    same = invoke("diff", str(CATALOG / "close-graceful"), str(CATALOG / "close-graceful"))
    assert same.returncode == 0 and "every check's verdict is the same" in same.stdout
    other = invoke("diff", str(CATALOG / "close-graceful"), str(CATALOG / "close-abrupt"))
    assert other.returncode == 1 and "the checks' verdicts differ" in other.stdout
    assert "client-kernel-sent-rst" in other.stdout
