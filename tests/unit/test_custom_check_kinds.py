"""Every check kind of your own programs, with each of its options, on recorded evidence
(the close scenario's two real runs), on a refused connect, and on a run with a lost
segment and a program the kit had to stop: verdicts and wording, golden
(tests/data/custom-checks.json, reviewed when written)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from kit.scenarios import Evidence
from kit.scenarios.custom import check_spec
from tests.unit.test_close_verdict import recorded
from tests.unit.test_custom_checks import refused_run

DATA = Path(__file__).resolve().parent.parent / "data"
GOLDEN = DATA / "custom-checks.json"
SPECS = [
    ("exit", {"role": "client", "status": 0}), ("exit", {"role": "server", "status": 1}),
    ("packet", {"from": "client", "flag": "RST"}),
    ("packet", {"from": "server", "flag": "FIN", "expect": False}),
    ("bytes", {"from": "client", "to": "server"}), ("bytes", {"from": "server", "to": "client"}),
    ("state", {"role": "client", "reached": "TIME-WAIT"}),
    ("state", {"role": "server", "reached": "LAST-ACK"}),
    ("output", {"role": "client", "contains": "Hi, data2"}),
    ("output", {"role": "server", "contains": "nothing like this"}),
    ("connected", {}), ("refused", {}), ("refused", {"expect": True}),
    ("in_time", {"role": "client"}), ("in_time", {"role": "server"}),
]


def lossy(evidence: Evidence) -> Evidence:
    """The run with the client's first data segment never seen arriving, and the server
    stopped by the kit."""
    changed = copy.deepcopy(evidence)
    first = next(s for s in changed.packets if s["from"] == "client" and s["length"])
    first["t_arrived"] = None
    changed.stopped.append("server")
    return changed


def judged_all() -> dict[str, dict]:
    evidences = {"graceful": recorded(DATA, "graceful"), "abrupt": recorded(DATA, "abrupt"),
                 "refused": refused_run()}
    evidences["lossy"] = lossy(evidences["graceful"])
    return {f"{name}/{kind}/{json.dumps(options, sort_keys=True)}":
            check_spec(f"c-{kind}", kind, options).judge(evidence).to_json()
            for name, evidence in evidences.items() for kind, options in SPECS}


def test_every_kind_gives_the_reviewed_verdict_and_words():
    assert judged_all() == json.loads(GOLDEN.read_text())


def test_the_lossy_run_fails_bytes_and_in_time_for_the_right_reasons():
    golden = json.loads(GOLDEN.read_text())
    lost = golden['lossy/bytes/{"from": "client", "to": "server"}']
    assert not lost["passed"] and "5 bytes never seen arriving" in lost["observed"]
    stopped = golden['lossy/in_time/{"role": "server"}']
    assert not stopped["passed"] and "stopped by the kit" in stopped["observed"]
