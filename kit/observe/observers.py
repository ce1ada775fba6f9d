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


class HostObservers:
    """Samples ``port``'s sockets every ``interval`` s and captures ``interface`` on
    ``host``, into ``workdir``."""

    def __init__(self, host: Host, port: int, interval: float, workdir: str, interface: str):
        self.host = host
        self.port = port
        self.interval = interval
        self.workdir = workdir
        self.interface = interface

    def start(self) -> dict[str, int]:
        """Start observing; return the counters as they were just before."""
        output = self.host.run(["netkit-observe", "start", str(self.port), f"{self.interval:g}",
                                self.workdir, self.interface],
                               timeout=20).stdout
        return parse_nstat(sections(output).get("nstat", ""))

    def stop(self) -> tuple[dict[str, int], dict[str, int]]:
        """Stop observing; return the counters now, and tcpdump's own counts."""
        parts = sections(self.host.run(["netkit-observe", "stop", self.workdir], timeout=20).stdout)
        return parse_nstat(parts.get("nstat", "")), capture_counts(parts.get("tcpdump", ""))
