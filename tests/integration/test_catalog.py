"""`invoke run --scenario all`: every scenario variant on real containers, and the
evidence each one turns on (not only its verdict)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kit.core.checks import LAB
from kit.scenarios import CATALOG
from tests.integration.conftest import invoke
from tests.schemas import JUNIT


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, lab_image):
    out = tmp_path_factory.mktemp("catalog")
    result = invoke("run", "--scenario", "all", "--server-delay", "0.3", "--out", str(out),
                    "--junit", str(out / "catalog.xml"), timeout=600)
    return out, result


def run_of(out: Path, scenario: str, variant: str) -> Path:
    (found,) = out.glob(f"*-{scenario}-{variant}")
    return found


def failed_checks(out: Path) -> list[str]:
    """Each failed check of the catalog's runs, with what it observed."""
    failed = []
    for path in sorted(out.glob("*/run.json")):
        record = json.loads(path.read_text())
        failed += [f"{path.parent.name}: {c['name']}: {c['observed']}"
                   for c in record.get("checks", []) if not c["passed"]]
    return failed


def test_the_whole_catalog_passes_and_is_indexed(catalog):
    out, result = catalog
    errors = [line for line in result.stderr.splitlines() if line.startswith("error")]
    assert result.returncode == 0, errors or failed_checks(out) or result.stderr[-2000:]
    (index,) = out.glob("*-all-index.md")
    text = index.read_text()
    assert "FAIL" not in text
    for claim in ("C1", "C3", "C4", "C10", "C11", "C13", "C14", "C15", "C17", "C18", "C19",
                  "C20", "C21"):
        assert f"| {claim} |" in text
    assert list(out.glob("*-all-index.html"))


def test_the_junit_report_has_every_variant_and_check(catalog):
    out, _ = catalog
    JUNIT.validate(str(out / "catalog.xml"))
    suites = ET.parse(out / "catalog.xml").getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == [f"{s.name}/{v}" for s in CATALOG.values()
                                               for v in s.variants]
    for suite in suites:
        properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
        record = json.loads((Path(properties["run_directory"]) / "run.json").read_text())
        assert [c.get("name") for c in suite.iter("testcase")] == \
            [c["name"] for c in record["checks"]]
        assert suite.get("failures") == "0" and not list(suite.iter("failure"))


RECORDED = Path(__file__).resolve().parents[1] / "data" / "catalog"


def test_pooled_labs_give_the_verdicts_of_fresh_ones_check_by_check(catalog):
    """The catalog ran in one lab reset between runs; the runs recorded in tests/data ran
    each in a new lab: the same checks of the kernel, each passing in both."""
    out, _ = catalog
    ports = set()
    for scenario in CATALOG.values():
        for variant in scenario.variants:
            record = json.loads((run_of(out, scenario.name, variant) / "run.json").read_text())
            fresh = json.loads((RECORDED / f"{scenario.name}-{variant}" / "run.json").read_text())
            assert record["environment"]["lab"]["pooled"] is True
            ports.add(record["parameters"]["port"])
            kernel = {c["name"]: c["passed"] for c in record["checks"] if c["claim"] != LAB}
            assert kernel == {c["name"]: c["passed"] for c in fresh["checks"] if c["claim"] != LAB}, \
                f"{scenario.name}/{variant}"
    assert len(ports) == sum(len(s.variants) for s in CATALOG.values())


@pytest.mark.parametrize("variant,status", [("ignore", 1), ("default", 141), ("handler", 1)])
def test_sigpipe_dispositions(catalog, variant, status):
    directory = run_of(catalog[0], "sigpipe", variant)
    record = json.loads((directory / "run.json").read_text())
    assert record["programs"]["server"]["exit_status"] == status
    server = lines(directory / "events" / "server.jsonl")
    failed = [e for e in server if e["event"] == "write" and e["ret"] < 0]
    if variant == "default":
        assert not failed and server[-1]["event"] != "exit"
    else:
        assert failed[0]["errno"] == "EPIPE"
    signals = [e for e in server if e["event"] == "signal"]
    assert bool(signals) == (variant == "handler")


def test_timing_decides_what_the_client_shows(catalog):
    before = run_of(catalog[0], "timing", "close-before-reply")
    after = run_of(catalog[0], "timing", "close-after-reply")
    assert "Hi," not in (before / "logs" / "client.log").read_text()
    assert "Hi, data1" in (after / "logs" / "client.log").read_text()
    for directory, answered in ((before, "Hi, data1"), (after, "Hi, data2")):
        segments = lines(directory / "packets.jsonl")
        rst = next(i for i, s in enumerate(segments) if "RST" in s["flags"])
        assert segments[rst]["from"] == "client"
        assert segments[rst - 1]["payload"] == answered


@pytest.mark.parametrize("scenario,variant,reason", [
    ("unread", "unread", "TCP_ABORT_ON_CLOSE"), ("linger", "abort", "TCP_STATE")])
def test_close_resets_instead_of_closing(catalog, scenario, variant, reason):
    directory = run_of(catalog[0], scenario, variant)
    from_client = [s for s in lines(directory / "packets.jsonl") if s["from"] == "client"]
    assert not [s for s in from_client if "FIN" in s["flags"]]
    assert "RST" in from_client[-1]["flags"]
    resets = [r for r in lines(directory / "kernel.jsonl") if r["event"] == "tcp_send_reset"]
    assert [(r["host"], r["reason"]) for r in resets] == [("client", reason)]
    states = {s["state"] for s in lines(directory / "ss" / "client.jsonl")}
    assert "TIME-WAIT" not in states and "FIN-WAIT-2" not in states


@pytest.mark.parametrize("scenario,variant", [("unread", "read"), ("linger", "default")])
def test_the_controls_close_with_a_fin(catalog, scenario, variant):
    directory = run_of(catalog[0], scenario, variant)
    from_client = [s for s in lines(directory / "packets.jsonl") if s["from"] == "client"]
    closing = next(s for s in from_client if "FIN" in s["flags"] or "RST" in s["flags"])
    assert "FIN" in closing["flags"]


@pytest.mark.parametrize("variant,status,closing", [
    ("exit", 0, "FIN"), ("return", 0, "FIN"), ("signal", 137, "FIN"), ("unread", 0, "RST")])
def test_the_kernel_closes_for_a_server_that_never_calls_close(catalog, variant, status, closing):
    directory = run_of(catalog[0], "exit", variant)
    record = json.loads((directory / "run.json").read_text())
    assert record["programs"]["server"]["exit_status"] == status
    server = lines(directory / "events" / "server.jsonl")
    assert not [e for e in server if e["event"] in ("close", "shutdown")]
    from_server = [s for s in lines(directory / "packets.jsonl") if s["from"] == "server"]
    ends = [s for s in from_server if "FIN" in s["flags"] or "RST" in s["flags"]]
    assert closing in ends[0]["flags"]


def test_shut_rd_still_delivers_later_data_on_linux(catalog):
    directory = run_of(catalog[0], "shut-rd", "rd")
    server = lines(directory / "events" / "server.jsonl")
    shut = next(e for e in server if e["event"] == "shutdown")
    assert shut["how"] == "SHUT_RD" and shut["ret"] == 0
    later = [e for e in server if e["event"] == "read" and e["t"] > shut["t"] and e["ret"] > 0]
    assert "".join(e["data"] for e in later) == "data2data3"


def test_shut_rdwr_sends_a_fin_and_the_client_ends_early(catalog):
    directory = run_of(catalog[0], "shut-rd", "rdwr")
    record = json.loads((directory / "run.json").read_text())
    assert record["unplayed_script"][-1] == "shutdown"
    segments = lines(directory / "packets.jsonl")
    first_fin = next(s for s in segments if "FIN" in s["flags"])
    assert first_fin["from"] == "server"


def test_refcount_close_keeps_the_connection_for_the_child(catalog):
    directory = run_of(catalog[0], "refcount", "close")
    client = lines(directory / "events" / "client.jsonl")
    child_exit = next(e for e in client if e["prog"] == "client-child" and e["event"] == "exit")
    parent_close = next(e for e in client if e["prog"] == "client" and e["event"] == "close")
    fin = next(s for s in lines(directory / "packets.jsonl")
               if s["from"] == "client" and "FIN" in s["flags"])
    assert parent_close["t"] < child_exit["t"] <= fin["t"] + 0.05


def test_refcount_shutdown_reaches_the_child(catalog):
    directory = run_of(catalog[0], "refcount", "shutdown")
    client = lines(directory / "events" / "client.jsonl")
    child_write = next(e for e in client if e["prog"] == "client-child" and e["event"] == "write")
    assert child_write["ret"] == -1 and child_write["errno"] == "EPIPE"
    probe = next(e for e in client if e["event"] == "getsockopt")
    assert probe["ret"] == 0


def test_the_lesson_pace(catalog):
    directory = run_of(catalog[0], "lesson", "abrupt")
    server = lines(directory / "events" / "server.jsonl")
    read = next(e for e in server if e["event"] == "read" and e["ret"] > 0)
    write = next(e for e in server if e["event"] == "write")
    assert 4.9 < write["t"] - read["t"] < 5.2
