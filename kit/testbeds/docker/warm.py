"""Labs kept warm between commands (``invoke run --warm``).

A command given --warm leaves its lab up when it ends, reset as a pooled lab is between
two runs, for the next command of the same image and programs to take: that one skips
the lab's start and removal (about 1.4 s of a single run, docs/benchmarks.md). A reaper
process (kit.testbeds.docker.reaper), started by the first command that makes a warm lab
and ending with the last lab, removes a lab no command has taken for NETKIT_WARM_IDLE
seconds (60 unless told), and at once a lab whose command died mid-run, SIGKILL
included. What holds a lab is written in warmstore."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from kit.core.errors import KitError
from kit.core.interrupts import deferred_interrupt
from kit.core.progress import say
from kit.impair.apply import NetemProbe
from kit.testbeds.docker import labels
from kit.testbeds.docker.engine import client
from kit.testbeds.docker.image import LabImage
from kit.testbeds.docker.lab import ComposeLab, remove_by_label
from kit.testbeds.docker.pool import RESET_TIMEOUT, Lease, PooledTestbed, ReusedLab, reset_lab
from kit.testbeds.docker.probe import probe_netem
from kit.testbeds.docker.tracer import remove_quietly, start_helper
from kit.testbeds.docker.warmstore import (
    BUSY,
    DIRTY,
    LAB_PREFIX,
    READY,
    HeldEntry,
    WarmEntry,
    create,
    hold,
    idle_seconds,
    lab_files,
    read_entry,
    reaper_running,
    warm_directories,
    warm_directory,
)


class WarmLabs:
    """Labs of ``image`` taken from those kept warm on this engine, or made and then kept
    warm; leaving the ``with`` block leaves them up (the reaper removes them)."""

    def __init__(self, image: LabImage, trace: bool = True):
        self.image = image
        self.trace = trace
        self.idle = idle_seconds()
        self.directory = warm_directory()

    def __enter__(self) -> WarmLabs:
        return self

    def __exit__(self, *exc_info) -> None:
        pass    # what is warm stays so: that is the point

    @contextmanager
    def lease(self, user_dir: str | None = None) -> Iterator[PooledTestbed]:
        """One run in a warm lab (a new one if none fits), given back warm after it; a
        lab whose run ended in an error is removed."""
        held = self._take(user_dir) or self._new(user_dir)
        assert held.entry is not None
        lease = Lease(held.entry.lab, held.entry.runs, held.entry.tracer)
        reusable = False
        try:
            yield WarmTestbed(self.image, lease, user_dir, self.idle)
            reusable = True
        finally:
            with deferred_interrupt():
                self._give_back(held, reusable)

    def netem_probe(self) -> NetemProbe:
        return probe_netem(self.image.name)

    def _take(self, user_dir: str | None) -> HeldEntry | None:
        """A warm lab of this image and programs that no command uses, held and reset;
        those that expired or whose command died are removed on the way."""
        for path in lab_files(self.directory):
            seen = read_entry(path)
            if seen is None or seen.image_id != self.image.id or seen.user_dir != user_dir:
                continue
            # A lab being reset by the reaper is waited for; one a command runs on is not.
            held = hold(path, wait=0 if seen.state == BUSY else RESET_TIMEOUT)
            if held is None:
                continue
            if self._usable(held):
                held.mark(BUSY)
                return held
        return None

    def _usable(self, held: HeldEntry) -> bool:
        """Whether a lab just held can take a run (reset if it was not); else it is
        removed (expired, its command died, not up, not coming clean)."""
        if why_due(held.entry) is None and not lab_is_up(held.lab):
            say(f"removing {held.lab}: its containers are not running")
            remove_warm(held)
            return False
        return tend(held, say)

    def _new(self, user_dir: str | None) -> HeldEntry:
        """A new lab, written down (busy) before it starts, so that the reaper removes
        it if this command dies."""
        lab_id = LAB_PREFIX + secrets.token_hex(4)
        held = create(self.directory, WarmEntry(lab_id, self.image.id, user_dir, 0, None,
                                                time.time() + self.idle, BUSY))
        ensure_reaper(self.directory)
        say(f"starting a lab to keep warm ({labels.PROJECT_PREFIX}{lab_id})")
        try:
            with ThreadPoolExecutor(max_workers=1) as beside:
                tracer = beside.submit(self._tracer, lab_id)
                ComposeLab(lab_id, self.image.name, user_dir=user_dir).up()
                assert held.entry is not None
                held.entry.tracer = tracer.result()
            held.save()
        except BaseException:
            with deferred_interrupt():
                remove_warm(held)
            raise
        return held

    def _tracer(self, lab_id: str) -> str | None:
        if not self.trace:
            return None
        try:
            return start_helper(self.image.name, lab_id).name
        except KitError:
            return None     # each run starts its own, and says why it cannot

    def _give_back(self, held: HeldEntry, reusable: bool) -> None:
        """Hand the lab to the reaper, which resets it while this command ends; one whose
        run ended in an error is removed."""
        assert held.entry is not None
        if not reusable:
            remove_warm(held)
            return
        held.entry.runs += 1
        held.mark(DIRTY, idle_until=time.time() + self.idle)
        held.release()
        ensure_reaper(self.directory)


class WarmLab(ReusedLab):
    """A warm lab, for one run; run.json's environment.lab says it was warm."""

    def __init__(self, testbed: WarmTestbed):
        super().__init__(testbed.lease, testbed.image.name, testbed.user_dir)
        self.idle = testbed.idle

    def facts(self) -> dict:
        facts = super().facts()
        facts["lab"] = {**facts["lab"], "warm": True, "idle_s": self.idle}
        return facts


class WarmTestbed(PooledTestbed):
    """The Docker testbed, its run in a lab kept warm between commands."""

    def __init__(self, image: LabImage, lease: Lease, user_dir: str | None, idle: float):
        super().__init__(image, lease, user_dir)
        self.idle = idle

    def up(self, run_id: str, keep: bool = False) -> WarmLab:
        return WarmLab(self)


def why_due(entry: WarmEntry | None) -> str | None:
    """Why a warm lab is to be removed now, if it is."""
    if entry is None:
        return "its file is unreadable"
    if entry.state == BUSY:
        return "its command died mid-run"
    if entry.idle_until <= time.time():
        return "no command took it within its idle time"
    return None


def tend(held: HeldEntry, tell: Callable[[str], None]) -> bool:
    """Make a held lab ready for a run, for a command or the reaper: reset if it was
    given back dirty; removed (False) if it is due or does not come clean."""
    why = why_due(held.entry)
    if why is None:
        assert held.entry is not None
        try:
            if held.entry.state == DIRTY:
                reset_lab(held.lab)
                held.mark(READY)
            return True
        except KitError as error:
            why = str(error)
    tell(f"removing {held.lab}: {why}")
    remove_warm(held)
    return False


def lab_is_up(lab_id: str) -> bool:
    found = client().containers.list(filters=labels.managed_filter(lab_id))
    return len(found) == 2 and all(c.status == "running" for c in found)


def remove_warm(held: HeldEntry) -> None:
    """Remove a warm lab (containers, network, tracing helper) and forget it."""
    try:
        remove_warm_lab(held.lab)
    finally:
        held.drop()


def remove_warm_lab(lab_id: str) -> None:
    remove_by_label(lab_id)
    for helper in client().containers.list(
            all=True, filters={"label": f"{labels.TRACER_OF}={lab_id}"}, ignore_removed=True):
        remove_quietly(helper.name)


def ensure_reaper(directory: Path) -> None:
    """Start this engine's reaper unless one runs (it holds reaper.lock); it outlives
    this command, in a session of its own, and ends when no warm lab is left."""
    if reaper_running(directory):
        return
    with (directory / "reaper.log").open("a") as log:
        subprocess.Popen([sys.executable, "-m", "kit.testbeds.docker.reaper", str(directory)],
                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         start_new_session=True, close_fds=True)


def forget_warm_labs() -> None:
    """Forget the warm labs no command holds ('invoke clean' has removed every lab)."""
    for directory in warm_directories():
        for path in lab_files(directory):
            held = hold(path)
            if held is not None:
                held.drop()


def remove_warm_labs() -> int:
    """Remove this engine's warm labs that no command holds now; how many."""
    removed = 0
    for path in lab_files(warm_directory()):
        held = hold(path, wait=RESET_TIMEOUT)
        if held is not None:
            remove_warm(held)
            removed += 1
    return removed
