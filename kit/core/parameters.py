"""A run's parameters: validated in this one place, from the command line or a file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kit.core.errors import BadInput
from kit.core.units import choice, duration, flag

SIGPIPE_CHOICES = ("ignore", "default", "handler")


@dataclass(frozen=True)
class RunParameters:
    """The validated knobs of one run."""

    server_delay: float = 1.0
    sigpipe: str = "ignore"
    ss_interval: float = 0.04
    port: int = 43211
    kernel_trace: bool = True
    # What a shaped link adds to a round trip at most (latency and jitter, both ways):
    # plans that wait for a reply to arrive wait that much longer.
    link_rtt: float = 0.0


# What the user may set (as options or under 'parameters:' in a file), and how each is read.
PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "server_delay": lambda option, value: duration(option, value, 0.1, 60),
    "ss_interval": lambda option, value: duration(option, value, 0.001, 1.0),
    "sigpipe": lambda option, value: choice(option, value, SIGPIPE_CHOICES),
    "kernel_trace": flag,
}


def parse_parameter(name: str, value: Any) -> Any:
    """One parameter from the user's value; BadInput names its option."""
    return PARSERS[name]("--" + name.replace("_", "-"), value)


def parse_parameters(**values: Any) -> RunParameters:
    """RunParameters from the given values (None: the default)."""
    return RunParameters(**{name: parse_parameter(name, value)
                            for name, value in values.items() if value is not None})


def labs_at_once(value: Any, option: str = "--parallel") -> int:
    """--parallel (or ``option``): a whole number of labs, 1 to 64."""
    try:
        labs = int(str(value))
    except ValueError:
        raise BadInput(f"{option} must be a whole number of labs: got {value!r}") from None
    if not 1 <= labs <= 64:
        raise BadInput(f"{option} must be between 1 and 64: got {labs}")
    return labs
