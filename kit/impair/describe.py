"""The run's link in words, for summaries and reports."""

from __future__ import annotations


def link_text(link: dict | None) -> str:
    """One line on a run's link (run.json's ``link``): what was asked, by which engine,
    what it delivered."""
    if not link:
        return "unshaped (the Docker bridge as it is)"
    asked = ", ".join(f"{key} {_value(key, value)}"
                      for key, value in link.get("impairment", {}).items())
    text = f"{asked}; {link.get('direction')}; {link.get('engine')} engine"
    measured = link.get("measured_rtt")
    if measured:
        text += (f"; RTT configured {link['configured_rtt_ms']:g} ms, measured median "
                 f"{measured['median_ms']:g} ms (p95 {measured['p95_ms']:g} ms)")
    return text


def _value(key: str, value) -> str:
    if key in ("latency", "jitter"):
        return f"{value * 1000:g} ms"
    if key == "rate":
        return f"{value / 1e6:g} mbit/s"
    if key in ("limit", "seed"):
        return str(value)
    if isinstance(value, dict):
        return " ".join(f"{k}={v:g}%" for k, v in value.items())
    return f"{value:g}%"
