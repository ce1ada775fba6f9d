"""One run, as data: what it runs (scenario and variant, or your programs), with which
parameters, over which link, where (a testbed kind's JSON, a lab lent to it) and where
its results go. Every front door makes these: 'invoke run', a study's cells, 'invoke
rerun', the pytest plugin; and a RunSpec is what crosses a process boundary (a cell's
child process, a cluster's task), as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

from kit.core.parameters import RunParameters
from kit.impair.shaping import Shaping
from kit.impair.spec import LinkRequest, parse_link
from kit.scenarios import CATALOG, Scenario
from kit.scenarios.custom import CustomScenario, ProgramsSpec
from kit.testbeds.factory import DEFAULT_BASE_IMAGE


@dataclass(frozen=True)
class RunSpec:
    scenario: str                            # a catalog scenario's name, or your programs'
    variant: str
    params: RunParameters
    out: Path                                # where its run directory goes
    link: tuple[tuple[str, str], ...] = ()   # the link options as given (text)
    programs: ProgramsSpec | None = None     # your own programs instead of a scenario
    base_image: str = DEFAULT_BASE_IMAGE     # as asked for (recorded, for 'invoke rerun')
    testbed: dict | None = None              # where: a Provider's to_json()
    lab: dict | None = None                  # a lab lent to it (a pool's lease)
    shaping: dict | None = None              # the engine chosen up front: engine, reason
    keep: bool = False                       # leave its lab up after it
    stamp: str | None = None                 # its directory's time stamp, shared by a batch
    directory_name: str | None = None        # else <stamp>-<scenario>-<variant>
    experiment: dict | None = None           # recorded: the study's cell it is

    @property
    def mount(self) -> str | None:
        """Your programs' directory, mounted in both hosts."""
        return self.programs.mount if self.programs else None

    def link_request(self) -> LinkRequest:
        return parse_link(**dict(self.link))

    def scenario_object(self) -> Scenario:
        return CustomScenario(self.programs) if self.programs else CATALOG[self.scenario]

    def run_parameters(self) -> RunParameters:
        """Its parameters, with what its link adds to a round trip."""
        return replace(self.params, link_rtt=self.link_request().round_trip_bound())

    def link_shaping(self) -> Shaping | None:
        """The shaping chosen for it up front, if its link is shaped."""
        link = self.link_request()
        if self.shaping is None or link.is_empty():
            return None
        return Shaping(link, self.shaping["engine"], self.shaping["reason"])

    def shapes_a_link(self) -> bool:
        """Is a link shaped: the one asked for, or one its variant shapes of its own?"""
        return not self.link_request().is_empty() or \
            self.scenario_object().plan(self.variant, self.run_parameters()).link is not None

    def recorded(self) -> dict:
        """What run.json keeps of the request (``request``), for 'invoke rerun'."""
        return {"link": dict(self.link), "base_image": self.base_image,
                "programs": self.programs.to_json() if self.programs else None}

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(out=str(self.out), params=asdict(self.params),
                    link=[list(pair) for pair in self.link],
                    programs=self.programs.to_json() if self.programs else None)
        return data

    @classmethod
    def from_json(cls, data: dict) -> RunSpec:
        programs = ProgramsSpec.from_json(data["scenario"], data["programs"]) \
            if data.get("programs") else None
        return cls(**{**data, "params": RunParameters(**data["params"]),
                      "out": Path(data["out"]),
                      "link": tuple((str(name), str(value)) for name, value in data["link"]),
                      "programs": programs})
