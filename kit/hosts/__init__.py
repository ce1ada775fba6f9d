"""Hosts: where the experiment's programs run. Scenarios only see the ``Host`` protocol."""

from kit.hosts.base import CommandFailed, CommandResult, Host, Process

__all__ = ["CommandFailed", "CommandResult", "Host", "Process"]
