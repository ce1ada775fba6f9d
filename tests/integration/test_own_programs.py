"""Your own programs on real containers: a run in which nothing worked fails, and says why;
one that worked passes on the default checks."""

from __future__ import annotations

import json

from tests.integration.conftest import invoke


def only_run(out) -> dict:
    (run_json,) = out.glob("*/run.json")
    return json.loads(run_json.read_text())


def test_a_server_that_dies_at_once_fails_the_run_and_exits_1(tmp_path, lab_image):
    result = invoke("run", "--server-command", "sh -c 'exit 1'",
                    "--client-command", "socat - TCP:{server}:{port}",
                    "--client-input", "hello", "--out", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "custom/custom: FAIL" in result.stdout
    record = only_run(tmp_path)
    verdicts = {c["name"]: c["passed"] for c in record["checks"]}
    assert record["verdict"] == "fail"
    assert verdicts["connected"] is False and verdicts["connect-not-refused"] is False
    assert verdicts["server-exits-0"] is False and verdicts["client-exits-0"] is False
    assert record["programs"]["server"]["exit_status"] == 1


def test_a_working_exchange_with_stated_checks_passes(tmp_path, lab_image):
    # The full python3 standard library is in the image (http.server needs it).
    result = invoke("run", "--server-command", "python3 -m http.server {port}",
                    "--client-command", "socat - TCP:{server}:{port}",
                    "--client-input", "GET / HTTP/1.0", "--client-input", "",
                    "--expect-exit", "client=0", "--expect-packet", "server FIN",
                    "--expect-packet", "server no RST", "--out", str(tmp_path))
    record = only_run(tmp_path)
    assert result.returncode == 0, [c for c in record["checks"] if not c["passed"]]
    assert [c["name"] for c in record["checks"]] == [
        "captures-complete", "client-exits-0", "server-sends-fin", "server-never-sends-rst"]
    # The server serves on: the kit stopped it once its time was up, and says so.
    assert record["programs"]["server"]["stopped_by_kit"] is True
    assert "HTTP/1.0 200 OK" in (tmp_path / next(tmp_path.iterdir()).name / "logs" /
                                 "client.log").read_text()


def test_rerun_runs_your_programs_again_and_finds_the_same_verdicts(tmp_path, lab_image):
    first = tmp_path / "first"
    invoke("run", "--server-command", "sh -c 'exit 1'",
           "--client-command", "socat - TCP:{server}:{port}", "--client-input", "hello",
           "--expect-exit", "server=1", "--out", str(first))
    (directory,) = first.iterdir()
    again = invoke("rerun", str(directory), "--out", str(tmp_path / "again"),
                   "--junit", str(tmp_path / "again.xml"))
    assert again.returncode == 0, again.stderr[-2000:]
    assert "every check's verdict is the same" in again.stdout
    before, after = only_run(first), only_run(tmp_path / "again")
    assert after["request"] == before["request"]
    assert after["programs"]["server"]["command"] == before["programs"]["server"]["command"]
    assert [(c["name"], c["passed"]) for c in after["checks"]] == \
        [(c["name"], c["passed"]) for c in before["checks"]]
    assert (tmp_path / "again.xml").read_text().count("<testsuite ") == 1
    # The same two runs, compared with diff.
    assert invoke("diff", str(directory), str(next((tmp_path / "again").iterdir()))
                  ).returncode == 0
