"""One run: start the lab, observe, play the scenario, collect, judge, write, tear down.

Each step takes plain data and ``Host`` objects, so the scenario never knows whether
its hosts are containers or machines reached over SSH.
"""

from __future__ import annotations

import json
import platform
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kit import __version__
from kit.core.errors import KitError, LabFailure
from kit.core.progress import say, step
from kit.core.results import RunDirectory
from kit.hosts import Host, Process
from kit.hosts.base import describe_exit
from kit.hosts.waits import WaitTimedOut, wait_for_line
from kit.impair.apply import snapshot_delay_lines
from kit.impair.checks import delay_line_check, delivered_rtt_check
from kit.impair.shaping import Shaping, shape_lab
from kit.observe.capture import parse_pcap, segments
from kit.observe.counters import difference
from kit.observe.events import parse_events
from kit.observe.kernel import KernelTracer, for_lab, parse_trace
from kit.observe.observers import HostObservers
from kit.observe.ss import SocketRecord, parse_samples
from kit.observe.ss import snapshot as take_snapshot
from kit.report import write_reports
from kit.scenarios import Evidence, Plan, RunParameters, Scenario
from kit.testbeds.docker.compose import compose_cli
from kit.testbeds.docker.engine import versions
from kit.testbeds.docker.image import LabImage
from kit.testbeds.docker.lab import ROLES, Lab, new_run_id

PROGRAMS = {"server": "graceserver", "client": "graceclient"}
RUN_DIR = "/var/lib/netkit/run"     # where the programs and observers write, on each host
EVENTS_FILE = f"{RUN_DIR}/events.jsonl"
LOG_FILE = f"{RUN_DIR}/program.log"
LISTEN_TIMEOUT = 10.0


@dataclass
class RunOutcome:
    directory: Path
    verdict: str                      # pass | fail | error
    record: dict = field(default_factory=dict)


@dataclass
class Timings:
    """Where a run's time went (reported by the benchmark)."""

    lab_up: float = 0.0
    tracer_start: float = 0.0     # alongside lab_up
    shaping: float = 0.0          # applying the impairment and measuring the round trip
    scenario: float = 0.0
    script: float = 0.0           # within scenario: first scripted step to both exits
    capture_start: float = 0.0    # within scenario: observers and the server starting
    observers_stop: float = 0.0   # within scenario: counters, captures, samplers
    tracer_stop: float = 0.0      # within collect
    collect: float = 0.0
    lab_down: float = 0.0
    total: float = 0.0


def run_variant(scenario: Scenario, variant: str, params: RunParameters, image: LabImage,
                out: Path, keep: bool = False, stamp: str | None = None,
                shaping: Shaping | None = None, directory_name: str | None = None,
                user_dir: str | None = None, extra: dict | None = None) -> RunOutcome:
    """Run one variant in a fresh lab (its link shaped as asked) and write its run
    directory (``directory_name`` in ``out``, else <stamp>-<scenario>-<variant>).

    ``user_dir`` is mounted in both hosts for your own programs; ``extra`` goes into
    run.json as it is (an experiment's cell)."""
    run_id = new_run_id()
    directory = RunDirectory.create(out, scenario.name, variant, stamp, name=directory_name)
    started = time.monotonic()
    timings = Timings()
    record = {
        "scenario": scenario.name,
        "variant": variant,
        "description": scenario.variants[variant],
        "run_id": run_id,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "parameters": asdict(params),
        "complete": False,
        "verdict": "error",
        "checks": [],
        **(extra or {}),
    }
    try:
        # Inside the try: a Ctrl-C from here on is recorded in run.json.
        record["environment"] = environment(image)
        directory.write_json("run.json", record)
        say(f"{scenario.name}/{variant}: lab netkit-{run_id}, results in {directory.root}")
        plan = scenario.plan(variant, params)
        record["programs"] = {role: {"command": list(command(plan, role))} for role in ROLES}
        if user_dir:
            record["mount"] = user_dir
        lab = Lab(run_id, image.name, keep=keep, user_dir=user_dir)
        evidence = Evidence(events={}, samples={}, counters={}, exit_status={})
        with step(f"{scenario.name}/{variant}") as progress, \
                ThreadPoolExecutor(max_workers=1) as background, ExitStack() as cleanup:
            progress.update("starting the lab")
            # The tracer's helper starts while Compose brings the lab up. Its removal is
            # registered first: a Ctrl-C can land inside submit() itself.
            tracer_slot = TracerSlot()
            cleanup.callback(tracer_slot.close)
            tracer_ready = background.submit(tracer_slot.start, run_id, image.name, params,
                                             record, timings)
            phase = time.monotonic()
            with lab, ExitStack() as in_lab:
                timings.lab_up = time.monotonic() - phase
                record["environment"]["compose"] = (
                    f"{' '.join(compose_cli().command)} "
                    f"{lab.compose_version or compose_cli().version}")
                addresses = {role: lab.address(role) for role in ROLES}
                record["programs"]["client"]["command"] = command(plan, "client",
                                                                  addresses["server"])
                record["hosts"] = {role: {"address": addresses[role],
                                          "container": lab.hosts[role].container.name}
                                   for role in ROLES}
                if shaping is not None:
                    progress.update(f"shaping the link ({shaping.engine})")
                    phase = time.monotonic()
                    # What was asked stays on record if applying it fails.
                    record["link"] = {"engine": shaping.engine, **shaping.link.to_json()}
                    record["link"] = shape_lab(lab.hosts, shaping, addresses["server"])
                    timings.shaping = time.monotonic() - phase
                    evidence.egress = {role: shaping.link.added_delay(role) for role in ROLES}
                tracer = tracer_ready.result()
                # Closed alongside the lab's teardown (its helper is not the lab's), and
                # again, a no-op then, after it.
                in_lab.callback(background.submit, tracer_slot.close)
                t0 = record["t0"] = time.time()
                phase = time.monotonic()
                try:
                    play(lab.hosts, plan, params, directory, evidence, t0, progress.update,
                         timings, addresses["server"])
                    timings.scenario = time.monotonic() - phase
                finally:
                    # Whatever happened, keep what the hosts wrote: it says why.
                    progress.update("collecting the evidence")
                    phase = time.monotonic()
                    if shaping is not None and shaping.engine == "userspace":
                        snapshot_delay_lines(lab.hosts)
                    # The trace is read while the hosts' files are copied.
                    trace_read = background.submit(stop_tracer, tracer, record, timings)
                    collect(lab.hosts, evidence, t0, directory, addresses, params.port,
                            trace_read.result)
                    timings.collect = time.monotonic() - phase
                progress.update("removing the lab")
                phase = time.monotonic()
            timings.lab_down = time.monotonic() - phase
        for role in ROLES:
            status = evidence.exit_status.get(role)
            record["programs"][role].update(exit_status=status, exit=describe_exit(status))
        record["counters"] = evidence.counters
        record["capture"] = evidence.capture_counts
        if evidence.unplayed:
            record["unplayed_script"] = evidence.unplayed
        for role in evidence.stopped:
            record["programs"][role]["stopped_by_kit"] = True
        checks = scenario.judge(variant, params, evidence)
        if "link" in record:
            record["link"]["delay_line"] = delay_line_figures(directory.root)
            checks += [check for check in (delivered_rtt_check(record["link"]),
                                           delay_line_check(record["link"])) if check]
        record["checks"] = [check.to_json() for check in checks]
        record["verdict"] = "pass" if all(check.passed for check in checks) else "fail"
        record["complete"] = True
    except KeyboardInterrupt:
        record["error"] = "interrupted (Ctrl-C): the run is incomplete"
        raise
    except KitError as error:
        record["error"] = str(error)
        say(f"{scenario.name}/{variant}: no verdict; what was seen is in {directory.root}")
        raise
    finally:
        timings.total = time.monotonic() - started
        record["timings_s"] = {name: round(value, 3) for name, value in asdict(timings).items()}
        record["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        directory.write_json("run.json", record)
        write_reports(directory)
    return RunOutcome(directory.root, record["verdict"], record)


def delay_line_figures(root: Path) -> dict[str, dict]:
    """What each host's delay line reported (raw/<host>/delayline.json), where it ran."""
    figures = {}
    for role in ROLES:
        path = root / "raw" / role / "delayline.json"
        if path.exists():
            try:
                figures[role] = json.loads(path.read_text())
            except ValueError:
                pass   # cut short (the line stopped while writing): no figures
    return figures


class TracerSlot:
    """The run's kernel tracer, started in the background and removed exactly once.

    start() and close() exclude each other: a close() that comes first (Ctrl-C before the
    background start even began) cancels the start; one that comes during it waits.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._closed = False
        self._tracer: KernelTracer | None = None

    def start(self, run_id: str, image: str, params: RunParameters, record: dict,
              timings: Timings) -> KernelTracer | None:
        """A running tracer, or None with the reason recorded in run.json."""
        with self._lock:
            if self._closed:
                return None
            if not params.kernel_trace:
                record["kernel_trace"] = {"recorded": False,
                                          "reason": "turned off (--no-kernel-trace)"}
                return None
            started = time.monotonic()
            tracer = self._tracer = KernelTracer(run_id, image, params.port)
            try:
                tracer.start()
            except KitError as reason:   # TraceUnavailable, or the helper failing under it
                tracer.close()
                record["kernel_trace"] = {"recorded": False, "reason": str(reason)}
                say(f"no kernel trace for this run: {reason}")
                return None
            finally:
                timings.tracer_start = time.monotonic() - started
            record["kernel_trace"] = {"recorded": True, "instance": tracer.instance}
            return tracer

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._tracer is not None:
                self._tracer.close()   # safe twice


def stop_tracer(tracer: KernelTracer | None, record: dict, timings: Timings) -> str | None:
    """The trace's text; None, with the reason in run.json, where it cannot be read."""
    if tracer is None:
        return None
    started = time.monotonic()
    try:
        return tracer.stop()
    except KitError as error:
        record["kernel_trace"] = {"recorded": False, "reason": f"reading it failed: {error}"}
        return None
    finally:
        timings.tracer_stop = time.monotonic() - started


def environment(image: LabImage) -> dict:
    facts = {"kit_version": __version__, "kernel": platform.release(),
             "python": platform.python_version(), "image": image.name, "image_id": image.id,
             "base_image": image.base}
    facts.update(versions())
    facts["compose"] = " ".join(compose_cli().command)   # with its version once the lab is up
    return facts


def command(plan: Plan, role: str, server_address: str | None = None) -> list[str]:
    """The command that starts ``role``'s program (the client's, once the server's
    address is known, with it)."""
    own = plan.server_command if role == "server" else plan.client_command
    if own is not None:
        return [arg.replace("{server}", server_address) if server_address else arg
                for arg in own]
    args = plan.server_args if role == "server" else plan.client_args
    return [PROGRAMS[role], *args, *([server_address] if server_address else [])]


def pid_file(role: str) -> str:
    return f"/tmp/netkit-{role}.pid"


def start_program(host: Host, plan: Plan, role: str, server_address: str,
                  stdin: bool = False) -> Process:
    """Start ``role``'s program, writing to its log (the kit's own also to its events)."""
    if (plan.server_command if role == "server" else plan.client_command) is None:
        # The client's server address stays last: it is graceclient's one argument.
        argv = [*command(plan, role), "--events", EVENTS_FILE,
                *([server_address] if role == "client" else [])]
    else:
        # Its PID on record, so that the kit can stop it once its time is up.
        argv = ["sh", "-c", 'echo $$ > "$0"; exec "$@"', pid_file(role),
                *command(plan, role, server_address)]
    return host.start(argv, stdin=stdin, output=LOG_FILE)


def stop_program(host: Host, process: Process, role: str, grace: float = 5.0) -> int:
    """SIGTERM to a program that outlived its time, then SIGKILL; its exit status."""
    for signal_name in ("TERM", "KILL"):
        host.run(["sh", "-c", f"kill -{signal_name} $(cat {pid_file(role)}) 2>/dev/null; true"],
                 check=False)
        try:
            return process.wait(grace)
        except LabFailure:
            continue
    return process.wait(grace)


def play(hosts: dict[str, Host], plan: Plan, params: RunParameters, directory: RunDirectory,
         evidence: Evidence, t0: float, report=lambda text: None,
         timings: Timings | None = None, server_address: str = "server") -> None:
    """Start the observers and the programs, feed the client its script, wait for the end.

    Fills ``evidence`` as it goes (exit statuses, counters, step snapshots), so a run that
    fails half-way still has what was seen until then.
    """
    server, client = hosts["server"], hosts["client"]
    timings = timings or Timings()
    # A shaped link slows every exchange: each wait allows for a few round trips more.
    slack = 4 * params.link_rtt
    with ThreadPoolExecutor(max_workers=4) as pool:
        # The observers and the server start together; the client once all are ready.
        report("starting the observers and the server")
        started = time.monotonic()
        observers = {role: HostObservers(hosts[role], params.port, params.ss_interval)
                     for role in ROLES}
        starting = {role: pool.submit(observers[role].start) for role in ROLES}
        snapshots: list = []

        def snapshot(label: str) -> None:
            # Both hosts at once, off the script's clock so the steps keep their timing.
            for role in ROLES:
                snapshots.append((role, pool.submit(take_snapshot, hosts[role], params.port,
                                                    t0, label)))

        processes: dict[str, Process] = {}
        own_programs = plan.server_command is not None
        processes["server"] = start_program(server, plan, "server", server_address)
        if own_programs:
            wait_for_socket(server, processes["server"], f"ss -Hltn 'sport = :{params.port}'",
                            f"listen on port {params.port}", LISTEN_TIMEOUT + slack)
        else:
            wait_for_event(server, processes["server"], "listen", f"listen on port {params.port}",
                           LISTEN_TIMEOUT + slack)
        before = {role: future.result() for role, future in starting.items()}
        timings.capture_start = time.monotonic() - started
        report("starting the client")
        # The server's address, not its name: a lookup (A and AAAA) can stall on the
        # engine's DNS forwarder, and the lesson typed an address too.
        processes["client"] = start_program(client, plan, "client", server_address, stdin=True)
        if own_programs:
            # Any socket to the port, in any state: a quick client may be done already.
            wait_for_socket(client, processes["client"], f"ss -Htan 'dport = :{params.port}'",
                            "connect to the server", LISTEN_TIMEOUT + slack)
        else:
            wait_for_event(client, processes["client"], "connect", "connect to the server",
                           LISTEN_TIMEOUT + slack)
        snapshot("connected")

        script_start = time.monotonic()
        for index, scripted in enumerate(plan.script):
            pause = script_start + scripted.at - time.monotonic()
            if pause > 0:
                time.sleep(pause)   # the script's own timing, not a wait for readiness
            if processes["client"].poll() is not None:
                # The client ended first (its server closed on it): that is evidence too.
                evidence.unplayed = [step.line for step in plan.script[index:]]
                break
            if scripted.close_stdin:
                report("client's input ends")
                processes["client"].close_stdin()
                snapshot("after the input ended")
                continue
            report(f"client types {scripted.line!r}")
            processes["client"].write(scripted.line.encode() + b"\n")
            snapshot(f"after {scripted.line}")

        exit_status = evidence.exit_status
        report("waiting for the server to finish")
        if own_programs:
            finish_own_programs(hosts, processes, plan.server_finish_timeout + slack, evidence)
        else:
            try:
                exit_status["server"] = processes["server"].wait(plan.server_finish_timeout + slack)
            except LabFailure as error:
                raise LabFailure(f"{error}; see {directory.root}/logs once collected") from None
            processes["client"].close_stdin()
            exit_status["client"] = processes["client"].wait(plan.client_finish_timeout + slack)
        timings.script = time.monotonic() - script_start
        # No snapshot here: the samplers run on and see the final states (TIME-WAIT).
        started = time.monotonic()
        stopped = dict(zip(ROLES, pool.map(HostObservers.stop, observers.values())))
        after = {role: counts for role, (counts, _) in stopped.items()}
        evidence.capture_counts = {role: tcpdump for role, (_, tcpdump) in stopped.items()}
        timings.observers_stop = time.monotonic() - started
        steps: dict[str, list[SocketRecord]] = {role: [] for role in ROLES}
        for role, future in snapshots:
            steps[role].extend(future.result())
    evidence.samples.update(steps)
    evidence.counters.update({role: difference(before[role], after[role]) for role in ROLES})
    directory.write_json("counters.json", {role: {"before": before[role], "after": after[role]}
                                           for role in ROLES})


def finish_own_programs(hosts: dict[str, Host], processes: dict[str, Process], timeout: float,
                        evidence: Evidence) -> None:
    """Give your own programs ``timeout`` seconds to end by themselves (a server that
    serves forever never does); stop whichever is left, and say so in the evidence."""
    deadline = time.monotonic() + timeout
    for role in ("server", "client"):
        try:
            evidence.exit_status[role] = processes[role].wait(max(0.0, deadline - time.monotonic()))
        except LabFailure:
            if role == "client":
                processes[role].close_stdin()
            evidence.exit_status[role] = stop_program(hosts[role], processes[role], role)
            evidence.stopped.append(role)


def wait_for_socket(host: Host, process: Process, query: str, what: str,
                    timeout: float = LISTEN_TIMEOUT) -> None:
    """Wait until ``query`` (an ss command) lists a socket on ``host``; a program that
    exits first ends the wait too (its output and exit status are the evidence)."""
    tries = max(1, int(timeout / 0.01))
    condition = (f"i=0; until [ -n \"$({query})\" ]; do "
                 f"if [ -f {pid_file(host.name)} ] && ! kill -0 $(cat {pid_file(host.name)}) "
                 "2>/dev/null; then exit 3; fi; "
                 f"i=$((i+1)); [ $i -lt {tries} ] || exit 4; sleep 0.01; done")
    result = host.run(["sh", "-c", condition], timeout=2 * timeout + 5, check=False)
    if result.exit_code in (0, 3):
        return
    output = host.run(["cat", LOG_FILE], check=False).stdout.strip()
    raise LabFailure(f"the {host.name} did not {what} within {timeout:g} s "
                     f"({describe_exit(process.poll())}); its output: {output or 'none'}")


def wait_for_event(host: Host, process: Process, event: str, what: str,
                   timeout: float = LISTEN_TIMEOUT) -> None:
    """Wait until the program on ``host`` logs a successful ``event`` (its event stream
    says so the moment the call returns); fail with its output if it exits or stalls."""
    # A successful listen/connect event carries its fd and no negative ret; a failed one
    # ("ret":-1) or an exit event ends the wait too. Each pattern needs the line's
    # decisive field: grep may read a line the program is still writing.
    wanted = {"done": f'"event":"{event}".*"(ret":0|fd":[0-9]+,"(local|port))',
              "failed": f'"event":"{event}".*"ret":-|"event":"exit"'}
    deadline = time.monotonic() + timeout
    seen = "timed out"
    while time.monotonic() < deadline:
        try:
            # In slices, so a program that dies before it writes anything is noticed.
            seen = wait_for_line(host, EVENTS_FILE, wanted, min(1.0, deadline - time.monotonic()))
            break
        except WaitTimedOut:
            if process.poll() is not None:
                break
    if seen == "done":
        return
    output = host.run(["cat", LOG_FILE], check=False).stdout.strip()
    raise LabFailure(f"the {host.name} did not {what} within {timeout:g} s "
                     f"({describe_exit(process.poll())}); its output: {output or 'none'}")


def collect(hosts: dict[str, Host], evidence: Evidence, t0: float, directory: RunDirectory,
            addresses: dict[str, str], port: int, read_trace=lambda: None) -> None:
    """Copy the hosts' files into the run directory and parse them into the evidence.

    ``read_trace`` returns the kernel trace's text, or None where there is none.
    """
    captures = {}

    def fetch(role: str) -> dict[str, Path]:
        try:
            return {path.name: path
                    for path in hosts[role].fetch_dir(RUN_DIR, directory.root / "raw" / role)}
        except KitError as error:
            say(f"could not copy {role}'s files: {error}")
            return {}

    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        fetched = dict(zip(hosts, pool.map(fetch, hosts)))
    for role in hosts:
        files = fetched[role]

        def text(name: str) -> str:
            return files[name].read_text() if name in files else ""

        evidence.events[role] = parse_events(text("events.jsonl"), t0)
        evidence.logs[role] = text("program.log")
        sampled = parse_samples(text("ss.raw"), t0)
        evidence.samples[role] = sorted(sampled + evidence.samples.get(role, []),
                                        key=lambda record: record.rt)
        pcap = files["capture.pcap"].read_bytes() if "capture.pcap" in files else b""
        if pcap:
            directory.write_bytes(f"pcap/{role}.pcap", pcap)
        captures[role] = parse_pcap(pcap, port)
        directory.write_jsonl(f"events/{role}.jsonl", evidence.events[role])
        directory.write_text(f"logs/{role}.log", evidence.logs[role])
        directory.write_jsonl(f"ss/{role}.jsonl", [r.to_json() for r in evidence.samples[role]])
    evidence.packets = segments(captures, addresses, t0)
    directory.write_jsonl("packets.jsonl", evidence.packets)
    trace_text = read_trace()
    if trace_text is not None:
        directory.write_text("raw/kernel.trace", trace_text)
        offset = monotonic_offset(evidence.events, t0)
        evidence.kernel = for_lab(parse_trace(trace_text), addresses, port, offset)
        directory.write_jsonl("kernel.jsonl", evidence.kernel)


def monotonic_offset(events: dict[str, list[dict]], t0: float) -> float:
    """What to add to a CLOCK_MONOTONIC time to get seconds since t0.

    The programs read both clocks for every event, on the lab's own kernel, so any
    event gives the offset (on the host that runs the kit, the clocks may differ:
    Docker Desktop runs the lab in a VM).
    """
    for stream in events.values():
        for event in stream:
            if "rt" in event and "mono" in event:
                return event["rt"] - t0 - event["mono"]
    return 0.0
