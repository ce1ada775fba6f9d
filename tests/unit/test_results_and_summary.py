import json
import os
import stat

from kit.core.results import RunDirectory, atomic_write
from kit.report.summary import write_summary


def test_atomic_write_leaves_no_temporary_and_a_readable_file(tmp_path):
    target = tmp_path / "sub" / "run.json"
    atomic_write(target, b"{}")
    atomic_write(target, b'{"a": 1}')
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(target.parent) == ["run.json"]
    assert stat.S_IMODE(target.stat().st_mode) & 0o044   # not private like a mkstemp file


def test_run_directories_never_collide(tmp_path):
    first = RunDirectory.create(tmp_path, "close", "abrupt", stamp="20260101-000000")
    second = RunDirectory.create(tmp_path, "close", "abrupt", stamp="20260101-000000")
    assert first.root != second.root and second.root.name.endswith("-2")


def test_summary_of_an_incomplete_run(tmp_path):
    directory = RunDirectory.create(tmp_path, "close", "graceful")
    directory.write_json("run.json", {"scenario": "close", "variant": "graceful",
                                      "complete": False, "verdict": "error",
                                      "error": "interrupted (Ctrl-C): the run is incomplete",
                                      "checks": []})
    text = write_summary(directory).read_text()
    assert text.startswith("# close / graceful: ERROR (incomplete)")
    assert "interrupted (Ctrl-C)" in text and "the run did not finish" in text


def test_summary_shows_transcripts_states_and_checks(tmp_path, data):
    directory = RunDirectory.create(tmp_path, "close", "graceful")
    for role in ("client", "server"):
        directory.write_text(f"logs/{role}.log", (data / f"log-graceful-{role}.txt").read_text())
    directory.write_text("ss/client.jsonl", json.dumps({
        "t": 0.5, "rt": 1.0, "state": "TIME-WAIT", "local": "a:1", "peer": "b:2", "recv_q": 0,
        "send_q": 0}) + "\n")
    directory.write_json("run.json", {
        "scenario": "close", "variant": "graceful", "complete": True, "verdict": "pass",
        "programs": {"client": {"exit": "exit 0"}, "server": {"exit": "exit 0"}},
        "checks": [{"name": "no-rst", "claim": "C5", "passed": True, "expected": "no RST",
                    "observed": "RSTs sent: client 0 | server 0"}]})
    text = write_summary(directory).read_text()
    assert "# close / graceful: PASS" in text
    assert "Hi, data2\nserver terminated" in text
    assert "- client, ss samples: TIME-WAIT (+0.50 s)" in text
    assert "| no-rst | C5 | pass | no RST | RSTs sent: client 0 \\| server 0 |" in text
