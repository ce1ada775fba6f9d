"""Where labs kept warm between commands are written down: for each lab, in a directory
of this machine for each engine, a file that says what it is and in what state
(``<lab>.json``, replaced whole, so it can be read without a lock) and a lock file
(``<lab>.lock``, flock) held by the one process that uses or resets the lab. The kernel
lets go of a lock when its process ends, even by SIGKILL: a lab whose file says "busy"
but whose lock is free lost its command mid-run."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from kit.core.errors import BadInput
from kit.testbeds.docker.engine import engine_url

IDLE_S = 60.0             # how long a warm lab waits for the next command (NETKIT_WARM_IDLE)
LAB_PREFIX = "warm-"      # a warm lab's id (its Compose project: netkit-warm-...)

BUSY = "busy"             # a command runs on it (or died doing so, if its lock is free)
DIRTY = "dirty"           # given back after a run, not reset yet
READY = "ready"           # reset, for the next command to take


def idle_seconds() -> float:
    """How long a warm lab waits for its next run: NETKIT_WARM_IDLE, else 60 s."""
    text = os.environ.get("NETKIT_WARM_IDLE", "")
    try:
        value = float(text) if text else IDLE_S
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise BadInput(f"NETKIT_WARM_IDLE={text!r}: give the seconds a warm lab waits for "
                       "the next command, more than 0 and at most 3600")
    return value


def _base() -> Path:
    return Path(os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()) \
        / f"netkit-warm-{os.getuid()}"


def warm_directory() -> Path:
    """This engine's directory of warm labs (made if missing)."""
    url = engine_url() or "local"
    directory = _base() / hashlib.sha256(url.encode()).hexdigest()[:12]
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def warm_directories() -> list[Path]:
    """Every engine's directory of warm labs on this machine."""
    return sorted(path for path in _base().glob("*") if path.is_dir())


@dataclass
class WarmEntry:
    """What the file of one warm lab says."""

    lab: str                       # the lab's id: its containers carry it as their run
    image_id: str                  # the lab image it runs (a rebuilt image: not taken)
    user_dir: str | None           # your programs' directory, mounted at its start
    runs: int                      # runs it has held
    tracer: str | None             # its tracing helper's container, if it has one
    idle_until: float              # when the reaper removes it, if no command took it
    state: str                     # BUSY, DIRTY or READY


def read_entry(path: Path) -> WarmEntry | None:
    """A lab's entry; None if it is gone (or was never whole)."""
    try:
        return WarmEntry(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def lab_files(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"{LAB_PREFIX}*.json"))


class HeldEntry:
    """A warm lab, locked by this process until ``release()`` or ``drop()``."""

    def __init__(self, path: Path, lock: IO[str], entry: WarmEntry | None):
        self.path = path
        self._lock = lock
        self.entry = entry          # None: its file cannot be read

    @property
    def lab(self) -> str:
        return self.path.stem

    def save(self) -> None:
        assert self.entry is not None
        written = self.path.with_suffix(".new")
        written.write_text(json.dumps(asdict(self.entry)))
        os.replace(written, self.path)

    def mark(self, state: str, idle_until: float | None = None) -> None:
        assert self.entry is not None
        self.entry.state = state
        if idle_until is not None:
            self.entry.idle_until = idle_until
        self.save()

    def release(self) -> None:
        self._lock.close()          # closing the file lets go of its lock

    def drop(self) -> None:
        """Forget the lab: its files go (while locked, so that no one takes it)."""
        self.path.unlink(missing_ok=True)
        self.path.with_suffix(".lock").unlink(missing_ok=True)
        self.release()


def hold(path: Path, wait: float = 0.0) -> HeldEntry | None:
    """The lab of ``path``, locked for this process, waiting up to ``wait`` seconds for
    whoever holds it; None if it stays held, or is gone."""
    deadline = time.monotonic() + wait
    while True:
        lock = path.with_suffix(".lock").open("a")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.01)
            continue
        if not path.exists():       # dropped before the lock was had
            path.with_suffix(".lock").unlink(missing_ok=True)
            lock.close()
            return None
        return HeldEntry(path, lock, read_entry(path))


def create(directory: Path, entry: WarmEntry) -> HeldEntry:
    """A new lab's files, held by this process."""
    path = directory / f"{entry.lab}.json"
    lock = path.with_suffix(".lock").open("x")
    fcntl.flock(lock, fcntl.LOCK_EX)
    held = HeldEntry(path, lock, entry)
    held.save()
    return held


def reaper_running(directory: Path) -> bool:
    """Whether this engine's reaper runs (it holds reaper.lock while it does)."""
    lock = take_reaper_lock(directory)
    if lock is None:
        return True
    lock.close()
    return False


def take_reaper_lock(directory: Path) -> IO[str] | None:
    """reaper.lock, held; None if a reaper holds it."""
    handle = (directory / "reaper.lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
