"""What a link impairment is, parsed and validated from the user's text.

Every value carries its unit (``100ms``, ``1%``, ``10mbit``); a bad one is refused with
one line naming the option, what is allowed and what was given.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace

from kit.core.errors import BadInput

DIRECTIONS = ("both", "client-to-server", "server-to-client")
DISTRIBUTIONS = ("uniform", "normal", "pareto", "paretonormal")
ENGINES = ("auto", "netem", "userspace")
# Which container's egress carries each direction.
SENDER = {"client-to-server": "client", "server-to-client": "server"}
# netem's default queue is 1000 packets: at a large delay and a fast sender that silently
# drops. The kit always sets the limit, to this unless asked otherwise.
DEFAULT_LIMIT = 10000
MAX_DELAY = 60.0


def _number(option: str, text: str, what: str) -> tuple[float, str]:
    match = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z%]*)\s*", str(text))
    if not match:
        raise BadInput(f"--{option} must be {what}: got {text!r}")
    return float(match.group(1)), match.group(2).lower()


def duration(option: str, text: str, high: float = MAX_DELAY) -> float:
    """Seconds, from '100ms', '0.1s', '250us'; a bare number is refused (which unit?)."""
    what = "a time with its unit, like 100ms, 0.1s or 500us"
    value, unit = _number(option, text, what)
    scale = {"s": 1.0, "ms": 1e-3, "us": 1e-6}.get(unit)
    if scale is None:
        raise BadInput(f"--{option} must be {what}: got {text!r}")
    seconds = value * scale
    if seconds > high:
        raise BadInput(f"--{option} must be between 0 and {high:g}s: got {text}")
    return seconds


def percent(option: str, text: str) -> float:
    """A percentage from '1%' or '0.5%', between 0 and 100."""
    what = "a percentage like 1% or 0.5%"
    value, unit = _number(option, text, what)
    if unit != "%":
        raise BadInput(f"--{option} must be {what}: got {text!r}")
    if value > 100:
        raise BadInput(f"--{option} must be between 0% and 100%: got {text}")
    return value


def bit_rate(option: str, text: str) -> int:
    """Bits per second, from '10mbit', '512kbit', '1gbit'. tc's 'kbps' means kilobytes
    per second, a classic mix-up, so byte units are refused rather than guessed."""
    what = "a rate in bits per second, like 512kbit, 10mbit or 1gbit"
    value, unit = _number(option, text, what)
    scale = {"bit": 1, "kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}.get(unit)
    if scale is None:
        raise BadInput(f"--{option} must be {what}: got {text!r}")
    bits = round(value * scale)
    if not 8_000 <= bits <= 100_000_000_000:
        raise BadInput(f"--{option} must be between 8kbit and 100gbit: got {text}")
    return bits


@dataclass(frozen=True)
class GilbertElliott:
    """netem's 'loss gemodel p r 1-h 1-k', all in percent."""

    p: float          # good -> bad
    r: float          # bad -> good
    one_minus_h: float = 100.0   # loss probability in the bad state
    one_minus_k: float = 0.0     # loss probability in the good state


@dataclass(frozen=True)
class Impairment:
    """One direction's link, as asked for. Times in seconds, rates in bit/s."""

    latency: float = 0.0
    jitter: float = 0.0
    latency_correlation: float = 0.0      # percent
    distribution: str | None = None       # with jitter; netem's default is uniform
    loss: float = 0.0                     # percent, random
    loss_correlation: float = 0.0
    gemodel: GilbertElliott | None = None
    duplicate: float = 0.0
    corrupt: float = 0.0
    reorder: float = 0.0                  # percent sent at once, ahead of the delayed ones
    reorder_correlation: float = 0.0
    rate: int | None = None
    limit: int = DEFAULT_LIMIT            # packets
    seed: int | None = None

    def is_empty(self) -> bool:
        return self == Impairment(limit=self.limit, seed=self.seed)

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, 0, 0.0)}

    def one_way_bound(self) -> float:
        """The longest one-way delay a packet should see (latency plus three jitters)."""
        return self.latency + 3 * self.jitter


@dataclass(frozen=True)
class LinkRequest:
    """The impairment, where it applies, and which engine may apply it."""

    impairment: Impairment = field(default_factory=Impairment)
    direction: str = "both"
    engine: str = "auto"

    def senders(self) -> tuple[str, ...]:
        """The roles whose egress is shaped: 'client', 'server' or both."""
        if self.direction == "both":
            return ("client", "server")
        return (SENDER[self.direction],)

    def is_empty(self) -> bool:
        return self.impairment.is_empty()

    def added_delay(self, role: str) -> float:
        """The most a packet ``role`` sends can be held back (0 where not shaped)."""
        return self.impairment.one_way_bound() if role in self.senders() else 0.0

    def round_trip_bound(self) -> float:
        """The most the shaping can add to a round trip (latency and jitter, both ways)."""
        return self.added_delay("client") + self.added_delay("server")

    def added_rtt(self) -> float:
        """What the configured shaping adds to a round trip (no jitter)."""
        return self.impairment.latency * len(self.senders())

    def to_json(self) -> dict:
        return {"direction": self.direction, "engine_asked": self.engine,
                "impairment": self.impairment.to_json()}


def parse_link(latency=None, jitter=None, latency_correlation=None, distribution=None,
               loss=None, loss_correlation=None, loss_gemodel=None, duplicate=None, corrupt=None,
               reorder=None, reorder_correlation=None, rate=None, limit=None, seed=None,
               direction="both", impair_engine="auto") -> LinkRequest:
    """The user's options (strings, None where not given) as a validated LinkRequest."""
    values = parse_values(latency=latency, jitter=jitter,
                          latency_correlation=latency_correlation, distribution=distribution,
                          loss=loss, loss_correlation=loss_correlation,
                          loss_gemodel=loss_gemodel, duplicate=duplicate, corrupt=corrupt,
                          reorder=reorder, reorder_correlation=reorder_correlation, rate=rate,
                          limit=limit, seed=seed, direction=direction,
                          impair_engine=impair_engine)
    direction, engine = values.pop("direction", "both"), values.pop("impair_engine", "auto")
    impairment = replace(Impairment(), **values)
    if impairment.is_empty() and ("limit" in values or "seed" in values):
        raise BadInput("--limit and --seed go with an impairment (--latency, --loss, "
                       "--rate ...): alone they shape nothing")
    check_combinations(impairment)
    return LinkRequest(impairment, direction, engine)


def parse_values(**options) -> dict:
    """Each given option on its own (units, ranges, choices), as Impairment's fields
    plus direction and impair_engine; how they combine is check_combinations' part."""
    given = {name: text for name, text in options.items() if text is not None}
    values: dict = {}
    direction = given.pop("direction", "both")
    if direction not in DIRECTIONS:
        raise BadInput(f"--direction must be one of {', '.join(DIRECTIONS)}: got {direction!r}")
    engine = given.pop("impair_engine", "auto")
    if engine not in ENGINES:
        raise BadInput(f"--impair-engine must be one of {', '.join(ENGINES)}: got {engine!r}")
    for name in ("latency", "jitter"):
        if name in given:
            values[name] = duration(name, given.pop(name))
    for name in ("latency_correlation", "loss", "loss_correlation", "duplicate", "corrupt",
                 "reorder", "reorder_correlation"):
        if name in given:
            values[name] = percent(name.replace("_", "-"), given.pop(name))
    if "distribution" in given:
        distribution = given.pop("distribution")
        if distribution not in DISTRIBUTIONS:
            raise BadInput(f"--distribution must be one of {', '.join(DISTRIBUTIONS)}: "
                           f"got {distribution!r}")
        values["distribution"] = distribution
    if "loss_gemodel" in given:
        values["gemodel"] = parse_gemodel(given.pop("loss_gemodel"))
    if "rate" in given:
        values["rate"] = bit_rate("rate", given.pop("rate"))
    if "limit" in given:
        values["limit"] = whole_number("limit", given.pop("limit"), 1, 10_000_000, "packets")
    if "seed" in given:
        values["seed"] = whole_number("seed", given.pop("seed"), 0, 2**64 - 1, "")
    if given:
        raise BadInput(f"unknown link option: {', '.join(given)}")
    return {**values, "direction": direction, "impair_engine": engine}


def whole_number(option: str, text, low: int, high: int, unit: str) -> int:
    try:
        value = int(str(text).strip())
    except ValueError:
        raise BadInput(f"--{option} must be a whole number{' of ' + unit if unit else ''}: "
                       f"got {text!r}") from None
    if not low <= value <= high:
        raise BadInput(f"--{option} must be between {low} and {high}: got {text}")
    return value


def parse_gemodel(text: str) -> GilbertElliott:
    """'p,r[,1-h[,1-k]]' in percent, as netem's 'loss gemodel' takes them."""
    parts = [part for part in re.split(r"[,\s]+", str(text).strip()) if part]
    if not 1 <= len(parts) <= 4:
        raise BadInput("--loss-gemodel must be P,R[,1-H[,1-K]] in percent (like 1%,30% or "
                       f"1%,30%,100%,0%): got {text!r}")
    values = [percent("loss-gemodel", part) for part in parts]
    if len(values) == 1:
        values.append(100 - values[0])   # netem's own default for r
    return GilbertElliott(*values)


def check_combinations(imp: Impairment) -> None:
    """Refuse what netem would take but silently ignore, or reject with a vague error."""
    if imp.jitter and not imp.latency:
        raise BadInput("--jitter needs --latency (jitter varies the latency around its value)")
    if (imp.distribution or imp.latency_correlation) and not imp.jitter:
        raise BadInput("--distribution and --latency-correlation need --jitter")
    if imp.reorder and not imp.latency:
        raise BadInput("--reorder needs --latency: reordered packets are the ones sent "
                       "without the delay, ahead of the delayed ones")
    if imp.reorder_correlation and not imp.reorder:
        raise BadInput("--reorder-correlation needs --reorder")
    if imp.loss_correlation and not imp.loss:
        raise BadInput("--loss-correlation needs --loss")
    if imp.loss and imp.gemodel:
        raise BadInput("--loss and --loss-gemodel are two loss models: give one of them")
