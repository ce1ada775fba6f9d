"""What a Dask worker does for a study spread over a cluster (kit.experiment.cluster):
each task runs one cell against the worker's own Docker engine, exactly as a cell runs
on one machine (``python -m kit.experiment.cell``, a fresh lab), and returns its run
directory as a compressed archive. No Docker API crosses the network.

The task holds no state the controller needs: if its worker dies, the scheduler runs it
again elsewhere and only the copy that comes back lands. A study's stop event (a Dask
Event) asks a running cell to stop: it removes its lab, as on Ctrl-C.
"""

from __future__ import annotations

import ctypes
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

from kit.core.record import RunRecord
from kit.core.scratch import remove_dead_scratch
from kit.experiment.cell import STATUSES
from kit.impair.apply import NetemProbe
from kit.run.spec import RunSpec
from kit.testbeds.base import Provider
from kit.testbeds.factory import provider_for

SCRATCH_PREFIX = "netkit-cell-"     # then the worker's PID: a dead worker's is removed
PR_SET_PDEATHSIG = 1
POLL_S = 0.5
PROGRESS_TOPIC = "netkit-progress"
STOP_GRACE_S = 60.0       # for a stopped cell to remove its lab
_providers: dict[str, Provider] = {}
_provider_lock = threading.Lock()


def labs_here(base_image: str) -> Provider:
    """This worker's Docker labs, their image made once per worker process (built on
    first use); the study hears when that starts and ends (its workers' progress topic)."""
    with _provider_lock:
        if base_image not in _providers:
            started = time.monotonic()
            tell(f"{socket.gethostname()}: making the lab image ready on its Docker host")
            provider = provider_for(base_image=base_image)
            provider.prepare()
            _providers[base_image] = provider
            tell(f"{socket.gethostname()}: lab image ready "
                 f"({time.monotonic() - started:.0f} s)")
        return _providers[base_image]


def tell(message: str) -> None:
    """A line for the study's progress (kit.experiment.cluster subscribes to it)."""
    from distributed import get_worker

    try:
        get_worker().log_event(PROGRESS_TOPIC, message)
    except ValueError:      # not in a worker (invoke worker prepares before it starts)
        pass


def probe_task(base_image: str) -> NetemProbe:
    """netem on this worker's Docker host (the study chooses its engines with it)."""
    return labs_here(base_image).netem_probe()


def run_cell_task(payload: dict) -> dict:
    """Run one cell here; its status, its run directory (a .tar.gz, or None if the run
    wrote none), its log and where it ran."""
    from distributed import get_worker

    worker = get_worker()
    provider = labs_here(payload["base_image"])
    where = {"worker": worker.address, "name": str(worker.name),
             "hostname": socket.gethostname(), "docker_endpoint": provider.where()}
    remove_stale_scratch()
    with tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-") as scratch:
        root = Path(scratch)
        for relative, archive in payload["mounts"].items():
            unpack(archive, root / relative)
        spec = here(RunSpec.from_json(payload["spec"]), root, provider)
        log = root / "cell.log"
        started = time.monotonic()
        status = run_cell_process(spec, log, payload["stop_event"])
        cell_seconds = time.monotonic() - started
        directory = root / "runs" / payload["cell"]
        archive = None
        if (directory / "run.json").is_file():
            record_where(directory, where)
            archive = pack(directory)
        return {"status": status, "archive": archive, "where": where,
                "cell_seconds": round(cell_seconds, 3),
                "log": log.read_text(errors="replace") if log.exists() else ""}


def here(spec: RunSpec, root: Path, provider: Provider) -> RunSpec:
    """``spec`` as this worker runs it: on its own Docker labs, into ``root``/runs, its
    programs' directory unpacked under ``root``."""
    programs = spec.programs
    if programs is not None and programs.mount is not None:
        programs = replace(programs, mount=str(root / programs.mount))
    return replace(spec, out=root / "runs", testbed=provider.to_json(), programs=programs)


def run_cell_process(spec: RunSpec, log: Path, stop_event: str) -> str:
    """The cell in a process of its own (a session of its own too); SIGINT when the
    study's stop event is set, or when this worker dies (it stops as on Ctrl-C: its lab
    removed, its run marked incomplete)."""
    from distributed import Event

    stop = Event(stop_event)
    with open(log, "wb") as output:
        child = subprocess.Popen([sys.executable, "-m", "kit.experiment.cell",
                                  json.dumps(spec.to_json())], stdin=subprocess.DEVNULL,
                                 stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
                                 preexec_fn=interrupt_when_parent_dies)
    try:
        while child.poll() is None:
            if stop.is_set():
                os.kill(child.pid, signal.SIGINT)
                child.wait(STOP_GRACE_S)
                break
            time.sleep(POLL_S)
    finally:
        if child.poll() is None:
            child.kill()      # its lab keeps its labels: that host's 'invoke clean'
            child.wait()
    return STATUSES.get(child.returncode, "error")


def remove_stale_scratch() -> int:
    """The scratch directories of workers of this host that died mid-cell (SIGKILL, no
    cleanup ran): a task of a live worker removes them, and so does 'invoke clean'."""
    return remove_dead_scratch(SCRATCH_PREFIX)


def interrupt_when_parent_dies() -> None:
    """In the child, before exec: SIGINT when the worker (this thread's process) dies
    (Linux's PR_SET_PDEATHSIG; elsewhere nothing)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGINT)
    except (OSError, AttributeError):
        pass


def record_where(directory: Path, where: dict) -> None:
    record = RunRecord.load(directory)
    record.experiment = {**(record.experiment or {}), "worker": where}
    record.save(directory)


def pack(directory: Path, contents_only: bool = False) -> bytes:
    """``directory`` as a .tar.gz: itself at the top, or (``contents_only``) its entries."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        if not contents_only:
            tar.add(directory, arcname=directory.name)
        else:
            for entry in sorted(directory.iterdir()):
                tar.add(entry, arcname=entry.name)
    return buffer.getvalue()


def unpack(archive: bytes, destination: Path) -> None:
    """An archive of ours into ``destination`` (nothing may land outside it)."""
    destination.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(destination, filter="data")
            return
        # Pythons before the extraction filters (3.10.11 and older): the same refusals.
        for member in tar.getmembers():
            if member.name.startswith("/") or ".." in Path(member.name).parts \
                    or member.issym() or member.islnk():
                raise ValueError(f"refused archive member {member.name!r}")
        tar.extractall(destination)
