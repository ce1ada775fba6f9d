"""What each kernel traces, read from what Debian's own kernels said under qemu
(tests/data/kernels: 5.10, 6.1, 6.12; 6.18 from this project's machines): the tracer's
probe, and the trace of the lesson's abrupt close and of fin-timeout/expired."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit.observe.kernel import for_lab, parse_trace, start_script
from kit.observe.tracepoints import (
    ERROR_REPORT,
    EVENTS,
    RESET_REASONS,
    RESET_SENT,
    RESETS,
    KernelTracing,
    parse_probe,
)

KERNELS = Path(__file__).resolve().parent.parent / "data" / "kernels"
VERSIONS = ("5.10", "6.1", "6.12", "6.18")
ADDRESSES = {"client": "10.99.0.1", "server": "10.99.0.2"}
PORTS = {"close-abrupt": 43211, "fin-timeout-expired": 43212}


def probe(version: str) -> KernelTracing:
    return parse_probe((KERNELS / version / "probe.txt").read_text())


def traced(version: str, run: str) -> list[dict]:
    """The run's own records of that kernel's trace, on the trace's clock."""
    records = parse_trace((KERNELS / version / "trace.txt").read_text())
    return for_lab(records, ADDRESSES, PORTS[run], 0.0)


def events_of(records: list[dict], host: str) -> list[str]:
    return [r["event"] for r in records if r["host"] == host]


@pytest.mark.parametrize("version", VERSIONS)
def test_the_probe_names_the_kernel_and_each_event_with_its_fields(version):
    tracing = probe(version)
    assert tracing.release.startswith(version + ("." if version != "6.18" else ""))
    for event in tracing.fields:
        assert (event in EVENTS and "sport" in tracing.fields[event]) or event == RESET_SENT
        assert not any(name.startswith("common_") for name in tracing.fields[event])
    assert {"saddr", "daddr"} <= set(tracing.fields["sock/inet_sock_set_state"])


def test_5_10_lacks_the_error_report_event_and_traces_rsts_of_full_sockets_only():
    tracing = probe("5.10")
    assert tracing.missing == [ERROR_REPORT]
    limits = tracing.limits()
    assert "5.10.0-32-amd64" in limits[ERROR_REPORT] and "Linux 5.14" in limits[ERROR_REPORT]
    assert "19822a980e19" in limits[RESETS] and "TIME-WAIT" in limits[RESETS]
    assert "reason=" in limits[RESET_REASONS]


def test_6_1_has_every_event_but_traces_rsts_of_full_sockets_only():
    tracing = probe("6.1")
    assert tracing.missing == []
    assert "reason" not in tracing.fields[RESET_SENT]
    assert set(tracing.limits()) == {RESETS, RESET_REASONS}
    assert "6.1.0-50-amd64" in tracing.limits()[RESETS]


@pytest.mark.parametrize("version", ["6.12", "6.18"])
def test_from_6_10_nothing_is_hidden(version):
    tracing = probe(version)
    assert tracing.missing == [] and tracing.limits() == {}
    # From 6.10 the RST's addresses are whole sockaddrs (printed src=, dest=), no ports.
    assert {"reason", "saddr", "daddr"} <= set(tracing.fields[RESET_SENT])
    assert "sport" not in tracing.fields[RESET_SENT]


@pytest.mark.parametrize("version", VERSIONS)
def test_what_run_json_records_reads_back_the_same(version):
    tracing = probe(version)
    again = KernelTracing.from_json(json.loads(json.dumps(tracing.to_json())))
    assert again == tracing and again.limits() == tracing.limits()
    assert KernelTracing.from_json({"recorded": True}) is None   # before kernels were asked


@pytest.mark.parametrize("version", ["5.10", "6.1", "6.12"])
def test_every_kernel_traces_the_abrupt_close_s_transitions_and_the_reset_received(version):
    records = traced(version, "close-abrupt")
    moves = [(r["oldstate"], r["newstate"]) for r in records
             if r["host"] == "client" and r["event"] == "inet_sock_set_state"]
    assert moves[-3:] == [("ESTAB", "FIN-WAIT-1"), ("FIN-WAIT-1", "FIN-WAIT-2"),
                          ("FIN-WAIT-2", "CLOSE")]
    assert "tcp_receive_reset" in events_of(records, "server")


@pytest.mark.parametrize("run", sorted(PORTS))
def test_before_6_10_the_rst_of_a_time_wait_or_no_socket_leaves_no_trace(run):
    for version in ("5.10", "6.1"):
        assert "tcp_send_reset" not in events_of(traced(version, run), "client")
        nstat = (KERNELS / version / f"{run}-client.nstat").read_text()
        assert "TcpOutRsts" in nstat   # yet the client's kernel sent it
    sent = [r for r in traced("6.12", run) if r["event"] == "tcp_send_reset"]
    wanted = "TCP_TIMEWAIT_SOCKET" if run == "close-abrupt" else "NO_SOCKET"
    assert [(r["host"], r["reason"]) for r in sent] == [("client", wanted)]


def test_the_error_report_is_traced_where_the_kernel_has_it():
    assert "inet_sk_error_report" not in events_of(traced("5.10", "close-abrupt"), "server")
    assert "inet_sk_error_report" in events_of(traced("6.1", "close-abrupt"), "server")


def test_the_start_script_enables_only_what_exists_and_says_what_it_found():
    script = start_script("/sys/kernel/tracing/instances/netkit-x", 43211)
    for event in EVENTS:
        assert f"if [ -e /sys/kernel/tracing/instances/netkit-x/events/{event}/format ]" \
            in script
        assert f"echo '### missing {event}'" in script
    # A filter the kernel refuses leaves the event on, unfiltered (the kit filters).
    assert "### unfiltered sock/inet_sock_set_state" in script
    assert "### unfiltered tcp/tcp_send_reset" not in script


def test_the_start_script_on_a_kernel_without_an_event_starts_the_rest(tmp_path):
    """The script run for real against a stand-in tracefs shaped as 5.10's: the missing
    event is reported and the others are enabled (it used to stop the whole trace)."""
    import subprocess

    instance = tmp_path / "instances" / "netkit-x"
    stubs = tmp_path / "bin"
    stubs.mkdir()
    (stubs / "mountpoint").write_text("#!/bin/sh\nexit 0\n")
    # mkdir of the instance makes the kernel's files, as tracefs does; 5.10's events only.
    present = [event for event in EVENTS if event != ERROR_REPORT]
    made = " ".join(f'"$1/events/{event}"' for event in present)
    (stubs / "mkdir").write_text(
        f'#!/bin/sh\n/bin/mkdir -p "$1" {made}\n'
        f'for d in {made}; do echo "\tfield:int sport;" > "$d/format"; done\n')
    for stub in stubs.iterdir():
        stub.chmod(0o755)
    instance.parent.mkdir(parents=True)
    result = subprocess.run(["sh", "-ec", start_script(str(instance), 43211)],
                            capture_output=True, text=True, timeout=20,
                            env={"PATH": f"{stubs}:/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    tracing = parse_probe(result.stdout)
    assert tracing.missing == [ERROR_REPORT]
    for event in present:
        assert (instance / "events" / event / "enable").read_text() == "1\n"
    assert (instance / "events" / "sock/inet_sock_set_state" / "filter").read_text() \
        == "sport == 43211 || dport == 43211\n"
    assert (instance / "tracing_on").read_text() == "1\n"
