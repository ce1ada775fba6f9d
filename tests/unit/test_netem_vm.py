"""The netem VM's check script and its console, as recorded from a real boot."""

import shlex
from pathlib import Path

from kit.impair.apply import command_script
from kit.impair.engines import apply_commands, clear_commands, netem_apply
from kit.impair.spec import parse_link
from kit.testbeds.docker.netemvm import Measure, check_script, median_rtt, parse_console

DATA = Path(__file__).resolve().parents[1] / "data"


def test_the_script_runs_the_kits_own_netem_command_in_the_senders_namespace():
    impairment = parse_link(latency="50ms", jitter="5ms", distribution="normal").impairment
    script = check_script([Measure("jitter", impairment, ("server",))])
    shaped = command_script(apply_commands("netem", impairment)) + " && echo applied"
    assert f"ip netns exec server sh -c {shlex.quote(shaped)}" in script
    assert netem_apply(impairment)[0] in shaped
    cleared = command_script(clear_commands()) + " && echo applied"
    assert f"ip netns exec client sh -c {shlex.quote(cleared)}" in script
    assert "netkit-probe connect 10.99.0.2 13299 21" in script


def test_each_kind_of_measure_has_its_tool():
    imp = parse_link(loss="20%").impairment
    script = check_script([Measure("l", imp, kind="loss", count=300),
                           Measure("r", parse_link(rate="8mbit").impairment, kind="rate"),
                           Measure("c", imp, kind="clear")])
    assert "ping -q -c 300 -i 0.01" in script
    assert "netkit-probe send 10.99.0.2 13299 3" in script
    assert "c:clear" in script


def test_a_recorded_console_is_parsed():
    # Recorded from a real boot of Debian's 6.1 kernel under qemu's software emulation.
    result = parse_console((DATA / "netem-vm-console.txt").read_text())
    assert result.kernel == "6.1.0-50-amd64"
    assert not result.errors
    assert result.results["loss20"] == {"text": "20% packet loss"}
    assert result.results["rate8"]["bits_per_second"] == 7644027
    assert result.results["cleared:clear"] == 0
    assert 50 < median_rtt(result, "delay50") < 53
    assert result.results["delay50:apply:client"] == {"text": "applied"}


def test_an_error_line_is_kept_with_its_message():
    result = parse_console("=== netkit-vm start 6.1.0\n"
                           "=== netkit-vm error x:apply:client Error: Specified qdisc kind is "
                           "unknown.\n")
    assert result.errors == {"x:apply:client": "Error: Specified qdisc kind is unknown."}
