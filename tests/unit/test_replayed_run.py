"""The Testbed seam, proven by a second implementation: a whole run through RunSession on
hosts that replay a recorded real run reaches the recorded run's verdict, check by check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.core.errors import LabFailure
from kit.core.record import SCHEMA, RunRecord
from kit.hosts import Host, Process
from kit.run.session import RunSession
from kit.scenarios import RunParameters, get_scenario
from kit.testbeds import base as testbeds
from kit.testbeds.base import Lab, Tracer
from tests.doubles.replay import (
    Recording,
    ReplayClock,
    ReplayHost,
    ReplayProcess,
    ReplayTestbed,
)

DATA = Path(__file__).resolve().parent.parent / "data"


def replay(variant: str, out: Path) -> tuple[RunRecord, ReplayTestbed]:
    recording = Recording(DATA, variant)
    recorded = recording.record
    testbed = ReplayTestbed(recording)
    session = RunSession(get_scenario("close"), variant,
                         RunParameters(**recorded["parameters"]), testbed, out,
                         clock=ReplayClock(recorded["t0"]))
    outcome = session.run()
    return outcome.record, testbed


def test_the_double_implements_the_protocols():
    testbed = ReplayTestbed(Recording(DATA, "graceful"))
    assert isinstance(testbed, testbeds.Testbed)
    assert isinstance(testbed.tracer("x", 43211), Tracer)
    with testbed.up("x") as lab:
        assert isinstance(lab, Lab)
        assert isinstance(lab.hosts["client"], Host)
    assert isinstance(ReplayProcess(0), Process)


@pytest.mark.parametrize("variant", ["graceful", "abrupt"])
def test_a_replayed_run_reaches_the_recorded_verdict(tmp_path, variant):
    record, testbed = replay(variant, tmp_path)
    recorded = Recording(DATA, variant).record
    assert record.verdict == recorded["verdict"] == "pass" and record.complete
    assert [check.to_json() for check in record.checks] == recorded["checks"]
    assert record.counters == recorded["counters"] and record.capture == recorded["capture"]
    for role in ("client", "server"):
        mine, then = record.programs[role], recorded["programs"][role]
        assert (mine["exit_status"], mine["exit"]) == (then["exit_status"], then["exit"])
    # The client connects to the server's address on the experiment network (the
    # recorded run, older, gave its name).
    assert record.programs["client"]["command"][-1] == recorded["hosts"]["server"]["address"]
    assert record.programs["server"]["command"] == recorded["programs"]["server"]["command"]
    for role in ("client", "server"):
        sysctls = record.hosts[role]["sysctls"]
        assert sysctls["tcp_fin_timeout"] == "60" and sysctls["tcp_rmem"] == "4096 131072 33554432"
        assert "tcp_max_orphans" not in sysctls   # global: not seen from a namespace
    described = {role: {k: v for k, v in host.items() if k != "sysctls"}
                 for role, host in record.hosts.items()}
    assert described == recorded["hosts"] and record.testbed == "replay"
    trace = dict(record.kernel_trace)
    hosts = trace.pop("hosts")
    assert trace == {"recorded": True, "instance": "/sys/kernel/tracing/instances/netkit-replay"}
    # What the kernel said it traces, per host: on 6.18, every event, nothing it cannot show.
    for role in ("client", "server"):
        assert hosts[role]["kernel"].startswith("6.18") and hosts[role]["missing"] == []
        assert hosts[role]["limits"] == {} and "reason" in hosts[role]["fields"]["tcp/tcp_send_reset"]
    # The run's files come from the hosts, and read back the same through the record.
    (root,) = tmp_path.iterdir()
    assert RunRecord.load(root).to_json() == record.to_json()
    assert (root / "pcap" / "client.pcap").read_bytes() == \
        (DATA / f"capture-{variant}-client.pcap").read_bytes()
    assert json.loads((root / "run.json").read_text())["schema"] == SCHEMA
    # Whatever happened, the lab went down and the tracer was removed.
    assert testbed.torn_down == 1 and testbed.tracers[0].closed >= 1


def test_the_client_is_fed_the_script_and_its_input_ends(tmp_path):
    _, testbed = replay("graceful", tmp_path)
    client: ReplayHost = testbed.labs[0].hosts["client"]
    (process,) = client.started
    assert b"".join(process.written) == b"data1\ndata2\nshutdown\n"
    assert process.stdin_closed


def test_a_run_that_fails_in_the_lab_keeps_its_record_and_tears_down(tmp_path, monkeypatch):
    def refuse(self, command, stdin=False, output=None):
        raise AssertionError("boom: the server cannot start")

    monkeypatch.setattr(ReplayHost, "start", refuse)
    with pytest.raises(AssertionError, match="boom"):
        replay("abrupt", tmp_path)
    (root,) = tmp_path.iterdir()
    record = RunRecord.load(root)
    assert record.verdict == "error" and not record.complete
    assert (root / "summary.md").exists()


def test_a_server_that_cannot_listen_fails_the_run_with_its_own_words(tmp_path, monkeypatch):
    answer = ReplayHost._answer

    def refuse_to_listen(self, command, timeout):
        if command[:2] == ["sh", "-c"] and '"event":"listen"' in command[2]:
            return "failed\n"
        if command[0] == "cat":
            return "error bind: Address already in use\n"
        return answer(self, command, timeout)

    monkeypatch.setattr(ReplayHost, "_answer", refuse_to_listen)
    with pytest.raises(LabFailure) as failed:
        replay("graceful", tmp_path)
    assert str(failed.value) == ("the server did not listen on port 43211 within 10 s "
                                 "(still running); its output: error bind: Address already "
                                 "in use")
    (root,) = tmp_path.iterdir()
    record = RunRecord.load(root)
    assert record.error == str(failed.value) and record.verdict == "error"


def test_one_failing_check_makes_the_run_fail(tmp_path, monkeypatch):
    """The recorded graceful run, but the server dies of SIGPIPE (141) at its end."""
    exit_status = Recording.exit_status
    monkeypatch.setattr(Recording, "exit_status",
                        lambda self, role: 141 if role == "server" else exit_status(self, role))
    record, _ = replay("graceful", tmp_path)
    assert record.complete and record.verdict == "fail"
    assert [c.name for c in record.checks if not c.passed] == ["server-exit-0"]
    assert "FAIL" in (next(tmp_path.iterdir()) / "summary.md").read_text()
