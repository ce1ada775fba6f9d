"""Reports rebuilt offline from a run directory made of recorded real outputs."""

import json
import xml.etree.ElementTree as ET

import pytest

from kit.cli import commands
from kit.core.results import RunDirectory
from kit.observe.capture import parse_pcap, segments
from kit.observe.events import parse_events
from kit.observe.kernel import for_lab, parse_trace
from kit.observe.ss import parse_samples
from kit.report import write_reports
from kit.run.collect import monotonic_offset

ROLES = ("client", "server")
SVG = "{http://www.w3.org/2000/svg}"


def make_run_directory(data, out, variant) -> RunDirectory:
    run = json.loads((data / f"run-{variant}.json").read_text())
    directory = RunDirectory.create(out, "close", variant, stamp="20261126-000000")
    t0 = run["t0"]
    addresses = {r: run["hosts"][r]["address"] for r in ROLES}
    events = {r: parse_events((data / f"events-{variant}-{r}.jsonl").read_text(), t0)
              for r in ROLES}
    for role in ROLES:
        directory.write_jsonl(f"events/{role}.jsonl", events[role])
        directory.write_text(f"logs/{role}.log", (data / f"log-{variant}-{role}.txt").read_text())
        samples = parse_samples((data / f"ss-{variant}-{role}.txt").read_text(), t0)
        directory.write_jsonl(f"ss/{role}.jsonl", [s.to_json() for s in samples])
    captures = {r: parse_pcap((data / f"capture-{variant}-{r}.pcap").read_bytes(), 43211)
                for r in ROLES}
    directory.write_jsonl("packets.jsonl", segments(captures, addresses, t0))
    trace = parse_trace((data / f"kernel-{variant}.trace").read_text())
    directory.write_jsonl("kernel.jsonl",
                          for_lab(trace, addresses, 43211, monotonic_offset(events, t0)))
    directory.write_json("run.json", run)
    return directory


@pytest.mark.parametrize("variant", ["graceful", "abrupt"])
def test_sequence_diagram_is_well_formed_with_an_arrow_per_segment(data, tmp_path, variant):
    directory = make_run_directory(data, tmp_path, variant)
    write_reports(directory)
    svg = ET.parse(directory.root / "sequence.svg").getroot()
    arrows = [e for e in svg.iter(f"{SVG}line") if "segment" in e.get("class", "").split()]
    packets = (directory.root / "packets.jsonl").read_text().splitlines()
    assert len(arrows) == len(packets)
    # Each arrow goes down (or across): from its send time to its arrival time.
    assert all(float(a.get("y2")) >= float(a.get("y1")) for a in arrows)
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.get("class") == "segment-label"]
    assert 'PSH ACK 9 bytes "Hi, data1"' in labels
    states = [t.text for t in svg.iter(f"{SVG}text")]
    assert "CLOSE-WAIT" in states and "FIN-WAIT-2" in states
    if variant == "abrupt":
        assert [a.get("stroke") for a in arrows if "segment-rst" in a.get("class")] == ["#c0392b"]
        assert "RST: TCP_TIMEWAIT_SOCKET" in states
        assert "close() = 0" in states
    else:
        assert "TIME-WAIT (ss)" in states and "shutdown(SHUT_WR) = 0" in states


def test_timeline_merges_every_source_in_order(data, tmp_path):
    directory = make_run_directory(data, tmp_path, "abrupt")
    write_reports(directory)
    timeline = [json.loads(line) for line in
                (directory.root / "timeline.jsonl").read_text().splitlines()]
    assert {e["source"] for e in timeline} == {"program", "kernel", "packet", "ss"}
    times = [e["t"] for e in timeline]
    assert times == sorted(times)
    order = [e["text"] for e in timeline if e["source"] in ("program", "packet", "kernel")]
    close = order.index("close() = 0")
    rst = order.index("client -> server: RST seq=12")
    assert close < order.index('write("Hi, data1") = 9') and close < rst


def test_report_page_holds_checks_diagram_and_transcripts(data, tmp_path):
    directory = make_run_directory(data, tmp_path, "graceful")
    write_reports(directory)
    page = (directory.root / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "fins-both-ways" in page and "server terminated" in page
    assert "ESTAB -&gt; FIN-WAIT-1" in page          # kernel transitions, escaped
    assert "TCP as the sampler saw it" in page and page.count("<polyline") == 8
    assert (directory.root / "tcp_info.svg").read_text().startswith("<svg")
    assert "http" not in page.replace("http://www.w3.org/2000/svg", "")   # self-contained


def test_invoke_report_rebuilds_runs_and_the_side_by_side_page(data, tmp_path):
    for variant in ("graceful", "abrupt"):
        make_run_directory(data, tmp_path, variant)
    written = commands.report(str(tmp_path))
    names = sorted(p.name for p in written)
    assert names == ["20261126-000000-close-report.html", "report.html", "report.html"]
    side_by_side = (tmp_path / "20261126-000000-close-report.html").read_text()
    assert side_by_side.count("<svg") == 2
    assert (tmp_path / "20261126-000000-close-comparison.md").exists()


def test_invoke_report_rebuilds_a_catalog_index(data, tmp_path):
    for variant in ("graceful", "abrupt"):
        make_run_directory(data, tmp_path, variant)
    (tmp_path / "20261126-000000-all-index.md").write_text("stale")
    written = commands.report(str(tmp_path))
    assert tmp_path / "20261126-000000-all-index.html" in written
    assert (tmp_path / "20261126-000000-all-index.md").read_text().startswith("# Every claim")


def test_index_lists_each_claim_with_its_checks(data, tmp_path):
    from kit.report.index import write_index

    roots = [make_run_directory(data, tmp_path, v).root for v in ("graceful", "abrupt")]
    record = json.loads((roots[1] / "run.json").read_text())
    record["checks"] = [{"name": "client-kernel-sent-rst", "claim": "C4 C10", "passed": True,
                         "expected": "an RST", "observed": "RST from client at +1.429 s"}]
    (roots[1] / "run.json").write_text(json.dumps(record))
    page = write_index(tmp_path, roots, "20261126-000000")
    text = (tmp_path / "20261126-000000-all-index.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| C")]
    assert [row.split(" | ")[0] for row in rows].count("| C4") == 1
    assert any("[close/abrupt](" in row and "RST from client at +1.429 s" in row for row in rows)
    assert "Not judged by this catalog yet:" in text
    assert "<table>" in page.read_text()


def test_event_texts_name_the_call_and_the_child():
    from kit.report.timeline import event_text

    assert event_text({"event": "write", "ret": 5, "data": "data2", "prog": "client-child"}) \
        == '[child] write("data2") = 5'
    assert event_text({"event": "read", "ret": -1, "errno": "ECONNRESET", "prog": "server"}) \
        == "read() = -1 ECONNRESET"
    assert event_text({"event": "shutdown", "ret": 0, "prog": "client"}) == "shutdown(SHUT_WR) = 0"
    assert event_text({"event": "getsockopt", "ret": -1, "errno": "EBADF"}) == \
        "getsockopt() = -1 EBADF"
