"""The tasks' boundary: bad input is one line and exit 2, before anything is started."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def invoke(*arguments):
    return subprocess.run([sys.executable, "-m", "invoke", *arguments], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_unknown_scenario_is_one_line_and_exit_2():
    result = invoke("run", "--scenario", "nope")
    assert result.returncode == 2
    from kit.scenarios import CATALOG

    assert result.stderr.strip() == (f"error: unknown scenario 'nope': choose one of "
                                     f"{', '.join(sorted(CATALOG))} or all ('invoke "
                                     "scenarios' describes them)")
    assert "Traceback" not in result.stderr + result.stdout


def test_bad_number_is_one_line_and_exit_2():
    result = invoke("run", "--scenario", "close", "--server-delay", "-1")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --server-delay must be a time like 100ms, 0.1s or "
                                     "500us (a bare number is seconds): got '-1'")


def test_every_task_is_listed_and_run_documents_its_options():
    listing = invoke("--list").stdout
    for name in ("build", "up", "down", "run", "logs", "shell", "clean", "scenarios", "test"):
        assert f"  {name} " in listing
    help_text = invoke("--help", "run").stdout
    for option in ("--scenario", "--variant", "--server-delay", "--out", "--keep",
                   "--ss-interval", "--sigpipe"):
        assert option in help_text


def test_scenarios_lists_close_and_its_variants():
    result = invoke("scenarios")
    assert result.returncode == 0
    text = result.stdout + result.stderr
    assert "close" in text and "graceful" in text and "abrupt" in text and "C10" in text
    assert "close() versus shutdown(SHUT_WR)" in text      # each scenario's summary


def test_impairment_options_are_documented_and_bad_ones_are_one_line(tmp_path):
    help_text = invoke("--help", "run").stdout
    for option in ("--latency", "--jitter", "--loss", "--loss-gemodel", "--rate", "--limit",
                   "--seed", "--direction", "--impair-engine", "--reorder"):
        assert option in help_text
    assert "the round trip carries it twice" in " ".join(help_text.split())
    assert "--clear" in invoke("--help", "impair").stdout
    result = invoke("run", "--scenario", "close", "--loss", "150%", "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --loss must be between 0% and 100%: got 150%"
    assert not (tmp_path / "o").exists()
    result = invoke("run", "--scenario", "close", "--reorder", "25%")
    assert result.stderr.strip() == ("error: --reorder needs --latency: reordered packets are "
                                     "the ones sent without the delay, ahead of the delayed ones")
