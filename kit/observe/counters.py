"""The kernel's SNMP counters of a host's network namespace (`nstat`).

Counters are per network namespace, so a container's counters count only the lab's
own traffic: an RST the client's kernel sent shows as TcpOutRsts going up there.
"""

from __future__ import annotations

# The counter the verdict reads; the full set is kept in the results.
RST_SENT = "TcpOutRsts"


def parse_nstat(text: str) -> dict[str, int]:
    """`nstat -saz` output: 'NAME  VALUE  RATE' lines after '#kernel'."""
    counters = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#") and parts[1].isdigit():
            counters[parts[0]] = int(parts[1])
    return counters


def difference(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """What changed during the run (counters that did not move are left out)."""
    return {name: after[name] - before.get(name, 0) for name in after
            if after[name] != before.get(name, 0)}
