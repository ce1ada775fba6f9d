"""The command the user types for the kit's tasks: ``invoke`` in a checkout, ``netkit``
once installed (kit.cli.program). Messages that tell what to run next name the one in use."""

from __future__ import annotations

import sys
from pathlib import Path

NAME = "netkit" if Path(sys.argv[0]).name == "netkit" else "invoke"


def command(task: str) -> str:
    """``task`` as the user would type it, e.g. command("build") -> 'invoke build'."""
    return f"{NAME} {task}"
