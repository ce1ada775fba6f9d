"""Progress for long work: a live spinner on a terminal, plain lines elsewhere (CI logs)."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

# Progress and warnings go to stderr; results (tables, verdicts) to stdout, so that
# 'invoke run ... > verdicts.txt' keeps the results alone.
console = Console(stderr=True, highlight=False, soft_wrap=True)
results = Console(highlight=False, soft_wrap=True)
for _console in (console, results):
    if not _console.is_terminal:
        # Logs and CI: wide enough that tables keep one check a line.
        _console.width = 140


class Step:
    """One long piece of work; ``update()`` reports where it is."""

    # Off a terminal a line per update would flood CI logs; print one every few seconds.
    PLAIN_EVERY_SECONDS = 5.0

    def __init__(self, title: str, status=None):
        self.title = title
        self._status = status
        self._started = time.monotonic()
        self._last_plain = 0.0

    def elapsed(self) -> float:
        return time.monotonic() - self._started

    def update(self, detail: str) -> None:
        text = f"{self.title}: {detail} ({self.elapsed():.0f} s)"
        if self._status is not None:
            self._status.update(text)
        elif time.monotonic() - self._last_plain >= self.PLAIN_EVERY_SECONDS:
            self._last_plain = time.monotonic()
            console.print(f"  {text}")


@contextmanager
def step(title: str):
    """Show ``title`` while the block runs, then one line with how long it took."""
    if console.is_terminal:
        with console.status(title) as status:
            current = Step(title, status)
            yield current
    else:
        console.print(f"{title} ...")
        current = Step(title)
        yield current
    console.print(f"{title}: done in {current.elapsed():.1f} s")


def say(line: str) -> None:
    console.print(line)


def show(renderable) -> None:
    """A result: a verdict line or a table, on stdout."""
    results.print(renderable)




_STYLES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class _Copied(io.TextIOBase):
    """What the kit prints, shown as before and copied, without styles, to a file."""

    def __init__(self, shown, kept):
        self.shown, self.kept = shown, kept

    def write(self, text: str) -> int:
        self.shown.write(text)
        self.kept.write(_STYLES.sub("", text))
        return len(text)

    def flush(self) -> None:
        self.shown.flush()
        self.kept.flush()

    def isatty(self) -> bool:
        return False        # plain lines while copied: a spinner would not copy


@contextmanager
def copied_to(path: Path) -> Iterator[None]:
    """The kit's output (progress and results) also written to ``path`` for the block:
    the log of a run a study runs in its own process."""
    with path.open("w") as kept:
        previous = [(each, getattr(each, "_file", None)) for each in (console, results)]
        for each, _ in previous:
            each.file = _Copied(each.file, kept)  # type: ignore[assignment]
        try:
            yield
        finally:
            for each, file in previous:
                each.file = file   # type: ignore[assignment]
