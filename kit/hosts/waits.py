"""Waits that run inside a host: one command loops on the host until a test holds.

Polling from here would cost a round trip (a docker exec, an SSH command) every few
milliseconds; a loop on the host itself costs one. The loop runs in slices, so that a
process the wait is about can be watched between them: one that ends stops the wait.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from kit.core.errors import LabFailure
from kit.hosts.base import CommandTimedOut, Host, Process

ENDED = "ended"   # what a wait returns when the process it watched ended first


class WaitTimedOut(LabFailure):
    """What was awaited did not appear in time."""


def line_matches(path: str, pattern: str) -> str:
    """A test that holds once a line of ``path`` matches ``pattern`` (extended regex)."""
    return f"grep -qE -e {shlex.quote(pattern)} {shlex.quote(path)} 2>/dev/null"


def command_prints(command: str) -> str:
    """A test that holds once ``command`` prints anything (an ss query, say)."""
    return f'[ -n "$({command})" ]'


@dataclass(frozen=True)
class Wait:
    """Wait up to ``timeout`` s for the first of ``tests`` (shell tests, by name) to hold."""

    what: str                  # for the error: "the server to listen on port 13211"
    tests: dict[str, str]
    timeout: float
    interval: float = 0.005    # between tries on the host
    slice_s: float = 1.0       # between looks at the watched process

    def script(self, once: bool = False) -> str:
        tries = "; ".join(f"{test} && {{ echo {name}; exit 0; }}"
                          for name, test in self.tests.items())
        return f"{tries}; exit 1" if once else f"while :; do {tries}; sleep {self.interval}; done"

    def on(self, host: Host, process: Process | None = None) -> str:
        """The name of the first test that holds; ENDED if ``process`` ended before any
        did; WaitTimedOut when the time is up."""
        deadline = time.monotonic() + self.timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                return host.run(["sh", "-c", self.script()],
                                timeout=min(self.slice_s, left) if process else left
                                ).stdout.strip()
            except CommandTimedOut:
                if process is not None and process.poll() is not None:
                    # It may have written what was awaited just before it ended.
                    last = host.run(["sh", "-c", self.script(once=True)], check=False)
                    return last.stdout.strip() if last.ok else ENDED
        raise WaitTimedOut(f"on {host.name}, {self.what} did not happen within "
                           f"{self.timeout:g} s")
