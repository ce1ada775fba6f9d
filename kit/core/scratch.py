"""Scratch directories named after the process that made them (``<prefix><pid>-...``):
a process killed before its cleanup ran (SIGKILL, SIGTERM) leaves its directory, and
whoever comes next removes those whose process is gone."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path


def scratch_directory(prefix: str) -> Path:
    """A new directory of this process, under the system's temporary directory."""
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-"))


def remove_dead_scratch(prefix: str) -> int:
    """Remove the directories of ``prefix`` whose process is gone; how many."""
    removed = 0
    for path in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = path.name[len(prefix):].split("-")[0]
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True       # someone else's
    return True
