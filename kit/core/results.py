"""The run directory: a stable layout other tools script against (docs/results.md).

Every file is written atomically (a temporary file, then a rename), so an interrupted
run never leaves a half-written file, and what was written before stays.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from kit.core.errors import BadInput


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# mkstemp makes files private (0600); results are meant to be read like any other file.
FILE_MODE = 0o666 & ~_umask()


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, FILE_MODE)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def unwritable_reason(path: Path) -> str | None:
    """Why files cannot be written in directory ``path`` (or, where it does not exist yet,
    in the directory that would hold it), found by really writing; None if they can.
    Nothing is left behind."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, "a file is in the way" if existing != path
                                     else "it is a file")
        if existing == path:
            with tempfile.TemporaryFile(dir=path):
                pass
        else:
            os.rmdir(tempfile.mkdtemp(dir=existing))
    except OSError as error:
        return error.strerror
    return None


def writable_directory(option: str, path: Path) -> Path:
    """``path``, if results can be written there; one line if they cannot: a file in the
    way, /proc, no permission, a read-only file system."""
    reason = unwritable_reason(path)
    if reason:
        raise BadInput(f"{option} {path}: results cannot be written there ({reason}); "
                       "choose another directory")
    return path


def writable_file(option: str, path: Path) -> Path:
    """``path``, if a report file can be written there (replacing what is there); one
    line if not."""
    if path.is_dir():
        raise BadInput(f"{option} {path}: it is a directory; give a file name, e.g. "
                       f"{path / 'netkit.xml'}")
    reason = unwritable_reason(path.parent)
    if reason:
        raise BadInput(f"{option} {path}: results cannot be written there ({reason}); "
                       "choose another place")
    return path


class RunDirectory:
    """``<out>/<timestamp>-<scenario>-<variant>/`` and the files in it."""

    def __init__(self, root: Path):
        self.root = root

    @classmethod
    def create(cls, out: Path, scenario: str, variant: str, stamp: str | None = None,
               name: str | None = None) -> RunDirectory:
        """A new run directory; ``name`` replaces the usual <stamp>-<scenario>-<variant>."""
        stamp = stamp or time.strftime("%Y%m%d-%H%M%S")
        root = out / (name or f"{stamp}-{scenario}-{variant}")
        suffix = 1
        while root.exists():   # two runs in the same second
            suffix += 1
            root = out / f"{stamp}-{scenario}-{variant}-{suffix}"
        root.mkdir(parents=True)
        return cls(root)

    def write_text(self, relative: str, text: str) -> Path:
        path = self.root / relative
        atomic_write(path, text.encode())
        return path

    def write_bytes(self, relative: str, data: bytes) -> Path:
        path = self.root / relative
        atomic_write(path, data)
        return path

    def write_json(self, relative: str, value) -> Path:
        return self.write_text(relative, json.dumps(value, indent=2, sort_keys=False) + "\n")

    def write_jsonl(self, relative: str, rows) -> Path:
        return self.write_text(relative, "".join(json.dumps(row) + "\n" for row in rows))
