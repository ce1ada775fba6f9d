"""Scratch directories named after their process: those of a process that is gone are
removed, a live process's are kept."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from kit.core.scratch import process_alive, remove_dead_scratch, scratch_directory

PREFIX = "netkit-test-scratch-"


def test_only_the_directories_of_processes_that_are_gone_are_removed():
    finished = subprocess.Popen(["true"])
    finished.wait()
    dead = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{finished.pid}-"))
    (dead / "key").write_text("secret")
    mine = scratch_directory(PREFIX)
    try:
        assert not process_alive(finished.pid) and process_alive(1)
        assert remove_dead_scratch(PREFIX) == 1
        assert not dead.exists() and mine.is_dir()
        assert remove_dead_scratch(PREFIX) == 0
    finally:
        mine.rmdir()
