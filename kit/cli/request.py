"""What the user asked for, validated before anything starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kit.core.command import command
from kit.core.errors import BadInput
from kit.core.kernels import HOST
from kit.core.parameters import PARSERS, parse_parameters
from kit.core.record import RunRecord
from kit.core.results import writable_directory, writable_file
from kit.core.run_options import BY_NAME, PARAMETER, defaults, of_group
from kit.impair.shaping import Shaping
from kit.impair.spec import LinkRequest, parse_link
from kit.run.spec import RunSpec
from kit.scenarios import CATALOG, RunParameters, Scenario, get_scenario
from kit.scenarios.custom import CustomScenario, ProgramsSpec, programs_from_options
from kit.testbeds.base import Provider
from kit.testbeds.factory import DEFAULT_BASE_IMAGE, DOCKER, provider_for

ALL = "all"   # --scenario all: the whole catalog


@dataclass(frozen=True)
class RunRequest:
    scenario: str                       # a scenario's name, or "all"
    runs: tuple[tuple[str, str], ...]   # (scenario, variant), in the order they run
    params: RunParameters
    out: Path
    keep: bool = False
    base_image: str = DEFAULT_BASE_IMAGE
    link: LinkRequest = LinkRequest()
    custom: CustomScenario | None = None     # your own programs instead of a scenario
    junit: Path | None = None                # where the JUnit report goes, if asked for
    link_options: tuple[tuple[str, str], ...] = ()   # the link options as given
    fresh_labs: bool = False                 # a new lab per run, even for several runs
    provider: Provider | None = None         # where it runs (None: a Docker lab)
    warm: bool = False                       # labs kept warm between commands

    def __post_init__(self) -> None:
        if self.provider is None:
            object.__setattr__(self, "provider", provider_for(base_image=self.base_image))

    @property
    def where(self) -> Provider:
        """Where its runs happen: a Docker lab of ``base_image`` unless told."""
        assert self.provider is not None
        return self.provider

    @property
    def may_share_labs(self) -> bool:
        """Its runs may use labs that other runs used (reset in between): not on a port
        you fixed, where a reused lab may still hold an earlier run's TIME-WAIT."""
        fixed_port = self.custom is not None and self.custom.spec.port is not None
        return not (self.keep or self.fresh_labs or fixed_port or self.where.one_at_a_time)

    @property
    def pooled(self) -> bool:
        """Several runs share labs of a pool, each reset between runs."""
        return len(self.runs) > 1 and self.may_share_labs

    def specs(self, stamp: str, shaping: Shaping | None) -> list[RunSpec]:
        """Its runs, in order (``shaping``: the engine chosen for its link)."""
        return [RunSpec(name, variant, self.params, self.out, self.link_options,
                        self.custom.spec if self.custom else None, self.base_image,
                        self.where.to_json(),
                        shaping={"engine": shaping.engine, "reason": shaping.reason}
                        if shaping else None, keep=self.keep, stamp=stamp)
                for name, variant in self.runs]

    def shapes_a_link(self) -> bool:
        """Is a link shaped: the one asked for, or one a variant shapes of its own?"""
        return not self.link.is_empty() or any(
            self.scenario_named(name).plan(variant, self.params).link is not None
            for name, variant in self.runs)

    def scenario_named(self, name: str) -> Scenario:
        return self.custom if self.custom is not None and name == self.custom.name \
            else CATALOG[name]


def build_request(scenario: str | None = None, *,
                  link_options: Mapping[str, str | None] | None = None,
                  **options: Any) -> RunRequest:
    """What 'invoke run' or a test's netkit.run() asks for: the run options by name
    (kit.core.run_options; each left out takes its default) and the link options as
    given (text, kept for run.json), validated before anything starts."""
    unknown = sorted(set(options) - set(BY_NAME))
    if unknown:
        raise TypeError(f"no run option {', '.join(unknown)}")
    given = {**defaults(), **options, "scenario": scenario}
    link = parse_link(**(link_options or {}))
    programs = programs_from_options(
        given["server_command"], given["client_command"], list(given["client_input"] or []),
        given["mount"], expect_exit=list(given["expect_exit"] or []),
        expect_packet=list(given["expect_packet"] or []),
        server_image=given["server_image"], client_image=given["client_image"],
        port=BY_NAME["port"].check(given["port"]) if given["port"] is not None else None)
    custom, runs = chosen_runs(scenario, given["variant"], programs)
    if given["keep"] and len(runs) > 1:
        raise BadInput("--keep keeps one lab up: give --variant too")
    check_warm(given, custom)
    params = on_its_port(replace(parse_parameters(**of_group(given, PARAMETER)),
                                 link_rtt=link.round_trip_bound()), custom)
    base_image = BY_NAME["base_image"].check(given["base_image"])
    out_path = BY_NAME["out"].check(given["out"])
    junit_path = BY_NAME["junit"].check(given["junit"]) if given["junit"] else None
    kept_link = tuple((name, str(value)) for name, value in (link_options or {}).items()
                      if value is not None)
    provider = where_to_run(given["testbed"], base_image, given["accept_new_host_keys"],
                            keep=given["keep"], custom=custom, kernel=one_kernel(given["kernel"]),
                            warm=given["warm"])
    return RunRequest(custom.name if custom else str(scenario), runs, params, out_path,
                      given["keep"], base_image, link, custom, junit_path, kept_link,
                      given["fresh_labs"], provider, warm=given["warm"])


def check_warm(given: Mapping[str, Any], custom: CustomScenario | None) -> None:
    """--warm shares a lab with later commands: refused where a run needs a lab of its own."""
    if not given["warm"]:
        return
    if given["keep"]:
        raise BadInput("--warm keeps the lab for the next run, --keep for you to explore: "
                       "choose one")
    if given["fresh_labs"]:
        raise BadInput("--warm and --fresh-labs contradict each other: choose one")
    if custom is not None and custom.spec.port is not None:
        raise BadInput("--port fixes the port, and a warm lab may still hold the last run's "
                       "TIME-WAIT on it: leave out --warm (or --port, and use {port})")


def on_its_port(params: RunParameters, custom: CustomScenario | None) -> RunParameters:
    """The parameters on the port your server listens on, if you gave one."""
    port = custom.spec.port if custom is not None else None
    return params if port is None else replace(params, port=port)


def chosen_runs(scenario: str | None, variant: str | None, programs: ProgramsSpec | None
                ) -> tuple[CustomScenario | None, tuple[tuple[str, str], ...]]:
    """Your programs (if given) and the (scenario, variant) pairs to run, in order."""
    if programs is not None:
        if scenario not in (None, "", "custom"):
            raise BadInput("your own programs (--server-command/--server-image, "
                           "--client-command/--client-image) replace the scenario: "
                           f"leave out --scenario {scenario}")
        if variant:
            raise BadInput("your own programs have no variants: leave out --variant")
        custom = CustomScenario(programs)
        return custom, ((custom.name, "custom"),)
    if not scenario:
        raise BadInput(f"--scenario is required: choose one of {', '.join(sorted(CATALOG))} "
                       f"or all ('{command('scenarios')}' describes them)")
    if scenario == ALL:
        if variant:
            raise BadInput("--variant goes with one scenario, not with --scenario all")
        return None, tuple((name, v) for name, s in CATALOG.items() for v in s.variants)
    chosen = get_scenario(scenario)
    if variant and variant not in chosen.variants:
        raise BadInput(f"scenario {scenario!r} has no variant {variant!r}: choose one of "
                       f"{', '.join(chosen.variants)}")
    return None, tuple((scenario, v) for v in ([variant] if variant else chosen.variants))


def one_kernel(value: str | list[str] | tuple[str, ...] | None) -> str | None:
    """The VM's kernel asked for, or None for this machine's (no --kernel, or host)."""
    kernels = list(dict.fromkeys([value] if isinstance(value, str) else value or []))
    if len(kernels) > 1:
        raise BadInput(f"one run request, one kernel: '{command('run')} --kernel "
                       f"{' --kernel '.join(kernels)}' runs the kernels in turn")
    return None if not kernels or kernels[0] == HOST else kernels[0]


def where_to_run(testbed: str | None, base_image: str, accept_new_host_keys: bool, *,
                 keep: bool, custom: CustomScenario | None,
                 kernel: str | None = None, warm: bool = False) -> Provider:
    """The testbed (a Docker lab, a file's machines, a kernel's VM), checked against
    what else was asked."""
    provider = provider_for(testbed, base_image=base_image,
                            accept_new_host_keys=accept_new_host_keys, kernel=kernel)
    provider.check_options(keep, custom.spec.mount if custom else None,
                           images=bool(custom and custom.spec.images()), warm=warm)
    return provider


def rerun_request(record: RunRecord, source: Path, out: str, junit: str | None = None,
                  testbed: str | None = None,
                  accept_new_host_keys: bool = False) -> RunRequest:
    """The request that runs again what ``record`` (of run directory ``source``) ran:
    its scenario and variant, parameters, link options as given, base image, programs,
    where: the testbed file it ran on, or ``testbed`` (a file, or 'docker')."""
    asked = record.request
    if asked is None:
        raise BadInput(f"{source}: its run.json (schema {record.schema}) does not record how "
                       "the run was asked for, which rerun needs (schema 3 and later); "
                       f"run it again with '{command('run')}'")
    try:
        given = {name: str(value) for name, value in (asked.get("link") or {}).items()}
        programs = asked.get("programs")
        custom = CustomScenario(ProgramsSpec.from_json(record.scenario, programs)) \
            if programs else None
        # The user's knobs, validated again as 'invoke run' would (a bare number is seconds).
        params = parse_parameters(**{name: record.parameters[name] for name in PARSERS
                                     if name in record.parameters})
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise BadInput(f"{source}/run.json: its request cannot be read ({error!r}); "
                       f"run it again with '{command('run')}'") from None
    if custom is None and record.scenario not in CATALOG:
        raise BadInput(f"{source}: scenario {record.scenario!r} is not in this kit's catalog")
    link = parse_link(**given)
    base_image = str(asked.get("base_image", DEFAULT_BASE_IMAGE))
    provider = where_to_run(testbed or recorded_testbed(record, source), base_image,
                            accept_new_host_keys, keep=False, custom=custom)
    return RunRequest(record.scenario, ((record.scenario, record.variant),),
                      on_its_port(replace(params, link_rtt=link.round_trip_bound()), custom),
                      writable_directory("--out", Path(out)), base_image=base_image,
                      link=link, custom=custom,
                      junit=writable_file("--junit", Path(junit)) if junit else None,
                      link_options=tuple(given.items()), provider=provider)


def recorded_testbed(record: RunRecord, source: Path) -> str:
    """Where the run ran: its testbed file (still there), or a Docker lab."""
    if record.testbed == "kernel":
        raise BadInput(f"{source} ran in a VM of one of Debian's kernels: run it again with "
                       f"'{command('run')} --kernel ...', or give --testbed docker")
    if record.testbed != "ssh":
        return DOCKER
    recorded = record.environment.get("testbed_file")
    if recorded and Path(recorded).is_file():
        return str(recorded)
    raise BadInput(f"{source} ran between the machines of {recorded or 'a testbed file'}, "
                   "which is not there now: give --testbed FILE (or --testbed docker for a "
                   "Docker lab)")
