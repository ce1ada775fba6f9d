"""A study spread over many Docker hosts with Dask distributed: one worker per Docker
host, each offering as many ``lab`` resources as labs it can hold; each cell is a task
needing one, run by kit.experiment.worker against that worker's own engine. Its run
directory comes back as an archive and lands in runs/<cell>/ at once (a rename), so the
summary, the index and resuming work as for a study on one machine.

``--cluster local:N`` starts N workers on this machine (one lab each); ``tcp://host:port``
and ``tls://host:port`` reach a scheduler that is already running (docs/experiments.md,
"Many machines": the scheduler runs code on its workers, so it belongs on a trusted
network, or behind Dask's TLS).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kit.core.errors import BadInput, EnvironmentProblem
from kit.core.progress import say
from kit.experiment.executor import CellOutcome, RunningCells, StudyPlan
from kit.experiment.spec import Cell, Experiment
from kit.experiment.study import choose_engines, conduct, experiment_directory
from kit.experiment.worker import PROGRESS_TOPIC, pack, unpack

LAB = "lab"                       # the resource a worker offers per lab it can hold
MAX_LOCAL_WORKERS = 64
CONNECT_TIMEOUT = "10s"
_ADDRESS = re.compile(r"^(?:local:(?P<workers>\d{1,3})|(?P<remote>(?:tcp|tls)://[^\s/]+:\d{1,5}))$")


@dataclass(frozen=True)
class ClusterAddress:
    text: str
    local_workers: int = 0        # local:N; 0 for a scheduler elsewhere

    def __str__(self) -> str:
        return self.text


def parse_cluster(text: str) -> ClusterAddress:
    match = _ADDRESS.match(text.strip())
    if not match:
        raise BadInput(f"--cluster {text!r}: give local:N (N workers here) or the scheduler's "
                       "tcp://host:port or tls://host:port")
    if match.group("workers") is not None:
        workers = int(match.group("workers"))
        if not 1 <= workers <= MAX_LOCAL_WORKERS:
            raise BadInput(f"--cluster local:N takes 1 to {MAX_LOCAL_WORKERS} workers, "
                           f"not {workers}")
        return ClusterAddress(text.strip(), workers)
    return ClusterAddress(text.strip())


@contextmanager
def connected(address: ClusterAddress) -> Iterator:
    """A Dask client of the cluster for the block (a local cluster made and removed)."""
    from distributed import Client, LocalCluster

    cluster = None
    try:
        if address.local_workers:
            # The workers inherit an ignored SIGINT: the terminal's Ctrl-C is the study's
            # to pass on (its stop event), not a reason for the workers to die.
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                cluster = LocalCluster(n_workers=address.local_workers, threads_per_worker=1,
                                       processes=True, resources={LAB: 1},
                                       dashboard_address=None, silence_logs=logging.ERROR)
            finally:
                signal.signal(signal.SIGINT, previous)
            client = Client(cluster)
        else:
            client = Client(address.text, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as error:
        if cluster is not None:
            cluster.close()
        raise EnvironmentProblem(f"cannot reach the Dask scheduler at {address}: "
                                 f"{error or type(error).__name__}") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def lab_slots(client) -> dict[str, int]:
    """Each worker's labs at a time (its ``lab`` resource); one line if none offers any."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    slots = {address: int(info.get("resources", {}).get(LAB, 0))
             for address, info in workers.items()}
    slots = {address: count for address, count in slots.items() if count > 0}
    if not slots:
        raise EnvironmentProblem(
            f"no worker of the cluster offers labs ({len(workers)} worker(s)): start them on "
            "Docker hosts with 'invoke worker --scheduler ADDRESS --labs K' (or 'dask worker "
            "ADDRESS --nthreads K --resources lab=K')")
    return slots


def shipped_mounts(experiment: Experiment) -> dict[str, bytes]:
    """The programs' directories the cells mount, relative to the experiment file, packed
    for the workers (which rebuild them beside their copy of the file)."""
    base = experiment.path.resolve().parent
    mounts: dict[str, bytes] = {}
    for cell in experiment.cells():
        if cell.run.mount is None:
            continue
        mount = Path(cell.run.mount)
        try:
            relative = mount.relative_to(base)
        except ValueError:
            raise BadInput(f"{experiment.path}: mount {mount} is outside the experiment "
                           f"file's directory {base}: on a cluster the programs travel with "
                           "the file, so keep them beside it") from None
        if str(relative) not in mounts:
            mounts[str(relative)] = pack(mount, contents_only=True)
    return mounts


def cell_payload(plan: StudyPlan, cell: Cell, mounts: dict[str, bytes],
                 stop_event: str) -> dict:
    """What a worker needs to run ``cell``: its RunSpec (its programs' directory, if it
    mounts one, relative to the experiment file, and shipped packed beside it)."""
    experiment, base_image = plan.experiment, plan.base_image
    spec = plan.spec_of(cell, None, directory=Path("."))
    shipped = {}
    if spec.programs is not None and spec.programs.mount is not None:
        relative = str(Path(spec.programs.mount).relative_to(
            experiment.path.resolve().parent))
        spec = replace(spec, programs=replace(spec.programs, mount=relative))
        shipped[relative] = mounts[relative]
    return {"spec": spec.to_json(), "cell": cell.id, "base_image": base_image,
            "mounts": shipped, "stop_event": stop_event}


def land(result: dict, runs: Path, cell: Cell) -> bool:
    """The run directory of ``result`` into runs/<cell>/ at once; False if a copy of the
    cell landed already (a task run twice) or the run wrote none."""
    if result.get("archive") is None:
        return False
    target = runs / cell.id
    if target.exists():
        return False
    staging = runs / f".{cell.id}.landing-{secrets.token_hex(4)}"
    try:
        unpack(result["archive"], staging)
        try:
            (staging / cell.id).rename(target)
        except OSError:
            if target.exists():
                return False        # another copy won the rename
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return True


@dataclass
class DaskCells:
    """A study's cells as tasks of a Dask cluster, as many at once as its workers hold
    labs (or ``at_most``); its progress says which workers are busy."""

    plan: StudyPlan
    client: Any
    slots: dict[str, int]               # worker -> labs it offers
    limit: int | None = None
    in_this_process = False
    mounts: dict[str, bytes] = field(default_factory=dict, init=False)
    stop_event: str = field(default_factory=lambda: f"netkit-stop-{secrets.token_hex(6)}")
    _running: RunningCells = field(default_factory=RunningCells, init=False)

    def __post_init__(self) -> None:
        self.mounts = shipped_mounts(self.plan.experiment)

    @property
    def labs(self) -> int:
        return self.limit or sum(self.slots.values())

    def __enter__(self) -> DaskCells:
        return self

    def __exit__(self, *exc_info) -> None:
        pass              # the cluster's connection is the caller's

    def at_most(self, labs: int) -> DaskCells:
        return replace(self, limit=labs)

    def no_more_cells(self) -> None:
        pass              # a worker's labs are new each cell

    def busy(self) -> str:
        try:
            busy = sum(1 for keys in self.client.processing().values() if keys)
        except Exception:        # the scheduler is gone: the cells say so
            return f"running {len(self._running)}"
        return f"running {len(self._running)} on {busy} of {len(self.slots)} workers"

    def run_cell(self, cell: Cell) -> CellOutcome:
        from distributed import CancelledError

        started = time.monotonic()
        future = self._running.start(cell, lambda: self._submit(cell))
        if future is None:
            return CellOutcome(cell, "interrupted")
        try:
            result = future.result()
        except KeyboardInterrupt:      # the study runs one cell at a time, in this thread
            self.interrupt()
            raise
        except CancelledError as error:     # by Ctrl-C, or by losing the scheduler
            if self._running.stopping:
                return CellOutcome(cell, "interrupted", time.monotonic() - started)
            return self._failed(cell, error, started)
        except Exception as error:
            return self._failed(cell, error, started)
        finally:
            self._running.finished(cell)
            future.release()     # nothing holds it: the scheduler never runs it again
        self.plan.log(cell).write_text(result["log"])
        landed = land(result, self.plan.directory / "runs", cell)
        outcome = CellOutcome(cell, result["status"], time.monotonic() - started)
        self._account(outcome, result, landed)
        return outcome

    def _submit(self, cell: Cell):
        from kit.experiment.worker import run_cell_task

        payload = cell_payload(self.plan, cell, self.mounts, self.stop_event)
        return self.client.submit(run_cell_task, payload, resources={LAB: 1},
                                  key=f"netkit-{cell.id}-{secrets.token_hex(4)}",
                                  pure=False, retries=0)

    def _account(self, outcome: CellOutcome, result: dict, landed: bool) -> None:
        """A line of logs/cluster.jsonl: where the cell ran, its time here and there
        (the difference is what the cluster added), the bytes that came back."""
        line = {"cell": outcome.cell.id, "status": outcome.status, "landed": landed,
                "worker": result["where"]["worker"], "hostname": result["where"]["hostname"],
                "seconds": round(outcome.seconds, 3), "cell_seconds": result["cell_seconds"],
                "bytes": len(result["archive"] or b"")}
        with _ACCOUNTS, (self.plan.directory / "logs" / "cluster.jsonl").open("a") as file:
            file.write(json.dumps(line) + "\n")

    def _failed(self, cell: Cell, error: BaseException, started: float) -> CellOutcome:
        if self.client.status not in ("running", "connecting") or scheduler_lost(error):
            raise EnvironmentProblem(
                "lost the Dask scheduler mid-study: the runs that came back are kept, and "
                "the same command resumes with the rest") from None
        # KilledWorker: the scheduler ran it on workers that died each time.
        self.plan.log(cell).write_text(f"error: the cluster could not run it: {error!r}\n")
        return CellOutcome(cell, "error", time.monotonic() - started)

    def interrupt(self) -> None:
        """Each running cell removes its lab and stops (the study's stop event)."""
        from distributed import Event

        self._running.stop()
        Event(self.stop_event, client=self.client).set()


_ACCOUNTS = threading.Lock()


def scheduler_lost(error: BaseException) -> bool:
    return "scheduler" in str(error).lower() and "lost" in str(error).lower()


def run_on_cluster(experiment: Experiment, address_text: str, out: str, base_image: str,
                   junit: Path | None) -> tuple[Path, int]:
    """Run (or resume) ``experiment`` on the cluster at ``address_text``."""
    address = parse_cluster(address_text)
    shipped_mounts(experiment)             # refused before the cluster is even asked
    directory = experiment_directory(Path(out), experiment)
    with connected(address) as client:
        client.subscribe_topic(PROGRESS_TOPIC, lambda event: say(f"  {event[1]}"))
        slots = lab_slots(client)
        say(f"cluster {address}: {len(slots)} worker(s), {sum(slots.values())} labs at a time; "
            "each worker makes the lab image on its Docker host first if it lacks it")
        engines = choose_engines(experiment, lambda: probe_on_a_worker(client, base_image))
        plan = StudyPlan(experiment, directory, engines, base_image)
        return directory, conduct(plan, DaskCells(plan, client, slots), [1], junit)


def probe_on_a_worker(client, base_image: str):
    """netem on one worker's Docker host (the engines are chosen once, as on one machine;
    each run measures its own link)."""
    from kit.experiment.worker import probe_task

    return client.submit(probe_task, base_image, resources={LAB: 1}, pure=False).result()
