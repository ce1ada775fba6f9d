"""The collect phase: the hosts' files copied into the run directory and parsed into
the evidence, with the kernel trace read alongside."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from kit.core.errors import KitError
from kit.core.progress import say
from kit.core.results import RunDirectory
from kit.core.roles import Role
from kit.hosts import Host
from kit.observe.capture import parse_pcap, segments
from kit.observe.events import parse_events
from kit.observe.kernel import for_lab, parse_trace
from kit.observe.observers import sections
from kit.observe.ss import parse_samples
from kit.run.programs import EVENTS, LOG
from kit.scenarios import Evidence
from kit.testbeds.base import Endpoint


def fetch_files(hosts: Mapping[Role, Host], endpoints: Mapping[Role, Endpoint],
                directory: RunDirectory) -> dict[Role, dict[str, Path]]:
    """Each host's run files, copied into raw/<role>/ (both at once)."""
    def fetch(role: Role) -> dict[str, Path]:
        try:
            copied = hosts[role].fetch_dir(endpoints[role].workdir, directory.root / "raw" / role)
        except KitError as error:
            say(f"could not copy {role}'s files: {error}")
            return {}
        return {path.name: path for path in copied}

    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        return dict(zip(hosts, pool.map(fetch, hosts)))


def collect(hosts: Mapping[Role, Host], endpoints: Mapping[Role, Endpoint], evidence: Evidence,
            t0: float, directory: RunDirectory, port: int,
            read_trace: Callable[[], str | None] = lambda: None,
            clock_offsets: Mapping[Role, float] | None = None) -> None:
    """Copy the hosts' files into the run directory and parse them into the evidence.

    ``read_trace`` returns the kernel trace's text, or None where there is none;
    ``clock_offsets``: each host's clock minus the controller's, where they differ (two
    machines): every time a host wrote is put on the controller's clock.
    """
    captures = {}
    for role, files in fetch_files(hosts, endpoints, directory).items():
        def text(name: str, files: dict[str, Path] = files) -> str:
            return files[name].read_text() if name in files else ""

        offset = (clock_offsets or {}).get(role, 0.0)
        evidence.events[role] = parse_events(text(EVENTS), t0 + offset)
        evidence.logs[role] = text(LOG)
        sampled = parse_samples(text("ss.raw"), t0 + offset)
        evidence.samples[role] = sorted(sampled + evidence.samples.get(role, []),
                                        key=lambda record: record.rt)
        pcap = files["capture.pcap"].read_bytes() if "capture.pcap" in files else b""
        if pcap:
            directory.write_bytes(f"pcap/{role}.pcap", pcap)
        captures[role] = [replace(packet, ts=packet.ts - offset)
                          for packet in parse_pcap(pcap, port)]
        directory.write_jsonl(f"events/{role}.jsonl", evidence.events[role])
        directory.write_text(f"logs/{role}.log", evidence.logs[role])
        directory.write_jsonl(f"ss/{role}.jsonl", [r.to_json() for r in evidence.samples[role]])
    addresses = {role: endpoint.address for role, endpoint in endpoints.items()}
    evidence.packets = segments(captures, addresses, t0)
    directory.write_jsonl("packets.jsonl", evidence.packets)
    trace_text = read_trace()
    if trace_text is not None:
        directory.write_text("raw/kernel.trace", trace_text)
        evidence.kernel = kernel_records(trace_text, evidence.events, addresses, port, t0)
        directory.write_jsonl("kernel.jsonl", evidence.kernel)


def kernel_records(trace_text: str, events: Mapping[str, list[dict]],
                   addresses: dict[str, str], port: int, t0: float) -> list[dict]:
    """The trace's records of this run, on the run's time axis. A trace of one kernel
    (a Docker host's) is one text; two machines' come as '### <role>' parts, each on
    its own monotonic clock, each keeping its own host's sockets only."""
    parts = sections(trace_text)
    if not parts:
        return for_lab(parse_trace(trace_text), addresses, port,
                       monotonic_offset(events, t0))
    records = []
    for role, text in parts.items():
        mine = {role: events.get(role, [])}
        kept = for_lab(parse_trace(text), addresses, port, monotonic_offset(mine, t0))
        records += [record for record in kept if record["host"] == role]
    return sorted(records, key=lambda record: record["t"])


def monotonic_offset(events: Mapping[str, list[dict]], t0: float) -> float:
    """What to add to a CLOCK_MONOTONIC time to get seconds since t0.

    The programs read both clocks for every event, on the lab's own kernel, so any
    event gives the offset (on the host that runs the kit, the clocks may differ:
    Docker Desktop runs the lab in a VM).
    """
    for stream in events.values():
        for event in stream:
            if "t" in event and "mono" in event:     # t: rt - t0, on the controller's clock
                return event["t"] - event["mono"]
    return 0.0


def delay_line_figures(root: Path) -> dict[str, dict]:
    """What each host's delay line reported (raw/<host>/delayline.json), where it ran."""
    figures = {}
    for path in sorted(root.glob("raw/*/delayline.json")):
        try:
            figures[path.parent.name] = json.loads(path.read_text())
        except ValueError:
            pass   # cut short (the line stopped while writing): no figures
    return figures
