"""What a link impairment is, parsed and validated from the user's text.

Every value carries its unit (``100ms``, ``1%``, ``10mbit``); a bad one is refused with
one line naming the option, what is allowed and what was given.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from kit.core.errors import BadInput
from kit.core.roles import ROLES
from kit.impair.options import BY_NAME

# Which container's egress carries each direction.
SENDER = {"client-to-server": "client", "server-to-client": "server"}
# netem's default queue is 1000 packets: at a large delay and a fast sender that silently
# drops. The kit always sets the limit, to this unless asked otherwise.
DEFAULT_LIMIT = 10000


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
            return ROLES
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

    @classmethod
    def from_json(cls, link: dict) -> LinkRequest:
        """The request a run recorded (run.json's ``link``)."""
        values = dict(link.get("impairment", {}))
        if "gemodel" in values:
            values["gemodel"] = GilbertElliott(**values["gemodel"])
        return cls(Impairment(**values), link.get("direction", "both"),
                   link.get("engine_asked", "auto"))


def parse_link(**options: str | None) -> LinkRequest:
    """The user's link options (text, None where not given; names from
    kit.impair.options) as a validated LinkRequest."""
    values = parse_values(**options)
    direction, engine = values.pop("direction", "both"), values.pop("impair_engine", "auto")
    impairment = replace(Impairment(), **values)
    if impairment.is_empty() and ("limit" in values or "seed" in values):
        raise BadInput("--limit and --seed go with an impairment (--latency, --loss, "
                       "--rate ...): alone they shape nothing")
    check_combinations(impairment)
    return LinkRequest(impairment, direction, engine)


def parse_values(**options: object) -> dict:
    """Each given option on its own (units, ranges, choices), as Impairment's fields
    plus direction and impair_engine; how they combine is check_combinations' part."""
    unknown = [name for name in options if name not in BY_NAME]
    if unknown:
        raise BadInput(f"unknown link option: {', '.join(unknown)}")
    values: dict = {"direction": "both", "impair_engine": "auto"}
    for name, text in options.items():
        if text is None:
            continue
        option = BY_NAME[name]
        value = option.parse(option.flag, text)
        values[option.field or name] = GilbertElliott(*value) if name == "loss_gemodel" \
            else value
    return values


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
