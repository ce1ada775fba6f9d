"""One run: bring the lab up, shape, observe, play the scenario, collect, judge, write,
take the lab down. Each phase is a small unit with its own timing; the session
assembles what they return into the run record.

The session sees only a ``Testbed`` and the ``Host`` protocol, so the scenario never
knows whether its hosts are containers, machines reached over SSH or a test double.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from kit.core.checks import Check, Verdict, verdict_of
from kit.core.errors import KitError
from kit.core.progress import say, step
from kit.core.record import RunRecord, new_run_id, now
from kit.core.results import RunDirectory
from kit.core.roles import ROLES, Role
from kit.hosts import describe_exit
from kit.impair.apply import snapshot_delay_lines
from kit.impair.checks import delay_line_check, delivered_rtt_check
from kit.impair.describe import link_text
from kit.impair.shaping import Shaping, resolve_shaping, shape_lab
from kit.impair.spec import parse_link
from kit.report import write_reports
from kit.run.clock import Clock, SystemClock
from kit.run.collect import collect, delay_line_figures
from kit.run.cpu import CpuSample
from kit.run.play import Play
from kit.run.programs import command, image_of
from kit.run.result import RunResult
from kit.run.spec import RunSpec
from kit.run.timings import Timings
from kit.run.tracing import TracerSlot
from kit.scenarios import Evidence, Plan, RunParameters, Scenario
from kit.scenarios.base import why_untraced
from kit.scenarios.checks import run_checks
from kit.testbeds.base import Endpoint, Lab, Testbed, Tracer


@dataclass(frozen=True)
class Setup:
    """What a run is, settled before its lab: its parameters (its port, what its link adds
    to a round trip), its plan and its link's shaping."""

    params: RunParameters
    plan: Plan
    shaping: Shaping | None


@dataclass(frozen=True)
class Judged:
    """What judging the evidence returned, and what the record keeps of the evidence."""

    checks: list[Check]
    verdict: Verdict
    programs: dict[str, dict]            # each program's exit, and whether the kit stopped it
    counters: dict
    capture: dict
    observers_cpu: dict
    unplayed: list[str]


@dataclass
class Found:
    """What the run's phases have returned so far, in the order they return it; the
    record is assembled from it (RunSession.record_of)."""

    started_at: str
    params: RunParameters                # as asked, on the port chosen for it
    environment: dict = field(default_factory=dict)
    hosts: dict[str, dict] = field(default_factory=dict)
    server_address: str | None = None
    link: dict | None = None             # the link as applied (as asked, until applied)
    kernel_trace: dict | None = None
    t0: float | None = None
    evidence: Evidence | None = None
    judged: Judged | None = None
    error: str | None = None


@dataclass
class RunSession:
    """One variant of a scenario in a fresh lab of ``testbed``, its link shaped as asked,
    written to ``out``/``directory_name`` (else <stamp>-<scenario>-<variant>)."""

    scenario: Scenario
    variant: str
    params: RunParameters
    testbed: Testbed
    out: Path
    shaping: Shaping | None = None
    keep: bool = False
    stamp: str | None = None
    directory_name: str | None = None
    mount: str | None = None               # recorded: your programs' directory
    experiment: dict | None = None         # recorded: the experiment cell this run is
    request: dict | None = None            # recorded: what was asked for (invoke rerun)
    clock: Clock = field(default_factory=SystemClock)
    run_id: str = field(default_factory=new_run_id)
    timings: Timings = field(default_factory=Timings)
    # Where its results went, once it has begun (also when it ends in an error).
    written_to: Path | None = field(default=None, init=False)

    @classmethod
    def of(cls, spec: RunSpec, testbed: Testbed) -> RunSession:
        """The session that runs ``spec`` on ``testbed``."""
        return cls(spec.scenario_object(), spec.variant, spec.run_parameters(), testbed,
                   spec.out, shaping=spec.link_shaping(), keep=spec.keep, stamp=spec.stamp,
                   directory_name=spec.directory_name, mount=spec.mount,
                   experiment=spec.experiment, request=spec.recorded())

    def run(self) -> RunResult:
        """Run it; its result (raises KitError for a run that ended without a verdict,
        KeyboardInterrupt on Ctrl-C: its run.json says so either way)."""
        directory = RunDirectory.create(self.out, self.scenario.name, self.variant, self.stamp,
                                        name=self.directory_name)
        self.written_to = directory.root
        found = Found(now(), replace(self.params, port=self.testbed.port_for(self.params.port)))
        setup: Setup | None = None
        started, cpu = self.clock.monotonic(), CpuSample.now()
        try:
            # Inside the try: a Ctrl-C from here on is recorded in run.json.
            found.environment = self.testbed.facts()
            self.record_of(None, found).save(directory.root)
            say(f"{self.scenario.name}/{self.variant}: run {self.run_id}, "
                f"results in {directory.root}")
            setup = self.settle(found.params)
            found.evidence = self.in_lab(setup, found, directory)
            found.judged = self.judge(setup, found, directory)
        except KeyboardInterrupt:
            found.error = "interrupted (Ctrl-C): the run is incomplete"
            raise
        except KitError as error:
            found.error = str(error)
            say(f"{self.scenario.name}/{self.variant}: no verdict; what was seen is in "
                f"{directory.root}")
            raise
        finally:
            self.timings.total = self.clock.monotonic() - started
            self.timings.count_cpu("total", cpu)
            record = self.record_of(setup, found, finished=True)
            record.save(directory.root)
            write_reports(directory)
        assert found.evidence is not None
        return RunResult(directory.root, record, found.evidence)

    def settle(self, params: RunParameters) -> Setup:
        """What the run is, settled before its lab: its plan, and its link: the one asked
        for, or the one its variant needs (in place of any asked for)."""
        plan = self.scenario.plan(self.variant, params)
        if plan.link is None:
            return Setup(params, plan, self.shaping)
        link = parse_link(**plan.link)
        if self.shaping is not None:
            say(f"{self.scenario.name}/{self.variant} shapes its own link "
                f"({link_text({'engine': 'auto', **link.to_json()})}), not the one asked for")
        # The judges allow for the round trip of the variant's own link; its plan, which
        # sets that link, already does.
        return Setup(replace(params, link_rtt=link.round_trip_bound()), plan,
                     resolve_shaping(link, self.testbed.netem_probe))

    def record_of(self, setup: Setup | None, found: Found, finished: bool = False) -> RunRecord:
        """run.json, assembled in this one place from what the phases returned so far."""
        params = setup.params if setup else found.params
        record = RunRecord(scenario=self.scenario.name, variant=self.variant,
                           description=self.scenario.variants[self.variant],
                           run_id=self.run_id, started_at=found.started_at,
                           parameters=asdict(params), testbed=self.testbed.name,
                           mount=self.mount, experiment=self.experiment, request=self.request,
                           environment=found.environment, hosts=found.hosts,
                           link=found.link, kernel_trace=found.kernel_trace, t0=found.t0,
                           error=found.error)
        if setup is not None:
            # The client's command names the server's address once the lab has one.
            record.programs = {role: {"command": command(
                setup.plan, role, found.server_address if role == "client" else None),
                **({"image": image} if (image := image_of(setup.plan, role)) else {})}
                for role in ROLES}
        judged = found.judged
        if judged is not None:
            for role in ROLES:
                record.programs[role].update(judged.programs[role])
            record.counters, record.capture = judged.counters, judged.capture
            record.observers_cpu_s = judged.observers_cpu or None
            record.unplayed_script = judged.unplayed or None
            record.checks, record.verdict, record.complete = judged.checks, judged.verdict, True
        if finished:
            record.timings_s, record.cpu_s = self.timings.to_json(), self.timings.cpu
            record.finished_at = now()
        return record

    def in_lab(self, setup: Setup, found: Found, directory: RunDirectory) -> Evidence:
        """Everything that needs the lab: up, shape, play, collect, down. What each step
        returns goes into ``found`` as it comes (a run cut short keeps it on record)."""
        evidence = Evidence(events={}, samples={}, counters={}, exit_status={})
        tracer_slot = TracerSlot(self.testbed, self.run_id, setup.params.port,
                                 setup.params.kernel_trace, self.timings)
        with step(f"{self.scenario.name}/{self.variant}") as progress, \
                ThreadPoolExecutor(max_workers=1) as background, ExitStack() as cleanup:
            progress.update("starting the lab")
            # The tracer starts while the lab comes up. Its removal is registered first:
            # a Ctrl-C can land inside submit() itself.
            cleanup.callback(tracer_slot.close)
            tracer_ready = background.submit(tracer_slot.start)
            phase, cpu = self.clock.monotonic(), CpuSample.now()
            with self.testbed.up(self.run_id, keep=self.keep) as lab, ExitStack() as in_lab:
                self.timings.lab_up = self.clock.monotonic() - phase
                self.timings.count_cpu("lab_up", cpu)
                endpoints = {role: lab.endpoint(role) for role in ROLES}
                found.environment = {**found.environment, **lab.facts()}
                found.hosts = {role: lab.describe(role) for role in ROLES}
                found.server_address = endpoints["server"].address
                if setup.shaping is not None:
                    progress.update(f"shaping the link ({setup.shaping.engine})")
                    self.shape(lab, endpoints, setup.shaping, found, evidence)
                # Closed alongside the lab's teardown (a tracer is not the lab's), and
                # again, a no-op then, after it.
                in_lab.callback(background.submit, tracer_slot.close)
                t0 = found.t0 = self.clock.time()
                try:
                    with self.timings.measure("scenario"):
                        # The tracer may still be starting (a warm or pooled lab is up at
                        # once): the observers start meanwhile, the server after it.
                        counters = Play(lab.hosts, endpoints, setup.plan, setup.params,
                                        evidence, t0, self.clock, self.timings,
                                        progress.update, before_server=tracer_ready.result)()
                    directory.write_json("counters.json", counters)
                finally:
                    tracer = tracer_ready.result()
                    found.kernel_trace = tracer_slot.status
                    found.hosts = {role: {**found.hosts[role],
                                          **({"sysctls": evidence.sysctls[role]}
                                             if role in evidence.sysctls else {})}
                                   for role in ROLES}
                    # Whatever happened, keep what the hosts wrote: it says why.
                    progress.update("collecting the evidence")
                    with self.timings.measure("collect"):
                        self.collect(lab, endpoints, setup, tracer_slot, tracer, evidence, t0,
                                     directory, background)
                    found.kernel_trace = tracer_slot.status
                    evidence.tracing = dict(tracer_slot.tracing)
                    evidence.untraced = why_untraced(tracer_slot.status)
                    found.environment = {**found.environment, **lab.facts()}  # the end's
                    evidence.clock_slack = Evidence.slack_of(found.environment)
                progress.update("removing the lab")
                phase, cpu = self.clock.monotonic(), CpuSample.now()
            self.timings.lab_down = self.clock.monotonic() - phase
            self.timings.count_cpu("lab_down", cpu)
        return evidence

    def shape(self, lab: Lab, endpoints: Mapping[Role, Endpoint], shaping: Shaping,
              found: Found, evidence: Evidence) -> None:
        """Shape the link; what was asked stays on record if applying it fails, else the
        link as applied."""
        found.link = {"engine": shaping.engine, **shaping.link.to_json()}
        with self.timings.measure("shaping"):
            found.link = shape_lab(lab.hosts, shaping, endpoints)
        evidence.egress = {role: shaping.link.added_delay(role) for role in ROLES}

    def collect(self, lab: Lab, endpoints: Mapping[Role, Endpoint], setup: Setup,
                tracer_slot: TracerSlot, tracer: Tracer | None, evidence: Evidence, t0: float,
                directory: RunDirectory, background: ThreadPoolExecutor) -> None:
        if setup.shaping is not None and setup.shaping.engine == "userspace":
            snapshot_delay_lines(lab.hosts, {role: endpoint.workdir
                                             for role, endpoint in endpoints.items()})
        # The trace is read while the hosts' files are copied.
        trace_read = background.submit(tracer_slot.read, tracer)
        collect(lab.hosts, endpoints, evidence, t0, directory, setup.params.port,
                trace_read.result, lab.clock_offsets())

    def judge(self, setup: Setup, found: Found, directory: RunDirectory) -> Judged:
        """The checks on the evidence, and what the record keeps of it."""
        evidence = found.evidence
        assert evidence is not None
        programs: dict[str, dict] = {}
        for role in ROLES:
            status = evidence.exit_status.get(role)
            programs[role] = {"exit_status": status, "exit": describe_exit(status)}
            if role in evidence.stopped:
                programs[role]["stopped_by_kit"] = True
        if found.link is not None:
            found.link = {**found.link, "delay_line": delay_line_figures(directory.root)}
        checks = run_checks(self.scenario, self.variant, setup.params, evidence)
        checks += self.link_checks(found.link)
        return Judged(checks, verdict_of(checks), programs, evidence.counters,
                      evidence.capture_counts, evidence.observers_cpu, evidence.unplayed)

    @staticmethod
    def link_checks(link: dict | None) -> list[Check]:
        if link is None:
            return []
        return [check for check in (delivered_rtt_check(link), delay_line_check(link))
                if check]
