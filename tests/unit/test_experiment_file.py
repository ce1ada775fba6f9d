"""Experiment files: every error names the file, the line and the field; cells and
their ids; the measures, from recorded run directories."""

from pathlib import Path

import pytest

from kit.core.errors import BadInput
from kit.core.record import RunRecord
from kit.experiment.measures import (
    close_to_peer_end,
    handshake_rtt,
    measure,
    state_durations,
)
from kit.experiment.spec import cell_id, load_experiment
from kit.experiment.summary import axis_number

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"


def write(tmp_path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return path


def error_of(tmp_path, text: str) -> str:
    with pytest.raises(BadInput) as error:
        load_experiment(write(tmp_path, text))
    return str(error.value).replace(str(tmp_path) + "/", "")


@pytest.mark.parametrize("text, message", [
    ("runs:\n  - scenario: close\nmatrix:\n  latency: [0ms, 100, 200ms]\n",
     "study.yaml:4: matrix.latency[1]: --latency must be between 0s and 60s: got 100 (a bare "
     "number is seconds)"),
    ("runs:\n  - scenario: close\n    variants: [graceful, polite]\n",
     "study.yaml:3: runs[0].variants[1]: scenario 'close' has no variant 'polite': choose "
     "from graceful, abrupt"),
    ("runs:\n  - scenario: closing\n",
     "study.yaml:2: runs[0].scenario: unknown scenario 'closing'"),
    ("runs:\n  - scenario: close\nrepetition: 3\n",
     "study.yaml:3: repetition: unknown field; allowed: name, description, images, runs, parameters, "
     "link, matrix, repetitions, measures"),
    ("runs:\n  - scenario: close\nrepetitions: 0\n",
     "study.yaml:3: repetitions: must be a whole number from 1 to 1000: got 0"),
    ("runs:\n  - scenario: close\nparameters:\n  server_delay: 100\n",
     "study.yaml:4: parameters.server_delay: --server-delay must be between 0.1s and 60s"),
    ("runs:\n  - scenario: close\nmatrix:\n  reorder: [10%]\n",
     "study.yaml:3: matrix: --reorder needs --latency"),
    ("runs:\n  - scenario: close\nlink:\n  loss: 2\n",
     "study.yaml:4: link.loss: --loss must be a percentage like 1% or 0.5%: got '2'"),
    ("runs:\n  - scenario: close\nmeasures: [speed]\n",
     "study.yaml:3: measures[0]: unknown measure 'speed'"),
    ("matrix:\n  latency: [0ms]\n", "study.yaml:1: the file: needs 'runs'"),
    ("runs:\n  - name: mine\n    server: socat TCP-LISTEN:{port} SYSTEM:cat\n",
     "study.yaml:2: runs[0]: needs 'client'"),
    ("runs:\n  - name: mine\n    server: a\n    client: b\n    checks:\n"
     "      - {name: x, packet: {from: client, flag: URG}}\n",
     "study.yaml:6: runs[0].checks[0].packet: flag must be one of SYN, FIN, RST, PSH, ACK: "
     "got 'URG'"),
    ("runs:\n  - name: mine\n    server: a\n    client: b\n    mount: nowhere\n",
     "study.yaml:5: runs[0].mount:"),
    ("runs: [\n", "study.yaml:2: not valid YAML"),
])
def test_errors_name_the_file_line_and_field(tmp_path, text, message):
    assert error_of(tmp_path, text).startswith(message)


def test_cells_cross_runs_variants_matrix_and_repetitions(tmp_path):
    experiment = load_experiment(write(tmp_path, (
        "runs:\n  - scenario: close\nlink:\n  direction: client-to-server\n"
        "matrix:\n  latency: [0ms, 50ms]\n  loss: [0%, 1%, 5%]\nrepetitions: 2\n")))
    cells = experiment.cells()
    assert len(cells) == 2 * 2 * 3 * 2
    assert len({c.id for c in cells}) == len(cells)
    first = cells[0]
    assert first.id == "close_graceful_latency-0ms_loss-0pct_r1"
    assert first.link == {"direction": "client-to-server", "latency": "0ms", "loss": "0%"}


def test_cell_ids_are_stable_and_safe():
    assert cell_id("close", "abrupt", (("latency", "0.2s"), ("loss", "1%")), 3) == \
        "close_abrupt_latency-0.2s_loss-1pct_r3"
    assert cell_id("my run/x", "custom", (), 1) == "my-run-x_custom_r1"


def test_the_shipped_experiments_are_valid():
    shipped = sorted((ROOT / "experiments").glob("*.yaml"))
    assert {p.stem for p in shipped} >= {"lesson", "close-vs-shutdown", "latency-sweep",
                                         "loss-sweep", "stock-tools"}
    for path in shipped:
        assert load_experiment(path).cells()


def test_stock_tools_study_mounts_its_programs():
    experiment = load_experiment(ROOT / "experiments" / "stock-tools.yaml")
    mounted = [run for run in experiment.runs if run.mount]
    assert mounted and Path(mounted[0].mount) == ROOT / "experiments" / "programs"
    assert (Path(mounted[0].mount) / "answer_after_fin.py").exists()


def test_measures_from_recorded_runs():
    graceful, abrupt = DATA / "run-100ms-graceful", DATA / "run-100ms-abrupt"
    # Graceful: the server reads EOF after its second reply; abrupt: the client's RST
    # reaches the server first.
    assert close_to_peer_end(graceful) == pytest.approx(1.611447)
    assert close_to_peer_end(abrupt) == pytest.approx(0.807726)
    record = RunRecord.load(graceful)
    assert handshake_rtt(graceful, record) == record.link["measured_rtt"]["median_ms"]
    states = state_durations(graceful)
    assert states["server LAST-ACK"] == pytest.approx(0.2, abs=0.01)   # one RTT at 200 ms
    assert "client FIN-WAIT-2" in states and "server CLOSE-WAIT" in states
    row = measure(graceful, ("close_to_peer_end", "retransmissions", "state_durations"))
    assert row["retransmissions"] == 0 and "client ESTAB s" in row


def test_axis_values_share_one_unit():
    assert axis_number("latency", "0.05s") == axis_number("latency", "50ms") == 50
    assert axis_number("loss", "1%") == 1
    assert axis_number("rate", "10mbit") == 10
