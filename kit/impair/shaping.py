"""Shaping a run's link: the engine chosen for a link request, applied to the hosts and
measured."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from kit.core.roles import Role
from kit.hosts import Host
from kit.hosts.base import Endpoint
from kit.impair.apply import (
    NetemProbe,
    Place,
    apply_link,
    choose_engine,
    measure_rtt,
    rtt_summary,
)
from kit.impair.spec import LinkRequest

RTT_SAMPLES = 5
SLOW_RTT_S = 1.0        # from this added round trip on, fewer handshakes:
SLOW_RTT_SAMPLES = 3    # each takes that long


@dataclass(frozen=True)
class Shaping:
    """A link request with the engine chosen for it (and why)."""

    link: LinkRequest
    engine: str
    reason: str
    probe: NetemProbe | None = None


def resolve_shaping(link: LinkRequest,
                    probe_netem: Callable[[], NetemProbe]) -> Shaping | None:
    """The engine for ``link`` (None for an unshaped link), probing netem on the lab's
    kernel where it matters (a testbed's netem_probe); refuses, before anything starts,
    what the chosen engine cannot honour."""
    if link.is_empty():
        return None
    probe = None if link.engine == "userspace" else probe_netem()
    engine, reason = choose_engine(link, probe)
    return Shaping(link, engine, reason, probe)


def shape_lab(hosts: Mapping[Role, Host], shaping: Shaping,
              endpoints: Mapping[Role, Endpoint]) -> dict:
    """Apply the shaping on each host's experiment interface, then measure the round trip
    it delivers; what run.json keeps."""
    started = time.monotonic()
    record = apply_link(hosts, shaping.link, shaping.engine,
                        {role: Place(endpoint.interface, endpoint.workdir)
                         for role, endpoint in endpoints.items()})
    record["engine_reason"] = shaping.reason
    if shaping.probe is not None:
        record["netem_probe"] = shaping.probe.to_json()
    record["apply_s"] = round(time.monotonic() - started, 3)
    started = time.monotonic()
    record["configured_rtt_ms"] = round(shaping.link.added_rtt() * 1000, 3)
    # Each handshake takes a round trip: on a slow link three say as much as five.
    samples = RTT_SAMPLES if shaping.link.added_rtt() < SLOW_RTT_S else SLOW_RTT_SAMPLES
    record["measured_rtt"] = rtt_summary(measure_rtt(hosts["server"], hosts["client"],
                                                     endpoints["server"].address, samples,
                                                     endpoints["server"].workdir))
    record["probe_s"] = round(time.monotonic() - started, 3)
    return record
