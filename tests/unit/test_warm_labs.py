"""Labs kept warm between commands: who may take a lab, what the reaper does with it,
and that a killed command's lab is seen as such (its lock is the kernel's to free)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from kit.core.errors import BadInput, LabFailure
from kit.testbeds.docker import reaper, warm
from kit.testbeds.docker.image import LabImage
from kit.testbeds.docker.warmstore import (
    BUSY,
    DIRTY,
    READY,
    WarmEntry,
    create,
    hold,
    idle_seconds,
    lab_files,
    read_entry,
    reaper_running,
    take_reaper_lock,
    warm_directory,
)

IMAGE = LabImage("netkit/lab:test", "sha256:1", "debian:bookworm-slim")


@pytest.fixture
def directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", "unix:///nowhere.sock")
    monkeypatch.delenv("NETKIT_WARM_IDLE", raising=False)
    return warm_directory()


@pytest.fixture
def engine(monkeypatch):
    """The engine's side of the labs, recorded instead of done."""
    done: list[tuple[str, str]] = []
    monkeypatch.setattr(warm, "remove_warm_lab", lambda lab: done.append(("removed", lab)))
    monkeypatch.setattr(warm, "reset_lab", lambda lab: done.append(("reset", lab)))
    monkeypatch.setattr(warm, "lab_is_up", lambda lab: True)
    monkeypatch.setattr(warm, "ensure_reaper", lambda directory: None)
    return done


def entry(lab: str, state: str = READY, idle_for: float = 60, image_id: str = IMAGE.id,
          user_dir: str | None = None) -> WarmEntry:
    return WarmEntry(lab, image_id, user_dir, 3, None, time.time() + idle_for, state)


def written(directory, *entries: WarmEntry) -> None:
    for one in entries:
        create(directory, one).release()


def test_idle_time_is_sixty_seconds_unless_told(monkeypatch):
    monkeypatch.delenv("NETKIT_WARM_IDLE", raising=False)
    assert idle_seconds() == 60
    monkeypatch.setenv("NETKIT_WARM_IDLE", "2.5")
    assert idle_seconds() == 2.5
    for bad in ("0", "-1", "soon", "7200"):
        monkeypatch.setenv("NETKIT_WARM_IDLE", bad)
        with pytest.raises(BadInput, match="NETKIT_WARM_IDLE"):
            idle_seconds()


def test_each_engine_has_its_own_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("DOCKER_HOST", "ssh://lab@example")
    remote = warm_directory()
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    assert warm_directory() != remote
    assert remote.stat().st_mode & 0o777 == 0o700


def test_a_held_lab_is_held_once_and_freed_when_its_process_is_killed(directory):
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from kit.testbeds.docker.warmstore import WarmEntry, create
        held = create(Path({str(directory)!r}), WarmEntry("warm-dead", "sha256:1", None, 0, None,
                                                  time.time() + 60, "busy"))
        print("held", flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "held\n"
        (path,) = lab_files(directory)
        assert hold(path) is None
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        held = hold(path, wait=2)
        assert held is not None and held.entry is not None and held.entry.state == BUSY
        held.release()
    finally:
        child.kill()
        child.wait()


def test_a_dropped_lab_cannot_be_held_again(directory):
    held = create(directory, entry("warm-a"))
    path = held.path
    held.drop()
    assert hold(path) is None
    assert list(directory.iterdir()) == []


def test_a_command_takes_a_ready_lab_of_its_image_and_programs(directory, engine):
    written(directory, entry("warm-other-image", image_id="sha256:2"),
            entry("warm-other-programs", user_dir="/elsewhere"), entry("warm-mine"))
    labs = warm.WarmLabs(IMAGE)
    held = labs._take(None)
    assert held is not None and held.lab == "warm-mine"
    assert read_entry(held.path).state == BUSY
    assert engine == []
    assert labs._take(None) is None            # busy, and its command is alive: not taken
    assert sorted(p.stem for p in lab_files(directory)) == [
        "warm-mine", "warm-other-image", "warm-other-programs"]
    held.release()


def test_a_command_resets_a_lab_the_reaper_has_not_reset_yet(directory, engine):
    written(directory, entry("warm-dirty", state=DIRTY))
    held = warm.WarmLabs(IMAGE)._take(None)
    assert held is not None and engine == [("reset", "warm-dirty")]
    held.release()


def test_a_command_removes_expired_dead_and_unclean_labs_on_its_way(directory, engine,
                                                                     monkeypatch):
    written(directory, entry("warm-expired", idle_for=-1), entry("warm-dead", state=BUSY),
            entry("warm-unclean", state=DIRTY))

    def reset_fails(lab):
        raise LabFailure(f"the pooled lab {lab} could not be reset: server: dirty ss")

    monkeypatch.setattr(warm, "reset_lab", reset_fails)
    assert warm.WarmLabs(IMAGE)._take(None) is None
    assert sorted(engine) == [("removed", "warm-dead"), ("removed", "warm-expired"),
                              ("removed", "warm-unclean")]
    assert lab_files(directory) == []


def test_a_lab_given_back_is_left_dirty_for_the_reaper_a_failed_run_s_is_removed(
        directory, engine, monkeypatch):
    monkeypatch.setenv("NETKIT_WARM_IDLE", "5")
    written(directory, entry("warm-a"), entry("warm-b"))
    labs = warm.WarmLabs(IMAGE)
    with labs.lease() as testbed:
        assert testbed.port_for(13211) == 13211 + 3     # after its 3 runs
    given_back = read_entry(directory / "warm-a.json")
    assert given_back.state == DIRTY and given_back.runs == 4
    assert 4 < given_back.idle_until - time.time() <= 5
    with pytest.raises(RuntimeError), labs.lease():
        raise RuntimeError("the run broke")
    # The next command takes it again (reset first); its run broke, so it is removed.
    assert engine == [("reset", "warm-a"), ("removed", "warm-a")]
    assert [p.stem for p in lab_files(directory)] == ["warm-b"]


def test_the_reaper_resets_given_back_labs_and_removes_those_due(directory, engine):
    written(directory, entry("warm-dirty", state=DIRTY), entry("warm-idle", idle_for=-1),
            entry("warm-dead", state=BUSY), entry("warm-waiting"))
    in_use = create(directory, entry("warm-in-use", state=BUSY))
    reaper.reap(directory)
    assert sorted(engine) == [("removed", "warm-dead"), ("removed", "warm-idle"),
                              ("reset", "warm-dirty")]
    assert read_entry(directory / "warm-dirty.json").state == READY
    assert sorted(p.stem for p in lab_files(directory)) == [
        "warm-dirty", "warm-in-use", "warm-waiting"]
    in_use.release()


def test_the_reaper_ends_when_no_lab_is_left_and_only_one_runs(directory, engine):
    assert not reaper_running(directory)
    held = take_reaper_lock(directory)
    assert held is not None and reaper_running(directory)
    assert reaper.main(directory) == 0                # another one watches: it leaves at once
    held.close()
    written(directory, entry("warm-last", idle_for=0.3))
    started = time.monotonic()
    assert reaper.main(directory) == 0
    assert 0.2 < time.monotonic() - started < 5
    assert engine == [("removed", "warm-last")] and lab_files(directory) == []
    assert not reaper_running(directory)
