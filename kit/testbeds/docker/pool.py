"""Labs kept up across the runs of a study or a catalog.

A lab's start (Compose up) and removal cost about 1.2 s and 1.3 CPU-seconds of the
machine a run (docs/benchmarks.md); a pool pays them once per lab. Between two runs the
lab is reset (containers/bin/netkit-reset): no process of an earlier run, no shaping of
the kit, the kernel's TCP metrics, neighbour and conntrack tables flushed, an empty run
directory. Each run has a port of its own, so what an earlier run left in TIME-WAIT is
outside its filters. A pool also shares one kernel-tracing helper (each run keeps its
own tracefs instance).

The pool belongs to the process that runs the study; a cell's child process uses the
lab it was lent (``Lease``) through ``PooledTestbed``.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass

from kit.core.errors import KitError, LabFailure
from kit.core.interrupts import deferred_interrupt
from kit.core.progress import say
from kit.core.roles import ROLES
from kit.impair.apply import PROBE_PORT, NetemProbe
from kit.impair.engines import clear_commands
from kit.testbeds.docker.host import DockerHost
from kit.testbeds.docker.image import LabImage
from kit.testbeds.docker.lab import (
    INTERFACE,
    WORKDIR,
    ComposeLab,
    remove_by_label,
    running_hosts,
)
from kit.testbeds.docker.probe import probe_netem
from kit.testbeds.docker.testbed import DockerComposeTestbed
from kit.testbeds.docker.tracer import DockerKernelTracer, remove_shared_helper, start_helper

RESET_TIMEOUT = 20.0
# The ports a lab's runs take in turn from the one asked for (13211): all below the
# ephemeral range, where Docker's DNS resolver takes one in each container.
PORTS = 19000


@dataclass(frozen=True)
class Lease:
    """A lab of the pool lent to one run (JSON-able: a cell's child process gets it)."""

    lab: str                  # the lab's id: its Compose project is netkit-<lab>
    runs_before: int          # runs the lab held before this one
    tracer: str | None        # the shared tracing helper's container, if there is one

    def to_json(self) -> dict:
        return asdict(self)


class LabPool:
    """Labs of ``image`` created as runs need them (at most as many as run at once),
    reused, and all removed by ``close()`` (or leaving the ``with`` block).

    A lab given back is reset at once, in the background, while its run's results are
    judged and written; the next run to take it waits for that reset, and a lab that
    does not come clean is removed and replaced."""

    def __init__(self, image: LabImage, trace: bool = True):
        self.image = image
        self.trace = trace
        self.id = "pool-" + secrets.token_hex(3)
        self._lock = threading.Lock()
        self._free: dict[str | None, list[Lease]] = {}     # by the programs' directory
        self._labs: dict[str, ComposeLab] = {}
        self._tracer: str | None = None
        self._tracer_tried = False
        self._closed = False
        self._made = 0      # labs made so far: each new lab's number (ids never repeat)
        self._resets: dict[str, Future] = {}     # by lab: its reset since its last run
        self._resetting = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reset")

    def __enter__(self) -> LabPool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def take(self, user_dir: str | None = None) -> Lease:
        """A free lab with ``user_dir`` mounted, reset since its last run; a new one if
        none is free."""
        while True:
            with self._lock:
                if self._closed:
                    raise LabFailure("the lab pool is closed")
                free = self._free.get(user_dir)
                lease = free.pop() if free else None
                resetting = self._resets.pop(lease.lab, None) if lease else None
            if lease is None:
                return self._new_lab(user_dir)
            if self._came_clean(lease, resetting):
                return lease

    def _came_clean(self, lease: Lease, resetting: Future | None) -> bool:
        """Whether the lab's reset (if it had one) left it clean; else it is removed."""
        try:
            if resetting is not None:
                resetting.result()
            return True
        except Exception as error:   # whatever broke it: the run gets another lab
            say(f"{error}: that lab is replaced")
            self._remove(lease.lab)
            return False

    def _new_lab(self, user_dir: str | None) -> Lease:
        with self._lock:
            self._made += 1
            lab_id = f"{self.id}-{self._made}"
            lab = self._labs[lab_id] = ComposeLab(lab_id, self.image.name, user_dir=user_dir)
        # Outside the lock: labs come up side by side. close() removes it by its label
        # even if it is still coming up.
        try:
            lab.up()
        except BaseException:
            with deferred_interrupt():
                self._remove(lab_id)
            raise
        with self._lock:
            closed_meanwhile = lab_id not in self._labs
        if closed_meanwhile:   # what came up after close() removed the lab goes too
            remove_lab(lab)
            raise LabFailure("the lab pool was closed while a lab came up")
        return Lease(lab_id, 0, self._shared_tracer())

    def give_back(self, lease: Lease, user_dir: str | None = None,
                  reusable: bool = True) -> None:
        """Return a lab after its run; one whose run ended in an error is removed."""
        if not reusable:
            self._remove(lease.lab)
            return
        with self._lock:
            if lease.lab in self._labs and not self._closed:
                again = Lease(lease.lab, lease.runs_before + 1, lease.tracer)
                self._resets[lease.lab] = self._resetting.submit(reset_lab, lease.lab)
                self._free.setdefault(user_dir, []).append(again)
                return
        self._remove(lease.lab)

    @contextmanager
    def lease(self, user_dir: str | None = None) -> Iterator[PooledTestbed]:
        """One run in a lab of the pool, in this process: the testbed to run it on."""
        lease = self.take(user_dir)
        reusable = False
        try:
            yield PooledTestbed(self.image, lease, user_dir)
            reusable = True
        finally:
            self.give_back(lease, user_dir, reusable)

    def netem_probe(self) -> NetemProbe:
        return probe_netem(self.image.name)

    def close(self) -> None:
        """Remove every lab of the pool and the tracing helper; safe twice."""
        with deferred_interrupt():
            with self._lock:
                self._closed = True
                labs, self._labs = list(self._labs.values()), {}
                self._free.clear()
                tracer, self._tracer = self._tracer, None
                self._resets.clear()
            # A reset under way ends before its lab goes (it would fail on a half-removed
            # one); one not begun never begins.
            self._resetting.shutdown(wait=True, cancel_futures=True)
            if labs:
                say(f"removing the {len(labs)} pooled lab(s)")
            with ThreadPoolExecutor(max_workers=4) as removing:
                list(removing.map(remove_lab, labs))
            if tracer:
                remove_shared_helper(tracer)

    def _remove(self, lab_id: str) -> None:
        with self._lock:
            lab = self._labs.pop(lab_id, None)
            for free in self._free.values():
                free[:] = [lease for lease in free if lease.lab != lab_id]
        if lab is not None:
            with deferred_interrupt():
                remove_lab(lab)

    def _shared_tracer(self) -> str | None:
        """The helper every run's tracer uses; None (each run starts its own, and says
        why it cannot) when tracing is off or the helper does not start."""
        with self._lock:
            if not self.trace or self._tracer_tried:
                return self._tracer
            self._tracer_tried = True
            try:
                self._tracer = start_helper(self.image.name, self.id).name
            except KitError:
                self._tracer = None
            if self._closed and self._tracer:
                remove_shared_helper(self._tracer)
                self._tracer = None
            return self._tracer


def reset_lab(lab_id: str) -> None:
    """Reset a lab of the pool between two runs. One exec a host, no agent: an agent
    would still be ending (with its input) as the next run looks at the lab."""
    hosts = running_hosts(lab_id, timeout=5, use_agent=False)
    try:
        reset(hosts.values(), lab_id)
    finally:
        for host in hosts.values():
            host.close()


def remove_lab(lab: ComposeLab) -> None:
    """Remove a lab of the pool (by its labels, as every lab)."""
    remove_by_label(lab.run_id)


class ReusedLab(ComposeLab):
    """A lab of the pool, for one run (the pool reset it since the last), left up at
    its end."""

    def __init__(self, lease: Lease, image: str, user_dir: str | None):
        super().__init__(lease.lab, image, keep=False, user_dir=user_dir)
        self.lease = lease

    def __enter__(self) -> ReusedLab:
        self.hosts = running_hosts(self.run_id, timeout=5)
        return self

    def __exit__(self, *exc_info) -> None:
        self._release()

    def _release(self) -> None:
        for host in self.hosts.values():
            host.close()

    def facts(self) -> dict:
        return {**super().facts(),
                "lab": {"pooled": True, "id": self.run_id,
                        "runs_before": self.lease.runs_before}}


def reset(hosts, lab_id: str) -> None:
    """Reset each host (both at once); raise LabFailure with what stayed behind."""
    script = "; ".join(clear_commands(INTERFACE)) + f'; exec netkit-reset {INTERFACE} {WORKDIR}'

    def one(host: DockerHost) -> str | None:
        result = host.run(["sh", "-c", script], timeout=RESET_TIMEOUT, check=False)
        if result.exit_code == 0:
            return None
        said = " ".join(line for line in result.stdout.splitlines() if line.startswith("dirty"))
        return f"{host.name}: {said or result.last_line() or 'exit ' + str(result.exit_code)}"

    with ThreadPoolExecutor(max_workers=len(ROLES)) as resetting:
        problems = [p for p in resetting.map(one, hosts) if p]
    if problems:
        raise LabFailure(f"the pooled lab {lab_id} could not be reset: " + "; ".join(problems))


class PooledTestbed(DockerComposeTestbed):
    """The Docker testbed, its run in a lab of a pool (``lease``) rather than a new one."""

    def __init__(self, image: LabImage, lease: Lease, user_dir: str | None = None):
        super().__init__(image, user_dir)
        self.lease = lease

    def port_for(self, asked: int) -> int:
        # The lab's n-th run takes asked + n: sockets an earlier run left (TIME-WAIT) are
        # on other ports, outside this run's filters. The RTT probe's port is skipped.
        port = asked + self.lease.runs_before % PORTS
        return port + 1 if asked <= PROBE_PORT <= port else port

    def up(self, run_id: str, keep: bool = False) -> ReusedLab:
        if keep:
            raise LabFailure("a pooled lab cannot be kept up after its run: use a fresh lab")
        return ReusedLab(self.lease, self.image.name, self.user_dir)

    def tracer(self, run_id: str, port: int) -> DockerKernelTracer:
        return DockerKernelTracer(run_id, self.image.name, port, helper=self.lease.tracer)
