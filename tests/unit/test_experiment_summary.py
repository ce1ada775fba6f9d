"""An experiment's summary, rebuilt from run directories alone (recorded ones here):
CSV, Markdown, plots and index, with runs not done yet listed as such."""

import csv
import shutil
from pathlib import Path

from kit.experiment.spec import load_experiment
from kit.experiment.summary import write_study_summary

DATA = Path(__file__).resolve().parents[1] / "data"
STUDY = """\
name: recorded
runs:
  - scenario: close
matrix:
  latency: [100ms, 200ms]
measures: [close_to_peer_end, handshake_rtt, state_durations, retransmissions]
"""


def test_summary_of_a_half_done_experiment(tmp_path):
    (tmp_path / "study.yaml").write_text(STUDY)
    experiment = load_experiment(tmp_path / "study.yaml")
    directory = tmp_path / "out"
    # The 100 ms cells ran (recorded runs); the 200 ms ones did not yet.
    for variant in ("graceful", "abrupt"):
        shutil.copytree(DATA / f"run-100ms-{variant}",
                        directory / "runs" / f"close_{variant}_latency-100ms_r1")
    written = write_study_summary(experiment, directory)
    with written["csv"].open() as file:
        rows = {row["cell"]: row for row in csv.DictReader(file)}
    assert rows["close_graceful_latency-100ms_r1"]["verdict"] == "pass"
    assert float(rows["close_graceful_latency-100ms_r1"]["close_to_peer_end_s"]) == 1.611447
    assert float(rows["close_abrupt_latency-100ms_r1"]["handshake_rtt_ms"]) == 200.612
    assert rows["close_abrupt_latency-200ms_r1"]["verdict"] == "not run"
    summary = written["markdown"].read_text()
    assert "2 of 4 runs done: 2 passed, 0 failed, 0 inconclusive, 2 not run or incomplete" in summary
    assert "| close | graceful | 100ms | 1 pass | 1.611 | 200.6 |" in summary
    assert "| close | graceful | 200ms | 1 not run |" in summary
    plots = {p.name for p in (directory / "plots").iterdir()}
    assert {"verdicts.png", "verdicts.svg", "close_to_peer_end_s.svg", "states-client.png",
            "states-server.svg"} <= plots
    index = written["index"].read_text()
    assert 'href="runs/close_abrupt_latency-100ms_r1/report.html"' in index
    assert "not run" in index
