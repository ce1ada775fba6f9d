"""What the user asked for, validated before anything starts."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from kit.core.errors import BadInput
from kit.core.parameters import parse_parameters
from kit.core.results import writable_directory, writable_file
from kit.core.units import image_name
from kit.impair.spec import LinkRequest
from kit.scenarios import CATALOG, RunParameters, Scenario, get_scenario
from kit.scenarios.custom import CustomScenario, ProgramsSpec

ALL = "all"   # --scenario all: the whole catalog


@dataclass(frozen=True)
class RunRequest:
    scenario: str                       # a scenario's name, or "all"
    runs: tuple[tuple[str, str], ...]   # (scenario, variant), in the order they run
    params: RunParameters
    out: Path
    keep: bool = False
    base_image: str = "debian:bookworm-slim"
    link: LinkRequest = LinkRequest()
    custom: CustomScenario | None = None     # your own programs instead of a scenario
    junit: Path | None = None                # where the JUnit report goes, if asked for

    def scenario_named(self, name: str) -> Scenario:
        return self.custom if self.custom is not None and name == self.custom.name \
            else CATALOG[name]


def build_request(scenario: str | None, *, variant: str | None = None, server_delay="1",
                  sigpipe: str = "ignore", ss_interval="0.04", out: str = "results",
                  keep: bool = False, base_image: str = "debian:bookworm-slim",
                  kernel_trace: bool = True, link: LinkRequest = LinkRequest(),
                  programs: ProgramsSpec | None = None, junit: str | None = None) -> RunRequest:
    custom = None
    if programs is not None:
        if scenario not in (None, "", "custom"):
            raise BadInput("--server-command and --client-command replace the scenario: "
                           f"leave out --scenario {scenario}")
        if variant:
            raise BadInput("your own programs have no variants: leave out --variant")
        custom = CustomScenario(programs)
    runs: tuple[tuple[str, str], ...]
    if custom is not None:
        scenario, runs = custom.name, ((custom.name, "custom"),)
    elif not scenario:
        raise BadInput(f"--scenario is required: choose one of {', '.join(sorted(CATALOG))} "
                       "or all ('invoke scenarios' describes them)")
    elif scenario == ALL:
        if variant:
            raise BadInput("--variant goes with one scenario, not with --scenario all")
        runs = tuple((name, v) for name, s in CATALOG.items() for v in s.variants)
    else:
        chosen = get_scenario(scenario)
        if variant and variant not in chosen.variants:
            raise BadInput(f"scenario {scenario!r} has no variant {variant!r}: choose one of "
                           f"{', '.join(chosen.variants)}")
        runs = tuple((scenario, v) for v in ([variant] if variant else chosen.variants))
    if keep and len(runs) > 1:
        raise BadInput("--keep keeps one lab up: give --variant too")
    params = replace(parse_parameters(server_delay=server_delay, sigpipe=sigpipe,
                                      ss_interval=ss_interval, kernel_trace=kernel_trace),
                     link_rtt=link.round_trip_bound())
    image_name("--base-image", base_image, "debian:bookworm-slim")
    out_path = writable_directory("--out", Path(out))
    junit_path = writable_file("--junit", Path(junit)) if junit else None
    return RunRequest(scenario, runs, params, out_path, keep, base_image, link, custom,
                      junit_path)
