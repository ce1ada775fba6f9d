"""The programs' event streams: one JSON object a line (see docs/events.md)."""

from __future__ import annotations

import json


def parse_events(text: str, t0: float | None = None) -> list[dict]:
    """Events in order, each with ``t``: seconds since the run started.

    A line cut short (a process killed while writing) is skipped, not fatal.
    """
    events = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if t0 is not None and "rt" in event:
            event["t"] = round(event["rt"] - t0, 6)
        events.append(event)
    return events


def received_data(events: list[dict]) -> str:
    """All bytes a program read, in order (reads may split or join messages)."""
    return "".join(e.get("data", "") for e in events if e["event"] == "read" and e["ret"] > 0)
