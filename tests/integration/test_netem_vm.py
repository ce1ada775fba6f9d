"""netem for real, although this project's kernels lack it: the kit's own netem commands
run in a VM booting Debian's stock kernel (qemu, software emulation), between two network
namespaces, and what crosses is measured.

The VM image is built on first use (apt fetches qemu and the kernel: about two minutes).
"""

from __future__ import annotations

import re
import statistics

import pytest

from kit.impair.spec import parse_link
from kit.testbeds.docker.netemvm import Measure, ensure_vm_image, median_rtt, run_checks


def impairment(**options):
    return parse_link(**options).impairment


MEASURES = [
    Measure("delay50", impairment(latency="50ms")),
    Measure("both20", impairment(latency="20ms"), ("client", "server")),
    Measure("back30", impairment(latency="30ms"), ("server",)),
    Measure("jitter", impairment(latency="50ms", jitter="5ms", distribution="normal"), count=40),
    Measure("jitter-uniform", impairment(latency="50ms", jitter="5ms"), count=40),
    Measure("loss20", impairment(loss="20%"), kind="loss", count=300),
    Measure("rate8", impairment(rate="8mbit"), kind="rate"),
    Measure("replaced", impairment(latency="10ms")),
    Measure("cleared", impairment(latency="10ms"), kind="clear"),
]


@pytest.fixture(scope="module")
def vm(lab_image):
    return run_checks(ensure_vm_image(lab_image), MEASURES)


def added(vm, name: str) -> float:
    """What the shaping added to the VM's own round trip (emulation makes it ~1 ms)."""
    return median_rtt(vm, name) - median_rtt(vm, "baseline")


def within(measured: float, configured: float) -> bool:
    return abs(measured - configured) <= 2 + 0.1 * configured


def test_the_vm_boots_a_kernel_with_netem_and_every_command_applies(vm):
    assert vm.kernel, vm.console[-500:]
    assert not vm.errors, vm.errors
    applied = [name for name in vm.results if ":apply:" in name]
    assert len(applied) == 2 * len(MEASURES)
    assert all(vm.results[name] == {"text": "applied"} for name in applied)


def test_delay_one_way_both_ways_and_back(vm):
    assert within(added(vm, "delay50"), 50), added(vm, "delay50")
    assert within(added(vm, "both20"), 40), added(vm, "both20")
    assert within(added(vm, "back30"), 30), added(vm, "back30")


@pytest.mark.parametrize("name", ["jitter", "jitter-uniform"])
def test_jitter_normal_from_its_table_and_uniform_by_default(vm, name):
    samples = vm.results[name]["connect_ms"][1:]
    assert within(statistics.median(samples) - median_rtt(vm, "baseline"), 50)
    # Normal: sigma 5 ms; uniform over +-5 ms: sigma 2.9 ms.
    assert 1.5 < statistics.stdev(samples) < 10, samples


def test_loss_is_delivered(vm):
    lost = float(re.match(r"([0-9.]+)%", vm.results["loss20"]["text"]).group(1))
    assert 10 <= lost <= 30, lost   # 300 pings at 20%: 4 standard deviations either side


def test_rate_is_delivered(vm):
    goodput = vm.results["rate8"]["bits_per_second"]
    # Payload over wire bits: TCP/IP/Ethernet headers take about 4.4% of a full frame.
    assert 0.85 * 8e6 <= goodput <= 8e6, goodput


def test_reapplying_replaces_and_clearing_removes(vm):
    assert within(added(vm, "replaced"), 10), added(vm, "replaced")
    assert vm.results["cleared:clear"] == 0
