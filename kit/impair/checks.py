"""Checks on the link itself: did it deliver what was asked, all run long?"""

from __future__ import annotations

from kit.core.checks import LAB, Check


def rtt_tolerance_ms(link: dict) -> float:
    """How far the measured median may stray: 2 ms + 10% (the project's test bound),
    widened by the jitter each shaped direction adds."""
    imp = link.get("impairment", {})
    senders = len(link.get("commands", {})) or 1
    return 2 + 0.1 * link["configured_rtt_ms"] + 1000 * imp.get("jitter", 0) * senders


def delivered_rtt_check(link: dict) -> Check | None:
    """Did the link deliver the round trip asked for? None where loss makes the handshake
    time a matter of retransmission timers, not of the link's delay."""
    imp = link.get("impairment", {})
    measured = link.get("measured_rtt")
    if not measured or imp.get("loss") or imp.get("gemodel") or not imp.get("latency"):
        return None
    configured = link["configured_rtt_ms"]
    tolerance = rtt_tolerance_ms(link)
    median = measured["median_ms"]
    return Check("link-as-configured", LAB, abs(median - configured) <= tolerance,
                 f"TCP handshakes take the configured {configured:g} ms round trip "
                 f"(within {tolerance:.1f} ms)",
                 f"median {median:g} ms, p95 {measured['p95_ms']:g} ms over "
                 f"{len(measured['samples_ms'])} handshakes ({link['engine']} engine)")


def delay_line_check(link: dict) -> Check | None:
    """Did the userspace delay line let each packet go on time, the whole run through?
    (The RTT probe only samples the start; a delay line starved of CPU later, as with
    many labs on few cores, shows here.) None for netem, or without the line's figures."""
    lines = link.get("delay_line") or {}
    latency_ms = 1000 * link.get("impairment", {}).get("latency", 0)
    if link.get("engine") != "userspace" or not lines or not latency_ms:
        return None
    # The observers and programs share the lab's CPU: a packet now and then a few ms late
    # is measured (up to 6 ms on 2 cores) and changes nothing at these timescales; a
    # starved line is tens of ms late.
    allowed = 10 + 0.1 * latency_ms
    worst = max(stats["late_max_ms"] for stats in lines.values())
    return Check("link-held-its-timing", LAB, worst <= allowed,
                 f"the delay line releases every packet within {allowed:.1f} ms of its time",
                 "; ".join(f"{role}: {stats['delayed']} packets, mean delay "
                           f"{stats['mean_delay_ms']:g} ms, latest {stats['late_max_ms']:g} ms "
                           f"late ({stats['late_over_1ms']} over 1 ms)"
                           for role, stats in sorted(lines.items())))
