"""Waits that run inside a host: one command that returns as soon as a file says so.

Polling from here would cost a round trip (a docker exec, an SSH command) every few
milliseconds; a loop on the host itself costs one.
"""

from __future__ import annotations

import shlex

from kit.core.errors import LabFailure
from kit.hosts import Host


class WaitTimedOut(LabFailure):
    """What was awaited did not appear in time."""


def wait_for_line(host: Host, path: str, wanted: dict[str, str], timeout: float) -> str:
    """Wait until a line of ``path`` matches one of ``wanted``'s patterns (extended regular
    expressions, by name); return the name of the first that matches, in ``wanted``'s order."""
    checks = "; ".join(f"grep -qE -e {shlex.quote(pattern)} {shlex.quote(path)} 2>/dev/null "
                       f"&& {{ echo {name}; exit 0; }}" for name, pattern in wanted.items())
    try:
        result = host.run(["sh", "-c", f"while :; do {checks}; sleep 0.005; done"],
                          timeout=timeout)
    except LabFailure as error:
        if "did not finish within" not in str(error):
            raise
        raise WaitTimedOut(f"on {host.name}, {path} showed none of "
                           f"{', '.join(wanted)} within {timeout:g} s") from None
    return result.stdout.strip()
