import json

from kit.observe.counters import difference, parse_nstat
from kit.observe.events import parse_events, received_data
from kit.observe.observers import parse_cpu, sections
from tests.conftest import recorded_t0


def test_events_carry_time_since_run_start(data):
    t0 = recorded_t0("graceful")
    events = parse_events((data / "events-graceful-client.jsonl").read_text(), t0)
    assert [e["event"] for e in events][:2] == ["start", "connect"]
    assert all(0 <= e["t"] < 10 for e in events)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert received_data(events) == "Hi, data1Hi, data2"


def test_event_stream_records_errno_by_name(data):
    events = parse_events((data / "events-abrupt-server.jsonl").read_text())
    failed = [e for e in events if e["event"] == "write" and e["ret"] < 0]
    assert failed[0]["errno"] == "EPIPE" and failed[0]["error"] == "Broken pipe"
    assert events[-1] == {**events[-1], "event": "exit", "status": 1}


def test_a_line_cut_short_is_skipped():
    text = '{"seq":1,"event":"start","rt":5.0}\n{"seq":2,"event":"wri'
    assert [e["seq"] for e in parse_events(text, t0=4.0)] == [1]


def test_nstat_output(data):
    counters = parse_nstat((data / "nstat.txt").read_text())
    assert counters["TcpOutRsts"] == 0
    assert "TcpExtTCPAbortOnData" in counters and len(counters) > 100


def test_counter_difference_keeps_what_moved(data):
    recorded = json.loads((data / "counters-abrupt.json").read_text())["client"]
    moved = difference(recorded["before"], recorded["after"])
    assert moved["TcpOutRsts"] == 1
    assert all(value != 0 for value in moved.values())


def test_what_each_observer_cost_is_read_from_a_real_stop(data):
    """tests/data/observe-stop.txt: `netkit-observe stop` in a lab container after a
    second of sampling (no delay line ran there)."""
    parts = sections((data / "observe-stop.txt").read_text())
    assert parse_cpu(parts["cpu"]) == {"netkit-ss": 0.0174, "tcpdump": 0.0061}
    assert parse_cpu("delayline 2400000\nss oops\nrogue 5\n") == {"netkit-delayline": 0.0024}
    assert parse_cpu("") == {}
