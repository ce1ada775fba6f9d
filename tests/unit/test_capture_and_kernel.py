"""Packet captures and kernel trace lines recorded from real runs."""

import json

from kit.observe.capture import capture_counts, describe, parse_pcap, segments
from kit.observe.events import parse_events
from kit.observe.kernel import for_lab, parse_trace, transitions
from kit.run.collect import monotonic_offset

PORT = 43211


def run_of(data, variant):
    return json.loads((data / f"run-{variant}.json").read_text())


def merged(data, variant):
    run = run_of(data, variant)
    addresses = {r: run["hosts"][r]["address"] for r in ("client", "server")}
    captures = {r: parse_pcap((data / f"capture-{variant}-{r}.pcap").read_bytes(), PORT)
                for r in ("client", "server")}
    return segments(captures, addresses, run["t0"]), captures


def pattern(segments_):
    return [(s["from"], " ".join(s["flags"]), s["payload"]) for s in segments_]


def test_graceful_packet_pattern(data):
    merged_, captures = merged(data, "graceful")
    assert len(captures["client"]) == len(captures["server"]) == len(merged_) == 15
    flows = pattern(merged_)
    assert flows[:3] == [("client", "SYN", ""), ("server", "SYN ACK", ""), ("client", "ACK", "")]
    fin_client = flows.index(("client", "FIN ACK", ""))
    fin_server = flows.index(("server", "FIN ACK", ""))
    replies = [i for i, f in enumerate(flows) if f[0] == "server" and f[2].startswith("Hi,")]
    assert fin_client < replies[0] < replies[1] < fin_server
    assert not [f for f in flows if "RST" in f[1]]


def test_abrupt_packet_pattern(data):
    merged_, _ = merged(data, "abrupt")
    flows = pattern(merged_)
    assert flows[-2:] == [("server", "PSH ACK", "Hi, data1"), ("client", "RST", "")]
    assert ("client", "FIN ACK", "") in flows
    assert not [f for f in flows if f[2] == "Hi, data2"]    # never sent: the write failed


def test_segments_have_both_times_and_relative_numbers(data):
    merged_, _ = merged(data, "abrupt")
    assert all(s["t_arrived"] is not None and 0 <= s["t_arrived"] - s["t"] < 0.01
               for s in merged_)
    syn = merged_[0]
    assert syn["seq"] == 0 and syn["ack"] is None
    first_data = next(s for s in merged_ if s["payload"] == "data1")
    assert (first_data["seq"], first_data["ack"], first_data["length"]) == (1, 1, 5)
    reply = next(s for s in merged_ if s["payload"] == "Hi, data1")
    assert reply["ack"] == 12          # data1 + data2 + the client's FIN
    assert describe(reply) == 'PSH ACK 9 bytes "Hi, data1"'


def test_tcpdump_counts(data):
    counts = capture_counts((data / "tcpdump-graceful-client.txt").read_text())
    assert counts == {"captured": 15, "received": 15, "dropped": 0}


def test_trace_lines_parse(data):
    records = parse_trace((data / "kernel-abrupt.trace").read_text())
    names = {r["event"] for r in records}
    assert {"inet_sock_set_state", "tcp_send_reset", "tcp_receive_reset"} <= names
    reset = next(r for r in records if r["event"] == "tcp_send_reset")
    assert reset["reason"] == "TCP_TIMEWAIT_SOCKET" and reset["state"] == "TCP_TIME_WAIT"


def test_kernel_records_for_the_lab_on_the_run_clock(data):
    run = run_of(data, "abrupt")
    addresses = {r: run["hosts"][r]["address"] for r in ("client", "server")}
    events = {r: parse_events((data / f"events-abrupt-{r}.jsonl").read_text(), run["t0"])
              for r in ("client", "server")}
    records = for_lab(parse_trace((data / "kernel-abrupt.trace").read_text()), addresses, PORT,
                      monotonic_offset(events, run["t0"]))
    assert [new for _, new, _ in transitions(records, "client")] == [
        "SYN-SENT", "ESTAB", "FIN-WAIT-1", "FIN-WAIT-2", "CLOSE"]
    assert [new for _, new, _ in transitions(records, "server")] == [
        "SYN-RECV", "ESTAB", "CLOSE-WAIT", "CLOSE"]
    # The kernel's RST and the close() the program logged line up on one clock.
    close = next(e for e in events["client"] if e["event"] == "close")
    fin_wait_1 = next(t for _, new, t in transitions(records, "client") if new == "FIN-WAIT-1")
    assert abs(fin_wait_1 - close["t"]) < 0.005
    reset = next(r for r in records if r["event"] == "tcp_send_reset")
    assert reset["host"] == "client" and reset["t"] > close["t"]


def test_other_labs_and_listeners_are_left_out():
    text = (
        "  graceserver-1 [001] ..... 10.000001: inet_sock_set_state: family=AF_INET "
        "protocol=IPPROTO_TCP sport=43211 dport=0 saddr=0.0.0.0 daddr=0.0.0.0 "
        "oldstate=TCP_CLOSE newstate=TCP_LISTEN\n"
        "  other-2 [000] ..s2. 10.000002: inet_sock_set_state: family=AF_INET "
        "protocol=IPPROTO_TCP sport=5000 dport=43211 saddr=10.9.0.2 daddr=10.9.0.3 "
        "oldstate=TCP_ESTABLISHED newstate=TCP_FIN_WAIT1\n"
        "  mine-3 [000] ..s2. 10.000003: inet_sock_set_state: family=AF_INET "
        "protocol=IPPROTO_TCP sport=5000 dport=43211 saddr=172.20.0.2 daddr=172.20.0.3 "
        "oldstate=TCP_ESTABLISHED newstate=TCP_FIN_WAIT1\n")
    records = for_lab(parse_trace(text), {"client": "172.20.0.2", "server": "172.20.0.3"},
                      43211, offset=-9.0)
    assert [(r["host"], r["newstate"], r["t"]) for r in records] == [("client", "FIN-WAIT-1",
                                                                      1.000003)]


def test_tcpdump_counts_are_the_closing_ones_after_the_drain_s_sigusr1_lines(data):
    # netkit-observe asks tcpdump for its counts (SIGUSR1: one 'tcpdump: ...' line each
    # time) until it has written what its filter took; the closing lines decide.
    log = (data / "tcpdump-drained-client.txt").read_text()
    assert "tcpdump: 15 packets captured, 15 packets received by filter" in log
    assert capture_counts(log) == {"captured": 15, "received": 15, "dropped": 0}
    earlier = "tcpdump: 9 packets captured, 10 packets received by filter, 0 packets " \
              "dropped by kernel\n"
    assert capture_counts(earlier + log) == {"captured": 15, "received": 15, "dropped": 0}
