"""The link options, declared once: this table drives the task options and their
--help (tasks.py), parsing (kit.impair.spec), the experiment file's link and matrix keys
(kit.experiment.spec), and the Impairment field each one fills (run.json's link)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kit.core.errors import BadInput
from kit.core.units import bit_rate, choice, duration, percent, whole_number

DIRECTIONS = ("both", "client-to-server", "server-to-client")
DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal")
ENGINES = ("auto", "netem", "userspace")
MAX_DELAY = 60.0


@dataclass(frozen=True)
class LinkOption:
    name: str                                   # keyword, experiment key; --name-with-dashes
    help: str
    parse: Callable[[str, Any], Any]            # (the option's flag, the user's text) -> value
    field: str | None = None                    # the Impairment field (default: name)
    default: str | None = None                  # what the task shows and passes

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _delay(flag: str, text: Any) -> float:
    return duration(flag, text, 0.0, MAX_DELAY)


def _gemodel(flag: str, text: Any) -> tuple[float, ...]:
    """'p,r[,1-h[,1-k]]' in percent, as netem's 'loss gemodel' takes them."""
    parts = [part for part in re.split(r"[,\s]+", str(text).strip()) if part]
    if not 1 <= len(parts) <= 4:
        raise BadInput(f"{flag} must be P,R[,1-H[,1-K]] in percent (like 1%,30% or "
                       f"1%,30%,100%,0%): got {text!r}")
    values = [percent(flag, part) for part in parts]
    if len(values) == 1:
        values.append(100 - values[0])   # netem's own default for r
    return tuple(values)


LINK_OPTIONS: tuple[LinkOption, ...] = (
    LinkOption("latency", "one-way delay added to each shaped direction (100ms, 0.1s, 500us; "
               "a bare number is seconds); with --direction both the round trip carries it "
               "twice", _delay),
    LinkOption("jitter", "variation around --latency (10ms)", _delay),
    LinkOption("latency_correlation", "how much each delay depends on the last one (25%; "
               "netem only)", percent),
    LinkOption("distribution", "of the jitter: uniform (default), normal, pareto, "
               "paretonormal (the last two: netem only)",
               lambda flag, text: choice(flag, text, DISTRIBUTIONS)),
    LinkOption("loss", "random loss of packets (1%)", percent),
    LinkOption("loss_correlation", "burstiness of --loss (25%; netem only)", percent),
    LinkOption("loss_gemodel", "Gilbert-Elliott loss instead of --loss: P,R[,1-H[,1-K]] in "
               "percent (1%,30%; netem only)", _gemodel, field="gemodel"),
    LinkOption("duplicate", "packets sent twice (1%; netem only)", percent),
    LinkOption("corrupt", "packets with one bit flipped (0.1%; netem only)", percent),
    LinkOption("reorder", "packets sent at once, ahead of the delayed ones (25%; needs "
               "--latency)", percent),
    LinkOption("reorder_correlation", "(50%; netem only)", percent),
    LinkOption("rate", "bandwidth limit in bits per second (512kbit, 10mbit, 1gbit)", bit_rate),
    LinkOption("limit", "packets the shaping may hold before it drops (default 10000: "
               "netem's own 1000 silently drops at large delays)",
               lambda flag, text: whole_number(flag, text, 1, 10_000_000, "packets")),
    LinkOption("seed", "seed for repeatable randomness (netem with iproute2 6.5 or later; the "
               "userspace engine seeds jitter and reordering, not --loss)",
               lambda flag, text: whole_number(flag, text, 0, 2**64 - 1)),
    LinkOption("direction", "both (default), client-to-server (the client's egress) or "
               "server-to-client (the server's egress)",
               lambda flag, text: choice(flag, text, DIRECTIONS), default="both"),
    LinkOption("impair_engine", "auto (default: netem where the kernel has it, else "
               "userspace), netem, or userspace (NFQUEUE delay line, iptables drops, tbf)",
               lambda flag, text: choice(flag, text, ENGINES), default="auto"),
)
BY_NAME = {option.name: option for option in LINK_OPTIONS}
NAMES = tuple(BY_NAME)
LINK_HELP = {option.name: option.help for option in LINK_OPTIONS}
