"""The keeper of labs kept warm: ``python -m kit.testbeds.docker.reaper DIRECTORY``.

One per engine (it holds DIRECTORY/reaper.lock), started by the command that keeps a lab
warm, in a session of its own so that it outlives that command, a Ctrl-C in its terminal
and a SIGKILL. About ten times a second it looks at the labs written in DIRECTORY: it
resets a lab given back after its run (so the next command need not), removes a lab no
command has taken within its idle time and, at once, one whose command died mid-run; it
ends when no lab is left. It can do what the kit's commands do on this engine (it uses
the same Docker access) and touches only the labs written in DIRECTORY."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from kit.testbeds.docker.warm import tend, why_due
from kit.testbeds.docker.warmstore import (
    DIRTY,
    hold,
    lab_files,
    read_entry,
    take_reaper_lock,
)

POLL_S = 0.1


def reap(directory: Path) -> None:
    """Reset the labs given back, remove those due."""
    for path in lab_files(directory):
        seen = read_entry(path)
        if seen is None and not path.exists():
            continue     # removed meanwhile
        if seen is not None and why_due(seen) is None and seen.state != DIRTY:
            continue     # ready, or in use: nothing to do
        held = hold(path)     # not held: a command uses it (BUSY) or has just taken it
        if held is None:
            continue
        try:
            if tend(held, log):
                held.release()
        except Exception as error:     # the engine went away mid-reset: next round
            log(f"{held.lab}: {error!r}")
            held.release()


def log(message: str) -> None:
    print(time.strftime("%Y-%m-%d %H:%M:%S"), message, flush=True)


def main(directory: Path) -> int:
    lock = take_reaper_lock(directory)
    if lock is None:
        return 0      # another reaper watches this engine
    log(f"reaper watching {directory}")
    while True:
        reap(directory)
        time.sleep(POLL_S)
        if lab_files(directory):
            continue
        # No lab left: let go, then look once more, since a command that saw this reaper
        # running a moment ago started none and may just have written a lab.
        lock.close()
        if not lab_files(directory):
            log("no warm lab left: reaper ends")
            return 0
        lock = take_reaper_lock(directory)
        if lock is None:
            return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
