"""The value grammars every option and file field uses, each refusing a bad value with
one line that names the option, what is allowed and what was given.

Durations have one grammar everywhere: a number with ``s``, ``ms`` or ``us``; a bare
number is seconds (``--server-delay 1``, ``--latency 0.1``, ``at: 0.5`` in a file).
"""

from __future__ import annotations

import re
from typing import Any

from kit.core.errors import BadInput

DURATION_UNITS = {"": 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}


def _number(option: str, text: object, what: str) -> tuple[float, str]:
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z%]*)\s*", str(text))
    if not match:
        raise BadInput(f"{option} must be {what}: got {text!r}")
    return float(match.group(1)), match.group(2).lower()


def duration(option: str, text: object, low: float, high: float) -> float:
    """Seconds from '100ms', '0.1s', '250us' or '0.1' (a bare number is seconds)."""
    what = "a time like 100ms, 0.1s or 500us (a bare number is seconds)"
    value, unit = _number(option, text, what)
    if unit not in DURATION_UNITS:
        raise BadInput(f"{option} must be {what}: got {text!r}")
    seconds = value * DURATION_UNITS[unit]
    if not low <= seconds <= high:
        bare = " (a bare number is seconds)" if not unit else ""
        raise BadInput(f"{option} must be between {low:g}s and {high:g}s: got {text}{bare}")
    return seconds


def percent(option: str, text: object) -> float:
    """A percentage from '1%' or '0.5%', between 0 and 100."""
    what = "a percentage like 1% or 0.5%"
    value, unit = _number(option, text, what)
    if unit != "%":
        raise BadInput(f"{option} must be {what}: got {text!r}")
    if value > 100:
        raise BadInput(f"{option} must be between 0% and 100%: got {text}")
    return value


def bit_rate(option: str, text: object) -> int:
    """Bits per second, from '10mbit', '512kbit', '1gbit'. tc's 'kbps' means kilobytes
    per second, a classic mix-up, so byte units are refused rather than guessed."""
    what = "a rate in bits per second, like 512kbit, 10mbit or 1gbit"
    value, unit = _number(option, text, what)
    scale = {"bit": 1, "kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}.get(unit)
    if scale is None:
        raise BadInput(f"{option} must be {what}: got {text!r}")
    bits = round(value * scale)
    if not 8_000 <= bits <= 100_000_000_000:
        raise BadInput(f"{option} must be between 8kbit and 100gbit: got {text}")
    return bits


def whole_number(option: str, text: object, low: int, high: int, unit: str = "") -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise BadInput(f"{option} must be a whole number{' of ' + unit if unit else ''}: "
                       f"got {text!r}") from None
    if not low <= value <= high:
        raise BadInput(f"{option} must be between {low} and {high}: got {text}")
    return value


def image_name(option: str, text: object, example: str) -> str:
    """An image reference as far as the kit can tell without asking Docker (which judges
    the rest): not empty, no blanks."""
    name = str(text)
    if not name or any(char.isspace() for char in name):
        raise BadInput(f"{option} must name an image, like {example}: got {text!r}")
    return name


def choice(option: str, text: object, choices: tuple[str, ...]) -> str:
    if text not in choices:
        raise BadInput(f"{option} must be one of {', '.join(choices)}: got {text!r}")
    return str(text)


def flag(option: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise BadInput(f"{option} must be true or false: got {value!r}")
    return value


def labs_at_once(value: Any, option: str = "--parallel") -> int:
    """--parallel (or ``option``): a whole number of labs, 1 to 64."""
    try:
        labs = int(str(value))
    except ValueError:
        raise BadInput(f"{option} must be a whole number of labs: got {value!r}") from None
    if not 1 <= labs <= 64:
        raise BadInput(f"{option} must be between 1 and 64: got {labs}")
    return labs
