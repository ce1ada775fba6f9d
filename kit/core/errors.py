"""Errors the user can act on.

Each one is shown as a single line without a traceback; the boundary (tasks.py)
turns it into an exit code.
"""


class KitError(Exception):
    """A failure the user can act on; ``str()`` is the one line to show."""

    exit_code = 2


class BadInput(KitError):
    """An option or file the user gave is not valid."""


class EnvironmentProblem(KitError):
    """The machine cannot run the kit as it is (no Docker, no Compose, ...)."""


class LabFailure(KitError):
    """The lab started but something in it did not behave (a timeout, a crash)."""
