"""The play phase: observers and programs started, the client fed its script, both
programs finished, observers stopped. What is seen goes into the evidence as it comes,
so a run that fails half-way still has it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kit.core.roles import ROLES, Role
from kit.hosts import Host, Process
from kit.observe.counters import difference
from kit.observe.observers import HostObservers
from kit.run.clock import Clock
from kit.run.programs import program_kind
from kit.run.timings import Timings
from kit.scenarios import Evidence, Plan, RunParameters
from kit.testbeds.base import Endpoint

LINK_DRAIN_MARGIN = 0.05   # seconds past the longest a link holds a packet (0 unshaped)


@dataclass
class Play:
    hosts: Mapping[Role, Host]
    endpoints: Mapping[Role, Endpoint]
    plan: Plan
    params: RunParameters
    evidence: Evidence
    t0: float
    clock: Clock
    timings: Timings
    report: Callable[[str], None] = lambda text: None
    before_server: Callable[[], object] = lambda: None   # waited for before the server starts

    def __call__(self) -> dict[Role, dict]:
        """Play the run; the counters before and after, per host."""
        programs = program_kind(self.plan, self.params)
        server_address = self.endpoints["server"].address
        with ThreadPoolExecutor(max_workers=4) as self.pool:
            # The observers and the server start together; the client once all are ready.
            self.report("starting the observers and the server")
            with self.timings.measure("capture_start"):
                observers = {role: HostObservers(self.hosts[role], self.params.port,
                                                 self.params.ss_interval,
                                                 self.endpoints[role].workdir,
                                                 self.endpoints[role].interface)
                             for role in ROLES}
                starting = {role: self.pool.submit(observers[role].start) for role in ROLES}
                self.before_server()
                processes = {"server": programs.start(self.hosts["server"], "server",
                                                      server_address, self._workdir("server"))}
                started = {role: future.result() for role, future in starting.items()}
                before = {role: counters for role, (counters, _) in started.items()}
                self.evidence.sysctls = {role: values for role, (_, values) in started.items()}
            self.report("starting the client")
            # The server's address, not its name: a lookup (A and AAAA) can stall on the
            # engine's DNS forwarder, and the lesson typed an address too.
            processes["client"] = programs.start(self.hosts["client"], "client",
                                                 server_address, self._workdir("client"))
            with self.timings.measure("script"):
                self.feed_script(processes["client"])
                self.report("waiting for the programs to finish")
                programs.finish(self.hosts, processes, self.evidence, self._workdir("client"))
            # The samplers run on and see the final states (TIME-WAIT). The last segments
            # (an exit's FIN or RST, their ACKs) may still be held by a shaped link: let
            # them reach the captures before those stop (else tcpdump counts one it never
            # writes). Unshaped, the captures' own stop waits until they have been quiet
            # for 100 ms (netkit-observe), which covers one just leaving.
            held = max(self.evidence.egress.values(), default=0.0)
            if held > 0:
                self.clock.sleep(held + LINK_DRAIN_MARGIN)
            with self.timings.measure("observers_stop"):
                stopped = dict(zip(ROLES, self.pool.map(HostObservers.stop,
                                                        observers.values())))
        after = {role: counts for role, (counts, _, _) in stopped.items()}
        self.evidence.capture_counts = {role: dump for role, (_, dump, _) in stopped.items()}
        self.evidence.observers_cpu = {role: cpu for role, (_, _, cpu) in stopped.items()}
        self.evidence.counters.update({role: difference(before[role], after[role])
                                       for role in ROLES})
        return {role: {"before": before[role], "after": after[role]} for role in ROLES}

    def _workdir(self, role: Role) -> str:
        return self.endpoints[role].workdir

    def feed_script(self, client: Process) -> None:
        """Type each line at its time; stop early if the client already ended."""
        started = self.clock.monotonic()
        for index, scripted in enumerate(self.plan.script):
            pause = started + scripted.at - self.clock.monotonic()
            if pause > 0:
                self.clock.sleep(pause)   # the script's own timing, not a wait for readiness
            if client.poll() is not None:
                # The client ended first (its server closed on it): that is evidence too.
                self.evidence.unplayed = [step.line for step in self.plan.script[index:]]
                return
            if scripted.close_stdin:
                self.report("client's input ends")
                client.close_stdin()
                continue
            self.report(f"client types {scripted.line!r}")
            client.write(scripted.line.encode() + b"\n")
