"""Hosts: where the experiment's programs run. Scenarios only see the ``Host`` protocol."""

from kit.hosts.base import (
                            CommandFailed,
                            CommandResult,
                            CommandTimedOut,
                            Host,
                            HostError,
                            Process,
                            describe_exit,
)

__all__ = ["CommandFailed", "CommandResult", "CommandTimedOut", "Host", "HostError", "Process",
           "describe_exit"]
