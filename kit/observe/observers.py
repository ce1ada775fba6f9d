"""A host's observers, started and stopped together: the ss sampler, the packet capture
and the kernel's counters (the image's netkit-observe does the work on the host).

One command each way keeps the time a run spends on observation small: every command
is a round trip (a docker exec, later an SSH command).
"""

from __future__ import annotations

from kit.hosts import Host
from kit.observe.capture import capture_counts
from kit.observe.counters import parse_nstat


def sections(text: str) -> dict[str, str]:
    """netkit-observe's output: '### name' lines, each followed by that part's text."""
    parts: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("### "):
            current = line[4:].strip()
            parts[current] = []
        elif current is not None:
            parts[current].append(line)
    return {name: "\n".join(lines) for name, lines in parts.items()}


# Read on each host: they decide how a connection ends (TIME-WAIT, orphans, buffers).
TEARDOWN_SYSCTLS = ("tcp_fin_timeout", "tcp_orphan_retries", "tcp_max_orphans", "tcp_tw_reuse",
                    "tcp_timestamps", "tcp_sack", "tcp_rmem", "tcp_wmem",
                    "tcp_congestion_control")


def parse_sysctls(text: str) -> dict[str, str]:
    """`sysctl` lines ('net.ipv4.tcp_rmem = 4096\t131072\t6291456') by short name, values
    with single spaces; a sysctl the namespace does not show is left out."""
    values = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep:
            values[name.strip().rsplit(".", 1)[-1]] = " ".join(value.split())
    return values


# netkit-observe's names for them, and the kit's (as in the process list).
OBSERVER_NAMES = {"ss": "netkit-ss", "tcpdump": "tcpdump", "delayline": "netkit-delayline"}


def parse_cpu(text: str) -> dict[str, float]:
    """'name nanoseconds' lines (netkit-observe's cpu section), as CPU-seconds by process."""
    spent = {}
    for line in text.splitlines():
        name, _, ns = line.partition(" ")
        if name in OBSERVER_NAMES and ns.strip().isdigit():
            spent[OBSERVER_NAMES[name]] = round(int(ns) / 1e9, 4)
    return spent


class HostObservers:
    """Samples ``port``'s sockets every ``interval`` s and captures ``interface`` on
    ``host``, into ``workdir``."""

    def __init__(self, host: Host, port: int, interval: float, workdir: str, interface: str):
        self.host = host
        self.port = port
        self.interval = interval
        self.workdir = workdir
        self.interface = interface

    def start(self) -> tuple[dict[str, int], dict[str, str]]:
        """Start observing; return the counters as they were just before, and the
        sysctls that decide how connections end, as the host's namespace sees them."""
        output = self.host.run(["netkit-observe", "start", str(self.port), f"{self.interval:g}",
                                self.workdir, self.interface],
                               timeout=20).stdout
        parts = sections(output)
        return parse_nstat(parts.get("nstat", "")), parse_sysctls(parts.get("sysctl", ""))

    def stop(self) -> tuple[dict[str, int], dict[str, int], dict[str, float]]:
        """Stop observing; return the counters now, tcpdump's own counts, and the
        CPU-seconds each observer (and a delay line) spent."""
        parts = sections(self.host.run(["netkit-observe", "stop", self.workdir], timeout=20).stdout)
        return (parse_nstat(parts.get("nstat", "")), capture_counts(parts.get("tcpdump", "")),
                parse_cpu(parts.get("cpu", "")))
