"""The ``netkit`` command: the kit's tasks (kit/cli/tasks.py) through invoke's Program,
as fabric serves its own, so that an installed kit works from any directory:

    netkit run --scenario close
    netkit --help run
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from invoke import Collection, Program

from kit.cli import tasks


def kit_version() -> str:
    try:
        return version("netkit")
    except PackageNotFoundError:   # run from a checkout that was never installed
        return "unknown"


program = Program(name="netkit", binary="netkit", version=kit_version(),
                  namespace=Collection.from_module(tasks))
