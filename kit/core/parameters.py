"""A run's parameters: validated in this one place, from the command line or a file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kit.core.run_options import PARAMETER, RUN_OPTIONS


@dataclass(frozen=True)
class RunParameters:
    """The validated knobs of one run."""

    server_delay: float = 1.0
    sigpipe: str = "ignore"
    ss_interval: float = 0.04
    # Below the ephemeral range (32768-60999): Docker's DNS resolver listens on a port of
    # that range in every container, and once drew the run's port.
    port: int = 13211
    kernel_trace: bool = True
    # What a shaped link adds to a round trip at most (latency and jitter, both ways):
    # plans that wait for a reply to arrive wait that much longer.
    link_rtt: float = 0.0


# What the user may set (as options or under 'parameters:' in a file), and how each is
# read: the parameters of the run options' table.
PARSERS: dict[str, Callable[[str, Any], Any]] = {
    option.name: option.parse for option in RUN_OPTIONS if option.group == PARAMETER}


def parse_parameter(name: str, value: Any) -> Any:
    """One parameter from the user's value; BadInput names its option."""
    return PARSERS[name]("--" + name.replace("_", "-"), value)


def parse_parameters(**values: Any) -> RunParameters:
    """RunParameters from the given values (None: the default)."""
    return RunParameters(**{name: parse_parameter(name, value)
                            for name, value in values.items() if value is not None})
