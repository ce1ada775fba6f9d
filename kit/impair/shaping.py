"""Shaping a run's link: the engine chosen for a link request, applied to the hosts and
measured."""

from __future__ import annotations

import time
from dataclasses import dataclass

from kit.hosts import Host
from kit.impair.apply import (
    NetemProbe,
    apply_link,
    choose_engine,
    measure_rtt,
    probe_netem,
    rtt_summary,
)
from kit.impair.spec import LinkRequest

RTT_SAMPLES = 5


@dataclass(frozen=True)
class Shaping:
    """A link request with the engine chosen for it (and why)."""

    link: LinkRequest
    engine: str
    reason: str
    probe: NetemProbe | None = None


def resolve_shaping(link: LinkRequest, image: str) -> Shaping | None:
    """The engine for ``link`` on this Docker host (None for an unshaped link); refuses,
    before anything starts, what the chosen engine cannot honour."""
    if link.is_empty():
        return None
    probe = None if link.engine == "userspace" else probe_netem(image)
    engine, reason = choose_engine(link, probe)
    return Shaping(link, engine, reason, probe)


def shape_lab(hosts: dict[str, Host], shaping: Shaping, server_address: str) -> dict:
    """Apply the shaping, then measure the round trip it delivers; what run.json keeps."""
    started = time.monotonic()
    record = apply_link(hosts, shaping.link, shaping.engine)
    record["engine_reason"] = shaping.reason
    if shaping.probe is not None:
        record["netem_probe"] = shaping.probe.to_json()
    record["apply_s"] = round(time.monotonic() - started, 3)
    started = time.monotonic()
    record["configured_rtt_ms"] = round(shaping.link.added_rtt() * 1000, 3)
    record["measured_rtt"] = rtt_summary(measure_rtt(hosts["server"], hosts["client"],
                                                     server_address, RTT_SAMPLES))
    record["probe_s"] = round(time.monotonic() - started, 3)
    return record
