"""One run: bring the lab up, shape, observe, play the scenario, collect, judge, write,
take the lab down. Each phase is a small unit with its own timing; the session
assembles what they return into the run record.

The session sees only a ``Testbed`` and the ``Host`` protocol, so the scenario never
knows whether its hosts are containers, machines reached over SSH or a test double.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from kit.core.checks import Check, verdict_of
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
from kit.run.programs import command
from kit.run.result import RunResult
from kit.run.spec import RunSpec
from kit.run.timings import Timings
from kit.run.tracing import TracerSlot
from kit.scenarios import Evidence, Plan, RunParameters, Scenario
from kit.scenarios.base import why_untraced
from kit.scenarios.checks import run_checks
from kit.testbeds.base import Endpoint, Lab, Testbed, Tracer


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
        self.params = replace(self.params, port=self.testbed.port_for(self.params.port))
        record = self.new_record()
        started, cpu = self.clock.monotonic(), CpuSample.now()
        try:
            # Inside the try: a Ctrl-C from here on is recorded in run.json.
            record.environment = self.testbed.facts()
            record.save(directory.root)
            say(f"{self.scenario.name}/{self.variant}: run {self.run_id}, "
                f"results in {directory.root}")
            plan = self.scenario.plan(self.variant, self.params)
            if plan.link is not None:
                self.use_scenario_link(plan.link, record)
            record.programs = {role: {"command": command(plan, role)} for role in ROLES}
            evidence = self.in_lab(plan, record, directory)
            self.judge(evidence, record, directory)
        except KeyboardInterrupt:
            record.error = "interrupted (Ctrl-C): the run is incomplete"
            raise
        except KitError as error:
            record.error = str(error)
            say(f"{self.scenario.name}/{self.variant}: no verdict; what was seen is in "
                f"{directory.root}")
            raise
        finally:
            self.timings.total = self.clock.monotonic() - started
            self.timings.count_cpu("total", cpu)
            record.timings_s = self.timings.to_json()
            record.cpu_s = self.timings.cpu
            record.finished_at = now()
            record.save(directory.root)
            write_reports(directory)
        return RunResult(directory.root, record, evidence)

    def new_record(self) -> RunRecord:
        return RunRecord(scenario=self.scenario.name, variant=self.variant,
                         description=self.scenario.variants[self.variant], run_id=self.run_id,
                         started_at=now(), parameters=asdict(self.params),
                         testbed=self.testbed.name, mount=self.mount,
                         experiment=self.experiment, request=self.request)

    def use_scenario_link(self, options: dict[str, str], record: RunRecord) -> None:
        """The scenario's own link, in place of any asked for (it needs that one)."""
        link = parse_link(**options)
        if self.shaping is not None:
            say(f"{self.scenario.name}/{self.variant} shapes its own link "
                f"({link_text({'engine': 'auto', **link.to_json()})}), not the one asked for")
        self.shaping = resolve_shaping(link, self.testbed.netem_probe)
        self.params = replace(self.params, link_rtt=link.round_trip_bound())
        record.parameters = asdict(self.params)

    def in_lab(self, plan: Plan, record: RunRecord, directory: RunDirectory) -> Evidence:
        """Everything that needs the lab: up, shape, play, collect, down."""
        evidence = Evidence(events={}, samples={}, counters={}, exit_status={})
        tracer_slot = TracerSlot(self.testbed, self.run_id, self.params.port,
                                 self.params.kernel_trace, self.timings)
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
                endpoints = self.record_lab(lab, plan, record)
                self.shape(lab, endpoints, record, evidence, progress.update)
                tracer = tracer_ready.result()
                record.kernel_trace = tracer_slot.status
                # Closed alongside the lab's teardown (a tracer is not the lab's), and
                # again, a no-op then, after it.
                in_lab.callback(background.submit, tracer_slot.close)
                t0 = record.t0 = self.clock.time()
                try:
                    with self.timings.measure("scenario"):
                        counters = Play(lab.hosts, endpoints, plan, self.params, evidence, t0,
                                        self.clock, self.timings, progress.update)()
                    directory.write_json("counters.json", counters)
                finally:
                    for role, values in evidence.sysctls.items():
                        record.hosts[role]["sysctls"] = values
                    # Whatever happened, keep what the hosts wrote: it says why.
                    progress.update("collecting the evidence")
                    with self.timings.measure("collect"):
                        self.collect(lab, endpoints, tracer_slot, tracer, evidence, t0,
                                     directory, background)
                    record.kernel_trace = tracer_slot.status
                    evidence.tracing = dict(tracer_slot.tracing)
                    evidence.untraced = why_untraced(tracer_slot.status)
                    record.environment.update(lab.facts())   # what only the end knows
                    evidence.clock_slack = Evidence.slack_of(record.environment)
                progress.update("removing the lab")
                phase, cpu = self.clock.monotonic(), CpuSample.now()
            self.timings.lab_down = self.clock.monotonic() - phase
            self.timings.count_cpu("lab_down", cpu)
        return evidence

    def record_lab(self, lab: Lab, plan: Plan, record: RunRecord) -> dict[Role, Endpoint]:
        endpoints = {role: lab.endpoint(role) for role in ROLES}
        record.environment.update(lab.facts())
        record.programs["client"]["command"] = command(plan, "client",
                                                       endpoints["server"].address)
        record.hosts = {role: lab.describe(role) for role in ROLES}
        return endpoints

    def shape(self, lab: Lab, endpoints: Mapping[Role, Endpoint], record: RunRecord,
              evidence: Evidence, report: Callable[[str], None]) -> None:
        if self.shaping is None:
            return
        report(f"shaping the link ({self.shaping.engine})")
        with self.timings.measure("shaping"):
            # What was asked stays on record if applying it fails.
            record.link = {"engine": self.shaping.engine, **self.shaping.link.to_json()}
            record.link = shape_lab(lab.hosts, self.shaping, endpoints)
        evidence.egress = {role: self.shaping.link.added_delay(role) for role in ROLES}

    def collect(self, lab: Lab, endpoints: Mapping[Role, Endpoint], tracer_slot: TracerSlot,
                tracer: Tracer | None, evidence: Evidence, t0: float, directory: RunDirectory,
                background: ThreadPoolExecutor) -> None:
        if self.shaping is not None and self.shaping.engine == "userspace":
            snapshot_delay_lines(lab.hosts, {role: endpoint.workdir
                                             for role, endpoint in endpoints.items()})
        # The trace is read while the hosts' files are copied.
        trace_read = background.submit(tracer_slot.read, tracer)
        collect(lab.hosts, endpoints, evidence, t0, directory, self.params.port,
                trace_read.result, lab.clock_offsets())

    def judge(self, evidence: Evidence, record: RunRecord, directory: RunDirectory) -> None:
        for role in ROLES:
            status = evidence.exit_status.get(role)
            record.programs[role].update(exit_status=status, exit=describe_exit(status))
            if role in evidence.stopped:
                record.programs[role]["stopped_by_kit"] = True
        record.counters = evidence.counters
        record.capture = evidence.capture_counts
        record.observers_cpu_s = evidence.observers_cpu or None
        record.unplayed_script = evidence.unplayed or None
        checks = run_checks(self.scenario, self.variant, self.params, evidence)
        checks += self.link_checks(record, directory)
        record.checks = checks
        record.verdict = verdict_of(checks)
        record.complete = True

    def link_checks(self, record: RunRecord, directory: RunDirectory) -> list[Check]:
        if record.link is None:
            return []
        record.link["delay_line"] = delay_line_figures(directory.root)
        return [check for check in (delivered_rtt_check(record.link),
                                    delay_line_check(record.link)) if check]
